"""Limits from the configuration file: request timeouts (a slow or silent client is cut off and
does not hold the server), a smaller body limit, and a full store (LMDB map) that answers a
clear 507 problem while reads go on and nothing half-written appears."""
import shutil
import socket
import time

import pytest

from helpers import Hub, assert_problem, email, email_only, healthy, message, seed, uniq


@pytest.fixture(scope="module")
def tight():
    """A server with a 500 ms request timeout and a 4 KiB body limit."""
    h = Hub(config={"request_timeout_ms": 500, "max_body_bytes": 4096}).start()
    try:
        yield seed(h)
    finally:
        h.finish()
        shutil.rmtree(h.data, ignore_errors=True)


def closed_within(sock, seconds):
    """Seconds until the server closed sock (EOF or reset), None if it stayed open."""
    sock.settimeout(0.2)
    t0 = time.time()
    while time.time() - t0 < seconds:
        try:
            b = sock.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            return time.time() - t0
        if not b:
            return time.time() - t0
        # a 408 answer before the close is fine; keep reading for the EOF
    return None


def open_conn(h, data):
    s = socket.create_connection(("127.0.0.1", h.port), timeout=5)
    if data:
        s.sendall(data)
    return s


def test_slow_headers_are_cut_off(tight):
    s = open_conn(tight, b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    try:
        t = closed_within(s, 5)
        assert t is not None, "a request whose headers never end stays open"
        assert healthy(tight.base)
    finally:
        s.close()


def test_slow_body_is_cut_off(tight):
    head = ("PUT /v1/locales/fr HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"na"
            % tight.tokens["admin"]).encode()
    s = open_conn(tight, head)
    try:
        assert closed_within(s, 5) is not None, "a body that never ends keeps the connection"
    finally:
        s.close()
    assert tight.admin.ok("GET", "/v1/locales/fr")["name"] == "Français"


def test_idle_keep_alive_is_closed(tight):
    s = open_conn(tight, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        assert closed_within(s, 5) is not None, "an idle keep-alive connection stays open"
    finally:
        s.close()


def test_silent_connections_do_not_starve_the_server(tight):
    socks = [open_conn(tight, None) for _ in range(50)]
    try:
        t0 = time.time()
        assert healthy(tight.base) and time.time() - t0 < 2
        assert all(closed_within(s, 5) is not None for s in socks[:3])
    finally:
        for s in socks:
            s.close()


def test_configured_body_limit(tight):
    key = uniq("lim/")
    small = email_only(key)
    assert tight.editor.put("/v1/items/" + key, small).status_code == 201
    big = email_only(key, subject="x" * 5000)
    r = tight.editor.put("/v1/items/" + key, big)
    assert_problem(r, 413)
    assert tight.editor.ok("GET", "/v1/items/" + key)["variants"] == small["variants"]


def test_full_store_is_507_and_reads_go_on(make_hub):
    h = make_hub(config={"store": {"map_size_mb": 2}})
    filler = "<p>%s</p>" % ("lorem ipsum dolor sit amet " * 1500)  # ~40 KB per field
    stored, status = [], None
    for i in range(200):
        key = uniq("full/")
        item = message(key, variants=[{"id": "control", "content": {
            "en": {"email": email("s", filler)}, "de": {"email": email("s", filler)},
            "fr": {"email": email("s", filler)}}}])
        r = h.editor.put("/v1/items/" + key, item)
        if r.status_code != 201:
            status = r.status_code
            break
        stored.append(key)
    assert status is not None, "a 2 MiB store took 200 items of 120 KB"
    assert_problem(r, 507)
    assert stored, "not even one item fitted"
    assert h.editor.get("/v1/items/" + key).status_code == 404  # nothing half-written
    # still full: the next write fails the same way, it does not hang or crash
    assert_problem(h.editor.put("/v1/items/" + key, item), 507)
    assert healthy(h.base)
    for k in stored[:3] + stored[-3:]:
        assert h.delivery.get("/v1/items/%s?status=published" % k).status_code == 404
        assert h.editor.get("/v1/items/" + k).status_code == 200
