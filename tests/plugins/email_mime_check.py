#!/usr/bin/python3
"""Checks an email artifact (JSON on stdin) with Python's own email package, an independent
MIME parser: the message must parse as multipart/alternative with exactly a text/plain and a
text/html part, and decode to what the artifact says (subject, bodies, Message-ID). Raw form:
CRLF line ends only, no line over 998 bytes, body lines at most 76. Exit 0 when it holds."""
import email
import email.policy
import email.utils
import json
import sys


def norm(s):
    return s.replace("\r\n", "\n").replace("\r", "\n")


def main():
    art = json.load(sys.stdin)
    raw = art["mime"].encode("ascii")  # a MIME message is 7-bit here: headers and bodies encoded
    assert b"\n" not in raw.replace(b"\r\n", b""), "bare LF"
    assert b"\r" not in raw.replace(b"\r\n", b""), "bare CR"
    assert raw.endswith(b"\r\n"), "no final CRLF"
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, "no blank line after the header"
    for line in raw.split(b"\r\n"):
        assert len(line) <= 998, "line over 998 bytes"
    for line in body.split(b"\r\n"):
        assert len(line) <= 76, "body line over 76: %r" % line[:80]

    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert not msg.defects, msg.defects
    assert msg.get_content_type() == "multipart/alternative", msg.get_content_type()
    parts = list(msg.iter_parts())
    types = [p.get_content_type() for p in parts]
    assert types == ["text/plain", "text/html"], types
    for p in parts:
        assert not p.defects, p.defects
        assert p.get_content_charset() == "utf-8"
    assert str(msg["Subject"]) == art["subject"], (str(msg["Subject"]), art["subject"])
    assert str(msg["Message-ID"]) == art["message_id"], (msg["Message-ID"], art["message_id"])
    assert msg["MIME-Version"] == "1.0"
    assert msg["Date"] is not None and msg["Date"].datetime is not None
    text, html = parts[0].get_content(), parts[1].get_content()
    assert norm(text) == norm(art["text"]), (text, art["text"])
    assert norm(html) == norm(art["html"]), (html[:200], art["html"][:200])
    if art.get("to") is not None:
        assert msg["To"].addresses[0].addr_spec == art["to"]
    frm = msg["From"].addresses[0]
    name, addr = email.utils.parseaddr(art["from"])
    assert (frm.display_name, frm.addr_spec) == (name, addr), (frm, art["from"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
