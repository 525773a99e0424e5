"""Variant assignment against the real server (docs/bucketing.md, API.md "Delivery"): the test
vectors of the public spec (parsed from its table, also checked against the spec's own Python
reference); every reason (requested, no_subject, paused, concluded, holdout, audience, weight,
sticky, bandit); stickiness across weight changes, added and removed variants and a restart;
the distribution of 2000 subjects and the holdout share; the journey step route; a send to a
held-out recipient; render; the audit record of a changed experiment; the unpublish warning;
and a bandit that moves traffic to the better arm without starving the others.

Exposures of reads are stored by a background recorder a few milliseconds after the answer,
so every check of what was stored polls (wait_for) until it shows up.
"""
import collections
import hashlib
import json
import os
import re

import pytest

from helpers import ROOT, assert_problem, email, running_hub, seed, uniq, wait_for

DOC = os.path.join(ROOT, "docs", "bucketing.md")
BANDIT_CONFIG = {"analytics": {"bandit_interval_s": 1}}


# ---- the spec's table and reference ------------------------------------------------------------

def doc_text():
    with open(DOC, encoding="utf-8") as f:
        return f.read()


def doc_vectors():
    """The rows of the vector table: dicts with key, seed, subject, bucket, holdout, weights
    ([(id, weight, audience)]) and variant (None: held out)."""
    text = doc_text()
    body = text.split("<!-- vectors: begin -->", 1)[1].split("<!-- vectors: end -->", 1)[0]
    rows = []
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 8 or not cells[0].isdigit():
            continue
        weights = []
        for tok in cells[6].split():
            m = re.fullmatch(r"([A-Za-z0-9_-]+)=([0-9.]+)(\(audience\))?", tok)
            assert m, "bad weights cell %r" % cells[6]
            weights.append((m.group(1), float(m.group(2)), m.group(3) is not None))
        rows.append({"n": int(cells[0]), "key": json.loads(cells[1]),
                     "seed": json.loads(cells[2]), "subject": json.loads(cells[3]),
                     "bucket": int(cells[4]), "holdout": float(cells[5]), "weights": weights,
                     "variant": json.loads(cells[7])})
    return rows


def doc_reference():
    """The namespace of the spec's Python reference (its one python code block)."""
    code = re.search(r"```python\n(.*?)```", doc_text(), re.S).group(1)
    ns = {}
    exec(compile(code, DOC, "exec"), ns)
    return ns


def bucket(key, seed_, subject):
    """An independent bucket: SHA-256, first 8 bytes big-endian, mod 10000."""
    d = hashlib.sha256(("%s:%s:%s" % (key, seed_, subject)).encode("utf-8")).digest()
    return int.from_bytes(d[:8], "big") % 10000


def subject_in(key, lo, hi, prefix="s", seed_="", taken=()):
    """A fresh subject whose bucket for (key, seed) is in [lo, hi)."""
    pre = uniq(prefix)
    for n in range(1000000):
        s = "%s-%d" % (pre, n)
        if lo <= bucket(key, seed_, s) < hi and s not in taken:
            return s
    raise AssertionError("no subject in range")


# ---- items and reads ---------------------------------------------------------------------------

def variants_of(spec):
    """[(id, weight or None, audience or None)] -> item variants; the first has the English
    email and SMS, the others their own email subject."""
    out = []
    for i, (vid, weight, audience) in enumerate(spec):
        content = ({"en": {"email": email("Subject " + vid), "sms": {"text": "SMS " + vid}},
                    "de": {"email": {"subject": "Betreff " + vid}}}
                   if i == 0 else {"en": {"email": {"subject": "Subject " + vid}}})
        v = {"id": vid, "content": content}
        if weight is not None:
            v["weight"] = weight
        if audience is not None:
            v["audience"] = audience
        out.append(v)
    return out


def publish(h, key, spec, experiment=None):
    """Writes the draft and publishes it; returns the version."""
    doc = {"key": key, "kind": "message", "title": "Experiment " + key, "tags": [],
           "variants": variants_of(spec)}
    if experiment is not None:
        doc["experiment"] = experiment
    h.editor.put_item(doc)
    return h.editor.publish(key)["version"]


def read(h, key, subject=None, segments=None, expect=200, **params):
    params.setdefault("channel", "email")
    if subject is not None:
        params["subject"] = subject
    if segments is not None:
        params["segments"] = ",".join(segments)
    r = h.delivery.get("/v1/content/" + key, params=params)
    assert r.status_code == expect, "%s %r: %d %s" % (key, params, r.status_code, r.text[:500])
    return r.json() if expect == 200 else r


def report(h, key):
    return h.delivery.ok("GET", "/v1/reports/items/" + key)


def exposures(rep):
    """Exposures per variant, and "" for the held out."""
    out = {v["variant"]: v["exposures"] for v in rep["variants"]}
    out[""] = rep["holdout"]["exposures"]
    return out


def wait_exposures(h, key, n):
    """Polls the report until n exposures (all variants and holdout) are stored."""
    return wait_for(lambda: (lambda e: e if sum(e.values()) >= n else None)(
        exposures(report(h, key))), "%d exposures of %s" % (n, key))


def wait_sticky(h, key, subjects, **kw):
    """Polls until every subject reads as "sticky" (its assignment is stored)."""
    def all_sticky():
        return all(read(h, key, s, **kw)["reason"] == "sticky" for s in subjects)
    wait_for(all_sticky, "sticky assignments of %s" % key)


@pytest.fixture(scope="module")
def xh():
    """A hub of its own (the vector keys are fixed names), bandits re-weighted every second."""
    with running_hub(config=BANDIT_CONFIG) as h:
        seed(h)
        yield h


def journey(h, steps):
    jid = "journey/" + uniq("exp")
    h.admin.ok("PUT", "/v1/taxonomy/" + jid, {"label": "Experiment journey"})
    h.editor.ok("PUT", "/v1/journeys/" + jid, {"title": "Exp", "steps": steps})
    return jid


# ---- 1. the vectors ----------------------------------------------------------------------------

def test_the_spec_reference_reproduces_its_own_table():
    rows = doc_vectors()
    assert len(rows) >= 24
    assert [r["n"] for r in rows] == list(range(1, len(rows) + 1))
    ns = doc_reference()
    for r in rows:
        b = ns["bucket"](r["key"], r["seed"], r["subject"])
        assert b == r["bucket"] == bucket(r["key"], r["seed"], r["subject"]), r
        assert ns["assign"](r["weights"], r["holdout"], b) == r["variant"], r
    # the table covers what it promises
    assert any(r["seed"] == "" for r in rows)
    assert any(len(r["key"].encode()) == 200 for r in rows)
    assert any(len(r["subject"].encode()) == 256 for r in rows)
    assert any(not r["subject"].isascii() for r in rows)
    assert any(not r["seed"].isascii() for r in rows)
    assert any(r["variant"] is None for r in rows) and {0, 9999} <= {r["bucket"] for r in rows}


def test_the_server_agrees_with_every_vector(xh):
    rows = doc_vectors()
    plans = {}
    for r in rows:
        plan = (r["seed"], r["holdout"], tuple(r["weights"]))
        assert plans.setdefault(r["key"], plan) == plan, "one plan per key in the table"
    for key, (seed_, holdout, weights) in plans.items():
        exp = {"status": "running", "holdout_percent": holdout}
        if seed_:
            exp["seed"] = seed_
        publish(xh, key, [(v, w, {"any": ["segment/vip"]} if aud else None)
                          for v, w, aud in weights], exp)
    wrong = []
    for r in rows:
        b = read(xh, r["key"], r["subject"])
        got = (b["experiment_bucket"], b["variant"], b["reason"])
        want = (r["bucket"], r["variant"], "holdout" if r["variant"] is None else "weight")
        if got != want:
            wrong.append("row %d: server %r, spec %r" % (r["n"], got, want))
        if r["variant"] is None:
            assert b["fields"] is None and b["locale"] is None and b["resolved_from"] is None, b
        else:
            assert b["fields"]["subject"] == "Subject " + r["variant"], b
    assert not wrong, "\n".join(wrong)


# ---- 2. reasons --------------------------------------------------------------------------------

SPEC = [("control", 50, None), ("b", 50, None), ("vip", None, {"any": ["segment/vip"]})]


def test_reasons(xh):
    key = uniq("exp/reasons-")
    publish(xh, key, SPEC, {"status": "running", "holdout_percent": 20, "seed": "r1"})
    held = subject_in(key, 0, 2000, "held", "r1")
    in_b = subject_in(key, 6000, 10000, "inb", "r1")
    b = read(xh, key, in_b, variant="control")
    assert (b["variant"], b["reason"], b["experiment_bucket"]) == ("control", "requested", None)
    b = read(xh, key)
    assert (b["variant"], b["reason"], b["experiment_bucket"]) == ("control", "no_subject", None)
    b = read(xh, key, segments=["segment/vip"])
    assert (b["variant"], b["reason"], b["experiment_bucket"]) == ("vip", "audience", None)
    b = read(xh, key, in_b)
    assert (b["variant"], b["reason"]) == ("b", "weight")
    assert b["experiment_bucket"] == bucket(key, "r1", in_b)
    assert b["fields"]["subject"] == "Subject b" and b["locale"] == "en"
    # held out: no variant, no fields, and holdout comes before the audience
    r = read(xh, key, held, expect=200)
    assert (r["variant"], r["reason"], r["experiment_bucket"]) == (
        None, "holdout", bucket(key, "r1", held))
    assert r["fields"] is None and r["locale"] is None and r["resolved_from"] is None
    assert r["key"] == key and r["channel"] == "email" and r["version"] == 1
    assert read(xh, key, held, segments=["segment/vip"])["reason"] == "holdout"
    # an audience match wins over the weights for a fresh subject outside the holdout
    fresh = subject_in(key, 2000, 10000, "fresh", "r1")
    b = read(xh, key, fresh, segments=["segment/other", "segment/vip"])
    assert (b["variant"], b["reason"]) == ("vip", "audience")
    assert b["experiment_bucket"] == bucket(key, "r1", fresh)
    # once stored, the weighted subject is sticky; the audience still wins for it
    wait_sticky(xh, key, [in_b])
    assert read(xh, key, in_b)["variant"] == "b"
    assert read(xh, key, in_b, segments=["segment/vip"])["reason"] == "audience"
    # paused: the base for everyone with no bucket; concluded: the winner, else the base
    for exp, variant, reason in (({"status": "paused"}, "control", "paused"),
                                 ({"status": "concluded", "winner": "b"}, "b", "concluded"),
                                 ({"status": "concluded"}, "control", "concluded")):
        publish(xh, key, SPEC, dict(exp, holdout_percent=20, seed="r1"))
        for s in (in_b, held, fresh, None):
            b = read(xh, key, s)
            assert (b["variant"], b["reason"], b["experiment_bucket"]) == (
                variant, reason, None), (exp, s, b)
        b = read(xh, key, held, segments=["segment/vip"])
        assert (b["variant"], b["reason"]) == ("vip", "audience"), exp


def test_etags_differ_per_bucket(xh):
    key = uniq("exp/etag-")
    publish(xh, key, [("control", 100, None)], {"status": "running", "holdout_percent": 50})
    s1 = subject_in(key, 6000, 7000, "e1")
    s2 = subject_in(key, 8000, 9000, "e2")
    held = subject_in(key, 0, 5000, "eh")
    # the reason is part of the body: a first read says "weight", the next ones "sticky"
    first = read(xh, key, s1)
    wait_sticky(xh, key, [s1, s2])
    tags = {}
    for s in (s1, s2, held, None):
        r = xh.delivery.get("/v1/content/" + key,
                            params={"channel": "email", **({"subject": s} if s else {})})
        assert r.status_code == 200 and r.headers.get("ETag"), r.text
        tags[s] = r.headers["ETag"]
    assert len(set(tags.values())) == 4, tags  # same variant and fields, different buckets
    assert first["reason"] == "weight"
    for s, tag in tags.items():
        r = xh.delivery.get("/v1/content/" + key, headers={"If-None-Match": tag},
                            params={"channel": "email", **({"subject": s} if s else {})})
        assert r.status_code == 304, (s, r.status_code, r.text)


def test_no_experiment_member_is_a_running_fixed_test(xh):
    key = uniq("exp/plain-")
    publish(xh, key, [("control", None, None), ("b", None, None)])  # no weights: equal halves
    s_a = subject_in(key, 0, 5000, "pa")
    s_b = subject_in(key, 5000, 10000, "pb")
    b = read(xh, key, s_a)
    assert (b["variant"], b["reason"], b["experiment_bucket"]) == (
        "control", "weight", bucket(key, "", s_a))
    assert read(xh, key, s_b)["variant"] == "b"
    wait_sticky(xh, key, [s_a, s_b])


def test_bad_parameters(xh):
    key = uniq("exp/bad-")
    publish(xh, key, SPEC)
    assert_problem(xh.delivery.get("/v1/content/" + key,
                                   params={"channel": "email", "subject": "x" * 257}), 400)
    assert read(xh, key, "x" * 256)["experiment_bucket"] == bucket(key, "", "x" * 256)
    assert_problem(xh.delivery.get("/v1/content/" + key, params={
        "channel": "email", "subject": "s", "segments": ",".join(
            "segment/s%d" % i for i in range(65))}), 400)
    assert read(xh, key, "s", segments=["segment/s%d" % i for i in range(64)])["reason"] == \
        "weight"
    assert_problem(xh.delivery.get("/v1/content/" + key,
                                   params={"channel": "email", "subjekt": "s"}), 400)
    assert_problem(xh.delivery.get("/v1/content/" + key,
                                   params={"channel": "email", "variant": "nope"}), 404)


def test_a_read_that_fails_records_no_exposure(xh):
    """A 404 (a channel the item has no content for, or no such channel at all) served nothing:
    it must not count an exposure nor store an assignment, and no made-up channel name may
    reach the report."""
    key = uniq("exp/fail-")
    publish(xh, key, [("control", 50, None), ("b", 50, None)])
    for ch in ("web", "no-such-channel"):
        assert_problem(xh.delivery.get("/v1/content/" + key,
                                       params={"channel": ch, "subject": "failed-" + ch}), 404)
    assert_problem(xh.delivery.get("/v1/content/" + key, params={
        "channel": "email", "locale": "fr", "fallback": "false", "subject": "failed-fr"}), 404)
    read(xh, key, "served")
    e = wait_exposures(xh, key, 1)
    rep = report(xh, key)
    channels = {c for v in rep["variants"] for c in v["by_channel"]}
    assert sum(e.values()) == 1 and channels <= {"email"}, (e, channels)
    assert read(xh, key, "failed-web")["reason"] == "weight"  # nothing was stored for it


# ---- 3. stickiness -----------------------------------------------------------------------------

def test_subjects_keep_their_variant_when_weights_change_and_variants_come_and_go(xh):
    key = uniq("exp/sticky-")
    publish(xh, key, [("a", 50, None), ("b", 50, None)], {"status": "running"})
    subjects = ["st-%d-%s" % (i, key[-6:]) for i in range(40)]
    first = {s: read(xh, key, s)["variant"] for s in subjects}
    assert set(first.values()) == {"a", "b"}
    wait_exposures(xh, key, len(subjects))
    # weights change: the assigned keep theirs, new subjects follow the new weights
    publish(xh, key, [("a", 0, None), ("b", 100, None)], {"status": "running"})
    for s in subjects:
        b = read(xh, key, s)
        assert (b["variant"], b["reason"]) == (first[s], "sticky"), (s, b)
    newcomers = ["new-%d-%s" % (i, key[-6:]) for i in range(20)]
    assert {read(xh, key, s)["variant"] for s in newcomers} == {"b"}
    # a variant added (in front, taking all new traffic)
    publish(xh, key, [("c", 100, None), ("a", 0, None), ("b", 0, None)], {"status": "running"})
    assert all(read(xh, key, s)["variant"] == first[s] for s in subjects)
    assert {read(xh, key, "newer-%d" % i)["variant"] for i in range(20)} == {"c"}
    # a removed variant: its subjects are assigned again by bucket, and stick there
    wait_exposures(xh, key, len(subjects) + 40)
    publish(xh, key, [("b", 50, None), ("c", 50, None)], {"status": "running"})
    moved = [s for s in subjects if first[s] == "a"]
    assert moved
    for s in subjects:
        b = read(xh, key, s)
        if first[s] == "a":
            assert b["reason"] == "weight", b
            assert b["variant"] == ("b" if bucket(key, "", s) < 5000 else "c"), b
        else:
            assert (b["variant"], b["reason"]) == ("b", "sticky"), b
    wait_sticky(xh, key, moved)
    # paused then running again: back on the stored variants
    publish(xh, key, [("b", 50, None), ("c", 50, None)], {"status": "paused"})
    assert {read(xh, key, s)["reason"] for s in subjects} == {"paused"}
    publish(xh, key, [("b", 0, None), ("c", 100, None)], {"status": "running"})
    assert all(read(xh, key, s)["reason"] == "sticky" for s in subjects)
    assert all(read(xh, key, s)["variant"] == "b" for s in subjects if first[s] == "b")


def test_a_variant_given_an_audience_is_not_kept_by_those_outside_it(xh):
    """docs/bucketing.md section 5: a sticky subject keeps its variant only while it is a
    weighted one; once the variant targets an audience, subjects outside it are assigned again
    among the weighted variants (and those inside get it as an audience match)."""
    key = uniq("exp/retarget-")
    publish(xh, key, [("a", 0, None), ("b", 100, None)])
    subjects = ["rt-%d" % i for i in range(5)]
    assert {read(xh, key, s)["variant"] for s in subjects} == {"b"}
    wait_sticky(xh, key, subjects)
    publish(xh, key, [("a", 100, None), ("b", None, {"any": ["segment/vip"]})])
    b = read(xh, key, subjects[0], segments=["segment/vip"])
    assert (b["variant"], b["reason"]) == ("b", "audience")
    got = [(lambda b: (b["variant"], b["reason"]))(read(xh, key, s)) for s in subjects]
    assert got == [("a", "weight")] * len(subjects), \
        "subjects outside the audience of b still get the targeted variant: %r" % got
    wait_sticky(xh, key, subjects)  # the new decision replaced the record
    assert {read(xh, key, s)["variant"] for s in subjects} == {"a"}


def test_stickiness_survives_a_restart(make_hub):
    h = make_hub()
    key = uniq("exp/restart-")
    publish(h, key, [("a", 50, None), ("b", 50, None)], {"holdout_percent": 10})
    subjects = ["rs-%d" % i for i in range(30)] + [subject_in(key, 0, 1000, "rh")]
    first = {s: read(h, key, s)["variant"] for s in subjects}
    assert {None, "a", "b"} <= set(first.values()), first
    wait_exposures(h, key, len(subjects))
    publish(h, key, [("a", 0, None), ("b", 100, None)], {"holdout_percent": 0})
    h.restart()
    for s in subjects:
        b = read(h, key, s)
        want = ("holdout" if first[s] is None else "sticky")
        assert (b["variant"], b["reason"]) == (first[s], want), (s, b)
    assert read(h, key, "after-restart")["variant"] == "b"


# ---- 4. distribution ---------------------------------------------------------------------------

def test_two_thousand_subjects_split_by_the_weights(xh):
    key = "exp/distribution"  # fixed: the split below is deterministic, never flaky
    publish(xh, key, [("a", 20, None), ("b", 30, None), ("c", 50, None)],
            {"status": "running", "holdout_percent": 10, "seed": "d"})
    n = 2000
    got = collections.Counter()
    ref = doc_reference()
    weights = [("a", 20, False), ("b", 30, False), ("c", 50, False)]
    for i in range(n):
        s = "dist-%d" % i
        b = read(xh, key, s)
        assert b["variant"] == ref["assign"](weights, 10, bucket(key, "d", s)), (s, b)
        got[b["variant"]] += 1
    share = {v: got[v] / n for v in got}
    assert abs(share[None] - 0.10) < 0.03, share
    for v, w in (("a", 0.18), ("b", 0.27), ("c", 0.45)):
        assert abs(share[v] - w) < 0.05, share
    # every first exposure is counted once, under its variant, and the split passes SRM
    e = wait_exposures(xh, key, n)
    assert sum(e.values()) == n
    assert {v: e.get(v, 0) for v in ("a", "b", "c")} == {v: got[v] for v in ("a", "b", "c")}
    assert e[""] == got[None]
    rep = report(xh, key)
    assert rep["srm"]["ok"] is True and rep["srm"]["p_value"] > 0.001, rep["srm"]


# ---- 5. journeys, sends, render ----------------------------------------------------------------

@pytest.fixture(scope="module")
def step(xh):
    """An item with a 30% holdout and a journey whose step sends it by email, SMS and web (no web
    content: always missing)."""
    key = uniq("exp/step-")
    publish(xh, key, SPEC, {"status": "running", "holdout_percent": 30, "seed": "j"})
    jid = journey(xh, [{"id": "one", "item": key, "channels": ["email", "sms", "web"]}])
    return jid, key


def step_path(jid, s="one"):
    return "/v1/journeys/%s/steps/%s" % (jid, s)


def test_journey_step_resolves_every_channel_for_the_subject(xh, step):
    jid, key = step
    s = subject_in(key, 3000, 10000, "js", "j")
    b = xh.delivery.ok("GET", step_path(jid), params={"subject": s, "locale": "de"})
    v = "control" if bucket(key, "j", s) < 6500 else "b"
    assert (b["journey"], b["step"], b["item"], b["version"]) == (jid, "one", key, 1)
    assert (b["variant"], b["reason"], b["experiment_bucket"]) == (v, "weight", bucket(key, "j", s))
    assert set(b["channels"]) == {"email", "sms"}
    # German: the base variant's German subject wins over b's English one (API.md)
    assert b["channels"]["email"]["fields"]["subject"] == "Betreff control"
    assert b["channels"]["email"]["resolved_from"]["subject"] == {"variant": "control",
                                                                  "locale": "de"}
    assert b["channels"]["email"]["locale"] == "de"
    assert b["channels"]["sms"]["fields"]["text"] == "SMS control"
    assert b["channels"]["sms"]["resolved_from"]["text"] == {"variant": "control", "locale": "en"}
    assert [m["channel"] for m in b["missing"]] == ["web"]
    assert b["missing"][0]["reason"] != "holdout"
    # the same decision as the content read, and it sticks
    c = read(xh, key, s)
    assert (c["variant"], c["experiment_bucket"]) == (v, b["experiment_bucket"])
    wait_sticky(xh, key, [s])
    assert xh.delivery.ok("GET", step_path(jid), params={"subject": s})["reason"] == "sticky"
    # the journey id without its facet, no subject, audience
    b = xh.delivery.ok("GET", step_path(jid.split("/", 1)[1]), params={})
    assert (b["variant"], b["reason"], b["experiment_bucket"]) == ("control", "no_subject", None)
    b = xh.delivery.ok("GET", step_path(jid), params={
        "subject": subject_in(key, 3000, 10000, "aud", "j"), "segments": "segment/vip"})
    assert (b["variant"], b["reason"]) == ("vip", "audience")
    assert b["channels"]["email"]["fields"]["subject"] == "Subject vip"


def test_journey_step_of_a_held_out_subject_lists_every_channel_missing(xh, step):
    jid, key = step
    held = subject_in(key, 0, 3000, "jh", "j")
    b = xh.delivery.ok("GET", step_path(jid), params={"subject": held, "segments": "segment/vip"})
    assert (b["variant"], b["reason"], b["experiment_bucket"]) == (
        None, "holdout", bucket(key, "j", held))
    assert b["channels"] == {}
    assert b["missing"] == [{"channel": c, "reason": "holdout"} for c in ("email", "sms", "web")]


def test_journey_step_errors(xh, step):
    jid, key = step
    assert_problem(xh.delivery.get(step_path("journey/" + uniq("nope"))), 404)
    assert_problem(xh.delivery.get(step_path(jid, "two")), 404)
    assert_problem(xh.delivery.get(step_path(jid), params={"subject": "x" * 257}), 400)
    assert_problem(xh.delivery.get(step_path(jid), params={"locale": "not a tag!"}), 400)
    assert_problem(xh.delivery.get(step_path(jid), params={"channel": "email"}), 400)
    assert_problem(xh.delivery.get(step_path(jid), params={
        "segments": ",".join("segment/s%d" % i for i in range(65))}), 400)
    assert_problem(xh.anon.get(step_path(jid)), 401)
    # an unpublished item: the step is 404, the unpublish warns, the delete is refused
    other = uniq("exp/gone-")
    publish(xh, other, SPEC)
    jid2 = journey(xh, [{"id": "one", "item": other, "channels": ["email"]}])
    assert xh.delivery.get(step_path(jid2)).status_code == 200
    lone = uniq("exp/lone-")
    publish(xh, lone, SPEC)
    r = xh.editor.ok("POST", "/v1/items/%s/unpublish" % lone, {"at": None})
    assert r["warnings"] == [], r
    r = xh.editor.ok("POST", "/v1/items/%s/unpublish" % other, {"at": None})
    warn = [w for w in r["warnings"] if w["code"] == "used_by_journey"]
    assert len(warn) == 1 and warn[0]["journey"] == jid2 and warn[0].get("message"), r
    assert_problem(xh.delivery.get(step_path(jid2), params={"subject": "s1"}), 404)
    assert_problem(xh.editor.delete("/v1/items/" + other), 409)
    xh.editor.publish(other)
    assert xh.delivery.get(step_path(jid2), params={"subject": "s1"}).status_code == 200


def recipient(rid):
    return {"id": rid, "locale": "en", "email": "someone@example.org", "phone": "+447700900123"}


def delivery_ids(h):
    out = set()
    for st in ("queued", "sending", "failed", "delivered", "dead"):
        out |= {d["id"] for d in h.delivery.all_items("/v1/deliveries", params={"status": st})}
    return out


def test_send_to_a_held_out_recipient_queues_nothing(xh, step):
    jid, key = step
    before = report(xh, key)
    ids = delivery_ids(xh)
    held = subject_in(key, 0, 3000, "sh", "j")
    path = step_path(jid) + "/send"
    r = xh.delivery.post(path, {"recipient": recipient(held)})
    assert r.status_code == 202, r.text
    b = r.json()
    assert b["deliveries"] == [], b
    assert (b["variant"], b["reason"], b["experiment_bucket"]) == (
        None, "holdout", bucket(key, "j", held))
    assert sorted((s["channel"], s["reason"]) for s in b["skipped"]) == [
        ("email", "holdout"), ("sms", "holdout"), ("web", "holdout")], b
    assert delivery_ids(xh) == ids
    # stored in the send's own transaction: counted at once, and sticky
    after = report(xh, key)
    assert after["holdout"]["exposures"] == before["holdout"]["exposures"] + 1
    assert read(xh, key, held)["reason"] == "holdout"
    # a recipient outside the holdout gets its variant on every channel, stored at once
    s = subject_in(key, 3000, 10000, "ss", "j")
    v = "control" if bucket(key, "j", s) < 6500 else "b"
    b = xh.delivery.ok("POST", path, {"recipient": recipient(s), "channels": ["email", "sms"]},
                       expect=(202,))
    assert (b["variant"], b["reason"]) == (v, "weight")
    assert sorted(d["channel"] for d in b["deliveries"]) == ["email", "sms"]
    assert {d["variant"] for d in b["deliveries"]} == {v}
    assert read(xh, key, s)["reason"] == "sticky"
    # an audience recipient outside the holdout gets the targeted variant
    s = subject_in(key, 3000, 10000, "sv", "j")
    b = xh.delivery.ok("POST", path, {"recipient": dict(recipient(s), segments=["segment/vip"]),
                                      "channels": ["email"]}, expect=(202,))
    assert (b["variant"], b["reason"]) == ("vip", "audience")
    assert [d["variant"] for d in b["deliveries"]] == ["vip"]


def test_send_of_an_unpublished_item_is_refused_not_a_503(xh):
    """A journey whose item was unpublished: its sends fail (the unpublish warning says so),
    with a 4xx naming the cause, also when every channel is skipped for the recipient (here:
    no email address). Never a 503 "out of memory" for bad input."""
    key = uniq("exp/unpub-")
    publish(xh, key, SPEC)
    jid = journey(xh, [{"id": "one", "item": key, "channels": ["email"]}])
    xh.editor.ok("POST", "/v1/items/%s/unpublish" % key, {"at": None})
    path = step_path(jid) + "/send"
    r = xh.delivery.post(path, {"recipient": recipient("u1")})
    assert r.status_code in (404, 422), r.text
    r = xh.delivery.post(path, {"recipient": {"id": "u2"}})  # no address: email is skipped
    assert r.status_code != 503, "503 for a send of an unpublished item: %s" % r.text
    if r.status_code == 202:
        assert r.json()["deliveries"] == [], r.text
    else:
        assert_problem(r, r.status_code)
        assert r.status_code in (404, 422), r.text


def test_render_uses_the_assignment_and_stores_nothing(xh):
    key = uniq("exp/render-")
    publish(xh, key, SPEC, {"status": "running", "holdout_percent": 30, "seed": "rn"})
    held = subject_in(key, 0, 3000, "rh", "rn")
    in_b = subject_in(key, 6500, 10000, "rb", "rn")

    def render(rid, **more):
        body = {"item": key, "channel": "email", "locale": "en",
                "recipient": {"id": rid, "attributes": {"first_name": "Sam"}}}
        body.update(more)
        return xh.delivery.ok("POST", "/v1/render", body)

    r = render(in_b)
    assert r["variant"] == "b" and r["artifact"]["subject"] == "Subject b", r
    assert "holdout" not in [w["code"] for w in r["warnings"]]
    r = render(held)
    assert r["variant"] == "control" and "holdout" in [w["code"] for w in r["warnings"]], r
    assert render(held, variant="b")["variant"] == "b"
    # nothing of the renders was stored: only the read below is counted
    read(xh, key, subject_in(key, 3000, 10000, "rr", "rn"))
    e = wait_exposures(xh, key, 1)
    assert sum(e.values()) == 1, e
    assert read(xh, key, in_b)["reason"] == "weight"


# ---- 6. audit ----------------------------------------------------------------------------------

def experiment_changes(h, key):
    items = h.admin.ok("GET", "/v1/audit", params={"key": key})["items"]
    return [a for a in items if a["action"] == "experiment.changed"]


def test_audit_records_a_changed_running_experiment(xh):
    key = uniq("exp/audit-")
    publish(xh, key, [("a", 50, None), ("b", 50, None)], {"status": "running"})
    assert experiment_changes(xh, key) == []
    publish(xh, key, [("a", 20, None), ("b", 80, None)], {"status": "running"})
    recs = experiment_changes(xh, key)
    assert len(recs) == 1, recs
    d = recs[0]["detail"]
    assert d["version"] == 2 and recs[0]["actor"] == xh.editor.name
    assert [(v["id"], v["weight"]) for v in d["before"]["variants"]] == [("a", 50), ("b", 50)]
    assert [(v["id"], v["weight"]) for v in d["after"]["variants"]] == [("a", 20), ("b", 80)]
    assert d["before"]["status"] == d["after"]["status"] == "running"
    # the same plan with other content: no record
    doc = xh.editor.ok("GET", "/v1/items/" + key, params={"status": "draft"})
    doc = {k: doc[k] for k in ("key", "kind", "title", "tags", "variants", "experiment")}
    doc["title"] = "Another title"
    doc["variants"][1]["content"]["en"]["email"]["subject"] = "Changed words"
    xh.editor.put_item(doc)
    xh.editor.publish(key)
    assert len(experiment_changes(xh, key)) == 1
    # holdout, seed, a variant, the status: each recorded while running before or after
    for exp, spec in (({"status": "running", "holdout_percent": 5}, None),
                      ({"status": "running", "holdout_percent": 5, "seed": "x"}, None),
                      ({"status": "running", "holdout_percent": 5, "seed": "x"},
                       [("a", 20, None), ("b", 80, None), ("c", 0, None)]),
                      ({"status": "paused", "holdout_percent": 5, "seed": "x"},
                       [("a", 20, None), ("b", 80, None), ("c", 0, None)])):
        n = len(experiment_changes(xh, key))
        publish(xh, key, spec or [("a", 20, None), ("b", 80, None)], exp)
        recs = experiment_changes(xh, key)
        assert len(recs) == n + 1, (exp, recs)
    last = max(experiment_changes(xh, key), key=lambda a: a["seq"])["detail"]
    assert (last["before"]["status"], last["after"]["status"]) == ("running", "paused")
    assert last["after"]["seed"] == "x" and last["after"]["holdout_percent"] == 5
    # paused to paused with other weights: not a running experiment, no record
    n = len(experiment_changes(xh, key))
    publish(xh, key, [("a", 90, None), ("b", 10, None), ("c", 0, None)],
            {"status": "paused", "holdout_percent": 5, "seed": "x"})
    assert len(experiment_changes(xh, key)) == n


# ---- 7. bandit ---------------------------------------------------------------------------------

def test_bandit_moves_new_subjects_to_the_better_arm(xh):
    key = uniq("exp/bandit-")
    publish(xh, key, [("a", None, None), ("b", None, None), ("c", None, None)],
            {"status": "running", "allocation": "bandit"})
    rep = report(xh, key)
    assert set(rep["bandit"]["weights"]) == {"a", "b", "c"}
    first = read(xh, key, "bandit-first")
    assert first["reason"] == "bandit" and first["variant"] in ("a", "b", "c")
    # 200 subjects per arm; b converts half of them, a and c hardly
    events = []
    for arm, conv in (("a", 4), ("b", 100), ("c", 4)):
        for i in range(200):
            s = "%s-%s-%d" % (key[-6:], arm, i)
            events.append({"type": "exposure", "subject": s, "item": key, "variant": arm,
                           "channel": "email"})
            if i < conv:
                events.append({"type": "conversion", "subject": s, "item": key, "variant": arm,
                               "action": "action/open-account"})
    r = xh.delivery.ok("POST", "/v1/events", events)
    assert r["accepted"] == len(events) and r["rejected"] == [], r

    def favoured():
        b = report(xh, key)["bandit"]
        return b if b["updated_at"] and b["weights"]["b"] > 0.8 else None

    band = wait_for(favoured, "bandit weights favouring b", timeout=15)
    w = band["weights"]
    assert abs(sum(w.values()) - 1) < 1e-6, w
    assert min(w.values()) >= 0.05 - 1e-9, w  # the floor (analytics.bandit_floor_percent 5)
    assert w["a"] < 0.1 and w["c"] < 0.1, w
    rows = {v["variant"]: v for v in report(xh, key)["variants"]}
    assert rows["b"]["conversions"] == 100 and rows["a"]["conversions"] == 4
    # new subjects follow the bandit's weights; the first one keeps its arm
    got = collections.Counter(read(xh, key, "bandit-new-%d" % i)["variant"] for i in range(200))
    assert got["b"] > 140, got
    assert read(xh, key, "bandit-new-0")["reason"] in ("bandit", "sticky")
    wait_sticky(xh, key, ["bandit-first"])
    assert read(xh, key, "bandit-first")["variant"] == first["variant"]
