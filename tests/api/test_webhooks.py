"""Webhooks end to end: PUT/GET/DELETE /v1/webhooks/{id}, events queued with the change and
POSTed, signed with HMAC-SHA256, to a loopback HTTP sink (tests/servers), retried like
deliveries."""
import hashlib
import hmac
import json
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "servers"))
from helpers import assert_problem, message, uniq, wait_for  # noqa: E402
from sinks import HttpSink  # noqa: E402

SECRET = "s3cret-s3cret-s3cret"
FAST = {"delivery": {"retry": {"base_ms": 20, "max_ms": 100, "give_up_after_s": 600}}}


def publish_new(h, key):
    h.editor.ok("PUT", "/v1/items/" + key, message(key))
    return h.editor.ok("POST", "/v1/items/" + key + "/publish", {})


def verify(req, secret=SECRET):
    """The signature header checks out against the body and the event id; returns the event."""
    sig = dict(p.split("=", 1) for p in req["headers"]["omnihub-signature"].split(","))
    eid = req["headers"]["omnihub-event-id"]
    signed = ("%s.%s." % (eid, sig["t"])).encode() + req["body"].encode()
    want = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(sig["v1"], want), "bad signature"
    assert abs(int(sig["t"]) - time.time()) < 120
    assert req["idempotency_key"] == eid
    event = json.loads(req["body"])
    assert event["id"] == eid
    return event


def test_crud_validation_and_secret_never_read_back(make_hub):
    h = make_hub(config=FAST)
    a = h.admin
    r = a.put("/v1/webhooks/cms", {"url": "http://127.0.0.1:9/x", "events": ["item.published"],
                                   "secret": SECRET})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["url"] == "http://127.0.0.1:9/x" and "secret" not in body
    assert a.get("/v1/webhooks/cms").json()["events"] == ["item.published"]
    r = a.put("/v1/webhooks/cms", {"url": "https://127.0.0.1:9/y", "events": ["item.deleted"],
                                   "secret": SECRET})
    assert r.status_code == 200 and r.json()["created_at"] == body["created_at"]
    listing = a.get("/v1/webhooks").json()
    assert [w["id"] for w in listing["items"]] == ["cms"]
    assert "secret" not in json.dumps(listing)
    # Problems, all at once.
    r = a.put("/v1/webhooks/bad", {"url": "ftp://x/", "events": ["item.moved"], "secret": "short",
                                   "extra": 1})
    assert_problem(r, 422, ["/url", "/events", "/secret", ""])
    assert_problem(a.put("/v1/webhooks/Bad.Id", {}), 404)
    assert_problem(h.editor.put("/v1/webhooks/x", {"url": "http://127.0.0.1/", "events":
                                                   ["item.published"], "secret": SECRET}), 403)
    assert a.request("DELETE", "/v1/webhooks/cms").status_code == 204
    assert_problem(a.get("/v1/webhooks/cms"), 404)
    assert_problem(a.request("DELETE", "/v1/webhooks/cms"), 404)


def test_allowed_hosts_restrict_targets(make_hub):
    h = make_hub(config={"webhooks": {"allowed_hosts": ["127.0.0.1"]}})
    ok = {"url": "http://127.0.0.1:8000/hook", "events": ["item.published"], "secret": SECRET}
    assert h.admin.put("/v1/webhooks/a", ok).status_code == 201
    r = h.admin.put("/v1/webhooks/b", dict(ok, url="http://hooks.example.com/x"))
    assert_problem(r, 422, ["/url"])
    assert "allowed_hosts" in r.json()["errors"][0]["message"]


def test_publish_unpublish_delete_events_are_signed_and_ordered(make_hub, tmp_path):
    with HttpSink(tmp_path) as sink:
        h = make_hub(config=FAST)
        h.admin.ok("PUT", "/v1/webhooks/all", {
            "url": sink.url + "/hook", "secret": SECRET,
            "events": ["item.published", "item.unpublished", "item.deleted"]})
        h.admin.ok("PUT", "/v1/webhooks/pub", {
            "url": sink.url + "/pub-only", "secret": SECRET + "2", "events": ["item.published"]})
        key = uniq("hooks/a")
        publish_new(h, key)
        h.editor.ok("POST", "/v1/items/" + key + "/unpublish", {})
        assert h.editor.request("DELETE", "/v1/items/" + key).status_code == 204
        reqs = sink.wait_for_requests(4)
        time.sleep(0.3)
        reqs = sink.requests()
        assert len(reqs) == 4, reqs
        to_all = [r for r in reqs if r["path"] == "/hook"]
        to_pub = [r for r in reqs if r["path"] == "/pub-only"]
        assert len(to_all) == 3 and len(to_pub) == 1
        events = sorted((verify(r) for r in to_all), key=lambda e: e["data"]["seq"])
        assert [e["type"] for e in events] == ["item.published", "item.unpublished",
                                               "item.deleted"]
        assert all(e["data"]["key"] == key for e in events)
        assert events[0]["data"]["version"] == 1
        assert verify(to_pub[0], SECRET + "2")["type"] == "item.published"
        with pytest.raises(AssertionError):
            verify(to_pub[0], SECRET)  # another webhook's secret does not verify
        # The changes feed and the events agree on the sequence numbers.
        feed = h.admin.get("/v1/changes", params={"since": 0}).json()
        assert {e["data"]["seq"] for e in events} == {
            c["seq"] for c in feed["items"] if c["key"] == key}


def test_failing_endpoint_is_retried_with_the_same_event_id(make_hub, tmp_path):
    with HttpSink(tmp_path, script="500,503,200") as sink:
        h = make_hub(config=FAST)
        h.admin.ok("PUT", "/v1/webhooks/flaky", {"url": sink.url + "/h", "secret": SECRET,
                                                 "events": ["item.published"]})
        publish_new(h, uniq("hooks/b"))
        sink.wait_for_requests(1)
        attempts = sink.attempts()
        assert [a["answer"] for a in attempts] == ["500", "503", "200"], attempts
        ids = {a["headers"]["omnihub-event-id"] for a in attempts}
        assert len(ids) == 1
        verify(sink.requests()[0])

        def delivered():  # the sink answered; the hub stores the outcome a moment later
            items = h.admin.get("/v1/deliveries", params={"status": "delivered"}).json()["items"]
            return [d for d in items if d["webhook"] == "flaky"]
        mine = wait_for(delivered, "the delivered event")
        assert len(mine) == 1 and mine[0]["attempts"] == 3 and mine[0]["channel"] == "webhook"


def test_permanent_refusal_is_dead_and_a_deleted_webhook_sends_nothing(make_hub, tmp_path):
    with HttpSink(tmp_path, script="410") as sink:
        h = make_hub(config=FAST)
        h.admin.ok("PUT", "/v1/webhooks/gone", {"url": sink.url + "/h", "secret": SECRET,
                                                "events": ["item.published"]})
        publish_new(h, uniq("hooks/c"))

        def dead():
            items = h.admin.get("/v1/deliveries", params={"status": "dead"}).json()["items"]
            return [d for d in items if d["webhook"] == "gone"]
        d = wait_for(dead, "the dead event")[0]
        assert d["attempts"] == 1 and "410" in d["last_error"]
        assert sink.requests() == []
        assert h.admin.request("DELETE", "/v1/webhooks/gone").status_code == 204
        n = len(sink.attempts())
        publish_new(h, uniq("hooks/d"))
        time.sleep(0.5)
        assert len(sink.attempts()) == n  # no subscription, no event
        # Retrying the dead event of a deleted webhook ends dead again, with the reason.
        assert h.admin.post("/v1/deliveries/%s/retry" % d["id"], {}).status_code == 200

        def redead():
            v = h.admin.get("/v1/deliveries/" + d["id"]).json()
            return v if v["status"] == "dead" and v["attempts"] == 2 else None
        assert "deleted" in wait_for(redead, "dead again")["last_error"]


def test_events_survive_a_restart(make_hub, tmp_path):
    sink = HttpSink(tmp_path, script="500,500,500,500,500,500,500,500,500,500,500,500")
    sink.start()
    try:
        h = make_hub(config={"delivery": {"retry": {"base_ms": 200, "max_ms": 400,
                                                    "give_up_after_s": 600}}})
        h.admin.ok("PUT", "/v1/webhooks/r", {"url": sink.url + "/h", "secret": SECRET,
                                             "events": ["item.published"]})
        publish_new(h, uniq("hooks/e"))
        sink.wait_for_attempts(1)
        rc, _ = h.server.stop()
        assert rc == 0
        sink.stop()
        sink.args = []  # no script: every request answered 200
        sink.start()  # same port, now answering 200
        h.restart()
        reqs = sink.wait_for_requests(1)
        assert verify(reqs[0])["type"] == "item.published"
    finally:
        sink.stop()
