#!/usr/bin/python3
"""Send crash test: no acknowledged send is lost or doubled when the hub dies at any moment.

  /usr/bin/python3 tests/crash/send_crash_test.py [--messages 2000] [--cycles 6]
      [--bin build/omnihub] [--seed N] [--fail-share 0.1] [--rate SENDS_PER_S]

One data directory with content-samples imported, one delivery token, and one HttpSink
(tests/servers) that keeps running across the hub's restarts; the hub's sms channel uses the
http driver pointed at the sink (Idempotency-Key = the message id), with short retries.
Each cycle starts the hub; 16 client threads send journey/application-abandonment step day-1
on channel sms, each send to its own recipient (id, phone, resume_url) with its own
idempotency key, new sends paced at --rate in bursts of 16 so that they run through most
cycles (unpaced, 16 threads finish 2000 sends within the first cycle or two); the hub is
killed with SIGKILL 0.3 to 2 s in. A send whose answer did not arrive is re-sent with the
same key in the next cycle until it gets its 202; each cycle also re-sends up to 100 sends
acknowledged earlier (the hub must answer with the stored first answer). No new send starts
once --messages sends are started; the final start (no kill) completes the ones left,
re-sends every acknowledged key once more, and waits until every acknowledged delivery is
delivered. The sink fails --fail-share of the requests (500, seeded), so retries
cross the crashes too.

Checks: every acknowledged message id reached the sink (requests.jsonl, Idempotency-Key) with
the recipient's phone and text; the distinct message ids at the sink are exactly the
acknowledged ones (none lost, none invented); every answer for a key names the same delivery
ids and message ids as any earlier answer seen for it; no delivery id or message id is shared
by two keys; the hub lists every acknowledged delivery as delivered and none is dead; SIGTERM
exits 0. Duplicates (a message delivered again after a crash, at least once) are counted, not
failures. Prints one summary line; exits 1 on any loss or other problem.
"""
import argparse
import collections
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time

import requests

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TESTS, "api"))
sys.path.insert(0, os.path.join(TESTS, "servers"))
from helpers import SAMPLES, Api, Server, cli, create_token, sanitizer_findings  # noqa: E402
from sinks import HttpSink  # noqa: E402

CLIENTS = 16
JOURNEY, STEP = "journey/application-abandonment", "day-1"
SEND_PATH = "/v1/journeys/%s/steps/%s/send" % (JOURNEY, STEP)
REPLAYS_PER_CYCLE = 100
DELIVER_DEADLINE = 90  # seconds for the final start to deliver everything acknowledged
BODY = '{"to":"{{ recipient.phone }}","text":"{{ text }}","id":"{{ message_id }}"}'


class Send:
    """One send (one idempotency key) and every answer seen for it."""

    def __init__(self, run, n):
        self.n = n
        self.key = "sc-%s-%d" % (run, n)
        self.phone = "+43660%08d" % n
        self.url = "https://nw.example/r/%s/%d" % (run, n)
        self.body = {"recipient": {"id": "rcpt-%s-%d" % (run, n), "phone": self.phone,
                                   "attributes": {"resume_url": self.url}},
                     "channels": ["sms"], "idempotency_key": self.key}
        self.answers = []  # [(delivery ids, message ids, replayed header)] in arrival order
        self.cycle = None  # the cycle of the first answer

    @property
    def acked(self):
        return bool(self.answers)

    def first(self):
        return self.answers[0]


class Feed:
    """What the client threads of one cycle take, in order: sends whose answer was lost,
    re-sends of acknowledged ones, then new sends while fewer than `limit` were started."""

    def __init__(self, retry, replay, new_from, limit, run, started, rate=None):
        self.lock = threading.Lock()
        self.queue = collections.deque(retry + replay)
        self.next_n, self.limit, self.run = new_from, limit, run
        self.started = started  # list of every Send ever made (appended to)
        self.lost = []          # sends whose answer did not arrive in this cycle
        self.rate = rate        # new sends per second (None: as fast as answered)
        self.t0, self.made = time.monotonic(), 0

    def take(self):
        with self.lock:
            if self.queue:
                return self.queue.popleft()
            if self.next_n >= self.limit:
                return None
            s = Send(self.run, self.next_n)
            self.next_n += 1
            self.started.append(s)
            # in bursts of CLIENTS: a kill during a burst finds many sends in the write path
            at = self.t0 + (self.made // CLIENTS) * CLIENTS / self.rate if self.rate else 0
            self.made += 1
        time.sleep(max(0.0, at - time.monotonic()))
        return s

    def give_back(self, s):
        with self.lock:
            self.lost.append(s)


def check_answer(s, r, problems):
    """Records a 202 for s; returns False (with a problem) when it is not what it should be."""
    try:
        b = r.json()
        dl = b["deliveries"]
        ids = tuple(d["id"] for d in dl)
        mids = tuple(d["message_id"] for d in dl)
        ok = (len(dl) == 1 and dl[0]["channel"] == "sms" and dl[0]["status"] == "queued"
              and all(isinstance(x, str) and x for x in ids + mids))
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        problems.append("%s: unexpected 202 body %s" % (s.key, r.text[:300]))
        return False
    replayed = r.headers.get("Idempotent-Replayed", "").lower() == "true"
    if s.answers and (ids, mids) != s.first()[:2]:
        problems.append("%s: answer %d names deliveries %s / messages %s, the first answer %s / %s"
                        " (replayed header %s)" % (s.key, len(s.answers) + 1, ids, mids,
                                                   s.first()[0], s.first()[1], replayed))
    if s.answers and not replayed:
        problems.append("%s: a second answer without Idempotent-Replayed: true" % s.key)
    s.answers.append((ids, mids, replayed))
    return True


def client(base, token, feed, stop, problems, cycle):
    api = Api(base, token, "sender")
    while not stop.is_set():
        s = feed.take()
        if s is None:
            return
        try:
            r = api.post(SEND_PATH, s.body)
        except requests.RequestException:
            if not s.acked:
                feed.give_back(s)
            return  # the hub died: this answer is lost, the send goes again next cycle
        if r.status_code == 202:
            if check_answer(s, r, problems) and s.cycle is None:
                s.cycle = cycle
        elif r.status_code == 503:  # stopping or store full: honest, not acknowledged
            if not s.acked:
                feed.give_back(s)
        else:
            problems.append("%s: unexpected %d %s" % (s.key, r.status_code, r.text[:300]))
            if not s.acked:
                feed.give_back(s)


def run_clients(server, token, feed, problems, cycle, kill_after=None):
    """Runs the client threads on feed; kills the hub after kill_after seconds (None: let
    them finish). Returns the sends whose answer was lost."""
    stop = threading.Event()
    threads = [threading.Thread(target=client, args=(server.base, token, feed, stop, problems,
                                                     cycle))
               for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    if kill_after is not None:
        end = time.time() + kill_after
        while time.time() < end and any(t.is_alive() for t in threads):
            time.sleep(0.01)
        time.sleep(max(0.0, end - time.time()))  # the work may end first; kill on time anyway
        server.kill9()
        stop.set()
    for t in threads:
        t.join(timeout=60)
        if t.is_alive():
            problems.append("a client thread hung")
    return feed.lost


def listed_ids(api, status):
    ids, params = set(), {"status": status, "limit": 1000}
    for _ in range(10000):
        page = api.ok("GET", "/v1/deliveries", params=params)
        ids.update(d["id"] for d in page["items"])
        if page.get("next_cursor") is None:
            return ids
        params["cursor"] = page["next_cursor"]
    raise AssertionError("paging of /v1/deliveries does not end")


def waiting(base):
    text = requests.get(base + "/metrics", timeout=15).text
    m = re.search(r"^omnihub_delivery_waiting (\d+)", text, re.M)
    return int(m.group(1)) if m else None


def wait_delivered(api, want, problems):
    """Waits until every delivery id of `want` is listed as delivered; returns that set."""
    end = time.time() + DELIVER_DEADLINE
    while True:
        done = listed_ids(api, "delivered")
        if want <= done or time.time() > end:
            break
        time.sleep(0.2)
    missing = want - done
    if missing:
        problems.append("%d acknowledged deliveries not delivered after %d s (waiting %s), "
                        "e.g. %s" % (len(missing), DELIVER_DEADLINE, waiting(api.base),
                                     sorted(missing, key=int)[:5]))
    return done


def check_sink(sends, sink_requests, lost, problems):
    """Compares what the sink received with the acknowledged sends; returns (distinct message
    ids at the sink, duplicates)."""
    by_mid = {}
    for s in sends:
        if s.acked:
            by_mid[s.first()[1][0]] = s
    seen = collections.Counter()
    for req in sink_requests:
        mid = req.get("idempotency_key")
        seen[mid] += 1
        s = by_mid.get(mid)
        if s is None or seen[mid] > 1:
            continue
        try:
            body = json.loads(req["body"])
        except (KeyError, TypeError, ValueError):
            problems.append("sink: message %s: body is not JSON: %r" % (mid, req.get("body")))
            continue
        if req.get("path") != "/sms" or body.get("to") != s.phone or body.get("id") != mid or \
                s.url not in body.get("text", ""):
            problems.append("sink: message %s of %s arrived as %s %r" % (mid, s.key,
                                                                        req.get("path"), body))
    for mid, s in by_mid.items():
        if mid not in seen:
            lost.append("%s: message %s (delivery %s) never reached the sink"
                        % (s.key, mid, s.first()[0][0]))
    invented = [m for m in seen if m not in by_mid]
    for mid in invented[:10]:
        problems.append("sink: message %s belongs to no acknowledged send" % mid)
    if invented:
        problems.append("sink: %d distinct message ids, %d acknowledged deliveries (%d invented)"
                        % (len(seen), len(by_mid), len(invented)))
    return len(seen), sum(c - 1 for c in seen.values())


def check_unique(sends, problems):
    """No delivery id and no message id is named by two keys."""
    owner = {}
    for s in sends:
        if not s.acked:
            continue
        for x in s.first()[0] + tuple("m:" + m for m in s.first()[1]):
            if owner.setdefault(x, s.key) != s.key:
                problems.append("%s and %s share %s" % (owner[x], s.key, x))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--cycles", type=int, default=6)
    ap.add_argument("--bin", default=os.environ.get("OMNIHUB_BIN", "build/omnihub"))
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--fail-share", type=float, default=0.1,
                    help="share of the sink's answers that are 500 (seeded)")
    ap.add_argument("--rate", type=float, default=None,
                    help="new sends per second in the killed cycles (default: --messages over "
                         "0.9 s per cycle, so that sends run through most cycles; 0: unpaced)")
    args = ap.parse_args()
    rate = args.rate if args.rate is not None else args.messages / (0.9 * max(1, args.cycles))
    binary = os.path.abspath(args.bin)
    rng = random.Random(args.seed)
    run = "%d" % args.seed
    t0 = time.time()
    work = tempfile.mkdtemp(prefix="omnihub-send-crash-")
    data = os.path.join(work, "data")
    cli("import", "--data", data, SAMPLES, binary=binary)
    token = create_token(data, "delivery", "send-crash", binary=binary)
    sink = HttpSink(work, seed=args.seed, fail_share=args.fail_share)
    problems, lost, sends = [], [], []
    kills = resent = replay_checks = distinct = dups = 0
    server = None
    try:
        sink.start()
        config = {"channels": {"sms": {"driver": "http",
                                       "http": {"url": sink.url + "/sms", "body": BODY,
                                                "timeout_ms": 5000}}},
                  "delivery": {"workers": 4,
                               "retry": {"base_ms": 50, "max_ms": 500, "give_up_after_s": 3600},
                               "breaker": {"threshold": 20, "open_ms": 200}}}
        server = Server(data, binary=binary, config=config)
        pending = []  # sends whose answer has not arrived yet
        for cycle in range(args.cycles + 1):
            final = cycle == args.cycles
            try:
                server.start()
            except AssertionError as e:
                problems.append("cycle %d: the hub did not start: %s" % (cycle, e))
                break
            earlier = [s for s in sends if s.acked]
            replay = rng.sample(earlier, len(earlier) if final
                                else min(REPLAYS_PER_CYCLE, len(earlier)))
            replay_checks += len(replay)
            resent += len(pending)
            feed = Feed(pending, replay, len(sends), args.messages, run, sends,
                        None if final else rate)
            pending = run_clients(server, token, feed, problems, cycle,
                                  None if final else rng.uniform(0.3, 2.0))
            if not final:
                kills += 1
            if final and pending:
                problems.append("%d sends unanswered with no kill, e.g. %s"
                                % (len(pending), pending[0].key))
            if problems:
                break
        if server.alive():
            api = Api(server.base, token, "checker")
            acked = {s.first()[0][0] for s in sends if s.acked}
            delivered = wait_delivered(api, acked, problems)
            extra = delivered - acked
            if extra:
                problems.append("the hub lists %d delivered deliveries no send acknowledged, "
                                "e.g. %s" % (len(extra), sorted(extra, key=int)[:5]))
            dead = listed_ids(api, "dead")
            if dead:
                problems.append("%d dead deliveries, e.g. %s" % (len(dead), sorted(dead)[:5]))
            check_unique(sends, problems)
            distinct, dups = check_sink(sends, sink.requests(), lost, problems)
            rc, err = server.stop(signal.SIGTERM)
            if rc != 0:
                problems.append("exit %r after SIGTERM: %s" % (rc, err[-500:]))
    finally:
        if server is not None and server.alive():
            server.kill9()
        if sink.stop() not in (0, None):
            problems.append("the sink exited %r: %s" % (sink.returncode, sink.log()[-500:]))
    journal = 0  # restarts that replayed batches answered from the journal alone
    if server is not None:
        problems += sanitizer_findings(server.stderr())
        journal = len(re.findall(r"replayed \d+ journal records", server.stderr()))
    acked = sum(1 for s in sends if s.acked)
    replayed = sum(1 for s in sends if s.acked and s.first()[2])
    early = sum(1 for s in sends if s.cycle is not None and s.cycle < args.cycles)
    print("send-crash: %d acknowledged sends of %d (%d before the last start), %d kills, "
          "%d answers lost and re-sent (%d first answers were replays), %d replay checks, "
          "%d restarts replayed the journal, "
          "%d distinct messages at the sink, %d duplicates delivered, %d lost, "
          "%d other problems, seed %d, %.1f s"
          % (acked, args.messages, early, kills, resent, replayed, replay_checks, journal,
             distinct, dups, len(lost), len(problems), args.seed, time.time() - t0))
    for line in (lost + problems)[:20]:
        print("  " + line)
    if lost or problems or acked != args.messages:
        print("  data directory kept: " + work)
        return 1
    shutil.rmtree(work, ignore_errors=True)
    if server is not None:
        shutil.rmtree(server.logdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
