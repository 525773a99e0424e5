"""Helpers of the translation tests: a small model of XLIFF 2.0 and 1.2 documents as the hub
writes them (units, inline codes as "text", C(id) and P(id, [...])), the export and import
requests, and the round-trip item with its expected units.
"""
import copy
import hashlib
import re
import xml.etree.ElementTree as ET


from helpers import uniq


NS2 = "urn:oasis:names:tc:xliff:document:2.0"
NS12 = "urn:oasis:names:tc:xliff:document:1.2"
OH = "urn:omnihub:xliff:1"
XML_NS = "http://www.w3.org/XML/1998/namespace"
XLIFF = "application/xliff+xml"
CHECKSUM = "{%s}checksum" % OH
FORMATS = ("xliff2", "xliff12")
RECIPIENT = {"id": "cust-tr-1", "segments": [], "attributes": {"first_name": "Jörg"}}

# The translatable (TEXT and HTML) fields of each channel plugin, in schema order; URL and
# object fields (mobile image, deep_link, data; web image, url) never become units.
TEXT_FIELDS = {"email": ["subject", "preheader", "html", "text", "from_name", "reply_to"],
               "web": ["title", "html", "summary"],
               "mobile": ["title", "body"],
               "sms": ["text"]}

ET.register_namespace("oh", OH)
ET.register_namespace("x2", NS2)
ET.register_namespace("x12", NS12)


def sha256(s):
    return hashlib.sha256(s.encode("utf-8")).hexdigest()


# ---- a neutral model of inline content: "text", C(id) standalone code, P(id, [...]) pair ----

def C(i):
    return ("c", i)


def P(i, inner):
    return ("p", i, list(inner))


def local(tag):
    return tag.rsplit("}", 1)[-1]


def parts_of(el):
    """The content of a <source>/<target> as neutral parts (adjacent text merged)."""
    out = []

    def text(t):
        if not t:
            return
        if out and isinstance(out[-1], str):
            out[-1] += t
        else:
            out.append(t)

    text(el.text)
    for child in el:
        name = local(child.tag)
        if name in ("ph", "x"):
            assert len(child) == 0 and not child.text, ET.tostring(child)
            out.append(C(int(child.get("id"))))
        elif name in ("pc", "g"):
            out.append(P(int(child.get("id")), parts_of(child)))
        else:
            raise AssertionError("unexpected inline element %s" % child.tag)
        text(child.tail)
    return out


def flatten(parts, code=lambda kind, cid: ("", "") if kind == "p" else ""):
    """The text of parts with each code replaced by code(kind, id): a string for a standalone
    code ("c"), an (opening, closing) pair around the content of a paired one ("p")."""
    s = ""
    for p in parts:
        if isinstance(p, str):
            s += p
        elif p[0] == "c":
            s += code("c", p[1])
        else:
            opening, closing = code("p", p[1])
            s += opening + flatten(p[2], code) + closing
    return s


def plain(parts):
    """The translatable text of parts (codes left out): what a PO msgid would hold."""
    return flatten(parts)


class Unit:
    def __init__(self, doc, file, el):
        self.doc, self.file, self.el = doc, file, el
        self.id = el.get("id")
        self.checksum = el.get(CHECKSUM)
        v2 = doc.v2
        self.notes = [n.text or "" for n in el.iter("{%s}note" % doc.ns)]
        if v2:
            segs = el.findall("{%s}segment" % NS2)
            assert len(segs) == 1, "one segment per unit: %s" % ET.tostring(el)[:300]
            self.segment = segs[0]
            assert self.segment.get("state") == "initial" or not doc.fresh
            self.source_el = self.segment.find("{%s}source" % NS2)
            self.data = {d.get("id"): d.text or "" for d in el.iter("{%s}data" % NS2)}
        else:
            self.source_el = el.find("{%s}source" % NS12)
            self.data = None
        assert self.source_el is not None
        holder = self.segment if v2 else el
        assert not doc.fresh or holder.find("{%s}target" % doc.ns) is None, \
            "a fresh export has no targets: %s" % self.id
        self.parts = parts_of(self.source_el)

    def code_texts(self):
        """id -> the original text of each code as the document carries it: a string for a
        standalone code, (start, end) for a pair (1.2 <g> carries none: None)."""
        out = {}
        for e in self.source_el.iter():
            name = local(e.tag)
            if name == "ph":
                assert e.get("disp") == self.data[e.get("dataRef")]
                out[int(e.get("id"))] = self.data[e.get("dataRef")]
            elif name == "pc":
                assert e.get("dispStart") == self.data[e.get("dataRefStart")]
                assert e.get("dispEnd") == self.data[e.get("dataRefEnd")]
                out[int(e.get("id"))] = (self.data[e.get("dataRefStart")],
                                         self.data[e.get("dataRefEnd")])
            elif name == "x":
                assert e.get("ctype") in ("x-liquid", "x-html"), e.attrib
                out[int(e.get("id"))] = e.get("equiv-text")
            elif name == "g":
                assert e.get("ctype") == "x-html", e.attrib
                out[int(e.get("id"))] = None
        return out

    def source_text(self):
        """The source rebuilt from the codes' original texts (2.0 only: 1.2 <g> has none)."""
        codes = self.code_texts()
        return flatten(self.parts, lambda kind, cid: codes[cid])

    def _code_elements(self):
        return {(local(e.tag) in ("ph", "x") and "c" or "p", int(e.get("id"))): e
                for e in self.source_el.iter() if local(e.tag) in ("ph", "x", "pc", "g")}

    def set_target(self, parts, raw_children=()):
        """Writes a <target> holding parts; each code element copies the attributes of the
        source's code with that id (an id the source lacks gets a bare element).
        raw_children: extra elements appended to the target."""
        ns = self.doc.ns
        srcs = self._code_elements()
        tgt = ET.Element("{%s}target" % ns)

        def fill(el, parts):
            last = None
            for p in parts:
                if isinstance(p, str):
                    if last is None:
                        el.text = (el.text or "") + p
                    else:
                        last.tail = (last.tail or "") + p
                    continue
                src = srcs.get((p[0], p[1]))
                tag = src.tag if src is not None else "{%s}%s" % (
                    ns, ("ph" if p[0] == "c" else "pc") if self.doc.v2 else
                    ("x" if p[0] == "c" else "g"))
                child = ET.SubElement(el, tag, dict(src.attrib) if src is not None else {})
                child.set("id", str(p[1]))
                if p[0] == "p":
                    fill(child, p[2])
                last = child

        fill(tgt, parts)
        for extra in raw_children:
            tgt.append(extra)
        holder = self.segment if self.doc.v2 else self.el
        old = holder.find("{%s}target" % ns)
        if old is not None:
            holder.remove(old)
        idx = list(holder).index(self.source_el) + 1
        holder.insert(idx, tgt)
        return tgt


class Doc:
    """A parsed XLIFF document as this hub writes it, editable and serializable again."""

    def __init__(self, content, fresh=True):
        self.fresh = fresh  # an export: no targets yet
        self.root = ET.fromstring(content)
        self.v2 = self.root.tag == "{%s}xliff" % NS2
        self.ns = NS2 if self.v2 else NS12
        assert self.root.tag == "{%s}xliff" % self.ns, self.root.tag
        assert self.root.get("version") == ("2.0" if self.v2 else "1.2")
        self.files = []
        for f in self.root.findall("{%s}file" % self.ns):
            if self.v2:
                els = f.findall("{%s}unit" % NS2)
            else:
                els = f.findall("{%s}body/{%s}trans-unit" % (NS12, NS12))
            self.files.append((f, [Unit(self, f, u) for u in els]))

    @property
    def format(self):
        return "xliff2" if self.v2 else "xliff12"

    def originals(self):
        return [f.get("original") for f, _ in self.files]

    def units(self, original=None):
        return [u for f, us in self.files for u in us
                if original is None or f.get("original") == original]

    def unit(self, uid, original=None):
        found = [u for u in self.units(original) if u.id == uid]
        assert len(found) == 1, "unit %s (%s): %d found" % (uid, original, len(found))
        return found[0]

    def ids(self, original=None):
        return [u.id for u in self.units(original)]

    def file_el(self, original):
        return [f for f, _ in self.files if f.get("original") == original][0]

    def add_unit(self, original, uid, source="x", target="y", checksum=None):
        """Appends a hand-made unit (source and target plain text)."""
        ns = self.ns
        f = self.file_el(original)
        holder = f if self.v2 else f.find("{%s}body" % NS12)
        u = ET.SubElement(holder, "{%s}%s" % (ns, "unit" if self.v2 else "trans-unit"),
                          {"id": uid})
        if checksum:
            u.set(CHECKSUM, checksum)
        seg = ET.SubElement(u, "{%s}segment" % NS2) if self.v2 else u
        ET.SubElement(seg, "{%s}source" % ns).text = source
        if target is not None:
            ET.SubElement(seg, "{%s}target" % ns).text = target
        return u

    def remove_file(self, original):
        f = self.file_el(original)
        self.root.remove(f)
        self.files = [(e, us) for e, us in self.files if e is not f]

    def clone_file(self, original, new_original, **attrs):
        f = copy.deepcopy(self.file_el(original))
        f.set("original", new_original)
        for k, v in attrs.items():
            f.set(k, v)
        self.root.append(f)
        return f

    def bytes(self):
        # (prefixed elements: ElementTree cannot write a default namespace next to
        # unqualified attributes; the namespaces are what count)
        return ET.tostring(self.root, encoding="utf-8", xml_declaration=True)


# ---- requests --------------------------------------------------------------------------------

def export(client, locale="de", source="en", fmt="xliff2", tag=None, **params):
    p = {"locale": locale, "format": fmt}
    if source is not None:
        p["source"] = source
    if tag is not None:
        p["tag"] = tag
    p.update(params)
    return client.get("/v1/translations/export", params=p)


def export_doc(client, expect_units=None, **kw):
    """An export that must have units: the parsed Doc, after the response checks."""
    r = export(client, **kw)
    assert r.status_code == 200, "%d %s" % (r.status_code, r.text[:600])
    assert r.headers["Content-Type"].split(";")[0].strip() == XLIFF, r.headers
    assert "utf-8" in r.headers["Content-Type"].lower()
    name = "-".join(x for x in (kw.get("source", "en"), kw.get("locale", "de")) if x)
    assert r.headers.get("Content-Disposition") == 'attachment; filename="omnihub-%s.xlf"' % name
    assert r.content.startswith(b"<?xml"), r.content[:80]
    doc = Doc(r.content)
    assert r.headers.get("X-Omnihub-Units") == str(len(doc.units())), (
        r.headers.get("X-Omnihub-Units"), len(doc.units()))
    if expect_units is not None:
        assert sorted(doc.ids()) == sorted(expect_units), doc.ids()
    return doc


def assert_nothing_to_export(client, **kw):
    r = export(client, **kw)
    assert r.status_code == 204, "%d %s" % (r.status_code, r.text[:1500])
    assert r.headers.get("X-Omnihub-Units") == "0", r.headers
    assert r.content == b""


def import_doc(client, body, content_type=XLIFF):
    if isinstance(body, Doc):
        body = body.bytes()
    return client.post("/v1/translations/import", raw=body, content_type=content_type)


def import_ok(client, body, **kw):
    r = import_doc(client, body, **kw)
    assert r.status_code == 200, "%d %s" % (r.status_code, r.text[:1500])
    assert r.headers["Content-Type"].split(";")[0] == "application/json"
    rep = r.json()
    assert set(rep) == {"format", "files", "imported", "untranslated", "rejected", "items"}, rep
    return rep


def problem(r, status):
    """A problem+json answer with this status: the RFC 9457 members (assert_problem without
    its JSON-pointer check of error paths, which test_all_units_rejected_is_422... makes)."""
    assert r.status_code == status, "expected %d, got %d: %s" % (status, r.status_code,
                                                                  r.text[:800])
    assert r.headers.get("Content-Type", "").split(";")[0].strip() == "application/problem+json"
    body = r.json()
    assert body.get("status") == status and body.get("title") and body.get("type"), body
    assert isinstance(body.get("detail"), str) and body["detail"].strip(), body
    assert "\n" not in body["detail"], body["detail"]
    for e in body.get("errors", []):
        assert isinstance(e.get("path"), str) and isinstance(e.get("message"), str), e
    return body


def draft(client, key):
    return client.ok("GET", "/v1/items/" + key, params={"status": "draft"})


def content_of(item, variant):
    return [v for v in item["variants"] if v["id"] == variant][0]["content"]


def writable(item):
    return {k: item[k] for k in ("key", "kind", "title", "tags", "variants", "experiment",
                                 "publish_at", "unpublish_at") if k in item}


def edit_source(client, key, changes, locale="en"):
    """Changes fields of the draft: changes = {(variant, channel, field): text}."""
    item = writable(draft(client, key))
    for (vid, ch, f), text in changes.items():
        c = content_of(item, vid).setdefault(locale, {}).setdefault(ch, {})
        c[f] = text
    client.ok("PUT", "/v1/items/" + key, item, expect=(200,))


def new_tag(h):
    """A fresh campaign term: exports filtered by it see only this test's items."""
    term = "campaign/spring/" + uniq("tr")
    h.admin.ok("PUT", "/v1/taxonomy/" + term, {"label": "Translation test"})
    return term


def render(client, key, channel, variant="control", locale="de"):
    r = client.post("/v1/render", {"item": key, "channel": channel, "locale": locale,
                                   "recipient": RECIPIENT, "variant": variant})
    assert r.status_code == 200, "%s %s: %d %s" % (key, channel, r.status_code, r.text[:800])
    b = r.json()
    assert b["locale"] == locale and b["variant"] == variant, b
    return b["artifact"]


# ---- the round-trip item ---------------------------------------------------------------------

H_EN = ('<h1>Hello {{ first_name }}</h1><p>Open your <a href="https://bank.example/save">first '
        'savings account</a> today.</p><br>')
H_DE = ('<h1>Hallo {{ first_name }}</h1><p>Eröffnen Sie Ihr <a href="https://bank.example/save">'
        'erstes Sparkonto</a> noch heute.</p><br>')
HAND_PREHEADER = "Ihr Konto ist bereit (von Hand)"


def rt_item(key, tag):
    return {"key": key, "kind": "message", "title": "Round trip " + key, "tags": [tag],
            "variants": [
                {"id": "control", "content": {
                    "en": {"email": {"subject": "Welcome, {{ first_name }}",
                                     "preheader": "Your account is ready",
                                     "html": H_EN},
                           "sms": {"text": "Hi {{ first_name }}, your account is ready. "
                                           "Reply STOP to opt out."},
                           "mobile": {"title": "Welcome",
                                      "body": "Your account is ready, {{ first_name }}",
                                      "deep_link": "bank://home"},
                           "web": {"title": "Welcome aboard",
                                   "html": "<p>Start <strong>saving</strong> now</p>",
                                   "summary": "Start saving"}},
                    "de": {"email": {"preheader": HAND_PREHEADER}}}},
                {"id": "short", "content": {"en": {"email": {"subject": "You're in"}}}}]}


# unit -> (the source as exported, the target written here, the German text it must give)
RT = {
    "control.email.subject": (["Welcome, ", C(1)], ["Willkommen, ", C(1)],
                              "Willkommen, {{ first_name }}"),
    "control.email.html": (
        [P(1, ["Hello ", C(2)]), P(3, ["Open your ", P(4, ["first savings account"]), " today."]),
         C(5)],
        [P(1, ["Hallo ", C(2)]),
         P(3, ["Eröffnen Sie Ihr ", P(4, ["erstes Sparkonto"]), " noch heute."]), C(5)],
        H_DE),
    "control.sms.text": (
        ["Hi ", C(1), ", your account is ready. Reply STOP to opt out."],
        ["Hallo ", C(1), ", Ihr Konto ist bereit. Antworten Sie STOP zum Abmelden."],
        "Hallo {{ first_name }}, Ihr Konto ist bereit. Antworten Sie STOP zum Abmelden."),
    "control.mobile.title": (["Welcome"], ["Willkommen"], "Willkommen"),
    # the code moves to the front
    "control.mobile.body": (["Your account is ready, ", C(1)], [C(1), ", Ihr Konto ist bereit"],
                            "{{ first_name }}, Ihr Konto ist bereit"),
    "control.web.title": (["Welcome aboard"], ["Willkommen an Bord"], "Willkommen an Bord"),
    "control.web.html": ([P(1, ["Start ", P(2, ["saving"]), " now"])],
                         [P(1, ["Beginnen Sie ", P(2, ["zu sparen"]), " jetzt"])],
                         "<p>Beginnen Sie <strong>zu sparen</strong> jetzt</p>"),
    "control.web.summary": (["Start saving"], ["Jetzt sparen"], "Jetzt sparen"),
    "short.email.subject": (["You're in"], ["Sie sind dabei"], "Sie sind dabei"),
}
RT_CODES = {  # the original text of each code, as 2.0 <originalData> and 1.2 equiv-text hold it
    "control.email.subject": {1: "{{ first_name }}"},
    "control.email.html": {1: ("<h1>", "</h1>"), 2: "{{ first_name }}", 3: ("<p>", "</p>"),
                           4: ('<a href="https://bank.example/save">', "</a>"), 5: "<br>"},
    "control.sms.text": {1: "{{ first_name }}"},
    "control.mobile.body": {1: "{{ first_name }}"},
    "control.web.html": {1: ("<p>", "</p>"), 2: ("<strong>", "</strong>")},
}
RT_EN = {
    "control.email.subject": "Welcome, {{ first_name }}",
    "control.email.html": H_EN,
    "control.sms.text": "Hi {{ first_name }}, your account is ready. Reply STOP to opt out.",
    "control.mobile.title": "Welcome",
    "control.mobile.body": "Your account is ready, {{ first_name }}",
    "control.web.title": "Welcome aboard",
    "control.web.html": "<p>Start <strong>saving</strong> now</p>",
    "control.web.summary": "Start saving",
    "short.email.subject": "You're in",
}


def german_content(units):
    """The German content per variant that importing these units must give (with the
    preheader typed by hand)."""
    out = {"control": {"email": {"preheader": HAND_PREHEADER}}, "short": {}}
    for uid in units:
        vid, ch, f = uid.split(".")
        out[vid].setdefault(ch, {})[f] = RT[uid][2]
    return out


def fill_targets(doc, units=None):
    for u in doc.units():
        if units is None or u.id in units:
            u.set_target(RT[u.id][1])


def check_rt_unit(u, key, title, max_segments=10):
    """The exported unit u of the round-trip item: source, codes, checksum and notes."""
    shape, _, _ = RT[u.id]
    vid, ch, f = u.id.split(".")
    assert u.parts == shape, (u.id, u.parts)
    assert u.checksum == sha256(RT_EN[u.id]), u.id
    want_codes = RT_CODES.get(u.id, {})
    got_codes = u.code_texts()
    if u.doc.v2:
        assert got_codes == want_codes, (u.id, got_codes)
        assert u.source_text() == RT_EN[u.id]
        # <originalData> holds one <data> per code (a pair: two)
        ndata = sum(2 if isinstance(t, tuple) else 1 for t in want_codes.values())
        assert len(u.data) == ndata, (u.id, u.data)
    else:  # 1.2: <x> carries its text in equiv-text, <g> none
        assert got_codes == {i: (None if isinstance(t, tuple) else t)
                             for i, t in want_codes.items()}, (u.id, got_codes)
    # no Liquid or HTML leaks into the translatable text
    assert not re.search(r"\{\{|\{%|<[a-zA-Z/]", plain(u.parts)), (u.id, u.parts)
    # notes: where the unit is used, the limits, and what to do with codes
    text = "\n".join(u.notes)
    assert key in text and title in text and ch in text and f in text, u.notes
    assert ("variant %s" % vid) in text, u.notes
    if ch == "sms":
        assert "at most %d segments" % max_segments in text, u.notes
    limits = {("email", "subject"): 998, ("mobile", "title"): 500, ("mobile", "body"): 4000,
              ("web", "title"): 500, ("web", "summary"): 2000, ("sms", "text"): 10000}
    if (ch, f) in limits:
        assert "at most %d bytes" % limits[ch, f] in text, u.notes
    if ch == "mobile":
        assert "4096 bytes" in text, u.notes
    if want_codes:
        assert re.search(r"Keep the \d+ inline codes?", text), u.notes
    else:
        assert "inline code" not in text, u.notes
    assert not any("Outdated" in n for n in u.notes), u.notes


