"""Test helpers: start the SMTP and HTTP sinks as subprocesses and read what they recorded.

    with SmtpSink(tmp_path, script="451,250", auth="user:pass") as smtp, \\
            HttpSink(tmp_path, script="500,429:2") as http:
        config = {"channels": {"email": {"driver": "smtp", "smtp": {"url": smtp.url, ...}},
                               "sms": {"driver": "http", "http": {"url": http.url + "/sms"}}}}
        ...
        msg, meta, raw = smtp.wait_for_messages(1)[0]
        req = http.wait_for_requests(1)[0]

Each sink runs `/usr/bin/python3 tests/servers/<sink>.py --port 0` in a directory of its own
made under `tmpdir` (so two sinks may share one tmpdir), waits at most 10 s for the ready file,
and on exit sends SIGTERM, waits, and fails the test if the sink did not exit 0. stop() and
start() again reuse the same port and directory (a sink that is down for a while).
Standard library only; no pytest import.
"""
import email
import email.policy
import json
import os
import signal
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"
START_TIMEOUT = 10  # seconds for a sink to write its ready file
STOP_TIMEOUT = 5


def read_jsonl(path):
    """The complete lines of a JSON-lines file (a line still being written is left out)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.split("\n")[:-1] if line.strip()]


class _Sink:
    program = None
    scheme = None

    def __init__(self, tmpdir, args):
        self.base = tempfile.mkdtemp(prefix=self.program.replace(".py", "-"), dir=str(tmpdir))
        self.dir = os.path.join(self.base, "data")
        self.ready_file = os.path.join(self.base, "ready")
        self.log_path = os.path.join(self.base, "sink.log")
        self.args = [str(a) for a in args]
        self.host = "127.0.0.1"
        self.port = None
        self.proc = None
        self.returncode = None
        self._log = None

    @property
    def url(self):
        return "%s://%s:%d" % (self.scheme, self.host, self.port)

    def start(self):
        """Starts the sink (on the port it had before, if it ran already); returns self."""
        assert self.proc is None, "sink already running"
        if os.path.exists(self.ready_file):
            os.unlink(self.ready_file)
        cmd = [PYTHON, os.path.join(HERE, self.program), "--port", str(self.port or 0),
               "--dir", self.dir, "--ready-file", self.ready_file] + self.args
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        self.returncode = None
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            port = self._ready_port()
            if port:
                self.port = port
                return self
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("%s exited with %s before it was ready:\n%s"
                                   % (" ".join(cmd), self.returncode, self.log()))
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("%s not ready within %d s:\n%s"
                                   % (" ".join(cmd), START_TIMEOUT, self.log()))
            time.sleep(0.02)

    def _ready_port(self):
        try:
            with open(self.ready_file) as f:
                text = f.read().strip()
        except FileNotFoundError:
            return None
        return int(text) if text.isdigit() else None

    def stop(self):
        """SIGTERM, wait (SIGKILL after 5 s); returns the exit status (0 when it stopped well)."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.returncode = self.proc.returncode
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.returncode

    def restart(self):
        self.stop()
        return self.start()

    def log(self):
        """What the sink wrote on stdout and stderr."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        code = self.stop()
        if exc_type is None and code not in (0, None):
            raise AssertionError("%s exited with %s:\n%s" % (self.program, code, self.log()))
        return False

    def attempts(self):
        """One dict per attempt (SMTP: per DATA command; HTTP: per request), with "answer"."""
        return read_jsonl(os.path.join(self.dir, "attempts.jsonl"))

    def wait_for_attempts(self, count, timeout=10):
        return _wait(self.attempts, count, timeout, "attempts")


def _wait(read, count, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        got = read()
        if len(got) >= count:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("waited %s s for %d %s, got %d: %r"
                                 % (timeout, count, what, len(got), got))
        time.sleep(0.05)


def _join(spec):
    if spec is None or isinstance(spec, str):
        return spec
    return ",".join(str(s) for s in spec)


class SmtpSink(_Sink):
    """smtp_sink.py. script: "451,250" or ["451", 250, "drop"]; auth: "user:pass" or a pair.
    .url is smtp://127.0.0.1:PORT."""
    program = "smtp_sink.py"
    scheme = "smtp"

    def __init__(self, tmpdir, script=None, auth=None):
        args = []
        if _join(script):
            args += ["--script", _join(script)]
        if auth is not None:
            args += ["--auth", auth if isinstance(auth, str) else "%s:%s" % tuple(auth)]
        super().__init__(tmpdir, args)

    def messages(self):
        """[(EmailMessage parsed with email.policy.default, meta dict, raw bytes)] in the order
        they were accepted; meta has mail_from, rcpt_tos, message_id, received_at, n, ..."""
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return []
        numbers = sorted(int(f[:-5]) for f in names if f.endswith(".json") and f[:-5].isdigit())
        out = []
        for n in numbers:
            with open(os.path.join(self.dir, "%d.json" % n), encoding="utf-8") as f:
                meta = json.load(f)
            with open(os.path.join(self.dir, "%d.eml" % n), "rb") as f:
                raw = f.read()
            meta["n"] = n
            out.append((email.message_from_bytes(raw, policy=email.policy.default), meta, raw))
        return out

    def wait_for_messages(self, count=1, timeout=10):
        """messages() as soon as there are at least `count` of them (AssertionError after
        `timeout` seconds)."""
        return _wait(self.messages, count, timeout, "messages")

    def message_by_id(self, message_id):
        """The (msg, meta, raw) whose Message-ID is message_id (angle brackets optional)."""
        want = message_id.strip().strip("<>")
        for m in self.messages():
            if (m[1].get("message_id") or "").strip("<>") == want:
                return m
        return None


class HttpSink(_Sink):
    """http_sink.py. script: "500,429:2,reset" or a list; or seed + fail_share.
    .url is http://127.0.0.1:PORT (no trailing slash)."""
    program = "http_sink.py"
    scheme = "http"

    def __init__(self, tmpdir, script=None, seed=None, fail_share=None):
        args = []
        if _join(script):
            args += ["--script", _join(script)]
        if seed is not None or fail_share is not None:
            args += ["--seed", 0 if seed is None else seed,
                     "--fail-share", 0.0 if fail_share is None else fail_share]
        super().__init__(tmpdir, args)

    def requests(self):
        """One dict per request answered 2xx: method, path, headers (lower-case names), body,
        idempotency_key, at, n, status."""
        return read_jsonl(os.path.join(self.dir, "requests.jsonl"))

    def wait_for_requests(self, count=1, timeout=10):
        return _wait(self.requests, count, timeout, "requests")
