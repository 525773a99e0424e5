"""POST /v1/render end to end, on a server holding the shipped sample set (content-samples/):
every published sample item in every channel it has and every configured locale, with the
artifact of each channel checked on its own terms (the email parsed back with Python's email
package, the SMS counted again by an independent GSM-7/UCS-2 counter, the push payload sizes
measured again, the web HTML free of scripts); Liquid at work (attributes, default, blocks,
HTML escaping); the errors of the route as RFC 9457 problems; the channel checks at publish
(Liquid syntax with line and column, unpublished blocks, segments, push size, header
injection, completeness); and hostile templates, which must never cost a 500, a hang or the
server."""
import copy
import datetime
import email
import email.policy
import email.utils
import json
import re
import time

import pytest

from helpers import Api, assert_problem, healthy, running_hub, sample_items, uniq

LOCALES = ("en", "de", "de-AT", "fr")
CHAINS = {"en": ["en"], "de": ["de", "en"], "de-AT": ["de-AT", "de", "en"], "fr": ["fr", "en"]}
CHANNELS = ("email", "sms", "mobile", "web")
ATTRS = {"first_name": "Jörg", "card_last4": "4242", "balance": 1500,
         "unsubscribe_url": "https://northwind.example/u/cust-42"}
RECIPIENT = {"id": "cust-42", "segments": [], "attributes": ATTRS}
TOP_MEMBERS = {"item", "channel", "version", "variant", "locale", "message_id", "artifact",
               "warnings"}


# ---- the sample set ---------------------------------------------------------------------------

DOCS = {d["key"]: d for d in sample_items()}
PUBLISHED = sorted(k for k, d in DOCS.items() if d.get("status") == "published")
DRAFTS = sorted(k for k, d in DOCS.items() if d.get("status") != "published")


def channels_of(doc):
    return sorted({ch for v in doc["variants"] for loc in v["content"].values() for ch in loc})


def render_cases():
    return [(k, ch, loc) for k in PUBLISHED for ch in channels_of(DOCS[k]) for loc in LOCALES]


def served_locale(doc, vi, channel, locale):
    """The first locale of the chain where variant vi or the base variant has this channel."""
    for loc in CHAINS[locale]:
        for v in (doc["variants"][vi], doc["variants"][0]):
            if channel in v["content"].get(loc, {}):
                return loc
    return None


def resolve(doc, vi, channel, field, locale):
    """API.md's rule: for each locale of the chain, the variant's field, else the base's."""
    for loc in CHAINS[locale]:
        for v in (doc["variants"][vi], doc["variants"][0]):
            val = v["content"].get(loc, {}).get(channel, {}).get(field)
            if val is not None:
                return val
    return None


def is_plain(template):
    return isinstance(template, str) and "{{" not in template and "{%" not in template


# ---- an independent SMS counter (3GPP TS 23.038) -----------------------------------------------

GSM7_BASIC = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
              "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXT = "\f^{}\\[~]|€"


def sms_count(text):
    """(encoding, characters, segments, forced) as a handset counts: septets in GSM-7, else
    UTF-16 units; 160/153 or 70/67 per segment; an escape pair or a surrogate pair is never
    split across segments."""
    forced = []
    for ch in text:
        if (ch not in GSM7_BASIC or ch == "\x1b") and ch not in GSM7_EXT and ch not in forced:
            forced.append(ch)
    if not forced:
        widths = [2 if ch in GSM7_EXT else 1 for ch in text]
        single, multi, enc = 160, 153, "GSM-7"
    else:
        widths = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
        single, multi, enc = 70, 67, "UCS-2"
    total = sum(widths)
    if total == 0:
        return enc, 0, 0, forced
    if total <= single:
        return enc, total, 1, forced
    segments, used = 1, 0
    for w in widths:
        if used + w > multi:
            segments += 1
            used = 0
        used += w
    return enc, total, segments, forced


def test_the_sms_counter_of_this_file():
    """The counter the SMS checks rely on, against hand-counted cases."""
    assert sms_count("") == ("GSM-7", 0, 0, [])
    assert sms_count("a" * 160)[1:3] == (160, 1)
    assert sms_count("a" * 161)[1:3] == (161, 2)
    assert sms_count("a" * 306)[1:3] == (306, 2)
    assert sms_count("a" * 307)[1:3] == (307, 3)
    assert sms_count("€" * 80)[1:3] == (160, 1)
    # 152 + (ESC €) + 152: the pair cannot straddle 153, so 152 | 2 + 151 | 1
    assert sms_count("a" * 152 + "€" + "a" * 152)[1:3] == (306, 3)
    assert sms_count("Jörg à Ça {x}") == ("GSM-7", 15, 1, [])
    assert sms_count("a’b") == ("UCS-2", 3, 1, ["’"])
    assert sms_count("a" * 70 + "’")[1:3] == (71, 2)
    # 66 + surrogate pair + 66 = 134 units: 66 | 2 + 65 | 1
    assert sms_count("a" * 66 + "😀" + "a" * 66) == ("UCS-2", 134, 3, ["😀"])
    assert sms_count("`")[0] == "UCS-2"  # the backtick is not in GSM-7


# ---- fixtures and requests ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def samples():
    """A server on a data directory holding the whole sample set (imported, as run.sh does)."""
    with running_hub(samples=True) as h:
        assert h.import_result.returncode == 0, h.import_result.stderr
        yield h


def render(client, item, channel, locale=None, recipient=RECIPIENT, **more):
    body = {"item": item, "channel": channel}
    if locale is not None:
        body["locale"] = locale
    if recipient is not None:
        body["recipient"] = recipient
    body.update(more)
    return client.post("/v1/render", body)


def rendered(client, item, channel, locale=None, recipient=RECIPIENT, **more):
    """A render that must succeed: the checked response body."""
    r = render(client, item, channel, locale, recipient, **more)
    assert r.status_code == 200, "%s %s %s: %d %s" % (item, channel, locale, r.status_code,
                                                       r.text[:800])
    assert r.headers["Content-Type"].split(";")[0] == "application/json"
    b = r.json()
    assert set(b) == TOP_MEMBERS, sorted(b)
    assert b["item"] == item and b["channel"] == channel
    assert isinstance(b["variant"], str) and b["variant"]
    assert isinstance(b["locale"], str) and b["locale"]
    assert isinstance(b["message_id"], str) and re.fullmatch(r"[A-Za-z0-9_-]{1,128}",
                                                            b["message_id"]), b["message_id"]
    assert isinstance(b["artifact"], dict)
    assert isinstance(b["warnings"], list)
    for w in b["warnings"]:
        assert set(w) == {"code", "message"} and w["code"] and w["message"], w
    CHECKS[channel](b["artifact"], b)
    return b


def codes(body):
    return [w["code"] for w in body["warnings"]]


# ---- per-channel artifact checks ---------------------------------------------------------------

def lf(s):
    """Line ends normalized: CRLF in the MIME, LF in the artifact; a bare CR cannot travel in
    MIME and becomes a line break there (the artifact keeps it)."""
    return s.replace("\r\n", "\n").replace("\r", "\n")


def parse_mime(a):
    raw = a["mime"].encode("utf-8")
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    return raw, msg


def check_email(a, top):
    for k in ("mime", "subject", "html", "text", "message_id"):
        assert isinstance(a.get(k), str), (k, a)
    raw, msg = parse_mime(a)
    # framing: CRLF everywhere, no line over 998 bytes, nothing but 7-bit bytes
    assert raw.endswith(b"\r\n")
    lines = raw.split(b"\r\n")[:-1]
    for n, line in enumerate(lines):
        assert b"\n" not in line and b"\r" not in line, "bare CR or LF in line %d: %r" % (n, line)
        assert len(line) <= 998, "line %d has %d bytes" % (n, len(line))
        assert all(b < 0x80 for b in line), "8-bit byte in line %d: %r" % (n, line[:120])
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    for line in head:  # RFC 2047 section 2: a line holding an encoded-word, at most 76
        assert b"=?" not in line or len(line) <= 76, "encoded-word line over 76: %r" % line
    assert not msg.defects, msg.defects
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    for p in parts:
        assert not p.defects, p.defects
        assert p.get_content_charset() == "utf-8"
        assert p["Content-Transfer-Encoding"] in ("quoted-printable", "base64")
    assert str(msg["Subject"]) == a["subject"]
    assert lf(parts[0].get_content()) == lf(a["text"])
    assert lf(parts[1].get_content()) == lf(a["html"])
    assert str(msg["Message-ID"]) == a["message_id"]
    assert a["message_id"].startswith("<%s@" % top["message_id"]) and a["message_id"].endswith(">")
    date = email.utils.parsedate_to_datetime(str(msg["Date"]))
    assert date.tzinfo is not None
    assert str(msg["MIME-Version"]) == "1.0"
    assert msg["From"] is not None and "@" in str(msg["From"])
    return msg


def check_sms(a, top):
    assert set(a) == {"text", "encoding", "characters", "segments", "unicode_characters"}, a
    enc, chars, segs, forced = sms_count(a["text"])
    assert (a["encoding"], a["characters"], a["segments"]) == (enc, chars, segs), (a, enc, chars,
                                                                                   segs)
    assert a["unicode_characters"] == forced
    if segs > 1:
        assert "sms_segments" in codes(top), top["warnings"]
    else:
        assert "sms_segments" not in codes(top), top["warnings"]


def compact_len(payload):
    """Bytes of the payload as jansson's JSON_COMPACT writes it: no spaces, UTF-8 unescaped."""
    return len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def check_mobile(a, top):
    assert set(a) == {"apns", "fcm", "bytes"}, a
    alert = a["apns"]["aps"]["alert"]
    note = a["fcm"]["message"]["notification"]
    assert alert["title"] == note["title"] and alert["body"] == note["body"]
    assert isinstance(alert["title"], str) and alert["title"]
    assert isinstance(a["fcm"]["message"]["data"], dict)
    for v in a["fcm"]["message"]["data"].values():
        assert isinstance(v, str)
    assert a["bytes"] == {"apns": compact_len(a["apns"]), "fcm": compact_len(a["fcm"])}
    assert a["bytes"]["apns"] <= 4096 and a["bytes"]["fcm"] <= 4096


def check_web(a, top):
    assert set(a) == {"title", "html", "summary", "image", "url", "og"}, a
    assert isinstance(a["title"], str) and a["title"]
    assert isinstance(a["html"], str)
    low = a["html"].lower()
    assert "<script" not in low and "javascript:" not in low, a["html"]
    assert not re.search(r"<[^>]*\son[a-z]+\s*=", low), a["html"]
    og = a["og"]
    assert og["og:type"] == "article" and og["og:title"] == a["title"]
    if a["summary"] is not None:
        assert og.get("og:description") == a["summary"]
    if a["image"] is not None:
        assert og.get("og:image") == a["image"]
    if a["url"] is not None:
        assert og.get("og:url") == a["url"]


CHECKS = {"email": check_email, "sms": check_sms, "mobile": check_mobile, "web": check_web}


# ---- every published sample, channel and locale ------------------------------------------------

@pytest.mark.parametrize("key,channel,locale", render_cases())
def test_every_published_sample_renders(samples, key, channel, locale):
    doc = DOCS[key]
    want = served_locale(doc, 0, channel, locale)
    r = render(samples.delivery, key, channel, locale)
    if want is None:
        assert_problem(r, 404)  # nothing in the chain: not an empty message
        return
    b = rendered(samples.delivery, key, channel, locale, variant=doc["variants"][0]["id"])
    assert b["version"] == 1
    assert b["variant"] == doc["variants"][0]["id"]
    assert b["locale"] == want, "served %s for %s, the chain gives %s" % (b["locale"], locale,
                                                                          want)
    a = b["artifact"]
    literal = {"email": [("subject", lambda t: t.strip())], "sms": [("text", None)],
               "mobile": [("title", None), ("body", None)], "web": [("title", None)]}[channel]
    for field, norm in literal:
        t = resolve(doc, 0, channel, field, locale)
        got = a["apns"]["aps"]["alert"][field] if channel == "mobile" else a[field]
        if is_plain(t):
            assert got == (norm(t) if norm else t), field
        elif "first_name" in t:
            assert "Jörg" in got, (field, got)
        if isinstance(t, str) and "card_last4" in t:
            assert "4242" in got, (field, got)
    if channel == "email":
        html = resolve(doc, 0, "email", "html", locale)
        if "first_name" in html:
            assert "Jörg" in a["html"]
        if "blocks/footer" in html:
            assert "Northwind Bank plc, 1 Harbour Street" in a["html"]
            assert 'href="https://northwind.example/u/cust-42"' in a["html"]
        if "{%" not in html and "{{" not in html:
            assert html in a["html"]
        _, msg = parse_mime(a)
        assert str(msg["List-Unsubscribe"]) == "<https://northwind.example/u/cust-42>"
        assert str(msg["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
        pre = resolve(doc, 0, "email", "preheader", locale)
        if is_plain(pre):
            assert a["html"].startswith('<div style="display:none') and pre in a["html"]


@pytest.mark.parametrize("key", DRAFTS)
def test_drafts_of_the_samples_render_only_as_drafts(samples, key):
    for ch in channels_of(DOCS[key]):
        assert_problem(render(samples.delivery, key, ch, "en"), 404)
        assert_problem(render(samples.preview, key, ch, "en"), 404)
        assert_problem(render(samples.delivery, key, ch, "en", status="draft"), 403)
        b = rendered(samples.preview, key, ch, "de-AT", status="draft")
        assert b["version"] is None and b["locale"] == served_locale(DOCS[key], 0, ch, "de-AT")


def test_unconfigured_locales_follow_truncation_then_the_default(samples):
    d = samples.delivery
    b = rendered(d, "onboarding/welcome", "email", "de-CH", variant="control")  # not configured: truncated to de
    assert b["locale"] == "de" and b["artifact"]["subject"].startswith("Willkommen")
    b = rendered(d, "onboarding/welcome", "email", "ja", variant="control")  # nothing like it: the default
    assert b["locale"] == "en" and b["artifact"]["subject"].startswith("Welcome")
    b = rendered(d, "onboarding/welcome", "email", variant="control")  # no locale: the default
    assert b["locale"] == "en"
    b = rendered(d, "onboarding/welcome", "email", "DE-at", variant="control")  # canonicalized
    assert b["locale"] == "de-AT"


# ---- email -------------------------------------------------------------------------------------

def test_email_german_subject_with_umlauts_is_encoded_and_decodes(samples):
    b = rendered(samples.delivery, "onboarding/welcome", "email", "de-AT")
    a = b["artifact"]
    assert b["locale"] == "de-AT"
    assert a["subject"] == "Grüß Gott bei Northwind, Jörg"
    raw, msg = parse_mime(a)
    assert str(msg["Subject"]) == "Grüß Gott bei Northwind, Jörg"
    subj = [ln for ln in raw.split(b"\r\n") if ln.startswith(b"Subject:")][0]
    assert b"=?UTF-8?" in subj.upper() or b"=?utf-8?" in subj  # RFC 2047, not raw 8-bit
    # the html and the preheader come from de (the chain de-AT -> de), the footer from de too
    assert "<h1>Hallo Jörg</h1>" in a["html"]
    assert "Ihr Konto ist eröffnet. Das sind die ersten Schritte." in a["html"]
    assert ">Abmelden</a>" in a["html"] and ">Unsubscribe</a>" not in a["html"]
    assert "Hallo Jörg" in a["text"] and "Abmelden" in a["text"]


def test_email_liquid_attributes_default_and_footer(samples):
    a = rendered(samples.delivery, "onboarding/welcome", "email", "en", variant="control")["artifact"]
    assert a["subject"] == "Welcome to Northwind, Jörg"
    assert "<h1>Hello Jörg</h1>" in a["html"]
    # the footer block, rendered with the same variables
    assert ("Northwind Bank plc, 1 Harbour Street, London EC2A 4NW.<br><a href="
            "\"https://northwind.example/u/cust-42\">Unsubscribe</a>") in a["html"]
    assert "{%" not in a["html"] and "{{" not in a["html"]
    # no first_name: the default filter
    nobody = {"id": "cust-43", "attributes": {}}
    a = rendered(samples.delivery, "onboarding/welcome", "email", "en", nobody)["artifact"]
    assert a["subject"] == "Welcome to Northwind, there"
    assert "<h1>Hello there</h1>" in a["html"]
    a = rendered(samples.delivery, "onboarding/welcome", "email", "de", nobody)["artifact"]
    assert a["subject"] == "Willkommen bei Northwind, Kundin, Kunde"
    # no recipient at all renders too (every variable empty)
    b = rendered(samples.delivery, "onboarding/welcome", "email", "fr", None)
    assert b["artifact"]["subject"] == "Bienvenue chez Northwind, à vous"
    _, msg = parse_mime(b["artifact"])
    assert msg["List-Unsubscribe"] is None  # no URL configured or given


def test_email_html_escapes_attributes_but_the_subject_does_not(samples):
    evil = '<script>alert("x")</script> & Co'
    rcp = {"id": "cust-44", "attributes": dict(ATTRS, first_name=evil)}
    a = rendered(samples.delivery, "onboarding/welcome", "email", "en", rcp)["artifact"]
    assert a["subject"] == "Welcome to Northwind, " + evil
    assert "<script" not in a["html"].lower()
    assert "<h1>Hello &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co</h1>" in a["html"]
    raw, msg = parse_mime(a)
    assert str(msg["Subject"]) == "Welcome to Northwind, " + evil
    html_part = list(msg.iter_parts())[1].get_content()
    assert "<script" not in html_part.lower()


def test_email_message_id_date_and_headers(samples):
    b = rendered(samples.delivery, "onboarding/activate-card", "email", "de")
    a = b["artifact"]
    raw, msg = parse_mime(a)
    assert a["subject"] == "Ihre Karte ist da – jetzt in 30 Sekunden aktivieren"
    assert str(msg["Message-ID"]) == a["message_id"]
    date = email.utils.parsedate_to_datetime(str(msg["Date"]))
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - date).total_seconds()) < 300, (date, now)
    # the two blocks, in German; the legal text's credit sentence only for product=credit
    assert "Einlagen sind bis 85.000 £ geschützt." in a["html"]
    assert "Jahreszins" not in a["html"]
    assert "Ihre Debitkarte mit der Endung 4242" in a["html"]
    # a new message id per render unless given
    b2 = rendered(samples.delivery, "onboarding/activate-card", "email", "de")
    assert b2["message_id"] != b["message_id"]
    rcp = {"id": "c", "attributes": dict(ATTRS, product="credit")}
    a = rendered(samples.delivery, "onboarding/activate-card", "email", "de", rcp)["artifact"]
    assert "Repräsentativer effektiver Jahreszins 22,9 % (variabel)." in a["html"]


def test_email_list_unsubscribe_from_configuration(make_hub):
    cfg = {"channels": {"email": {
        "from": "Northwind Bank <news@northwind.example>",
        "unsubscribe": {"url": "https://northwind.example/unsub/{{ recipient.id }}?m="
                               "{{ message_id }}",
                        "mailto": "unsubscribe@northwind.example"}}}}
    h = make_hub(config=cfg)
    key = uniq("r/cfg")
    h.editor.put_item({"key": key, "kind": "message", "title": "t", "tags": [], "variants": [
        {"id": "a", "content": {"en": {"email": {"subject": "Hallo {{ first_name }}",
                                                 "html": "<p>Hi</p>"}}}}]})
    h.editor.publish(key)
    b = rendered(h.delivery, key, "email", "en", {"id": "cust-9", "attributes": ATTRS})
    _, msg = parse_mime(b["artifact"])
    mid = b["message_id"]
    assert str(msg["List-Unsubscribe"]) == ("<https://northwind.example/unsub/cust-9?m=%s>, "
                                            "<mailto:unsubscribe@northwind.example>" % mid)
    assert str(msg["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    assert msg["From"].addresses[0].display_name == "Northwind Bank"
    assert msg["From"].addresses[0].addr_spec == "news@northwind.example"
    assert str(msg["Message-ID"]) == "<%s@northwind.example>" % mid
    assert str(msg["Subject"]) == "Hallo Jörg"
    assert b["artifact"]["text"].strip() == "Hi"  # derived from the HTML


def test_email_recipient_address_becomes_to_and_is_checked(samples):
    rcp = dict(RECIPIENT, email="joerg@example.org")
    b = rendered(samples.delivery, "onboarding/welcome", "email", "en", rcp)
    _, msg = parse_mime(b["artifact"])
    assert msg["To"].addresses[0].addr_spec == "joerg@example.org"
    for bad in ("joerg@example.org\r\nBcc: victim@example.org", "not an address"):
        rcp = dict(RECIPIENT, email=bad)
        assert_problem(render(samples.delivery, "onboarding/welcome", "email", "en", rcp), 422)


@pytest.fixture(scope="module")
def email_echo(samples):
    """A published email whose subject, html (raw) and text come from attributes s, h, t."""
    key = uniq("r/mail")
    samples.editor.put_item({"key": key, "kind": "message", "title": "echo", "tags": [],
                             "variants": [{"id": "a", "content": {"en": {"email": {
                                 "subject": "S: {{ s }}", "html": "{{ h | raw }}",
                                 "text": "{{ t }}"}}}}]})
    samples.editor.publish(key)
    return key


@pytest.mark.parametrize("s,h,t", [
    ("Привет, мир! Это тест кодировки заголовка", "<p>" + "Привет, мир! " * 40 + "</p>",
     "Съешь же ещё этих мягких французских булок, да выпей чаю. " * 10),
    ("=?UTF-8?Q?not_an_encoded_word?= = ? _", "<p>a=b ==3D</p>" * 30, "x = y\n=\n=3D\n"),
    ("trailing space ", "<p>" + "x" * 2000 + "</p>", "line with trailing spaces   \n\t\nend"),
    ("漢字のテストメッセージ" * 4, "<p>😀" * 300, ".\nFrom here\n..\n.\n"),
    ("a" * 200, "<pre>\r\nCRLF\r\nline</pre>", "one\r\ntwo\rthree\nfour"),
])
def test_email_encodings_round_trip(samples, email_echo, s, h, t):
    rcp = {"id": "x", "attributes": {"s": s, "h": h, "t": t}}
    a = rendered(samples.delivery, email_echo, "email", "en", rcp)["artifact"]
    assert a["subject"] == ("S: " + s).strip()
    assert a["html"] == h
    _, msg = parse_mime(a)
    assert lf(list(msg.iter_parts())[0].get_content()) == lf(a["text"])


def test_email_long_and_non_ascii_subject_folds_and_round_trips(samples):
    name = "Jörg-Ærøskøbing " * 12 + "😀"
    rcp = {"id": "x", "attributes": dict(ATTRS, first_name=name.strip())}
    b = rendered(samples.delivery, "onboarding/welcome", "email", "en", rcp)
    assert b["artifact"]["subject"] == "Welcome to Northwind, " + name.strip()


# ---- sms ---------------------------------------------------------------------------------------

def test_sms_gsm7_text_counts(samples):
    b = rendered(samples.delivery, "onboarding/welcome", "sms", "de")
    a = b["artifact"]
    assert a["text"] == ("Willkommen bei Northwind, Jörg! Ihr Konto ist eröffnet. STOP an 80808 "
                         "zum Abmelden.")
    assert (a["encoding"], a["characters"], a["segments"]) == ("GSM-7", 83, 1)
    assert b["warnings"] == []


def test_sms_emoji_in_first_name_forces_ucs2_with_a_warning(samples):
    rcp = {"id": "x", "attributes": {"first_name": "Jörg 😀"}}
    b = rendered(samples.delivery, "onboarding/welcome", "sms", "en", rcp)
    a = b["artifact"]
    text = ("Welcome to Northwind, Jörg 😀! Your account is open and your card is on its way. "
            "Reply STOP to opt out.")
    assert a["text"] == text
    units = len(text.encode("utf-16-le")) // 2
    assert units == 103
    assert (a["encoding"], a["characters"], a["segments"]) == ("UCS-2", 103, 2)
    assert a["unicode_characters"] == ["😀"]
    w = [w for w in b["warnings"] if w["code"] == "sms_ucs2"]
    assert len(w) == 1, b["warnings"]
    assert "😀" in w[0]["message"] or "U+1F600" in w[0]["message"].upper(), w


@pytest.fixture(scope="module")
def sms_echo(samples):
    """A published SMS item whose text is the attribute t (publish sees an empty text)."""
    key = uniq("r/sms")
    samples.editor.put_item({"key": key, "kind": "message", "title": "echo", "tags": [],
                             "variants": [{"id": "a", "content": {
                                 "en": {"sms": {"text": "{{ t }}"}}}}]})
    samples.editor.publish(key)
    return key


@pytest.mark.parametrize("text", [
    "a" * 160, "a" * 161, "a" * 306, "a" * 307, "€" * 80, "€" * 81,
    "a" * 152 + "€" + "a" * 152, "[{x}]~^|\\", "a" * 70 + "’", "’" * 70, "’" * 71,
    "a" * 66 + "😀" + "a" * 66, "😀" * 35, "😀" * 36, "Ça coûte 5 € – d’accord?",
    "Grüße aus Österreich! ÄÖÜäöüß", "Привет, мир", "line\nbreak\r\nok", "`",
])
def test_sms_counting_matches_an_independent_counter(samples, sms_echo, text):
    b = rendered(samples.delivery, sms_echo, "sms", "en", {"id": "x", "attributes": {"t": text}})
    assert b["artifact"]["text"] == text
    enc, chars, segs, forced = sms_count(text)
    assert (b["artifact"]["encoding"], b["artifact"]["characters"],
            b["artifact"]["segments"]) == (enc, chars, segs)


def test_sms_too_many_segments_at_render_is_422(samples, sms_echo):
    rcp = {"id": "x", "attributes": {"t": "a" * 1700}}
    r = render(samples.delivery, sms_echo, "sms", "en", rcp)
    b = assert_problem(r, 422)
    assert any(e["path"].endswith("/text") for e in b.get("errors", [])), b


def test_sms_empty_after_rendering_is_422(samples, sms_echo):
    assert_problem(render(samples.delivery, sms_echo, "sms", "en", {"id": "x", "attributes": {}}),
                   422)


# ---- mobile ------------------------------------------------------------------------------------

def test_mobile_payloads_and_sizes(samples):
    b = rendered(samples.delivery, "onboarding/activate-card", "mobile", "de")
    a = b["artifact"]
    assert b["locale"] == "de" and b["variant"] == "reminder"
    assert a["apns"]["aps"]["alert"] == {"title": "Karte aktivieren",
                                         "body": "Ihre Karte mit der Endung 4242 kann aktiviert "
                                                 "werden."}
    assert a["apns"]["deep_link"] == "northwind://cards/activate"  # from en: de has none
    assert a["fcm"]["message"]["data"]["deep_link"] == "northwind://cards/activate"
    assert a["bytes"]["apns"] == compact_len(a["apns"])
    assert a["bytes"]["fcm"] == compact_len(a["fcm"])
    b = rendered(samples.delivery, "onboarding/welcome", "mobile", "fr")
    a = b["artifact"]
    assert b["locale"] == "en"  # no French push: fr -> en
    assert a["apns"]["screen"] == "savings-goals" and a["apns"]["campaign"] == "spring-2027"
    assert a["fcm"]["message"]["data"] == {"screen": "savings-goals", "campaign": "spring-2027",
                                           "deep_link": "northwind://savings/goals/new"}


def test_mobile_bytes_count_utf8_and_escapes(samples):
    key = uniq("r/push")
    samples.editor.put_item({"key": key, "kind": "message", "title": "p", "tags": [],
                             "variants": [{"id": "a", "content": {"en": {"mobile": {
                                 "title": "{{ t }}",
                                 "body": "Grüße \"{{ first_name }}\" \\ /"}}}}]})
    samples.editor.publish(key)
    rcp = {"id": "x", "attributes": {"t": "Tab\there 😀 é\u2028", "first_name": "Jörg"}}
    a = rendered(samples.delivery, key, "mobile", "en", rcp)["artifact"]
    assert a["apns"]["aps"]["alert"]["title"] == "Tab\there 😀 é\u2028"
    assert a["apns"]["aps"]["alert"]["body"] == "Grüße \"Jörg\" \\ /"


# ---- web ---------------------------------------------------------------------------------------

def test_web_artifact_of_a_sample(samples):
    b = rendered(samples.delivery, "campaigns/spring-savings-boost", "web", "de-AT",
                 variant="control")
    a = b["artifact"]
    assert b["locale"] == "de-AT" and b["variant"] == "control"
    assert a["title"] == "Frühlingssparen"  # de-AT
    assert a["html"] == "<p>3,1 % Zinsen p. a. bis 31. Mai 2027.</p>"  # de
    assert a["summary"] == "3,1 % Zinsen bis 31. Mai."  # de-AT
    assert a["image"] == "https://cdn.northwind.example/img/spring-2027.jpg"  # en
    assert a["og"] == {"og:type": "article", "og:title": "Frühlingssparen",
                       "og:description": "3,1 % Zinsen bis 31. Mai.",
                       "og:image": "https://cdn.northwind.example/img/spring-2027.jpg",
                       "og:url": "https://northwind.example/savings/spring"}
    a = rendered(samples.delivery, "students/student-account", "web", "en",
                 {"id": "x", "attributes": {"city": "Graz <b>"}})["artifact"]
    assert a["html"] == ("<p>Starting university? Students in Graz &lt;b&gt; get a fee-free "
                         "account with a £2,000 interest-free overdraft.</p>")


def test_web_script_is_sanitized_after_publish(samples):
    key = uniq("r/web")
    html = ('<p onclick="steal()">Hi {{ first_name }}</p><script>alert(1)</script>'
            '<a href="javascript:alert(2)">x</a><img src="https://x.example/a.png" '
            'onerror="alert(3)">')
    samples.editor.put_item({"key": key, "kind": "message", "title": "w", "tags": [],
                             "variants": [{"id": "a", "content": {"en": {"web": {
                                 "title": "Hello", "html": html}}}}]})
    out = samples.editor.publish(key)
    assert out["version"] == 1
    b = rendered(samples.delivery, key, "web", "en")
    low = b["artifact"]["html"].lower()
    assert "<script" not in low and "alert(1)" not in low
    assert "onclick" not in low and "onerror" not in low and "javascript:" not in low
    assert "Hi Jörg" in b["artifact"]["html"]
    assert "html_sanitized" in codes(b), b["warnings"]


def test_publish_reports_the_sanitizer_warning(samples):
    """The web plugin's validate() warns (html_sanitized) when a script would be removed; the
    editor publishing it should see that warning in the publish answer."""
    key = uniq("r/webw")
    samples.editor.put_item({"key": key, "kind": "message", "title": "w", "tags": [],
                             "variants": [{"id": "a", "content": {"en": {"web": {
                                 "title": "Hello",
                                 "html": "<p>x</p><script>alert(1)</script>"}}}}]})
    out = samples.editor.publish(key)
    assert "html_sanitized" in [w.get("code") for w in out.get("warnings", [])], out


# ---- variants, drafts, statuses ----------------------------------------------------------------

def test_audience_variant_follows_the_recipient_segments(samples):
    vip = {"id": "cust-42", "segments": ["segment/vip"], "attributes": ATTRS}
    b = rendered(samples.delivery, "onboarding/welcome", "email", "en", vip)
    assert b["variant"] == "premier"
    assert b["artifact"]["subject"] == "Welcome to Northwind Premier, Jörg"
    assert "Your relationship manager will call you" in b["artifact"]["html"]
    # premier has only English email: a German VIP gets premier's English subject? No: the
    # German subject of the base variant wins within de (API.md's rule)
    b = rendered(samples.delivery, "onboarding/welcome", "email", "de", vip)
    assert b["variant"] == "premier" and b["locale"] == "de"
    assert b["artifact"]["subject"] == "Willkommen bei Northwind, Jörg"
    other = {"id": "cust-42", "segments": ["segment/students"], "attributes": ATTRS}
    # no audience matches: cust-42's weighted variant (bucket 7463 of 10000, docs/bucketing.md)
    assert rendered(samples.delivery, "onboarding/welcome", "email", "en", other)["variant"] == \
        "short"
    # "all": ["segment/vip"] on the campaign
    b = rendered(samples.delivery, "campaigns/spring-savings-boost", "web", "en", vip)
    assert b["variant"] == "premier" and b["artifact"]["title"] == "Premier: 3.6% AER this spring"
    # an explicit variant wins over the audience
    b = rendered(samples.delivery, "onboarding/welcome", "email", "en", vip, variant="short")
    assert b["variant"] == "short" and b["artifact"]["subject"] == "You're in, Jörg 🎉"
    _, msg = parse_mime(b["artifact"])
    assert str(msg["Subject"]) == "You're in, Jörg 🎉"


def test_explicit_unknown_variant_is_404(samples):
    assert_problem(render(samples.delivery, "onboarding/welcome", "email", "en",
                          variant="nope"), 404)


def test_draft_needs_preview_and_renders_with_a_null_version(samples):
    r = render(samples.delivery, "abandonment/last-chance", "email", "en", status="draft")
    assert_problem(r, 403)
    r = render(samples.delivery, "onboarding/welcome", "email", "en", status="draft")
    assert_problem(r, 403)
    b = rendered(samples.preview, "abandonment/last-chance", "email", "en", status="draft")
    assert b["version"] is None and b["variant"] == "default"
    # a draft ahead of its published version: preview sees the draft, delivery the version
    key = uniq("r/draft")
    item = {"key": key, "kind": "message", "title": "d", "tags": [], "variants": [
        {"id": "a", "content": {"en": {"sms": {"text": "Version one"}}}}]}
    samples.editor.put_item(item)
    samples.editor.publish(key)
    item["variants"][0]["content"]["en"]["sms"]["text"] = "Draft two"
    samples.editor.put_item(item)
    assert rendered(samples.delivery, key, "sms", "en")["artifact"]["text"] == "Version one"
    assert rendered(samples.preview, key, "sms", "en", status="published")["version"] == 1
    b = rendered(samples.preview, key, "sms", "en", status="draft")
    assert b["artifact"]["text"] == "Draft two" and b["version"] is None


# ---- errors of the route -------------------------------------------------------------------------

def test_not_found_cases(samples):
    d = samples.delivery
    assert_problem(render(d, "no/such-item", "email", "en"), 404)
    assert_problem(render(d, "cards/credit-card-offer", "email", "en"), 404)  # a draft only
    assert_problem(render(d, "onboarding/welcome", "fax", "en"), 404)
    assert_problem(render(d, "students/student-account", "email", "en"), 404)  # no email
    assert_problem(render(d, "onboarding/install-app", "mobile", "de"), 404)


def test_fallback_false_serves_the_exact_locale_only(samples):
    d, p = samples.delivery, samples.preview
    b = rendered(d, "onboarding/welcome", "sms", "de", fallback=False)
    assert b["locale"] == "de" and b["artifact"]["text"].startswith("Willkommen")
    assert_problem(render(d, "onboarding/welcome", "sms", "fr", fallback=False), 404)
    assert_problem(render(d, "onboarding/welcome", "sms", "de-AT", fallback=False), 404)
    # de-AT holds only the email subject: with fallback false (GET /v1/content serves just that
    # subject) the email has no html, so it cannot render; the draft path says 422 already,
    # the published path must not borrow the German html through the chain
    draft = render(p, "onboarding/welcome", "email", "de-AT", fallback=False, status="draft")
    assert_problem(draft, 422)
    r = render(d, "onboarding/welcome", "email", "de-AT", fallback=False)
    assert r.status_code in (404, 422), "published render used the fallback chain: %s" % (
        r.text[:300])


def test_bad_bodies_are_422(samples):
    d = samples.delivery
    for body, path in [
            ({"channel": "email"}, "/item"),
            ({"item": "onboarding/welcome"}, "/channel"),
            ({"item": 5, "channel": "email"}, "/item"),
            ({"item": "onboarding/welcome", "channel": ["email"]}, "/channel"),
            ({"item": "onboarding/welcome", "channel": "email", "locale": 7}, "/locale"),
            ({"item": "onboarding/welcome", "channel": "email", "locale": "not a tag!"},
             "/locale"),
            ({"item": "onboarding/welcome", "channel": "email", "recipient": "cust-42"},
             "/recipient"),
            ({"item": "onboarding/welcome", "channel": "email",
              "recipient": {"segments": "segment/vip"}}, "/recipient/segments"),
            ({"item": "onboarding/welcome", "channel": "email",
              "recipient": {"attributes": []}}, "/recipient/attributes"),
            # the recipient of a render follows the send's rules, except that it needs no id
            ({"item": "onboarding/welcome", "channel": "email",
              "recipient": {"id": 42}}, "/recipient/id"),
            ({"item": "onboarding/welcome", "channel": "email",
              "recipient": {"segments": [7]}}, "/recipient/segments"),
            ({"item": "onboarding/welcome", "channel": "email",
              "recipient": {"id": "c", "nickname": "x"}}, "/recipient"),
            ({"item": "onboarding/welcome", "channel": "email",
              "recipient": {"push": [{"platform": "fcm", "token": "t", "x": 1}]}},
             "/recipient/push"),
            ({"item": "onboarding/welcome", "channel": "email", "status": "live"}, "/status"),
            ({"item": "onboarding/welcome", "channel": "email", "variant": 3}, "/variant"),
            ({"item": "onboarding/welcome", "channel": "email", "fallback": "no"}, "/fallback")]:
        assert_problem(d.post("/v1/render", body), 422, paths=[path])
    b = assert_problem(d.post("/v1/render", {"item": "onboarding/welcome", "channel": "email",
                                             "colour": "red"}), 422)
    assert "colour" in json.dumps(b)
    assert_problem(d.post("/v1/render", ["onboarding/welcome"]), 422)


def test_protocol_errors(samples):
    d = samples.delivery
    assert_problem(d.post("/v1/render", raw=b'{"item": "onboarding/welcome", ',
                          content_type="application/json"), 400)
    assert_problem(d.post("/v1/render", raw=b"item=onboarding/welcome&channel=email",
                          content_type="application/x-www-form-urlencoded"), 415)
    assert_problem(d.post("/v1/render", raw=b'{"item":"onboarding/welcome","channel":"email"}',
                          content_type="text/plain"), 415)
    r = d.get("/v1/render")
    assert_problem(r, 405)
    assert [m.strip() for m in r.headers["Allow"].split(",")] == ["POST"]
    assert_problem(d.put("/v1/render", {"item": "x", "channel": "email"}), 405)
    r = samples.anon.post("/v1/render", {"item": "onboarding/welcome", "channel": "email"})
    assert_problem(r, 401)
    bad = Api(d.base, "not-a-token", "bogus")
    assert_problem(bad.post("/v1/render", {"item": "onboarding/welcome", "channel": "email"}),
                   401)
    assert_problem(d.post("/v1/render/x", {"item": "onboarding/welcome", "channel": "email"}),
                   404)


def test_every_role_may_render(samples):
    for role in ("admin", "editor", "preview", "delivery"):
        b = rendered(samples.as_(role), "onboarding/welcome", "sms", "en", variant="control")
        assert b["artifact"]["text"].startswith("Welcome to Northwind, Jörg!")


# ---- publish validation through the plugins ------------------------------------------------

def new_item(key, content, variants=None):
    return {"key": key, "kind": "message", "title": "Item " + key, "tags": [],
            "variants": variants or [{"id": "control", "content": content}]}


def publish(client, key):
    return client.post("/v1/items/%s/publish" % key, {"at": None})


def errors_at(body, path):
    return [e["message"] for e in body.get("errors", []) if e["path"] == path]


def test_publish_liquid_syntax_error_names_field_line_and_column(samples):
    key = uniq("r/pub")
    samples.editor.put_item(new_item(key, {"en": {"email": {
        "subject": "Hi {{ first_name ", "html": "<p>ok</p>"}}}))
    b = assert_problem(publish(samples.editor, key), 422,
                       paths=["/variants/0/content/en/email/subject"])
    msgs = errors_at(b, "/variants/0/content/en/email/subject")
    assert any("line 1, column" in m for m in msgs), msgs
    # a syntax error on line 3 says line 3; an unknown tag is an error too
    samples.editor.put_item(new_item(key, {"en": {"email": {
        "subject": "ok", "html": "<p>\nfine\n{% iff x %}y{% endif %}</p>"}}}))
    b = assert_problem(publish(samples.editor, key), 422,
                       paths=["/variants/0/content/en/email/html"])
    assert any("line 3, column" in m for m in errors_at(b, "/variants/0/content/en/email/html"))
    # fixed: publishes
    samples.editor.put_item(new_item(key, {"en": {"email": {
        "subject": "Hi {{ first_name }}", "html": "<p>ok</p>"}}}))
    assert publish(samples.editor, key).status_code in (200, 201)


def test_publish_syntax_error_reported_where_the_text_lives(samples):
    """A broken English subject that German readers inherit is reported once, at en."""
    key = uniq("r/pub")
    samples.editor.put_item(new_item(key, {
        "en": {"email": {"subject": "{% if %}", "html": "<p>a</p>"}},
        "de": {"email": {"html": "<p>b</p>"}}}))
    b = assert_problem(publish(samples.editor, key), 422,
                       paths=["/variants/0/content/en/email/subject"])
    assert not errors_at(b, "/variants/0/content/de/email/subject"), b


def test_publish_unknown_block_is_422_naming_it(samples):
    key = uniq("r/pub")
    samples.editor.put_item(new_item(key, {"en": {"email": {
        "subject": "s", "html": "<p>x</p>{% render 'blocks/nope' %}"}}}))
    b = assert_problem(publish(samples.editor, key), 422,
                       paths=["/variants/0/content/en/email/html"])
    assert any("blocks/nope" in m for m in errors_at(b, "/variants/0/content/en/email/html")), b
    # a block that exists but is only a draft is not good enough either
    block = uniq("blocks/draft")
    samples.editor.put_item({"key": block, "kind": "block", "title": "b", "tags": [],
                             "variants": [{"id": "d", "content": {"en": {"email": {
                                 "subject": "b", "html": "<p>block</p>"}}}}]})
    samples.editor.put_item(new_item(key, {"en": {"email": {
        "subject": "s", "html": "<p>x</p>{%% render '%s' %%}" % block}}}))
    b = assert_problem(publish(samples.editor, key), 422,
                       paths=["/variants/0/content/en/email/html"])
    assert any(block in m for m in errors_at(b, "/variants/0/content/en/email/html")), b
    samples.editor.publish(block)
    assert publish(samples.editor, key).status_code in (200, 201)
    a = rendered(samples.delivery, key, "email", "en")["artifact"]
    assert a["html"] == "<p>x</p><p>block</p>"


def test_publish_sms_over_max_segments_is_422(samples):
    key = uniq("r/pub")
    samples.editor.put_item(new_item(key, {"en": {"sms": {"text": "a" * 1700}}}))
    assert sms_count("a" * 1700)[2] == 12
    b = assert_problem(publish(samples.editor, key), 422,
                       paths=["/variants/0/content/en/sms/text"])
    msgs = errors_at(b, "/variants/0/content/en/sms/text")
    assert any("12" in m for m in msgs), msgs
    samples.editor.put_item(new_item(key, {"en": {"sms": {"text": "a" * 1530}}}))  # 10
    assert publish(samples.editor, key).status_code in (200, 201)
    b = rendered(samples.delivery, key, "sms", "en")
    assert b["artifact"]["segments"] == 10 and "sms_segments" in codes(b)


def test_publish_apns_payload_over_4096_bytes_is_422(samples):
    key = uniq("r/pub")
    samples.editor.put_item(new_item(key, {"en": {"mobile": {
        "title": "T" * 400, "body": "é" * 1900}}}))  # 400 + 3800 bytes of text alone
    b = assert_problem(publish(samples.editor, key), 422)
    assert any(e["path"].startswith("/variants/0/content/en/mobile") for e in b["errors"]), b
    assert any("4096" in e["message"] for e in b["errors"]), b
    samples.editor.put_item(new_item(key, {"en": {"mobile": {
        "title": "T" * 400, "body": "é" * 1000}}}))
    assert publish(samples.editor, key).status_code in (200, 201)


def test_publish_subject_with_a_line_break_is_422(samples):
    key = uniq("r/pub")
    samples.editor.put_item(new_item(key, {"en": {"email": {
        "subject": "Hello\r\nBcc: victim@example.org", "html": "<p>x</p>"}}}))
    assert_problem(publish(samples.editor, key), 422,
                   paths=["/variants/0/content/en/email/subject"])
    samples.editor.put_item(new_item(key, {"en": {"email": {
        "subject": "Hello\nthere", "html": "<p>x</p>"}}}))
    assert_problem(publish(samples.editor, key), 422,
                   paths=["/variants/0/content/en/email/subject"])


def test_subject_line_break_from_an_attribute_is_refused_at_render(samples):
    rcp = {"id": "x", "attributes": {"first_name": "Jörg\r\nBcc: victim@example.org"}}
    assert_problem(render(samples.delivery, "onboarding/welcome", "email", "en", rcp), 422)


def test_publish_incomplete_variant_is_422(samples):
    key = uniq("r/pub")
    variants = [{"id": "a", "content": {"en": {"email": {"subject": "s", "html": "<p>x</p>"}},
                                        "de": {"mobile": {"title": "Titel"}}}}]
    samples.editor.put_item(new_item(key, None, variants))
    assert_problem(publish(samples.editor, key), 422, paths=["/variants/0/content/de/mobile/body"])


def test_failed_publish_keeps_the_published_version(samples):
    key = uniq("r/pub")
    good = new_item(key, {"en": {"email": {"subject": "Good {{ first_name }}", "html": "<p>1</p>"},
                                 "sms": {"text": "Good one"}}})
    samples.editor.put_item(good)
    assert samples.editor.publish(key)["version"] == 1
    bad = copy.deepcopy(good)
    bad["variants"][0]["content"]["en"]["email"]["subject"] = "Bad {% if x %}"
    bad["variants"][0]["content"]["en"]["sms"]["text"] = "b" * 1700
    samples.editor.put_item(bad)
    b = assert_problem(publish(samples.editor, key), 422,
                       paths=["/variants/0/content/en/email/subject",
                              "/variants/0/content/en/sms/text"])
    assert len(b["errors"]) >= 2  # every problem at once
    c = samples.delivery.ok("GET", "/v1/content/" + key, params={"channel": "email",
                                                                  "locale": "en"})
    assert c["version"] == 1 and c["fields"]["subject"] == "Good {{ first_name }}"
    b = rendered(samples.delivery, key, "email", "en")
    assert b["version"] == 1 and b["artifact"]["subject"] == "Good Jörg"
    # fixed: version 2
    fixed = copy.deepcopy(good)
    fixed["variants"][0]["content"]["en"]["email"]["subject"] = "Better {{ first_name }}"
    samples.editor.put_item(fixed)
    assert samples.editor.publish(key)["version"] == 2
    b = rendered(samples.delivery, key, "email", "en")
    assert b["version"] == 2 and b["artifact"]["subject"] == "Better Jörg"


# ---- hostile Liquid ------------------------------------------------------------------------------

HOSTILE = [
    "{% for i in (1..1000000) %}x{% endfor %}",
    "{% for i in (1..100000) %}{% for j in (1..100000) %}x{% endfor %}{% endfor %}",
    "{% assign s = 'xxxxxxxxxxxxxxxx' %}{% for i in (1..40) %}{% assign s = s | append: s %}"
    "{% endfor %}{{ s }}",
    "{% capture c %}{% for i in (1..99999) %}0123456789{% endfor %}{% endcapture %}{{ c }}{{ c }}",
    "{{ 'x' | append: 'y' | append: 'z' | upcase | downcase | size | times: 99999999999 | "
    "times: 99999999999 | times: 99999999999 }}",
    "{% if boom %}{% for i in (1..1000000) %}{{ boom }}{% endfor %}{% endif %}ok",
    "{{ boom | split: '' | join: boom | split: '' | join: boom }}ok",
    "{% for i in (1..10) %}" * 60 + "x" + "{% endfor %}" * 60,
]


@pytest.mark.parametrize("n", range(len(HOSTILE)))
def test_hostile_liquid_is_refused_or_bounded(samples, n):
    key = uniq("r/hostile")
    samples.editor.put_item(new_item(key, {"en": {"email": {"subject": "s", "html": HOSTILE[n]},
                                                  "sms": {"text": HOSTILE[n]}}}))
    t0 = time.time()
    r = publish(samples.editor, key)
    assert time.time() - t0 < 2, "publish took %.1f s" % (time.time() - t0)
    assert r.status_code in (200, 201, 413, 422), (r.status_code, r.text[:400])
    if r.status_code in (200, 201):
        rcp = {"id": "x", "attributes": {"boom": "b" * 2000}}
        for ch in ("email", "sms"):
            t0 = time.time()
            rr = render(samples.delivery, key, ch, "en", rcp)
            took = time.time() - t0
            assert took < 2, "render %s took %.1f s" % (ch, took)
            assert rr.status_code < 500, (rr.status_code, rr.text[:400])
            if rr.status_code == 200:
                a = rr.json()["artifact"]
                assert len(json.dumps(a)) < 8 << 20
    else:
        assert_problem(r, r.status_code)
    assert healthy(samples.base)


def test_self_rendering_block_is_bounded(samples):
    block = uniq("blocks/loop")
    mk = (lambda html: {"key": block, "kind": "block", "title": "b", "tags": [],
                        "variants": [{"id": "d", "content": {"en": {"email": {
                            "subject": "b", "html": html}}}}]})
    samples.editor.put_item(mk("<b>base</b>"))
    samples.editor.publish(block)
    samples.editor.put_item(mk("<b>again</b>{%% render '%s' %%}{%% render '%s' %%}"
                               % (block, block)))
    r = publish(samples.editor, block)
    key = uniq("r/hostile")
    samples.editor.put_item(new_item(key, {"en": {"email": {
        "subject": "s", "html": "{%% render '%s' %%}" % block}}}))
    t0 = time.time()
    r2 = publish(samples.editor, key)
    assert time.time() - t0 < 2
    assert r.status_code in (200, 201, 422) and r2.status_code in (200, 201, 422), (r.text, r2.text)
    if r2.status_code in (200, 201):
        t0 = time.time()
        rr = render(samples.delivery, key, "email", "en")
        assert time.time() - t0 < 2 and rr.status_code < 500, rr.text[:400]
    assert healthy(samples.base)


def test_runtime_error_in_a_template_is_4xx(samples):
    key = uniq("r/rt")
    samples.editor.put_item(new_item(key, {"en": {"sms": {
        "text": "{% if n %}{{ 10 | divided_by: n }}{% else %}none{% endif %}"}}}))
    samples.editor.publish(key)
    assert rendered(samples.delivery, key, "sms", "en", {"id": "x", "attributes": {"n": 5}})[
        "artifact"]["text"] == "2"
    r = render(samples.delivery, key, "sms", "en", {"id": "x", "attributes": {"n": 0}})
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert healthy(samples.base)
