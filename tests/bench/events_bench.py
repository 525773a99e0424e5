#!/usr/bin/python3
"""Benchmark of event ingestion (issue 4), run by hand (never by the test suite).

  /usr/bin/python3 tests/bench/events_bench.py [--threads 2] [--connections 8] [--seconds 8]
      [--rounds 2] [--batch 1000] [--subjects 5000] [--bodies 8]

Starts its own hub (content-samples imported, --threads T) and posts batches of events with
wrk -t1 -c<connections> (tests/bench/events.lua, --bodies fixed bodies taken in turn). A batch
is --batch events over onboarding/welcome (a running experiment): 40% exposure, 30% open,
20% click, 10% conversion (value 120), shuffled; subjects drawn from --subjects, each with
its variant (control or short) given explicitly; channel email, locale en, action
action/open-account; no ts (so they are "now"). Measured, alternating for --rounds rounds:
  (ref) check only: the same batches with a ts far in the future, so every event passes every
        check but the last and the batch is a 422 with nothing written: the cost of parsing
        and checking alone (the reference of this run);
  (a)   durable: the batches as they are; only 200 answers count, and a 200 is a batch
        committed (events/s = the events those 200s accepted / the run's duration).
Prints the best of each with the p99 of a batch request, (a) against the budget of DESIGN.md
(issue 4: at least 50k events/s, durable) and against (ref), the store commits per second and
events per commit of (a) (group commit), the hub's CPU seconds and its busiest threads. A
MISMATCH line means the item report's opens and clicks disagree with the batches accepted.

Needs wrk (scripts/install-deps.sh --bench). Everything runs on 127.0.0.1.
"""
import argparse
import json
import os
import random
import re
import shutil
import sys
import tempfile
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SAMPLES = os.path.join(ROOT, "content-samples")
sys.path.insert(0, HERE)
from bench import BIN, Server, call, wrk  # noqa: E402
from send_bench import busiest, cpu_seconds, thread_cpu  # noqa: E402

KEY = "onboarding/welcome"
ACTION = "action/open-account"
BUDGET = 50000.0  # issue 4: at least 50k events per second, durable
MIX = (("exposure", 40), ("open", 30), ("click", 20), ("conversion", 10))  # percent
FUTURE = "2999-01-01T00:00:00Z"
LUA = os.path.join(HERE, "events.lua")


def batch(seed, size, subjects, ts=None):
    """One batch of `size` events in the proportions of MIX; returns (events, {type: n})."""
    rng = random.Random(seed)
    counts = {t: size * pct // 100 for t, pct in MIX}
    counts["exposure"] += size - sum(counts.values())
    types = [t for t, n in counts.items() for _ in range(n)]
    rng.shuffle(types)
    events = []
    for t in types:
        s = rng.randrange(subjects)
        ev = {"type": t, "subject": "ev-%d" % s, "item": KEY,
              "variant": "control" if s % 2 == 0 else "short", "channel": "email",
              "locale": "en", "action": ACTION}
        if t == "conversion":
            ev["value"] = 120.0
        if ts is not None:
            ev["ts"] = ts
        events.append(ev)
    return events, counts


def write_bodies(where, n, size, subjects, ts=None):
    os.makedirs(where)
    counts = None
    for i in range(n):
        events, counts = batch(i, size, subjects, ts)
        with open(os.path.join(where, "body-%d.json" % (i + 1)), "w") as f:
            json.dump(events, f, separators=(",", ":"))
    return counts, os.path.getsize(os.path.join(where, "body-1.json"))


def commits(srv):
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % srv.port, timeout=30).read()
    m = re.search(rb"^omnihub_store_commits_total (\d+)", text, re.M)
    return int(m.group(1)) if m else 0


def written(pid):
    """Bytes the process passed to write calls (/proc/PID/io wchar): in (a) nearly all of them
    the store's page writes at commit (the HTTP answers are a few hundred bytes). write_bytes
    is not used: it counts whole page-cache folios dirtied, several times the bytes written."""
    with open("/proc/%d/io" % pid) as f:
        for ln in f:
            if ln.startswith("wchar:"):
                return int(ln.split()[1])
    return 0


def counters(srv):
    """(opens, clicks) of the item report, all variants and the holdout."""
    _, body = call(srv.port, srv.token, "GET", "/v1/reports/items/" + KEY)
    rep = json.loads(body)
    rows = rep["variants"] + ([rep["holdout"]] if rep.get("holdout") else [])
    return sum(r["opens"] for r in rows), sum(r["clicks"] for r in rows)


def post(srv, bodies, conns, seconds):
    """One wrk run; returns the wrk result with the counts of events.lua."""
    env = dict(os.environ, EVENTS_TOKEN=srv.token, EVENTS_DIR=bodies[0],
               EVENTS_BODIES=str(bodies[1]))
    res = wrk("http://127.0.0.1:%d/v1/events" % srv.port, conns, seconds, 1, LUA, env)
    m = re.search(r"events-lua: status200=(\d+) status422=(\d+) other=(\d+) first_other=(\S+) "
                  r"accepted=(\d+) duration_us=(\d+)", res["raw"])
    if not m:
        raise RuntimeError("events.lua printed no counts:\n" + res["raw"])
    res.update(ok=int(m.group(1)), unprocessable=int(m.group(2)), other=int(m.group(3)),
               first_other=m.group(4), accepted=int(m.group(5)),
               secs=int(m.group(6)) / 1e6)
    return res


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2, help="the hub's --threads")
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--seconds", type=int, default=8)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--subjects", type=int, default=5000)
    p.add_argument("--bodies", type=int, default=8)
    args = p.parse_args()
    if not shutil.which("wrk"):
        sys.exit("events_bench: needs wrk: scripts/install-deps.sh --bench")
    work = tempfile.mkdtemp(prefix="omnihub-events-bench-")
    srv = Server(args.threads, samples=SAMPLES)
    try:
        counts, size = write_bodies(os.path.join(work, "ok"), args.bodies, args.batch,
                                    args.subjects)
        write_bodies(os.path.join(work, "future"), args.bodies, args.batch, args.subjects,
                     FUTURE)
        # one batch by hand first: all accepted, and a future one: all rejected on ts
        with open(os.path.join(work, "ok", "body-1.json")) as f:
            _, reply = call(srv.port, srv.token, "POST", "/v1/events", json.load(f))
        reply = json.loads(reply)
        if reply.get("accepted") != args.batch or reply.get("rejected"):
            raise RuntimeError("a batch was not wholly accepted: %s" % str(reply)[:400])
        with open(os.path.join(work, "future", "body-1.json")) as f:
            try:
                call(srv.port, srv.token, "POST", "/v1/events", json.load(f))
                raise RuntimeError("a batch with a future ts was accepted")
            except urllib.error.HTTPError as e:
                problem = e.read().decode()
                if e.code != 422 or "future" not in problem:
                    raise RuntimeError("check-only batch: %d %s" % (e.code, problem[:300]))
        batches_ok = 1
        runs = {"ref": [], "a": []}
        for _ in range(args.rounds):  # alternate so both see the same machine load
            runs["ref"].append(post(srv, (os.path.join(work, "future"), args.bodies),
                                    args.connections, args.seconds))
            pid = srv.proc.pid
            c0, cpu0, th0, w0 = commits(srv), cpu_seconds(pid), thread_cpu(pid), written(pid)
            r = post(srv, (os.path.join(work, "ok"), args.bodies), args.connections,
                     args.seconds)
            c1, cpu1, th1, w1 = commits(srv), cpu_seconds(pid), thread_cpu(pid), written(pid)
            batches_ok += r["ok"]
            r.update(commits=c1 - c0, cpu=cpu1 - cpu0, busiest=busiest(th0, th1, r["secs"]),
                     wbytes=w1 - w0, stored=batches_ok * args.batch)
            runs["a"].append(r)
        opens, clicks = counters(srv)

        print("omnihub %s, hub --threads %d, wrk -t1 -c%d -d%ds, batches of %d events (%d bytes), "
              "%d bodies, %d subjects, best of %d" % (BIN, args.threads, args.connections,
                                                      args.seconds, args.batch, size,
                                                      args.bodies, args.subjects, args.rounds))
        for r in runs["ref"]:
            r["eps"] = r["unprocessable"] * args.batch / r["secs"]
        for r in runs["a"]:
            r["eps"] = r["accepted"] / r["secs"]
        ref = max(runs["ref"], key=lambda r: r["eps"])
        a = max(runs["a"], key=lambda r: r["eps"])
        print("(ref) check only (422, nothing written): %8.0f events/s  %6.1f batches/s  "
              "p99 %.2f ms  (200s %d, other %d, socket errors %s)"
              % (ref["eps"], ref["unprocessable"] / ref["secs"], ref["p99_ms"], ref["ok"],
                 ref["other"], ref["errors"]))
        print("(a)   durable (200 = committed)        : %8.0f events/s  %6.1f batches/s  "
              "p99 %.2f ms  (%d batches 200, %d 422, %d other%s, socket errors %s)"
              % (a["eps"], a["ok"] / a["secs"], a["p99_ms"], a["ok"], a["unprocessable"],
                 a["other"], "" if a["other"] == 0 else " first " + a["first_other"],
                 a["errors"]))
        print("    (a) ratio to (ref) %.2f, to the budget of 50k/s %.2f; %d commits in %.1f s "
              "(%.0f/s, %.0f events per commit); hub CPU %.1f s, busiest threads %s of a core"
              % (a["eps"] / ref["eps"], a["eps"] / BUDGET, a["commits"], a["secs"],
                 a["commits"] / a["secs"], a["accepted"] / max(1, a["commits"]), a["cpu"],
                 a["busiest"]))
        print("    (a) wrote %.1f MB (write calls, the store's pages): %.0f bytes per event, "
              "%.0f MB/s"
              % (a["wbytes"] / 1e6, a["wbytes"] / max(1, a["accepted"]),
                 a["wbytes"] / 1e6 / a["secs"]))
        print("    rounds events/s: ref %s; a %s" % (
            " ".join("%.0f" % r["eps"] for r in runs["ref"]),
            " ".join("%.0f" % r["eps"] for r in runs["a"])))
        print("    rounds (a) bytes written per event: %s; events stored after each: %s" % (
            " ".join("%.0f" % (r["wbytes"] / max(1, r["accepted"])) for r in runs["a"]),
            " ".join("%.1fM" % (r["stored"] / 1e6) for r in runs["a"])))
        # Batches in flight when wrk stopped are committed but not counted: at most one per
        # connection per run.
        slack = args.connections * args.rounds
        want_o, want_c = batches_ok * counts["open"], batches_ok * counts["click"]
        if not (want_o <= opens <= want_o + slack * counts["open"] and
                want_c <= clicks <= want_c + slack * counts["click"]):
            print("    MISMATCH: report opens %d clicks %d; the %d batches answered 200 hold "
                  "opens %d clicks %d" % (opens, clicks, batches_ok, want_o, want_c))
        print("BUDGET event ingestion >= 50k events/s durable: %.0f events/s -> %s"
              % (a["eps"], "PASS" if a["eps"] >= BUDGET else "FAIL"))
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
