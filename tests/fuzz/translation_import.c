/*
 * libFuzzer target for the import of translations: arbitrary bytes are parsed as XLIFF, and
 * every unit's target is rebuilt against a few real source texts (Liquid and HTML codes), as
 * the import does before anything is written. Each unit's own source text is split into
 * codes and put back together.
 * Invariants (abort() when broken):
 * - parsing fails only with EBADREQ, EINVAL or ETOOBIG and a one-line message;
 * - rebuilding answers OK, BROKEN or MISSING (never a negative code below the cap), leaves
 *   the buffer as it was unless OK, and an OK text holds every code of the source at least
 *   as many times as the source does;
 * - any text split into parts and rebuilt from those same parts gives itself back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "translation/internal.h"

static const char *const sources[] = {
    "Hi {{ first_name | default: 'there' }}, your card ending {{ card_last4 }} is here.",
    ("<p>Hello <b>{{ name }}</b>,<br>see <a href=\"{{ url }}\">your offer</a>.</p>"
     "{% render 'blocks/footer' %}"),
    "{% if vip %}Dear VIP{% else %}Hello{% endif %} <i>x</i>",
    "Plain text with < and > and {braces}",
};

static void need(int cond)
{
    if (!cond)
        abort();
}

static size_t count(const char *hay, size_t n, const char *needle, size_t m)
{
    size_t c = 0;
    for (size_t i = 0; m > 0 && i + m <= n; i++)
        c += memcmp(hay + i, needle, m) == 0;
    return c;
}

static void check_rebuild(const char *source, int html, const hub_xliff_unit *u, hub_buf *out)
{
    tr_parts src = {0};
    char why[256];
    need(tr_split(source, strlen(source), html, &src) == 0);
    hub_buf_reset(out);
    hub_buf_append_str(out, "pre");
    int rc = tr_rebuild(&src, u->target, u->ntarget, html, out, why, sizeof(why));
    need(rc == TR_CODES_OK || rc == TR_CODES_BROKEN || rc == TR_CODES_MISSING || rc == HUB_ETOOBIG);
    if (rc != TR_CODES_OK) {
        need(out->len == 3 && strcmp(out->data, "pre") == 0);
    } else {
        for (size_t i = 0; i < src.n; i++) {
            const hub_xliff_part *p = &src.v[i];
            if (p->kind != HUB_XLIFF_TEXT)
                need(count(out->data + 3, out->len - 3, p->text, p->len) >=
                     count(source, strlen(source), p->text, p->len));
        }
    }
    tr_parts_free(&src);
}

/* The unit's source text (its text parts) splits and rebuilds to itself. */
static void check_roundtrip(const hub_xliff_unit *u, hub_buf *text, hub_buf *out)
{
    tr_parts p = {0};
    char why[256];
    hub_buf_reset(text);
    for (size_t i = 0; i < u->nsource; i++) {
        if (u->source[i].kind == HUB_XLIFF_TEXT)
            hub_buf_append(text, u->source[i].text, u->source[i].len);
    }
    for (int html = 0; html < 2; html++) {
        need(tr_split(text->data, text->len, html, &p) == 0);
        hub_buf_reset(out);
        need(tr_rebuild(&p, p.v, p.n, html, out, why, sizeof(why)) == TR_CODES_OK);
        need(out->len == text->len &&
             (text->len == 0 || memcmp(out->data, text->data, text->len) == 0));
        tr_parts_free(&p);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hub_xliff_doc doc;
    hub_error err;
    hub_buf out, text;
    hub_error_init(&err);
    int rc = hub_xliff_parse((const char *)data, size, &doc, &err);
    if (rc != 0) {
        need(rc == HUB_EBADREQ || rc == HUB_EINVAL || rc == HUB_ETOOBIG || rc == HUB_ENOMEM);
        need(err.message[0] != '\0' && strchr(err.message, '\n') == NULL);
        hub_error_clear(&err);
        return 0;
    }
    hub_buf_init(&out, 1 << 20);
    hub_buf_init(&text, 1 << 20);
    for (size_t f = 0; f < doc.nfiles; f++) {
        for (size_t i = 0; i < doc.files[f].nunits; i++) {
            const hub_xliff_unit *u = &doc.files[f].units[i];
            if (u->error != NULL)
                continue;
            for (size_t s = 0; s < sizeof(sources) / sizeof(sources[0]); s++)
                check_rebuild(sources[s], (int)(s & 1), u, &out);
            check_roundtrip(u, &text, &out);
        }
    }
    hub_buf_free(&out);
    hub_buf_free(&text);
    hub_xliff_doc_free(&doc);
    hub_error_clear(&err);
    return 0;
}
