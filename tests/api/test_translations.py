"""The translation workflow end to end (API.md "Changes, webhooks, translation";
core/translation/translation.h and core/xml/xml.h "XLIFF" describe the behaviour):
GET /v1/translations/export and POST /v1/translations/import in XLIFF 2.0 and 1.2.

- Round trip in both formats: the exported units are exactly the missing text and HTML fields
  ("<variant>.<channel>.<field>", one file per item), with notes, oh:checksum (SHA-256 of the
  source) and Liquid/HTML as inline codes; targets written here (codes kept, one moved) import
  into the German draft with the codes restored, render in every channel, and are no longer
  exported (204, X-Omnihub-Units: 0).
- Outdated translations come back with a note naming the previous translation; fields
  translated by hand never do.
- Every rejection reason, each with its unit id, while the good units of the same document
  import; nothing of a rejected unit is written; an all-rejected document is a 422.
- What translation tools write back (segments, ignorables, tool markup); roles and protocol
  errors.
The tag filter, the command line and the Translate Toolkit are in test_translations_tools.py,
hostile documents in test_translations_hostile.py, the document helpers in xliff_helpers.py.
"""
import copy
import json
import re
import xml.etree.ElementTree as ET

import pytest

from helpers import assert_problem, uniq
from xliff_helpers import (NS2, NS12, OH, XML_NS, XLIFF, CHECKSUM, FORMATS, TEXT_FIELDS, sha256,
                           C, P, Doc, export, export_doc, assert_nothing_to_export, import_doc,
                           import_ok, problem, draft, content_of, edit_source, new_tag, render,
                           HAND_PREHEADER, rt_item, RT, german_content, fill_targets,
                           check_rt_unit)


def exported_item(hub, prefix, fmt=None):
    """A new round-trip item under a tag of its own and the export of its German (fmt: the
    default format when None); (tag, key, doc)."""
    tag = new_tag(hub)
    key = uniq(prefix)
    hub.editor.put_item(rt_item(key, tag))
    kw = {"fmt": fmt} if fmt else {}
    return tag, key, export_doc(hub.editor, tag=tag, **kw)


def translated_item(hub, prefix):
    """A new round-trip item under a tag of its own, its German exported, filled in and
    imported; (tag, key)."""
    tag, key, doc = exported_item(hub, prefix)
    fill_targets(doc)
    import_ok(hub.editor, doc)
    return tag, key


# ---- 1. the round trip ------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip(hub, fmt):
    tag = new_tag(hub)
    key = uniq("tr/rt-")
    item = rt_item(key, tag)
    hub.editor.put_item(item)

    doc = export_doc(hub.editor, fmt=fmt, tag=tag, expect_units=RT)
    assert doc.format == fmt
    assert doc.originals() == [key]
    f = doc.file_el(key)
    if doc.v2:
        assert (doc.root.get("srcLang"), doc.root.get("trgLang")) == ("en", "de")
        assert f.get("id") == "f1"
    else:
        assert (f.get("source-language"), f.get("target-language"), f.get("datatype")) == \
            ("en", "de", "plaintext")
        for u in doc.units():
            assert u.el.get("resname") == u.id
            assert u.el.get("{%s}space" % XML_NS) == "preserve"
    # the order: variant by variant, each channel's fields in schema order
    ids = doc.ids()
    assert [i.split(".")[0] for i in ids] == sorted((i.split(".")[0] for i in ids),
                                                    key=["control", "short"].index), ids
    for ch, fields in TEXT_FIELDS.items():
        mine = [i.split(".")[2] for i in ids if i.startswith("control.%s." % ch)]
        assert mine == [x for x in fields if x in mine], (ch, mine)
    for u in doc.units():
        check_rt_unit(u, key, item["title"])

    fill_targets(doc)
    rep = import_ok(hub.editor, doc)
    assert rep["format"] == fmt and rep["files"] == 1
    assert rep["imported"] == [{"item": key, "unit": uid, "locale": "de"} for uid in ids], rep
    assert rep["untranslated"] == [] and rep["rejected"] == [], rep
    assert rep["items"] == [key]

    got = draft(hub.preview, key)
    want = german_content(RT)
    for v in got["variants"]:
        assert v["content"].get("de", {}) == want[v["id"]], (v["id"], v["content"].get("de"))
        assert v["content"]["en"] == content_of(item, v["id"])["en"]  # the source untouched
    assert got["updated_by"] == "t-editor"

    # publish and render every channel in German, with the variable filled in
    hub.editor.publish(key)
    a = render(hub.delivery, key, "email")
    assert a["subject"] == "Willkommen, Jörg"
    assert "<h1>Hallo Jörg</h1>" in a["html"], a["html"]
    assert 'Eröffnen Sie Ihr <a href="https://bank.example/save">erstes Sparkonto</a> noch ' \
        'heute.' in a["html"], a["html"]
    assert "Hallo Jörg" in a["text"] and "erstes Sparkonto" in a["text"], a["text"]
    assert HAND_PREHEADER in a["html"]
    assert render(hub.delivery, key, "email", variant="short")["subject"] == "Sie sind dabei"
    a = render(hub.delivery, key, "sms")
    assert a["text"] == "Hallo Jörg, Ihr Konto ist bereit. Antworten Sie STOP zum Abmelden."
    assert a["encoding"] == "GSM-7"
    a = render(hub.delivery, key, "mobile")
    assert a["apns"]["aps"]["alert"] == {"title": "Willkommen", "body": "Jörg, Ihr Konto ist bereit"}
    assert a["fcm"]["message"]["notification"]["body"] == "Jörg, Ihr Konto ist bereit"
    a = render(hub.delivery, key, "web")
    assert a["title"] == "Willkommen an Bord" and a["summary"] == "Jetzt sparen"
    assert "Beginnen Sie <strong>zu sparen</strong> jetzt" in a["html"], a["html"]

    # nothing is left to translate, in either format
    for f2 in FORMATS:
        assert_nothing_to_export(hub.editor, fmt=f2, tag=tag)
    # the other locales still need everything (and fr lacks the preheader too)
    fr = export_doc(hub.editor, locale="fr", fmt=fmt, tag=tag)
    assert sorted(fr.ids()) == sorted(list(RT) + ["control.email.preheader"])


def test_partial_import_leaves_the_rest_to_export(hub):
    """Units without a target are reported untranslated and stay in the next export; a source
    other than the default (de -> fr) works the same way."""
    tag, key, doc = exported_item(hub, "tr/part-")
    done = ["control.email.subject", "control.mobile.title", "short.email.subject"]
    fill_targets(doc, done)
    rep = import_ok(hub.editor, doc)
    assert [e["unit"] for e in rep["imported"]] == [i for i in doc.ids() if i in done]
    assert rep["untranslated"] == [{"item": key, "unit": i} for i in doc.ids() if i not in done]
    assert rep["rejected"] == []
    export_doc(hub.editor, tag=tag, expect_units=[i for i in RT if i not in done])
    # de is now a source: its three strings and the preheader typed by hand go to fr
    fr = export_doc(hub.editor, source="de", locale="fr", tag=tag,
                    expect_units=done + ["control.email.preheader"])
    assert fr.unit("control.email.subject").parts == ["Willkommen, ", C(1)]
    assert fr.unit("control.email.preheader").checksum == sha256(HAND_PREHEADER)


# ---- 2. outdated translations -----------------------------------------------------------------

def test_outdated_units_come_back_with_the_previous_translation(hub):
    tag, key = translated_item(hub, "tr/old-")
    assert_nothing_to_export(hub.editor, tag=tag)

    new_sms = "Hi {{ first_name }}! Your account is open. Reply STOP to opt out."
    edit_source(hub.editor, key, {("control", "sms", "text"): new_sms,
                                  ("control", "web", "title"): "Welcome on board",
                                  # hand-translated in German: no record, never outdated
                                  ("control", "email", "preheader"): "Your account is open"})
    # a German field changed by hand after the import: its record still matches the source
    edit_source(hub.editor, key, {("control", "mobile", "title"): "Hallo"}, locale="de")
    for fmt in FORMATS:
        d = export_doc(hub.editor, tag=tag, fmt=fmt,
                       expect_units=["control.sms.text", "control.web.title"])
        sms = d.unit("control.sms.text")
        assert sms.checksum == sha256(new_sms)
        assert sms.parts == ["Hi ", C(1), "! Your account is open. Reply STOP to opt out."]
        notes = "\n".join(sms.notes)
        assert "Outdated" in notes and RT["control.sms.text"][2] in notes, sms.notes
        title = d.unit("control.web.title")
        assert title.checksum == sha256("Welcome on board")
        assert any("Outdated" in n and "Willkommen an Bord" in n for n in title.notes), title.notes
    # import the new translations: up to date again
    d.unit("control.sms.text").set_target(["Hallo ", C(1), "! Ihr Konto ist offen. STOP zum "
                                           "Abmelden."])
    d.unit("control.web.title").set_target(["Willkommen an Bord!"])
    rep = import_ok(hub.editor, d)
    assert [e["unit"] for e in rep["imported"]] == ["control.sms.text", "control.web.title"]
    assert_nothing_to_export(hub.editor, tag=tag)
    de = content_of(draft(hub.preview, key), "control")["de"]
    assert de["sms"]["text"] == "Hallo {{ first_name }}! Ihr Konto ist offen. STOP zum Abmelden."
    assert de["web"]["title"] == "Willkommen an Bord!"
    assert de["mobile"]["title"] == "Hallo"  # the hand edit survives
    assert de["email"]["preheader"] == HAND_PREHEADER


def test_a_translation_corrected_by_hand_after_the_source_changed_is_not_outdated(hub):
    """The source changes after an import; an editor types the new German text directly:
    that editor knew the new source, so the field is not offered again. Changing the source
    once more with the imported text still in place does offer it."""
    tag, key = translated_item(hub, "tr/fix-")
    edit_source(hub.editor, key, {("control", "web", "title"): "Welcome on board",
                                  ("control", "mobile", "title"): "Hello there"})
    export_doc(hub.editor, tag=tag, expect_units=["control.mobile.title", "control.web.title"])
    edit_source(hub.editor, key, {("control", "web", "title"): "Willkommen an Bord!"},
                locale="de")
    export_doc(hub.editor, tag=tag, expect_units=["control.mobile.title"])


def test_translations_made_from_another_source_are_not_outdated(hub):
    """A French translation imported from the German text is up to date while that German
    text stays as it was: exporting en -> fr must not call it outdated."""
    tag, key, d = exported_item(hub, "tr/chain-")
    fill_targets(d)
    import_ok(hub.editor, d)
    fr = export_doc(hub.editor, source="de", locale="fr", tag=tag)
    for u in fr.units():
        u.set_target(u.parts)  # (a lazy translator)
    assert len(import_ok(hub.editor, fr)["imported"]) == len(fr.units())
    assert_nothing_to_export(hub.editor, source="de", locale="fr", tag=tag)
    r = export(hub.editor, source="en", locale="fr", tag=tag)
    listed = Doc(r.content).ids() if r.status_code == 200 else []
    notes = [n for u in Doc(r.content).units() for n in u.notes] if listed else []
    assert r.status_code == 204, (listed, [n for n in notes if "Outdated" in n][:2])


def test_a_field_translated_by_hand_is_not_exported(hub):
    tag = new_tag(hub)
    key = uniq("tr/hand-")
    item = rt_item(key, tag)
    item["variants"][0]["content"]["de"]["sms"] = {"text": "Hallo {{ first_name }}! STOP"}
    hub.editor.put_item(item)
    d = export_doc(hub.editor, tag=tag)
    assert "control.sms.text" not in d.ids() and "control.email.preheader" not in d.ids()
    assert sorted(d.ids()) == sorted(i for i in RT if i != "control.sms.text")


# ---- 3. rejections ----------------------------------------------------------------------------

LONG_SMS = ("Dies ist eine sehr lange Nachricht. " * 12) + "STOP zum Abmelden."  # 3 segments


def rej_item(key):
    hi = {"en": {"email": {"subject": "Hi {{ first_name }}"}}}
    return {"key": key, "kind": "message", "title": "Rejections " + key, "tags": [],
            "variants": [
                {"id": "control", "content": {"en": {
                    "email": {"subject": "Hello {{ first_name }}", "preheader": "Read this",
                              "html": "<p>Hi {{ first_name }}</p><p>Bye</p>",
                              "text": "Hi {% if vip %}VIP {% endif %}friend"},
                    "sms": {"text": "Your code is ready. Reply STOP to opt out."},
                    "mobile": {"title": "Ready", "body": "Your code is ready",
                               "deep_link": "bank://code"},
                    "web": {"title": "Ready", "html": "<p>Ready</p>"}}}},
                {"id": "v1", "content": copy.deepcopy(hi)},
                {"id": "v2", "content": copy.deepcopy(hi)},
                {"id": "v3", "content": copy.deepcopy(hi)},
                {"id": "v4", "content": copy.deepcopy(hi)},
                {"id": "v5", "content": {"en": {"email": {"subject": "Hi"}}}},
                {"id": "v6", "content": {"en": {"email": {"subject": "Hi"}}}}]}


@pytest.fixture
def two_segments(make_hub):
    return make_hub(config={"channels": {"sms": {"max_segments": 2}}})


def test_rejections_each_with_its_reason_while_good_units_import(two_segments):
    h = two_segments
    key = uniq("tr/rej-")
    h.editor.put_item(rej_item(key))
    doc = export_doc(h.editor)
    assert doc.originals() == [key]
    assert "at most 2 segments" in "\n".join(doc.unit("control.sms.text").notes)
    u = doc.unit
    u("control.email.subject").set_target(["Hallo ", C(1)])                    # imported
    u("control.email.preheader").set_target(["Lies das"])                      # stale_source
    u("control.email.html").set_target([P(1, ["Hallo"]), P(3, ["Tschüss"])])   # missing_code
    u("control.email.text").set_target(["Hallo ", C(2), "VIP ", C(1), "Freund"])  # liquid
    u("control.sms.text").set_target([LONG_SMS])                               # channel_limits
    u("control.mobile.title").set_target(["Bereit"])                           # imported
    u("control.mobile.body").set_target(["x" * 3990])                          # channel_limits
    # control.web.title and control.web.html: no target, untranslated
    u("v1.email.subject").set_target(["Hallo ", C(9)])                         # broken_code
    u("v2.email.subject").set_target(["Hallo ", C(1), " ", C(1)])              # broken_code
    u("v3.email.subject").set_target(["Hallo ", C(1), " {{ secret }}"])        # broken_code
    u("v4.email.subject").set_target(["Hallo ", C(1), " {{ oops"])             # liquid
    u("v5.email.subject").set_target(["Ä" * 600])                              # channel_limits
    junk = ET.Element("{urn:example:other}b")
    junk.text = "fett"
    u("v6.email.subject").set_target(["Hallo "], raw_children=[junk])          # invalid_unit
    doc.add_unit(key, "nosuch.email.subject")
    doc.add_unit(key, "control.email.nofield")
    doc.add_unit(key, "control.fax.text")
    doc.add_unit(key, "control.mobile.deep_link")
    doc.add_unit(key, "justoneword")
    ghost = doc.clone_file(key, "no/such/item")
    # the source changes between export and import
    edit_source(h.editor, key, {("control", "email", "preheader"): "Read this now"})
    before = draft(h.preview, key)

    rep = import_ok(h.editor, doc)
    assert rep["format"] == "xliff2" and rep["files"] == 2
    assert rep["imported"] == [{"item": key, "unit": "control.email.subject", "locale": "de"},
                               {"item": key, "unit": "control.mobile.title", "locale": "de"}]
    assert rep["untranslated"] == [{"item": key, "unit": "control.web.title"},
                                   {"item": key, "unit": "control.web.html"}], rep["untranslated"]
    assert rep["items"] == [key]
    reasons = {(e["item"], e["unit"]): e["reason"] for e in rep["rejected"]}
    details = {(e["item"], e["unit"]): e["detail"] for e in rep["rejected"]}
    want = {"control.email.preheader": "stale_source",
            "control.email.html": "missing_code",
            "control.email.text": "liquid",
            "control.sms.text": "channel_limits",
            "control.mobile.body": "channel_limits",
            "v1.email.subject": "broken_code",
            "v2.email.subject": "broken_code",
            "v3.email.subject": "broken_code",
            "v4.email.subject": "liquid",
            "v5.email.subject": "channel_limits",
            "v6.email.subject": "invalid_unit",
            "nosuch.email.subject": "unknown_unit",
            "control.email.nofield": "unknown_unit",
            "control.fax.text": "unknown_unit",
            "control.mobile.deep_link": "unknown_unit",
            "justoneword": "unknown_unit"}
    want = {(key, k): v for k, v in want.items()}
    want.update({("no/such/item", e.get("id")): "unknown_item"
                 for e in ghost.iter("{%s}unit" % NS2)})
    assert reasons == want, sorted(set(reasons.items()) ^ set(want.items()))
    assert len(rep["rejected"]) == len(want), "one entry per rejected unit"
    for k, d in details.items():
        assert isinstance(d, str) and d.strip() and "\n" not in d, (k, d)
    assert "segments" in details[key, "control.sms.text"], details[key, "control.sms.text"]
    assert "1200" in details[key, "v5.email.subject"] and "998" in details[key, "v5.email.subject"]
    assert "twice" in details[key, "v2.email.subject"]
    assert "4096" in details[key, "control.mobile.body"], details[key, "control.mobile.body"]
    assert "changed" in details[key, "control.email.preheader"]
    assert "{{ secret }}" in details[key, "v3.email.subject"]
    assert "{{ first_name }}" in details[key, "control.email.html"]

    # only the two good units were written
    after = draft(h.preview, key)
    for v in after["variants"]:
        de = v["content"].get("de", {})
        if v["id"] == "control":
            assert {ch: f for ch, f in de.items() if f} == {
                "email": {"subject": "Hallo {{ first_name }}"}, "mobile": {"title": "Bereit"}}, de
        else:
            assert de == {}, (v["id"], de)
        assert v["content"]["en"] == content_of(before, v["id"])["en"]
    # what was rejected or untranslated is still to do; the stale unit with its new source
    left = export_doc(h.editor)
    assert sorted(left.ids()) == sorted(
        i for i in doc.ids(key) if i not in ("control.email.subject", "control.mobile.title"))
    assert left.unit("control.email.preheader").checksum == sha256("Read this now")
    # not even an empty channel object is left behind by a unit the channel refused
    de = content_of(after, "control")["de"]
    assert sorted(de) == ["email", "mobile"], de


def test_locales_falling_back_to_the_target_are_checked_too(hub):
    """de-AT has its own long push title and takes its body from de. A German body that fits
    in de (whose title comes from en) but makes de-AT's payload pass 4096 bytes is refused:
    publishing would have failed for de-AT."""
    tag = new_tag(hub)
    key = uniq("tr/chain-")
    hub.editor.put_item({"key": key, "kind": "message", "title": "Chain", "tags": [tag],
                         "variants": [{"id": "control", "content": {
                             "en": {"mobile": {"title": "Hi", "body": "Your account is ready"}},
                             "de-AT": {"mobile": {"title": "Ö" * 240}}}}]})
    doc = export_doc(hub.editor, tag=tag,
                     expect_units=["control.mobile.body", "control.mobile.title"])
    doc.unit("control.mobile.body").set_target(["Ä" * 1850])  # 3700 bytes: fits beside "Hi"
    doc.unit("control.mobile.title").set_target(["Hallo"])
    rep = import_ok(hub.editor, doc)
    assert [(e["unit"], e["reason"]) for e in rep["rejected"]] == [
        ("control.mobile.body", "channel_limits")], rep
    assert [e["unit"] for e in rep["imported"]] == ["control.mobile.title"]
    assert "/de-AT/" in rep["rejected"][0]["detail"], rep
    assert content_of(draft(hub.preview, key), "control")["de"] == {"mobile": {"title": "Hallo"}}


def test_forbidden_units_for_limited_editors(hub):
    tag, key, doc = exported_item(hub, "tr/forb-")
    fill_targets(doc, ["control.email.subject", "control.sms.text", "control.web.title"])
    # an editor limited to channel email: the email unit imports, the others are forbidden
    rep = import_ok(hub.emailer, doc)
    assert rep["imported"] == [{"item": key, "unit": "control.email.subject", "locale": "de"}]
    # every unit of another channel is forbidden, with a target or not
    assert {e["unit"]: e["reason"] for e in rep["rejected"]} == {
        i: "forbidden" for i in doc.ids() if ".email." not in i}, rep["rejected"]
    assert [e["unit"] for e in rep["untranslated"]] == [
        i for i in doc.ids() if ".email." in i and i != "control.email.subject"]
    de = content_of(draft(hub.preview, key), "control")["de"]
    assert de == {"email": {"preheader": HAND_PREHEADER, "subject": "Willkommen, {{ first_name }}"}}
    # an editor limited to tags under campaign/: this item carries campaign/spring/..., but a
    # second one without the tag is forbidden as a whole (and nothing imports: 422)
    key2 = uniq("tr/forb-")
    hub.editor.put_item(dict(rt_item(key2, tag), tags=[]))
    d2 = Doc(doc.bytes(), fresh=False)
    d2.file_el(key).set("original", key2)
    body = problem(import_doc(hub.tagged, d2), 422)
    assert len(body["errors"]) == len(d2.units()), body
    assert all("forbidden" in e["message"] for e in body["errors"]), body
    assert content_of(draft(hub.preview, key2), "control")["de"] == {
        "email": {"preheader": HAND_PREHEADER}}


def test_unknown_locale_per_file_in_xliff12(hub):
    tag, key, doc = exported_item(hub, "tr/loc-", fmt="xliff12")
    fill_targets(doc, ["control.web.title"])
    bad = doc.clone_file(key, key, **{"target-language": "sw"})  # a tag, not configured
    bad2 = doc.clone_file(key, key, **{"target-language": "no such tag!"})
    rep = import_ok(hub.editor, doc)
    assert rep["files"] == 3
    assert rep["imported"] == [{"item": key, "unit": "control.web.title", "locale": "de"}]
    assert [(e["unit"], e["reason"]) for e in rep["rejected"]] == \
        [(u.get("id"), "unknown_locale") for f in (bad, bad2)
         for u in f.iter("{%s}trans-unit" % NS12)], rep["rejected"]
    # a 2.0 document whose trgLang is not configured: everything rejected, 422
    d2 = export_doc(hub.editor, tag=tag)
    fill_targets(d2)
    d2.root.set("trgLang", "sw")
    body = problem(import_doc(hub.editor, d2), 422)
    assert len(body["errors"]) == len(d2.units())
    assert all("unknown_locale" in e["message"] for e in body["errors"]), body


def test_all_units_rejected_is_422_and_writes_nothing(hub):
    tag, key, doc = exported_item(hub, "tr/all-")
    doc.unit("control.email.subject").set_target(["Willkommen"])  # missing_code
    doc.unit("control.web.html").set_target([P(1, ["x"]), C(7)])  # broken_code
    before = draft(hub.preview, key)
    r = import_doc(hub.editor, doc)
    body = problem(r, 422)
    got = {e["path"]: e["message"] for e in body["errors"]}
    assert len(got) == 2, body  # the rejected units only (the others are untranslated)
    ptr = "/" + key.replace("~", "~0").replace("/", "~1") + "/"
    assert got[ptr + "control.email.subject"].startswith("missing_code: "), got
    assert got[ptr + "control.web.html"].startswith("broken_code: "), got
    after = draft(hub.preview, key)
    assert after == before
    assert_problem(r, 422)  # the shared RFC 9457 checks (error paths are JSON pointers)


def test_without_checksum_the_source_text_decides(hub):
    """A unit without oh:checksum (a tool dropped it) is judged by its source text."""
    tag, key, doc = exported_item(hub, "tr/nosum-")
    fill_targets(doc, ["control.email.subject", "control.web.title"])
    for u in doc.units():
        del u.el.attrib[CHECKSUM]
    doc.unit("control.web.title").source_el.text = "Welcome aboard!"  # not the current source
    rep = import_ok(hub.editor, doc)
    assert [e["unit"] for e in rep["imported"]] == ["control.email.subject"]
    assert [(e["unit"], e["reason"]) for e in rep["rejected"]] == [
        ("control.web.title", "stale_source")]


# ---- what translation tools write back ---------------------------------------------------------

def set_raw(u, inner):
    """Replaces the unit's target with <target>inner</target> (inner: XML in the unit's
    namespace) and returns it."""
    ns = u.doc.ns
    tgt = ET.fromstring('<target xmlns="%s" xmlns:oh="%s">%s</target>' % (ns, OH, inner))
    holder = u.segment if u.doc.v2 else u.el
    old = holder.find("{%s}target" % ns)
    if old is not None:
        holder.remove(old)
    holder.insert(list(holder).index(u.source_el) + 1, tgt)
    return tgt


def replace_segments(u, inner):
    """2.0: replaces the unit's <segment> by the segments and ignorables in inner."""
    holder = ET.fromstring('<unit xmlns="%s">%s</unit>' % (NS2, inner))
    at = list(u.el).index(u.segment)
    u.el.remove(u.segment)
    for i, child in enumerate(list(holder)):
        u.el.insert(at + i, child)


def test_xliff2_segments_ignorables_and_inline_markup(hub):
    tag, key, doc = exported_item(hub, "tr/x2-", fmt="xliff2")
    # a tool split the SMS into two segments with an ignorable space between them
    replace_segments(doc.unit("control.sms.text"), (
        '<segment state="translated"><source>Hi <ph id="1" dataRef="d1"/>, your account is '
        'ready.</source><target>Hallo <ph id="1" dataRef="d1"/>, Ihr Konto ist bereit.</target>'
        '</segment><ignorable><source> </source></ignorable>'
        '<segment state="final"><source>Reply STOP to opt out.</source>'
        '<target>STOP zum Abmelden.</target></segment>'))
    # <sc>/<ec> instead of <pc>; <mrk> unwrapped; <cp> is its character; <sm>/<em> ignored
    set_raw(doc.unit("control.web.html"),
            '<sc id="1" dataRefStart="d1"/>Beginnen Sie <pc id="2" dataRefStart="d2" '
            'dataRefEnd="d3">zu sparen</pc> jetzt<ec startRef="1" dataRefEnd="d4"/>')
    set_raw(doc.unit("control.web.summary"),
            '<mrk id="m1" translate="yes">Jetzt</mrk> sparen<sm id="s1"/><em startRef="s1"/>')
    set_raw(doc.unit("control.web.title"), 'Willkommen<cp hex="00A0"/>an Bord')
    # states are not consulted; 2.1 is read as 2.0
    doc.unit("control.mobile.title").set_target(["Willkommen"])
    doc.unit("control.mobile.title").segment.set("state", "initial")
    doc.root.set("version", "2.1")
    rep = import_ok(hub.editor, doc)
    assert rep["rejected"] == [], rep["rejected"]
    assert sorted(e["unit"] for e in rep["imported"]) == sorted(
        ["control.sms.text", "control.mobile.title", "control.web.title", "control.web.html",
         "control.web.summary"]), rep["imported"]
    de = content_of(draft(hub.preview, key), "control")["de"]
    assert de["sms"]["text"] == "Hallo {{ first_name }}, Ihr Konto ist bereit. STOP zum Abmelden."
    assert de["web"] == {"html": "<p>Beginnen Sie <strong>zu sparen</strong> jetzt</p>",
                         "summary": "Jetzt sparen", "title": "Willkommen\u00a0an Bord"}
    assert de["mobile"] == {"title": "Willkommen"}


def test_xliff2_unit_with_a_target_in_only_some_segments_is_invalid(hub):
    tag, key, doc = exported_item(hub, "tr/x2s-")
    replace_segments(doc.unit("control.sms.text"), (
        '<segment><source>Hi <ph id="1" dataRef="d1"/>, your account is ready.</source>'
        '<target>Hallo <ph id="1" dataRef="d1"/>, Ihr Konto ist bereit.</target></segment>'
        '<segment><source> Reply STOP to opt out.</source></segment>'))
    doc.unit("control.web.title").set_target(["Willkommen an Bord"])
    rep = import_ok(hub.editor, doc)
    assert [e["unit"] for e in rep["imported"]] == ["control.web.title"]
    assert [(e["unit"], e["reason"]) for e in rep["rejected"]] == [
        ("control.sms.text", "invalid_unit")], rep["rejected"]


def test_xliff12_tool_markup(hub):
    tag, key, doc = exported_item(hub, "tr/x12-", fmt="xliff12")
    # <bx>/<ex> instead of <g>, state ignored
    t = set_raw(doc.unit("control.web.html"),
                '<bx id="1"/>Beginnen Sie <g id="2" ctype="x-html">zu sparen</g> jetzt'
                '<ex id="1"/>')
    t.set("state", "needs-translation")
    # the native code of the source's Liquid tag in a <ph>: the same code, so it is kept
    set_raw(doc.unit("control.email.subject"), 'Willkommen, <ph id="1">{{ first_name }}</ph>')
    # a segmented unit: <seg-source> and <mrk mtype="seg"> in the target
    u = doc.unit("control.web.summary")
    seg = ET.SubElement(u.el, "{%s}seg-source" % NS12)
    ET.SubElement(seg, "{%s}mrk" % NS12, {"mtype": "seg", "mid": "1"}).text = "Start saving"
    u.el.remove(seg)
    u.el.insert(list(u.el).index(u.source_el) + 1, seg)
    set_raw(u, '<mrk mtype="seg" mid="1">Jetzt sparen</mrk>')
    # whitespace only: untranslated, not an error
    set_raw(doc.unit("control.web.title"), "  \n ")
    rep = import_ok(hub.editor, doc)
    assert rep["rejected"] == [], rep["rejected"]
    assert sorted(e["unit"] for e in rep["imported"]) == [
        "control.email.subject", "control.web.html", "control.web.summary"], rep["imported"]
    assert "control.web.title" in [e["unit"] for e in rep["untranslated"]]
    de = content_of(draft(hub.preview, key), "control")["de"]
    assert de["email"]["subject"] == "Willkommen, {{ first_name }}"
    assert de["web"] == {"html": "<p>Beginnen Sie <strong>zu sparen</strong> jetzt</p>",
                         "summary": "Jetzt sparen"}


def test_markup_typed_as_text_is_refused(hub):
    """HTML or Liquid that the source does not have is refused even when it arrives as text:
    escaped (&lt;script&gt;), in CDATA, or as a 1.2 <ph> native code."""
    tag, key, doc = exported_item(hub, "tr/smug-", fmt="xliff12")
    doc.unit("control.web.html").set_target(
        [P(1, ["Beginnen Sie <script>alert(1)</script>", P(2, ["zu sparen"]), " jetzt"])])
    set_raw(doc.unit("control.email.html"),
            '<g id="1" ctype="x-html">Hallo <x id="2"/></g><g id="3" ctype="x-html">'
            '<![CDATA[<img src=x onerror=alert(1)>]]> <g id="4" ctype="x-html">Konto</g>.'
            '</g><x id="5"/>')
    set_raw(doc.unit("control.email.subject"),
            'Willkommen, <x id="1"/> <ph id="9">{{ secret_token }}</ph>')
    doc.unit("control.mobile.body").set_target([C(1), ", {% render 'blocks/footer' %}"])
    doc.unit("control.web.title").set_target(["Willkommen"])
    rep = import_ok(hub.editor, doc)
    assert [e["unit"] for e in rep["imported"]] == ["control.web.title"]
    got = {e["unit"]: (e["reason"], e["detail"]) for e in rep["rejected"]}
    assert {k: v[0] for k, v in got.items()} == {
        "control.web.html": "broken_code", "control.email.html": "broken_code",
        "control.email.subject": "broken_code", "control.mobile.body": "broken_code"}, got
    assert "<script>" in got["control.web.html"][1]
    assert "<img" in got["control.email.html"][1]
    assert "{{ secret_token }}" in got["control.email.subject"][1]
    de = content_of(draft(hub.preview, key), "control")["de"]
    assert "script" not in json.dumps(de) and "onerror" not in json.dumps(de)


def test_languages_are_canonicalized_and_must_differ(hub):
    tag, key, doc = exported_item(hub, "tr/lang-")
    doc.unit("control.web.title").set_target(["Willkommen (AT)"])
    doc.root.set("trgLang", "DE-at")
    doc.root.set("srcLang", "EN")
    rep = import_ok(hub.editor, doc)
    assert rep["imported"] == [{"item": key, "unit": "control.web.title", "locale": "de-AT"}]
    assert content_of(draft(hub.preview, key), "control")["de-AT"] == {
        "web": {"title": "Willkommen (AT)"}}
    doc.root.set("trgLang", "en")
    body = problem(import_doc(hub.editor, doc), 422)
    assert all("unknown_locale" in e["message"] for e in body["errors"]), body
    # a source locale the item has no text in: nothing names a source field
    doc.root.set("trgLang", "de")
    doc.root.set("srcLang", "fr")
    body = problem(import_doc(hub.editor, doc), 422)
    assert all("unknown_unit" in e["message"] for e in body["errors"]), body


def test_the_same_item_in_two_files(hub):
    """Two files for one item (two translators' halves): both halves land."""
    tag, key, doc = exported_item(hub, "tr/two-", fmt="xliff12")
    second = doc.clone_file(key, key)
    doc.unit("control.web.title").set_target(["Willkommen an Bord"])
    for tu in second.iter("{%s}trans-unit" % NS12):
        if tu.get("id") == "control.mobile.title":
            ET.SubElement(tu, "{%s}target" % NS12).text = "Willkommen"
    rep = import_ok(hub.editor, doc)
    assert sorted(e["unit"] for e in rep["imported"]) == ["control.mobile.title",
                                                          "control.web.title"], rep
    de = content_of(draft(hub.preview, key), "control")["de"]
    assert de["web"] == {"title": "Willkommen an Bord"} and de["mobile"] == {"title": "Willkommen"}


def test_duplicate_unit_ids_in_a_file_are_refused(hub):
    tag, key, doc = exported_item(hub, "tr/dup-")
    doc.unit("control.web.title").set_target(["Willkommen an Bord"])
    doc.add_unit(key, "control.web.title", source="Welcome aboard", target="Hallo")
    b = problem(import_doc(hub.editor, doc), 422)
    assert "control.web.title" in b["detail"], b
    assert content_of(draft(hub.preview, key), "control")["de"] == {
        "email": {"preheader": HAND_PREHEADER}}


def test_deleting_an_item_forgets_its_translation_records(hub):
    tag, key = translated_item(hub, "tr/del-")
    hub.editor.ok("DELETE", "/v1/items/" + key)
    # the same key again, German typed by hand, English changed: a record that outlived the
    # item would make these fields "outdated"
    item = rt_item(key, tag)
    c = item["variants"][0]["content"]
    c["de"] = {"web": {"title": "Willkommen an Bord"}, "email": {"preheader": HAND_PREHEADER}}
    c["en"]["web"]["title"] = "Welcome on board"
    hub.editor.put_item(item)
    d = export_doc(hub.editor, tag=tag)
    assert "control.web.title" not in d.ids()
    assert sorted(d.ids()) == sorted(i for i in RT if i != "control.web.title")


# ---- 4. roles and protocol errors -------------------------------------------------------------

def test_roles(hub):
    tag = new_tag(hub)
    key = uniq("tr/role-")
    hub.editor.put_item(rt_item(key, tag))
    doc = export_doc(hub.preview, tag=tag, expect_units=RT)  # preview may export
    fill_targets(doc)
    body = doc.bytes()
    assert_problem(export(hub.delivery, tag=tag), 403)
    assert_problem(import_doc(hub.delivery, body), 403)
    assert_problem(import_doc(hub.preview, body), 403)
    assert_problem(export(hub.anon, tag=tag), 401)
    assert_problem(import_doc(hub.anon, body), 401)
    assert draft(hub.preview, key)["variants"][1]["content"].get("de") is None
    # admin may do both; without source the default locale (en) is the source
    d = export_doc(hub.admin, tag=tag, source=None, expect_units=RT)
    assert [u.checksum for u in d.units()] == [u.checksum for u in doc.units()]
    assert len(import_ok(hub.admin, body)["imported"]) == len(RT)


def test_limited_editors_export_only_what_they_may_change(hub):
    tag = new_tag(hub)
    key = uniq("tr/lim-")
    hub.editor.put_item(rt_item(key, tag))
    d = export_doc(hub.emailer, tag=tag)
    assert sorted(d.ids()) == sorted(i for i in RT if ".email." in i)
    # `limited` (email, campaign/): this item is under campaign/ -> the same email units
    assert sorted(export_doc(hub.limited, tag=tag).ids()) == sorted(d.ids())
    # an item without a campaign tag is invisible to it
    tag2 = "journey/matrix"
    key2 = uniq("tr/lim-")
    hub.editor.put_item(dict(rt_item(key2, tag2), tags=[tag2]))
    r = export(hub.limited, tag=tag2)
    if r.status_code == 200:
        assert key2 not in Doc(r.content).originals()
    else:
        assert r.status_code == 204, r.text
    assert key2 in export_doc(hub.editor, tag=tag2).originals()


def test_export_parameter_errors(hub):
    e = hub.editor
    assert_problem(e.get("/v1/translations/export", params={"source": "en"}), 400)
    assert_problem(export(e, locale="not a tag!"), 400)
    assert_problem(export(e, source="!!"), 400)
    b = assert_problem(export(e, locale="sw"), 422)
    assert "sw" in b["detail"], b
    b = assert_problem(export(e, source="ja"), 422)
    assert "ja" in b["detail"], b
    assert_problem(export(e, locale="en"), 422)  # the source itself
    assert_problem(export(e, locale="de", source="de"), 422)
    b = assert_problem(export(e, fmt="xml"), 400)
    assert "xliff2" in b["detail"], b
    assert_problem(export(e, bogus="1"), 400)
    # an unknown tag gives nothing to translate (or is refused), never a 5xx
    r = export(e, tag="campaign/" + uniq("nope"))
    assert r.status_code in (204, 422), r.text
    r = e.post("/v1/translations/export", {"locale": "de"})
    assert_problem(r, 405)
    assert r.headers.get("Allow") == "GET"
    assert_problem(e.get("/v1/translations"), 404)
    assert_problem(e.get("/v1/translations/other"), 404)


def test_import_protocol_errors(hub):
    e = hub.editor
    tag = new_tag(hub)
    key = uniq("tr/proto-")
    hub.editor.put_item(rt_item(key, tag))
    good = export_doc(e, tag=tag)
    fill_targets(good, ["control.web.summary"])
    body = good.bytes()
    assert_problem(import_doc(e, body, content_type="application/json"), 415)
    assert_problem(import_doc(e, body, content_type="text/plain"), 415)
    r = e.post("/v1/translations/import", raw=body)  # no Content-Type at all
    assert_problem(r, 415)
    assert_problem(import_doc(e, b""), 400)
    r = e.post("/v1/translations/import?x=1", raw=body, content_type=XLIFF)
    assert_problem(r, 400)
    bad = b'<?xml version="1.0" encoding="UTF-8"?>\n<xliff xmlns="%s" version="2.0">\n' \
          b'<file id="f1" original="x">\n</xliff>\n' % NS2.encode()
    b = assert_problem(import_doc(e, bad), 400)
    assert re.match(r"line 4\b", b["detail"]), b["detail"]
    r = e.get("/v1/translations/import")
    assert_problem(r, 405)
    assert r.headers.get("Allow") == "POST"
    r = e.put("/v1/translations/import", raw=body, content_type=XLIFF)
    assert_problem(r, 405)
    assert r.headers.get("Allow") == "POST"
    assert content_of(draft(hub.preview, key), "control")["de"] == {
        "email": {"preheader": HAND_PREHEADER}}
    # the other XML media types are accepted (charset parameters too)
    rep = import_ok(e, body, content_type="text/xml; charset=utf-8")
    assert [x["unit"] for x in rep["imported"]] == ["control.web.summary"]
    rep = import_ok(e, body, content_type="application/xml")  # importing again is fine
    assert [x["unit"] for x in rep["imported"]] == ["control.web.summary"]


