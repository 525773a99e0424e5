"""Tests of the SMTP and HTTP sinks themselves, driven by standard-library clients.

Run: /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/servers
"""
import http.client
import json
import os
import random
import smtplib
import socket
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sinks import HttpSink, SmtpSink  # noqa: E402

FROM = "news@bank.example"
TO = ["j@example.org", "k@example.org"]
RAW = (b"From: Bank <news@bank.example>\r\n"
       b"To: j@example.org, k@example.org\r\n"
       b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
       b"Message-ID: <abc.123@bank.example>\r\n"
       b"MIME-Version: 1.0\r\n"
       b"Content-Type: text/plain; charset=utf-8\r\n"
       b"Content-Transfer-Encoding: 8bit\r\n"
       b"\r\n"
       b"Hallo J\xc3\xb6rg,\r\n"
       b".leading dot\r\n"
       b"..two dots\r\n"
       b".\r\n"
       b"\r\n"
       b"end.\r\n")


def send(port, raw=RAW, login=None):
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        if login:
            s.login(*login)
        return s.sendmail(FROM, TO, raw)


def answers(sink):
    return [a["answer"] for a in sink.attempts()]


# ---------------------------------------------------------------- SMTP

def test_smtp_message_arrives_intact(tmp_path):
    with SmtpSink(tmp_path) as sink:
        assert sink.url == "smtp://127.0.0.1:%d" % sink.port
        assert send(sink.port) == {}
        [(msg, meta, raw)] = sink.wait_for_messages(1)
        assert raw == RAW  # CRLF kept, dot-stuffed lines (".", ".x", "..x") restored
        assert meta["mail_from"] == FROM
        assert meta["rcpt_tos"] == TO
        assert meta["message_id"] == "<abc.123@bank.example>"
        assert meta["received_at"].endswith("Z")
        assert msg["Subject"] == "Grüße"
        assert msg.get_content().replace("\r\n", "\n") == \
            "Hallo Jörg,\n.leading dot\n..two dots\n.\n\nend.\n"
        assert sink.message_by_id("abc.123@bank.example")[2] == RAW
        assert answers(sink) == ["250"]


def test_smtp_script_451_then_250(tmp_path):
    with SmtpSink(tmp_path, script="451,250") as sink:
        with pytest.raises(smtplib.SMTPDataError) as e:
            send(sink.port)
        assert e.value.smtp_code == 451
        assert e.value.smtp_error == b"4.3.0 try again later"
        assert sink.messages() == []
        send(sink.port)
        assert len(sink.wait_for_messages(1)) == 1
        assert answers(sink) == ["451", "250"]


def test_smtp_550_and_drop(tmp_path):
    with SmtpSink(tmp_path, script=["550", "drop"]) as sink:
        with pytest.raises(smtplib.SMTPDataError) as e:
            send(sink.port)
        assert (e.value.smtp_code, e.value.smtp_error) == (550, b"5.7.1 rejected")
        with pytest.raises(smtplib.SMTPServerDisconnected):
            send(sink.port)
        assert sink.messages() == []
        send(sink.port)  # the script ran out: accepted
        [(_, meta, raw)] = sink.wait_for_messages(1)
        assert raw == RAW and meta["n"] == 1
        assert answers(sink) == ["550", "drop", "250"]


def test_smtp_auth(tmp_path):
    with SmtpSink(tmp_path, auth=("hub", "s3cret")) as sink:
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            send(sink.port)
        assert e.value.smtp_code == 530
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            send(sink.port, login=("hub", "wrong"))
        assert e.value.smtp_code == 535
        with pytest.raises(smtplib.SMTPAuthenticationError):
            send(sink.port, login=("other", "s3cret"))
        assert sink.messages() == []
        send(sink.port, login=("hub", "s3cret"))  # smtplib picks PLAIN
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as s:
            s.ehlo()
            assert "PLAIN" in s.esmtp_features["auth"] and "LOGIN" in s.esmtp_features["auth"]
            s.user, s.password = "hub", "s3cret"
            assert s.auth("LOGIN", s.auth_login, initial_response_ok=False)[0] == 235
            s.sendmail(FROM, TO, RAW)
        got = sink.wait_for_messages(2)
        assert [m[1]["auth_login"] for m in got] == ["hub", "hub"]


def test_smtp_restart_keeps_numbering(tmp_path):
    with SmtpSink(tmp_path, script="451") as sink:
        with pytest.raises(smtplib.SMTPDataError):
            send(sink.port)
        send(sink.port)
        assert sink.stop() == 0
        port = sink.port
        sink.start()  # script starts again: 451 first
        assert sink.port == port
        with pytest.raises(smtplib.SMTPDataError):
            send(sink.port)
        send(sink.port)
        assert [m[1]["n"] for m in sink.wait_for_messages(2)] == [1, 2]


# ---------------------------------------------------------------- HTTP

def request(port, method="POST", path="/hook", body=b'{"x":1}', headers=None, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.getheader("Retry-After"), resp.getheader("Content-Type"), \
            resp.read()
    finally:
        conn.close()


def test_http_script_order(tmp_path):
    with HttpSink(tmp_path, script="500,503,429:2,400,reset,slow:1,200") as sink:
        assert sink.url == "http://127.0.0.1:%d" % sink.port
        hdr = {"Idempotency-Key": "k-1", "Content-Type": "application/json", "X-Sig": "abc"}
        assert request(sink.port, headers=hdr)[0] == 500
        assert request(sink.port)[0] == 503
        status, retry_after, _, _ = request(sink.port)
        assert (status, retry_after) == (429, "2")
        assert request(sink.port)[0] == 400
        with pytest.raises((ConnectionError, http.client.HTTPException)):
            request(sink.port)
        t0 = time.monotonic()
        assert request(sink.port, path="/slow", headers=hdr)[0] == 200
        assert time.monotonic() - t0 >= 1.0
        assert request(sink.port, method="PUT", path="/a?b=c", body="Jörg".encode())[:4] == \
            (200, None, "application/json", b'{"ok":true}')
        assert request(sink.port, method="GET", body=None)[0] == 200  # script over: 200
        assert answers(sink) == ["500", "503", "429", "400", "reset", "slow", "200", "200"]
        got = sink.requests()
        assert [r["n"] for r in got] == [6, 7, 8]
        assert [(r["method"], r["path"], r["body"]) for r in got] == \
            [("POST", "/slow", '{"x":1}'), ("PUT", "/a?b=c", "Jörg"), ("GET", "/hook", "")]
        assert got[0]["idempotency_key"] == "k-1" and got[1]["idempotency_key"] is None
        assert got[0]["headers"]["x-sig"] == "abc"
        assert got[0]["headers"]["content-type"] == "application/json"
        assert sink.attempts()[0]["idempotency_key"] == "k-1"


def test_http_reset_is_a_reset(tmp_path):
    with HttpSink(tmp_path, script="reset") as sink:
        s = socket.create_connection(("127.0.0.1", sink.port), timeout=10)
        s.sendall(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}")
        with pytest.raises(ConnectionResetError):
            s.recv(100)
        s.close()
        assert sink.requests() == []
        assert [a["body"] for a in sink.wait_for_attempts(1)] == ["{}"]


def _statuses(tmp_path, seed, count=40):
    with HttpSink(tmp_path, seed=seed, fail_share=0.3) as sink:
        got = [request(sink.port, body=b"%d" % i)[0] for i in range(count)]
        assert len(sink.requests()) == got.count(200)
        assert answers(sink) == [str(s) for s in got]
    return got


def test_http_seeded_fail_share_reproducible(tmp_path):
    first = _statuses(tmp_path, 7)
    assert _statuses(tmp_path, 7) == first
    rng = random.Random(7)
    assert first == [500 if rng.random() < 0.3 else 200 for _ in first]
    assert 0 < first.count(500) < len(first)
    assert _statuses(tmp_path, 8) != first


def test_http_keepalive_chunked_and_concurrent(tmp_path):
    with HttpSink(tmp_path) as sink:
        conn = http.client.HTTPConnection("127.0.0.1", sink.port, timeout=10)
        conn.request("POST", "/one", body=b"abc")
        assert conn.getresponse().read() == b'{"ok":true}'
        conn.request("POST", "/two", body=iter([b"he", b"llo"]), encode_chunked=True,
                     headers={"Transfer-Encoding": "chunked"})
        assert conn.getresponse().read() == b'{"ok":true}'
        conn.request("DELETE", "/three")
        assert conn.getresponse().status == 200
        conn.close()
        assert [(r["path"], r["body"]) for r in sink.requests()] == \
            [("/one", "abc"), ("/two", "hello"), ("/three", "")]

        errors = []

        def client(k):
            try:
                for i in range(5):
                    assert request(sink.port, path="/c/%d/%d" % (k, i), body=b"x" * 20000)[0] \
                        == 200
            except Exception as e:  # reported below
                errors.append(e)
        threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        got = sink.requests()
        assert len(got) == 3 + 80
        assert sorted(r["n"] for r in got) == list(range(1, 84))
        assert all(len(r["body"]) == 20000 for r in got[3:])
        with open(os.path.join(sink.dir, "requests.jsonl")) as f:
            for line in f:
                json.loads(line)  # every line whole


def test_http_restart_same_port(tmp_path):
    with HttpSink(tmp_path, script="503") as sink:
        assert request(sink.port)[0] == 503
        assert sink.stop() == 0
        port = sink.port
        with pytest.raises(ConnectionRefusedError):
            request(port)
        sink.start()
        assert sink.port == port
        assert request(sink.port)[0] == 503  # the script starts again
        assert request(sink.port)[0] == 200
        assert [a["n"] for a in sink.attempts()] == [1, 2, 3]


def test_bad_arguments_fail_fast(tmp_path):
    with pytest.raises(RuntimeError, match="bad script item"):
        HttpSink(tmp_path, script="teapot").start()
    with pytest.raises(RuntimeError, match="bad script item"):
        SmtpSink(tmp_path, script="999").start()
