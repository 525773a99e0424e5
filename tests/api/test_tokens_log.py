"""Tokens (random, shown once, stored only as a hash, revocable), the changes feed (publish,
unpublish and delete in order with a monotonic sequence) and the audit log (who changed what,
when)."""
import os
import re
import time

from helpers import Api, assert_problem, cli, email_only, uniq

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def test_token_lifecycle(hub):
    name = uniq("tok-")
    r = hub.admin.post("/v1/tokens", {"name": name, "role": "delivery"})
    assert r.status_code == 201, r.text
    rec = r.json()
    secret = rec["secret"]
    assert rec["name"] == name and rec["role"] == "delivery"
    # >= 128 random bits: at least 22 base64url characters besides any prefix
    assert len(re.sub(r"^[a-z]+_", "", secret)) >= 22, secret
    other = hub.admin.ok("POST", "/v1/tokens", {"name": uniq("tok-"), "role": "delivery"})
    assert other["secret"] != secret
    me = Api(hub.base, secret, name)
    assert me.get("/v1/locales").status_code == 200
    assert_problem(me.get("/v1/tokens"), 403)
    listing = hub.admin.get("/v1/tokens")
    assert listing.status_code == 200
    assert secret not in listing.text and other["secret"] not in listing.text
    rows = {t["name"]: t for t in listing.json()["items"]}
    assert rows[name]["role"] == "delivery" and "secret" not in rows[name]
    assert rows["t-limited"]["channels"] == ["email"]
    assert rows["t-limited"]["tags"] == ["campaign/"]
    assert_problem(hub.admin.post("/v1/tokens", {"name": name, "role": "admin"}), 409)
    assert hub.admin.delete("/v1/tokens/" + name).status_code == 204
    assert_problem(me.get("/v1/locales"), 401)
    assert_problem(hub.admin.delete("/v1/tokens/" + name), 404)
    assert name not in {t["name"] for t in hub.admin.ok("GET", "/v1/tokens")["items"]}


def test_limited_token_through_the_api(hub):
    name = uniq("tok-")
    rec = hub.admin.ok("POST", "/v1/tokens", {"name": name, "role": "editor",
                                              "channels": ["sms"], "tags": ["campaign/"]})
    me = Api(hub.base, rec["secret"], name)
    key = uniq("tk/")
    hub.admin.put_item(email_only(key, tags=["product/accounts"]))
    assert_problem(me.patch("/v1/items/" + key, {"title": "x"}), 403)
    # limits are for editors only
    assert_problem(hub.admin.post("/v1/tokens", {"name": uniq("tok-"), "role": "delivery",
                                                 "channels": ["sms"]}), 422)


def test_secrets_are_stored_only_as_hashes(hub):
    rec = hub.admin.ok("POST", "/v1/tokens", {"name": uniq("tok-"), "role": "preview"})
    secrets_ = [rec["secret"]] + list(hub.tokens.values())
    for root, _, files in os.walk(hub.data):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                data = fh.read()
            for s in secrets_:
                assert s.encode() not in data, "a token secret is stored in %s" % f
    audit = hub.admin.get("/v1/audit", params={"limit": 1000}).text
    assert all(s not in audit for s in secrets_)


def test_changes_feed_in_order(hub):
    since = hub.delivery.last_change_seq()
    key = uniq("ch/")
    hub.editor.put_item(email_only(key))
    hub.editor.publish(key)
    hub.editor.ok("POST", "/v1/items/%s/unpublish" % key, {"at": None})
    hub.editor.publish(key)
    hub.editor.ok("DELETE", "/v1/items/" + key)
    mine = [c for c in hub.delivery.changes_all(since) if c["key"] == key]
    kinds = [c["type"] for c in mine]
    assert len(kinds) == 4, mine
    assert "publish" in kinds[0] and "unpublish" not in kinds[0], kinds
    assert "unpublish" in kinds[1] and kinds[2] == kinds[0] and "delet" in kinds[3], kinds
    assert mine[0]["version"] == 1 and mine[2]["version"] == 2
    for c in mine:
        assert RFC3339_UTC.match(c["at"]), c
    # paging one at a time gives the same sequence, strictly increasing
    one, s = [], since
    for _ in range(200):
        page = hub.preview.ok("GET", "/v1/changes", params={"since": s, "limit": 1})
        if not page["items"]:
            break
        assert len(page["items"]) == 1
        one += page["items"]
        s = page["next_since"]
    seqs = [c["seq"] for c in one]
    assert seqs == sorted(set(seqs)) and all(q > since for q in seqs)
    assert [c for c in one if c["key"] == key] == mine
    assert hub.delivery.ok("GET", "/v1/changes", params={"since": seqs[-1]})["items"] == []


def test_changes_ignore_draft_writes(hub):
    since = hub.delivery.last_change_seq()
    key = uniq("ch/")
    hub.editor.put_item(email_only(key))
    hub.editor.patch("/v1/items/" + key, {"title": "still a draft"})
    assert [c for c in hub.delivery.changes_all(since) if c["key"] == key] == []


def test_audit_names_who_did_what(hub):
    key = uniq("au/")
    hub.editor.put_item(email_only(key, tags=["campaign/spring"]))
    hub.admin.publish(key)
    hub.limited.ok("PATCH", "/v1/items/" + key, {"variants": [{"id": "control", "content": {
        "en": {"email": {"subject": "limited", "html": "<p>Hello {{ first_name }}</p>"}}}}]},
        content_type="application/merge-patch+json")
    hub.editor.ok("DELETE", "/v1/items/" + key)
    entries = hub.admin.ok("GET", "/v1/audit", params={"key": key})["items"]
    assert len(entries) >= 4, entries
    actors = [e["actor"] for e in entries]
    assert {"t-editor", "t-admin", "t-limited"} <= set(actors), entries
    for e in entries:
        assert e["key"] == key and RFC3339_UTC.match(e["at"]) and e["action"], e
    assert any("publish" in e["action"] and e["actor"] == "t-admin" for e in entries), entries
    seqs = [e["seq"] for e in entries]
    assert len(set(seqs)) == len(seqs)
    # since: a time in the future finds nothing, the distant past finds everything
    future = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    assert hub.editor.ok("GET", "/v1/audit", params={"key": key, "since": future})["items"] == []
    past = hub.editor.ok("GET", "/v1/audit", params={"key": key,
                                                     "since": "2000-01-01T00:00:00Z"})
    assert len(past["items"]) == len(entries)
    # paged
    page = hub.editor.ok("GET", "/v1/audit", params={"key": key, "limit": 2})
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = hub.editor.ok("GET", "/v1/audit", params={"key": key, "limit": 1000,
                                                     "cursor": page["next_cursor"]})
    assert [e["seq"] for e in page["items"] + rest["items"]] == seqs


def test_admin_changes_are_audited_too(hub):
    tag = "segment/" + uniq("au")
    hub.admin.ok("PUT", "/v1/taxonomy/" + tag, {"label": "Audited"})
    name = uniq("tok-")
    hub.admin.ok("POST", "/v1/tokens", {"name": name, "role": "preview"})
    entries = hub.admin.all_items("/v1/audit")
    text = str([e for e in entries if e["actor"] == "t-admin"])
    assert tag in text, "taxonomy write not audited"
    assert name in text, "token creation not audited"


def test_token_channels_must_exist(hub):
    r = hub.admin.post("/v1/tokens", {"name": uniq("fax"), "role": "editor",
                                      "channels": ["email", "fax"]})
    assert_problem(r, 422, paths=["/channels/1"])
    out = cli("token", "create", "--data", hub.data, "--role", "editor", "--name", uniq("fax"),
              "--channels", "fax", check=False)
    assert out.returncode == 2 and "unknown channel 'fax'" in out.stderr
    assert out.stdout == ""
