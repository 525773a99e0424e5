/*
 * Shared by the core/xml tests (the *.c files of tests/unit/xml): the two HTML functions behind one
 * call, the run of one table row, the checks that an accepted input gives an exact output and that
 * a refused one leaves the output buffer as it was, and nested markup built by repetition.
 */
#ifndef HUB_TEST_XML_FIXTURE_H
#define HUB_TEST_XML_FIXTURE_H

#include "test.h"
#include "xml/xml.h"

/* Which core/xml function a check drives. */
typedef enum xml_fn { XML_TO_TEXT, XML_SANITIZE } xml_fn;

/* fn on html[len], appended to out. removed is the sanitizer's count (may be NULL); the
 * HTML-to-text function has none. err may be NULL. */
static inline int xml_call(xml_fn fn, const char *html, size_t len, hub_buf *out, size_t *removed,
                           hub_error *err)
{
    if (fn == XML_SANITIZE)
        return hub_xml_sanitize_html(html, len, out, removed, err);
    return hub_xml_html_to_text(html, len, out, err);
}

/* One table row: fn on the text html into out (initialized here, 1 MiB cap; the caller frees
 * it). Checks that it returns 0, naming the row and the error when not. The output, "" when
 * there is none. */
static inline const char *xml_run_row(xml_fn fn, const char *name, const char *html, hub_buf *out,
                                      size_t *removed)
{
    hub_error err;
    hub_buf_init(out, 1 << 20);
    hub_error_init(&err);
    int rc = xml_call(fn, html, strlen(html), out, removed, &err);
    if (rc != 0)
        fprintf(stderr, "%s: %s\n", name, err.message);
    CHECK(rc == 0);
    hub_error_clear(&err);
    return out->data != NULL ? out->data : "";
}

/* fn on html[len], with no error struct, appended to a buffer of cap that holds prefix (NULL:
 * nothing): returns 0 and the buffer then holds want (prefix included; no output is ""). */
static inline void xml_expect_output(xml_fn fn, const char *html, size_t len, size_t cap,
                                     const char *prefix, size_t *removed, const char *want)
{
    hub_buf out;
    hub_buf_init(&out, cap);
    if (prefix != NULL)
        REQUIRE(hub_buf_append_str(&out, prefix) == 0);
    CHECK(xml_call(fn, html, len, &out, removed, NULL) == 0);
    CHECK_STR(out.data != NULL ? out.data : "", want);
    hub_buf_free(&out);
}

/* fn refuses html[len] (output capped at cap) with code: a one-line message, nothing counted
 * as removed, and the buffer still holds only what it held before ("abc"). */
static inline void xml_expect_error(xml_fn fn, const char *html, size_t len, size_t cap, int code)
{
    hub_buf out;
    hub_buf_init(&out, cap);
    REQUIRE(hub_buf_append_str(&out, "abc") == 0);
    hub_error err;
    hub_error_init(&err);
    size_t removed = 99;
    int rc = xml_call(fn, html, len, &out, &removed, &err);
    CHECK(rc == code);
    CHECK(err.code == code);
    CHECK(err.message[0] != '\0' && strchr(err.message, '\n') == NULL);
    if (fn == XML_SANITIZE)
        CHECK(removed == 0);
    CHECK(out.len == 3);
    CHECK_STR(out.data, "abc");
    hub_buf_free(&out);
    hub_error_clear(&err);
}

/* open n times, middle, close n times, in a new string (free it); aborts when out of memory. */
static inline char *xml_nest(const char *open, int n, const char *middle, const char *close)
{
    size_t ol = strlen(open), ml = strlen(middle), cl = strlen(close);
    char *s = malloc((ol + cl) * (size_t)n + ml + 1);
    if (s == NULL)
        abort();
    char *p = s;
    for (int i = 0; i < n; i++, p += ol)
        memcpy(p, open, ol);
    memcpy(p, middle, ml);
    p += ml;
    for (int i = 0; i < n; i++, p += cl)
        memcpy(p, close, cl);
    *p = '\0';
    return s;
}

/* fn refuses markup nested past libxml2's limit (open n times, then middle) with HUB_EINVAL,
 * as xml_expect_error checks it. */
static inline void xml_expect_nest_refused(xml_fn fn, const char *open, int n, const char *middle)
{
    char *s = xml_nest(open, n, middle, "");
    xml_expect_error(fn, s, strlen(s), 1 << 20, HUB_EINVAL);
    free(s);
}

#endif
