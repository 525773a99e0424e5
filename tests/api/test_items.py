"""Items: create and replace (PUT), JSON merge patch (PATCH), If-Match (412), reading drafts and
published versions, deleting, listing with filters (tag with descendants, kind, status, q) and
paging, publishing (422 listing every completeness problem), unpublishing, versions and rollback,
and journeys whose steps name items."""
import threading

import pytest

from helpers import Api, assert_problem, email_only, message, uniq


def test_put_creates_then_replaces_with_etag_revisions(hub):
    key = uniq("it/")
    r = hub.editor.put("/v1/items/" + key, email_only(key, title="First"))
    assert r.status_code == 201, r.text
    e1 = r.headers.get("ETag")
    assert e1 and e1.startswith('"') and e1.endswith('"'), e1
    body = r.json()
    assert body["key"] == key and body["title"] == "First"
    assert body.get("published_version") is None
    r = hub.editor.put("/v1/items/" + key, email_only(key, title="Second"))
    assert r.status_code == 200, r.text
    e2 = r.headers.get("ETag")
    assert e2 and e2 != e1
    got = hub.preview.get("/v1/items/" + key)
    assert got.status_code == 200 and got.json()["title"] == "Second"
    assert got.headers.get("ETag") == e2
    assert got.json()["updated_by"] == "t-editor"
    # the key in the body, when given, must match the URL
    r = hub.editor.put("/v1/items/" + key, email_only(key + "x"))
    assert_problem(r, 422, paths=["/key"])


def test_if_match(hub):
    key = uniq("it/")
    r = hub.editor.put("/v1/items/" + key, email_only(key), headers={"If-Match": "*"})
    assert_problem(r, 412)  # nothing there yet to match
    e1 = hub.editor.put("/v1/items/" + key, email_only(key)).headers["ETag"]
    r = hub.editor.put("/v1/items/" + key, email_only(key, title="B"), headers={"If-Match": e1})
    assert r.status_code == 200, r.text
    e2 = r.headers["ETag"]
    # a second editor still holding e1 loses, with PUT and with PATCH
    r = hub.admin.put("/v1/items/" + key, email_only(key, title="C"), headers={"If-Match": e1})
    assert_problem(r, 412)
    assert_problem(hub.admin.patch("/v1/items/" + key, {"title": "C"},
                                   headers={"If-Match": e1}), 412)
    assert_problem(hub.admin.patch("/v1/items/" + key, {"title": "C"},
                                   headers={"If-Match": '"nonsense"'}), 412)
    assert hub.editor.ok("GET", "/v1/items/" + key)["title"] == "B"
    r = hub.admin.patch("/v1/items/" + key, {"title": "D"}, headers={"If-Match": e2})
    assert r.status_code == 200, r.text
    r = hub.admin.patch("/v1/items/" + key, {"title": "E"},
                        headers={"If-Match": '"x", %s' % r.headers["ETag"]})
    assert r.status_code == 200, r.text
    r = hub.admin.put("/v1/items/" + key, email_only(key, title="F"), headers={"If-Match": "*"})
    assert r.status_code == 200, r.text


def test_merge_patch(hub):
    key = uniq("it/")
    item = message(key, tags=["product/accounts"],
                   experiment={"status": "running", "holdout_percent": 5, "allocation": "fixed"})
    hub.editor.put_item(item)
    r = hub.editor.patch("/v1/items/" + key, {"title": "Patched", "experiment": None,
                                               "tags": ["segment/vip"]})
    assert r.status_code == 200, r.text
    d = hub.editor.ok("GET", "/v1/items/" + key)
    assert d["title"] == "Patched" and d["tags"] == ["segment/vip"]
    assert d.get("experiment") is None
    assert d["variants"] == item["variants"]  # untouched members stay
    assert d["kind"] == "message"
    # a patch whose result breaks a rule is 422 and changes nothing
    assert_problem(hub.editor.patch("/v1/items/" + key, {"kind": "poem", "variants": []}), 422,
                   paths=["/kind", "/variants"])
    assert hub.editor.ok("GET", "/v1/items/" + key)["title"] == "Patched"
    assert_problem(hub.editor.patch("/v1/items/" + uniq("nope/"), {"title": "x"}), 404)
    # plain application/json is a merge patch body too
    r = hub.editor.patch("/v1/items/" + key, {"title": "Json"}, content_type="application/json")
    assert r.status_code in (200, 415), r.text


def test_bad_keys(hub):
    for key in ["a b", "a/../b", "-/x", "x/", "a//b", "é", "k" * 201]:
        r = hub.editor.put("/v1/items/" + key, email_only("ignored"))
        assert r.status_code in (400, 404, 422), (key, r.status_code, r.text)
        assert_problem(r, r.status_code)
    key = "k" * 200
    body = email_only(key)
    r = hub.editor.put("/v1/items/" + key, body)
    assert r.status_code == 201, r.text


def test_draft_and_published_reads(hub):
    key = uniq("it/")
    hub.editor.put_item(email_only(key, subject="v1"))
    assert_problem(hub.delivery.get("/v1/items/" + key), 404)  # nothing published yet
    assert_problem(hub.delivery.get("/v1/items/%s?status=draft" % key), 403)
    assert_problem(hub.editor.get("/v1/items/%s?status=published" % key), 404)
    hub.editor.publish(key)
    hub.editor.put_item(email_only(key, subject="v2 draft"))
    pub = hub.delivery.ok("GET", "/v1/items/" + key)
    assert pub["variants"][0]["content"]["en"]["email"]["subject"] == "v1"
    assert pub["version"] == 1
    draft = hub.preview.ok("GET", "/v1/items/" + key)
    assert draft["variants"][0]["content"]["en"]["email"]["subject"] == "v2 draft"
    assert draft["published_version"] == 1
    pub2 = hub.preview.ok("GET", "/v1/items/%s?status=published" % key)
    assert pub2["variants"][0]["content"]["en"]["email"]["subject"] == "v1"


def test_delete_unpublishes_and_removes(hub):
    key = uniq("it/")
    hub.editor.put_item(email_only(key))
    hub.editor.publish(key)
    assert hub.delivery.get("/v1/content/%s?channel=email" % key).status_code == 200
    assert hub.editor.delete("/v1/items/" + key).status_code == 204
    assert_problem(hub.delivery.get("/v1/content/%s?channel=email" % key), 404)
    assert_problem(hub.editor.get("/v1/items/" + key), 404)
    assert_problem(hub.editor.delete("/v1/items/" + key), 404)
    keys = [i["key"] for i in hub.editor.ok("GET", "/v1/items?q=" + key.split("/")[1])["items"]]
    assert key not in keys


@pytest.fixture(scope="module")
def listed(hub):
    """Terms P and P/child, items a (P), b (P/child), c (a block in P/child), d elsewhere."""
    top = "product/" + uniq("ls")
    hub.admin.ok("PUT", "/v1/taxonomy/" + top, {"label": "List test"})
    hub.admin.ok("PUT", "/v1/taxonomy/%s/child" % top, {"label": "Child"})
    word = uniq("Zebra")
    keys = {n: uniq("ls%s/" % n) for n in "abcd"}
    hub.editor.put_item(email_only(keys["a"], tags=[top], title="Alpha %s one" % word))
    hub.editor.put_item(email_only(keys["b"], tags=[top + "/child"], title="Beta " + word))
    hub.editor.put_item(message(keys["c"], kind="block", tags=[top + "/child"], title="Gamma"))
    hub.editor.put_item(email_only(keys["d"], tags=["segment/vip"], title="Delta " + word))
    hub.editor.publish(keys["a"])
    return top, word, keys


def list_keys(client, **params):
    return {i["key"] for i in client.ok("GET", "/v1/items", params=params)["items"]}


def test_list_filters(hub, listed):
    top, word, k = listed
    assert list_keys(hub.editor, tag=top) == {k["a"], k["b"], k["c"]}
    assert list_keys(hub.editor, tag=top + "/child") == {k["b"], k["c"]}
    assert list_keys(hub.editor, tag=top, kind="message") == {k["a"], k["b"]}
    assert list_keys(hub.editor, tag=top, kind="block") == {k["c"]}
    assert list_keys(hub.editor, tag=top, status="published") == {k["a"]}
    assert list_keys(hub.editor, q=word.upper()) == {k["a"], k["b"], k["d"]}
    assert list_keys(hub.editor, q=word.lower(), tag=top) == {k["a"], k["b"]}
    assert list_keys(hub.editor, q="alpha " + word.lower() + " one") == {k["a"]}
    # delivery sees published items only, whatever it asks for
    assert list_keys(hub.delivery, tag=top) == {k["a"]}
    page = hub.editor.ok("GET", "/v1/items", params={"tag": top})
    row = [i for i in page["items"] if i["key"] == k["a"]][0]
    assert row["title"].startswith("Alpha") and row["kind"] == "message"
    assert row["published_version"] == 1 and row["tags"] == [top]


def test_list_by_unknown_tag_is_422(hub):
    # openapi.yaml: "a term; descendants included; unknown term is 422"
    assert_problem(hub.editor.get("/v1/items", params={"tag": "product/" + uniq("none")}), 422)


def test_list_paging(hub, listed):
    top, _, k = listed
    seen, cursor, pages = [], None, 0
    while True:
        params = {"tag": top, "limit": 1}
        if cursor:
            params["cursor"] = cursor
        page = hub.editor.ok("GET", "/v1/items", params=params)
        assert len(page["items"]) <= 1
        seen += [i["key"] for i in page["items"]]
        cursor = page["next_cursor"]
        pages += 1
        assert pages < 10, "paging does not end"
        if cursor is None:
            break
    assert sorted(seen) == sorted([k["a"], k["b"], k["c"]])
    everything = hub.editor.ok("GET", "/v1/items", params={"tag": top, "limit": 1000})
    assert everything["next_cursor"] is None and len(everything["items"]) == 3
    assert len(hub.editor.ok("GET", "/v1/items", params={"limit": 2})["items"]) == 2


def test_publish_lists_every_completeness_problem(hub):
    key = uniq("pub/")
    item = message(key, variants=[
        {"id": "control", "content": {
            "en": {"email": {"subject": "Only a subject"}, "sms": {"text": "ok"}},
            "de": {"mobile": {"title": "Nur ein Titel"}}}},
        {"id": "short", "content": {"en": {"sms": {"text": "short"}}}}])
    hub.editor.put_item(item)  # a draft may be incomplete
    r = hub.editor.post("/v1/items/%s/publish" % key, {"at": None})
    b = assert_problem(r, 422, paths=["/variants/0/content/en/email/html",
                                      "/variants/0/content/de/mobile/body"])
    assert len(b["errors"]) >= 2
    assert_problem(hub.delivery.get("/v1/content/%s?channel=sms" % key), 404)
    assert hub.editor.ok("GET", "/v1/items/" + key)["published_version"] is None
    # fixed, it publishes
    item["variants"][0]["content"]["en"]["email"]["html"] = "<p>x</p>"
    item["variants"][0]["content"]["de"]["mobile"]["body"] = "Text"
    item["variants"][0]["content"]["en"]["mobile"] = {"title": "T", "body": "B"}
    hub.editor.put_item(item)
    out = hub.editor.publish(key)
    assert out["key"] == key and out["version"] == 1 and out["published_at"].endswith("Z")


def test_publish_bodies(hub):
    key = uniq("pub/")
    hub.editor.put_item(email_only(key))
    assert_problem(hub.editor.post("/v1/items/%s/publish" % key, {"at": 5}), 422,
                   paths=["/at"])
    assert_problem(hub.editor.post("/v1/items/%s/publish" % key, {"when": None}), 422)
    assert_problem(hub.editor.post("/v1/items/%s/publish" % uniq("nope/"), {"at": None}), 404)
    # an empty body means "now"
    r = hub.editor.request("POST", "/v1/items/%s/publish" % key)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1


def test_unpublish(hub):
    key = uniq("pub/")
    hub.editor.put_item(email_only(key))
    assert_problem(hub.editor.post("/v1/items/%s/unpublish" % key, {"at": None}), 404)
    hub.editor.publish(key)
    r = hub.editor.post("/v1/items/%s/unpublish" % key, {"at": None})
    assert r.status_code == 200, r.text
    assert_problem(hub.delivery.get("/v1/content/%s?channel=email" % key), 404)
    assert_problem(hub.delivery.get("/v1/items/" + key), 404)
    d = hub.editor.ok("GET", "/v1/items/" + key)  # the draft stays
    assert d["key"] == key and d["published_version"] is None
    assert hub.editor.publish(key)["version"] == 2  # versions keep counting


def test_versions_and_rollback(hub):
    key = uniq("ver/")
    for n in (1, 2, 3):
        hub.editor.put_item(email_only(key, subject="subject %d" % n))
        assert hub.editor.publish(key)["version"] == n
    vs = hub.editor.ok("GET", "/v1/items/%s/versions" % key)
    assert [v["version"] for v in vs["items"]] == [3, 2, 1]
    assert vs["next_cursor"] is None
    v1 = hub.preview.ok("GET", "/v1/items/%s/versions/1" % key)
    assert v1["version"] == 1
    assert v1["variants"][0]["content"]["en"]["email"]["subject"] == "subject 1"
    assert_problem(hub.editor.get("/v1/items/%s/versions/9" % key), 404)
    r = hub.editor.post("/v1/items/%s/rollback" % key, {"version": 1})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 4
    c = hub.delivery.ok("GET", "/v1/content/%s?channel=email&locale=en" % key)
    assert c["version"] == 4 and c["fields"]["subject"] == "subject 1"
    assert hub.editor.ok("GET", "/v1/items/" + key)["variants"][0]["content"]["en"]["email"][
        "subject"] == "subject 3"  # the draft stays as it was
    assert [v["version"] for v in hub.editor.ok(
        "GET", "/v1/items/%s/versions" % key)["items"]] == [4, 3, 2, 1]
    assert_problem(hub.editor.post("/v1/items/%s/rollback" % key, {"version": 99}), 404)
    assert_problem(hub.editor.post("/v1/items/%s/rollback" % key, {"version": "one"}), 422,
                   paths=["/version"])
    assert_problem(hub.editor.post("/v1/items/%s/rollback" % key, {}), 422)


def test_versions_are_paged_like_every_list(hub):
    key = uniq("ver/")
    for n in (1, 2, 3, 4):
        hub.editor.put_item(email_only(key, subject="subject %d" % n))
        hub.editor.publish(key)
    page = hub.editor.ok("GET", "/v1/items/%s/versions?limit=2" % key)
    assert [v["version"] for v in page["items"]] == [4, 3] and page["next_cursor"]
    rest = hub.editor.ok("GET", "/v1/items/%s/versions" % key,
                         params={"limit": 2, "cursor": page["next_cursor"]})
    assert [v["version"] for v in rest["items"]] == [2, 1]
    assert rest["next_cursor"] is None


def test_journeys(hub):
    a, b = uniq("jr/"), uniq("jr/")
    hub.editor.put_item(message(a))
    hub.editor.put_item(message(b))
    jid = "journey/" + uniq("j")
    body = {"title": "A journey", "steps": [{"id": "one", "item": a, "channels": ["email"]},
                                            {"id": "two", "item": b,
                                             "channels": ["email", "sms"]}]}
    assert_problem(hub.editor.put("/v1/journeys/" + jid, body), 422)  # no such term yet
    hub.admin.ok("PUT", "/v1/taxonomy/" + jid, {"label": "J"})
    r = hub.editor.put("/v1/journeys/" + jid, body)
    assert r.status_code == 201, r.text
    got = hub.delivery.ok("GET", "/v1/journeys/" + jid)
    assert got["title"] == "A journey" and [s["item"] for s in got["steps"]] == [a, b]
    assert jid in [j["id"] for j in hub.delivery.ok("GET", "/v1/journeys")["items"]]
    assert hub.editor.put("/v1/journeys/" + jid, body).status_code == 200
    bad = {"title": "Bad", "steps": [{"id": "one", "item": uniq("none/"), "channels": ["fax"]},
                                     {"id": "one", "item": a, "channels": ["email"]}]}
    assert_problem(hub.editor.put("/v1/journeys/" + jid, bad), 422,
                   paths=["/steps/0/item", "/steps/0/channels/0"])
    # an item a journey uses cannot be deleted
    assert_problem(hub.editor.delete("/v1/items/" + a), 409)
    assert hub.editor.delete("/v1/journeys/" + jid).status_code == 204
    assert_problem(hub.delivery.get("/v1/journeys/" + jid), 404)
    assert hub.editor.delete("/v1/items/" + a).status_code == 204


def in_parallel(n, fn):
    """Runs fn(i) for i in range(n) on n threads at once; returns the results in order."""
    out, gate = [None] * n, threading.Barrier(n)

    def run(i):
        gate.wait()
        out[i] = fn(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_concurrent_writers_with_the_same_etag_one_wins(hub):
    key = uniq("cc/")
    etag = hub.editor.put("/v1/items/" + key, email_only(key)).headers["ETag"]
    clients = [Api(hub.base, hub.tokens["editor"], "e%d" % i) for i in range(8)]
    codes = in_parallel(8, lambda i: clients[i].put(
        "/v1/items/" + key, email_only(key, title="writer %d" % i),
        headers={"If-Match": etag}).status_code)
    assert sorted(codes) == [200] + [412] * 7, codes
    winner = codes.index(200)
    assert hub.editor.ok("GET", "/v1/items/" + key)["title"] == "writer %d" % winner


def test_concurrent_publishes_get_distinct_versions(hub):
    key = uniq("cc/")
    hub.editor.put_item(email_only(key))
    since = hub.delivery.last_change_seq()
    clients = [Api(hub.base, hub.tokens["editor"], "e%d" % i) for i in range(6)]
    outs = in_parallel(6, lambda i: clients[i].publish(key)["version"])
    assert sorted(outs) == [1, 2, 3, 4, 5, 6], outs
    mine = [c for c in hub.delivery.changes_all(since) if c["key"] == key]
    assert sorted(c["version"] for c in mine) == [1, 2, 3, 4, 5, 6]
    assert [c["seq"] for c in mine] == sorted(c["seq"] for c in mine)
    assert [c["version"] for c in mine] == [1, 2, 3, 4, 5, 6]  # seq order is commit order
