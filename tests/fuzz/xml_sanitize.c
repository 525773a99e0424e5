/*
 * libFuzzer target for the xml module: arbitrary bytes go through hub_xml_html_to_text and
 * hub_xml_sanitize_html, each into a buffer capped at 64 KiB.
 * Invariants (abort() when broken):
 * - both fail only with EINVAL or ETOOBIG, leave the buffer empty on failure, and write a
 *   one-line message;
 * - the text is valid UTF-8, ends with "\n" when not empty, has no line ending in a space or
 *   a tab and no leading blank line;
 * - the sanitized HTML is valid UTF-8, contains no "<script" in any case, every tag in it is
 *   on the allow-list, and every href and src value, decoded, stripped of whitespace and
 *   control characters and case-folded, has no scheme or an allowed one (so "javascript:"
 *   never starts one); sanitizing it again removes nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xml/xml.h"

#define CAP (64 * 1024)

static void need(int cond)
{
    if (!cond)
        abort();
}

static void check_error(int rc, const hub_buf *out, const hub_error *err)
{
    need(rc == HUB_EINVAL || rc == HUB_ETOOBIG);
    need(out->len == 0 && err->code == rc && err->message[0] != '\0');
    need(strchr(err->message, '\n') == NULL);
}

static void check_text(const hub_buf *t)
{
    if (t->len == 0)
        return;
    need(hub_utf8_valid(t->data, t->len));
    need(t->data[t->len - 1] == '\n' && t->data[0] != '\n');
    for (size_t i = 1; i < t->len; i++) {
        if (t->data[i] == '\n')
            need(t->data[i - 1] != ' ' && t->data[i - 1] != '\t');
    }
}

static int allowed_tag(const char *name, size_t n)
{
    static const char *const tags[] = {
        "a",     "abbr",   "b",   "blockquote", "br",    "caption",    "cite",   "code",  "dd",
        "del",   "div",    "dl",  "dt",         "em",    "figcaption", "figure", "h1",    "h2",
        "h3",    "h4",     "h5",  "h6",         "hr",    "i",          "img",    "ins",   "kbd",
        "li",    "mark",   "ol",  "p",          "pre",   "q",          "s",      "samp",  "small",
        "span",  "strong", "sub", "sup",        "table", "tbody",      "td",     "tfoot", "th",
        "thead", "tr",     "u",   "ul"};
    for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
        if (strlen(tags[i]) == n && memcmp(tags[i], name, n) == 0)
            return 1;
    }
    return 0;
}

/* A URL value as the sanitizer wrote it (escaped, between quotes at v .. end). */
static void check_url(const char *v, const char *end)
{
    char scheme[16];
    size_t n = 0;
    for (const char *p = v; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '&') { /* the serializer writes only these four references */
            static const char *const refs[] = {"&amp;", "&lt;", "&gt;", "&quot;"};
            static const char chars[] = "&<>\"";
            size_t k = 0;
            while (k < 4 && strncmp(p, refs[k], strlen(refs[k])) != 0)
                k++;
            need(k < 4);
            p += strlen(refs[k]) - 1;
            c = (unsigned char)chars[k];
        }
        if (c <= 0x20 || c == 0x7f)
            continue;
        if (c == '/' || c == '?' || c == '#')
            return;
        if (c == ':') {
            scheme[n < sizeof(scheme) ? n : sizeof(scheme) - 1] = '\0';
            need(n < sizeof(scheme));
            need(strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0 ||
                 strcmp(scheme, "mailto") == 0 || strcmp(scheme, "tel") == 0);
            return;
        }
        if (n < sizeof(scheme))
            scheme[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
}

/* Walks the tags of the sanitizer's output, which has one regular shape:
 * <name( attr="value")*> or </name>, with no '<' or '>' anywhere else. */
static void check_html(const hub_buf *h)
{
    const char *s = h->data != NULL ? h->data : "";
    need(hub_utf8_valid(s, h->len));
    for (const char *p = s; (p = strchr(p, '<')) != NULL;) {
        need(strncasecmp(p, "<script", 7) != 0);
        const char *gt = strchr(p, '>');
        need(gt != NULL);
        const char *name = p + 1 + (p[1] == '/');
        size_t n = strcspn(name, " >");
        need(allowed_tag(name, n));
        const char *a = name + n;
        while (*a == ' ') {
            const char *eq = strchr(a, '=');
            need(eq != NULL && eq < gt && eq[1] == '"');
            const char *v = eq + 2;
            const char *q = strchr(v, '"');
            need(q != NULL && q < gt);
            size_t an = (size_t)(eq - a - 1);
            if ((an == 4 && memcmp(a + 1, "href", 4) == 0) ||
                (an == 3 && memcmp(a + 1, "src", 3) == 0))
                check_url(v, q);
            a = q + 1;
        }
        need(a == gt);
        p = gt + 1;
    }
    size_t lt = 0, gt = 0; /* text never holds a raw '<' or '>' */
    for (const char *p = s; *p != '\0'; p++) {
        lt += *p == '<';
        gt += *p == '>';
    }
    need(lt == gt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *html = (const char *)data;
    hub_error err;
    hub_error_init(&err);
    hub_buf out;
    hub_buf_init(&out, CAP);

    int rc = hub_xml_html_to_text(html, size, &out, &err);
    if (rc != 0)
        check_error(rc, &out, &err);
    else
        check_text(&out);
    hub_buf_reset(&out);

    size_t removed = 0;
    rc = hub_xml_sanitize_html(html, size, &out, &removed, &err);
    if (rc != 0) {
        check_error(rc, &out, &err);
    } else {
        check_html(&out);
        hub_buf again;
        hub_buf_init(&again, CAP);
        size_t removed2 = 99;
        rc = hub_xml_sanitize_html(out.data != NULL ? out.data : "", out.len, &again, &removed2,
                                   &err);
        need(rc == 0 || rc == HUB_ETOOBIG);
        need(rc != 0 || removed2 == 0);
        if (rc == 0)
            check_html(&again);
        hub_buf_free(&again);
    }
    hub_buf_free(&out);
    hub_error_clear(&err);
    return 0;
}
