/*
 * Inline codes: how field texts split into text and codes (each row: the text, html or not,
 * and the parts written as a compact string), and how translations are rebuilt and checked
 * against the source's codes.
 *
 * Part notation: text as is; a standalone code "[N:text]", a pair "<N:start>...</N:end>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "translation/internal.h"

static void render_parts(const tr_parts *p, hub_buf *b)
{
    hub_buf_reset(b);
    for (size_t i = 0; i < p->n; i++) {
        const hub_xliff_part *x = &p->v[i];
        if (x->kind == HUB_XLIFF_TEXT)
            hub_buf_append(b, x->text, x->len);
        else if (x->kind == HUB_XLIFF_CODE)
            hub_buf_printf(b, "[%u:%.*s]", x->id, (int)x->len, x->text);
        else if (x->kind == HUB_XLIFF_OPEN)
            hub_buf_printf(b, "<%u:%.*s>", x->id, (int)x->len, x->text);
        else
            hub_buf_printf(b, "</%u:%.*s>", x->id, (int)x->len, x->text);
    }
}

typedef struct split_row {
    const char *text;
    int html;
    const char *want;
} split_row;

static const split_row split_rows[] = {
    {"Hello", 0, "Hello"},
    {"", 0, ""},
    {"Hi {{ first_name }}!", 0, "Hi [1:{{ first_name }}]!"},
    {"{{a}}{{b}}", 0, "[1:{{a}}][2:{{b}}]"},
    {"{% if vip %}Dear VIP{% else %}Hello{% endif %}", 0,
     "[1:{% if vip %}]Dear VIP[2:{% else %}]Hello[3:{% endif %}]"},
    {"{{- name -}} and {%- x -%}", 0, "[1:{{- name -}}] and [2:{%- x -%}]"},
    {"unterminated {{ name", 0, "unterminated {{ name"},
    {"a { b } c %}", 0, "a { b } c %}"},
    {"{% raw %}{{ not code }}{% endraw %} {{ code }}", 0,
     "[1:{% raw %}]{{ not code }}[2:{% endraw %}] [3:{{ code }}]"},
    /* HTML only in HTML fields */
    {"<b>bold</b>", 0, "<b>bold</b>"},
    {"<b>bold</b>", 1, "<1:<b>>bold</1:</b>>"},
    {"<p>Hi <b>{{ n }}</b></p>", 1, "<1:<p>>Hi <2:<b>>[3:{{ n }}]</2:</b>></1:</p>>"},
    {"a<br>b<br/>c<img src=\"x.png\" alt=\"X\">", 1,
     "a[1:<br>]b[2:<br/>]c[3:<img src=\"x.png\" alt=\"X\">]"},
    {"<a href=\"{{ url }}\">Go</a>", 1, "<1:<a href=\"{{ url }}\">>Go</1:</a>>"},
    {"<a title=\"a > b\">x</a>", 1, "<1:<a title=\"a > b\">>x</1:</a>>"},
    {"<a title='{{ x | default: \">\" }}'>x</a>", 1,
     "<1:<a title='{{ x | default: \">\" }}'>>x</1:</a>>"},
    {"1 < 2 and 3 > 2", 1, "1 < 2 and 3 > 2"},
    {"a <3 b", 1, "a <3 b"},
    {"x <!-- note --> y", 1, "x [1:<!-- note -->] y"},
    {"<td>unclosed", 1, "[1:<td>]unclosed"},
    {"stray</b> end", 1, "stray[1:</b>] end"},
    {"<B>x</b>", 1, "<1:<B>>x</1:</b>>"},
    {"<p><b>x</p>", 1, "<1:<p>>[2:<b>]x</1:</p>>"},
    {"<b><b>x</b></b>", 1, "<1:<b>><2:<b>>x</2:</b>></1:</b>>"},
    {"<table><tr><td>a</td></tr></table>", 1,
     "<1:<table>><2:<tr>><3:<td>>a</3:</td>></2:</tr>></1:</table>>"},
    {"<p>{% if x %}<b>{% endif %}</b></p>", 1,
     "<1:<p>>[2:{% if x %}]<3:<b>>[4:{% endif %}]</3:</b>></1:</p>>"},
    {"<div class=\"x\"", 1, "<div class=\"x\""},
    /* openers that never close, before and after ones that do (the split keeps each closer's
     * last position: these rows check that it answers as a fresh search would) */
    {"{{ {{ a }} {{", 0, "[1:{{ {{ a }}] {{"},
    {"{% {{ %} }}", 0, "[1:{% {{ %}] }}"},
    {"<a {{ x }}>{{ y", 1, "[1:<a {{ x }}>]{{ y"},
    {"<a{{ <!-- {{ b }} --> {{", 1, "[1:<a{{ <!-- {{ b }} -->] {{"},
    {"<!-- <!-- x --> -->", 1, "[1:<!-- <!-- x -->] -->"},
    {"{{}} {{ }}}", 0, "[1:{{}}] [2:{{ }}]}"},
    /* raw keeps Liquid as text, HTML is still split */
    {"{% raw %}<b>{{ x }}</b>{% endraw %}", 1,
     "[1:{% raw %}]<2:<b>>{{ x }}</2:</b>>[3:{% endraw %}]"},
};

static void test_split(void)
{
    hub_buf b;
    hub_buf_init(&b, 1 << 16);
    for (size_t i = 0; i < sizeof(split_rows) / sizeof(split_rows[0]); i++) {
        tr_parts p = {0};
        const split_row *r = &split_rows[i];
        REQUIRE(tr_split(r->text, strlen(r->text), r->html, &p) == 0);
        render_parts(&p, &b);
        if (strcmp(b.data ? b.data : "", r->want) != 0)
            fprintf(stderr, "row %zu: %s\n  got  %s\n  want %s\n", i, r->text, b.data, r->want);
        CHECK_STR(b.data ? b.data : "", r->want);
        tr_parts_free(&p);
    }
    hub_buf_free(&b);
}

/* Text of nothing but openers that never close is one text part: each opener's search for
 * its closer starts where the last one gave up (1 MiB of them took minutes before). */
static void test_split_unclosed_openers(void)
{
    static const char *const units[] = {"{{", "{%", "<!--", "<a{{", "<!--{%"};
    size_t len = 1u << 20;
    char *s = malloc(len + 1);
    REQUIRE(s != NULL);
    for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
        size_t n = strlen(units[u]), used = len - len % n;
        for (size_t i = 0; i < used; i += n)
            memcpy(s + i, units[u], n);
        s[used] = '\0';
        tr_parts p = {0};
        REQUIRE(tr_split(s, used, 1, &p) == 0);
        CHECK(p.n == 1 && p.v[0].kind == HUB_XLIFF_TEXT && p.v[0].len == used);
        tr_parts_free(&p);
    }
    free(s);
}

/* ---- rebuilding ------------------------------------------------------------------------- */

#define T(s)                                                                                       \
    {                                                                                              \
        HUB_XLIFF_TEXT, 0, s, sizeof(s) - 1, NULL                                                  \
    }
#define C(id)                                                                                      \
    {                                                                                              \
        HUB_XLIFF_CODE, id, NULL, 0, NULL                                                          \
    }
#define O(id)                                                                                      \
    {                                                                                              \
        HUB_XLIFF_OPEN, id, NULL, 0, NULL                                                          \
    }
#define E(id)                                                                                      \
    {                                                                                              \
        HUB_XLIFF_CLOSE, id, NULL, 0, NULL                                                         \
    }
#define PARTS(...)  ((const hub_xliff_part[]){__VA_ARGS__})
#define NPARTS(...) (sizeof((hub_xliff_part[]){__VA_ARGS__}) / sizeof(hub_xliff_part))

static int rebuild(const char *source, int html, const hub_xliff_part *tgt, size_t n, hub_buf *out,
                   char *why)
{
    tr_parts src = {0};
    hub_buf_reset(out);
    why[0] = '\0';
    if (tr_split(source, strlen(source), html, &src) != 0)
        return -100;
    int rc = tr_rebuild(&src, tgt, n, html, out, why, 256);
    tr_parts_free(&src);
    return rc;
}

#define REBUILD(src, html, ...) rebuild(src, html, PARTS(__VA_ARGS__), NPARTS(__VA_ARGS__), &b, why)

static void test_rebuild(void)
{
    hub_buf b;
    char why[256];
    hub_buf_init(&b, 1 << 16);
    const char *s1 = "Hi {{ first_name }}, <b>welcome</b> back!";

    /* codes come from the source, in the translation's order */
    CHECK(REBUILD(s1, 1, T("Hallo "), C(1), T(", "), O(2), T("willkommen"), E(2), T(" zurück!")) ==
          TR_CODES_OK);
    CHECK_STR(b.data, "Hallo {{ first_name }}, <b>willkommen</b> zurück!");
    CHECK(REBUILD(s1, 1, O(2), T("Willkommen"), E(2), T(" zurück, "), C(1), T("!")) == 0);
    CHECK_STR(b.data, "<b>Willkommen</b> zurück, {{ first_name }}!");

    /* codes typed as text (a tool that flattens markup) count when they are the same */
    CHECK(REBUILD(s1, 1, T("Hallo {{ first_name }}, <b>willkommen</b>!")) == TR_CODES_OK);
    CHECK_STR(b.data, "Hallo {{ first_name }}, <b>willkommen</b>!");

    /* missing codes */
    CHECK(REBUILD(s1, 1, T("Hallo, "), O(2), T("willkommen"), E(2)) == TR_CODES_MISSING);
    CHECK(strstr(why, "{{ first_name }}") != NULL);
    CHECK(b.len == 0);
    CHECK(REBUILD(s1, 1, C(1), T(" willkommen")) == TR_CODES_MISSING);
    CHECK(REBUILD(s1, 1, C(1), O(2), T("x")) == TR_CODES_MISSING); /* the end went */
    CHECK(strstr(why, "pairs") != NULL);

    /* broken codes */
    CHECK(REBUILD(s1, 1, C(1), C(7), O(2), E(2)) == TR_CODES_BROKEN);
    CHECK(strstr(why, "7") != NULL);
    CHECK(REBUILD(s1, 1, C(1), C(1), O(2), E(2)) == TR_CODES_BROKEN); /* twice */
    CHECK(strstr(why, "twice") != NULL);
    CHECK(REBUILD(s1, 1, C(2), C(1)) == TR_CODES_BROKEN); /* a pair used as standalone */
    CHECK(REBUILD(s1, 1, C(1), O(2), E(2), T("{{ evil }}")) == TR_CODES_BROKEN);
    CHECK(strstr(why, "{{ evil }}") != NULL);
    CHECK(REBUILD(s1, 1, C(1), O(2), E(2), T("<script>")) == TR_CODES_BROKEN);
    /* the end before the start: the tags no longer pair */
    CHECK(REBUILD(s1, 1, C(1), E(2), T("x"), O(2)) == TR_CODES_MISSING);

    /* markup typed as text that no complete tag closes (it would become a tag, or hide
     * what follows, once the codes are in place) */
    const char *s2 = "<p>Hi {{ name }}, <b>your offer</b>.</p>";
    CHECK(REBUILD(s2, 1, O(1), T("Hallo <a href=https://evil.example/phish "), C(2), O(3),
                  T("Angebot"), E(3), E(1)) == TR_CODES_BROKEN);
    CHECK(strstr(why, "<a href") != NULL);
    CHECK(REBUILD(s2, 1, O(1), T("Hallo "), C(2), O(3), T("x"), E(3), T(" <!-- "), E(1)) ==
          TR_CODES_BROKEN);
    CHECK(REBUILD(s2, 1, O(1), C(2), O(3), E(3), E(1), T("<script src=//evil/x.js")) ==
          TR_CODES_BROKEN);
    CHECK(REBUILD(s2, 1, O(1), T("a < b, 3<4 "), C(2), O(3), E(3), E(1)) == TR_CODES_OK);
    /* a source with such text of its own may keep it */
    CHECK(REBUILD("<p>x <y</p>", 1, O(1), T("z <y"), E(1)) == TR_CODES_OK);
    /* raw sections do not hide tags */
    CHECK(REBUILD("<p>{% raw %}x{% endraw %}</p>", 1, O(1), C(2), T("<script>alert(1)</script>"),
                  C(3), E(1)) == TR_CODES_BROKEN);

    /* text fields: '<' is text, only Liquid is code */
    CHECK(REBUILD("Save {{ pct }}% <now>", 0, T("Spare "), C(1), T("% <jetzt>")) == 0);
    CHECK_STR(b.data, "Spare {{ pct }}% <jetzt>");

    /* a source without codes */
    CHECK(REBUILD("Plain", 0, T("Schlicht")) == 0);
    CHECK_STR(b.data, "Schlicht");
    CHECK(REBUILD("Plain", 0, C(1)) == TR_CODES_BROKEN);

    /* rebuild appends after what the buffer holds, and leaves it as it was on failure */
    hub_buf_reset(&b);
    hub_buf_append_str(&b, "keep:");
    tr_parts src = {0};
    REQUIRE(tr_split("{{ a }}", 7, 0, &src) == 0);
    CHECK(tr_rebuild(&src, PARTS(T("x")), 1, 0, &b, why, sizeof(why)) == TR_CODES_MISSING);
    CHECK_STR(b.data, "keep:");
    CHECK(tr_rebuild(&src, PARTS(C(1), T("x")), 2, 0, &b, why, sizeof(why)) == 0);
    CHECK_STR(b.data, "keep:{{ a }}x");
    tr_parts_free(&src);
    hub_buf_free(&b);
}

/* Every source rebuilt from its own parts gives itself back. */
static void test_roundtrip(void)
{
    hub_buf b;
    char why[256];
    hub_buf_init(&b, 1 << 16);
    for (size_t i = 0; i < sizeof(split_rows) / sizeof(split_rows[0]); i++) {
        const split_row *r = &split_rows[i];
        tr_parts p = {0};
        REQUIRE(tr_split(r->text, strlen(r->text), r->html, &p) == 0);
        hub_buf_reset(&b);
        CHECK(tr_rebuild(&p, p.v, p.n, r->html, &b, why, sizeof(why)) == 0);
        CHECK_STR(b.data ? b.data : "", r->text);
        tr_parts_free(&p);
    }
    hub_buf_free(&b);
}

static void test_checksum(void)
{
    char sum[HUB_SHA256_HEX_LEN + 1];
    REQUIRE(hub_sha256_hex("abc", 3, sum) == 0);
    CHECK_STR(sum, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

int main(void)
{
    RUN(test_split);
    RUN(test_split_unclosed_openers);
    RUN(test_rebuild);
    RUN(test_roundtrip);
    RUN(test_checksum);
    return TEST_SUMMARY();
}
