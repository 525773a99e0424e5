#!/usr/bin/python3
"""SMTP sink for the tests: accepts mail on 127.0.0.1 and stores every accepted message.

    /usr/bin/python3 tests/servers/smtp_sink.py --port 0 --dir DIR [--script SPEC]
        [--auth user:pass] [--ready-file F]

Every accepted message becomes DIR/<n>.eml (the DATA bytes exactly as received, dot-unstuffed,
CRLF kept) and DIR/<n>.json {"mail_from", "rcpt_tos", "message_id", "received_at", ...}, each
written atomically (the .json last, so a reader that lists the .json files sees whole messages).
DIR/attempts.jsonl gets one line per DATA command with the answer given.

--script "451,250,550,drop": the answers to the successive DATA commands (counted over all
connections); after the list runs out every message is accepted. 250 accepts, 451 answers
`451 4.3.0 try again later`, 550 answers `550 5.7.1 rejected`, any other 4xx/5xx code answers
`<code> <class>.0.0 scripted reply`, `drop` closes the connection without answering.
--auth user:pass requires AUTH PLAIN or LOGIN (allowed without TLS: loopback only); wrong
credentials get 535. The real port goes into the ready file once the socket listens.
SIGTERM or SIGINT stops it with exit status 0. Only the standard library and python3-aiosmtpd.
"""
import argparse
import asyncio
import datetime
import email.parser
import email.policy
import json
import logging
import os
import signal
import sys
import warnings

from aiosmtpd.smtp import SMTP, AuthResult

REPLIES = {"451": "451 4.3.0 try again later", "550": "550 5.7.1 rejected"}


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


def write_atomic(path, data):
    tmp = os.path.join(os.path.dirname(path), ".%s.tmp" % os.path.basename(path))
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def parse_script(spec):
    items = []
    for raw in (spec or "").split(","):
        item = raw.strip().lower()
        if not item:
            continue
        if item == "drop":
            items.append(item)
        elif len(item) == 3 and item.isdigit() and (item == "250" or item[0] in "45"):
            items.append(item)
        else:
            raise ValueError("bad script item %r (250, 4xx, 5xx or drop)" % raw)
    return items


def reply_for(code):
    return REPLIES.get(code, "%s %s.0.0 scripted reply" % (code, code[0]))


def message_id_of(raw):
    try:
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
        value = headers.get("Message-ID")
    except Exception:  # a broken message is still stored; it just has no id
        return None
    if value is None:
        return None
    return " ".join(str(value).split()) or None


class Sink:
    def __init__(self, directory, script):
        self.dir = directory
        self.script = list(script)
        self.data_commands = 0
        # A sink started again on the same DIR goes on numbering after the messages there.
        self.stored = max([int(f[:-5]) for f in os.listdir(directory)
                           if f.endswith(".json") and f[:-5].isdigit()], default=0)
        self.attempts = open(os.path.join(directory, "attempts.jsonl"), "a", encoding="utf-8")

    def log_attempt(self, session, envelope, answer, n=None):
        line = {"data_command": self.data_commands, "answer": answer, "stored_as": n,
                "mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos),
                "auth_login": _login(session), "at": now_iso()}
        self.attempts.write(json.dumps(line) + "\n")
        self.attempts.flush()

    async def handle_DATA(self, server, session, envelope):
        # One event-loop thread: the counters need no lock.
        self.data_commands += 1
        step = self.script[self.data_commands - 1] if self.data_commands <= len(self.script) \
            else "250"
        if step == "drop":
            self.log_attempt(session, envelope, "drop")
            server.transport.close()
            # connection_lost() cancels this coroutine, so no answer is ever written.
            await asyncio.sleep(3600)
            return "421 4.3.0 closing"  # not reached
        if step != "250":
            self.log_attempt(session, envelope, step)
            return reply_for(step)
        raw = bytes(envelope.original_content)
        self.stored += 1
        n = self.stored
        meta = {"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos),
                "message_id": message_id_of(raw), "received_at": now_iso(),
                "mail_options": list(envelope.mail_options),
                "auth_login": _login(session), "size": len(raw)}
        write_atomic(os.path.join(self.dir, "%d.eml" % n), raw)
        write_atomic(os.path.join(self.dir, "%d.json" % n),
                     (json.dumps(meta, indent=1) + "\n").encode())
        self.log_attempt(session, envelope, "250", n)
        return "250 2.0.0 OK stored as %d" % n


def _login(session):
    login = getattr(session, "login_data", None)
    if isinstance(login, bytes):
        return login.decode("utf-8", "replace")
    return login


def make_authenticator(user, password):
    user, password = user.encode(), password.encode()

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (mechanism in ("PLAIN", "LOGIN") and auth_data is not None
              and auth_data.login == user and auth_data.password == password)
        # handled=False: smtp_AUTH answers 535 itself when the credentials are wrong.
        return AuthResult(success=ok, handled=False, auth_data=auth_data)
    return authenticator


async def serve(args):
    os.makedirs(args.dir, exist_ok=True)
    sink = Sink(args.dir, parse_script(args.script))
    kw = {}
    if args.auth:
        user, _, password = args.auth.partition(":")
        kw = dict(authenticator=make_authenticator(user, password), auth_required=True,
                  auth_require_tls=False)
    loop = asyncio.get_running_loop()

    def factory():
        return SMTP(sink, hostname="smtp-sink.localhost", ident="omnihub test SMTP sink",
                    decode_data=False, enable_SMTPUTF8=True, loop=loop, **kw)

    server = await loop.create_server(factory, host="127.0.0.1", port=args.port)
    port = server.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if args.ready_file:
        write_atomic(args.ready_file, b"%d\n" % port)
    print("smtp sink listening on 127.0.0.1:%d, storing in %s" % (port, args.dir),
          file=sys.stderr, flush=True)
    await stop.wait()
    server.close()
    sink.attempts.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--script", default=None)
    ap.add_argument("--auth", default=None, help="user:pass")
    ap.add_argument("--ready-file", default=None)
    args = ap.parse_args()
    try:
        parse_script(args.script)
    except ValueError as e:
        ap.error(str(e))
    if args.auth is not None and ":" not in args.auth:
        ap.error("--auth wants user:pass")
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    # aiosmtpd warns about AUTH without TLS on every connection; on loopback that is the point.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
