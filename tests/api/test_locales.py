"""Locales on an empty store: the first one is the default, chains (explicit fallback links,
then RFC 4647 truncation, then the default), 422 for unknown fallbacks and cycles, 409 when a
locale in use is deleted, canonical tags, and content only in configured locales."""
from helpers import assert_problem, email_only, message, uniq


def chain(h, tag):
    return h.admin.ok("GET", "/v1/locales/" + tag)["chain"]


def test_first_locale_is_the_default_and_chains_end_there(fresh_hub):
    h = fresh_hub
    assert h.admin.ok("GET", "/v1/locales")["items"] == []
    r = h.admin.put("/v1/locales/en", {"name": "English"})
    assert r.status_code == 201, r.text
    en = r.json()
    assert en["tag"] == "en" and en["default"] is True and en["chain"] == ["en"]
    r = h.admin.put("/v1/locales/en", {"name": "English (replaced)"})
    assert r.status_code == 200 and r.json()["default"] is True, r.text
    assert h.admin.put("/v1/locales/de", {"name": "Deutsch", "fallback": "en"}).status_code == 201
    assert h.admin.ok("GET", "/v1/locales/de")["default"] is False
    assert chain(h, "de") == ["de", "en"]
    # no explicit fallback: truncation (de-AT -> de), then the default
    h.admin.ok("PUT", "/v1/locales/de-AT", {"name": "Deutsch (Österreich)"})
    assert chain(h, "de-AT") == ["de-AT", "de", "en"]
    h.admin.ok("PUT", "/v1/locales/fr", {"name": "Français"})
    assert chain(h, "fr") == ["fr", "en"]
    items = h.delivery.ok("GET", "/v1/locales")["items"]
    assert {i["tag"] for i in items} == {"en", "de", "de-AT", "fr"}
    assert [i["tag"] for i in items if i["default"]] == ["en"]


def test_explicit_fallback_beats_truncation(fresh_hub):
    h = fresh_hub
    h.admin.ok("PUT", "/v1/locales/de-CH", {"name": "Schweiz", "fallback": "fr"})
    c = chain(h, "de-CH")
    assert c[:2] == ["de-CH", "fr"] and c[-1] == "en", c
    h.admin.ok("DELETE", "/v1/locales/de-CH")


def test_tags_are_canonical_and_malformed_tags_400(fresh_hub):
    h = fresh_hub
    got = h.admin.ok("GET", "/v1/locales/de-at")
    assert got["tag"] == "de-AT"
    r = h.admin.put("/v1/locales/ES-419", {"name": "Español (Latinoamérica)", "fallback": "en"})
    assert r.status_code == 201, r.text
    assert r.json()["tag"] == "es-419"
    for bad in ["not_a_tag", "e", "en--US", "toolonglanguage", "de-AT-"]:
        r = h.admin.put("/v1/locales/" + bad, {"name": "x"})
        assert_problem(r, 400)
        assert_problem(h.admin.get("/v1/locales/" + bad), 400)
    h.admin.ok("DELETE", "/v1/locales/es-419")


def test_unknown_fallback_and_cycles_are_422(fresh_hub):
    h = fresh_hub
    assert_problem(h.admin.put("/v1/locales/it", {"name": "Italiano", "fallback": "pt"}), 422,
                   paths=["/fallback"])
    assert h.admin.get("/v1/locales/it").status_code == 404
    assert_problem(h.admin.put("/v1/locales/it", {"name": "Italiano", "fallback": "it"}), 422,
                   paths=["/fallback"])
    h.admin.ok("PUT", "/v1/locales/es", {"name": "Español", "fallback": "en"})
    h.admin.ok("PUT", "/v1/locales/pt", {"name": "Português", "fallback": "es"})
    assert_problem(h.admin.put("/v1/locales/es", {"name": "Español", "fallback": "pt"}), 422,
                   paths=["/fallback"])
    assert chain(h, "es") == ["es", "en"]
    assert chain(h, "pt") == ["pt", "es", "en"]
    assert_problem(h.admin.put("/v1/locales/it", {"name": ""}), 422, paths=["/name"])
    assert_problem(h.admin.put("/v1/locales/it", {"fallback": "en"}), 422)
    assert_problem(h.admin.put("/v1/locales/it", {"name": "I", "default": "yes"}), 422,
                   paths=["/default"])


def test_a_cycle_through_the_default_is_422(make_hub):
    h = make_hub(seeded=False)
    h.admin.ok("PUT", "/v1/locales/en", {"name": "English"})
    h.admin.ok("PUT", "/v1/locales/de", {"name": "Deutsch", "fallback": "en"})
    # en -> de -> en: the default may not fall back into a chain that leads to itself
    assert_problem(h.admin.put("/v1/locales/en", {"name": "English", "fallback": "de"}), 422,
                   paths=["/fallback"])
    assert h.admin.ok("GET", "/v1/locales/en")["fallback"] is None
    h.admin.ok("PUT", "/v1/locales/fr", {"name": "Français", "default": True})


def test_default_moves_and_every_chain_ends_there(fresh_hub):
    h = fresh_hub
    h.admin.ok("PUT", "/v1/locales/fr", {"name": "Français", "default": True})
    items = h.admin.ok("GET", "/v1/locales")["items"]
    assert [i["tag"] for i in items if i["default"]] == ["fr"]
    assert chain(h, "de") == ["de", "en", "fr"]
    assert chain(h, "fr") == ["fr"]
    # a default cannot be deleted
    assert_problem(h.admin.delete("/v1/locales/fr"), 409)
    h.admin.ok("PUT", "/v1/locales/en", {"name": "English", "default": True})
    assert chain(h, "de") == ["de", "en"]
    assert h.admin.ok("GET", "/v1/locales/fr")["default"] is False


def test_delete_is_409_while_used(fresh_hub):
    h = fresh_hub
    key = uniq("loc/")
    h.editor.put_item(message(key, variants=[{"id": "control", "content": {
        "en": {"sms": {"text": "Hi"}}, "de": {"sms": {"text": "Hallo"}}}}]))
    assert_problem(h.admin.delete("/v1/locales/de"), 409)  # content and de-AT use it
    h.admin.ok("DELETE", "/v1/locales/de-AT")
    assert_problem(h.admin.delete("/v1/locales/de"), 409)  # content still uses it
    assert h.admin.get("/v1/locales/de").status_code == 200
    # a locale that is only some other locale's fallback
    assert_problem(h.admin.delete("/v1/locales/es"), 409)  # pt -> es
    h.admin.ok("DELETE", "/v1/locales/pt")
    assert h.admin.delete("/v1/locales/es").status_code == 204
    assert_problem(h.admin.get("/v1/locales/es"), 404)
    assert_problem(h.admin.delete("/v1/locales/es"), 404)
    # once the content is gone, the locale can go
    h.editor.ok("DELETE", "/v1/items/" + key)
    assert h.admin.delete("/v1/locales/de").status_code == 204


def test_content_only_in_configured_canonical_locales(fresh_hub):
    h = fresh_hub
    key = uniq("loc/")
    r = h.editor.put("/v1/items/" + key, message(key, variants=[{"id": "control", "content": {
        "en": {"sms": {"text": "Hi"}}, "it": {"sms": {"text": "Ciao"}}}}]))
    assert_problem(r, 422, paths=["/variants/0/content/it"])
    r = h.editor.put("/v1/items/" + key, message(key, variants=[{"id": "control", "content": {
        "EN": {"sms": {"text": "Hi"}}}}]))
    assert_problem(r, 422, paths=["/variants/0/content/EN"])
    assert h.editor.put("/v1/items/" + key, email_only(key)).status_code == 201


def test_locales_are_kept_across_a_restart(fresh_hub):
    h = fresh_hub
    before = h.admin.ok("GET", "/v1/locales")["items"]
    h.restart()
    assert h.admin.ok("GET", "/v1/locales")["items"] == before
