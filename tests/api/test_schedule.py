"""Scheduled publish and unpublish ({"at": <later>}): 202, fired once by the server's scheduler
at most about a second late, also after a restart, with the scheduling token's rights; a failing
action is dropped with an audit record."""
import datetime
import time

from helpers import assert_problem, message, uniq, wait_for


def at(seconds):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def published_version(h, key):
    r = h.delivery.get("/v1/items/" + key, params={"status": "published"})
    return r.json().get("version") if r.status_code == 200 else None


def test_publish_then_unpublish_fire_once_on_time(make_hub):
    h = make_hub()
    key = uniq("sched/a")
    h.editor.ok("PUT", "/v1/items/" + key, message(key))
    when = at(1.5)
    r = h.editor.post("/v1/items/%s/publish" % key, {"at": when})
    assert r.status_code == 202, r.text
    b = r.json()
    assert b["status"] == "scheduled" and b["action"] == "publish" and b["key"] == key
    assert b["actor"] == h.editor.name
    s = h.preview.get("/v1/items/%s/schedule" % key).json()
    assert s["publish"]["at"] == b["at"] and s["unpublish"] is None
    assert published_version(h, key) is None  # not yet
    h.editor.ok("POST", "/v1/items/%s/unpublish" % key, {"at": at(3.0)}, expect=(202,))
    start = time.time()
    wait_for(lambda: published_version(h, key) == 1, "the scheduled publish")
    fired_at = time.time()
    assert fired_at - start < 3.0
    wait_for(lambda: published_version(h, key) is None, "the scheduled unpublish")
    time.sleep(1.2)
    # Fired exactly once each: one version, one published and one unpublished change.
    changes = [c for c in h.admin.get("/v1/changes", params={"since": 0}).json()["items"]
               if c["key"] == key]
    assert [c["type"] for c in changes] == ["item.published", "item.unpublished"]
    assert len(h.preview.get("/v1/items/%s/versions" % key).json()["items"]) == 1
    s = h.preview.get("/v1/items/%s/schedule" % key).json()
    assert s["publish"] is None and s["unpublish"] is None


def test_a_new_schedule_replaces_the_pending_one_and_cancel_works(make_hub):
    h = make_hub()
    key = uniq("sched/b")
    h.editor.ok("PUT", "/v1/items/" + key, message(key))
    h.editor.ok("POST", "/v1/items/%s/publish" % key, {"at": at(600)}, expect=(202,))
    later = h.editor.ok("POST", "/v1/items/%s/publish" % key, {"at": at(1200)}, expect=(202,))
    assert h.preview.get("/v1/items/%s/schedule" % key).json()["publish"]["at"] == later["at"]
    assert h.editor.request("DELETE", "/v1/items/%s/schedule" % key,
                            params={"action": "publish"}).status_code == 204
    assert h.preview.get("/v1/items/%s/schedule" % key).json()["publish"] is None
    assert_problem(h.editor.request("DELETE", "/v1/items/%s/schedule" % key,
                                    params={"action": "publish"}), 404)
    assert_problem(h.editor.request("DELETE", "/v1/items/%s/schedule" % key,
                                    params={"action": "later"}), 400)


def test_validation_and_rights(make_hub):
    h = make_hub()
    key = uniq("sched/c")
    assert_problem(h.editor.post("/v1/items/%s/publish" % key, {"at": at(60)}), 404)
    h.editor.ok("PUT", "/v1/items/" + key, message(key))
    assert_problem(h.editor.post("/v1/items/%s/publish" % key, {"at": "tomorrow"}), 422, ["/at"])
    assert_problem(h.editor.post("/v1/items/%s/publish" % key, {"at": at(400 * 86400)}), 422,
                   ["/at"])
    assert_problem(h.delivery.post("/v1/items/%s/publish" % key, {"at": at(60)}), 403)
    assert_problem(h.delivery.get("/v1/items/%s/schedule" % key), 403)
    # A time in the past acts now.
    r = h.editor.post("/v1/items/%s/publish" % key, {"at": at(-60)})
    assert r.status_code == 200 and r.json()["version"] == 1


def test_schedule_survives_a_restart_and_fires_after_it(make_hub):
    h = make_hub()
    key = uniq("sched/d")
    h.editor.ok("PUT", "/v1/items/" + key, message(key))
    h.editor.ok("POST", "/v1/items/%s/publish" % key, {"at": at(2.0)}, expect=(202,))
    rc, _ = h.server.stop()
    assert rc == 0
    time.sleep(2.5)  # it falls due while the server is down
    h.restart()
    wait_for(lambda: published_version(h, key) == 1, "the publish after the restart", 5)
    time.sleep(1.2)
    assert len(h.preview.get("/v1/items/%s/versions" % key).json()["items"]) == 1


def test_a_failing_action_is_dropped_with_an_audit_record(make_hub):
    h = make_hub()
    key = uniq("sched/e")
    h.editor.ok("PUT", "/v1/items/" + key, message(key))
    h.editor.ok("POST", "/v1/items/%s/unpublish" % key, {"at": at(1.0)}, expect=(202,))

    def failed():
        recs = h.admin.get("/v1/audit", params={"key": key}).json()["items"]
        return [a for a in recs if a["action"] == "item.scheduled_unpublish_failed"]
    rec = wait_for(failed, "the audit of the failed unpublish")[0]
    assert rec["actor"] == "scheduler" and "not published" in rec["detail"]["reason"]
    assert h.preview.get("/v1/items/%s/schedule" % key).json()["unpublish"] is None


def test_schedule_is_a_reserved_word_in_item_keys(make_hub):
    h = make_hub()
    # Inside a key (at its end the path would name the schedule route instead).
    key = "sched/schedule/" + uniq("f")
    r = h.editor.put("/v1/items/" + key, message(key))
    assert_problem(r, 422)
    assert "schedule" in r.text
