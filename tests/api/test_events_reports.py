"""Events and reports end to end (API.md "Events and reports"; docs/reports.md explains the
numbers): POST /v1/events validation (one test per rejection reason, partial acceptance, the
all-rejected 422, the size limit, the body and auth checks), the item report on a fixed event
set checked against an independent computation in this file (rates, uplift and its interval,
probability to beat the base, the sample ratio check), the uniqueness of exposures and
conversions, the hub's own exposures (reads, sends), day filtering, the deliveries of a real
send, and attribution under each model on worked examples with explicit times (windows,
collapsing, unattributed conversions, ranges). Every wait polls against a deadline."""
import datetime
import hashlib
import math
from statistics import NormalDist

import pytest

from helpers import assert_problem, uniq, wait_for

UTC = datetime.timezone.utc
DAY = datetime.timedelta(days=1)
HOUR = datetime.timedelta(hours=1)
COUNTERS = ("exposures", "deliveries", "opens", "clicks", "conversions", "value",
            "unsubscribes", "bounces")
REL = 1e-9  # the report against the computation here: same formulas, different code


# ---- set-up ------------------------------------------------------------------------------------

def utcnow():
    return datetime.datetime.now(UTC).replace(microsecond=0)


def rfc(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def variant_doc(vid, spec):
    """spec: a weight, None (no weight) or "vip" (an audience variant)."""
    v = {"id": vid, "content": {"en": {"email": {"subject": "Subject " + vid,
                                                  "html": "<p>%s</p>" % vid}}}}
    if spec == "vip":
        v["audience"] = {"any": ["segment/vip"]}
    elif spec is not None:
        v["weight"] = spec
    return v


def publish_item(h, variants=(("control", None),), experiment=None, publish=True):
    """A fresh item with these (id, weight) variants, English email only; published."""
    key = uniq("rep/")
    item = {"key": key, "kind": "message", "title": "Report " + key, "tags": [],
            "variants": [variant_doc(vid, spec) for vid, spec in variants]}
    if experiment is not None:
        item["experiment"] = experiment
    h.editor.put_item(item)
    if publish:
        h.editor.publish(key)
    return key


def new_action(h):
    term = "action/" + uniq("act-")
    h.admin.ok("PUT", "/v1/taxonomy/" + term, {"label": "Action"})
    return term


def post_events(h, events, expect=200):
    r = h.delivery.post("/v1/events", events)
    assert r.status_code == expect, "%d %s" % (r.status_code, r.text[:800])
    return r


def accept(h, events):
    """Posts events (in requests of at most 1000); every one must be accepted."""
    for i in range(0, len(events), 1000):
        chunk = events[i:i + 1000]
        body = post_events(h, chunk).json()
        assert body == {"accepted": len(chunk), "rejected": []}, body


def ev(type_, subject, item=None, **more):
    e = {"type": type_, "subject": subject}
    if item is not None:
        e["item"] = item
    e.update(more)
    return e


def report(h, key, **params):
    return h.delivery.ok("GET", "/v1/reports/items/" + key, params=params or None)


def row(rep, vid):
    rows = [v for v in rep["variants"] if v["variant"] == vid]
    assert len(rows) == 1, rep["variants"]
    return rows[0]


def counters(**given):
    """The counters of a row: those given, the rest 0 (value as a float)."""
    out = {k: 0 for k in COUNTERS}
    out.update(given)
    return out


def assert_counters(got, **want):
    exp = counters(**want)
    assert {k: got[k] for k in COUNTERS} == exp, (got, exp)
    rate = got["conversion_rate"]
    if exp["exposures"] == 0:
        assert rate is None, got
    else:
        assert rate == pytest.approx(min(1.0, exp["conversions"] / exp["exposures"]), rel=REL)


def bucket(key, seed, subject):
    """docs/bucketing.md: first 8 bytes of SHA-256("key:seed:subject"), big-endian, mod 10000."""
    d = hashlib.sha256(("%s:%s:%s" % (key, seed, subject)).encode()).digest()
    return int.from_bytes(d[:8], "big") % 10000


# ---- the independent computation ---------------------------------------------------------------

NORMAL = NormalDist()


def compare(nb, cb, nv, cv):
    """uplift, 95% interval (delta method), P(variant beats base) by the normal approximation
    of the Beta(1 + c, 1 + n - c) posteriors."""
    pb, pv = cb / nb, cv / nv
    uplift = pv / pb - 1
    se = math.sqrt((pv * (1 - pv) / nv) / pb ** 2 + pv ** 2 * (pb * (1 - pb) / nb) / pb ** 4)
    z = NORMAL.inv_cdf(0.975)
    mb, mv = (1 + cb) / (2 + nb), (1 + cv) / (2 + nv)
    sb, sv = mb * (1 - mb) / (3 + nb), mv * (1 - mv) / (3 + nv)
    prob = NORMAL.cdf((mv - mb) / math.sqrt(sb + sv))
    return uplift, uplift - z * se, uplift + z * se, prob


def exact_prob_beat(nb, cb, nv, cv):
    """P(X_v > X_b) for X ~ Beta(1 + c, 1 + n - c), exactly (integer parameters): the sum of
    Evan Miller's closed form. Checks that the normal approximation is a fair one."""
    def lbeta(a, b):
        return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    ab, bb, av, bv = 1 + cb, 1 + nb - cb, 1 + cv, 1 + nv - cv
    return sum(math.exp(lbeta(ab + i, bb + bv) - lbeta(1 + i, bv) - lbeta(ab, bb)) / (bv + i)
               for i in range(av))


def chi2_sf(x, df):
    """Upper tail of the chi-square distribution for df 1 and 2 (closed forms)."""
    if df == 1:
        return math.erfc(math.sqrt(x / 2))
    if df == 2:
        return math.exp(-x / 2)
    raise ValueError(df)


def srm_p(observed, weights):
    total, wsum = sum(observed), sum(weights)
    stat = sum((o - total * w / wsum) ** 2 / (total * w / wsum) for o, w in zip(observed, weights))
    return chi2_sf(stat, len(observed) - 1)


def test_independent_computation_is_sane():
    """The helpers above on a textbook case: 10% vs 12.5% and a 50/50 split seen as 200/240."""
    u, lo, hi, p = compare(200, 20, 240, 30)
    assert u == pytest.approx(0.25) and lo < 0 < hi and 0.5 < p < 1
    assert abs(p - exact_prob_beat(200, 20, 240, 30)) < 0.005
    assert srm_p([200, 240], [1, 1]) == pytest.approx(0.0565302771674, rel=1e-9)
    assert srm_p([50, 50], [1, 1]) == 1.0


# ---- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def basic(hub):
    """A published item (variants control, bold) and a draft-only one, for validation."""
    return {"item": publish_item(hub, (("control", 50), ("bold", 50))),
            "draft": publish_item(hub, publish=False),
            "action": new_action(hub)}


# ---- POST /v1/events: validation ---------------------------------------------------------------

def drop(e, name):
    e = dict(e)
    del e[name]
    return e


def good(ctx, **more):
    return dict({"type": "exposure", "subject": uniq("s-"), "item": ctx["item"],
                 "channel": "email"}, **more)


def in_future(minutes):
    return rfc(utcnow() + datetime.timedelta(minutes=minutes))


def days_ago(days):
    return rfc(utcnow() - datetime.timedelta(days=days))


# (name, event builder, JSON pointer of the rejection, a word of its reason)
REJECTIONS = [
    ("unknown type", lambda c: good(c, type="view"), "/1/type", "exposure"),
    ("missing type", lambda c: drop(good(c), "type"), "/1/type", "exposure"),
    ("missing subject", lambda c: drop(good(c), "subject"), "/1/subject", "256"),
    ("empty subject", lambda c: good(c, subject=""), "/1/subject", "256"),
    ("subject over 256 bytes", lambda c: good(c, subject="s" * 257), "/1/subject", "256"),
    ("subject not a string", lambda c: good(c, subject=42), "/1/subject", "256"),
    ("unknown item", lambda c: good(c, item=c["item"] + "-nope"), "/1/item", "unknown"),
    ("unpublished item", lambda c: good(c, item=c["draft"]), "/1/item", "published"),
    ("exposure without item", lambda c: drop(good(c), "item"), "/1/item", "required"),
    ("unknown variant", lambda c: good(c, variant="nope"), "/1/variant", "nope"),
    ("unknown channel", lambda c: good(c, channel="fax"), "/1/channel", "fax"),
    ("bad locale", lambda c: good(c, locale="not a tag"), "/1/locale", "BCP 47"),
    ("unknown action", lambda c: good(c, type="conversion", action="action/no-such-thing"),
     "/1/action", "action/no-such-thing"),
    ("action outside action/", lambda c: good(c, type="conversion", action="campaign/spring"),
     "/1/action", "campaign/spring"),
    ("conversion without action or item",
     lambda c: {"type": "conversion", "subject": uniq("s-"), "value": 5}, "/1/action", "item"),
    # A null item is no item: without an action the conversion names nothing to count.
    ("conversion with a null item and no action",
     lambda c: {"type": "conversion", "subject": uniq("s-"), "item": None, "value": 5},
     "/1/action", "item"),
    ("value not a number", lambda c: good(c, type="conversion", value="12"), "/1/value",
     "number"),
    ("ts not RFC 3339", lambda c: good(c, ts="yesterday"), "/1/ts", "RFC 3339"),
    ("ts a number", lambda c: good(c, ts=1700000000), "/1/ts", "RFC 3339"),
    ("ts in the future", lambda c: good(c, ts=in_future(10)), "/1/ts", "future"),
    ("ts older than the retention", lambda c: good(c, ts=days_ago(181)), "/1/ts", "retention"),
    ("unknown member", lambda c: good(c, sku="x1"), "/1", "sku"),
    ("event a string", lambda c: "exposure", "/1", "object"),
    ("event an array", lambda c: [good(c)], "/1", "object"),
    ("event null", lambda c: None, "/1", "object"),
    ("unknown delivery id", lambda c: good(c, delivery_id="987654321"), "/1/delivery_id",
     "987654321"),
    ("malformed delivery id", lambda c: good(c, delivery_id="d-1"), "/1/delivery_id",
     "unknown"),
]


@pytest.mark.parametrize("name,build,path,word", REJECTIONS, ids=[r[0] for r in REJECTIONS])
def test_rejection(hub, basic, name, build, path, word):
    """A good event and a bad one: the good one is accepted, the bad one rejected with its
    index, the JSON pointer of what is wrong and a reason that names it."""
    body = post_events(hub, [good(basic), build(basic)]).json()
    assert body["accepted"] == 1, body
    assert len(body["rejected"]) == 1, body
    rej = body["rejected"][0]
    assert rej["index"] == 1 and rej["path"] == path, rej
    assert word in rej["reason"], rej


def test_edge_values_are_accepted(hub, basic):
    """The limits themselves: a 256-byte subject, ts one minute ahead (clock skew) and 179 days
    back, nulls for the optional members, a negative value, a canonicalized locale, a
    conversion with an action and no item."""
    key = publish_item(hub, (("control", 50), ("bold", 50)))
    events = [
        ev("exposure", "s" * 256, key, variant="bold", channel="sms"),
        ev("exposure", uniq("s-"), key, ts=in_future(1)),
        ev("exposure", uniq("s-"), key, ts=days_ago(179), locale="de-at"),
        ev("open", uniq("s-"), key, variant=None, channel=None, locale=None, action=None,
           delivery_id=None, value=None, ts=None),
        ev("conversion", uniq("s-"), key, value=-2.5, channel="web"),
        ev("conversion", uniq("s-"), action=basic["action"], value=3),
        ev("unsubscribe", uniq("s-"), key, channel="mobile"),
        # an offset other than Z: the same instant
        ev("bounce", uniq("s-"), key, ts=utcnow().astimezone(
            datetime.timezone(5 * HOUR)).strftime("%Y-%m-%dT%H:%M:%S+05:00")),
    ]
    accept(hub, events)
    rep = report(hub, key)
    assert_counters(row(rep, "bold"), exposures=1)
    assert_counters(row(rep, "control"), exposures=2, opens=1, conversions=1, value=-2.5,
                    unsubscribes=1, bounces=1)


def test_partial_acceptance_records_only_the_good_events(hub):
    key = publish_item(hub, (("control", 50), ("bold", 50)))
    events = [ev("exposure", "p1", key, variant="bold"), ev("exposure", "p2", key, variant="x"),
              ev("click", "p3", key, channel="fax"), ev("click", "p4", key, variant="bold")]
    body = post_events(hub, events).json()
    assert body["accepted"] == 2
    assert [(r["index"], r["path"]) for r in body["rejected"]] == [(1, "/1/variant"),
                                                                   (2, "/2/channel")]
    rep = report(hub, key)
    assert_counters(row(rep, "bold"), exposures=1, clicks=1)
    assert_counters(row(rep, "control"))


def test_every_event_rejected_is_422_with_each_reason(hub, basic):
    r = post_events(hub, [good(basic, type="view"), "x", good(basic, variant="zzz")],
                    expect=422)
    body = assert_problem(r, 422, paths=["/0/type", "/1", "/2/variant"])
    assert len(body["errors"]) == 3


def test_at_most_1000_events(hub):
    key = publish_item(hub)
    too_many = [ev("exposure", "m%d" % i, key) for i in range(1001)]
    assert_problem(post_events(hub, too_many, expect=422), 422)
    assert_counters(row(report(hub, key), "control"))  # nothing of the 1001 was recorded
    accept(hub, too_many[:1000])
    assert_counters(row(report(hub, key), "control"), exposures=1000)


@pytest.mark.parametrize("raw", [b"{}", b'{"events":[]}', b'"exposure"', b"42", b"null"],
                         ids=["object", "wrapped", "string", "number", "null"])
def test_body_not_an_array_is_422(hub, raw):
    r = hub.delivery.post("/v1/events", raw=raw, content_type="application/json")
    assert_problem(r, 422)


def test_empty_array_accepts_nothing(hub):
    assert post_events(hub, []).json() == {"accepted": 0, "rejected": []}


def test_bad_json_content_type_and_auth(hub, basic):
    assert_problem(hub.delivery.post("/v1/events", raw=b"[{", content_type="application/json"),
                   400)
    assert_problem(hub.delivery.post("/v1/events", raw=b"[]", content_type="text/plain"), 415)
    assert_problem(hub.anon.post("/v1/events", [good(basic)]), 401)
    assert_problem(hub.anon.get("/v1/reports/items/" + basic["item"]), 401)
    assert_problem(hub.anon.get("/v1/reports/attribution", params={"action": basic["action"]}),
                   401)
    for role in ("delivery", "preview", "editor", "admin"):  # delivery and up may post
        assert hub.as_(role).post("/v1/events", []).status_code == 200, role


def test_retention_days_from_the_config(make_hub):
    """analytics.retention_days bounds how old an event may be."""
    h = make_hub(config={"analytics": {"retention_days": 30}})
    key = publish_item(h)
    body = post_events(h, [ev("exposure", "r1", key, ts=days_ago(29)),
                           ev("exposure", "r2", key, ts=days_ago(31))]).json()
    assert body["accepted"] == 1 and [r["path"] for r in body["rejected"]] == ["/1/ts"], body


# ---- the item report on a fixed event set ------------------------------------------------------

def held_out_subjects(key, seed, holdout_bp, n):
    out, i = [], 0
    while len(out) < n:
        s = "hold-%s-%d" % (key, i)
        if bucket(key, seed, s) < holdout_bp:
            out.append(s)
        i += 1
    return out


def test_item_report_numbers(hub):
    """control 200 exposed / 20 converted, bold 240 / 30 (a 50/50 split), an audience variant
    vip 10 / 1, three held-out subjects (exposed by the hub's own reads) with one conversion;
    channels split. Every number against the computation of this file."""
    seed = "fixed-seed"
    key = publish_item(hub, (("control", 50), ("bold", 50), ("vip", "vip")),
                       experiment={"status": "running", "allocation": "fixed",
                                   "holdout_percent": 10, "seed": seed})
    # The held-out subjects: the hub's reads expose them (recorder) and store the holdout.
    held = held_out_subjects(key, seed, 1000, 3)
    for s in held:
        b = hub.delivery.ok("GET", "/v1/content/" + key,
                            params={"channel": "email", "locale": "en", "subject": s})
        assert b["variant"] is None and b["reason"] == "holdout", b
    wait_for(lambda: report(hub, key)["holdout"]["exposures"] == 3, "3 holdout exposures")

    E = []
    for i in range(200):  # control: 150 by email, 50 by sms
        E.append(ev("exposure", "c%d" % i, key, variant="control",
                    channel="email" if i < 150 else "sms"))
    for i in range(15):  # 15 conversions by email (10 each), 5 without a channel (20 each)
        E.append(ev("conversion", "c%d" % i, key, variant="control", channel="email", value=10))
    for i in range(150, 155):
        E.append(ev("conversion", "c%d" % i, key, value=20))  # variant from the assignment
    for i in range(240):  # bold: 200 by email, 40 on the web
        E.append(ev("exposure", "b%d" % i, key, variant="bold",
                    channel="email" if i < 200 else "web"))
    for i in range(30):
        E.append(ev("conversion", "b%d" % i, key, variant="bold", channel="email", value=10))
    for t, n in (("delivered", 5), ("open", 3), ("click", 2), ("unsubscribe", 1), ("bounce", 1)):
        E += [ev(t, "b%d" % i, key, variant="bold", channel="email") for i in range(n)]
    E += [ev("exposure", "v%d" % i, key, variant="vip", channel="email") for i in range(10)]
    E.append(ev("conversion", "v0", key, variant="vip", channel="email", value=50))
    # the held-out subjects: an exposure again (not counted: once per subject), a conversion
    E.append(ev("exposure", held[0], key, channel="email"))
    E.append(ev("conversion", held[0], key, channel="email", value=7))
    accept(hub, E)

    rep = report(hub, key)
    assert rep["item"] == key and rep["from"] is None and rep["to"] is None
    assert rep["experiment"]["status"] == "running" and rep["experiment"]["holdout_percent"] == 10
    assert [v["variant"] for v in rep["variants"]] == ["control", "bold", "vip"]
    assert "bandit" not in rep

    c, b, v = row(rep, "control"), row(rep, "bold"), row(rep, "vip")
    assert_counters(c, exposures=200, conversions=20, value=250.0)
    assert_counters(c["by_channel"]["email"], exposures=150, conversions=15, value=150.0)
    assert_counters(c["by_channel"]["sms"], exposures=50)
    assert_counters(c["by_channel"]["none"], conversions=5, value=100.0)  # rate null
    assert set(c["by_channel"]) == {"email", "sms", "none"}
    assert_counters(b, exposures=240, conversions=30, value=300.0, deliveries=5, opens=3,
                    clicks=2, unsubscribes=1, bounces=1)
    assert_counters(b["by_channel"]["email"], exposures=200, conversions=30, value=300.0,
                    deliveries=5, opens=3, clicks=2, unsubscribes=1, bounces=1)
    assert_counters(b["by_channel"]["web"], exposures=40)
    assert set(b["by_channel"]) == {"email", "web"}
    assert_counters(v, exposures=10, conversions=1, value=50.0)
    assert_counters(rep["holdout"], exposures=3, conversions=1, value=7.0)
    assert_counters(rep["holdout"]["by_channel"]["email"], exposures=3, conversions=1, value=7.0)
    assert "variant" not in rep["holdout"]

    assert c["conversion_rate"] == pytest.approx(0.1, rel=REL)
    assert b["conversion_rate"] == pytest.approx(0.125, rel=REL)
    assert c["weight"] == 50 and b["weight"] == 50 and v["weight"] is None
    # the base has no uplift against itself
    assert c["uplift"] is None and c["probability_to_beat_base"] is None
    for r, (n, k) in ((b, (240, 30)), (v, (10, 1))):
        u, lo, hi, p = compare(200, 20, n, k)
        assert r["uplift"]["estimate"] == pytest.approx(u, rel=REL, abs=1e-12)
        assert r["uplift"]["low"] == pytest.approx(lo, rel=REL)
        assert r["uplift"]["high"] == pytest.approx(hi, rel=REL)
        assert r["probability_to_beat_base"] == pytest.approx(p, rel=REL)
    assert b["uplift"]["estimate"] == pytest.approx(0.25, rel=REL)
    assert abs(b["probability_to_beat_base"] - exact_prob_beat(200, 20, 240, 30)) < 0.005
    # SRM over control and bold only (vip is targeted, the holdout is outside the split)
    assert rep["srm"]["p_value"] == pytest.approx(srm_p([200, 240], [50, 50]), rel=1e-9)
    assert rep["srm"]["ok"] is True  # p ~ 0.057 >= 0.001


def test_srm_flags_a_broken_split(hub):
    """Three weighted arms 50/30/20 seen as 100/100/20: p ~ 1.4e-7 < 0.001, not ok (df 2). And
    a split that fits: 100/60/40 gives p = 1."""
    arms = (("a", 50), ("b", 30), ("c", 20))
    for seen, ok in (((100, 100, 20), False), ((100, 60, 40), True)):
        key = publish_item(hub, arms)
        accept(hub, [ev("exposure", "%s%d" % (vid, i), key, variant=vid)
                     for (vid, _), n in zip(arms, seen) for i in range(n)])
        srm = report(hub, key)["srm"]
        assert srm["p_value"] == pytest.approx(srm_p(list(seen), [50, 30, 20]), rel=1e-9,
                                               abs=1e-300)
        assert srm["ok"] is ok, srm


def test_srm_not_checked_without_a_running_fixed_experiment(hub):
    paused = publish_item(hub, (("a", 50), ("b", 50)), experiment={"status": "paused"})
    bandit = publish_item(hub, (("a", 50), ("b", 50), ("c", "vip")),
                          experiment={"status": "running", "allocation": "bandit"})
    for key in (paused, bandit):
        accept(hub, [ev("exposure", "s%d" % i, key, variant="a") for i in range(50)])
        rep = report(hub, key)
        assert rep["srm"]["p_value"] is None and rep["srm"]["ok"] is None, rep["srm"]
    rep = report(hub, bandit)
    weights = rep["bandit"]["weights"]
    assert set(weights) == {"a", "b"} and sum(weights.values()) == pytest.approx(1.0)
    assert "bandit" not in report(hub, paused)


# ---- uniqueness and the hub's own exposures ----------------------------------------------------

def test_each_subject_counts_once_per_item(hub):
    """Exposures and conversions count subjects: the first exposure decides the variant it is
    counted under; a second conversion adds its value but no conversion; deliveries, opens and
    clicks count events; a subject's events without a variant follow its stored one."""
    key = publish_item(hub, (("a", 50), ("b", 50)))
    accept(hub, [ev("exposure", "u1", key, variant="a", channel="email")] * 3)
    accept(hub, [ev("exposure", "u1", key, variant="b", channel="email"),  # not again
                 ev("exposure", "u1", key, channel="sms"),
                 ev("conversion", "u1", key, value=5),
                 ev("conversion", "u1", key, value=7),  # value yes, conversion no
                 ev("delivered", "u1", key, variant="a", channel="email"),
                 ev("delivered", "u1", key, variant="a", channel="email"),
                 ev("open", "u1", key, channel="email"),
                 ev("open", "u1", key, channel="email"),
                 # u2 converts before any exposure (base variant), then is exposed
                 ev("conversion", "u2", key),
                 ev("exposure", "u2", key),
                 # u3 is exposed to b and converts without naming the variant
                 ev("exposure", "u3", key, variant="b", channel="email"),
                 ev("conversion", "u3", key, channel="email", value=1),
                 # u4 converts to b and is never exposed: the rate stops at 1
                 ev("conversion", "u4", key, variant="b", channel="email")])
    rep = report(hub, key)
    a, b = row(rep, "a"), row(rep, "b")
    assert_counters(a, exposures=2, conversions=2, value=12.0, deliveries=2, opens=2)
    assert_counters(a["by_channel"]["email"], exposures=1, deliveries=2, opens=2)
    assert_counters(a["by_channel"]["none"], exposures=1, conversions=2, value=12.0)
    assert "sms" not in a["by_channel"]
    assert_counters(b, exposures=1, conversions=2, value=1.0)
    assert b["conversion_rate"] == 1.0


def test_reads_with_a_subject_expose_once(hub):
    """GET /v1/content?subject= records the subject's first exposure (in the background); the
    same subject reading again is not counted again."""
    key = publish_item(hub, (("a", 50), ("b", 50)), experiment={"seed": "r"})

    def read(s):
        return hub.delivery.ok("GET", "/v1/content/" + key,
                               params={"channel": "email", "locale": "en", "subject": s})

    def total():
        rep = report(hub, key)
        return sum(v["exposures"] for v in rep["variants"]) + rep["holdout"]["exposures"]

    first = read("reader-1")["variant"]
    read("reader-1")
    wait_for(lambda: total() >= 1, "the first exposure")
    second = read("reader-2")["variant"]  # written after reader-1's second read
    wait_for(lambda: total() >= 2, "the second exposure")
    rep = report(hub, key)
    assert total() == 2
    want = {"a": 0, "b": 0}
    want[first] += 1
    want[second] += 1
    assert {v["variant"]: v["exposures"] for v in rep["variants"]} == want
    # the stored assignment now decides the variant of an event without one
    accept(hub, [ev("conversion", "reader-1", key)])
    assert row(report(hub, key), first)["conversions"] == 1


# ---- from / to ---------------------------------------------------------------------------------

def test_report_range_by_utc_day(hub):
    key = publish_item(hub)
    today = utcnow().replace(hour=0, minute=0, second=0)
    d = {n: today - n * DAY for n in (10, 5, 2)}
    accept(hub, [ev("exposure", "f1", key, ts=rfc(d[10] + 12 * HOUR)),
                 ev("exposure", "f2", key, ts=rfc(d[5])),
                 ev("exposure", "f3", key, ts=rfc(d[5] + DAY - datetime.timedelta(seconds=1))),
                 ev("exposure", "f4", key, ts=rfc(d[2] + 12 * HOUR))])

    def exposures(**params):
        return row(report(hub, key, **params), "control")["exposures"]

    def date(dt):
        return dt.strftime("%Y-%m-%d")

    assert exposures() == 4
    assert exposures(**{"from": date(d[5]), "to": date(d[5])}) == 2
    assert exposures(**{"from": date(d[10] + DAY), "to": date(d[2] - DAY)}) == 2
    assert exposures(to=date(d[5] - DAY)) == 1
    assert exposures(**{"from": date(d[2])}) == 1
    # a time inside a day takes in the whole day: day granularity
    assert exposures(**{"from": rfc(d[5] + 23 * HOUR)}) == 3
    assert exposures(to=rfc(d[5])) == 3
    assert exposures(**{"from": rfc(d[10] + HOUR), "to": rfc(d[10] + 2 * HOUR)}) == 1
    rep = report(hub, key, **{"from": date(d[5]), "to": date(d[5])})
    assert rep["from"].startswith(date(d[5]) + "T00:00:00") and rep["to"].startswith(
        date(d[5]) + "T23:59:59"), rep


@pytest.mark.parametrize("params", [{"from": "yesterday"}, {"to": "2024-13-01"},
                                    {"from": "2024-03-02", "to": "2024-03-01"},
                                    {"since": "2024-01-01"}],
                         ids=["bad from", "bad to", "from after to", "unknown parameter"])
def test_report_bad_params_400(hub, basic, params):
    assert_problem(hub.delivery.get("/v1/reports/items/" + basic["item"], params=params), 400)


def test_report_counts_only_its_own_item(hub):
    """Counters are per item key: an item whose key extends another's is not counted in it."""
    key = publish_item(hub)
    longer = key + "/more"
    hub.editor.put_item({"key": longer, "kind": "message", "title": "Longer", "tags": [],
                         "variants": [variant_doc("control", None)]})
    hub.editor.publish(longer)
    accept(hub, [ev("exposure", "k1", longer), ev("click", "k2", longer)])
    assert_counters(row(report(hub, key), "control"))
    assert_counters(row(report(hub, longer), "control"), exposures=1, clicks=1)


def test_report_not_found_and_draft_only(hub, basic):
    assert_problem(hub.delivery.get("/v1/reports/items/rep/no-such-item"), 404)
    assert_problem(hub.delivery.get("/v1/reports/nothing"), 404)
    rep = report(hub, basic["draft"])  # a draft without counters: an empty report
    assert rep["variants"] == [] and rep["experiment"] is None
    assert_counters(rep["holdout"])


# ---- deliveries of a real send -----------------------------------------------------------------

def send_one(h, key, rid):
    """Sends key by email to rid through a one-step journey (outbox driver); the delivery."""
    jid = uniq("j")
    h.admin.ok("PUT", "/v1/taxonomy/journey/" + jid, {"label": "J"})
    h.admin.ok("PUT", "/v1/journeys/journey/" + jid,
               {"title": "J", "steps": [{"id": "s", "item": key, "channels": ["email"]}]})
    ans = h.delivery.ok("POST", "/v1/journeys/%s/steps/s/send" % jid,
                        {"recipient": {"id": rid, "locale": "en", "email": "r@example.org"}},
                        expect=(202,))
    assert len(ans["deliveries"]) == 1, ans
    return ans["deliveries"][0]


def test_send_counts_the_exposure_and_the_delivery(hub):
    key = publish_item(hub)
    rid = uniq("rcpt-")
    d = send_one(hub, key, rid)
    wait_for(lambda: hub.delivery.ok("GET", "/v1/deliveries/" + d["id"])["status"] == "delivered",
             "the delivery")
    wait_for(lambda: row(report(hub, key), "control")["deliveries"] == 1, "the delivery count")
    c = row(report(hub, key), "control")
    assert_counters(c, exposures=1, deliveries=1)
    assert_counters(c["by_channel"]["email"], exposures=1, deliveries=1)
    # an open naming the delivery takes its item, variant and channel
    accept(hub, [{"type": "open", "subject": rid, "delivery_id": d["id"]}])
    assert_counters(row(report(hub, key), "control")["by_channel"]["email"], exposures=1,
                    deliveries=1, opens=1)
    # ... and may not contradict it
    r = post_events(hub, [{"type": "click", "subject": rid, "delivery_id": d["id"],
                           "item": publish_item(hub)}], expect=422)
    assert_problem(r, 422, paths=["/0/item"])
    # exposure, delivery and open are one touchpoint (same item and channel)
    act = new_action(hub)
    accept(hub, [ev("conversion", rid, action=act, value=10)])
    for model in ("linear", "first_touch"):
        assert credits(attribution(hub, act, model=model)) == {(key, "email"): (1.0, 10.0)}


# ---- attribution ---------------------------------------------------------------------------------

def attribution(h, action, **params):
    return h.delivery.ok("GET", "/v1/reports/attribution", params=dict(params, action=action))


def credits(att):
    """{(item, channel): (conversions, value)}; and the credits sum to the conversions."""
    out = {}
    for c in att["credits"]:
        k = (c["item"], c["channel"])
        assert k not in out, att
        out[k] = (c["conversions"], c["value"])
    assert sum(v[0] for v in out.values()) == pytest.approx(att["conversions"], rel=1e-12)
    return out


def assert_credits(att, want):
    """The credits with a share > 0 are want's. (Touchpoints that get no share, as all but one
    under first_touch and last_touch, are listed with 0 and value 0.)"""
    got = credits(att)
    assert all(v == (0.0, 0.0) for k, v in got.items() if k not in want), (got, want)
    got = {k: v for k, v in got.items() if v[0] != 0}
    assert set(got) == set(want), (got, want)
    for k, (share, value) in want.items():
        assert got[k][0] == pytest.approx(share, rel=1e-12, abs=1e-15), (k, got, want)
        assert got[k][1] == pytest.approx(value, rel=1e-12, abs=1e-12), (k, got, want)


@pytest.fixture(scope="module")
def journey(hub):
    """The worked example of docs/reports.md. Conversion time T (two days ago). Subject A: an
    email delivered of item X at T-10d, an sms click of Y at T-3d, a web exposure of Z at T-1d,
    the conversion at T with value 100, and a web exposure of W after it (not counted).
    Subject B: an email exposure of X at T-31d (outside the default 30-day window) and a
    conversion at T-1h with value 50."""
    x, y, z, w = (publish_item(hub) for _ in range(4))
    act = new_action(hub)
    T = utcnow() - 2 * DAY
    a, b = uniq("A-"), uniq("B-")
    accept(hub, [
        ev("delivered", a, x, channel="email", ts=rfc(T - 10 * DAY)),
        ev("click", a, y, channel="sms", ts=rfc(T - 3 * DAY)),
        ev("exposure", a, z, channel="web", ts=rfc(T - DAY)),
        ev("exposure", a, w, channel="web", ts=rfc(T + HOUR)),
        ev("conversion", a, action=act, value=100, ts=rfc(T)),
        ev("exposure", b, x, channel="email", ts=rfc(T - 31 * DAY)),
        ev("conversion", b, action=act, value=50, ts=rfc(T - HOUR)),
    ])
    return {"x": x, "y": y, "z": z, "w": w, "act": act, "T": T}


def decay(ages_days, half_life):
    w = [2 ** (-a / half_life) for a in ages_days]
    return [v / sum(w) for v in w]


def test_attribution_models_worked_example(hub, journey):
    X, Y, Z = (journey["x"], "email"), (journey["y"], "sms"), (journey["z"], "web")
    NONE = (None, None)  # B: no touchpoint in the window
    td = decay([10, 3, 1], 7)
    expected = {
        "first_touch": {X: 1.0, Y: 0.0, Z: 0.0},
        "last_touch": {X: 0.0, Y: 0.0, Z: 1.0},
        "linear": {X: 1 / 3, Y: 1 / 3, Z: 1 / 3},
        "time_decay": {X: td[0], Y: td[1], Z: td[2]},
        "position": {X: 0.4, Y: 0.2, Z: 0.4},
    }
    for model, shares in expected.items():
        att = attribution(hub, journey["act"], model=model)
        assert att["action"] == journey["act"] and att["model"] == model
        assert att["window_days"] == 30 and att["from"] is None and att["to"] is None
        assert att["conversions"] == 2 and att["value"] == pytest.approx(150.0)
        assert ("half_life_days" in att) == (model == "time_decay"), att
        want = {k: (s, 100 * s) for k, s in shares.items() if s > 0}
        want[NONE] = (1.0, 50.0)
        # first and last touch name only the credited touchpoint
        assert_credits(att, want)
        assert att["credits"][0]["conversions"] >= att["credits"][-1]["conversions"]
    assert attribution(hub, journey["act"])["model"] == "last_touch"  # the default
    # the 40/20/40 split of position by hand, and time decay's numbers by hand
    assert td == pytest.approx([0.18389, 0.36778, 0.44833], abs=1e-5)


def test_attribution_time_decay_half_life(hub, journey):
    att = attribution(hub, journey["act"], model="time_decay", half_life_days=2)
    assert att["half_life_days"] == 2
    td = decay([10, 3, 1], 2)
    assert_credits(att, {(journey["x"], "email"): (td[0], 100 * td[0]),
                         (journey["y"], "sms"): (td[1], 100 * td[1]),
                         (journey["z"], "web"): (td[2], 100 * td[2]),
                         (None, None): (1.0, 50.0)})


def test_attribution_window(hub, journey):
    X, Y, Z = (journey["x"], "email"), (journey["y"], "sms"), (journey["z"], "web")
    # 45 days reach B's exposure of X
    assert_credits(attribution(hub, journey["act"], model="first_touch", window_days=45),
                   {X: (2.0, 150.0)})
    # 5 days drop A's email of T-10d
    assert_credits(attribution(hub, journey["act"], model="linear", window_days=5),
                   {Y: (0.5, 50.0), Z: (0.5, 50.0), (None, None): (1.0, 50.0)})
    assert_credits(attribution(hub, journey["act"], model="first_touch", window_days=1),
                   {Z: (1.0, 100.0), (None, None): (1.0, 50.0)})


def test_attribution_window_edges(hub):
    """A touchpoint exactly window_days before the conversion counts, one second earlier does
    not; one at the conversion's own second counts."""
    x, y = publish_item(hub), publish_item(hub)
    act = new_action(hub)
    T = utcnow() - DAY
    s = uniq("edge-")
    accept(hub, [ev("click", s, x, channel="email", ts=rfc(T - 7 * DAY - datetime.timedelta(
                     seconds=1))),
                 ev("click", s, y, channel="email", ts=rfc(T - 7 * DAY)),
                 ev("conversion", s, action=act, ts=rfc(T))])
    assert_credits(attribution(hub, act, model="first_touch", window_days=7),
                   {(y, "email"): (1.0, 0.0)})
    assert_credits(attribution(hub, act, model="first_touch", window_days=8),
                   {(x, "email"): (1.0, 0.0)})
    s2 = uniq("same-")
    act2 = new_action(hub)
    accept(hub, [ev("exposure", s2, x, channel="web", ts=rfc(T)),
                 ev("conversion", s2, action=act2, ts=rfc(T))])
    assert_credits(attribution(hub, act2), {(x, "web"): (1.0, 0.0)})


def test_attribution_collapses_runs_of_the_same_item_and_channel(hub):
    """D: X email delivered T-6d, opened T-5d, clicked T-4d; Y sms delivered T-3d; X email
    clicked T-2d; conversion at T (value 90). A run of the same item and channel is one
    touchpoint timed at its last: [X/email T-4d, Y/sms T-3d, X/email T-2d]. Another subject's
    touchpoint in between (E: Y sms T-4.5d) does not break D's run. F: X by email then X by sms
    (same item, other channel) stays two touchpoints."""
    x, y = publish_item(hub), publish_item(hub)
    act = new_action(hub)
    T = utcnow() - DAY
    d, e, f = uniq("D-"), uniq("E-"), uniq("F-")
    accept(hub, [
        ev("delivered", d, x, channel="email", ts=rfc(T - 6 * DAY)),
        ev("open", d, x, channel="email", ts=rfc(T - 5 * DAY)),
        ev("click", e, y, channel="sms", ts=rfc(T - 4.5 * DAY)),
        ev("click", d, x, channel="email", ts=rfc(T - 4 * DAY)),
        ev("delivered", d, y, channel="sms", ts=rfc(T - 3 * DAY)),
        ev("click", d, x, channel="email", ts=rfc(T - 2 * DAY)),
        ev("conversion", d, action=act, value=90, ts=rfc(T)),
    ])
    XE, YS = (x, "email"), (y, "sms")
    assert_credits(attribution(hub, act, model="linear"), {XE: (2 / 3, 60.0), YS: (1 / 3, 30.0)})
    assert_credits(attribution(hub, act, model="position"), {XE: (0.8, 72.0), YS: (0.2, 18.0)})
    assert_credits(attribution(hub, act, model="first_touch"), {XE: (1.0, 90.0)})
    td = decay([4, 3, 2], 7)  # the first run timed at its last touch (4 days), not its first
    assert_credits(attribution(hub, act, model="time_decay"),
                   {XE: (td[0] + td[2], 90 * (td[0] + td[2])), YS: (td[1], 90 * td[1])})

    act2 = new_action(hub)
    accept(hub, [ev("click", f, x, channel="email", ts=rfc(T - 3 * DAY)),
                 ev("click", f, x, channel="sms", ts=rfc(T - 2 * DAY)),
                 ev("conversion", f, action=act2, value=10, ts=rfc(T))])
    assert_credits(attribution(hub, act2, model="linear"),
                   {(x, "email"): (0.5, 5.0), (x, "sms"): (0.5, 5.0)})


def test_attribution_counts_conversion_events_in_range(hub, journey):
    """from/to select conversions by their time; each conversion event counts (a subject that
    converts twice is two conversions here, unlike the item report)."""
    T = journey["T"]
    att = attribution(hub, journey["act"], **{"from": rfc(T - datetime.timedelta(minutes=30))})
    assert att["conversions"] == 1 and att["value"] == 100
    assert att["from"].startswith(rfc(T - datetime.timedelta(minutes=30))[:19])
    assert_credits(att, {(journey["z"], "web"): (1.0, 100.0)})
    att = attribution(hub, journey["act"], to=rfc(T - datetime.timedelta(minutes=30)))
    assert att["conversions"] == 1 and att["value"] == 50
    assert_credits(att, {(None, None): (1.0, 50.0)})
    assert attribution(hub, journey["act"], **{"from": rfc(T + HOUR)})["conversions"] == 0

    x = publish_item(hub)
    act = new_action(hub)
    s = uniq("twice-")
    accept(hub, [ev("click", s, x, channel="email", ts=rfc(T - DAY)),
                 ev("conversion", s, x, action=act, value=10, ts=rfc(T)),
                 ev("conversion", s, x, action=act, value=15, ts=rfc(T + HOUR))])
    att = attribution(hub, act)
    assert att["conversions"] == 2 and att["value"] == 25
    assert_credits(att, {(x, "email"): (2.0, 25.0)})
    assert_counters(row(report(hub, x), "control"), clicks=1, conversions=1, value=25.0)
    none = attribution(hub, "action/nobody-converts")
    assert none["conversions"] == 0 and none["credits"] == []


@pytest.mark.parametrize("params", [
    {}, {"action": "open-account"}, {"action": ""}, {"model": "u_shaped"},
    {"model": "Linear"}, {"window_days": "0"}, {"window_days": "366"}, {"window_days": "1.5"},
    {"window_days": "abc"}, {"half_life_days": "0"}, {"half_life_days": "-1"},
    {"from": "last week"}, {"from": "2024-03-02", "to": "2024-03-01"}, {"days": "3"}],
    ids=lambda p: "&".join("%s=%s" % kv for kv in p.items()) or "no action")
def test_attribution_bad_params_400(hub, basic, params):
    q = dict(params)
    if q and "action" not in q:
        q["action"] = basic["action"]
    assert_problem(hub.delivery.get("/v1/reports/attribution", params=q), 400)
