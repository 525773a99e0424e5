/*
 * XLIFF writer and reader: exact output of a small document in each version, round trips of
 * text that XML escaping and indentation could damage, nested and badly nested codes, the
 * reading of documents in the shapes other tools write (translate-toolkit's 1.2, 2.0 with
 * segments, ignorables, sc/ec, mrk, cp, groups and extensions), and hostile documents:
 * entity expansion, external entities and DTDs (checked to touch no file and no socket), deep
 * nesting, huge attributes, many attributes, bad encodings, wrong roots, missing and duplicate
 * ids, oversize input.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "test.h"
#include "xml/xml.h"

#define NS2  "urn:oasis:names:tc:xliff:document:2.0"
#define NS12 "urn:oasis:names:tc:xliff:document:1.2"
#define HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

#define TEXT(s)                                                                                    \
    {                                                                                              \
        HUB_XLIFF_TEXT, 0, (s), sizeof(s) - 1, NULL                                                \
    }
#define CODE(k, id, s, type)                                                                       \
    {                                                                                              \
        (k), (id), (s), sizeof(s) - 1, (type)                                                      \
    }
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ----------------------------------------------------------------------------- */

/* Parts as a compact string: text in [], codes {x1} (CODE), {o1} (OPEN), {c1} (CLOSE). */
static const char *render(const hub_xliff_part *p, size_t n)
{
    static hub_buf b;
    if (b.cap == 0)
        hub_buf_init(&b, 64 << 20);
    hub_buf_reset(&b);
    hub_buf_append(&b, "", 0);
    for (size_t i = 0; i < n; i++) {
        static const char kinds[] = "-xoc";
        if (p[i].kind == HUB_XLIFF_TEXT) {
            hub_buf_append_byte(&b, '[');
            hub_buf_append(&b, p[i].text, p[i].len);
            hub_buf_append_byte(&b, ']');
        } else {
            hub_buf_printf(&b, "{%c%u}", kinds[p[i].kind], p[i].id);
        }
    }
    return b.data;
}

static char *dup_render(const hub_xliff_part *p, size_t n)
{
    return hub_strdup(render(p, n));
}

/* Writes doc; returns the XML (free it) or NULL, naming the error. */
static char *write_doc(const hub_xliff_doc *doc)
{
    hub_buf out;
    hub_buf_init(&out, 1 << 20);
    hub_error err;
    hub_error_init(&err);
    int rc = hub_xliff_write(doc, &out, &err);
    if (rc != 0) {
        fprintf(stderr, "write: %s\n", err.message);
        hub_buf_free(&out);
        return NULL;
    }
    return out.data;
}

/* Parses xml into d, which must succeed. */
static int parse_ok(const char *xml, hub_xliff_doc *d)
{
    hub_error err;
    hub_error_init(&err);
    int rc = hub_xliff_parse(xml, strlen(xml), d, &err);
    if (rc != 0)
        fprintf(stderr, "%s: parse: %s\n", test_current_, err.message);
    return rc;
}

/* Parsing data[len] fails with code and a one-line message holding want, in under 5 s. */
static void expect_parse_fails(const char *data, size_t len, int code, const char *want)
{
    hub_xliff_doc d;
    memset(&d, 0xAB, sizeof(d));
    hub_error err;
    hub_error_init(&err);
    int64_t t0 = hub_mono_ms();
    int rc = hub_xliff_parse(data, len, &d, &err);
    int64_t ms = hub_mono_ms() - t0;
    if (rc != code || strstr(err.message, want) == NULL)
        fprintf(stderr, "%s: rc %d (want %d), \"%s\" (want \"%s\")\n", test_current_, rc, code,
                err.message, want);
    CHECK(rc == code);
    CHECK(err.code == code);
    CHECK(strstr(err.message, want) != NULL);
    CHECK(err.message[0] != '\0' && strchr(err.message, '\n') == NULL);
    CHECK(hub_utf8_valid(err.message, strlen(err.message)));
    CHECK(d.files == NULL && d.nfiles == 0 && d.priv_ == NULL);
    CHECK(ms < 5000);
    hub_xliff_doc_free(&d);
}

static void expect_parse_fails_str(const char *xml, int code, const char *want)
{
    expect_parse_fails(xml, strlen(xml), code, want);
}

/* Writing doc fails with code and a message holding want; out keeps what it held. */
static void expect_write_fails(const hub_xliff_doc *doc, size_t cap, int code, const char *want)
{
    hub_buf out;
    hub_buf_init(&out, cap);
    REQUIRE(hub_buf_append_str(&out, "abc") == 0);
    hub_error err;
    hub_error_init(&err);
    int rc = hub_xliff_write(doc, &out, &err);
    if (rc != code || strstr(err.message, want) == NULL)
        fprintf(stderr, "%s: rc %d (want %d), \"%s\" (want \"%s\")\n", test_current_, rc, code,
                err.message, want);
    CHECK(rc == code);
    CHECK(strstr(err.message, want) != NULL);
    CHECK(strchr(err.message, '\n') == NULL);
    CHECK(out.len == 3);
    CHECK_STR(out.data, "abc");
    hub_buf_free(&out);
}

/* A one-file, one-unit document around the given source and target. */
typedef struct one {
    hub_xliff_unit unit;
    hub_xliff_file file;
    hub_xliff_doc doc;
} one;

static void one_init(one *o, hub_xliff_version v, hub_xliff_part *src, size_t nsrc,
                     hub_xliff_part *tgt, size_t ntgt)
{
    memset(o, 0, sizeof(*o));
    o->unit.id = "u1";
    o->unit.source = src;
    o->unit.nsource = nsrc;
    o->unit.target = tgt;
    o->unit.ntarget = ntgt;
    o->file.original = "item";
    o->file.units = &o->unit;
    o->file.nunits = 1;
    o->doc.version = v;
    o->doc.srclang = "en";
    o->doc.trglang = "de";
    o->doc.files = &o->file;
    o->doc.nfiles = 1;
}

static const hub_xliff_unit *find_unit(const hub_xliff_doc *d, size_t file, const char *id)
{
    if (file >= d->nfiles)
        return NULL;
    for (size_t i = 0; i < d->files[file].nunits; i++) {
        if (strcmp(d->files[file].units[i].id, id) == 0)
            return &d->files[file].units[i];
    }
    return NULL;
}

/* ---- writing ----------------------------------------------------------------------------- */

static hub_xliff_part greet_src[] = {
    TEXT("Hello "),
    CODE(HUB_XLIFF_OPEN, 1, "<b>", "html"),
    CODE(HUB_XLIFF_CODE, 2, "{{ name }}", "liquid"),
    CODE(HUB_XLIFF_CLOSE, 1, "</b>", "html"),
    TEXT("!"),
};
static hub_xliff_part greet_tgt[] = {
    TEXT("Hallo "),
    CODE(HUB_XLIFF_CODE, 2, "{{ name }}", "liquid"),
};
static const char *const greet_notes[] = {"Subject line", "Keep it short"};

static void greet_doc(hub_xliff_doc *d, hub_xliff_file *f, hub_xliff_unit u[2], hub_xliff_version v)
{
    memset(u, 0, 2 * sizeof(*u));
    u[0] = (hub_xliff_unit){.id = "subject",
                            .checksum = "c0ffee",
                            .notes = greet_notes,
                            .nnotes = 2,
                            .source = greet_src,
                            .nsource = NELEM(greet_src)};
    u[1] = (hub_xliff_unit){.id = "body",
                            .source = greet_src,
                            .nsource = 1,
                            .target = greet_tgt,
                            .ntarget = NELEM(greet_tgt)};
    *f = (hub_xliff_file){.original = "welcome", .note = "Welcome email", .units = u, .nunits = 2};
    *d = (hub_xliff_doc){.version = v, .srclang = "en", .trglang = "de", .files = f, .nfiles = 1};
}

static void test_write_exact_v2(void)
{
    hub_xliff_doc d;
    hub_xliff_file f;
    hub_xliff_unit u[2];
    greet_doc(&d, &f, u, HUB_XLIFF_2);
    char *xml = write_doc(&d);
    REQUIRE(xml != NULL);
    CHECK_STR(xml,
              HEAD "<xliff xmlns=\"" NS2 "\" xmlns:oh=\"urn:omnihub:xliff:1\" version=\"2.0\" "
                   "srcLang=\"en\" trgLang=\"de\">\n"
                   "  <file id=\"f1\" original=\"welcome\">\n"
                   "    <notes>\n"
                   "      <note>Welcome email</note>\n"
                   "    </notes>\n"
                   "    <unit id=\"subject\" oh:checksum=\"c0ffee\" xml:space=\"preserve\">\n"
                   "      <notes>\n"
                   "        <note>Subject line</note>\n"
                   "        <note>Keep it short</note>\n"
                   "      </notes>\n"
                   "      <originalData>\n"
                   "        <data id=\"d1\">&lt;b&gt;</data>\n"
                   "        <data id=\"d2\">{{ name }}</data>\n"
                   "        <data id=\"d3\">&lt;/b&gt;</data>\n"
                   "      </originalData>\n"
                   "      <segment state=\"initial\">\n"
                   "        <source>Hello <pc id=\"1\" dataRefStart=\"d1\" dataRefEnd=\"d3\" "
                   "dispStart=\"&lt;b&gt;\" dispEnd=\"&lt;/b&gt;\"><ph id=\"2\" dataRef=\"d2\" "
                   "disp=\"{{ name }}\"/></pc>!</source>\n"
                   "      </segment>\n"
                   "    </unit>\n"
                   "    <unit id=\"body\" xml:space=\"preserve\">\n"
                   "      <originalData>\n"
                   "        <data id=\"d1\">{{ name }}</data>\n"
                   "      </originalData>\n"
                   "      <segment state=\"translated\">\n"
                   "        <source>Hello </source>\n"
                   "        <target>Hallo <ph id=\"2\" dataRef=\"d1\" disp=\"{{ name }}\"/>"
                   "</target>\n"
                   "      </segment>\n"
                   "    </unit>\n"
                   "  </file>\n"
                   "</xliff>\n");
    free(xml);
}

static void test_write_exact_v12(void)
{
    hub_xliff_doc d;
    hub_xliff_file f;
    hub_xliff_unit u[2];
    greet_doc(&d, &f, u, HUB_XLIFF_12);
    char *xml = write_doc(&d);
    REQUIRE(xml != NULL);
    CHECK_STR(xml, HEAD "<xliff xmlns=\"" NS12 "\" xmlns:oh=\"urn:omnihub:xliff:1\" "
                        "version=\"1.2\">\n"
                        "  <file original=\"welcome\" source-language=\"en\" "
                        "target-language=\"de\" datatype=\"plaintext\">\n"
                        "    <header>\n"
                        "      <note from=\"omnihub\">Welcome email</note>\n"
                        "    </header>\n"
                        "    <body>\n"
                        "      <trans-unit id=\"subject\" oh:checksum=\"c0ffee\" "
                        "resname=\"subject\" xml:space=\"preserve\">\n"
                        "        <source>Hello <g id=\"1\" ctype=\"x-html\"><x id=\"2\" "
                        "ctype=\"x-liquid\" equiv-text=\"{{ name }}\"/></g>!</source>\n"
                        "        <note from=\"omnihub\">Subject line</note>\n"
                        "        <note from=\"omnihub\">Keep it short</note>\n"
                        "      </trans-unit>\n"
                        "      <trans-unit id=\"body\" resname=\"body\" "
                        "xml:space=\"preserve\">\n"
                        "        <source>Hello </source>\n"
                        "        <target>Hallo <x id=\"2\" ctype=\"x-liquid\" "
                        "equiv-text=\"{{ name }}\"/></target>\n"
                        "      </trans-unit>\n"
                        "    </body>\n"
                        "  </file>\n"
                        "</xliff>\n");
    free(xml);
}

static void test_write_appends(void)
{
    hub_xliff_doc d;
    hub_xliff_file f;
    hub_xliff_unit u[2];
    greet_doc(&d, &f, u, HUB_XLIFF_2);
    hub_buf out;
    hub_buf_init(&out, 1 << 20);
    REQUIRE(hub_buf_append_str(&out, "prefix") == 0);
    CHECK(hub_xliff_write(&d, &out, NULL) == 0);
    CHECK(strncmp(out.data, "prefix" HEAD, strlen("prefix" HEAD)) == 0);
    size_t need = out.len - 6;
    hub_buf_free(&out);
    /* a cap one byte short of the document: ETOOBIG, nothing appended */
    expect_write_fails(&d, need + 3 - 1, HUB_ETOOBIG, "over the output cap");
    hub_buf_init(&out, need);
    CHECK(hub_xliff_write(&d, &out, NULL) == 0);
    CHECK(out.len == need);
    hub_buf_free(&out);
}

/* Written, then read: same parts, ids, checksums and targets. */
static void roundtrip(hub_xliff_version v, hub_xliff_part *src, size_t nsrc, hub_xliff_part *tgt,
                      size_t ntgt)
{
    one o;
    one_init(&o, v, src, nsrc, tgt, ntgt);
    o.unit.checksum = "sha256:0123";
    char *xml = write_doc(&o.doc);
    REQUIRE(xml != NULL);
    hub_xliff_doc d;
    int rc = parse_ok(xml, &d);
    free(xml);
    REQUIRE(rc == 0);
    CHECK(d.version == v);
    CHECK_STR(d.srclang, "en");
    CHECK_STR(d.trglang, "de");
    REQUIRE(d.nfiles == 1 && d.files[0].nunits == 1);
    CHECK_STR(d.files[0].original, "item");
    const hub_xliff_unit *u = &d.files[0].units[0];
    CHECK_STR(u->id, "u1");
    CHECK_STR(u->checksum, "sha256:0123");
    CHECK(u->error == NULL);
    char *want = dup_render(src, nsrc);
    CHECK_STR(render(u->source, u->nsource), want);
    free(want);
    CHECK(u->has_target == (tgt != NULL));
    if (tgt != NULL) {
        want = dup_render(tgt, ntgt);
        CHECK_STR(render(u->target, u->ntarget), want);
        free(want);
    } else {
        CHECK(u->target == NULL && u->ntarget == 0);
    }
    for (size_t i = 0; i < u->nsource; i++) {
        if (u->source[i].kind == HUB_XLIFF_TEXT)
            CHECK(u->source[i].text[u->source[i].len] == '\0');
        else
            CHECK(u->source[i].text == NULL && u->source[i].type == NULL);
    }
    hub_xliff_doc_free(&d);
    CHECK(d.files == NULL && d.priv_ == NULL);
}

static void test_roundtrip_text(void)
{
    hub_xliff_part hard[] = {
        TEXT("  lead and trail  "),
        CODE(HUB_XLIFF_CODE, 1, "{% if a < b and c > \"d\" %}", "liquid"),
        TEXT("<tag> & &amp; \"q\" 'a' ]]> ]]]]><![CDATA[x]]>\ttab\nnl\r\ncrlf\rcr "),
        CODE(HUB_XLIFF_CODE, 2, "\n\t {{ x }} \r", "liquid"),
        TEXT("\n\n"),
    };
    hub_xliff_part intl[] = {
        TEXT("Gr\xc3\xbc\xc3\x9f\x65 \xe2\x82\xac \xe6\x97\xa5\xe6\x9c\xac "
             "\xd8\xa7\xd9\x84\xd8\xb9\xd8\xb1\xd8\xa8\xd9\x8a\xd8\xa9 \xf0\x9f\x98\x80 \xc2\xa0"
             "\xef\xbf\xbd\xe2\x80\x8b"),
    };
    hub_xliff_part ws[] = {TEXT(" \n\t ")};
    hub_xliff_part ws_tgt[] = {TEXT("\n  x  \n")};
    for (int v = 0; v < 2; v++) {
        hub_xliff_version ver = v == 0 ? HUB_XLIFF_2 : HUB_XLIFF_12;
        roundtrip(ver, hard, NELEM(hard), hard, NELEM(hard));
        roundtrip(ver, intl, NELEM(intl), NULL, 0);
        roundtrip(ver, ws, NELEM(ws), ws_tgt, NELEM(ws_tgt));
        roundtrip(ver, NULL, 0, NULL, 0);
    }
}

static void test_roundtrip_nested(void)
{
    hub_xliff_part nested[] = {
        TEXT("a"),
        CODE(HUB_XLIFF_OPEN, 1, "<a href=\"x\">", "html"),
        CODE(HUB_XLIFF_OPEN, 2, "<b>", "html"),
        CODE(HUB_XLIFF_CODE, 3, "{{ n }}", "liquid"),
        CODE(HUB_XLIFF_CLOSE, 2, "</b>", "html"),
        TEXT(" mid "),
        CODE(HUB_XLIFF_OPEN, 4, "{% if x %}", "liquid"),
        CODE(HUB_XLIFF_CLOSE, 4, "{% endif %}", "liquid"),
        CODE(HUB_XLIFF_CLOSE, 1, "</a>", "html"),
        CODE(HUB_XLIFF_OPEN, 1, "<i>", "html"), /* an id may be reused once closed */
        TEXT("z"),
        CODE(HUB_XLIFF_CLOSE, 1, "</i>", "html"),
    };
    hub_xliff_part tgt[] = {
        CODE(HUB_XLIFF_OPEN, 1, "<a href=\"x\">", "html"),
        CODE(HUB_XLIFF_CODE, 3, "{{ n }}", "liquid"),
        CODE(HUB_XLIFF_CLOSE, 1, "</a>", NULL),
    };
    roundtrip(HUB_XLIFF_2, nested, NELEM(nested), tgt, NELEM(tgt));
    roundtrip(HUB_XLIFF_12, nested, NELEM(nested), tgt, NELEM(tgt));

    hub_xliff_part inner[] = {
        CODE(HUB_XLIFF_OPEN, 1, "<a>", "html"),
        CODE(HUB_XLIFF_OPEN, 2, "<b>", "html"),
        TEXT("x"),
        CODE(HUB_XLIFF_CLOSE, 2, "</b>", "html"),
        CODE(HUB_XLIFF_CLOSE, 1, "</a>", "html"),
    };
    one o;
    one_init(&o, HUB_XLIFF_2, inner, NELEM(inner), NULL, 0);
    char *xml = write_doc(&o.doc);
    REQUIRE(xml != NULL);
    CHECK(
        strstr(xml,
               "<source><pc id=\"1\" dataRefStart=\"d1\" dataRefEnd=\"d4\" dispStart=\"&lt;a&gt;\" "
               "dispEnd=\"&lt;/a&gt;\"><pc id=\"2\" dataRefStart=\"d2\" dataRefEnd=\"d3\" "
               "dispStart=\"&lt;b&gt;\" dispEnd=\"&lt;/b&gt;\">x</pc></pc></source>\n") != NULL);
    free(xml);
    o.doc.version = HUB_XLIFF_12;
    xml = write_doc(&o.doc);
    REQUIRE(xml != NULL);
    CHECK(strstr(xml, "<source><g id=\"1\" ctype=\"x-html\"><g id=\"2\" ctype=\"x-html\">x</g>"
                      "</g></source>\n") != NULL);
    free(xml);
}

static void test_write_bad_nesting(void)
{
    hub_xliff_part close_first[] = {CODE(HUB_XLIFF_CLOSE, 1, "</b>", "html"), TEXT("x")};
    hub_xliff_part crossing[] = {
        CODE(HUB_XLIFF_OPEN, 1, "<b>", "html"), CODE(HUB_XLIFF_OPEN, 2, "<i>", "html"),
        CODE(HUB_XLIFF_CLOSE, 1, "</b>", "html"), CODE(HUB_XLIFF_CLOSE, 2, "</i>", "html")};
    hub_xliff_part unclosed[] = {CODE(HUB_XLIFF_OPEN, 7, "<b>", "html"), TEXT("x")};
    hub_xliff_part twice[] = {
        CODE(HUB_XLIFF_OPEN, 1, "<b>", "html"), CODE(HUB_XLIFF_OPEN, 1, "<b>", "html"),
        CODE(HUB_XLIFF_CLOSE, 1, "</b>", "html"), CODE(HUB_XLIFF_CLOSE, 1, "</b>", "html")};
    hub_xliff_part deep[66];
    for (int i = 0; i < 33; i++) {
        deep[i] = (hub_xliff_part){HUB_XLIFF_OPEN, (unsigned)i + 1, "<b>", 3, "html"};
        deep[65 - i] = (hub_xliff_part){HUB_XLIFF_CLOSE, (unsigned)i + 1, "</b>", 4, "html"};
    }
    for (int v = 0; v < 2; v++) {
        hub_xliff_version ver = v == 0 ? HUB_XLIFF_2 : HUB_XLIFF_12;
        one o;
        one_init(&o, ver, close_first, NELEM(close_first), NULL, 0);
        expect_write_fails(&o.doc, 1 << 20, HUB_EINVAL,
                           "unit \"u1\": source part 1 closes code 1, which is not the innermost");
        one_init(&o, ver, crossing, NELEM(crossing), NULL, 0);
        expect_write_fails(&o.doc, 1 << 20, HUB_EINVAL, "source part 3 closes code 1");
        one_init(&o, ver, unclosed, NELEM(unclosed), NULL, 0);
        expect_write_fails(&o.doc, 1 << 20, HUB_EINVAL, "source never closes code 7");
        one_init(&o, ver, twice, NELEM(twice), NULL, 0);
        expect_write_fails(&o.doc, 1 << 20, HUB_EINVAL, "opens code 1 again");
        one_init(&o, ver, deep, NELEM(deep), NULL, 0);
        expect_write_fails(&o.doc, 1 << 20, HUB_EINVAL, "nests codes more than 32 deep");
        one_init(&o, ver, deep + 1, NELEM(deep) - 2, NULL, 0); /* 32 deep is fine */
        char *xml = write_doc(&o.doc);
        CHECK(xml != NULL);
        free(xml);
        /* a good source does not excuse a bad target */
        one_init(&o, ver, greet_src, NELEM(greet_src), crossing, NELEM(crossing));
        expect_write_fails(&o.doc, 1 << 20, HUB_EINVAL, "target part 3 closes code 1");
    }
}

static void test_write_refusals(void)
{
    hub_xliff_part ctrl[] = {TEXT("a\x01z")};
    hub_xliff_part nul[] = {{HUB_XLIFF_TEXT, 0, "a\0b", 3, NULL}};
    hub_xliff_part badutf[] = {TEXT("a\xc3\x28")};
    hub_xliff_part fffe[] = {TEXT("a\xef\xbf\xbe")};
    hub_xliff_part notext[] = {{HUB_XLIFF_CODE, 1, NULL, 0, "liquid"}};
    hub_xliff_part badtype[] = {CODE(HUB_XLIFF_CODE, 1, "x", "li\x02quid")};
    hub_xliff_part badkind[] = {{(hub_xliff_part_kind)9, 1, "x", 1, NULL}};
    hub_xliff_part fine[] = {TEXT("ok")};
    one o;
    one_init(&o, HUB_XLIFF_2, ctrl, 1, NULL, 0);
    expect_write_fails(&o.doc, 1 << 20, HUB_EINVAL, "source part 1 has the character U+0001");
    one_init(&o, HUB_XLIFF_12, nul, 1, NULL, 0);
    expect_write_fails(&o.doc, 1 << 20, HUB_EINVAL, "U+0000");
    one_init(&o, HUB_XLIFF_2, fine, 1, badutf, 1);
    expect_write_fails(&o.doc, 1 << 20, HUB_EINVAL, "target part 1 is not valid UTF-8");
    one_init(&o, HUB_XLIFF_2, fffe, 1, NULL, 0);
    expect_write_fails(&o.doc, 1 << 20, HUB_EINVAL, "U+FFFE");
    one_init(&o, HUB_XLIFF_2, notext, 1, NULL, 0);
    expect_write_fails(&o.doc, 1 << 20, HUB_EINVAL, "code without its original text");
    one_init(&o, HUB_XLIFF_12, badtype, 1, NULL, 0);
    expect_write_fails(&o.doc, 1 << 20, HUB_EINVAL, "code type has the character U+0002");
    one_init(&o, HUB_XLIFF_12, badkind, 1, NULL, 0);
    expect_write_fails(&o.doc, 1 << 20, HUB_EINVAL, "unknown kind 9");

    one_init(&o, HUB_XLIFF_2, fine, 1, NULL, 0);
    o.unit.id = "has space";
    expect_write_fails(&o.doc, 1 << 20, HUB_EINVAL, "not an XML NMTOKEN");
    o.doc.version = HUB_XLIFF_12; /* 1.2 ids are any string */
    char *xml = write_doc(&o.doc);
    CHECK(xml != NULL && strstr(xml, "id=\"has space\"") != NULL);
    free(xml);
    o.unit.id = "";
    expect_write_fails(&o.doc, 1 << 20, HUB_EINVAL, "file 1: unit id is missing");
    o.unit.id = "u1";
    const char *notes[] = {"bell\x07"};
    o.unit.notes = notes;
    o.unit.nnotes = 1;
    expect_write_fails(&o.doc, 1 << 20, HUB_EINVAL, "a note has the character U+0007");
    o.unit.nnotes = 0;
    o.unit.checksum = "\xff";
    expect_write_fails(&o.doc, 1 << 20, HUB_EINVAL, "checksum is not valid UTF-8");
    o.unit.checksum = NULL;
    o.file.note = "tab\tok\x1b";
    expect_write_fails(&o.doc, 1 << 20, HUB_EINVAL, "file 1: file note has the character U+001B");
    o.file.note = NULL;
    o.file.original = NULL;
    expect_write_fails(&o.doc, 1 << 20, HUB_EINVAL, "file 1: original is missing");
    o.file.original = "item";
    o.doc.trglang = NULL;
    expect_write_fails(&o.doc, 1 << 20, HUB_EINVAL, "target language is missing");
    o.doc.trglang = "de";
    o.doc.version = (hub_xliff_version)21;
    expect_write_fails(&o.doc, 1 << 20, HUB_EINVAL, "version 21");
    o.doc.version = HUB_XLIFF_2;

    hub_xliff_unit two[2] = {o.unit, o.unit};
    o.file.units = two;
    o.file.nunits = 2;
    expect_write_fails(&o.doc, 1 << 20, HUB_EINVAL, "two units have the id \"u1\"");
    two[1].id = "u2";
    xml = write_doc(&o.doc);
    CHECK(xml != NULL);
    free(xml);
}

/* ---- reading other tools' documents ------------------------------------------------------ */

/* translate-toolkit's po2xliff output (its own 1.1 namespace changed to 1.2). */
static const char tt_doc[] =
    HEAD "<xliff xmlns=\"" NS12 "\" version=\"1.2\">\n"
         "  <file original=\"t.po\" source-language=\"en-US\" datatype=\"po\" "
         "target-language=\"de\">\n"
         "    <body>\n"
         "      <trans-unit xml:space=\"preserve\" id=\"2\" approved=\"no\" "
         "restype=\"x-gettext-domain-header\"><source>Content-Type: text/plain\n</source>\n"
         "        <target state=\"translated\">Content-Type: text/plain\n</target>\n"
         "      </trans-unit>\n"
         "      <trans-unit xml:space=\"preserve\" id=\"3\" approved=\"yes\"><source>Hello "
         "&lt;b&gt;{{ name }}&lt;/b&gt; &amp; welcome</source>\n"
         "        <target state=\"translated\">Hallo &lt;b&gt;{{ name }}&lt;/b&gt; &amp; "
         "willkommen</target>\n"
         "        <context-group name=\"po-reference\" purpose=\"location\"><context "
         "context-type=\"sourcefile\">home.c</context></context-group>\n"
         "        <note from=\"developer\">Greeting on the home page</note>\n"
         "      </trans-unit>\n"
         "      <trans-unit xml:space=\"preserve\" id=\"4\" approved=\"no\"><source>Bye</source>\n"
         "        <target state=\"needs-translation\">Tsch\xc3\xbcss</target>\n"
         "      </trans-unit>\n"
         "      <trans-unit xml:space=\"preserve\" id=\"5\"><source>New</source>\n"
         "        <target></target>\n"
         "      </trans-unit>\n"
         "      <trans-unit id=\"6\"><source>Untranslated</source></trans-unit>\n"
         "      <group restype=\"x-gettext-plurals\" id=\"7\" approved=\"yes\">\n"
         "        <trans-unit xml:space=\"preserve\" id=\"7[0]\"><source>One file</source>"
         "<target state=\"translated\">Eine Datei</target></trans-unit>\n"
         "        <trans-unit xml:space=\"preserve\" id=\"7[1]\"><source>%d files</source>"
         "<target state=\"translated\">%d Dateien</target></trans-unit>\n"
         "      </group>\n"
         "    </body>\n"
         "  </file>\n"
         "</xliff>\n";

static void test_read_translate_toolkit(void)
{
    hub_xliff_doc d;
    REQUIRE(parse_ok(tt_doc, &d) == 0);
    CHECK(d.version == HUB_XLIFF_12);
    CHECK_STR(d.srclang, "en-US");
    CHECK_STR(d.trglang, "de");
    REQUIRE(d.nfiles == 1);
    CHECK_STR(d.files[0].original, "t.po");
    CHECK_STR(d.files[0].trglang, "de");
    CHECK(d.files[0].nunits == 7);
    const hub_xliff_unit *u = find_unit(&d, 0, "3");
    REQUIRE(u != NULL);
    CHECK_STR(render(u->source, u->nsource), "[Hello <b>{{ name }}</b> & welcome]");
    CHECK_STR(render(u->target, u->ntarget), "[Hallo <b>{{ name }}</b> & willkommen]");
    CHECK(u->has_target && u->error == NULL && u->checksum == NULL);
    u = find_unit(&d, 0, "4"); /* states are not consulted */
    REQUIRE(u != NULL);
    CHECK(u->has_target);
    CHECK_STR(render(u->target, u->ntarget), "[Tsch\xc3\xbcss]");
    u = find_unit(&d, 0, "5");
    REQUIRE(u != NULL);
    CHECK(!u->has_target && u->target == NULL && u->ntarget == 0);
    u = find_unit(&d, 0, "6");
    REQUIRE(u != NULL);
    CHECK(!u->has_target && u->target == NULL);
    u = find_unit(&d, 0, "7[1]");
    REQUIRE(u != NULL);
    CHECK_STR(render(u->target, u->ntarget), "[%d Dateien]");
    u = find_unit(&d, 0, "2");
    REQUIRE(u != NULL);
    CHECK_STR(render(u->source, u->nsource), "[Content-Type: text/plain\n]");
    hub_xliff_doc_free(&d);
    hub_xliff_doc_free(&d); /* freeing twice is harmless */
}

/* A 1.2 document whose second <file> is refused after the first was read (the fuzzer's find):
 * the refusal leaves no count of files without their array, which read past NULL before. */
static void test_read_fails_after_a_file(void)
{
    expect_parse_fails_str(
        "<xliff xmlns=\"urn:oasis:names:tc:xliff:document:1.2\" version=\"1.2\">"
        "<file original=\"a\" source-language=\"en\" target-language=\"de\" "
        "datatype=\"plaintext\"><body><trans-unit id=\"u1\"><source>Hi</source></trans-unit>"
        "</body></file>"
        "<file original=\"b\" target-language=\"de\" datatype=\"plaintext\"><body>"
        "<trans-unit id=\"u2\"><source>Ho</source></trans-unit></body></file></xliff>",
        HUB_EINVAL, "source-language");
}

static void test_read_v12_inline(void)
{
    static const char xml[] =
        "<xliff xmlns='" NS12 "' xmlns:oh='urn:omnihub:xliff:1' xmlns:ext='urn:x' "
        "version='1.2'><file original='k' source-language='en' target-language='fr' "
        "datatype='html'><header><skl><external-file href='x'/></skl></header><body>"
        "<trans-unit id='a' oh:checksum='sum'><source>A <g id='1' ctype='bold'>b <x id='2'/> "
        "<mrk mtype='term'>c</mrk></g> <bx id='3' rid='9'/>d<ex id='4' rid='9'/>"
        "<ph id='5'>&lt;br/&gt;</ph><bpt id='6'>&lt;i&gt;</bpt>e<ept id='6'>&lt;/i&gt;</ept>"
        "<it id='7' pos='open'>&lt;u&gt;<sub>s</sub></it></source>"
        "<seg-source><mrk mtype='seg' mid='1'>A <g id='1'>b <x id='2'/> c</g> </mrk>"
        "<mrk mtype='seg' mid='2'>d</mrk></seg-source>"
        "<target><mrk mtype='seg' mid='1'>T</mrk></target>"
        "<alt-trans><target>not this</target></alt-trans>"
        "<ext:anything/></trans-unit>"
        "<trans-unit id='b'><source><x id='x1'/></source></trans-unit>"
        "<trans-unit id='c'><source>ok <ex id='8'/></source><target>  \n\t</target></trans-unit>"
        "<trans-unit id='d'><source>bad <ext:b>x</ext:b></source></trans-unit>"
        "<trans-unit id='e'><note>no source</note></trans-unit>"
        "<bin-unit id='z' mime-type='image/png'><bin-source/></bin-unit>"
        "</body></file></xliff>";
    hub_xliff_doc d;
    REQUIRE(parse_ok(xml, &d) == 0);
    REQUIRE(d.nfiles == 1 && d.files[0].nunits == 5);
    const hub_xliff_unit *u = find_unit(&d, 0, "a");
    REQUIRE(u != NULL);
    CHECK(u->error == NULL);
    CHECK_STR(u->checksum, "sum");
    /* seg-source wins over source */
    CHECK_STR(render(u->source, u->nsource), "[A ]{o1}[b ]{x2}[ c]{c1}[ d]");
    CHECK_STR(render(u->target, u->ntarget), "[T]");
    u = find_unit(&d, 0, "b");
    REQUIRE(u != NULL && u->error != NULL);
    CHECK(strstr(u->error, "id=\"x1\"") != NULL && strstr(u->error, "numeric") != NULL);
    u = find_unit(&d, 0, "c");
    REQUIRE(u != NULL && u->error == NULL);
    CHECK_STR(render(u->source, u->nsource), "[ok ]{c8}");
    CHECK(!u->has_target && u->target == NULL); /* whitespace is not a translation */
    u = find_unit(&d, 0, "d");
    REQUIRE(u != NULL);
    CHECK_STR(u->error, "unsupported element <ext:b> in source");
    u = find_unit(&d, 0, "e");
    REQUIRE(u != NULL);
    CHECK_STR(u->error, "<trans-unit> without <source>");
    hub_xliff_doc_free(&d);

    /* without seg-source: ph, bpt, ept and it give their native code as text */
    static const char native[] =
        "<xliff xmlns='" NS12 "' version='1.2'><file original='k' source-language='en' "
        "target-language='fr' datatype='html'><body><trans-unit id='a'><source>A<bx id='3' "
        "rid='9'/>d<ex id='4' rid='9'/><bx id='5'/><ph id='5'>&lt;br/&gt;</ph><bpt id='6'>"
        "&lt;i&gt;</bpt>e<ept id='6'>&lt;/i&gt;</ept><it id='7' pos='open'>&lt;u&gt;<sub>s"
        "</sub></it><![CDATA[<raw>]]></source></trans-unit></body></file></xliff>";
    REQUIRE(parse_ok(native, &d) == 0);
    u = find_unit(&d, 0, "a");
    REQUIRE(u != NULL && u->error == NULL);
    CHECK_STR(render(u->source, u->nsource), "[A]{o9}[d]{c9}{o5}[<br/><i>e</i><u>s<raw>]");
    hub_xliff_doc_free(&d);
}

static const char v2_doc[] =
    HEAD "<xliff xmlns=\"" NS2 "\" xmlns:mda=\"urn:oasis:names:tc:xliff:metadata:2.0\" "
         "xmlns:fs=\"urn:oasis:names:tc:xliff:fs:2.0\" xmlns:my=\"urn:example:ext\" "
         "xmlns:oh=\"urn:omnihub:xliff:1\" version=\"2.1\" srcLang=\"en-US\" trgLang=\"fr-FR\">\n"
         " <file id=\"f1\" original=\"home\">\n"
         "  <skeleton href=\"home.skl\"/>\n"
         "  <mda:metadata><mda:metaGroup><mda:meta type=\"k\">v</mda:meta></mda:metaGroup>"
         "</mda:metadata>\n"
         "  <my:ext><unit id=\"hidden\"/></my:ext>\n"
         "  <notes><note>file note</note></notes>\n"
         "  <group id=\"g1\">\n"
         "   <unit id=\"u1\" name=\"title\" oh:checksum=\"abc\">\n"
         "    <mda:metadata><mda:metaGroup><mda:meta type=\"x\">y</mda:meta></mda:metaGroup>"
         "</mda:metadata>\n"
         "    <notes><note category=\"context\">n</note></notes>\n"
         "    <originalData><data id=\"d1\">&lt;b></data><data id=\"d2\">&lt;/b></data>"
         "</originalData>\n"
         "    <segment id=\"s1\" state=\"translated\"><source>Hello <pc id=\"1\" "
         "dataRefStart=\"d1\" dataRefEnd=\"d2\">world</pc>.</source><target>Bonjour <pc "
         "id=\"1\" dataRefStart=\"d1\" dataRefEnd=\"d2\">le monde</pc>.</target></segment>\n"
         "    <ignorable><source> </source></ignorable>\n"
         "    <segment id=\"s2\" state=\"final\"><source>Second <sc id=\"2\"/>bold<ec "
         "startRef=\"2\"/> <mrk id=\"m1\" translate=\"no\">Brand</mrk><sm id=\"m2\" "
         "type=\"comment\" value=\"c\"/>x<em startRef=\"m2\"/>.</source><target>Deuxi\xc3\xa8me "
         "<sc id=\"2\"/>gras<ec startRef=\"2\"/> <mrk id=\"m1\" translate=\"no\">Brand</mrk>x."
         "</target></segment>\n"
         "    <ignorable><source>\n</source><target> \n</target></ignorable>\n"
         "   </unit>\n"
         "   <group id=\"g2\"><group id=\"g3\"><unit id=\"u2\"><segment><source>A<cp "
         "hex=\"E9\"/>&#x1F600;<![CDATA[<raw> & ]]>z<sc id=\"5\" isolated=\"yes\"/>"
         "<ec id=\"6\" isolated=\"yes\"/></source></segment></unit></group></group>\n"
         "  </group>\n"
         "  <unit id=\"u3\"><segment><source>Only source</source></segment></unit>\n"
         "  <unit id=\"u4\"><segment><source>a</source><target>b</target></segment><segment>"
         "<source>c</source></segment></unit>\n"
         "  <unit id=\"u5\"><segment><source>a</source><target>b</target></segment><segment>"
         "<source>c</source><target>  </target></segment></unit>\n"
         "  <unit id=\"u6\"><segment><source>s</source><target>t <xi:include "
         "xmlns:xi=\"http://www.w3.org/2001/XInclude\" href=\"/etc/passwd\" parse=\"text\"/>"
         "</target></segment></unit>\n"
         "  <unit id=\"u7\"><segment><source><ph id=\"a1\"/></source></segment></unit>\n"
         "  <unit id=\"u8\"><segment><source><cp hex=\"1\"/></source></segment></unit>\n"
         "  <unit id=\"u9\"><notes><note>no segment</note></notes></unit>\n"
         "  <unit id=\"u10\"><segment><source>x<unit/></source></segment></unit>\n"
         "  <unit id=\"u11\"><segment><source>x<ec/></source></segment></unit>\n"
         "  <unit id=\"u12\"><segment><source>a</source><source>b</source></segment></unit>\n"
         " </file>\n"
         " <file id=\"f2\" original=\"other\"><unit id=\"u1\"><segment><source>same id, other "
         "file</source><target>ok</target></segment></unit></file>\n"
         "</xliff>\n";

static void test_read_v2_other_tools(void)
{
    hub_xliff_doc d;
    REQUIRE(parse_ok(v2_doc, &d) == 0);
    CHECK(d.version == HUB_XLIFF_2);
    CHECK_STR(d.srclang, "en-US");
    CHECK_STR(d.trglang, "fr-FR");
    REQUIRE(d.nfiles == 2);
    CHECK_STR(d.files[0].srclang, "en-US");
    CHECK_STR(d.files[1].trglang, "fr-FR");
    CHECK(d.files[0].nunits == 12);
    CHECK(find_unit(&d, 0, "hidden") == NULL); /* inside an extension: skipped */
    const hub_xliff_unit *u = find_unit(&d, 0, "u1");
    REQUIRE(u != NULL);
    CHECK(u->error == NULL);
    CHECK_STR(u->checksum, "abc");
    CHECK(u->notes == NULL && u->nnotes == 0);
    CHECK_STR(render(u->source, u->nsource),
              "[Hello ]{o1}[world]{c1}[. Second ]{o2}[bold]{c2}[ Brandx.\n]");
    CHECK(u->has_target);
    CHECK_STR(render(u->target, u->ntarget),
              "[Bonjour ]{o1}[le monde]{c1}[. Deuxi\xc3\xa8me ]{o2}[gras]{c2}[ Brandx. \n]");
    u = find_unit(&d, 0, "u2");
    REQUIRE(u != NULL && u->error == NULL);
    CHECK_STR(render(u->source, u->nsource), "[A\xc3\xa9\xf0\x9f\x98\x80<raw> & z]{o5}{c6}");
    CHECK(!u->has_target && u->target == NULL);
    u = find_unit(&d, 0, "u3");
    REQUIRE(u != NULL && u->error == NULL && !u->has_target);
    u = find_unit(&d, 0, "u4");
    REQUIRE(u != NULL);
    CHECK_STR(u->error, "1 of the unit's 2 segments have no target");
    u = find_unit(&d, 0, "u5"); /* a whitespace-only target counts as none */
    REQUIRE(u != NULL);
    CHECK_STR(u->error, "1 of the unit's 2 segments have no target");
    u = find_unit(&d, 0, "u6");
    REQUIRE(u != NULL);
    CHECK_STR(u->error, "unsupported element <xi:include> in target");
    u = find_unit(&d, 0, "u7");
    REQUIRE(u != NULL);
    CHECK_STR(u->error, "<ph id=\"a1\"> in source: omnihub reads only numeric code ids");
    u = find_unit(&d, 0, "u8");
    REQUIRE(u != NULL);
    CHECK_STR(u->error, "<cp hex=\"1\"> in source is not a character omnihub keeps");
    u = find_unit(&d, 0, "u9");
    REQUIRE(u != NULL);
    CHECK_STR(u->error, "unit without <segment>");
    u = find_unit(&d, 0, "u10");
    REQUIRE(u != NULL);
    CHECK_STR(u->error, "unsupported element <unit> in source");
    u = find_unit(&d, 0, "u11");
    REQUIRE(u != NULL);
    CHECK_STR(u->error, "<ec> without id in source");
    u = find_unit(&d, 0, "u12");
    REQUIRE(u != NULL);
    CHECK_STR(u->error, "<segment> has more than one <source>");
    u = find_unit(&d, 1, "u1");
    REQUIRE(u != NULL && u->error == NULL && u->has_target);
    CHECK_STR(render(u->target, u->ntarget), "[ok]");
    hub_xliff_doc_free(&d);
}

/* ---- refusals ---------------------------------------------------------------------------- */

#define V2_OPEN  "<xliff xmlns='" NS2 "' version='2.0' srcLang='en' trgLang='de'>"
#define V2_UNIT  "<file original='f'><unit id='u'><segment><source>"
#define V2_CLOSE "</source></segment></unit></file></xliff>"

static void test_refuse_structure(void)
{
    expect_parse_fails_str("<html><body/></html>", HUB_EINVAL,
                           "not XLIFF: the root element <html> has no namespace");
    expect_parse_fails_str("<xliff version='1.2'/>", HUB_EINVAL,
                           "the root element <xliff> has no namespace");
    expect_parse_fails_str(
        "<x:xliff xmlns:x='urn:oasis:names:tc:xliff:document:1.1' version='1.1'/>", HUB_EINVAL,
        "root element is <x:xliff> in namespace urn:oasis:names:tc:xliff:document:1.1");
    expect_parse_fails_str("<xliff xmlns='" NS2 "' version='3.0' srcLang='en' trgLang='de'/>",
                           HUB_EINVAL, "XLIFF 2.0 namespace with version \"3.0\"");
    expect_parse_fails_str("<xliff xmlns='" NS12 "' version='2.0'/>", HUB_EINVAL,
                           "XLIFF 1.2 namespace with version \"2.0\" (expected 1.2)");
    expect_parse_fails_str("<xliff xmlns='" NS12 "'/>", HUB_EINVAL, "with version \"\"");
    expect_parse_fails_str("<xliff xmlns='" NS2 "' version='2.0' srcLang='en'/>", HUB_EINVAL,
                           "<xliff> has no trgLang");
    expect_parse_fails_str("<xliff xmlns='" NS2 "' version='2.0' trgLang='en'/>", HUB_EINVAL,
                           "<xliff> has no srcLang");
    expect_parse_fails_str("<xliff xmlns='" NS12 "' version='1.2'><file original='k' "
                           "source-language='en' datatype='x'/></xliff>",
                           HUB_EINVAL, "file \"k\" has no target-language");
    expect_parse_fails_str(V2_OPEN "<file id='f1'/></xliff>", HUB_EINVAL,
                           "file 1 (line 1) has no original");
    expect_parse_fails_str(V2_OPEN "<file original='k'>\n<unit><segment><source>x</source>"
                                   "</segment></unit></file></xliff>",
                           HUB_EINVAL, "file \"k\": the <unit> at line 2 has no id");
    expect_parse_fails_str(V2_OPEN "<file original='k'><unit id=''/></file></xliff>", HUB_EINVAL,
                           "has no id");
    expect_parse_fails_str("<xliff xmlns='" NS12 "' version='1.2'><file original='k' "
                           "source-language='en' target-language='de' datatype='x'><body>"
                           "<trans-unit id='a'><source>1</source></trans-unit><group>"
                           "<trans-unit id='a'><source>2</source></trans-unit></group></body>"
                           "</file></xliff>",
                           HUB_EINVAL, "file \"k\": two units have the id \"a\"");
    /* the 2.0 namespace on the root is not enough: children must be in it too */
    hub_xliff_doc d;
    REQUIRE(parse_ok(V2_OPEN "<file xmlns='urn:other' original='k'/></xliff>", &d) == 0);
    CHECK(d.nfiles == 0);
    hub_xliff_doc_free(&d);
}

static void test_refuse_malformed(void)
{
    expect_parse_fails_str(V2_OPEN "<file original='k'>", HUB_EBADREQ, "line 1: ");
    expect_parse_fails_str(V2_OPEN "\n\n</file></xliff>", HUB_EBADREQ,
                           "line 3: Opening and ending tag mismatch");
    expect_parse_fails(V2_OPEN, 0, HUB_EBADREQ, "empty");
    expect_parse_fails_str(V2_OPEN V2_UNIT "caf\xc3\x28" V2_CLOSE, HUB_EBADREQ,
                           "line 1: not valid UTF-8 (byte 0xC3)");
    expect_parse_fails_str(V2_OPEN "\n\n" V2_UNIT "\xff\xfe" V2_CLOSE, HUB_EBADREQ,
                           "line 3: not valid UTF-8 (byte 0xFF)");
    /* an overlong form in CDATA, which libxml2's push parser lets through */
    expect_parse_fails_str(V2_OPEN V2_UNIT "<![CDATA[a\xe0\x9c\x8bz]]>" V2_CLOSE, HUB_EBADREQ,
                           "not valid UTF-8 (byte 0xE0)");
    expect_parse_fails_str(V2_OPEN V2_UNIT "<![CDATA[\xed\xa0\x80]]>" V2_CLOSE, HUB_EBADREQ,
                           "not valid UTF-8"); /* a surrogate */
    expect_parse_fails_str(V2_OPEN V2_UNIT "caf\xc3" V2_CLOSE, HUB_EBADREQ, "not valid UTF-8");
    /* an encoding declaration does not switch decoders: Latin-1 bytes are not UTF-8 */
    expect_parse_fails_str("<?xml version='1.0' encoding='ISO-8859-1'?>" V2_OPEN V2_UNIT
                           "caf\xe9" V2_CLOSE,
                           HUB_EBADREQ, "not valid UTF-8");
    static const char nul[] = V2_OPEN V2_UNIT "a\0b" V2_CLOSE;
    expect_parse_fails(nul, sizeof(nul) - 1, HUB_EBADREQ, "line 1: ");
    expect_parse_fails_str(V2_OPEN V2_UNIT "&#1;" V2_CLOSE, HUB_EBADREQ, "invalid xmlChar");
    expect_parse_fails_str(V2_OPEN V2_UNIT "&undeclared;" V2_CLOSE, HUB_EBADREQ,
                           "Entity 'undeclared' not defined");
    expect_parse_fails_str(V2_OPEN V2_UNIT "<xi:include href='/etc/passwd'/>" V2_CLOSE, HUB_EBADREQ,
                           "Namespace prefix xi on include is not defined");
    expect_parse_fails_str(V2_OPEN "<file original='k' original='j'/></xliff>", HUB_EBADREQ,
                           "Attribute original redefined");
}

static void test_refuse_encodings(void)
{
    /* UTF-16 (with and without BOM) and UTF-32 are refused with a clear message */
    const char *ascii = "<xliff xmlns='" NS12 "' version='1.2'/>";
    size_t n = strlen(ascii);
    char *u16 = malloc(2 * n + 2);
    REQUIRE(u16 != NULL);
    for (int bom = 0; bom < 2; bom++) {
        size_t k = 0;
        if (bom) {
            u16[k++] = (char)0xFF;
            u16[k++] = (char)0xFE;
        }
        for (size_t i = 0; i < n; i++) {
            u16[k++] = ascii[i];
            u16[k++] = 0;
        }
        expect_parse_fails(u16, k, HUB_EBADREQ, "must be UTF-8; this looks like UTF-16");
        for (size_t i = 0; i + 1 < k; i += 2) { /* big endian */
            char t = u16[i];
            u16[i] = u16[i + 1];
            u16[i + 1] = t;
        }
        expect_parse_fails(u16, k, HUB_EBADREQ, "looks like UTF-16");
    }
    free(u16);
    expect_parse_fails("\0\0\xfe\xff\0\0\0<", 8, HUB_EBADREQ, "UTF-32");
    /* EBCDIC and UTF-7 are not decoded either */
    expect_parse_fails("\x4c\x6f\xa7\x94\x93\x40", 6, HUB_EBADREQ, "line 1:");
    expect_parse_fails_str("<?xml version='1.0' encoding='UTF-7'?>+ADw-xliff/+AD4-", HUB_EBADREQ,
                           "line 1:");
    /* a UTF-8 BOM is fine */
    hub_xliff_doc d;
    REQUIRE(parse_ok("\xef\xbb\xbf<xliff xmlns='" NS12 "' version='1.2'/>", &d) == 0);
    CHECK(d.version == HUB_XLIFF_12 && d.nfiles == 0);
    hub_xliff_doc_free(&d);
}

static char *lol_doc(void)
{
    hub_buf b;
    hub_buf_init(&b, 1 << 20);
    hub_buf_append_str(&b, "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol0 \"lol\">\n");
    for (int i = 1; i < 10; i++) {
        hub_buf_printf(&b, "<!ENTITY lol%d \"", i);
        for (int k = 0; k < 10; k++)
            hub_buf_printf(&b, "&lol%d;", i - 1);
        hub_buf_append_str(&b, "\">\n");
    }
    hub_buf_append_str(&b, "]>\n" V2_OPEN V2_UNIT "&lol9;" V2_CLOSE);
    return b.data;
}

static void test_refuse_entities(void)
{
    char *lol = lol_doc();
    REQUIRE(lol != NULL);
    expect_parse_fails_str(lol, HUB_EINVAL,
                           "line 2: refused <!DOCTYPE lolz>: XLIFF has no DTD, and a DTD can "
                           "declare entities");
    free(lol);
    expect_parse_fails_str(
        "<!DOCTYPE x [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>" V2_OPEN V2_UNIT
        "&xxe;" V2_CLOSE,
        HUB_EINVAL, "refused <!DOCTYPE x>");
    expect_parse_fails_str(
        "<!DOCTYPE x [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]>" V2_OPEN V2_UNIT
        "x" V2_CLOSE,
        HUB_EINVAL, "refused <!DOCTYPE x>");
    expect_parse_fails_str("<!DOCTYPE xliff PUBLIC \"-//XLIFF//DTD XLIFF//EN\" "
                           "\"http://www.oasis-open.org/committees/xliff/documents/xliff.dtd\">"
                           "<xliff xmlns='" NS12 "' version='1.2'/>",
                           HUB_EINVAL, "refused <!DOCTYPE xliff>");
    expect_parse_fails_str("<!DOCTYPE xliff><xliff xmlns='" NS12 "' version='1.2'/>", HUB_EINVAL,
                           "refused <!DOCTYPE xliff>");
    /* entities in attribute values are refused the same way */
    expect_parse_fails_str("<!DOCTYPE x [<!ENTITY e \"v\">]><xliff xmlns='" NS12
                           "' version='1.2' a='&e;'/>",
                           HUB_EINVAL, "DOCTYPE");
}

/* An external DTD or entity on a local file and on a local socket: neither is touched. */
static void test_refuse_external_untouched(void)
{
    const char *dir = test_tmpdir("xliff");
    char dtd[600], xml[2000];
    snprintf(dtd, sizeof(dtd), "%s/evil.dtd", dir);
    FILE *f = fopen(dtd, "w");
    REQUIRE(f != NULL);
    fputs("<!ENTITY secret \"LEAKED\">\n", f);
    fclose(f);
    int in = inotify_init1(IN_NONBLOCK);
    REQUIRE(in >= 0);
    REQUIRE(inotify_add_watch(in, dtd, IN_OPEN | IN_ACCESS) >= 0);

    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    REQUIRE(ls >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(addr);
    REQUIRE(bind(ls, (struct sockaddr *)&addr, sizeof(addr)) == 0);
    REQUIRE(listen(ls, 4) == 0);
    REQUIRE(getsockname(ls, (struct sockaddr *)&addr, &alen) == 0);
    int port = ntohs(addr.sin_port);

    static const char *const shapes[][2] = {
        {"<!DOCTYPE xliff SYSTEM \"", "\">"},
        {"<!DOCTYPE xliff [<!ENTITY secret SYSTEM \"", "\">]>"},
        {"<!DOCTYPE xliff [<!ENTITY % p SYSTEM \"", "\"> %p;]>"},
    };
    for (size_t i = 0; i < NELEM(shapes); i++) {
        for (int net = 0; net < 2; net++) {
            char url[700];
            if (net)
                snprintf(url, sizeof(url), "http://127.0.0.1:%d/evil.dtd", port);
            else
                snprintf(url, sizeof(url), "file://%s", dtd);
            snprintf(xml, sizeof(xml), "%s%s%s" V2_OPEN V2_UNIT "&secret;" V2_CLOSE, shapes[i][0],
                     url, shapes[i][1]);
            expect_parse_fails_str(xml, HUB_EINVAL, "refused <!DOCTYPE xliff>");
        }
    }
    char ev[512];
    errno = 0;
    CHECK(read(in, ev, sizeof(ev)) < 0 && errno == EAGAIN); /* nobody opened the file */
    errno = 0;
    CHECK(accept(ls, NULL, NULL) < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
    close(in);
    close(ls);
}

static void test_refuse_depth(void)
{
    /* xliff, file, unit, segment, source are 5 levels: 59 pc fit in 64, 60 do not */
    hub_buf b;
    hub_buf_init(&b, 1 << 20);
    for (int depth = 59; depth <= 60; depth++) {
        hub_buf_reset(&b);
        hub_buf_append_str(&b, V2_OPEN V2_UNIT);
        for (int i = 0; i < depth; i++)
            hub_buf_printf(&b, "<pc id='%d'>", i + 1);
        hub_buf_append_str(&b, "x");
        for (int i = 0; i < depth; i++)
            hub_buf_append_str(&b, "</pc>");
        hub_buf_append_str(&b, V2_CLOSE);
        if (depth == 60) {
            expect_parse_fails(b.data, b.len, HUB_EINVAL, "line 1: elements nest deeper than 64");
            continue;
        }
        hub_xliff_doc d;
        REQUIRE(parse_ok(b.data, &d) == 0);
        REQUIRE(d.nfiles == 1 && d.files[0].nunits == 1);
        CHECK(d.files[0].units[0].nsource == 2 * 59 + 1);
        hub_xliff_doc_free(&d);
    }
    /* 100,000 levels (and a million, just under the input cap) stop at level 65 */
    hub_buf_reset(&b);
    b.cap = HUB_XLIFF_MAX_INPUT;
    hub_buf_append_str(&b, V2_OPEN);
    while (b.len + 3 <= 100000 * 3)
        hub_buf_append_str(&b, "<a>");
    expect_parse_fails(b.data, b.len, HUB_EINVAL, "nest deeper than 64");
    while (b.len + 9 <= HUB_XLIFF_MAX_INPUT)
        hub_buf_append_str(&b, "<a>\n<b/>\n");
    expect_parse_fails(b.data, b.len, HUB_EINVAL, "nest deeper than 64");
    hub_buf_free(&b);
}

static void test_refuse_sizes(void)
{
    size_t big = HUB_XLIFF_MAX_INPUT + 1;
    char *s = malloc(big);
    REQUIRE(s != NULL);
    memset(s, ' ', big);
    expect_parse_fails(s, big, HUB_ETOOBIG, "over the limit of 16777216");

    /* an 8 MB attribute value parses, quickly; 11 MB is over libxml2's own limit */
    for (int mb = 8; mb <= 11; mb += 3) {
        size_t n = (size_t)mb << 20;
        int k = snprintf(s, big, V2_OPEN "<file original='k'><unit id='u' x='");
        memset(s + k, 'v', n);
        snprintf(s + k + n, big - k - n,
                 "'><segment><source>x</source></segment></unit>"
                 "</file></xliff>");
        if (mb == 11) {
            expect_parse_fails_str(s, HUB_EBADREQ,
                                   "line 1: a tag, comment or CDATA section is "
                                   "over libxml2's limit of 10000000 bytes");
            continue;
        }
        hub_xliff_doc d;
        int64_t t0 = hub_mono_ms();
        REQUIRE(parse_ok(s, &d) == 0);
        CHECK(hub_mono_ms() - t0 < 5000);
        CHECK(d.files[0].nunits == 1);
        hub_xliff_doc_free(&d);
    }
    /* 7 MB unit ids work, and error messages that quote them stay one short line */
    size_t n = (size_t)7 << 20;
    int k = snprintf(s, big, V2_OPEN "<file original='k'><unit id='");
    memset(s + k, 'i', n);
    int k2 = snprintf(s + k + n, big - k - n, "'/><unit id='");
    memset(s + k + n + k2, 'i', n);
    snprintf(s + k + 2 * n + k2, big - k - 2 * n - k2, "'/></file></xliff>");
    expect_parse_fails_str(s, HUB_EINVAL, "two units have the id \"iiii");

    /* many attributes on one tag: refused before libxml2's quadratic duplicate check */
    hub_buf b;
    hub_buf_init(&b, HUB_XLIFF_MAX_INPUT);
    for (int count = 256; count <= 257; count++) {
        hub_buf_reset(&b);
        hub_buf_append_str(&b, "<xliff xmlns='" NS12 "' version='1.2'");
        for (int i = 2; i < count; i++)
            hub_buf_printf(&b, " a%d = \"=>'\"", i);
        hub_buf_append_str(&b, "/>");
        if (count == 256) {
            hub_xliff_doc d;
            CHECK(parse_ok(b.data, &d) == 0);
            hub_xliff_doc_free(&d);
        } else {
            expect_parse_fails(b.data, b.len, HUB_EINVAL, "more than 256 attributes");
        }
    }
    hub_buf_reset(&b);
    hub_buf_append_str(&b, "<xliff xmlns='" NS12 "' version='1.2'><!-- <a ");
    for (int i = 0; i < 300; i++) /* in comments, CDATA and PIs they do not count */
        hub_buf_printf(&b, "a%d='' ", i);
    hub_buf_append_str(&b, "--><?pi a='' b='' ?></xliff>");
    hub_xliff_doc d;
    CHECK(parse_ok(b.data, &d) == 0);
    hub_xliff_doc_free(&d);
    /* 9 MB of them in one tag (1.2 million attributes: hours of libxml2's time) */
    hub_buf_reset(&b);
    hub_buf_append_str(&b, "<x");
    for (int i = 0; b.len < 9000000; i++)
        hub_buf_printf(&b, " a%d=''", i);
    hub_buf_append_str(&b, "/>");
    expect_parse_fails(b.data, b.len, HUB_EINVAL, "more than 256 attributes");
    hub_buf_free(&b);
    free(s);
}

/* Namespace declarations in scope are capped: libxml2 looks prefixes up through all of them. */
static void test_refuse_namespaces(void)
{
    hub_buf b;
    hub_buf_init(&b, HUB_XLIFF_MAX_INPUT);
    hub_buf_append_str(&b, "<xliff xmlns='" NS12 "' xmlns:z='urn:z' version='1.2'>");
    for (int level = 0; level < 62; level++) {
        hub_buf_append_str(&b, "<e");
        for (int k = 0; k < 250; k++)
            hub_buf_printf(&b, " xmlns:p%d_%d='urn:p'", level, k);
        hub_buf_append_str(&b, ">");
    }
    while (b.len < 8000000)
        hub_buf_append_str(&b, "<z:a/>");
    expect_parse_fails(b.data, b.len, HUB_EINVAL,
                       "line 1: more than 128 namespace declarations in scope");
    /* 128 in scope are fine, across levels and once the deeper ones close */
    hub_buf_reset(&b);
    hub_buf_append_str(&b, "<xliff xmlns='" NS12 "' version='1.2'");
    for (int k = 0; k < 63; k++)
        hub_buf_printf(&b, " xmlns:a%d='urn:a'", k);
    hub_buf_append_str(&b, ">");
    for (int i = 0; i < 3; i++) {
        hub_buf_append_str(&b, "<e");
        for (int k = 0; k < 64; k++)
            hub_buf_printf(&b, " xmlns:b%d='urn:b'", k);
        hub_buf_append_str(&b, "/>");
    }
    hub_buf_append_str(&b, "</xliff>");
    hub_xliff_doc d;
    CHECK(parse_ok(b.data, &d) == 0);
    hub_xliff_doc_free(&d);
    hub_buf_free(&b);
}

/*
 * Documents bigger than libxml2's 10,000,000-byte lookahead limit, fed in chunks: 15 MB of
 * 1 KB texts (which libxml2's memory parser refuses), long attributes, and multi-byte
 * characters wherever a chunk boundary may fall.
 */
static void test_large_documents(void)
{
    static const char mix[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 <\n";
    size_t n = 12500;
    hub_xliff_unit *units = calloc(n, sizeof(*units));
    hub_xliff_part *parts = calloc(n, sizeof(*parts));
    char *text = malloc(1100 * n), *ids = malloc(16 * n);
    REQUIRE(units != NULL && parts != NULL && text != NULL && ids != NULL);
    for (size_t i = 0; i < n; i++) {
        size_t len = 0, want = 900 + i % 97; /* lengths vary so boundaries fall everywhere */
        char *t = text + 1100 * i;
        while (len + sizeof(mix) - 1 <= want) {
            memcpy(t + len, mix, sizeof(mix) - 1);
            len += sizeof(mix) - 1;
        }
        static const char *const tails[] = {"", "a", "\xc3\xa9", "\xe2\x82\xac"};
        memcpy(t + len, tails[i % 4], strlen(tails[i % 4]));
        len += strlen(tails[i % 4]);
        snprintf(ids + 16 * i, 16, "u%zu", i);
        parts[i] = (hub_xliff_part){HUB_XLIFF_TEXT, 0, t, len, NULL};
        units[i] = (hub_xliff_unit){.id = ids + 16 * i, .source = &parts[i], .nsource = 1};
    }
    hub_xliff_file f = {.original = "big", .units = units, .nunits = n};
    hub_xliff_doc doc = {HUB_XLIFF_2, "en", "de", &f, 1, NULL};
    hub_buf out;
    hub_buf_init(&out, HUB_XLIFF_MAX_INPUT);
    REQUIRE(hub_xliff_write(&doc, &out, NULL) == 0);
    CHECK(out.len > 12000000);
    hub_xliff_doc d;
    hub_error err;
    hub_error_init(&err);
    int rc = hub_xliff_parse(out.data, out.len, &d, &err);
    if (rc != 0)
        fprintf(stderr, "large: %s\n", err.message);
    REQUIRE(rc == 0);
    REQUIRE(d.nfiles == 1 && d.files[0].nunits == n);
    size_t same = 0;
    for (size_t i = 0; i < n; i++) {
        const hub_xliff_unit *u = &d.files[0].units[i];
        same += u->nsource == 1 && u->source[0].len == parts[i].len &&
                memcmp(u->source[0].text, parts[i].text, parts[i].len) == 0;
    }
    CHECK(same == n);
    hub_xliff_doc_free(&d);

    /* 150 attributes of 100 KB, and multi-byte characters across chunks in them */
    hub_buf_reset(&out);
    hub_buf_append_str(&out, V2_OPEN "<file original='k'>");
    char *val = malloc(100001);
    REQUIRE(val != NULL);
    for (size_t i = 0; i < 100000; i++)
        val[i] = "\xc3\xa9"[i % 2];
    val[100000] = '\0';
    for (int i = 0; i < 150; i++)
        hub_buf_printf(&out, "<unit id='u%d' x='%s'><segment><source>%s</source></segment></unit>",
                       i, val, i % 2 ? "\xe2\x82\xac" : "x");
    hub_buf_append_str(&out, "<!-- \xf0\x9f\x98\x80 --></file></xliff>");
    CHECK(parse_ok(out.data, &d) == 0);
    CHECK(d.nfiles == 1 && d.files[0].nunits == 150);
    hub_xliff_doc_free(&d);

    /* one text over libxml2's limit of 10,000,000 bytes */
    hub_buf_reset(&out);
    hub_buf_append_str(&out, V2_OPEN V2_UNIT);
    while (out.len < 10200000)
        hub_buf_append_str(&out, "texttexttexttexttexttexttexttexttexttext");
    hub_buf_append_str(&out, V2_CLOSE);
    expect_parse_fails(out.data, out.len, HUB_EBADREQ,
                       "line 1: a text is over libxml2's limit of 10000000 bytes");
    free(val);
    hub_buf_free(&out);
    free(units);
    free(parts);
    free(text);
    free(ids);
}

/* ---- threads ----------------------------------------------------------------------------- */

static void *worker(void *arg)
{
    long bad = 0;
    for (int i = 0; i < 100; i++) {
        hub_xliff_doc d;
        if (hub_xliff_parse(v2_doc, sizeof(v2_doc) - 1, &d, NULL) != 0 || d.nfiles != 2)
            bad++;
        hub_xliff_doc_free(&d);
        char *lol = lol_doc();
        if (hub_xliff_parse(lol, strlen(lol), &d, NULL) != HUB_EINVAL)
            bad++;
        free(lol);
        hub_xliff_doc w;
        hub_xliff_file f;
        hub_xliff_unit u[2];
        greet_doc(&w, &f, u, i % 2 ? HUB_XLIFF_2 : HUB_XLIFF_12);
        hub_buf out;
        hub_buf_init(&out, 1 << 20);
        if (hub_xliff_write(&w, &out, NULL) != 0 || hub_xliff_parse(out.data, out.len, &d, NULL))
            bad++;
        hub_xliff_doc_free(&d);
        hub_buf_free(&out);
    }
    return (void *)bad;
}

static void test_threads(void)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        REQUIRE(pthread_create(&t[i], NULL, worker, NULL) == 0);
    for (int i = 0; i < 4; i++) {
        void *bad;
        pthread_join(t[i], &bad);
        CHECK(bad == NULL);
    }
}

static void test_free_null(void)
{
    hub_xliff_doc_free(NULL);
    hub_xliff_doc d = {0};
    hub_xliff_doc_free(&d);
    CHECK(d.priv_ == NULL);
}

int main(void)
{
    hub_xml_global_init();
    RUN(test_write_exact_v2);
    RUN(test_write_exact_v12);
    RUN(test_write_appends);
    RUN(test_roundtrip_text);
    RUN(test_roundtrip_nested);
    RUN(test_write_bad_nesting);
    RUN(test_write_refusals);
    RUN(test_read_translate_toolkit);
    RUN(test_read_fails_after_a_file);
    RUN(test_read_v12_inline);
    RUN(test_read_v2_other_tools);
    RUN(test_refuse_structure);
    RUN(test_refuse_malformed);
    RUN(test_refuse_encodings);
    RUN(test_refuse_entities);
    RUN(test_refuse_external_untouched);
    RUN(test_refuse_depth);
    RUN(test_refuse_sizes);
    RUN(test_refuse_namespaces);
    RUN(test_large_documents);
    RUN(test_threads);
    RUN(test_free_null);
    return TEST_SUMMARY();
}
