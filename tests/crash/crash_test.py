#!/usr/bin/python3
"""Crash test: nothing acknowledged is lost when the server dies at any moment.

  /usr/bin/python3 tests/crash/crash_test.py [--cycles 50] [--bin build/omnihub] [--seed N]

One data directory for the whole run. Each cycle starts the server on it, checks every write
acknowledged in the previous cycle (the store opened, the drafts and the published content
are there with the acknowledged values), then runs concurrent writers (PUT of an item, then
publish, then sometimes a PATCH of the title; each write is recorded once answered 2xx) and
kills the server with SIGKILL at a random moment. A last start checks the last cycle and that
every item ever acknowledged is still listed; then SIGTERM must exit 0.
A value may also be a later write that was in flight when the server died (committed but not
answered); anything older than the last acknowledged value is a loss. Prints one summary line
and exits 1 on any loss, a store that does not open, or an unexpected answer.
"""
import argparse
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "api"))
from helpers import Api, Server, create_token, sanitizer_findings  # noqa: E402

WRITERS = 4


class Record:
    """What one key went through: the titles attempted in order, the index of the last one
    acknowledged, and whether a publish was acknowledged (and of which title)."""

    def __init__(self, key):
        self.key = key
        self.titles = []
        self.acked = -1
        self.published = None  # index into titles of the title the acknowledged publish had

    def allowed(self, since):
        """Titles a restarted server may show: the acknowledged one or any later attempt."""
        return self.titles[since:]


def item(key, title):
    return {"key": key, "kind": "message", "title": title, "tags": [],
            "variants": [{"id": "control", "content": {"en": {"sms": {"text": title}}}}]}


def writer(base, token, cycle, wid, rng, stop, records, problems):
    api = Api(base, token, "writer")
    n = 0
    while not stop.is_set():
        n += 1
        rec = Record("crash/c%d/w%d/%d" % (cycle, wid, n))
        records.append(rec)
        try:
            rec.titles.append("%s@0" % rec.key)
            r = api.put("/v1/items/" + rec.key, item(rec.key, rec.titles[0]))
            if not check(r, (201,), rec, problems):
                return
            rec.acked = 0
            r = api.post("/v1/items/%s/publish" % rec.key, {"at": None})
            if not check(r, (200, 201), rec, problems):
                return
            rec.published = 0
            if rng.random() < 0.5:
                rec.titles.append("%s@1" % rec.key)
                r = api.patch("/v1/items/" + rec.key, {"title": rec.titles[1]})
                if not check(r, (200,), rec, problems):
                    return
                rec.acked = 1
        except requests.RequestException:
            return  # the server died: whatever was not answered is not acknowledged


def check(r, ok, rec, problems):
    if r.status_code in ok:
        return True
    if r.status_code != 503:  # 503 = stopping: honest, not acknowledged
        problems.append("%s: unexpected %d %s" % (rec.key, r.status_code, r.text[:200]))
    return False


def verify(api, records):
    """Every acknowledged write of records is readable; returns the list of losses."""
    lost = []
    for rec in records:
        if rec.acked < 0:
            continue
        r = api.get("/v1/items/%s?status=draft" % rec.key)
        if r.status_code != 200:
            lost.append("%s: draft %d" % (rec.key, r.status_code))
            continue
        if r.json().get("title") not in rec.allowed(rec.acked):
            lost.append("%s: draft title %r, acknowledged %r" % (
                rec.key, r.json().get("title"), rec.titles[rec.acked]))
        if rec.published is None:
            continue
        r = api.get("/v1/content/%s?channel=sms&locale=en" % rec.key)
        if r.status_code != 200:
            lost.append("%s: published content %d" % (rec.key, r.status_code))
        elif r.json()["fields"].get("text") != rec.titles[rec.published]:
            lost.append("%s: published text %r" % (rec.key, r.json()["fields"].get("text")))
    return lost


def listed_keys(api):
    keys, params = set(), {"limit": 1000}
    while True:
        page = api.ok("GET", "/v1/items", params=params)
        keys.update(i["key"] for i in page["items"])
        if page["next_cursor"] is None:
            return keys
        params["cursor"] = page["next_cursor"]


def run_cycle(server, token, cycle, rng, problems):
    records, stop = [], threading.Event()
    threads = [threading.Thread(target=writer, args=(server.base, token, cycle, w,
                                                     random.Random(rng.random()), stop,
                                                     records, problems))
               for w in range(WRITERS)]
    for t in threads:
        t.start()
    time.sleep(rng.uniform(0.05, 0.9))
    server.kill9()
    stop.set()
    for t in threads:
        t.join(timeout=30)
        if t.is_alive():
            problems.append("cycle %d: a writer hung after the kill" % cycle)
    return records


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=50)
    ap.add_argument("--bin", default=os.environ.get("OMNIHUB_BIN", "build/omnihub"))
    ap.add_argument("--seed", type=int, default=int(time.time()))
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    rng = random.Random(args.seed)
    data = tempfile.mkdtemp(prefix="omnihub-crash-")
    t0 = time.time()
    token = create_token(data, "editor", "crash-writer", binary=binary)
    admin = create_token(data, "admin", "crash-admin", binary=binary)
    server = Server(data, binary=binary)
    problems, lost, everything, pending = [], [], [], []
    acked = published = 0
    try:
        server.start()
        Api(server.base, admin, "admin").ok("PUT", "/v1/locales/en", {"name": "English"})
        for cycle in range(args.cycles + 1):
            if cycle > 0:
                try:
                    server.start()
                except AssertionError as e:
                    problems.append("cycle %d: the store did not open: %s" % (cycle, e))
                    break
            api = Api(server.base, token, "checker")
            now = {id(r) for r in pending}
            older = [r for r in everything if id(r) not in now]
            sample = rng.sample(older, min(50, len(older)))  # earlier cycles stay intact too
            lost += ["cycle %d: %s" % (cycle, x) for x in verify(api, pending + sample)]
            if cycle == args.cycles:
                break
            pending = run_cycle(server, token, cycle, rng, problems)
            everything += [r for r in pending if r.acked >= 0]
            acked += sum(1 + (r.published is not None) + (r.acked > 0) for r in pending
                         if r.acked >= 0)
            published += sum(1 for r in pending if r.published is not None)
            if problems:
                break
        if server.alive():
            keys = listed_keys(Api(server.base, token, "checker"))
            lost += ["%s: not listed" % r.key for r in everything if r.key not in keys]
            rc, err = server.stop(signal.SIGTERM)
            if rc != 0:
                problems.append("exit %r after SIGTERM: %s" % (rc, err[-500:]))
    finally:
        if server.alive():
            server.kill9()
    problems += sanitizer_findings(server.stderr())
    print("crash: %d cycles, %d acknowledged writes (%d items, %d published), %d lost, "
          "%d other problems, seed %d, %.1f s"
          % (args.cycles, acked, len(everything), published, len(lost), len(problems),
             args.seed, time.time() - t0))
    for line in (lost + problems)[:20]:
        print("  " + line)
    if lost or problems:
        print("  data directory kept: " + data)
        return 1
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(server.logdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
