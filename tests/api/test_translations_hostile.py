"""Hostile XLIFF documents against POST /v1/translations/import (core/xml/xml.h, "Reading ...
is safe against hostile input"): entity expansion (billion laughs), external entities and
DTDs (file:// and http:// to a listener of this test that must never see a connection),
parameter entities, XInclude, deep nesting, huge and numerous attributes, bad encodings, the
wrong namespace or version, non-XLIFF roots, bodies over the limit, floods of codes and files.

Each document must get a clear problem (400, 413 or 422 with a detail naming the cause) within
a couple of seconds, the server must stay healthy, the data must not change (an item's draft
is byte-identical before and after) and the server's resident memory must stay bounded over
the whole batch. One server for the module, with max_body_bytes raised to 4 MiB so that the
big documents reach the XML reader instead of the body limit.
"""
import hashlib
import os
import re
import select
import shutil
import socket
import time

import pytest

from helpers import Hub, healthy, raw_request, seed, uniq

NS2 = "urn:oasis:names:tc:xliff:document:2.0"
NS12 = "urn:oasis:names:tc:xliff:document:1.2"
XLIFF = "application/xliff+xml"
MAX_BODY = 4 << 20
# Seconds a refusal may take. Sanitizer builds are several times slower: OMNIHUB_TIME_FACTOR.
LIMIT = 2.0 * float(os.environ.get("OMNIHUB_TIME_FACTOR", "1"))
RSS_GROWTH_MAX = 64 << 20
PASSWD_MARKS = ("root:x:0:0", "/bin/bash", "/usr/sbin/nologin", "daemon:")


def vm_rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for %d" % pid)


class Env:
    """The module's server, its victim item, and a listener for would-be fetches."""

    def __init__(self):
        self.hub = seed(Hub(config={"max_body_bytes": MAX_BODY}).start())
        self.key = uniq("tr/victim-")
        item = {"key": self.key, "kind": "message", "title": "Victim", "tags": [],
                "variants": [{"id": "control", "content": {"en": {
                    "email": {"subject": "Hi {{ first_name }}", "html": "<p>Hi</p>"},
                    "web": {"title": "Welcome aboard", "html": "<p>Hi</p>"}}}}]}
        self.hub.editor.put_item(item)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.connections = []

    def draft_bytes(self):
        r = self.hub.preview.get("/v1/items/" + self.key, params={"status": "draft"})
        assert r.status_code == 200, r.text
        return r.content, r.headers.get("ETag")

    def connected(self, wait=0.3):
        """Accepts whatever connected to the listener (waiting up to `wait` s for one)."""
        ready, _, _ = select.select([self.listener], [], [], wait)
        while ready:
            try:
                conn, _ = self.listener.accept()
            except BlockingIOError:
                break
            self.connections.append(conn.recv(4096))
            conn.close()
            ready, _, _ = select.select([self.listener], [], [], 0)
        return self.connections

    def rss(self):
        return vm_rss(self.hub.server.proc.pid)

    def sanitized(self):
        """An AddressSanitizer build keeps freed memory in quarantine (256 MiB by default):
        its resident size says nothing about what the server holds on to."""
        with open("/proc/%d/maps" % self.hub.server.proc.pid) as f:
            return any("asan" in line for line in f)

    def close(self):
        self.listener.close()
        self.hub.finish()
        shutil.rmtree(self.hub.data, ignore_errors=True)


@pytest.fixture(scope="module")
def env():
    e = Env()
    try:
        # warm up the allocator with one document of each size class before the baseline
        post(e, doc20(e, '<unit id="web.title.x"><segment><source>a</source></segment></unit>'))
        post(e, b"<x>" + b"a" * (3 << 20) + b"</x>")
        e.draft0 = e.draft_bytes()
        e.rss0 = e.rss()
        yield e
    finally:
        e.close()


def post(e, body, content_type=XLIFF):
    t = time.monotonic()
    r = e.hub.editor.post("/v1/translations/import", raw=body, content_type=content_type)
    return r, time.monotonic() - t


def doc20(e, units, prolog="", root_attrs='srcLang="en" trgLang="de"', original=None):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n%s<xliff xmlns="%s" version="2.0" %s>'
            '<file id="f1" original="%s">%s</file></xliff>\n'
            % (prolog, NS2, root_attrs, original or e.key, units)).encode()


def unit20(uid, target, source="Welcome aboard"):
    return ('<unit id="%s"><segment><source>%s</source><target>%s</target></segment></unit>'
            % (uid, source, target))


def doc12(e, units, root='xmlns="%s" version="1.2"' % NS12):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<xliff %s><file original="%s" '
            'source-language="en" target-language="de" datatype="plaintext"><body>%s</body>'
            '</file></xliff>\n' % (root, e.key, units)).encode()


def laughs(levels=10, fan=10):
    ents = ['<!ENTITY lol0 "lol">']
    for i in range(1, levels):
        ents.append('<!ENTITY lol%d "%s">' % (i, ("&lol%d;" % (i - 1)) * fan))
    return "<!DOCTYPE xliff [\n%s\n]>\n" % "\n".join(ents), "&lol%d;" % (levels - 1)


# name -> (build(env) -> body, allowed statuses, regex the detail must match)
def cases():
    c = {}
    prolog, ref = laughs()
    c["billion_laughs"] = (lambda e: doc20(e, unit20("control.web.title", ref), prolog),
                           (400, 422), r"DOCTYPE|DTD|entit")
    prolog, ref = laughs(levels=4, fan=1 << 10)  # quadratic blowup: few levels, wide fan
    c["quadratic_blowup"] = (lambda e: doc20(e, unit20("control.web.title", ref), prolog),
                             (400, 422), r"DOCTYPE|DTD|entit")
    c["external_entity_file"] = (
        lambda e: doc20(e, unit20("control.web.title", "&xxe;"),
                        '<!DOCTYPE xliff [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'),
        (400, 422), r"DOCTYPE|DTD|entit")
    c["external_entity_http"] = (
        lambda e: doc20(e, unit20("control.web.title", "&xxe;"),
                        '<!DOCTYPE xliff [<!ENTITY xxe SYSTEM "http://127.0.0.1:%d/xxe">]>\n'
                        % e.port),
        (400, 422), r"DOCTYPE|DTD|entit")
    c["external_dtd_http"] = (
        lambda e: doc20(e, unit20("control.web.title", "Hallo"),
                        '<!DOCTYPE xliff SYSTEM "http://127.0.0.1:%d/xliff.dtd">\n' % e.port),
        (400, 422), r"DOCTYPE|DTD")
    c["parameter_entities"] = (
        lambda e: doc20(e, unit20("control.web.title", "&all;"),
                        '<!DOCTYPE xliff [<!ENTITY %% file SYSTEM "file:///etc/passwd">'
                        '<!ENTITY %% dtd SYSTEM "http://127.0.0.1:%d/evil.dtd">%%dtd;]>\n'
                        % e.port),
        (400, 422), r"DOCTYPE|DTD|entit")
    c["undeclared_entity"] = (lambda e: doc20(e, unit20("control.web.title", "&nope;")),
                              (400, 422), r"nope|entit")
    c["xinclude_in_target_20"] = (
        lambda e: doc20(e, unit20(
            "control.web.title", 'Hallo <xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
            'href="file:///etc/passwd" parse="text"/>')),
        (422,), r"invalid_unit")
    c["xinclude_in_target_12"] = (
        lambda e: doc12(e, '<trans-unit id="control.web.title"><source>Welcome aboard</source>'
                           '<target><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
                           'href="http://127.0.0.1:%d/inc" parse="text"/></target></trans-unit>'
                           % e.port),
        (422,), r"invalid_unit")
    c["nesting_10000"] = (
        lambda e: doc20(e, unit20("control.web.title", "<mrk>" * 10000 + "x" + "</mrk>" * 10000)),
        (400, 422), r"nest|deep|depth")
    c["nesting_100000"] = (
        lambda e: doc20(e, "<a>" * 100000 + "</a>" * 100000), (400, 422), r"nest|deep|depth")
    c["huge_attribute"] = (
        lambda e: doc20(e, unit20("control.web.title", "Hallo"),
                        original="k" * (MAX_BODY - 4096)),
        (422,), r"unknown_item")
    c["huge_attribute_value_on_root"] = (
        lambda e: doc20(e, unit20("control.web.title", "Hallo"),
                        root_attrs='srcLang="en" trgLang="%s"' % ("d" * (MAX_BODY - 4096))),
        (422,), r"unknown_locale")
    c["many_attributes"] = (
        lambda e: doc20(e, unit20("control.web.title", "Hallo"),
                        root_attrs='srcLang="en" trgLang="de" ' + " ".join(
                            'a%d="1"' % i for i in range(200000))),
        (400, 422), r"attribute")
    c["invalid_utf8"] = (
        lambda e: doc20(e, unit20("control.web.title", "Hallo")).replace(
            b"Hallo", b"Ha\xc3\x28l\xfflo"),
        (400,), r"UTF-8|utf-8|encoding|[Bb]ytes")
    c["overlong_utf8_lt"] = (  # an overlong '<' (C0 BC) must not become markup
        lambda e: doc20(e, unit20("control.web.title", "Hallo")).replace(
            b"Hallo", b"\xc0\xbcscript\xc0\xbe"),
        (400,), r"UTF-8|utf-8|encoding|[Bb]ytes")
    c["utf16_without_bom"] = (
        lambda e: doc20(e, unit20("control.web.title", "Hallo")).decode().replace(
            'encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16-le"),
        (400,), r"UTF-8|UTF-16|utf|encoding")
    c["utf16_with_bom"] = (
        lambda e: doc20(e, unit20("control.web.title", "Hallo")).decode().replace(
            'encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"),
        (400,), r"UTF-8|UTF-16|utf|encoding")
    c["nul_byte"] = (lambda e: doc20(e, unit20("control.web.title", "Hal\x00lo")),
                     (400, 422), r".")
    c["wrong_namespace"] = (
        lambda e: doc20(e, unit20("control.web.title", "Hallo")).replace(
            NS2.encode(), b"urn:oasis:names:tc:xliff:document:2.2"),
        (422,), r"urn:oasis:names:tc:xliff:document:2\.2")
    c["no_namespace"] = (
        lambda e: doc20(e, unit20("control.web.title", "Hallo")).replace(
            b' xmlns="%s"' % NS2.encode(), b""),
        (422,), r"namespace")
    c["version_11"] = (
        lambda e: doc12(e, '<trans-unit id="control.web.title"><source>Welcome aboard</source>'
                           '<target>Hallo</target></trans-unit>',
                        root='xmlns="urn:oasis:names:tc:xliff:document:1.1" version="1.1"'),
        (422,), r"1\.1")
    c["version_11_in_12_namespace"] = (
        lambda e: doc12(e, '<trans-unit id="control.web.title"><source>Welcome aboard</source>'
                           '<target>Hallo</target></trans-unit>',
                        root='xmlns="%s" version="1.1"' % NS12),
        (422,), r"1\.1")
    c["version_30"] = (
        lambda e: doc20(e, unit20("control.web.title", "Hallo")).replace(
            b'version="2.0"', b'version="3.0"'),
        (422,), r"3\.0")
    c["no_trglang"] = (
        lambda e: doc20(e, unit20("control.web.title", "Hallo"), root_attrs='srcLang="en"'),
        (422,), r"trgLang")
    c["not_xliff"] = (lambda e: b"<html><body><p>hello</p></body></html>", (422,), r"html")
    c["empty_xliff"] = (lambda e: b"<xliff/>", (422,), r"xliff|namespace")
    c["whitespace_only"] = (lambda e: b"   \n  ", (400,), r"line|empty|[Dd]ocument")
    c["code_flood"] = (
        lambda e: doc20(e, unit20("control.email.subject", '<ph id="1"/>' * 150000,
                                  source='Hi <ph id="1"/>')),
        (422,), r"broken_code")
    c["file_flood"] = (
        lambda e: (doc20(e, "").replace(b"</file></xliff>", b"</file>" + b"".join(
            b'<file id="g%d" original="no/such/%d"><unit id="control.web.title"><segment>'
            b'<source>a</source><target>b</target></segment></unit></file>' % (i, i)
            for i in range(20000)) + b"</xliff>")),
        (422,), r"unknown_item")
    # a second <file> refused after the first was read: that read past NULL and crashed
    c["second_file_refused"] = (
        lambda e: doc12(e, '<trans-unit id="control.web.title"><source>a</source></trans-unit>')
        .replace(b"</file></xliff>", b'</file><file original="x" target-language="de" '
                 b'datatype="plaintext"><body/></file></xliff>'),
        (400, 422), r"source-language")
    c["comment_and_pi_flood"] = (
        lambda e: doc20(e, "<!-- x -->" * 100000 + "<?pi x?>" * 100000), (200, 400, 422), r".")
    return c


CASES = cases()


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_document(env, name):
    build, statuses, detail_re = CASES[name]
    body = build(env)
    assert len(body) <= MAX_BODY, (name, len(body))
    r, took = post(env, body)
    assert r.status_code in statuses, "%s: %d %s" % (name, r.status_code, r.text[:600])
    if r.status_code != 200:
        assert r.headers.get("Content-Type", "").split(";")[0] == "application/problem+json"
        p = r.json()
        assert p["status"] == r.status_code and p["detail"].strip() and "\n" not in p["detail"]
        text = p["detail"] + " " + " ".join(x.get("message", "") for x in p.get("errors", []))
        assert re.search(detail_re, text), "%s: the detail does not name the cause: %r" % (
            name, text[:600])
    assert took < LIMIT, "%s took %.2f s" % (name, took)
    assert len(r.content) < 256 << 10, "%s: a %d-byte answer" % (name, len(r.content))
    for mark in PASSWD_MARKS:
        assert mark not in r.text, "%s: /etc/passwd leaked: %s" % (name, r.text[:600])
    assert healthy(env.hub.base), "%s: the server is not healthy" % name
    assert env.hub.server.alive()
    if "http" in name or "entit" in name or "xinclude" in name or "dtd" in name:
        assert env.connected() == [], "%s: the server fetched from the listener" % name


def test_over_the_body_limit_is_413(env):
    """A body over max_body_bytes is refused with 413 before it is read. Sent on a raw socket:
    the server answers and closes while the client is still sending, which an HTTP client
    library reports as a reset instead of the answer."""
    body = doc20(env, unit20("control.web.title", "x" * (MAX_BODY + 10)))
    t = time.monotonic()
    (status, headers, payload), _ = raw_request(
        env.hub.port, "POST", "/v1/translations/import",
        [("Authorization", "Bearer " + env.hub.tokens["editor"]), ("Content-Type", XLIFF),
         ("Content-Length", str(len(body)))], body, timeout=10.0)
    assert status == 413, (status, payload[:300])
    assert headers.get("content-type", "").startswith("application/problem+json")
    assert time.monotonic() - t < LIMIT
    assert healthy(env.hub.base) and env.hub.server.alive()


def test_xinclude_unit_is_invalid_and_the_rest_imports(env):
    """With a good unit beside it, the XInclude unit is rejected on its own (invalid_unit) and
    the included file's content is never imported. Uses an item of its own."""
    h = env.hub
    key = uniq("tr/xi-")
    h.editor.put_item({"key": key, "kind": "message", "title": "XI", "tags": [],
                       "variants": [{"id": "control", "content": {"en": {
                           "web": {"title": "Welcome aboard", "html": "<p>Hi</p>",
                                   "summary": "Start"}}}}]})
    body = doc20(env, unit20("control.web.title", "Willkommen an Bord") + unit20(
        "control.web.summary", 'Los <xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
        'href="file:///etc/passwd" parse="text"><xi:fallback>F</xi:fallback></xi:include>',
        source="Start"), original=key)
    r, took = post(env, body)
    assert r.status_code == 200, r.text
    rep = r.json()
    assert [x["unit"] for x in rep["imported"]] == ["control.web.title"]
    assert [(x["unit"], x["reason"]) for x in rep["rejected"]] == [
        ("control.web.summary", "invalid_unit")], rep
    assert "include" in rep["rejected"][0]["detail"], rep
    d = h.preview.get("/v1/items/" + key, params={"status": "draft"})
    de = [v for v in d.json()["variants"] if v["id"] == "control"][0]["content"]["de"]
    assert de == {"web": {"title": "Willkommen an Bord"}}, de
    for mark in PASSWD_MARKS:
        assert mark not in d.text and mark not in r.text


def own_item(env, prefix, web_html="<p>Hello <b>friend</b>.</p>"):
    key = uniq(prefix)
    env.hub.editor.put_item({"key": key, "kind": "message", "title": "Own", "tags": [],
                             "variants": [{"id": "control", "content": {"en": {
                                 "web": {"title": "Welcome aboard", "html": web_html}}}}]})
    return key


def de_content(env, key):
    d = env.hub.preview.get("/v1/items/" + key, params={"status": "draft"}).json()
    return [v for v in d["variants"] if v["id"] == "control"][0]["content"].get("de")


def html_unit(target):
    return ('<unit id="control.web.html"><originalData><data id="d1">&lt;p&gt;</data>'
            '<data id="d2">&lt;/p&gt;</data><data id="d3">&lt;b&gt;</data>'
            '<data id="d4">&lt;/b&gt;</data></originalData><segment><source>'
            '<pc id="1" dataRefStart="d1" dataRefEnd="d2">Hello <pc id="2" dataRefStart="d3" '
            'dataRefEnd="d4">friend</pc>.</pc></source><target>%s</target></segment></unit>'
            % target)


@pytest.mark.parametrize("target", [
    # "<a href=..." typed as text would become a link once the <b> code follows it
    '<pc id="1">Hallo &lt;a href=https://evil.example/phish <pc id="2">Freund</pc>.</pc>',
    # an unterminated comment would hide everything after it
    '<pc id="1">Hallo <pc id="2">Freund</pc>. &lt;!-- </pc>',
    '<pc id="1">Hallo <pc id="2">Freund</pc>.</pc>&lt;script src=//evil.example/x.js',
])
def test_markup_smuggled_in_as_text_is_refused(env, target):
    key = own_item(env, "tr/smuggle-")
    body = doc20(env, unit20("control.web.title", "Willkommen an Bord") + html_unit(target),
                 original=key)
    r, _ = post(env, body)
    assert r.status_code == 200, r.text
    rep = r.json()
    assert [x["unit"] for x in rep["imported"]] == ["control.web.title"], rep
    assert [(x["unit"], x["reason"]) for x in rep["rejected"]] == [
        ("control.web.html", "broken_code")], rep
    assert de_content(env, key) == {"web": {"title": "Willkommen an Bord"}}


def test_an_oversized_target_is_refused_alone(env):
    """A target far over the field's limit (web title: 500 bytes) is channel_limits for that
    unit; the unit beside it still imports."""
    key = own_item(env, "tr/big-")
    body = doc20(env, unit20("control.web.title", "x" * (2 << 20)) + html_unit(
        '<pc id="1">Hallo <pc id="2">Freund</pc>.</pc>'), original=key)
    r, _ = post(env, body)
    assert r.status_code == 200, r.text[:500]
    rep = r.json()
    assert [x["unit"] for x in rep["imported"]] == ["control.web.html"], rep
    assert [(x["unit"], x["reason"]) for x in rep["rejected"]] == [
        ("control.web.title", "channel_limits")], rep
    assert de_content(env, key) == {"web": {"html": "<p>Hallo <b>Freund</b>.</p>"}}


@pytest.mark.parametrize("opener", ["{{", "{%", "&lt;!--"])
def test_a_target_of_unclosed_openers_is_answered_at_once(env, opener):
    """Half a megabyte of Liquid or comment openers that never close: the split that finds
    the target's codes took minutes on it (quadratic); now the unit is refused or imported in
    one pass, and the unit beside it imports."""
    key = own_item(env, "tr/open-")
    body = doc20(env, unit20("control.web.title", "Willkommen an Bord") + html_unit(
        '<pc id="1">Hallo <pc id="2">Freund</pc>.</pc>' + opener * (500000 // len(opener))),
        original=key)
    r, secs = post(env, body)
    assert r.status_code == 200, r.text[:500]
    rep = r.json()
    assert "control.web.title" in [x["unit"] for x in rep["imported"]], rep
    assert secs < 20, "%.1f s for one import: the split is not linear" % secs
    assert healthy(env.hub.base)


def test_long_names_and_details_stay_valid_utf8(env):
    """An item key of 199 ASCII bytes and a multi-byte character, and a detail cut in the
    middle of accented text, come back as one rejection each, not as a failed import."""
    html = "<p>Hi {{ '" + "é" * 300 + "' }}</p>"
    key = own_item(env, "tr/utf8-", web_html=html)
    long_key = "a" * 199 + "é"
    unit = ('<unit id="control.web.html" xmlns:oh="urn:omnihub:xliff:1" oh:checksum="%s">'
            '<segment><source>x</source><target><pc id="1">Hallo</pc></target></segment>'
            '</unit>' % hashlib.sha256(html.encode()).hexdigest())
    body = doc20(env, unit20("control.web.title", "Willkommen"), original=long_key)
    body = body.replace(b"</xliff>", ('<file id="f2" original="%s">%s</file></xliff>'
                                      % (key, unit)).encode())
    r, _ = post(env, body)
    assert r.status_code == 422, r.text[:500]
    errs = r.json()["errors"]
    assert len(errs) == 2, errs
    assert errs[0]["message"].startswith("unknown_item: ")
    assert errs[0]["path"].startswith("/" + "a" * 199) and "..." in errs[0]["path"]
    assert errs[1]["message"].startswith("missing_code: ") and "éé" in errs[1]["message"]
    assert 400 < len(errs[1]["message"].encode()) <= 520


def test_many_files_of_one_item_make_one_draft_write(env):
    """500 files naming the same item are taken together: one new revision, one item.put."""
    key = own_item(env, "tr/files-")
    rev0 = env.hub.preview.get("/v1/items/" + key, params={"status": "draft"}).json()["revision"]
    files = b"".join(
        b'<file id="g%d" original="%s"><unit id="control.web.title"><segment><source>Welcome '
        b'aboard</source>%s</segment></unit></file>'
        % (i, key.encode(), b"<target>Willkommen</target>" if i == 7 else b"")
        for i in range(500))
    body = doc20(env, "").replace(b"</file></xliff>", b"</file>" + files + b"</xliff>")
    r, _ = post(env, body)
    assert r.status_code == 200, r.text[:500]
    rep = r.json()
    assert [x["unit"] for x in rep["imported"]] == ["control.web.title"]
    assert rep["items"] == [key] and len(rep["untranslated"]) == 499
    d = env.hub.preview.get("/v1/items/" + key, params={"status": "draft"}).json()
    assert d["revision"] == rev0 + 1


def test_after_the_batch_data_memory_and_service_are_intact(env):
    """Runs after the parametrized cases (file order): the victim's draft is byte-identical,
    nothing ever connected to the listener, memory grew by less than 64 MiB, and the
    translation routes still work."""
    assert env.draft_bytes() == env.draft0
    assert env.connected(wait=0.5) == []
    grown = env.rss() - env.rss0
    if not env.sanitized():
        assert grown < RSS_GROWTH_MAX, "VmRSS grew by %d MiB" % (grown >> 20)
    r = env.hub.editor.get("/v1/translations/export", params={"locale": "de"})
    assert r.status_code == 200 and env.key.encode() in r.content, r.text[:300]
    assert healthy(env.hub.base)
