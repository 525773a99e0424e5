"""Seeded, structure-aware mutation of every JSON body the API takes (API.md): items (PUT, PATCH,
publish, unpublish, rollback), journeys, render, send, events, webhooks, taxonomy terms,
locales and tokens; plus the POST routes that take no body (delivery retry, inbox read) and
the XLIFF import, which must refuse JSON.

Each endpoint starts from a valid body, checked to be accepted. Then, at every JSON path of that
body (round robin over the paths in seeded order, at most OMNIHUB_SHAPES_CAP mutations per
endpoint besides the top-level ones), one of: replace the value (null, true, 0, -1, 2**63-1,
-2**63, 1e308, -0.5, "", a 70 KB string, [], {}, an array and an object nested 200 deep, odd but
valid Unicode, printf and Liquid syntax, a string of emoji that any byte-count truncation cuts
in the middle of a character); splice in JSON text the parser must refuse (2**63, 1e400, NaN,
"\\u0000", lone surrogates, a bad escape, overlong or surrogate UTF-8, a duplicate member...);
delete the member; add an unknown member (ASCII, and a long emoji name); turn an object into an
array or back; wrap the value in an array. At the top: every non-object body, and the valid
body empty, cut, doubled, with a BOM, trailing bytes. Per endpoint, bodies at the limits
("edges": zero weights, full holdout, 50 variants, Liquid filter arithmetic at INT64_MIN, "at"
a year ahead...). Every item draft that is accepted is then published, rendered in each
channel and read, so the plugins and the template engine see the mutated content.

Every answer: no 5xx (nothing here is a shutdown or a full store, so 503 and 507 are failures
too) and only 2xx, 400, 404, 409 or 422; a 4xx is application/problem+json whose "status" is
the HTTP status, whose "errors" (when present) are not empty and match the "has N problems" of
the detail; text the parser must refuse is 400; valid JSON of a type the field cannot hold, an
unknown member or a missing required member is 422 with an error pointing at (or around) the
mutated member; in an events batch, every event is accepted or rejected with a reason. After
each endpoint's batch the server is alive, /healthz answers 200 and its stderr holds no
sanitizer report. A rejected write changes nothing: the resource (with its audit trail,
versions, schedule, the changes feed, the delivery and token lists or the item report, as fits)
is read before and after every run of rejected mutations; a difference is replayed one mutation
at a time to name the culprit.

OMNIHUB_SHAPES_SEED and OMNIHUB_SHAPES_CAP (a large CAP sends every mutation) change the run;
every failure message names the seed, the endpoint, the mutation, the body and the answer.
"""
import copy
import datetime
import json
import os
import random
import re
import time

import pytest
import requests

from helpers import assert_problem, healthy, sanitizer_findings, seed, uniq

SEED = int(os.environ.get("OMNIHUB_SHAPES_SEED", "20270412"))
CAP = int(os.environ.get("OMNIHUB_SHAPES_CAP", "450"))
HTTP_TIMEOUT = 10  # seconds: a hang is a failure
OK = (200, 201, 202, 204)
# What a mutated body may be answered with: success, malformed (400), a name that does not
# exist (404), a conflict (409), a broken rule (422). 401, 403, 405, 412, 415, 413 or any 5xx
# would mean the body confused the routing, the auth or the framing.
ALLOWED = set(OK) | {400, 404, 409, 422}
UNKNOWN = "__unknown_member__"

# ---- values ------------------------------------------------------------------------------------


def _deep(n, make):
    v = make(None)
    for _ in range(n - 1):
        v = make(v)
    return v


BIG = "Grüße-😀-" * 5514  # 70 KB of UTF-8 (13 bytes a round), multi-byte characters
DEEP_ARRAY = _deep(200, lambda v: [] if v is None else [v])
DEEP_OBJECT = _deep(200, lambda v: {} if v is None else {"a": v})
ODD = "\ufeff\uffff\U0010ffff\u202e e\u0301\u200d\ud7ff\u0085"  # valid, if unusual
FMT = "%s%n%x%p%% {{ x }}{% if %}"
# Cut at any of the usual buffer sizes (40, 64, 140, 200, 256, 300 bytes...), this splits a
# character: a server that truncates what it echoes must not answer invalid UTF-8.
EMOJI = "a" + "😀" * 100
EMOJI_KEY = "ü" + "😀" * 70  # the same, as a member name

# Values the parser accepts: (label, value).
VALUES = [("null", None), ("true", True), ("0", 0), ("-1", -1), ("2**63-1", 2 ** 63 - 1),
          ("-2**63", -2 ** 63), ("1e308", 1e308), ("-0.5", -0.5), ('""', ""),
          ("70KB string", BIG), ("[]", []), ("{}", {}), ("200-deep array", DEEP_ARRAY),
          ("200-deep object", DEEP_OBJECT), ("odd unicode", ODD), ("format string", FMT),
          ("emoji string", EMOJI)]

# JSON text the parser must refuse (400), spliced in where the value was: (label, bytes).
RAW = [("2**63", b"9223372036854775808"), ("-2**63-1", b"-9223372036854775809"),
       ("1e400", b"1e400"), ("NaN", b"NaN"), ("NUL escape", b'"a\\u0000b"'),
       ("lone high surrogate", b'"\\ud800"'), ("lone low surrogate", b'"x\\udc00"'),
       ("high surrogate then A", b'"\\ud800\\u0041"'), ("bad escape", b'"\\uZZZZ"'),
       ("overlong UTF-8", b'"\xc0\xaf"'), ("UTF-8 of a surrogate", b'"\xed\xa0\x80"'),
       ("bytes ff fe", b'"\xff\xfe"'), ("duplicate member", b'{"k": 1, "k": 2}'),
       ("single quotes", b"'x'"), ("comment", b"/* x */ 1")]

# Whole-body bytes: (label, bytes -> bytes, expect); "empty" is judged per endpoint.
FRAMES = [("empty body", lambda b: b"", "empty"),
          ("whitespace only", lambda b: b" \r\n\t ", "parse"),
          ("byte order mark first", lambda b: b"\xef\xbb\xbf" + b, None),
          ("trailing garbage", lambda b: b + b" x", "parse"),
          ("two documents", lambda b: b + b" " + b, "parse"),
          ("trailing CRLF", lambda b: b + b"\r\n", None),
          ("cut in half", lambda b: b[:len(b) // 2], "parse"),
          ("NUL byte after", lambda b: b + b"\x00", "parse")]


def jtype(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    return "array" if isinstance(v, list) else "object"


NUM = {"int", "float"}
STR = {"string"}
STR_NULL = {"string", "null"}
OBJ = {"object"}
ARR = {"array"}
ANY = "any"

# ---- mutations ---------------------------------------------------------------------------------


class Raw:
    """A placeholder for JSON text that json.dumps cannot write."""

    def __init__(self, text):
        self.text = text


def pointer(path):
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path) \
        if path else "(root)"


def walk(doc, path=()):
    """(path, value) of every node, root first."""
    yield path, doc
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from walk(v, path + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from walk(v, path + (i,))


def encode(doc):
    """The body bytes: json.dumps, with every Raw spliced in."""
    raws = []

    def sub(v):
        if isinstance(v, Raw):
            raws.append(v.text)
            return "@@raw%d@@" % (len(raws) - 1)
        if isinstance(v, dict):
            return {k: sub(x) for k, x in v.items()}
        if isinstance(v, list):
            return [sub(x) for x in v]
        return v

    out = json.dumps(sub(doc)).encode()
    for i, text in enumerate(raws):
        out = out.replace(b'"@@raw%d@@"' % i, text)
    return out


def set_at(doc, path, fn):
    """doc with the node at path replaced by fn(node); fn returning DELETE removes it."""
    if not path:
        return fn(doc)
    parent = doc
    for p in path[:-1]:
        parent = parent[p]
    last = path[-1]
    new = fn(parent[last] if isinstance(parent, list) or last in parent else None)
    if new is DELETE:
        del parent[last]
    else:
        parent[last] = new
    return doc


DELETE = object()


class Mutation:
    """One change to the valid body. expect: "parse" (400), "reject" (422, or for events the
    event rejected), or None (any allowed answer)."""

    def __init__(self, kind, path, label, fn, expect, raw=None):
        self.kind, self.path, self.label, self.fn, self.expect = kind, path, label, fn, expect
        self.raw = raw  # bytes -> bytes on the encoded valid body, instead of fn

    @property
    def desc(self):
        return "%s at %s%s" % (self.kind, pointer(self.path),
                               " -> " + self.label if self.label else "")

    def body(self, base):
        if self.raw is not None:
            return self.raw(encode(base))
        return encode(set_at(copy.deepcopy(base), self.path, self.fn))


def swapped(v):
    if isinstance(v, dict):
        return list(v.values())
    return {str(i): x for i, x in enumerate(v)}


class Endpoint:
    """A JSON route with a valid body and what its fields may hold.

    types: {pattern: set of jtype names or ANY}; a pattern is a path tuple where "*" matches
    one segment and a trailing "**" any rest. required: patterns whose removal must be 422.
    free: patterns of objects that take any member. snapshot() -> state a rejected write must
    keep; restore(resp) puts the resource back after an accepted write; ledger() -> a set that
    only accepted writes grow, each by ids(resp). follow() -> [(what, response)]: requests
    made after an accepted write, checked like the others. edges: [(label, fn(body))], valid
    or nearly valid bodies at the limits, always sent. empty_ok: no body is a request too."""

    def __init__(self, name, method, path, client, body, types, required=(), free=(),
                 content_type="application/json", snapshot=None, restore=None, ledger=None,
                 ids=None, fresh=None, merge_patch=False, events=False, follow=None,
                 edges=(), empty_ok=False):
        self.name, self.method, self.path, self.client = name, method, path, client
        self.base, self.types, self.required, self.free = body, types, required, free
        self.content_type = content_type
        self.snapshot, self.restore, self.ledger, self.ids = snapshot, restore, ledger, ids
        self.fresh = fresh or (lambda b: b)
        self.merge_patch, self.events, self.follow = merge_patch, events, follow
        self.edges, self.empty_ok = edges, empty_ok

    def allowed(self, path):
        for pat, t in self.types.items():
            if match(pat, path):
                return t
        return None

    def is_free(self, path):
        return any(match(p, path) for p in self.free)

    def expect_value(self, path, value, parent):
        """None or "reject" for value written at path."""
        if not path:
            top = "array" if self.events else "object"
            return "reject" if jtype(value) != top else None
        if self.merge_patch and value is None and isinstance(parent, dict):
            return None  # a merge patch deletes the member: judged elsewhere
        t = self.allowed(path)
        if t is None or t == ANY:
            return None
        return "reject" if jtype(value) not in t else None

    def mutations(self, rng):
        groups = {}
        nodes = list(walk(self.base))
        parents = {}
        for path, v in nodes:
            if isinstance(v, (dict, list)):
                kids = v.items() if isinstance(v, dict) else enumerate(v)
                for k, _ in kids:
                    parents[path + (k,)] = v
        for path, v in nodes:
            parent = parents.get(path)
            g = groups.setdefault(path, [])
            for label, val in VALUES:
                g.append(Mutation("replace", path, label, lambda _o, x=val: copy.deepcopy(x),
                                  self.expect_value(path, val, parent)))
            for label, text in (RAW if not path else rng.sample(RAW, 2)):
                g.append(Mutation("splice", path, label, lambda _o, t=text: Raw(t), "parse"))
            if path:
                g.append(Mutation("wrap", path, "[value]", lambda o: [o],
                                  self.expect_value(path, [v], parent)))
                if isinstance(parent, dict):
                    req = any(match(p, path) for p in self.required)
                    g.append(Mutation("delete", path, "", lambda _o: DELETE,
                                      "reject" if req and not self.merge_patch else None))
                else:
                    g.append(Mutation("delete", path, "element", lambda _o: DELETE, None))
            else:
                g.append(Mutation("wrap", path, "[body]", lambda o: [o],
                                  None if self.events else "reject"))
            if isinstance(v, dict):
                for name in (UNKNOWN, EMOJI_KEY):
                    g.append(Mutation("add", path, "member " + name[:8],
                                      lambda o, k=name: dict(o, **{k: "surprise"}),
                                      None if self.is_free(path) else "reject"))
            if isinstance(v, (dict, list)) and (v or not path):
                sw = swapped(v)
                g.append(Mutation("swap", path, "object<->array", lambda o: swapped(o),
                                  self.expect_value(path, sw, parent)))
        order = list(groups)
        rng.shuffle(order)
        for path in order:
            rng.shuffle(groups[path])
        # The root first: every kind of non-object top level is always sent.
        picked = groups.pop(()) + [Mutation("edge", (), label, fn, None)
                                   for label, fn in self.edges]
        for label, fn, expect in FRAMES:
            if expect == "empty":
                expect = None if self.empty_ok else "parse"
            picked.append(Mutation("bytes", (), label, None, expect, raw=fn))
        order.remove(())
        while len(picked) < CAP and any(groups[p] for p in order):
            for p in order:
                if groups[p] and len(picked) < CAP:
                    picked.append(groups[p].pop())
        return picked


def match(pat, path):
    if pat and pat[-1] == "**":
        return len(path) >= len(pat) - 1 and all(
            a == "*" or a == b for a, b in zip(pat[:-1], path))
    return len(pat) == len(path) and all(a == "*" or a == b for a, b in zip(pat, path))


# ---- running ----------------------------------------------------------------------------------


def context(ep, m, body, r=None):
    shown = body[:300] + (b"...(%d bytes)" % len(body) if len(body) > 300 else b"")
    out = "seed=%d endpoint=%s %s %s: %s\n  body: %r" % (SEED, ep.name, ep.method, ep.path,
                                                          m.desc if m else "valid body", shown)
    if r is not None:
        out += "\n  answer: %d %s %s" % (r.status_code, r.headers.get("Content-Type"),
                                         r.text[:400])
    return out


def send(h, ep, body, m=None):
    api = ep.client
    headers = {"Content-Type": ep.content_type}
    if api.token is not None:
        headers["Authorization"] = "Bearer " + api.token
    try:
        return api.s.request(ep.method, api.base + ep.path, data=body, headers=headers,
                             timeout=HTTP_TIMEOUT, allow_redirects=False)
    except requests.RequestException as e:
        alive = h.server.alive()
        raise AssertionError("%s\n  no answer (%s); server %s; stderr tail:\n%s" % (
            context(ep, m, body), e, "alive" if alive else "DEAD",
            h.server.stderr()[-4000:])) from None


def check_answer(h, ep, m, body, r):
    where = context(ep, m, body, r)
    assert r.status_code < 500, "server error\n" + where
    assert r.status_code in ALLOWED, "unexpected status\n" + where
    if 400 <= r.status_code < 500:
        try:
            doc = assert_problem(r, r.status_code)
        except (AssertionError, ValueError) as e:
            raise AssertionError("not a problem+json answer: %s\n%s" % (e, where)) from None
        # An "errors" member with nothing in it means the server lost the problems it found.
        assert doc.get("errors", [None]) or doc.get("errors_dropped"), "errors lost\n" + where
        counted = re.search(r"\bhas (\d+) problems?\b", doc["detail"])
        if counted:  # "the item has 3 problems": the errors list holds them all
            listed = len(doc.get("errors", [])) + doc.get("errors_dropped", 0)
            assert listed == int(counted.group(1)), "errors lost\n" + where
    elif r.status_code != 204:
        try:
            r.json()
        except ValueError:
            raise AssertionError("a success that is not JSON\n" + where) from None
    if ep.events and r.status_code == 200:
        try:
            sent = json.loads(body)
        except ValueError:
            sent = None
        if isinstance(sent, list):  # every event is either accepted or rejected with a reason
            got = r.json()
            assert got["accepted"] + len(got["rejected"]) == len(sent), \
                "events neither accepted nor rejected\n" + where
    if m is None:
        return
    if m.expect == "parse":
        assert r.status_code == 400, "the parser must refuse this text (400)\n" + where
    elif m.expect == "reject":
        if ep.events and r.status_code == 200 and len(m.path) >= 1:
            idx = {e.get("index") for e in r.json().get("rejected", [])}
            assert m.path[0] in idx, "event %s must be rejected\n%s" % (m.path[0], where)
        else:
            assert r.status_code == 422, "a body that breaks a rule must be 422\n" + where
            errors = [e["path"] for e in r.json().get("errors", [])]
            here = pointer(m.path) if m.path else ""
            assert not errors or any(here.startswith(e) or e.startswith(here) for e in errors), \
                "no error points at %s or around it: %s\n%s" % (here or "(root)", errors, where)


MAX_FAILURES = 12  # answers that break the contract, collected before the batch gives up


def run_endpoint(h, ep):
    """Sends the valid body, then the seeded mutations; returns (requests, accepted).
    Answers that break the contract are collected (up to MAX_FAILURES) and failed together;
    a dead server, a hang or a changed state fails at once."""
    rng = random.Random("%d:%s" % (SEED, ep.name))
    valid = encode(ep.fresh(copy.deepcopy(ep.base)))
    r = send(h, ep, valid)
    assert r.status_code in OK, "the valid body is refused\n" + context(ep, None, valid, r)
    sent = 1
    if ep.restore:
        ep.restore(r)
    snap = ep.snapshot() if ep.snapshot else None
    ledger0 = ep.ledger() if ep.ledger else None
    grown = set(ep.ids(r)) if ep.ids else set()
    pending = []  # rejected since snap: (mutation, body)
    accepted = 0
    failures = []
    for m in ep.mutations(rng):
        if len(failures) >= MAX_FAILURES:
            break
        body = m.body(ep.fresh(copy.deepcopy(ep.base)))
        if ep.snapshot and pending and may_succeed(ep, m):
            # This one may be accepted and change the state: look at the rejected ones first.
            verify_unchanged(h, ep, snap, pending)
            pending = []
        r = send(h, ep, body, m)
        sent += 1
        try:
            check_answer(h, ep, m, body, r)
        except AssertionError as e:
            failures.append(str(e))
        if r.status_code in OK:
            accepted += 1
            if ep.ids:
                grown |= set(ep.ids(r))
            if ep.follow:
                for what, r2 in ep.follow():
                    sent += 1
                    try:
                        check_answer(h, ep, None, body, r2)
                    except AssertionError as e:
                        failures.append("%s, after %s: %s" % (what, m.desc, e))
            if ep.snapshot:
                if ep.restore:
                    ep.restore(r)
                snap, pending = ep.snapshot(), []
        else:
            pending.append((m, body))
    if ep.snapshot:
        verify_unchanged(h, ep, snap, pending)
    if ep.ledger:
        extra = ep.ledger() - ledger0 - grown
        assert not extra, "seed=%d endpoint=%s: rejected requests created %s" % (
            SEED, ep.name, sorted(extra)[:10])
    assert_server_fine(h, ep)
    print("%s: %d requests, %d accepted (seed %d)" % (ep.name, sent, accepted, SEED))
    if failures:
        raise AssertionError("seed=%d endpoint=%s: %d answers break the contract%s:\n\n%s" % (
            SEED, ep.name, len(failures), " (stopped at the limit)" if len(failures) >=
            MAX_FAILURES else "", "\n\n".join(failures)))
    return sent, accepted


def may_succeed(ep, m):
    """Whether m may be answered 2xx (and change the state): events take the good events of
    a batch with a bad one."""
    return m.expect is None or (ep.events and m.expect == "reject")


def verify_unchanged(h, ep, snap, pending):
    now = ep.snapshot()
    if now == snap:
        return
    # Name the culprit: put the resource back and replay the rejected bodies one by one.
    culprit = "not reproduced one at a time"
    if ep.restore:
        ep.restore(None)
    before = ep.snapshot()
    for m, body in pending:
        send(h, ep, body, m)
        after = ep.snapshot()
        if after != before:
            culprit = context(ep, m, body)
            break
    raise AssertionError("seed=%d endpoint=%s: rejected writes changed the state (%d rejected "
                         "since the last look)\n  culprit: %s\n  before: %s\n  after:  %s" % (
                             SEED, ep.name, len(pending), culprit, str(snap)[:700],
                             str(now)[:700]))


def assert_server_fine(h, ep):
    assert h.server.alive(), "seed=%d: the server died during %s:\n%s" % (
        SEED, ep.name, h.server.stderr()[-4000:])
    assert healthy(h.base), "seed=%d: /healthz failed after %s" % (SEED, ep.name)
    found = sanitizer_findings(h.server.stderr())
    assert not found, "seed=%d: sanitizer report during %s:\n%s" % (
        SEED, ep.name, h.server.stderr()[-4000:])


# ---- the hub and the valid bodies ---------------------------------------------------------------


@pytest.fixture(scope="module")
def sh(fresh_hub):
    """A server of this module's own (mutations create tokens, locales, deliveries), with the
    base locales and terms; stopped at the end of the module, with no sanitizer report."""
    return seed(fresh_hub)


TAGS = ["journey/onboarding", "campaign/spring", "product/accounts/savings", "segment/vip",
        "action/open-account"]


def item_doc(key):
    """The item of API.md (without the block reference), valid and publishable."""
    return {
        "key": key, "kind": "message", "title": "Welcome to the bank", "tags": list(TAGS),
        "variants": [
            {"id": "control", "weight": 50, "content": {
                "en": {"email": {"subject": "Welcome, {{ first_name | default: 'friend' }}",
                                 "preheader": "Your account is ready",
                                 "html": "<h1>Hello {{ first_name }}</h1>"},
                       "sms": {"text": "Welcome to the bank, {{ first_name }}! Reply STOP."},
                       "mobile": {"title": "Welcome", "body": "Your account is ready",
                                  "deep_link": "bank://home"},
                       "web": {"title": "Welcome", "html": "<p>Open a savings account</p>"}},
                "de": {"email": {"subject": "Willkommen, {{ first_name }}"}}}},
            {"id": "short", "weight": 50, "content": {"en": {"email": {"subject": "You're in"}}}},
            {"id": "vip", "audience": {"any": ["segment/vip"]},
             "content": {"en": {"email": {"subject": "Welcome back"}}}}],
        "experiment": {"status": "running", "holdout_percent": 5, "allocation": "fixed"},
        "publish_at": None, "unpublish_at": None}


ITEM_TYPES = {
    ("key",): STR, ("kind",): STR, ("title",): STR, ("tags",): ARR, ("tags", "*"): STR,
    ("variants",): ARR, ("variants", "*"): OBJ, ("variants", "*", "id"): STR,
    ("variants", "*", "weight"): NUM, ("variants", "*", "audience"): OBJ,
    ("variants", "*", "audience", "*"): ARR, ("variants", "*", "audience", "*", "*"): STR,
    ("variants", "*", "content"): OBJ, ("variants", "*", "content", "*"): OBJ,
    ("variants", "*", "content", "*", "*"): OBJ, ("variants", "*", "content", "*", "*", "*"): STR,
    ("experiment",): OBJ, ("experiment", "status"): STR, ("experiment", "allocation"): STR,
    ("experiment", "holdout_percent"): NUM, ("experiment", "seed"): STR,
    ("publish_at",): STR_NULL, ("unpublish_at",): STR_NULL,
}


def _variants(doc, fn):
    for v in doc["variants"]:
        fn(v)
    return doc


def _many_variants(doc):
    base = doc["variants"][0]
    doc["variants"] = [base] + [
        {"id": ("v%d-" % i + "x" * 64)[:64], "weight": 1e-300,
         "content": {"en": {"email": {"subject": "S%d {{ first_name }}" % i}}}}
        for i in range(49)]
    return doc


def _set(path, value):
    return lambda doc: set_at(doc, path, lambda _o: copy.deepcopy(value))


# Items at the limits of what the form allows: the experiment arithmetic (zero and tiny
# weights, full holdout, 50 variants), lengths counted in bytes of multi-byte text.
ITEM_EDGES = [
    ("all weights 0", lambda d: _variants(d, lambda v: v.update(weight=0))),
    ("weights at the maximum", lambda d: _variants(d, lambda v: v.update(weight=10000))),
    ("holdout 100", _set(("experiment", "holdout_percent"), 100)),
    ("holdout 99.999 and bandit", lambda d: _set(("experiment",), {
        "status": "running", "holdout_percent": 99.999, "allocation": "bandit"})(d)),
    ("bandit with zero weights", lambda d: _set(("experiment", "allocation"), "bandit")(
        _variants(d, lambda v: v.update(weight=0)))),
    ("concluded, the audience variant wins", _set(("experiment",), {
        "status": "concluded", "winner": "vip", "allocation": "fixed"})),
    ("paused", _set(("experiment", "status"), "paused")),
    ("50 variants of weight 1e-300", _many_variants),
    ("51 variants", lambda d: _many_variants(d)["variants"].append(
        {"id": "one-more", "content": {"en": {"email": {"subject": "x"}}}}) or d),
    ("seed of 64 bytes of emoji", _set(("experiment", "seed"), "😀" * 16)),
    ("seed of 65 bytes", _set(("experiment", "seed"), "a" + "😀" * 16)),
    ("title of 500 bytes of 2-byte chars", _set(("title",), "é" * 250)),
    ("title of 501 bytes", _set(("title",), "a" + "é" * 250)),
    ("a locale nobody configured", _set(("variants", 0, "content", "ja"),
                                        {"email": {"subject": "こんにちは"}})),
    ("locale in the wrong case", _set(("variants", 0, "content", "de-at"),
                                      {"email": {"subject": "Servus"}})),
    ("private-use locale", _set(("variants", 0, "content", "x-private"),
                                {"email": {"subject": "x"}})),
    ("publish_at in the past", _set(("publish_at",), "1970-01-01T00:00:00Z")),
    ("unpublish_at before publish_at", lambda d: _set(("unpublish_at",), "2001-01-01T00:00:00Z")(
        _set(("publish_at",), "2002-01-01T00:00:00+14:00")(d))),
    ("leap second", _set(("publish_at",), "2016-12-31T23:59:60Z")),
    ("liquid that loops", _set(("variants", 0, "content", "en", "sms", "text"),
                               "{% for i in (1..100000) %}{% for j in (1..100000) %}x"
                               "{% endfor %}{% endfor %}")),
    ("deeply nested liquid", _set(("variants", 0, "content", "en", "sms", "text"),
                                  "{% if a %}" * 300 + "x" + "{% endif %}" * 300)),
    ("a block render that does not exist", _set(
        ("variants", 0, "content", "en", "email", "html"), "{% render 'blocks/none' %}")),
] + [("liquid " + t, _set(("variants", 0, "content", "en", "sms", "text"), t)) for t in [
    # filters at the edges of their arithmetic and of UTF-8; the render that follows an
    # accepted draft gives them RENDER_ATTRIBUTES
    "{{ name | truncate: 2 }}|{{ name | truncate: 0 }}|{{ name | truncate: -1 }}",
    "{{ name | truncatewords: 0 }}{{ name | truncatewords: -3, '😀' }}",
    "{{ name | reverse }}{{ name | split: '' | reverse | join: '' }}{{ name | capitalize }}",
    "{{ name | upcase }}{{ name | url_encode }}{{ name | escape | strip_html }}",
    "{{ big | plus: 1 }}{{ small | minus: 1 }}{{ small | times: -1 }}{{ big | times: big }}",
    "{{ small | divided_by: -1 }}{{ small | modulo: -1 }}",
    "{{ big | divided_by: 0 }}{{ big | modulo: 0 }}{{ huge | modulo: 0.0 }}",
    "{{ small | abs }}{{ huge | ceil }}{{ huge | floor }}{{ huge | round }}{{ huge | round: 400 }}",
    "{{ huge | times: 10 }}{{ huge | plus: huge }}{{ tiny | divided_by: huge }}",
    "{{ 9223372036854775807 | plus: 1 }}{{ -9223372036854775808 | divided_by: -1 }}",
    "{{ -9223372036854775808 | modulo: -1 }}{{ -9223372036854775808 | abs }}",
    "{{ 1e308 | times: 10 | ceil }}{{ 1e308 | round: -400 }}",
    "{{ big | date: '%Y-%m-%d %H:%M' }}{{ small | date: '%c' }}{{ huge | date: '%s' }}",
    "{{ 'now' | date: '%Y %n %N %Q %%' }}{{ name | date: '%Y' }}",
    "{{ list | first }}{{ list | last }}{{ list | join: name }}{{ list | size }}",
    "{{ name | replace: '', '😀' }}{{ name | remove: '' }}{{ name | split: 'ö' | last }}",
]]

# Recipient attributes for the renders that follow an accepted draft (the liquid edges).
RENDER_ATTRIBUTES = {"first_name": "Jörg", "name": "Jö😀rg é", "big": 2 ** 63 - 1,
                     "small": -2 ** 63, "huge": 1e308, "tiny": 5e-324,
                     "list": ["😀", 1, None, [2], {"a": 1}]}

ITEM_REQUIRED = [("kind",), ("title",), ("variants",), ("variants", "*", "id"),
                 ("variants", "*", "content"), ("variants", "*", "audience", "any")]


def audit_count(h, key):
    return len(h.admin.ok("GET", "/v1/audit", params={"key": key, "limit": 1000})["items"])


def json_and_etag(api, path, params=None):
    r = api.get(path, params=params)
    return r.status_code, r.headers.get("ETag"), r.json() if r.content else None


def item_endpoint(h, method):
    key = uniq("shapes/%s-" % method.lower())
    doc = item_doc(key)
    h.editor.put_item(doc)

    def snapshot():
        return (json_and_etag(h.editor, "/v1/items/" + key, {"status": "draft"}),
                audit_count(h, key))

    def restore(_r):
        h.editor.put_item(doc)

    def follow():
        """Publishes the accepted draft, then renders and reads it: the channel plugins and
        the template engine get the mutated content."""
        r = h.editor.post("/v1/items/%s/publish" % key, {"at": None})
        out = [("publish", r)]
        if r.status_code in OK:
            who = {"id": "cust-1", "segments": ["segment/vip"], "attributes": RENDER_ATTRIBUTES}
            for ch in ("email", "sms", "mobile", "web"):
                out.append(("render " + ch, h.delivery.post("/v1/render", {
                    "item": key, "channel": ch, "locale": "de-AT", "recipient": who})))
            out.append(("content", h.delivery.get("/v1/content/" + key, params={
                "channel": "email", "locale": "de-AT", "subject": "cust-1"})))
        return out

    if method == "PUT":
        return Endpoint("items PUT", "PUT", "/v1/items/" + key, h.editor, doc, ITEM_TYPES,
                        ITEM_REQUIRED, snapshot=snapshot, restore=restore, follow=follow,
                        edges=ITEM_EDGES)
    patch = {"title": "Patched title", "tags": ["campaign/spring", "segment/vip"],
             "experiment": {"status": "paused", "holdout_percent": 10, "seed": "s1"},
             "variants": copy.deepcopy(doc["variants"][:2]), "unpublish_at": None}
    return Endpoint("items PATCH", "PATCH", "/v1/items/" + key, h.editor, patch, ITEM_TYPES,
                    content_type="application/merge-patch+json", snapshot=snapshot,
                    restore=restore, merge_patch=True, follow=follow)


def published_item(h, times=1, holdout_percent=5):
    key = uniq("shapes/pub-")
    doc = item_doc(key)
    doc["experiment"]["holdout_percent"] = holdout_percent
    h.editor.put_item(doc)
    for _ in range(times):
        h.editor.publish(key)
    return key


def version_state(h, key):
    def snapshot():
        return (h.editor.ok("GET", "/v1/items/%s/versions" % key, params={"limit": 1000}),
                h.editor.ok("GET", "/v1/items/%s/schedule" % key),
                json_and_etag(h.preview, "/v1/items/" + key, {"status": "published"}),
                h.delivery.last_change_seq(), audit_count(h, key))
    return snapshot


def cancel(h, key, action):
    r = h.editor.delete("/v1/items/%s/schedule" % key, params={"action": action})
    assert r.status_code in (200, 204, 404), r.text


def _at(delta_s, fmt="%Y-%m-%dT%H:%M:%SZ"):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=delta_s)
    return t.strftime(fmt)


# "at" around its limits: now, the past, a year ahead (allowed) and a day more (not).
AT_EDGES = [(label, _set(("at",), v)) for label, v in [
    ("at the epoch", "1970-01-01T00:00:00Z"), ("at in an hour", _at(3600)),
    ("at in 365 days", _at(365 * 86400)), ("at in 367 days", _at(367 * 86400)),
    ("at year 9999", "9999-12-31T23:59:59Z"), ("at year 0", "0000-01-01T00:00:00Z"),
    ("at with an offset", _at(7200, "%Y-%m-%dT%H:%M:%S.123456789+14:00")),
    ("at a leap second", "2016-12-31T23:59:60Z"), ("at month 13", "2030-13-01T00:00:00Z"),
    ("at without a zone", "2030-01-01T00:00:00"), ("at as a date", "2030-01-01"),
    ("at lower-case", _at(3600, "%Y-%m-%dt%H:%M:%Sz"))]]


def ep_publish(h):
    key = published_item(h)

    def restore(_r):
        cancel(h, key, "publish")
    return Endpoint("publish", "POST", "/v1/items/%s/publish" % key, h.editor, {"at": None},
                    {("at",): STR_NULL}, snapshot=version_state(h, key), restore=restore,
                    edges=AT_EDGES, empty_ok=True)


def ep_unpublish(h):
    key = published_item(h)

    def restore(_r):
        cancel(h, key, "unpublish")
        if h.preview.get("/v1/items/" + key, params={"status": "published"}).status_code == 404:
            h.editor.publish(key)
    return Endpoint("unpublish", "POST", "/v1/items/%s/unpublish" % key, h.editor, {"at": None},
                    {("at",): STR_NULL}, snapshot=version_state(h, key), restore=restore,
                    edges=AT_EDGES, empty_ok=True)


def ep_rollback(h):
    key = published_item(h, times=2)
    return Endpoint("rollback", "POST", "/v1/items/%s/rollback" % key, h.editor, {"version": 1},
                    {("version",): {"int"}}, [("version",)], snapshot=version_state(h, key))


def ep_items_put(h):
    return item_endpoint(h, "PUT")


def ep_items_patch(h):
    return item_endpoint(h, "PATCH")


def resource_endpoint(h, name, api, path, body, types, required, audit_key, extra=None):
    """PUT of an existing resource: compared by GET (plus audit, plus extra())."""
    api.ok("PUT", path, body)

    def snapshot():
        return (json_and_etag(api, path), audit_count(h, audit_key),
                extra() if extra else None)

    def restore(_r):
        api.ok("PUT", path, body)
    return Endpoint(name, "PUT", path, api, body, types, required, snapshot=snapshot,
                    restore=restore)


def ep_locales(h):
    tag = "nl"
    return resource_endpoint(
        h, "locales PUT", h.admin, "/v1/locales/" + tag,
        {"name": "Nederlands", "fallback": "de", "default": False},
        {("name",): STR, ("fallback",): STR_NULL, ("default",): {"bool"}}, [("name",)], tag,
        extra=lambda: h.admin.ok("GET", "/v1/locales", params={"limit": 1000}))


def ep_taxonomy(h):
    term = "product/" + uniq("shapes")
    return resource_endpoint(
        h, "taxonomy PUT", h.admin, "/v1/taxonomy/" + term,
        {"label": "Shapes", "description": "Terms of the shape tests"},
        {("label",): STR, ("description",): STR_NULL}, [("label",)], term)


def ep_journeys(h):
    a, b = published_item(h), published_item(h)
    jid = "journey/" + uniq("shapes")
    h.admin.ok("PUT", "/v1/taxonomy/" + jid, {"label": "Shapes"})
    body = {"title": "Shapes journey",
            "steps": [{"id": "welcome", "item": a, "channels": ["email", "sms"]},
                      {"id": "day-3", "item": b, "channels": ["email"]}]}
    return resource_endpoint(
        h, "journeys PUT", h.editor, "/v1/journeys/" + jid, body,
        {("title",): STR, ("steps",): ARR, ("steps", "*"): OBJ, ("steps", "*", "id"): STR,
         ("steps", "*", "item"): STR, ("steps", "*", "channels"): ARR,
         ("steps", "*", "channels", "*"): STR},
        [("title",), ("steps",), ("steps", "*", "id"), ("steps", "*", "item"),
         ("steps", "*", "channels")], jid)


def ep_webhooks(h):
    wid = uniq("shapes-")
    return resource_endpoint(
        h, "webhooks PUT", h.admin, "/v1/webhooks/" + wid,
        {"url": "http://127.0.0.1:9/hook", "events": ["item.deleted", "item.unpublished"],
         "secret": "s3cret-s3cret-s3cret"},
        {("url",): STR, ("events",): ARR, ("events", "*"): STR, ("secret",): STR},
        [("url",), ("events",), ("secret",)], wid)


def ep_tokens(h):
    def names():
        return {t["name"] for t in h.admin.all_items("/v1/tokens")}

    def fresh(b):
        b["name"] = uniq("shape-tok-")
        return b

    def ids(r):
        return {r.json()["name"]} if r.status_code in OK else set()
    return Endpoint("tokens POST", "POST", "/v1/tokens", h.admin,
                    {"name": "x", "role": "editor", "channels": ["email"], "tags": ["campaign/"]},
                    {("name",): STR, ("role",): STR, ("channels",): {"array", "null"},
                     ("channels", "*"): STR, ("tags",): {"array", "null"}, ("tags", "*"): STR},
                    [("name",), ("role",)], ledger=names, ids=ids, fresh=fresh)


RECIPIENT_TYPES = {
    ("recipient",): OBJ, ("recipient", "id"): STR, ("recipient", "locale"): STR_NULL,
    ("recipient", "email"): STR_NULL, ("recipient", "phone"): STR_NULL,
    ("recipient", "preferred_channel"): STR_NULL, ("recipient", "push"): {"array", "null"},
    ("recipient", "push", "*"): OBJ, ("recipient", "push", "*", "platform"): STR,
    ("recipient", "push", "*", "token"): STR, ("recipient", "segments"): {"array", "null"},
    ("recipient", "segments", "*"): STR, ("recipient", "attributes"): {"object", "null"},
    ("recipient", "attributes", "**"): ANY, ("recipient", "consent"): {"object", "null"},
    ("recipient", "consent", "*"): {"bool"},
}


def send_setup(h):
    key = published_item(h, holdout_percent=0)  # every recipient gets a delivery
    jid = "journey/" + uniq("send")
    h.admin.ok("PUT", "/v1/taxonomy/" + jid, {"label": "Send"})
    h.editor.ok("PUT", "/v1/journeys/" + jid, {"title": "Send", "steps": [
        {"id": "s1", "item": key, "channels": ["email", "sms", "mobile", "web"]}]})
    return key, jid


def recipient():
    return {"id": "cust-shapes", "locale": "de-AT", "email": "j@example.org",
            "phone": "+436641234567", "push": [{"platform": "fcm", "token": "tok-1"}],
            "segments": ["segment/vip"],
            "attributes": {"first_name": "Jörg", "plan": {"tier": "gold", "since": 2020}},
            "consent": {"sms": True}, "preferred_channel": "email"}


def all_delivery_ids(h):
    out = set()
    for st in ("queued", "sending", "failed", "delivered", "dead"):
        out |= {d["id"] for d in h.delivery.all_items("/v1/deliveries", {"status": st})}
    return out


def ep_send(h):
    _, jid = send_setup(h)

    def fresh(b):
        b["idempotency_key"] = uniq("idem-")
        return b

    def ids(r):
        return {d["id"] for d in r.json().get("deliveries", [])} if r.status_code in OK else set()
    types = {**RECIPIENT_TYPES, ("channels",): {"array", "null"}, ("channels", "*"): STR,
             ("idempotency_key",): STR_NULL}
    return Endpoint("send", "POST", "/v1/journeys/%s/steps/s1/send" % jid, h.delivery,
                    {"recipient": recipient(), "channels": None, "idempotency_key": "k"},
                    types, [("recipient",), ("recipient", "id")],
                    free=[("recipient", "attributes", "**")],
                    ledger=lambda: all_delivery_ids(h),
                    ids=ids, fresh=fresh)


def ep_render(h):
    key = published_item(h)
    body = {"item": key, "channel": "sms", "locale": "de-AT", "fallback": True,
            "recipient": {"id": "cust-42", "segments": ["segment/vip"],
                          "attributes": {"first_name": "Jörg", "n": [1, {"x": None}]}},
            "variant": None, "status": "published"}
    types = {("item",): STR, ("channel",): STR, ("locale",): STR_NULL, ("fallback",): {"bool"},
             ("recipient",): {"object", "null"}, ("recipient", "id"): STR_NULL,
             ("recipient", "segments"): {"array", "null"}, ("recipient", "segments", "*"): STR,
             ("recipient", "attributes"): {"object", "null"},
             ("recipient", "attributes", "**"): ANY, ("variant",): STR_NULL,
             ("status",): STR_NULL}
    return Endpoint("render", "POST", "/v1/render", h.delivery, body, types,
                    [("item",), ("channel",)],
                    # the recipient follows the send's rules, but needs no id
                    free=[("recipient", "attributes", "**")])


def ep_events(h):
    key = published_item(h)
    ts = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)) \
        .strftime("%Y-%m-%dT%H:%M:%SZ")
    common = {"subject": "cust-shapes", "item": key, "variant": "short", "channel": "email",
              "locale": "en", "delivery_id": None, "ts": ts}
    body = [dict(common, type="exposure"),
            dict(common, type="conversion", action="action/open-account", value=120.0)]
    ev = ("*",)
    types = {ev: OBJ, ev + ("type",): STR, ev + ("subject",): STR}
    for k in ("item", "variant", "channel", "locale", "delivery_id", "action", "ts"):
        types[ev + (k,)] = STR_NULL
    types[ev + ("value",)] = {"int", "float", "null"}

    def snapshot():
        rep = h.delivery.ok("GET", "/v1/reports/items/" + key)
        return rep.get("variants")
    return Endpoint("events", "POST", "/v1/events", h.delivery, body, types,
                    [ev + ("type",), ev + ("subject",)], snapshot=snapshot, events=True)


SETUPS = {"items PUT": ep_items_put, "items PATCH": ep_items_patch, "publish": ep_publish,
          "unpublish": ep_unpublish, "rollback": ep_rollback, "journeys PUT": ep_journeys,
          "render": ep_render, "send": ep_send, "events": ep_events, "webhooks PUT": ep_webhooks,
          "taxonomy PUT": ep_taxonomy, "locales PUT": ep_locales, "tokens POST": ep_tokens}


@pytest.mark.parametrize("name", list(SETUPS))
def test_mutated_bodies(sh, name):
    ep = SETUPS[name](sh)
    sent, _ = run_endpoint(sh, ep)
    assert sent > min(CAP, 30), "seed=%d %s: only %d requests" % (SEED, name, sent)


# ---- POST routes that take no JSON body ---------------------------------------------------------


def test_bodyless_posts_ignore_json_and_xliff_import_refuses_it(sh):
    """A JSON body (of any shape, even malformed) on the POST routes that take none is ignored:
    the retry of a delivered job stays 409 and changes nothing, the inbox read stays 200 with
    the first read time. JSON on the XLIFF import is a 4xx problem. Never a 5xx."""
    h = sh
    _, jid = send_setup(h)
    rid = uniq("inbox-")
    out = h.delivery.ok("POST", "/v1/journeys/%s/steps/s1/send" % jid,
                        {"recipient": dict(recipient(), id=rid), "channels": ["web", "email"]},
                        expect=(202,))
    emails = [d["id"] for d in out["deliveries"] if d["channel"] == "email"]
    assert emails, ("the send queued no email", out)
    did = emails[0]
    deadline = time.monotonic() + 30  # the sends before may have left a queue behind
    msgs, job = [], {}
    while (not msgs or job.get("status") != "delivered") and time.monotonic() < deadline:
        msgs = h.delivery.ok("GET", "/v1/inbox/" + rid)["messages"]
        job = h.delivery.ok("GET", "/v1/deliveries/" + did)
        time.sleep(0.05)
    assert msgs and job["status"] == "delivered", ("the deliveries did not arrive", msgs, job)
    mid = msgs[0]["message_id"]
    rng = random.Random("%d:bodyless" % SEED)
    bodies = [encode(v) for _, v in rng.sample(VALUES, 8)] + \
        [t for _, t in rng.sample(RAW, 4)] + [encode({"at": None}), b"{}"]
    routes = [("retry", h.editor, "/v1/deliveries/%s/retry" % did, 409),
              ("read", h.delivery, "/v1/inbox/%s/%s/read" % (rid, mid), 200)]
    for name, api, path, status in routes:
        plain = api.post(path)
        assert plain.status_code == status, (name, plain.status_code, plain.text[:300])
        for body in bodies:
            r = api.post(path, raw=body, content_type="application/json")
            where = "seed=%d %s %s body=%r: %d %s" % (SEED, name, path, body[:120],
                                                      r.status_code, r.text[:300])
            assert r.status_code == status, where
            if status >= 400:
                assert_problem(r, status)
            else:
                assert r.json()["read_at"] == plain.json()["read_at"], where
    assert h.delivery.ok("GET", "/v1/deliveries/" + did) == job, "the refused retries changed it"
    for body in bodies:
        r = h.editor.post("/v1/translations/import", raw=body, content_type="application/json")
        where = "seed=%d import body=%r: %d %s" % (SEED, body[:120], r.status_code, r.text[:300])
        assert 400 <= r.status_code < 500, where
        assert_problem(r, r.status_code)
    assert_server_fine(h, Endpoint("bodyless", "POST", "", None, {}, {}))
