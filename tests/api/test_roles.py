"""The route x role matrix: every route of the issue, called by admin, editor, an editor limited
to channel `email` and tags under `campaign/` ("limited"), preview, delivery and no token.
Roles from API.md: admin may do everything; editors write drafts, publish, unpublish and roll
back (and read the audit log); preview reads what delivery reads plus drafts; delivery reads
published content. No token: 401; a token without the right: 403 (a problem, never a 2xx).

Each cell prepares its own resource (as admin) so a successful DELETE in one cell cannot
change the answer of another. Then the limited editor's restrictions one by one.
"""
import pytest

from helpers import assert_problem, email, email_only, message, uniq

OK = "2xx"
ALL = ("admin", "editor", "limited", "preview", "delivery")
WRITERS = ("admin", "editor", "limited")  # roles that may write items in campaign/, email only


def expect(allowed, maybe=()):
    """role -> OK for `allowed`, 403 for the other token roles, 401 without a token; `maybe`:
    roles where API.md leaves the answer open (then OK or 403 both pass)."""
    out = {r: (OK if r in allowed else 403) for r in ALL}
    for r in maybe:
        out[r] = (OK, 403)
    out[None] = 401
    return out


def campaign_item(hub, publish=False):
    """A published-or-draft item the limited editor may touch: tag campaign/spring, email only."""
    key = uniq("matrix/")
    hub.admin.put_item(email_only(key, tags=["campaign/spring"]))
    if publish:
        hub.admin.publish(key)
    return key


def replace_item(key):
    """A PUT of key that changes only the email subject (what the limited editor may do)."""
    return "/v1/items/" + key, email_only(key, tags=["campaign/spring"], subject="Changed")


def token_name(hub):
    name = uniq("tok-")
    hub.admin.ok("POST", "/v1/tokens", {"name": name, "role": "delivery"})
    return name


def journey(hub):
    key = campaign_item(hub)
    jid = "journey/" + uniq("mj")
    hub.admin.ok("PUT", "/v1/taxonomy/" + jid, {"label": "Matrix journey"})
    hub.admin.ok("PUT", "/v1/journeys/" + jid, {"title": "M", "steps": [
        {"id": "one", "item": key, "channels": ["email"]}]})
    return jid


# (name, method, setup(hub) -> (path, body), expectations)
CELLS = [
    ("tokens-create", "POST",
     lambda h: ("/v1/tokens", {"name": uniq("tok-"), "role": "delivery"}), expect(["admin"])),
    ("tokens-list", "GET", lambda h: ("/v1/tokens", None), expect(["admin"])),
    ("tokens-delete", "DELETE", lambda h: ("/v1/tokens/" + token_name(h), None),
     expect(["admin"])),
    ("locales-list", "GET", lambda h: ("/v1/locales", None), expect(ALL)),
    ("locales-get", "GET", lambda h: ("/v1/locales/de", None), expect(ALL)),
    ("locales-put", "PUT",
     lambda h: ("/v1/locales/fr", {"name": "Français", "fallback": "en"}), expect(["admin"])),
    ("locales-delete", "DELETE",
     lambda h: (h.admin.ok("PUT", "/v1/locales/it", {"name": "Italiano"}) and "/v1/locales/it",
                None), expect(["admin"])),
    ("taxonomy-tree", "GET", lambda h: ("/v1/taxonomy", None), expect(ALL)),
    ("taxonomy-get", "GET", lambda h: ("/v1/taxonomy/product/accounts", None), expect(ALL)),
    ("taxonomy-put", "PUT",
     lambda h: ("/v1/taxonomy/segment/matrix", {"label": "Matrix"}), expect(["admin"])),
    ("taxonomy-delete", "DELETE",
     lambda h: (h.admin.ok("PUT", "/v1/taxonomy/segment/matrix-del", {"label": "D"})
                and "/v1/taxonomy/segment/matrix-del", None), expect(["admin"])),
    ("items-list", "GET", lambda h: ("/v1/items", None), expect(ALL)),
    ("items-list-drafts", "GET", lambda h: ("/v1/items?status=draft", None),
     expect(WRITERS + ("preview",))),
    ("items-list-published", "GET", lambda h: ("/v1/items?status=published", None),
     expect(ALL)),
    ("item-put", "PUT", lambda h: replace_item(campaign_item(h)), expect(WRITERS)),
    # API.md leaves open whether a channel-limited editor may create or delete whole items
    ("item-create", "PUT", lambda h: replace_item(uniq("matrix/")),
     expect(["admin", "editor"], maybe=["limited"])),
    ("item-patch", "PATCH",
     lambda h: ("/v1/items/" + campaign_item(h), {"variants": [
         {"id": "control", "content": {"en": {"email": email("Patched")}}}]}),
     expect(WRITERS)),
    ("item-get-draft", "GET",
     lambda h: ("/v1/items/%s?status=draft" % campaign_item(h), None),
     expect(WRITERS + ("preview",))),
    ("item-get-published", "GET",
     lambda h: ("/v1/items/%s?status=published" % campaign_item(h, True), None), expect(ALL)),
    ("item-get-default", "GET",
     lambda h: ("/v1/items/" + campaign_item(h, True), None), expect(ALL)),
    ("item-delete", "DELETE", lambda h: ("/v1/items/" + campaign_item(h, True), None),
     expect(["admin", "editor"], maybe=["limited"])),
    ("item-publish", "POST",
     lambda h: ("/v1/items/%s/publish" % campaign_item(h), {"at": None}), expect(WRITERS)),
    ("item-unpublish", "POST",
     lambda h: ("/v1/items/%s/unpublish" % campaign_item(h, True), {"at": None}),
     expect(WRITERS)),
    ("item-versions", "GET",
     lambda h: ("/v1/items/%s/versions" % campaign_item(h, True), None),
     expect(WRITERS + ("preview",), maybe=["delivery"])),
    ("item-version", "GET",
     lambda h: ("/v1/items/%s/versions/1" % campaign_item(h, True), None),
     expect(WRITERS + ("preview",), maybe=["delivery"])),
    ("item-rollback", "POST",
     lambda h: ("/v1/items/%s/rollback" % campaign_item(h, True), {"version": 1}),
     expect(WRITERS)),
    ("content", "GET",
     lambda h: ("/v1/content/%s?channel=email&locale=en" % campaign_item(h, True), None),
     expect(ALL)),
    ("content-draft", "GET",
     lambda h: ("/v1/content/%s?channel=email&status=draft" % campaign_item(h), None),
     expect(WRITERS + ("preview",))),
    ("journeys-list", "GET", lambda h: ("/v1/journeys", None), expect(ALL)),
    ("journey-get", "GET", lambda h: ("/v1/journeys/" + journey(h), None), expect(ALL)),
    ("journey-put", "PUT",
     lambda h: ("/v1/journeys/" + journey(h),
                {"title": "Again", "steps": [{"id": "a", "item": campaign_item(h),
                                              "channels": ["email"]}]}),
     expect(["admin", "editor"], maybe=["limited"])),
    ("journey-delete", "DELETE", lambda h: ("/v1/journeys/" + journey(h), None),
     expect(["admin", "editor"], maybe=["limited"])),
    ("changes", "GET", lambda h: ("/v1/changes?since=0&limit=5", None), expect(ALL)),
    ("audit", "GET", lambda h: ("/v1/audit?limit=5", None), expect(WRITERS)),
]


def check(r, want, what):
    if want == OK:
        assert 200 <= r.status_code < 300, "%s: %d %s" % (what, r.status_code, r.text[:400])
    elif isinstance(want, tuple):
        assert r.status_code in (200, 201, 204, 403), "%s: %d" % (what, r.status_code)
        if r.status_code == 403:
            assert_problem(r, 403)
    else:
        assert r.status_code == want, "%s: want %d, got %d %s" % (what, want, r.status_code,
                                                                   r.text[:400])
        assert_problem(r, want)


@pytest.mark.parametrize("role", list(ALL) + [None])
@pytest.mark.parametrize("name,method,setup,want", CELLS, ids=[c[0] for c in CELLS])
def test_matrix(hub, name, method, setup, want, role):
    path, body = setup(hub)
    r = hub.as_(role).request(method, path, body,
                              content_type="application/merge-patch+json"
                              if method == "PATCH" else None)
    check(r, want[role], "%s %s as %s" % (method, path, role or "anon"))


def test_matrix_bad_token_is_401_everywhere(hub):
    for method, path in [("POST", "/v1/tokens"), ("GET", "/v1/tokens"), ("GET", "/v1/locales"),
                         ("PUT", "/v1/locales/fr"), ("GET", "/v1/taxonomy"),
                         ("DELETE", "/v1/taxonomy/segment/vip"), ("GET", "/v1/items"),
                         ("PUT", "/v1/items/a/b"), ("PATCH", "/v1/items/a/b"),
                         ("POST", "/v1/items/a/b/publish"), ("GET", "/v1/items/a/b/versions"),
                         ("GET", "/v1/content/a/b?channel=email"), ("GET", "/v1/journeys"),
                         ("GET", "/v1/changes"), ("GET", "/v1/audit")]:
        r = hub.anon.request(method, path, headers={"Authorization": "Bearer oh_bogus"})
        assert_problem(r, 401)
        assert "bearer" in r.headers.get("WWW-Authenticate", "").lower(), (method, path)


# ---- the limited editor: channels ["email"], tags ["campaign/"] --------------------------

def test_tag_limited_editor_cannot_write_outside_its_tags(hub):
    key = uniq("lim/")
    for who in ("tagged", "limited"):
        r = hub.as_(who).put("/v1/items/" + key, email_only(key, tags=["product/accounts"]))
        assert_problem(r, 403)
        r = hub.as_(who).put("/v1/items/" + key, email_only(key, tags=[]))
        assert_problem(r, 403)
    assert hub.admin.get("/v1/items/" + key).status_code == 404
    # a prefix means the term and what lies below it
    r = hub.tagged.put("/v1/items/" + key, message(key, tags=["campaign/spring/week1"]))
    assert r.status_code == 201, r.text


def test_tag_limited_editor_cannot_touch_items_of_other_teams(hub):
    key = uniq("lim/")
    hub.admin.put_item(email_only(key, tags=["product/accounts"]))
    for who in ("tagged", "limited"):
        c = hub.as_(who)
        assert_problem(c.patch("/v1/items/" + key, {"title": "Mine now"}), 403)
        assert_problem(c.put("/v1/items/" + key,
                             email_only(key, tags=["product/accounts"], subject="Mine")), 403)
        assert_problem(c.post("/v1/items/%s/publish" % key, {"at": None}), 403)
        assert_problem(c.delete("/v1/items/" + key), 403)
    hub.admin.publish(key)
    for who in ("tagged", "limited"):
        c = hub.as_(who)
        assert_problem(c.post("/v1/items/%s/unpublish" % key, {"at": None}), 403)
        assert_problem(c.post("/v1/items/%s/rollback" % key, {"version": 1}), 403)
    draft = hub.admin.ok("GET", "/v1/items/%s?status=draft" % key)
    assert draft["title"] == "Item " + key
    assert hub.delivery.get("/v1/content/%s?channel=email" % key).status_code == 200
    # and may not pull an item out of its own tags either
    mine = uniq("lim/")
    hub.tagged.put_item(message(mine, tags=["campaign/spring"]))
    assert_problem(hub.tagged.patch("/v1/items/" + mine, {"tags": ["product/accounts"]}), 403)
    r = hub.tagged.patch("/v1/items/" + mine, {"tags": ["campaign/spring", "segment/vip"]})
    assert r.status_code == 200, r.text


def test_channel_limited_editor_writes_only_its_channels(hub):
    key = uniq("lim/")
    item = message(key, tags=["campaign/spring"])  # email and sms, weight 100
    for who in ("emailer", "limited"):
        assert_problem(hub.as_(who).put("/v1/items/" + key, item), 403)
    hub.admin.put_item(item)
    for who in ("emailer", "limited"):
        r = hub.as_(who).patch("/v1/items/" + key, {"variants": [
            {"id": "control", "weight": 100, "content": {
                "en": {"email": email("New subject"), "sms": {"text": "Changed by email"}}}}]})
        assert_problem(r, 403)
    draft = hub.admin.ok("GET", "/v1/items/%s?status=draft" % key)
    assert draft["variants"][0]["content"]["en"]["sms"]["text"] == "Hi from " + key
    # the email fields are its own: changing only them is fine
    r = hub.limited.patch("/v1/items/" + key, {"variants": [{"id": "control", "weight": 100,
                                                              "content": {"en": {
        "email": email("New subject"), "sms": {"text": "Hi from " + key}}}}]})
    assert r.status_code == 200, r.text
    draft = hub.admin.ok("GET", "/v1/items/%s?status=draft" % key)
    assert draft["variants"][0]["content"]["en"]["email"]["subject"] == "New subject"
    assert draft["variants"][0]["content"]["en"]["sms"]["text"] == "Hi from " + key


def test_limited_editors_have_no_admin_rights(hub):
    for who in ("limited", "tagged", "emailer", "editor"):
        c = hub.as_(who)
        assert_problem(c.put("/v1/locales/fr", {"name": "Français"}), 403)
        assert_problem(c.put("/v1/taxonomy/campaign/new", {"label": "New"}), 403)
        assert_problem(c.post("/v1/tokens", {"name": uniq("x"), "role": "admin"}), 403)
        assert_problem(c.delete("/v1/tokens/t-admin"), 403)
