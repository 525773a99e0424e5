"""Delivery reads, GET /v1/content/{key}: the field resolution rule of API.md (for each locale of
the chain, the variant's field, else the base variant's; a German reader of `short` gets the
German subject of `control`), resolved_from, Content-Language, strong ETag and 304,
Surrogate-Key, fallback=false, 404 for unknown variants, channels and unpublished items, and
drafts for preview and up only."""
import pytest

from helpers import assert_problem, email, message, uniq

TAGS = ["campaign/spring", "product/accounts/savings"]


@pytest.fixture(scope="module")
def welcome(hub):
    """control: en email + sms, de email subject; short: en email subject."""
    key = uniq("dl/")
    hub.editor.put_item(message(key, tags=TAGS, variants=[
        {"id": "control", "weight": 50, "content": {
            "en": {"email": email("EN control", "<p>EN html</p>", preheader="EN pre"),
                   "sms": {"text": "EN sms"}},
            "de": {"email": {"subject": "DE control"}}}},
        {"id": "short", "weight": 50, "content": {"en": {"email": {"subject": "EN short"}}}}]))
    hub.editor.publish(key)
    return key


def content(client, key, **params):
    return client.get("/v1/content/" + key, params=params)


def read(client, key, **params):
    r = content(client, key, **params)
    assert r.status_code == 200, r.text
    return r


def test_german_reader_of_short_gets_the_german_subject_of_control(hub, welcome):
    r = read(hub.delivery, welcome, channel="email", locale="de", variant="short")
    b = r.json()
    assert b["key"] == welcome and b["version"] == 1 and b["variant"] == "short"
    assert b["channel"] == "email" and b["locale"] == "de"
    assert r.headers["Content-Language"] == "de"
    assert b["fields"]["subject"] == "DE control"
    assert b["resolved_from"]["subject"] == {"variant": "control", "locale": "de"}
    assert b["fields"]["html"] == "<p>EN html</p>"
    assert b["resolved_from"]["html"] == {"variant": "control", "locale": "en"}
    assert b["fields"]["preheader"] == "EN pre"
    assert set(b["resolved_from"]) == set(b["fields"])


def test_own_variant_wins_within_a_locale(hub, welcome):
    b = read(hub.delivery, welcome, channel="email", locale="en", variant="short").json()
    assert b["fields"]["subject"] == "EN short"
    assert b["resolved_from"]["subject"] == {"variant": "short", "locale": "en"}
    assert b["resolved_from"]["html"] == {"variant": "control", "locale": "en"}


def test_base_variant_is_the_default(hub, welcome):
    b = read(hub.delivery, welcome, channel="email", locale="de").json()
    assert b["variant"] == "control" and b["fields"]["subject"] == "DE control"


def test_chains_truncation_and_unknown_locales(hub, welcome):
    r = read(hub.delivery, welcome, channel="email", locale="de-AT")
    b = r.json()
    assert b["fields"]["subject"] == "DE control"
    assert b["resolved_from"]["subject"]["locale"] == "de"
    assert r.headers["Content-Language"] == b["locale"]
    assert b["locale"] in ("de-AT", "de")
    # de-CH is not configured: truncated to de
    r = read(hub.delivery, welcome, channel="email", locale="de-CH")
    assert r.headers["Content-Language"] == "de" and r.json()["locale"] == "de"
    assert r.json()["fields"]["subject"] == "DE control"
    # nothing like ja configured: the default
    r = read(hub.delivery, welcome, channel="email", locale="ja")
    assert r.headers["Content-Language"] == "en" and r.json()["fields"]["subject"] == "EN control"
    # French has no content: served from English, and resolved_from says so
    b = read(hub.delivery, welcome, channel="sms", locale="fr").json()
    assert b["fields"]["text"] == "EN sms"
    assert b["resolved_from"]["text"] == {"variant": "control", "locale": "en"}
    r = read(hub.delivery, welcome, channel="email")  # no locale: the default
    assert r.headers["Content-Language"] == "en"
    assert_problem(content(hub.delivery, welcome, channel="email", locale="not a tag!"), 400)


def test_fallback_false_gives_the_exact_locale_only(hub, welcome):
    b = read(hub.delivery, welcome, channel="email", locale="de", variant="short",
             fallback="false").json()
    assert b["fields"] == {"subject": "DE control"}
    assert b["resolved_from"] == {"subject": {"variant": "control", "locale": "de"}}
    # nothing at all in fr: not found rather than English
    assert_problem(content(hub.delivery, welcome, channel="sms", locale="fr", fallback="false"),
                   404)
    assert_problem(content(hub.delivery, welcome, channel="email", fallback="maybe"), 400)
    b = read(hub.delivery, welcome, channel="email", locale="de", fallback="true").json()
    assert b["fields"]["html"] == "<p>EN html</p>"


def test_strong_etag_and_304(hub, welcome):
    r = read(hub.delivery, welcome, channel="email", locale="de")
    etag = r.headers.get("ETag")
    assert etag and etag.startswith('"') and not etag.startswith("W/"), etag
    r2 = hub.delivery.get("/v1/content/" + welcome, params={"channel": "email", "locale": "de"},
                          headers={"If-None-Match": etag})
    assert r2.status_code == 304, r2.text
    assert r2.content == b"" and r2.headers.get("ETag") == etag
    r3 = hub.delivery.get("/v1/content/" + welcome, params={"channel": "email", "locale": "de"},
                          headers={"If-None-Match": '"something-else", ' + etag})
    assert r3.status_code == 304
    r4 = hub.delivery.get("/v1/content/" + welcome, params={"channel": "email", "locale": "de"},
                          headers={"If-None-Match": '"something-else"'})
    assert r4.status_code == 200 and r4.json()["fields"]["subject"] == "DE control"
    # a different answer has a different tag
    other = read(hub.delivery, welcome, channel="email", locale="en").headers["ETag"]
    assert other != etag


def test_republish_changes_the_etag(hub):
    key = uniq("dl/")
    hub.editor.put_item(message(key, tags=TAGS))
    hub.editor.publish(key)
    e1 = read(hub.delivery, key, channel="sms").headers["ETag"]
    hub.editor.patch("/v1/items/" + key, {"variants": [{"id": "control", "content": {
        "en": {"sms": {"text": "changed"}}}}]})
    assert read(hub.delivery, key, channel="sms").headers["ETag"] == e1  # draft only so far
    hub.editor.publish(key)
    r = hub.delivery.get("/v1/content/%s?channel=sms" % key, headers={"If-None-Match": e1})
    assert r.status_code == 200 and r.json()["fields"]["text"] == "changed"
    assert r.headers["ETag"] != e1


def test_surrogate_key_names_the_item_and_its_tags(hub, welcome):
    sk = read(hub.delivery, welcome, channel="email").headers.get("Surrogate-Key", "")
    words = sk.split()
    assert any(welcome in w for w in words), sk
    for t in TAGS:
        assert any(t in w for w in words), sk


def test_not_found_cases(hub, welcome):
    assert_problem(content(hub.delivery, welcome, channel="email", variant="nope"), 404)
    assert_problem(content(hub.delivery, welcome, channel="mobile"), 404)  # none in this item
    r = content(hub.delivery, welcome, channel="fax")
    assert r.status_code in (400, 404), r.text
    assert_problem(r, r.status_code)
    assert_problem(content(hub.delivery, welcome), 400)  # channel is required
    assert_problem(content(hub.delivery, uniq("dl/"), channel="email"), 404)
    assert_problem(content(hub.delivery, welcome, channel="email", colour="red"), 400)
    # subject and segments are accepted (assignment arrives later)
    read(hub.delivery, welcome, channel="email", subject="cust-42",
         segments="segment/vip,segment/new")


def test_drafts_for_preview_and_up_only(hub):
    key = uniq("dl/")
    hub.editor.put_item(message(key, tags=TAGS))
    assert_problem(content(hub.delivery, key, channel="sms"), 404)  # never published
    assert_problem(content(hub.delivery, key, channel="sms", status="draft"), 403)
    for who in ("preview", "editor", "admin"):
        b = read(hub.as_(who), key, channel="sms", status="draft").json()
        assert b["fields"]["text"] == "Hi from " + key
    hub.editor.publish(key)
    hub.editor.patch("/v1/items/" + key, {"variants": [{"id": "control", "content": {
        "en": {"sms": {"text": "draft text"}}}}]})
    assert read(hub.delivery, key, channel="sms").json()["fields"]["text"] == "Hi from " + key
    assert read(hub.preview, key, channel="sms", status="draft").json()["fields"][
        "text"] == "draft text"
    assert read(hub.preview, key, channel="sms", status="published").json()["fields"][
        "text"] == "Hi from " + key
    assert_problem(content(hub.delivery, key, channel="sms", status="draft"), 403)


def test_head_is_get_without_a_body(hub, welcome):
    g = read(hub.delivery, welcome, channel="email", locale="de")
    h = hub.delivery.request("HEAD", "/v1/content/" + welcome,
                             params={"channel": "email", "locale": "de"})
    assert h.status_code == 200 and h.content == b""
    assert h.headers["ETag"] == g.headers["ETag"]
    assert h.headers["Content-Language"] == "de"
    assert hub.anon.request("HEAD", "/healthz").status_code == 200
