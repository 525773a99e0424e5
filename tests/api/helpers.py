"""Shared helpers for the end-to-end API tests (tests/api) and the crash test (tests/crash).

Everything here talks to a real `omnihub serve` process over 127.0.0.1: starting and stopping
it, creating tokens with the command line, a small JSON client per token, raw-socket requests
for framing tests, builders for the items of API.md, and the problem+json checks of RFC 9457.
Only the standard library and Debian's python3-requests; no pytest import, so the crash test
can use this file too.
"""
import contextlib
import glob
import itertools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("OMNIHUB_BIN", os.path.join(ROOT, "build", "omnihub"))
SAMPLES = os.path.join(ROOT, "content-samples")
# What a sanitizer writes when it finds something; none of it may appear in the server's stderr.
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error",
                   "ThreadSanitizer")
TIMEOUT = 15  # seconds for any single HTTP exchange: a hang is a failure, not a stuck suite
START_TIMEOUT = 20  # an ASan build with a big store may take a while to come up
ROLES = ("admin", "editor", "limited", "preview", "delivery")

_counter = itertools.count(1)


def uniq(prefix="t"):
    """A fresh name that no other test uses: prefix + counter + random hex."""
    return "%s%d%s" % (prefix, next(_counter), secrets.token_hex(3))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cli(*args, binary=None, check=True, timeout=120):
    """Runs `omnihub ARGS...`; returns the CompletedProcess (text mode)."""
    p = subprocess.run([binary or BIN] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("omnihub %s: exit %d\nstdout: %s\nstderr: %s"
                             % (" ".join(map(str, args)), p.returncode, p.stdout, p.stderr))
    return p


def create_token(data, role, name, channels=None, tags=None, binary=None):
    """`omnihub token create`: returns the secret (the only thing printed on stdout)."""
    args = ["token", "create", "--data", data, "--role", role, "--name", name]
    if channels:
        args += ["--channels", ",".join(channels)]
    if tags:
        args += ["--tags", ",".join(tags)]
    out = cli(*args, binary=binary).stdout
    secret = out.strip()
    assert secret and "\n" not in secret, "token create must print only the secret: %r" % out
    return secret


def sanitizer_findings(text):
    return [line for line in text.splitlines() if any(m in line for m in SANITIZER_MARKS)]


class Server:
    """One `omnihub serve` process on a free port of 127.0.0.1."""

    def __init__(self, data, binary=None, config=None, threads=2):
        self.data = data
        self.binary = binary or BIN
        self.config = config  # dict written to a --config file, or None
        self.threads = threads
        self.proc = None
        self.port = None
        self.logdir = tempfile.mkdtemp(prefix="omnihub-log-")
        self.starts = 0
        self.stderr_seen = ""  # stderr of the runs that ended

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def _command(self):
        cmd = [self.binary, "serve", "--data", self.data, "--listen",
               "127.0.0.1:%d" % self.port, "--threads", str(self.threads)]
        if self.config is not None:
            path = os.path.join(self.logdir, "config.json")
            with open(path, "w") as f:
                json.dump(self.config, f)
            cmd += ["--config", path]
        return cmd

    def start(self):
        """Starts the server and waits for /healthz; retries on a port taken meanwhile."""
        assert self.proc is None, "server already running"
        last = ""
        for _ in range(3):
            self.port = free_port()
            self.starts += 1
            self.errpath = os.path.join(self.logdir, "stderr.%d" % self.starts)
            with open(self.errpath, "wb") as err:
                self.proc = subprocess.Popen(self._command(), stdout=subprocess.DEVNULL,
                                             stderr=err)
            if self._wait_healthy():
                return self
            self.proc.wait(timeout=10)
            last = self._read_stderr()
            self.stderr_seen += last
            self.proc = None
        raise AssertionError("omnihub serve did not come up:\n" + last)

    def _wait_healthy(self):
        end = time.time() + START_TIMEOUT
        while time.time() < end:
            if self.proc.poll() is not None:
                return False
            try:
                if requests.get(self.base + "/healthz", timeout=1).status_code == 200:
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.02)
        self.proc.kill()
        return False

    def _read_stderr(self):
        with open(self.errpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stderr(self):
        """Everything the server wrote on stderr so far (all runs)."""
        return self.stderr_seen + (self._read_stderr() if self.proc else "")

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Sends sig, waits, returns (exit code, stderr of this run)."""
        assert self.proc is not None, "server not running"
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = "hung: no exit %d s after signal %d" % (timeout, sig)
        err = self._read_stderr()
        self.stderr_seen += err
        self.proc = None
        return rc, err

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.stderr_seen += self._read_stderr()
        self.proc = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


class Api:
    """A JSON client for one token (None: no Authorization header)."""

    def __init__(self, base, token=None, name=None):
        self.base = base
        self.token = token
        self.name = name
        self.s = requests.Session()

    def request(self, method, path, body=None, raw=None, headers=None, params=None,
                content_type=None):
        h = {}
        if self.token is not None:
            h["Authorization"] = "Bearer " + self.token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if raw is not None:
            data = raw
        if content_type is not None:
            h["Content-Type"] = content_type
        h.update(headers or {})
        return self.s.request(method, self.base + path, data=data, headers=h, params=params,
                              timeout=TIMEOUT, allow_redirects=False)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def patch(self, path, body=None, **kw):
        kw.setdefault("content_type", "application/merge-patch+json")
        return self.request("PATCH", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    # ---- checked shortcuts: the call must succeed, else the test fails with the body ----
    def ok(self, method, path, body=None, expect=(200, 201, 204), **kw):
        r = self.request(method, path, body, **kw)
        assert r.status_code in expect, "%s %s as %s: %d %s" % (
            method, path, self.name, r.status_code, r.text[:600])
        return r.json() if r.content else None

    def put_item(self, item, **kw):
        return self.ok("PUT", "/v1/items/" + item["key"], item, **kw)

    def publish(self, key, **kw):
        return self.ok("POST", "/v1/items/%s/publish" % key, {"at": None}, expect=(200, 201),
                       **kw)

    def all_items(self, path, params=None):
        """Every item of a paged list, following next_cursor."""
        params = dict(params or {}, limit=1000)
        out = []
        for _ in range(1000):
            page = self.ok("GET", path, params=params)
            out += page["items"]
            if page.get("next_cursor") is None:
                return out
            params["cursor"] = page["next_cursor"]
        raise AssertionError("paging of %s does not end" % path)

    def last_change_seq(self):
        items = self.changes_all()
        return items[-1]["seq"] if items else 0

    def changes_all(self, since=0):
        """Every change after `since`, following next_since."""
        out = []
        while True:
            page = self.ok("GET", "/v1/changes", params={"since": since, "limit": 1000})
            out += page["items"]
            if not page["items"]:
                return out
            since = page["next_since"]


class Hub:
    """A running server with one token per role: admin, editor, limited (an editor limited to
    channel email and tags under campaign/), preview, delivery, and the editors `tagged` and
    `emailer` (one restriction each); `anon` sends no token."""

    # Editors with one restriction each: `tagged` (tags under campaign/), `emailer` (email).
    EXTRA = {"limited": ("editor", {"channels": ["email"], "tags": ["campaign/"]}),
             "tagged": ("editor", {"tags": ["campaign/"]}),
             "emailer": ("editor", {"channels": ["email"]})}
    TOKEN_NAMES = {r: "t-" + r for r in ROLES + ("tagged", "emailer")}  # role -> token name

    def __init__(self, binary=None, config=None, data=None, tokens=None):
        self.data = data or tempfile.mkdtemp(prefix="omnihub-data-")
        self.tokens = dict(tokens or {})  # role -> secret, for a data dir that has them
        if data is None:
            for role in self.TOKEN_NAMES:
                real, kw = self.EXTRA.get(role, (role, {}))
                self.tokens[role] = create_token(self.data, real, self.TOKEN_NAMES[role],
                                                 binary=binary, **kw)
        self.server = Server(self.data, binary=binary, config=config)

    def start(self):
        self.server.start()
        self.clients = {r: Api(self.server.base, t, self.TOKEN_NAMES[r])
                        for r, t in self.tokens.items()}
        self.clients[None] = Api(self.server.base, None, "anon")
        return self

    def restart(self):
        if self.server.alive():
            rc, err = self.server.stop()
            assert rc == 0, "exit %r after SIGTERM: %s" % (rc, err[-2000:])
        self.server.start()
        for c in self.clients.values():
            c.base = self.server.base
            c.s = requests.Session()
        return self

    def as_(self, role):
        return self.clients[role]

    @property
    def port(self):
        return self.server.port

    @property
    def base(self):
        return self.server.base

    def __getattr__(self, name):
        if name in self.TOKEN_NAMES and name in self.__dict__.get("clients", {}):
            return self.clients[name]
        if name == "anon":
            return self.clients[None]
        raise AttributeError(name)

    def finish(self):
        """SIGTERM; asserts exit 0 and a clean stderr (no sanitizer report)."""
        rc = 0
        if self.server.alive():
            rc, _ = self.server.stop()
        allerr = self.server.stderr()
        problems = sanitizer_findings(allerr)
        assert rc == 0 and not problems, "server exit %r after SIGTERM; stderr tail:\n%s" % (
            rc, allerr[-4000:])
        shutil.rmtree(self.server.logdir, ignore_errors=True)  # kept when something failed


# The locales and terms of the shared server: en (default), de -> en, de-AT -> de, fr -> en.
BASE_LOCALES = [("en", {"name": "English"}), ("de", {"name": "Deutsch", "fallback": "en"}),
                ("de-AT", {"name": "Deutsch (Österreich)", "fallback": "de"}),
                ("fr", {"name": "Français", "fallback": "en"})]
BASE_TERMS = ["journey/onboarding", "journey/matrix", "campaign/spring", "campaign/spring/week1",
              "product/accounts", "product/accounts/savings", "segment/vip",
              "action/open-account"]


def seed(h):
    """Gives a hub the base locales and terms (as admin, through the API)."""
    for tag, body in BASE_LOCALES:
        h.admin.ok("PUT", "/v1/locales/" + tag, body)
    for term in BASE_TERMS:
        h.admin.ok("PUT", "/v1/taxonomy/" + term, {"label": term.rsplit("/", 1)[1].title()})
    return h


# ---- content builders ---------------------------------------------------------------------

def email(subject, html="<p>Hello {{ first_name }}</p>", **more):
    return dict({"subject": subject, "html": html}, **more)


def message(key, title=None, tags=(), variants=None, kind="message", **more):
    """An item with one variant `control` with English email and SMS, unless given."""
    if variants is None:
        variants = [{"id": "control", "weight": 100,
                     "content": {"en": {"email": email("Hi " + key),
                                        "sms": {"text": "Hi from " + key}}}}]
    item = {"key": key, "kind": kind, "title": title or "Item " + key, "tags": list(tags),
            "variants": variants}
    item.update(more)
    return item


def email_only(key, tags=(), subject=None, title=None):
    return message(key, title=title, tags=tags, variants=[
        {"id": "control", "content": {"en": {"email": email(subject or "Subject " + key)}}}])


# ---- RFC 9457 ----------------------------------------------------------------------------

def assert_problem(r, status, paths=()):
    """r is a problem+json answer with this status (and these error pointers, if given)."""
    assert r.status_code == status, "expected %d, got %d: %s" % (status, r.status_code,
                                                                  r.text[:800])
    ctype = r.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip().lower() == "application/problem+json", ctype
    body = r.json()
    assert isinstance(body.get("type"), str) and body["type"], body
    assert isinstance(body.get("title"), str) and body["title"], body
    assert body.get("status") == status, body
    assert isinstance(body.get("detail"), str) and body["detail"].strip(), body
    assert "\n" not in body["detail"], "detail must be one line: %r" % body["detail"]
    for e in body.get("errors", []):
        assert isinstance(e.get("path"), str) and isinstance(e.get("message"), str), e
        assert e["path"] == "" or e["path"].startswith("/"), "not a JSON pointer: %r" % e
        assert e["message"].strip(), e
    got = {e["path"] for e in body.get("errors", [])}
    missing = [p for p in paths if p not in got]
    assert not missing, "errors lack %s; got %s" % (missing, sorted(got))
    return body


def is_problem(r):
    return r.headers.get("Content-Type", "").split(";")[0].strip() == "application/problem+json"


# ---- raw sockets -------------------------------------------------------------------------

def raw_send(port, data, timeout=3.0, shut_write=False, chunks=None, complete=False):
    """Sends bytes (or the byte strings of `chunks`, one send each) on a fresh connection and
    reads until the server closes it or `timeout` passes without data; with complete=True it
    stops after the first whole response plus a short look for the close. Returns
    (received, closed): closed is True when the server closed the connection (EOF or reset)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = b""
    closed = False
    try:
        try:
            for part in (chunks if chunks is not None else [data]):
                s.sendall(part)
            if shut_write:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may answer and close before it read everything we send
        while True:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                closed = True
                break
            if not b:
                closed = True
                break
            got += b
            if complete and first_response_len(got) is not None:
                s.settimeout(1.0)
                complete = False  # now only wait for EOF or a timeout
    finally:
        s.close()
    return got, closed


def first_response_len(data):
    """Bytes of the first whole HTTP/1.1 response in data, or None while incomplete."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    n = 0
    status = head.split(b" ", 2)[1:2]
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v.strip() or b"0")
    if status in ([b"204"], [b"304"]):
        n = 0
    return len(head) + 4 + n if len(rest) >= n else None


def parse_responses(data):
    """Splits raw HTTP/1.1 bytes into [(status, headers dict lowercased, body)]; stops at what
    it cannot parse (then the last entry has status None)."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep or not head.startswith(b"HTTP/1."):
            out.append((None, {}, data))
            return out
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        if status in (204, 304):
            n = 0
        out.append((status, headers, rest[:n]))
        data = rest[n:]
    return out


def raw_request(port, method, path, headers=(), body=b"", timeout=5.0):
    """One request with exactly these header lines (list of (name, value)); returns the first
    parsed response and whether the connection was closed after it."""
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1:%d" % port]
    lines += ["%s: %s" % hv for hv in headers]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    got, closed = raw_send(port, data, timeout=timeout, complete=True)
    resp = parse_responses(got)
    return (resp[0] if resp else (None, {}, b"")), closed


def healthy(base):
    try:
        return requests.get(base + "/healthz", timeout=TIMEOUT).status_code == 200
    except requests.RequestException:
        return False


def sample_items():
    """The item documents (messages and blocks) of content-samples/, in path order."""
    out = []
    for path in sorted(glob.glob(os.path.join(SAMPLES, "**", "*.json"), recursive=True)):
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        if "key" in doc and "variants" in doc:
            out.append(doc)
    return out


def wait_for(fn, what, timeout=10.0):
    """Polls fn until it returns something true (returned), or fails after timeout seconds."""
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


@contextlib.contextmanager
def running_hub(config=None, samples=False):
    """A started Hub (samples: content-samples/ imported first; the import's CompletedProcess is
    h.import_result), finished and removed on exit."""
    h = Hub(config=config)
    if samples:
        h.import_result = cli("import", "--data", h.data, SAMPLES, check=False)
    h.start()
    try:
        yield h
    finally:
        h.finish()
        shutil.rmtree(h.data, ignore_errors=True)
