"""The translation workflow from outside: the tag filter (items and the blocks they render,
compared with an independent computation over content-samples/), the `omnihub xliff` command
line, and interoperability with the Translate Toolkit (Debian's translate-toolkit 3.8.4, XLIFF
1.2 only: it has no XLIFF 2.0 support at all, so 2.0 is exercised by test_translations.py):
xliff2po, pomerge/po2xliff back, and its xliff storage API with rich targets.
"""
import copy
import importlib.util
import json
import re
import shutil
import subprocess
import tempfile

import pytest

from helpers import SAMPLES, Hub, cli, create_token, sample_items, uniq
from xliff_helpers import (FORMATS, TEXT_FIELDS, sha256, plain, Doc, export, export_doc,
                           assert_nothing_to_export, import_ok, draft, content_of, new_tag,
                           rt_item, RT, RT_EN)


# ---- 5. the tag filter, against an independent computation over content-samples/ -----------

def expected_units(items, locale, source="en", tag=None):
    """original -> [unit ids] that must be exported: the items tagged with tag (or a
    descendant) and the blocks they render, transitively; fields missing in locale."""
    by_key = {it["key"]: it for it in items}
    if tag is None:
        chosen = [it["key"] for it in items]
    else:
        chosen = [it["key"] for it in items
                  if any(t == tag or t.startswith(tag + "/") for t in it.get("tags", []))]
        i = 0
        while i < len(chosen):
            for v in by_key[chosen[i]]["variants"]:
                for fields in v["content"].get(source, {}).values():
                    for val in fields.values():
                        if not isinstance(val, str):
                            continue
                        for name in re.findall(r"\{%-?\s*render\s+'([^']+)'", val):
                            for k in (name, "blocks/" + name):
                                b = by_key.get(k)
                                if b and b["kind"] == "block" and k not in chosen:
                                    chosen.append(k)
                                    break
            i += 1
    out = {}
    for k in chosen:
        ids = []
        for v in by_key[k]["variants"]:
            for ch, fields in TEXT_FIELDS.items():
                for f in fields:
                    src = v["content"].get(source, {}).get(ch, {}).get(f)
                    have = v["content"].get(locale, {}).get(ch, {}).get(f)
                    if isinstance(src, str) and src and not isinstance(have, str):
                        ids.append("%s.%s.%s" % (v["id"], ch, f))
        if ids:
            out[k] = ids
    return out


@pytest.fixture(scope="module")
def samples_hub():
    h = Hub()
    cli("import", "--data", h.data, SAMPLES)
    h.start()
    yield h
    h.finish()
    shutil.rmtree(h.data, ignore_errors=True)


def test_tag_filter_takes_the_items_and_the_blocks_they_render(samples_hub):
    h = samples_hub
    items = sample_items()
    want = expected_units(items, "de", tag="journey/onboarding")
    assert {"blocks/footer", "blocks/legal-disclaimer"} <= set(want), want  # the test's premise
    for fmt in FORMATS:
        d = export_doc(h.editor, tag="journey/onboarding", fmt=fmt)
        got = {o: d.ids(o) for o in d.originals()}
        assert set(got) == set(want), (sorted(got), sorted(want))
        for k in want:
            assert sorted(got[k]) == sorted(want[k]), (k, got[k], want[k])
        assert not any(o.startswith(("messages/", "abandonment/", "campaigns/", "cards/",
                                     "students/")) for o in got), got
        for u in d.units():
            if d.v2:
                k = u.file.get("original")
                v = [x for x in items if x["key"] == k][0]
                vid, ch, f = u.id.split(".")
                src = [x for x in v["variants"] if x["id"] == vid][0]["content"]["en"][ch][f]
                assert u.source_text() == src and u.checksum == sha256(src), (k, u.id)
    # a tag without renders: only its items
    want = expected_units(items, "fr", tag="journey/application-abandonment")
    if want:
        d = export_doc(h.editor, locale="fr", tag="journey/application-abandonment")
        assert {o: sorted(d.ids(o)) for o in d.originals()} == \
            {k: sorted(v) for k, v in want.items()}


@pytest.mark.parametrize("locale", ["de", "fr", "de-AT"])
def test_whole_export_matches_an_independent_computation(samples_hub, locale):
    items = sample_items()
    want = expected_units(items, locale)
    d = export_doc(samples_hub.editor, locale=locale)
    got = {o: sorted(d.ids(o)) for o in d.originals()}
    assert got == {k: sorted(v) for k, v in want.items()}
    assert len(d.units()) == sum(map(len, want.values()))


# ---- 6. the command line ----------------------------------------------------------------------

def test_cli_export_and_import(tmp_path):
    data = tempfile.mkdtemp(prefix="omnihub-data-")
    try:
        cli("import", "--data", data, SAMPLES)
        out = tmp_path / "de.xlf"
        p = cli("xliff", "export", "--data", data, "--locale", "de", "--format", "xliff12",
                "--tag", "journey/onboarding", "--out", out)
        assert p.stdout == ""
        doc = Doc(out.read_bytes())
        n = len(doc.units())
        assert p.stderr == "omnihub: %d units to translate\n" % n
        want = expected_units(sample_items(), "de", tag="journey/onboarding")
        assert {o: sorted(doc.ids(o)) for o in doc.originals()} == \
            {k: sorted(v) for k, v in want.items()}
        # to stdout without --out, 2.0 by default
        p = cli("xliff", "export", "--data", data, "--locale", "de", "--tag",
                "journey/onboarding")
        assert Doc(p.stdout.encode()).v2 and len(Doc(p.stdout.encode()).units()) == n

        # translate: every code-free unit of the footer and install-app; one broken unit
        chosen = [u for u in doc.units() if u.file.get("original") in
                  ("blocks/footer", "onboarding/install-app") and len(u.parts) == 1
                  and isinstance(u.parts[0], str)]
        assert len(chosen) >= 2, [u.id for u in doc.units()]
        for u in chosen:
            u.set_target(["DE " + u.parts[0]])
        coded = [u for u in doc.units() if any(not isinstance(p, str) for p in u.parts)][0]
        coded.set_target([plain(coded.parts)])  # the codes dropped
        f = tmp_path / "de-done.xlf"
        f.write_bytes(doc.bytes())
        p = cli("xliff", "import", "--data", data, f, check=False)
        assert p.returncode == 1, (p.stdout, p.stderr)
        rep = json.loads(p.stdout)
        assert rep["format"] == "xliff12"
        assert [(e["item"], e["unit"]) for e in rep["imported"]] == \
            [(u.file.get("original"), u.id) for u in chosen]
        assert [(e["item"], e["unit"], e["reason"]) for e in rep["rejected"]] == \
            [(coded.file.get("original"), coded.id, "missing_code")]
        lines = p.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(
            "omnihub: %s %s: missing_code: " % (coded.file.get("original"), coded.id)), p.stderr
        # imported units are gone from the next export; the rest remain
        p = cli("xliff", "export", "--data", data, "--locale", "de", "--format", "xliff12",
                "--tag", "journey/onboarding")
        left = Doc(p.stdout.encode())
        assert len(left.units()) == n - len(chosen)
        assert p.stderr == "omnihub: %d units to translate\n" % (n - len(chosen))
        # a document with only good units: exit 0, nothing on stderr
        good = Doc(left.bytes())
        u = [x for x in good.units() if len(x.parts) == 1 and isinstance(x.parts[0], str)][0]
        u.set_target(["Übersetzt"])
        f.write_bytes(good.bytes())
        p = cli("xliff", "import", "--data", data, f)
        assert p.stderr == "" and json.loads(p.stdout)["imported"] == [
            {"item": u.file.get("original"), "unit": u.id, "locale": "de"}]
        # the draft holds it (read through a server on the same data directory)
        secret = create_token(data, "preview", "tr-cli-preview")
        h = Hub(data=data, tokens={"preview": secret}).start()
        try:
            item = draft(h.clients["preview"], u.file.get("original"))
            vid, ch, fld = u.id.split(".")
            assert content_of(item, vid)["de"][ch][fld] == "Übersetzt"
            for c in chosen:
                if c.file.get("original") == u.file.get("original"):
                    vid, ch, fld = c.id.split(".")
                    assert content_of(item, vid)["de"][ch][fld] == "DE " + c.parts[0]
        finally:
            h.finish()
        # failures at run time: exit 1, one line on stderr
        for args in (["import", "--data", data, tmp_path / "missing.xlf"],
                     ["export", "--data", data, "--locale", "sw"]):
            p = cli("xliff", *args, check=False)
            assert p.returncode == 1 and p.stderr.startswith("omnihub: ") and \
                len(p.stderr.splitlines()) == 1, (args, p.returncode, p.stderr)
        (tmp_path / "bad.xlf").write_bytes(b"<xliff")
        p = cli("xliff", "import", "--data", data, tmp_path / "bad.xlf", check=False)
        assert p.returncode == 1 and len(p.stderr.splitlines()) == 1, p.stderr
        assert "line" in p.stderr
        # bad usage: exit 2
        for args in ([], ["frobnicate"], ["export", "--data", data],
                     ["export", "--locale", "de"],
                     ["export", "--data", data, "--locale", "de", "--format", "xml"],
                     ["import", "--data", data],
                     ["import", "--data", data, f, f],
                     ["export", "--data", data, "--locale", "de", "--bogus", "1"]):
            p = cli("xliff", *args, check=False)
            assert p.returncode == 2, (args, p.returncode, p.stderr)
            assert p.stderr.strip() and p.stdout == "", (args, p.stdout, p.stderr)
    finally:
        shutil.rmtree(data, ignore_errors=True)


# ---- 7. the Translate Toolkit -----------------------------------------------------------------
# Debian 12's translate-toolkit (3.8.4) reads and writes XLIFF 1.2 only; there is no XLIFF 2.0
# support in it, so these tests use xliff12.

def have_toolkit():
    if importlib.util.find_spec("translate") is None:
        return False
    return all(shutil.which(t) for t in ("xliff2po", "po2xliff", "pomerge"))


toolkit = pytest.mark.skipif(not have_toolkit(), reason="translate-toolkit is not installed "
                             "(scripts/install-deps.sh installs it)")

TT_PLAIN_DE = {"control.mobile.title": "Willkommen", "control.web.title": "Willkommen an Bord",
               "control.web.summary": "Jetzt sparen", "short.email.subject": "Sie sind dabei"}
TT_CODED = ["control.email.subject", "control.email.html", "control.sms.text",
            "control.mobile.body", "control.web.html"]


def run(*args, cwd=None):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60,
                       cwd=cwd)
    assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p


@toolkit
def test_toolkit_xliff2po_then_pomerge_and_po2xliff_back(hub, tmp_path):
    from translate.storage import po
    tag = new_tag(hub)
    key = uniq("tr/tt-")
    hub.editor.put_item(rt_item(key, tag))
    r = export(hub.editor, fmt="xliff12", tag=tag)
    assert r.status_code == 200
    src = tmp_path / "export.xlf"
    src.write_bytes(r.content)
    ours = Doc(r.content)
    run("xliff2po", "--progress=none", src, tmp_path / "de.po")
    store = po.pofile.parsefile(str(tmp_path / "de.po"))
    units = [u for u in store.units if not u.isheader()]
    by_loc = {}
    for u in units:
        locs = u.getlocations() or [u.getcontext()]
        for loc in locs:
            by_loc[loc] = u
    assert sorted(by_loc) == sorted(RT), sorted(by_loc)
    for uid in RT:
        parts = ours.unit(uid).parts
        if uid in TT_CODED:  # the PO step flattens codes away: only their text is left
            assert by_loc[uid].source == plain(parts), (uid, by_loc[uid].source)
        else:
            assert by_loc[uid].source == RT_EN[uid], (uid, by_loc[uid].source)
    # a translator fills every entry in the PO: the coded ones as plain text (as PO tools do)
    for uid, u in by_loc.items():
        u.target = TT_PLAIN_DE.get(uid) or "DE: " + u.source
    store.savefile(str(tmp_path / "de.po"))

    # pomerge puts the PO translations back into our document (matching by source text)
    run("pomerge", "--progress=none", "-t", src, "-i", tmp_path / "de.po", "-o",
        tmp_path / "merged.xlf")
    rep = import_ok(hub.editor, (tmp_path / "merged.xlf").read_bytes())
    assert sorted(e["unit"] for e in rep["imported"]) == sorted(
        i for i in RT if i not in TT_CODED), rep
    assert {e["unit"]: e["reason"] for e in rep["rejected"]} == \
        {i: "missing_code" for i in TT_CODED}, rep["rejected"]  # the protective behaviour
    de = content_of(draft(hub.preview, key), "control")["de"]
    assert de["mobile"] == {"title": "Willkommen"} and de["web"] == {
        "title": "Willkommen an Bord", "summary": "Jetzt sparen"}, de
    assert "sms" not in de and "subject" not in de["email"] and "html" not in de["email"]

    # po2xliff -t does not merge: it appends its own <file> of XLIFF 1.1 units (the unit ids
    # survive only as location contexts), which nothing can map back to our fields. Importing
    # it changes nothing and rejects nothing: our units are untranslated.
    left = export(hub.editor, fmt="xliff12", tag=tag)
    (tmp_path / "left.xlf").write_bytes(left.content)
    run("po2xliff", "--progress=none", "-t", tmp_path / "left.xlf", tmp_path / "de.po",
        tmp_path / "po2xliff.xlf")
    before = draft(hub.preview, key)
    rep = import_ok(hub.editor, (tmp_path / "po2xliff.xlf").read_bytes())
    assert rep["imported"] == [] and rep["rejected"] == [], rep
    assert sorted(e["unit"] for e in rep["untranslated"]) == sorted(TT_CODED)
    assert draft(hub.preview, key) == before


@toolkit
def test_toolkit_storage_api_with_rich_targets_imports_everything(hub):
    from translate.storage import xliff

    def translate_tree(elem):
        for i, sub in enumerate(elem.sub):
            if isinstance(sub, str):
                elem.sub[i] = "DE[" + sub + "]"
            else:
                translate_tree(sub)

    tag = new_tag(hub)
    key = uniq("tr/ttapi-")
    hub.editor.put_item(rt_item(key, tag))
    r = export(hub.editor, fmt="xliff12", tag=tag)
    store = xliff.xlifffile.parsestring(r.content)
    ids = []
    for u in store.units:
        assert u.getid() == "%s\x04%s" % (key, u.xmlelement.get("id")), u.getid()
        ids.append(u.xmlelement.get("id"))
        rich = copy.deepcopy(u.rich_source)  # keeps the <x>/<g> placeables
        for e in rich:
            translate_tree(e)
        u.rich_target = rich
    assert sorted(ids) == sorted(RT)
    rep = import_ok(hub.editor, bytes(store))
    assert sorted(e["unit"] for e in rep["imported"]) == sorted(RT), rep
    assert rep["rejected"] == [] and rep["untranslated"] == []
    got = draft(hub.preview, key)
    c = content_of(got, "control")["de"]
    assert c["email"]["subject"] == "DE[Welcome, ]{{ first_name }}"
    assert c["email"]["html"] == (
        '<h1>DE[Hello ]{{ first_name }}</h1><p>DE[Open your ]<a href="https://bank.example/'
        'save">DE[first savings account]</a>DE[ today.]</p><br>')
    assert c["sms"]["text"] == ("DE[Hi ]{{ first_name }}DE[, your account is ready. Reply STOP "
                                "to opt out.]")
    assert c["web"]["html"] == "<p>DE[Start ]<strong>DE[saving]</strong>DE[ now]</p>"
    assert content_of(got, "short")["de"] == {"email": {"subject": "DE[You're in]"}}
    assert_nothing_to_export(hub.editor, tag=tag)

