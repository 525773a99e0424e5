#!/usr/bin/python3
"""HTTP sink for the tests: answers any method and path on 127.0.0.1 and records what it got.

    /usr/bin/python3 tests/servers/http_sink.py --port 0 --dir DIR
        [--script SPEC | --seed N --fail-share F] [--ready-file F] [--verbose]

DIR/requests.jsonl: one JSON line per request answered 2xx, written (under a lock, flushed)
before the answer is sent: {"n", "method", "path", "headers" (lower-case names), "body" (text),
"idempotency_key" (Idempotency-Key or null), "at", "status"}; a body that is not UTF-8 also gets
"body_base64". DIR/attempts.jsonl: one line per request seen, same fields plus "answer"
("200", "500", "429", ..., "reset", "slow"). "n" numbers the requests in arrival order.

--script "500,503,429:2,400,reset,slow:3,200": the behaviour for the successive requests, then
200 for ever. CODE answers that status (CODE:S adds `Retry-After: S`), `reset` reads the request
and aborts the connection (RST, no answer), `slow:S` sleeps S seconds and then answers 200 (if
the client went away meanwhile, it is logged in attempts.jsonl with "client_gone": true and not
in requests.jsonl). --seed N --fail-share F: request k (arrival order) fails with 500 when the
k-th draw of random.Random(N).random() is below F, else 200 (reproducible for a given order).
Every 2xx answer has the body {"ok":true} (application/json). HTTP/1.1 with keep-alive,
Content-Length or chunked request bodies. The real port goes into the ready file once the
socket listens; SIGTERM or SIGINT stops it with exit status 0. Standard library only.
"""
import argparse
import base64
import datetime
import json
import os
import random
import signal
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


def write_atomic(path, data):
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), ".%s.tmp" % os.path.basename(path))
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def parse_script(spec):
    """-> list of (kind, arg): ("status", (code, retry_after|None)), ("reset", None),
    ("slow", seconds)."""
    items = []
    for raw in (spec or "").split(","):
        item = raw.strip().lower()
        if not item:
            continue
        head, _, arg = item.partition(":")
        if item == "reset":
            items.append(("reset", None))
        elif head == "slow":
            try:
                seconds = float(arg)
            except ValueError:
                raise ValueError("bad script item %r (slow:SECONDS)" % raw)
            items.append(("slow", seconds))
        elif len(head) == 3 and head.isdigit() and 200 <= int(head) <= 599 \
                and int(head) not in (204, 304):
            if arg and not arg.isdigit():
                raise ValueError("bad script item %r (CODE:RETRY_AFTER_SECONDS)" % raw)
            items.append(("status", (int(head), arg or None)))
        else:
            raise ValueError("bad script item %r (CODE[:S], reset or slow:S)" % raw)
    return items


def _count_lines(path):
    try:
        with open(path, "rb") as f:
            return sum(1 for line in f if line.endswith(b"\n"))
    except FileNotFoundError:
        return 0


class State:
    def __init__(self, directory, script, seed, fail_share, verbose):
        self.lock = threading.Lock()
        # A sink started again on the same DIR goes on numbering after the requests seen there
        # (the script and the draws start again from their beginning).
        self.base = _count_lines(os.path.join(directory, "attempts.jsonl"))
        self.count = 0
        self.script = script
        self.rng = random.Random(seed) if fail_share is not None else None
        self.fail_share = fail_share
        self.verbose = verbose
        self.requests = open(os.path.join(directory, "requests.jsonl"), "a", encoding="utf-8")
        self.attempts = open(os.path.join(directory, "attempts.jsonl"), "a", encoding="utf-8")

    def decide(self):
        """The request number and behaviour of the next request, in arrival order."""
        with self.lock:
            self.count += 1
            k = self.count
            n = self.base + k
            if k <= len(self.script):
                return n, self.script[k - 1]
            if self.rng is not None:
                failed = self.rng.random() < self.fail_share
                return n, ("status", (500 if failed else 200, None))
            return n, ("status", (200, None))

    def record(self, f, entry):
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self.lock:
            if f.closed:  # stopping: a late thread has nothing left to record into
                return
            f.write(line)
            f.flush()

    def close(self):
        with self.lock:
            self.requests.close()
            self.attempts.close()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "omnihub-http-sink/1"
    sys_version = ""

    def __getattr__(self, name):
        # Any method: BaseHTTPRequestHandler looks up do_<METHOD>.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def log_message(self, fmt, *args):
        if self.server.state.verbose:
            sys.stderr.write("http sink: %s\n" % (fmt % args))

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("eof in chunked body")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline(3)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _entry(self, n, body):
        headers = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = headers[key] + ", " + value if key in headers else value
        try:
            text, b64 = body.decode("utf-8"), None
        except UnicodeDecodeError:
            text, b64 = body.decode("utf-8", "replace"), base64.b64encode(body).decode()
        entry = {"n": n, "method": self.command, "path": self.path, "headers": headers,
                 "body": text, "idempotency_key": headers.get("idempotency-key"),
                 "at": now_iso()}
        if b64 is not None:
            entry["body_base64"] = b64
        return entry

    def _client_gone(self):
        sock = self.connection
        timeout = sock.gettimeout()
        try:
            sock.settimeout(0)
            return sock.recv(1, socket.MSG_PEEK) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True
        finally:
            try:
                sock.settimeout(timeout)
            except OSError:
                pass

    def _reset(self):
        sock = self.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        fd = sock.detach()  # close the descriptor now, with linger 0: the peer gets a RST
        if fd >= 0:
            os.close(fd)
        self.close_connection = True

    def _answer(self, code, retry_after=None):
        ok = 200 <= code < 300
        body = b'{"ok":true}' if ok else json.dumps({"ok": False, "status": code}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self):
        state = self.server.state
        n, (kind, arg) = state.decide()
        body = self._read_body()
        entry = self._entry(n, body)
        if kind == "reset":
            state.record(state.attempts, dict(entry, answer="reset"))
            self._reset()
            return
        if kind == "slow":
            time.sleep(arg)
            if self._client_gone():
                state.record(state.attempts, dict(entry, answer="slow", client_gone=True))
                self.close_connection = True
                return
            code, retry_after = 200, None
            answer = "slow"
        else:
            code, retry_after = arg
            answer = str(code)
        entry["status"] = code
        state.record(state.attempts, dict(entry, answer=answer))
        if 200 <= code < 300:
            state.record(state.requests, entry)
        self._answer(code, retry_after)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--script", default=None)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--fail-share", type=float, default=None)
    ap.add_argument("--ready-file", default=None)
    ap.add_argument("--verbose", action="store_true", help="log every request on stderr")
    args = ap.parse_args()
    try:
        script = parse_script(args.script)
    except ValueError as e:
        ap.error(str(e))
    if (args.seed is None) != (args.fail_share is None):
        ap.error("--seed and --fail-share go together")
    if args.fail_share is not None and script:
        ap.error("--script and --seed/--fail-share exclude each other")
    if args.fail_share is not None and not 0.0 <= args.fail_share <= 1.0:
        ap.error("--fail-share must be within [0, 1]")

    os.makedirs(args.dir, exist_ok=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = Server(("127.0.0.1", args.port), Handler)
    server.state = State(args.dir, script, args.seed, args.fail_share, args.verbose)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True)
    thread.start()
    if args.ready_file:
        write_atomic(args.ready_file, b"%d\n" % port)
    print("http sink listening on 127.0.0.1:%d, recording in %s" % (port, args.dir),
          file=sys.stderr, flush=True)
    while not stop.wait(0.2):
        pass
    server.shutdown()
    server.server_close()
    server.state.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
