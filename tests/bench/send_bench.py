#!/usr/bin/python3
"""Benchmark of sending (issue 5), run by hand (never by the test suite).

  /usr/bin/python3 tests/bench/send_bench.py [--seconds 10] [--threads 2] [--workers 4]
      [--smtp-messages 2000] [--wrk-threads 1] [--connections 16]
  /usr/bin/python3 tests/bench/send_bench.py --page-costs

Starts its own hub (content-samples imported, a delivery token, sms to the outbox driver,
email to the smtp driver pointed at an SmtpSink of tests/servers, --threads 2) and measures,
in the same run:
  (a) reference: GET /healthz with wrk, --connections (16), --seconds; the disk's bound for
      durable group commit: --connections closed-loop clients in threads of this script
      queueing to one committer that writes, fdatasyncs and writes a meta block through
      O_DSYNC (the two flushes of an LMDB commit) before it answers, with no B-tree work; and,
      for the outbox, the disk: files written the way the outbox writes them (temporary file,
      write, fsync, rename, fsync of the directory) by as many threads as the hub has delivery
      workers (measured again right after (c); the better of the two is the reference);
  (b0) the same as (b) on a second hub whose sms gateway is down (deliveries wait an hour),
      so the send path is measured without deliveries competing for the disk;
  (b) sends accepted per second: wrk POST /v1/journeys/journey/application-abandonment/steps/
      day-1/send (tests/bench/send.lua), --connections, --seconds, channel sms, every request
      a recipient and an idempotency key of its own; only 202s count (each 202 is one delivery
      committed, durable);
  (c) delivered per second to the outbox: from the moment the sends stop until
      omnihub_delivery_waiting reaches 0, the deliveries made in that time / that time (and
      the rate while the sends ran);
  (d) delivered per second to the SMTP sink: --smtp-messages sends on channel email from 16
      clients, then the time from the first send until all are delivered (the sink is Python's
      aiosmtpd: its CPU share is printed, it may be the limit).
Prints each number, the ratios against the reference (and (b) against the budget of
DESIGN.md, 5k queued deliveries per second), the CPU seconds of the hub and the sink, and the
CPU shares of the hub's three busiest threads (a thread near 100% is a bottleneck or a spin),
and for (b0) and (b) what the group commit did: operations per commit, the share of the time
the writer thread was busy, and its time per batch with the part spent committing.
A MISMATCH line means accepted, delivered and written counts disagree.

--page-costs measures only what one commit costs this disk by the number of 4 KiB pages it
writes and the number of places they are scattered over (LMDB writes each dirty page where its
allocator put it), the way an LMDB commit writes and flushes them.

With TMPDIR=/dev/shm every directory of the run (the hubs' data, the outbox, the references)
is on tmpfs, where a flush costs nothing: the numbers are then the hub's own bound on this
machine's CPUs, and the difference to a run on disk is what the disk's flushes cost.

Needs wrk (scripts/install-deps.sh --bench) and python3-aiosmtpd. Everything runs on 127.0.0.1.
"""
import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.environ.get("OMNIHUB_BIN", os.path.join(ROOT, "build", "omnihub"))
SAMPLES = os.path.join(ROOT, "content-samples")
sys.path.insert(0, os.path.join(ROOT, "tests", "servers"))
from sinks import SmtpSink  # noqa: E402

sys.path.insert(0, HERE)
from bench import free_port, wait_http  # noqa: E402  (the delivery-read benchmark's helpers)

SEND_PATH = "/v1/journeys/journey/application-abandonment/steps/day-1/send"
CONNECTIONS = 16
BUDGET = 5000.0  # DESIGN.md: at least 5k queued deliveries per second, durable
DRAIN_DEADLINE = 900  # seconds
OUTBOX_FILE_BYTES = 252  # the size of one sms outbox file of this benchmark
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid, task=None):
    """utime + stime of a process (all its threads), or of one of its threads, in seconds."""
    path = "/proc/%d/stat" % pid if task is None else "/proc/%d/task/%s/stat" % (pid, task)
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def thread_cpu(pid):
    """{thread id: CPU seconds} of every thread of a process."""
    out = {}
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            out[t] = cpu_seconds(pid, t)
        except OSError:
            pass
    return out


def busiest(before, after, secs, n=3):
    """The CPU shares of the n busiest threads between two thread_cpu() readings."""
    used = sorted((after[t] - before.get(t, 0.0) for t in after), reverse=True)[:n]
    return " ".join("%.0f%%" % (100 * u / secs) for u in used)


class Hub:
    def __init__(self, work, threads, workers, smtp_url, held=False):
        """held: sms goes to a gateway that is down (a closed port, retries an hour apart), so
        the sends are measured without deliveries competing for the disk."""
        work = os.path.join(work, "held") if held else work
        os.makedirs(work, exist_ok=True)
        self.dir = os.path.join(work, "data")
        self.port = free_port()
        subprocess.run([BIN, "import", "--data", self.dir, SAMPLES], check=True,
                       capture_output=True)
        self.token = subprocess.check_output(
            [BIN, "token", "create", "--data", self.dir, "--role", "delivery", "--name", "bench"],
            text=True).strip()
        cfg = os.path.join(work, "config.json")
        sms = {"driver": "outbox"}
        delivery = {"workers": workers}
        if held:
            sms = {"driver": "http", "http": {"url": "http://127.0.0.1:%d/x" % free_port()}}
            delivery["retry"] = {"base_ms": 3600000, "max_ms": 3600000}
        with open(cfg, "w") as f:
            json.dump({"store": {"map_size_mb": 65536}, "max_connections": 4096,
                       "channels": {"sms": sms,
                                    "email": {"driver": "smtp", "smtp": {
                                        "url": smtp_url, "from": "Bank <news@bank.example>"}}},
                       "delivery": delivery}, f)
        self.errlog = open(os.path.join(work, "hub.stderr"), "wb")
        self.proc = subprocess.Popen([BIN, "serve", "--data", self.dir, "--listen",
                                      "127.0.0.1:%d" % self.port, "--threads", str(threads),
                                      "--config", cfg], stdout=subprocess.DEVNULL,
                                     stderr=self.errlog)
        wait_http("http://127.0.0.1:%d/healthz" % self.port, timeout=20)

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def metrics(self):
        """(delivered attempts, retry attempts, other attempts (failed, refused), waiting)."""
        text = urllib.request.urlopen(self.base + "/metrics", timeout=30).read().decode()
        attempts = {m.group(1): int(m.group(2)) for m in re.finditer(
            r'^omnihub_delivery_attempts_total\{outcome="(\w+)"\} (\d+)', text, re.M)}
        waiting = re.search(r"^omnihub_delivery_waiting (\d+)", text, re.M)
        delivered, retry = attempts.pop("delivered", 0), attempts.pop("retry", 0)
        return delivered, retry, sum(attempts.values()), int(waiting.group(1)) if waiting else 0

    def writer(self):
        """The writer thread's counters: (batches, ops, busy seconds, LMDB commit seconds,
        batches journaled, journal write seconds, LMDB commits, journal flushes, flush seconds)."""
        text = urllib.request.urlopen(self.base + "/metrics", timeout=30).read().decode()

        def val(name):
            m = re.search(r"^omnihub_store_writer_%s (\S+)" % name, text, re.M)
            return float(m.group(1)) if m else 0.0
        def total(name):
            m = re.search(r"^omnihub_store_%s (\S+)" % name, text, re.M)
            return float(m.group(1)) if m else 0.0
        return (val("batches_total"), val("ops_total"), val("busy_seconds_total"),
                val("commit_seconds_total"), val("journaled_total"), val("journal_seconds_total"),
                total("commits_total"), total("journal_flushes_total"),
                total("journal_flush_seconds_total"))

    def cpu(self):
        return cpu_seconds(self.proc.pid)

    def threads(self):
        return thread_cpu(self.proc.pid)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=120)
        self.errlog.close()
        return rc


def writer_line(before, after, secs):
    """What the group commit did between two Hub.writer() readings."""
    batches = after[0] - before[0]
    if batches <= 0:
        return "writer: no batches"
    d = [a - b for a, b in zip(after, before)]
    return ("writer: %.1f ops per batch, %.0f of %.0f batches journaled (%.0f flushes of %.2f ms), %.0f "
            "LMDB commits; busy %.0f%% of the time, %.2f ms per batch of which %.2f ms writing "
            "the journal and %.2f ms in LMDB's commits"
            % (d[1] / batches, d[4], batches, d[7], 1000 * d[8] / max(d[7], 1), d[6],
               100 * d[2] / secs,
               1000 * d[2] / batches, 1000 * d[5] / batches, 1000 * d[3] / batches))


def wrk(args, url, seconds, script=None, script_args=()):
    cmd = ["wrk", "-t%d" % args.wrk_threads, "-c%d" % args.connections, "-d%ds" % seconds,
           "--latency"]
    if script:
        cmd += ["-s", script]
    cmd.append(url)
    if script_args:
        cmd += ["--"] + list(script_args)
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise RuntimeError("wrk printed no rate:\n" + out)
    p = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99 = float(p.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p.group(2)]
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": float(m.group(1)), "p99_ms": p99, "raw": out,
            "errors": errors.group(1) if errors else "none"}


def commit_reference(where, clients, seconds):
    """Durable commits per second that the disk allows `clients` closed-loop clients when
    nothing but the disk is in the way: one committer thread takes whatever the clients have
    queued, writes it (one 4 KiB page per request, contiguous), fdatasyncs, then writes a
    120-byte meta block through an O_DSYNC descriptor (LMDB's two flushes per commit), and
    only then answers. Returns (commits of one request each per second, requests per
    commit)."""
    d = tempfile.mkdtemp(prefix="commit-ref-", dir=where)
    path = os.path.join(d, "log")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    mfd = os.open(path, os.O_RDWR | os.O_DSYNC)
    cv = threading.Condition()
    queue, state = [], {"done": 0, "commits": 0, "stop": False, "off": 8192}
    page = b"r" * 4096

    def committer():
        while True:
            with cv:
                while not queue and not state["stop"]:
                    cv.wait()
                if state["stop"]:
                    return
                batch = queue[:]
                del queue[:]
            os.pwrite(fd, page * len(batch), state["off"])
            state["off"] += 4096 * len(batch)
            os.fdatasync(fd)
            os.pwrite(mfd, page[:120], 4096 * (state["commits"] % 2))
            with cv:
                state["commits"] += 1
                state["done"] += len(batch)
                for ev in batch:
                    ev.set()

    def client():
        while not state["stop"]:
            ev = threading.Event()
            with cv:
                queue.append(ev)
                cv.notify_all()
            ev.wait()

    ts = [threading.Thread(target=committer)] + [threading.Thread(target=client)
                                                  for _ in range(clients)]
    for t in ts:
        t.start()
    time.sleep(0.5)  # warm up
    with cv:
        d0, c0 = state["done"], state["commits"]
    start = time.perf_counter()
    time.sleep(seconds)
    with cv:
        d1, c1 = state["done"], state["commits"]
    secs = time.perf_counter() - start
    with cv:
        state["stop"] = True
        cv.notify_all()
        for ev in queue:
            ev.set()
    for t in ts:
        t.join()
    os.close(fd)
    os.close(mfd)
    shutil.rmtree(d, ignore_errors=True)
    return (d1 - d0) / secs, (d1 - d0) / max(1, c1 - c0)


PAGE_COST_SHAPES = ((8, 1), (32, 1), (32, 8), (32, 32), (16, 16), (48, 48))


def page_costs(where, commits=300):
    """Time of one commit shaped like LMDB's, by the pages it writes and how scattered they
    are: `pages` 4 KiB pages in `runs` contiguous runs at random places of a 64 MiB file,
    fdatasync, then the 120-byte meta block through an O_DSYNC descriptor. Returns
    [(pages, runs, ms per commit)]."""
    d = tempfile.mkdtemp(prefix="page-costs-", dir=where)
    path = os.path.join(d, "data")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    mfd = os.open(path, os.O_RDWR | os.O_DSYNC)
    file_pages = 16384
    page = b"p" * 4096
    for i in range(0, file_pages, 256):  # a file that exists: no block allocation in the loop
        os.pwrite(fd, page * 256, i * 4096)
    os.fsync(fd)
    rnd = random.Random(5)
    out = []
    for pages, runs in PAGE_COST_SHAPES:
        per = pages // runs
        start = time.perf_counter()
        for c in range(commits):
            for _ in range(runs):
                os.pwrite(fd, page * per, rnd.randrange(1, file_pages - per) * 4096)
            os.fdatasync(fd)
            os.pwrite(mfd, page[:120], 4096 * (c % 2))
        out.append((pages, runs, 1000 * (time.perf_counter() - start) / commits))
    os.close(fd)
    os.close(mfd)
    shutil.rmtree(d, ignore_errors=True)
    return out


def disk_reference(where, writers, count, size):
    """Files per second written the way the outbox does (tmp, write, fsync, rename, fsync of
    the directory), by `writers` threads, `count` files of `size` bytes."""
    d = tempfile.mkdtemp(prefix="disk-ref-", dir=where)
    data = b"x" * size

    def writer(w):
        for i in range(w, count, writers):
            tmp = os.path.join(d, ".%d.tmp" % i)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
            os.write(fd, data)
            os.fsync(fd)
            os.close(fd)
            os.rename(tmp, os.path.join(d, "%d.json" % i))
            dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
            os.fsync(dfd)
            os.close(dfd)

    start = time.perf_counter()
    ts = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    secs = time.perf_counter() - start
    shutil.rmtree(d, ignore_errors=True)
    return count / secs


def drain(hub, what):
    """Waits until nothing is waiting; returns (seconds, metrics at the start, at the end)."""
    m0, t0 = hub.metrics(), time.perf_counter()
    m = m0
    while m[3] > 0:
        if time.perf_counter() - t0 > DRAIN_DEADLINE:
            raise RuntimeError("%s: still %d waiting after %d s" % (what, m[3], DRAIN_DEADLINE))
        time.sleep(0.02)
        m = hub.metrics()
    return time.perf_counter() - t0, m0, m


def post_sends(hub, n, run):
    """n sends on channel email from CONNECTIONS keep-alive clients; returns the seconds taken.
    Every answer must be a 202."""
    errors, lock = [], threading.Lock()

    def client(c):
        conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=60)
        h = {"Authorization": "Bearer " + hub.token, "Content-Type": "application/json"}
        for i in range(c, n, CONNECTIONS):
            body = json.dumps({"recipient": {"id": "m-%s-%d" % (run, i),
                                             "email": "m%s-%d@bench.example" % (run, i),
                                             "attributes": {"first_name": "Ada"}},
                               "channels": ["email"], "idempotency_key": "m-%s-%d" % (run, i)})
            conn.request("POST", SEND_PATH, body, h)
            r = conn.getresponse()
            text = r.read()
            if r.status != 202:
                with lock:
                    errors.append("%d %s" % (r.status, text[:200]))

    start = time.perf_counter()
    ts = [threading.Thread(target=client, args=(c,)) for c in range(CONNECTIONS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise RuntimeError("%d email sends failed, first: %s" % (len(errors), errors[0]))
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--threads", type=int, default=2, help="the hub's --threads")
    p.add_argument("--workers", type=int, default=4, help="the hub's delivery.workers")
    p.add_argument("--smtp-messages", type=int, default=2000)
    p.add_argument("--wrk-threads", type=int, default=1)
    p.add_argument("--connections", type=int, default=CONNECTIONS,
                   help="wrk connections for (a), (b0) and (b): group commit puts the sends "
                        "that arrive together into one transaction")
    p.add_argument("--keep", action="store_true", help="keep the data directory")
    p.add_argument("--page-costs", action="store_true",
                   help="only measure what a commit costs this disk by the pages it writes "
                        "and how scattered they are, then exit")
    args = p.parse_args()
    if args.page_costs:
        where = tempfile.mkdtemp(prefix="omnihub-page-costs-")
        try:
            for pages, runs, ms in page_costs(where):
                print("commit of %2d pages in %2d places: %.3f ms (write, fdatasync, O_DSYNC "
                      "meta)" % (pages, runs, ms))
        finally:
            shutil.rmtree(where, ignore_errors=True)
        return
    if not shutil.which("wrk"):
        sys.exit("send_bench: needs wrk: scripts/install-deps.sh --bench")
    work = tempfile.mkdtemp(prefix="omnihub-send-bench-")
    run = "%x" % int(time.time() * 1000)
    smtp = SmtpSink(work)
    hub = None
    try:
        smtp.start()
        hub = Hub(work, args.threads, args.workers, smtp.url)
        print("omnihub %s, hub --threads %d, delivery.workers %d, wrk -t%d -c%d -d%ds, data %s"
              % (BIN, args.threads, args.workers, args.wrk_threads, args.connections, args.seconds,
                 hub.dir))

        # (a) the references
        ref = wrk(args, hub.base + "/healthz", args.seconds)
        print("(a) reference GET /healthz       : %9.0f req/s  p99 %.2f ms  (socket errors %s)"
              % (ref["rps"], ref["p99_ms"], ref["errors"]))
        disk = disk_reference(work, args.workers, 2000, OUTBOX_FILE_BYTES)
        commit_ref, commit_batch = commit_reference(work, args.connections, 3)
        print("(a) reference disk, %d writers   : %9.0f files/s (tmp + write + fsync + rename + "
              "fsync dir, %d B)" % (args.workers, disk, OUTBOX_FILE_BYTES))
        print("(a) reference group commit, %2d  : %9.0f commits/s (%d closed-loop clients, one "
              "committer: write, fdatasync, O_DSYNC meta; %.1f per commit)"
              % (args.connections, commit_ref, args.connections, commit_batch))

        # (b0) sends accepted while the gateway is down: the send path alone
        held = Hub(work, args.threads, args.workers, smtp.url, held=True)
        try:
            w0 = held.writer()
            res = wrk(args, held.base + SEND_PATH, args.seconds, os.path.join(HERE, "send.lua"),
                      (held.token, run + "h", SEND_PATH, "sms"))
            held_writer = writer_line(w0, held.writer(), args.seconds)
        finally:
            held.stop()
        lua = re.search(r"send-lua: status202=(\d+) other=(\d+) first_other=(\S+) "
                        r"duration_us=(\d+)", res["raw"])
        held_rate = int(lua.group(1)) / (int(lua.group(4)) / 1e6) if lua else 0.0
        print("(b0) sends accepted, gateway down: %8.0f /s  p99 %.2f ms  (deliveries held back; "
              "ratio to the budget of 5k/s %.2f, to the group commit reference %.2f)"
              % (held_rate, res["p99_ms"], held_rate / BUDGET, held_rate / commit_ref))
        print("    " + held_writer)

        # (b) sends accepted per second
        m_before, cpu0, th0, w0 = hub.metrics(), hub.cpu(), hub.threads(), hub.writer()
        res = wrk(args, hub.base + SEND_PATH, args.seconds, os.path.join(HERE, "send.lua"),
                  (hub.token, run, SEND_PATH, "sms"))
        m_stop, cpu1, th1, w1 = hub.metrics(), hub.cpu(), hub.threads(), hub.writer()
        lua = re.search(r"send-lua: status202=(\d+) other=(\d+) first_other=(\S+) "
                        r"duration_us=(\d+)", res["raw"])
        if not lua:
            raise RuntimeError("send.lua printed no counts:\n" + res["raw"])
        ok, other = int(lua.group(1)), int(lua.group(2))
        secs = int(lua.group(4)) / 1e6
        sends = ok / secs
        print("(b) sends accepted (202, sms)    : %9.0f /s  p99 %.2f ms  (%d in %.1f s, %d not "
              "202%s, socket errors %s)"
              % (sends, res["p99_ms"], ok, secs, other,
                 "" if other == 0 else " first " + lua.group(3), res["errors"]))
        print("    ratio to /healthz %.2f, to the group commit reference %.2f, to the budget of "
              "5k/s %.2f; hub CPU %.1f s, busiest threads %s of a core"
              % (sends / ref["rps"], sends / commit_ref, sends / BUDGET, cpu1 - cpu0,
                 busiest(th0, th1, secs)))
        print("    " + writer_line(w0, w1, secs))

        # (c) delivered per second to the outbox
        during = (m_stop[0] - m_before[0]) / secs
        dsecs, m0, m1 = drain(hub, "outbox")
        cpu2, th2 = hub.cpu(), hub.threads()
        drained = m1[0] - m0[0]
        files = len([f for f in os.listdir(os.path.join(hub.dir, "outbox", "sms"))
                     if f.endswith(".json")])
        rate = drained / dsecs if dsecs > 0 else float("nan")
        disk2 = disk_reference(work, args.workers, 2000, OUTBOX_FILE_BYTES)  # right after (c)
        print("(c) delivered to the outbox      : %9.0f /s  after the sends stopped (%d waiting "
              "then, %d delivered in %.2f s); %0.f /s while they ran"
              % (rate, m0[3], drained, dsecs, during))
        print("    ratio to /healthz %.2f, to the disk reference %.2f (disk again after the "
              "drain: %.0f files/s, best of both used); hub CPU %.1f s, busiest threads %s of a "
              "core" % (rate / ref["rps"], rate / max(disk, disk2), disk2, cpu2 - cpu1,
                        busiest(th1, th2, dsecs)))
        # Sends in flight when wrk stopped are committed but not counted: one per connection.
        if not (files == m1[0] and 0 <= m1[0] - ok <= args.connections) or m1[1] or m1[2]:
            print("    MISMATCH: %d accepted, %d delivered, %d outbox files, retries %d, "
                  "refused %d" % (ok, m1[0], files, m1[1], m1[2]))

        # (d) delivered per second to the SMTP sink
        n = args.smtp_messages
        base_delivered, cpu3, th3 = m1[0], hub.cpu(), hub.threads()
        scpu0 = cpu_seconds(smtp.proc.pid)
        t0 = time.perf_counter()
        send_secs = post_sends(hub, n, run)
        end = t0 + DRAIN_DEADLINE
        while True:
            m = hub.metrics()
            if m[0] - base_delivered >= n and m[3] == 0:
                break
            if time.perf_counter() > end:
                raise RuntimeError("smtp: %d of %d delivered after %d s"
                                   % (m[0] - base_delivered, n, DRAIN_DEADLINE))
            time.sleep(0.02)
        total = time.perf_counter() - t0
        scpu = cpu_seconds(smtp.proc.pid) - scpu0
        got = len(smtp.messages())
        srate = n / total
        print("(d) delivered to SMTP (aiosmtpd) : %9.0f /s  (%d messages in %.2f s from the first "
              "send; the sends took %.2f s; %d at the sink; retries %d, refused %d)"
              % (srate, n, total, send_secs, got, m[1] - m1[1], m[2] - m1[2]))
        print("    ratio to /healthz %.3f; CPU in that time: hub %.1f s (busiest threads %s of "
              "a core), sink %.1f s (%.0f%% of a core)"
              % (srate / ref["rps"], hub.cpu() - cpu3, busiest(th3, hub.threads(), total), scpu,
                 100 * scpu / total))
        if got != n:
            print("    MISMATCH: %d sent, %d at the sink" % (n, got))
        rc = hub.stop()
        hub = None
        if rc != 0:
            print("hub exit %r after SIGTERM" % rc)
    finally:
        if hub is not None:
            hub.proc.kill()
            hub.proc.wait()
        smtp.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("kept " + work)


if __name__ == "__main__":
    main()
