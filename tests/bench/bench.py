#!/usr/bin/python3
"""Benchmarks for the content store issue, run by hand (never by the test suite).

  /usr/bin/python3 tests/bench/bench.py read  [--items N] [--threads T] [--seconds S]
      Delivery read: GET /v1/content/{key} of a ~1.5 KB body with wrk (32 connections)
      against omnihub and, in the same run, Debian's h2o serving the same bytes as a static
      file with the same thread count. Prints req/s and p99 for both and the ratio.
      --items N stores N items first (loaded through the API with wrk, 16 connections).
  /usr/bin/python3 tests/bench/bench.py write [--items N]
      PUT + publish per second with 16 concurrent clients (durable), and the server's
      resident memory afterwards (RssAnon + RssFile) with that many items loaded.

Needs wrk and h2o (scripts/install-deps.sh --bench). Everything runs on 127.0.0.1.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import http.client
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("OMNIHUB_BIN", os.path.join(ROOT, "build", "omnihub"))
HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_http(url, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except Exception:
            time.sleep(0.05)
    raise RuntimeError("server did not come up: " + url)


def call(port, token, method, path, body=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Authorization", "Bearer " + token)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, r.read()


def bench_item(key):
    """An item whose email delivery body is about 1.5 KB."""
    html = ("<h1>Hello {{ first_name | default: 'there' }}</h1>" +
            "<p>Your new savings account earns 3.1% a year. " * 24)[:1200]
    return {"kind": "message", "title": "Benchmark " + key, "tags": ["campaign/bench"],
            "variants": [{"id": "control", "content": {"en": {"email": {
                "subject": "Welcome, {{ first_name }}", "preheader": "Your account is ready",
                "html": html}}}}]}


class Server:
    def __init__(self, threads, samples=None):
        """samples: a folder (or file) to `omnihub import` before the server starts."""
        self.dir = tempfile.mkdtemp(prefix="omnihub-bench-")
        self.port = free_port()
        self.threads = threads
        if samples is not None:
            subprocess.run([BIN, "import", "--data", self.dir, samples], check=True,
                           capture_output=True)
        self.token = subprocess.check_output(
            [BIN, "token", "create", "--data", self.dir, "--role", "admin", "--name", "bench"],
            text=True).strip()
        cfg = os.path.join(self.dir, "config.json")
        with open(cfg, "w") as f:
            json.dump({"store": {"map_size_mb": 65536}, "max_connections": 4096}, f)
        self.proc = subprocess.Popen([BIN, "serve", "--data", self.dir, "--listen",
                                      "127.0.0.1:%d" % self.port, "--threads", str(threads),
                                      "--config", cfg], stderr=subprocess.DEVNULL)
        wait_http("http://127.0.0.1:%d/healthz" % self.port)
        call(self.port, self.token, "PUT", "/v1/locales/en", {"name": "English"})
        call(self.port, self.token, "PUT", "/v1/taxonomy/campaign/bench", {"label": "Bench"})

    def rss(self):
        out = {}
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "RssAnon", "RssFile"):
                    out[k] = int(v.split()[0]) // 1024
        return out

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


class StaticFile:
    """The reference of the read benchmarks: Debian's h2o serving `body` as a static file
    (self.url) with `threads` threads; self.dir is a scratch folder removed by stop()."""

    def __init__(self, body, threads):
        self.dir = tempfile.mkdtemp(prefix="h2o-bench-")
        os.chmod(self.dir, 0o755)  # h2o started as root serves as "nobody"
        with open(os.path.join(self.dir, "content.json"), "wb") as f:
            f.write(body)
        port = free_port()
        conf = os.path.join(self.dir, "h2o.conf")
        with open(conf, "w") as f:
            f.write("listen:\n  host: 127.0.0.1\n  port: %d\nnum-threads: %d\n"
                    "hosts:\n  default:\n    paths:\n      /:\n        file.dir: %s\n"
                    "access-log: /dev/null\n" % (port, threads, self.dir))
        self.proc = subprocess.Popen(["h2o", "-c", conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.base = "http://127.0.0.1:%d" % port
        self.url = self.base + "/content.json"
        wait_http(self.url)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def wrk(url, conns, seconds, threads, script=None, env=None):
    cmd = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % seconds, "--latency"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, env=env).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p99_ms": p99, "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "errors": errors.group(1) if errors else "none", "raw": out}


def load_items(srv, n, conns=16):
    """PUT + publish n items through the API from `conns` keep-alive clients; returns
    (seconds, items/s, p99 ms of the requests). Every answer must be a 2xx."""
    body = json.dumps(bench_item("KEY")).encode()
    headers = {"Authorization": "Bearer " + srv.token, "Content-Type": "application/json"}
    lat, errors, lock = [], [], threading.Lock()

    def client(t):
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
        mine = []
        for i in range(t, n, conns):
            for method, path, data in (("PUT", "/v1/items/bench/i%d" % i, body),
                                       ("POST", "/v1/items/bench/i%d/publish" % i, b"{}")):
                start = time.perf_counter()
                conn.request(method, path, data, headers)
                r = conn.getresponse()
                r.read()
                mine.append(time.perf_counter() - start)
                if r.status >= 300:
                    with lock:
                        errors.append("%s %s: %d" % (method, path, r.status))
        with lock:
            lat.extend(mine)

    start = time.time()
    workers = [threading.Thread(target=client, args=(t,)) for t in range(conns)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    secs = time.time() - start
    if errors:
        raise RuntimeError("%d failed writes, first: %s" % (len(errors), errors[0]))
    lat.sort()
    p99 = lat[int(len(lat) * 0.99) - 1] * 1000 if lat else 0.0
    return secs, n / secs, p99


def cmd_read(args):
    srv = Server(args.threads)
    try:
        if args.items > 1:
            secs, rate, _ = load_items(srv, args.items - 1)
            print("loaded %d items in %.1f s (%.0f PUT+publish/s)" % (args.items - 1, secs, rate))
        call(srv.port, srv.token, "PUT", "/v1/items/bench/read", bench_item("bench/read"))
        call(srv.port, srv.token, "POST", "/v1/items/bench/read/publish", {"at": None})
        path = "/v1/content/bench/read?channel=email&locale=en"
        _, body = call(srv.port, srv.token, "GET", path)
        h2o = StaticFile(body, args.threads)
        lua = os.path.join(srv.dir, "auth.lua")
        with open(lua, "w") as f:
            f.write('wrk.headers["Authorization"] = "Bearer %s"\n' % srv.token)
        ours, ref = [], []
        for _ in range(args.rounds):  # alternate so both see the same machine load
            ref.append(wrk(h2o.url, 32, args.seconds, 1))
            ours.append(wrk("http://127.0.0.1:%d%s" % (srv.port, path), 32, args.seconds, 1,
                            lua))
        h2o.stop()
        best = lambda rs: max(rs, key=lambda r: r["rps"])
        o, r = best(ours), best(ref)
        print("body %d bytes, %d items stored, %d server threads, wrk -t1 -c32 -d%ds, best of %d"
              % (len(body), args.items, args.threads, args.seconds, args.rounds))
        print("h2o static file : %9.0f req/s  p99 %.2f ms" % (r["rps"], r["p99_ms"]))
        print("omnihub content : %9.0f req/s  p99 %.2f ms  (non-2xx %d, socket errors %s)"
              % (o["rps"], o["p99_ms"], o["non2xx"], o["errors"]))
        print("ratio omnihub/h2o: %.2f" % (o["rps"] / r["rps"]))
        print("omnihub memory: %s MB" % srv.rss())
    finally:
        srv.stop()


def cmd_write(args):
    srv = Server(args.threads)
    try:
        secs, rate, p99 = load_items(srv, args.items)
        print("PUT+publish: %d items in %.1f s = %.0f items/s (%.0f requests/s), 16 clients, "
              "durable; p99 %.2f ms, all 2xx" % (args.items, secs, rate, 2 * rate, p99))
        print("resident memory with %d items: %s MB" % (args.items, srv.rss()))
    finally:
        srv.stop()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["read", "write"])
    p.add_argument("--items", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    if not shutil.which("wrk") or not shutil.which("h2o"):
        sys.exit("bench: needs wrk and h2o: scripts/install-deps.sh --bench")
    {"read": cmd_read, "write": cmd_write}[args.what](args)


if __name__ == "__main__":
    main()
