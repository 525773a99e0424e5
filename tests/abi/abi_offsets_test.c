/*
 * Pins the plugin ABI of include/omnihub/plugin.h on x86-64 (LP64): the size of every struct,
 * the offset, size and type of every member, and the value of every #define constant.
 *
 * The numbers below are written by hand, not computed from the header, on purpose: a plugin
 * built last year against this header must keep working with the hub built today, so any
 * difference here is an ABI break. Changing one of these numbers means a new ABI major
 * (OMNIHUB_PLUGIN_ABI_MAJOR), or, for a member appended at the end of a struct, a minor bump
 * (OMNIHUB_PLUGIN_ABI_MINOR) together with a deliberate update of this test. Never edit a
 * number here to make the test pass.
 *
 * Runtime checks rather than _Static_assert, so that one run lists every difference (and a
 * broken header does not stop the rest of the tree from building); each failure names the
 * struct, the member, the pinned number and the actual one.
 */
#include <omnihub/plugin.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "test.h"

/* A failing pin: one line with what was expected and what the header gives now. */
static void pin_failed(const char *what, const char *member, const char *aspect, size_t want,
                       size_t got)
{
    test_failures_++;
    fprintf(stderr,
            "ABI BREAK: %s.%s: %s is %zu, pinned %zu (a new ABI major, or an appended member "
            "with a minor bump and a deliberate update of this test)\n",
            what, member, aspect, got, want);
}

static void pin(const char *what, const char *member, const char *aspect, size_t want, size_t got)
{
    test_checks_++;
    if (want != got)
        pin_failed(what, member, aspect, want, got);
}

/* Offset and size of member m of struct T. */
#define MEMBER(T, m, off, size)                                                                    \
    do {                                                                                           \
        pin(#T, #m, "offset", (off), offsetof(T, m));                                              \
        pin(#T, #m, "size", (size), sizeof(((T *)0)->m));                                          \
    } while (0)

/* The exact type of member m (a retyped member can keep its offset and size). */
static void type_pin(const char *what, const char *member, const char *type, int same)
{
    test_checks_++;
    if (!same) {
        test_failures_++;
        fprintf(stderr, "ABI BREAK: %s.%s: the type is no longer %s (a new ABI major)\n", what,
                member, type);
    }
}

#define TYPE(T, m, type) type_pin(#T, #m, #type, _Generic(((T *)0)->m, type : 1, default : 0))

#define SIZE(T, size) pin(#T, "(whole)", "sizeof", (size), sizeof(T))

#define CONST(name, want)                                                                          \
    do {                                                                                           \
        test_checks_++;                                                                            \
        if ((long)(name) != (long)(want)) {                                                        \
            test_failures_++;                                                                      \
            fprintf(stderr, "ABI BREAK: %s is %ld, pinned %ld\n", #name, (long)(name),             \
                    (long)(want));                                                                 \
        }                                                                                          \
    } while (0)

static void test_constants(void)
{
    CONST(OMNIHUB_PLUGIN_ABI_MAJOR, 1);
    CONST(OMNIHUB_PLUGIN_ABI_MINOR, 1);
    CHECK_STR(OMNIHUB_PLUGIN_ENTRY, "omnihub_plugin_entry");

    CONST(HUB_PLUGIN_OK, 0);
    CONST(HUB_PLUGIN_ENOMEM, -1);
    CONST(HUB_PLUGIN_EINVAL, -2);
    CONST(HUB_PLUGIN_ETOOBIG, -9);
    CONST(HUB_PLUGIN_EIO, -11);

    CONST(HUB_DELIVER_OK, 0);
    CONST(HUB_DELIVER_RETRY, 1);
    CONST(HUB_DELIVER_FAIL, 2);

    CONST(HUB_PLUGIN_LOG_DEBUG, 0);
    CONST(HUB_PLUGIN_LOG_INFO, 1);
    CONST(HUB_PLUGIN_LOG_WARN, 2);
    CONST(HUB_PLUGIN_LOG_ERROR, 3);

    CONST(HUB_FIELD_TEXT, 1);
    CONST(HUB_FIELD_HTML, 2);
    CONST(HUB_FIELD_URL, 3);
    CONST(HUB_FIELD_OBJECT, 4);
}

static void test_hub_str(void)
{
    SIZE(hub_str, 16);
    MEMBER(hub_str, ptr, 0, 8);
    MEMBER(hub_str, len, 8, 8);
    TYPE(hub_str, ptr, const char *);
    TYPE(hub_str, len, size_t);
}

static void test_field_and_schema(void)
{
    SIZE(hub_plugin_field, 40);
    MEMBER(hub_plugin_field, struct_size, 0, 4);
    MEMBER(hub_plugin_field, kind, 4, 4);
    MEMBER(hub_plugin_field, name, 8, 8);
    MEMBER(hub_plugin_field, required, 16, 4);
    MEMBER(hub_plugin_field, reserved, 20, 4);
    MEMBER(hub_plugin_field, max_bytes, 24, 8);
    MEMBER(hub_plugin_field, description, 32, 8);
    TYPE(hub_plugin_field, struct_size, uint32_t);
    TYPE(hub_plugin_field, kind, uint32_t);
    TYPE(hub_plugin_field, name, const char *);
    TYPE(hub_plugin_field, required, uint32_t);
    TYPE(hub_plugin_field, reserved, uint32_t);
    TYPE(hub_plugin_field, max_bytes, size_t);
    TYPE(hub_plugin_field, description, const char *);

    SIZE(hub_plugin_schema, 16);
    MEMBER(hub_plugin_schema, struct_size, 0, 4);
    MEMBER(hub_plugin_schema, nfields, 4, 4);
    MEMBER(hub_plugin_schema, fields, 8, 8);
    TYPE(hub_plugin_schema, struct_size, uint32_t);
    TYPE(hub_plugin_schema, nfields, uint32_t);
    TYPE(hub_plugin_schema, fields, const hub_plugin_field *const *);
}

static void test_render_in(void)
{
    SIZE(hub_render_in, 64);
    MEMBER(hub_render_in, struct_size, 0, 4);
    MEMBER(hub_render_in, nfields, 4, 4);
    MEMBER(hub_render_in, fields, 8, 8);
    MEMBER(hub_render_in, item, 16, 8);
    MEMBER(hub_render_in, variant, 24, 8);
    MEMBER(hub_render_in, locale, 32, 8);
    MEMBER(hub_render_in, recipient, 40, 8);
    MEMBER(hub_render_in, message_id, 48, 8);
    MEMBER(hub_render_in, now_ms, 56, 8);
    TYPE(hub_render_in, struct_size, uint32_t);
    TYPE(hub_render_in, nfields, uint32_t);
    TYPE(hub_render_in, fields, const hub_str *);
    TYPE(hub_render_in, item, const char *);
    TYPE(hub_render_in, variant, const char *);
    TYPE(hub_render_in, locale, const char *);
    TYPE(hub_render_in, recipient, const json_t *);
    TYPE(hub_render_in, message_id, const char *);
    TYPE(hub_render_in, now_ms, int64_t);
}

static void test_deliver(void)
{
    SIZE(hub_deliver_in, 40);
    MEMBER(hub_deliver_in, struct_size, 0, 4);
    MEMBER(hub_deliver_in, attempt, 4, 4);
    MEMBER(hub_deliver_in, artifact, 8, 16);
    MEMBER(hub_deliver_in, recipient, 24, 8);
    MEMBER(hub_deliver_in, message_id, 32, 8);
    TYPE(hub_deliver_in, struct_size, uint32_t);
    TYPE(hub_deliver_in, attempt, uint32_t);
    TYPE(hub_deliver_in, artifact, hub_str);
    TYPE(hub_deliver_in, recipient, const json_t *);
    TYPE(hub_deliver_in, message_id, const char *);

    SIZE(hub_deliver_out, 32);
    MEMBER(hub_deliver_out, struct_size, 0, 4);
    MEMBER(hub_deliver_out, reserved, 4, 4);
    MEMBER(hub_deliver_out, error, 8, 8);
    MEMBER(hub_deliver_out, error_cap, 16, 8);
    MEMBER(hub_deliver_out, retry_after_ms, 24, 8);
    TYPE(hub_deliver_out, struct_size, uint32_t);
    TYPE(hub_deliver_out, reserved, uint32_t);
    TYPE(hub_deliver_out, error, char *);
    TYPE(hub_deliver_out, error_cap, size_t);
    TYPE(hub_deliver_out, retry_after_ms, int64_t);
}

static void test_http(void)
{
    /* hub_http_header has no struct_size: it is an array element, frozen like hub_str. */
    SIZE(hub_http_header, 16);
    MEMBER(hub_http_header, name, 0, 8);
    MEMBER(hub_http_header, value, 8, 8);
    TYPE(hub_http_header, name, const char *);
    TYPE(hub_http_header, value, const char *);

    SIZE(hub_http_request, 56);
    MEMBER(hub_http_request, struct_size, 0, 4);
    MEMBER(hub_http_request, nheaders, 4, 4);
    MEMBER(hub_http_request, method, 8, 8);
    MEMBER(hub_http_request, url, 16, 8);
    MEMBER(hub_http_request, headers, 24, 8);
    MEMBER(hub_http_request, body, 32, 16);
    MEMBER(hub_http_request, timeout_ms, 48, 4);
    MEMBER(hub_http_request, reserved, 52, 4);
    TYPE(hub_http_request, struct_size, uint32_t);
    TYPE(hub_http_request, nheaders, uint32_t);
    TYPE(hub_http_request, method, const char *);
    TYPE(hub_http_request, url, const char *);
    TYPE(hub_http_request, headers, const hub_http_header *);
    TYPE(hub_http_request, body, hub_str);
    TYPE(hub_http_request, timeout_ms, uint32_t);
    TYPE(hub_http_request, reserved, uint32_t);

    SIZE(hub_http_response, 24);
    MEMBER(hub_http_response, struct_size, 0, 4);
    MEMBER(hub_http_response, status, 4, 4);
    MEMBER(hub_http_response, body, 8, 8);
    MEMBER(hub_http_response, retry_after_ms, 16, 8);
    TYPE(hub_http_response, struct_size, uint32_t);
    TYPE(hub_http_response, status, uint32_t);
    TYPE(hub_http_response, body, hub_out *);
    TYPE(hub_http_response, retry_after_ms, int64_t);
}

static void test_smtp(void)
{
    SIZE(hub_smtp_message, 72); /* 1.1 appended url..flags to the 40 bytes of 1.0 */
    MEMBER(hub_smtp_message, struct_size, 0, 4);
    MEMBER(hub_smtp_message, nrcpt, 4, 4);
    MEMBER(hub_smtp_message, from, 8, 8);
    MEMBER(hub_smtp_message, rcpt, 16, 8);
    MEMBER(hub_smtp_message, data, 24, 16);
    TYPE(hub_smtp_message, struct_size, uint32_t);
    TYPE(hub_smtp_message, nrcpt, uint32_t);
    TYPE(hub_smtp_message, from, const char *);
    TYPE(hub_smtp_message, rcpt, const char *const *);
    TYPE(hub_smtp_message, data, hub_str);
    MEMBER(hub_smtp_message, url, 40, 8);
    MEMBER(hub_smtp_message, username, 48, 8);
    MEMBER(hub_smtp_message, password, 56, 8);
    MEMBER(hub_smtp_message, timeout_ms, 64, 4);
    MEMBER(hub_smtp_message, flags, 68, 4);
    TYPE(hub_smtp_message, url, const char *);
    TYPE(hub_smtp_message, username, const char *);
    TYPE(hub_smtp_message, password, const char *);
    TYPE(hub_smtp_message, timeout_ms, uint32_t);
    TYPE(hub_smtp_message, flags, uint32_t);
    CONST(HUB_SMTP_STARTTLS, 1);

    SIZE(hub_smtp_result, 16); /* 1.1 appended retry_after_ms to the 8 bytes of 1.0 */
    MEMBER(hub_smtp_result, struct_size, 0, 4);
    MEMBER(hub_smtp_result, reply_code, 4, 4);
    MEMBER(hub_smtp_result, retry_after_ms, 8, 8);
    TYPE(hub_smtp_result, struct_size, uint32_t);
    TYPE(hub_smtp_result, reply_code, uint32_t);
    TYPE(hub_smtp_result, retry_after_ms, int64_t);
}

static void test_host_api(void)
{
    SIZE(hub_host_api, 136); /* 1.1 appended inbox_write */
    MEMBER(hub_host_api, struct_size, 0, 4);
    MEMBER(hub_host_api, abi_minor, 4, 4);
    MEMBER(hub_host_api, log, 8, 8);
    MEMBER(hub_host_api, out_append, 16, 8);
    MEMBER(hub_host_api, out_json_string, 24, 8);
    MEMBER(hub_host_api, out_view, 32, 8);
    MEMBER(hub_host_api, report_problem, 40, 8);
    MEMBER(hub_host_api, report_warning, 48, 8);
    MEMBER(hub_host_api, html_to_text, 56, 8);
    MEMBER(hub_host_api, sanitize_html, 64, 8);
    MEMBER(hub_host_api, template_render, 72, 8);
    MEMBER(hub_host_api, smtp_send, 80, 8);
    MEMBER(hub_host_api, http_request, 88, 8);
    MEMBER(hub_host_api, outbox_write, 96, 8);
    MEMBER(hub_host_api, metric_add, 104, 8);
    MEMBER(hub_host_api, out_new, 112, 8);
    MEMBER(hub_host_api, out_free, 120, 8);
    TYPE(hub_host_api, struct_size, uint32_t);
    TYPE(hub_host_api, abi_minor, uint32_t);
    TYPE(hub_host_api, log, void (*)(int, const char *, const char *, ...));
    TYPE(hub_host_api, out_append, int (*)(hub_out *, const void *, size_t));
    TYPE(hub_host_api, out_json_string, int (*)(hub_out *, const char *, size_t));
    TYPE(hub_host_api, out_view, hub_str(*)(const hub_out *));
    TYPE(hub_host_api, report_problem, void (*)(hub_report *, const char *, const char *, ...));
    TYPE(hub_host_api, report_warning, void (*)(hub_report *, const char *, const char *, ...));
    TYPE(hub_host_api, html_to_text, int (*)(const char *, size_t, hub_out *));
    TYPE(hub_host_api, sanitize_html, int (*)(const char *, size_t, hub_out *, size_t *));
    TYPE(hub_host_api, template_render,
         int (*)(const char *, size_t, const json_t *, hub_out *, char *, size_t));
    TYPE(hub_host_api, smtp_send,
         int (*)(const char *, const hub_smtp_message *, hub_smtp_result *, char *, size_t));
    TYPE(hub_host_api, http_request,
         int (*)(const hub_http_request *, hub_http_response *, char *, size_t));
    TYPE(hub_host_api, outbox_write,
         int (*)(const char *, const char *, const char *, const void *, size_t, char *, size_t));
    TYPE(hub_host_api, metric_add, void (*)(const char *, const char *, double));
    TYPE(hub_host_api, out_new, hub_out * (*)(size_t));
    TYPE(hub_host_api, out_free, void (*)(hub_out *));
    MEMBER(hub_host_api, inbox_write, 128, 8);
    TYPE(hub_host_api, inbox_write,
         int (*)(const char *, const char *, const char *, hub_str, char *, size_t));
}

static void test_plugin(void)
{
    SIZE(hub_plugin_create_in, 32);
    MEMBER(hub_plugin_create_in, struct_size, 0, 4);
    MEMBER(hub_plugin_create_in, reserved, 4, 4);
    MEMBER(hub_plugin_create_in, host, 8, 8);
    MEMBER(hub_plugin_create_in, config, 16, 8);
    MEMBER(hub_plugin_create_in, data_dir, 24, 8);
    TYPE(hub_plugin_create_in, struct_size, uint32_t);
    TYPE(hub_plugin_create_in, reserved, uint32_t);
    TYPE(hub_plugin_create_in, host, const hub_host_api *);
    TYPE(hub_plugin_create_in, config, const json_t *);
    TYPE(hub_plugin_create_in, data_dir, const char *);

    SIZE(hub_plugin, 88);
    MEMBER(hub_plugin, struct_size, 0, 4);
    MEMBER(hub_plugin, abi_major, 4, 4);
    MEMBER(hub_plugin, abi_minor, 8, 4);
    MEMBER(hub_plugin, reserved, 12, 4);
    MEMBER(hub_plugin, name, 16, 8);
    MEMBER(hub_plugin, version, 24, 8);
    MEMBER(hub_plugin, description, 32, 8);
    MEMBER(hub_plugin, create, 40, 8);
    MEMBER(hub_plugin, fields, 48, 8);
    MEMBER(hub_plugin, validate, 56, 8);
    MEMBER(hub_plugin, render, 64, 8);
    MEMBER(hub_plugin, deliver, 72, 8);
    MEMBER(hub_plugin, free, 80, 8);
    TYPE(hub_plugin, struct_size, uint32_t);
    TYPE(hub_plugin, abi_major, uint32_t);
    TYPE(hub_plugin, abi_minor, uint32_t);
    TYPE(hub_plugin, reserved, uint32_t);
    TYPE(hub_plugin, name, const char *);
    TYPE(hub_plugin, version, const char *);
    TYPE(hub_plugin, description, const char *);
    TYPE(hub_plugin, create, int (*)(const hub_plugin_create_in *, void **, char *, size_t));
    TYPE(hub_plugin, fields, const hub_plugin_schema *(*)(void *));
    TYPE(hub_plugin, validate, int (*)(void *, const hub_render_in *, hub_report *));
    TYPE(hub_plugin, render, int (*)(void *, const hub_render_in *, hub_out *, hub_report *));
    TYPE(hub_plugin, deliver, int (*)(void *, const hub_deliver_in *, hub_deliver_out *));
    TYPE(hub_plugin, free, void (*)(void *));
}

/* The entry point's type, and the exported declaration, agree with hub_plugin_entry_fn. */
static void test_entry(void)
{
    CHECK(_Generic(&omnihub_plugin_entry, hub_plugin_entry_fn : 1, default : 0));
    CHECK(_Generic((hub_plugin_entry_fn)0,
                   int (*)(const hub_host_api *, uint32_t, const hub_plugin **) : 1, default : 0));
}

/* HUB_PLUGIN_HAS: a struct of an older minor (smaller struct_size) lacks the later members. */
static void test_has(void)
{
    hub_plugin p;
    memset(&p, 0, sizeof(p));
    p.struct_size = sizeof(p);
    CHECK(HUB_PLUGIN_HAS(&p, free));
    CHECK(HUB_PLUGIN_HAS(&p, name));
    p.struct_size = 80; /* ends right before free */
    CHECK(!HUB_PLUGIN_HAS(&p, free));
    CHECK(HUB_PLUGIN_HAS(&p, deliver));
    p.struct_size = 87; /* free only partly inside */
    CHECK(!HUB_PLUGIN_HAS(&p, free));

    hub_host_api h;
    memset(&h, 0, sizeof(h));
    h.struct_size = 120;
    CHECK(HUB_PLUGIN_HAS(&h, out_new));
    CHECK(!HUB_PLUGIN_HAS(&h, out_free));
    h.struct_size = 8;
    CHECK(!HUB_PLUGIN_HAS(&h, log));
    CHECK(HUB_PLUGIN_HAS(&h, abi_minor));
}

int main(void)
{
#if !defined(__x86_64__) || !defined(__LP64__)
    fprintf(stderr, "the pinned numbers are for x86-64 (LP64); skipped on this target\n");
    return 77;
#else
    RUN(test_constants);
    RUN(test_hub_str);
    RUN(test_field_and_schema);
    RUN(test_render_in);
    RUN(test_deliver);
    RUN(test_http);
    RUN(test_smtp);
    RUN(test_host_api);
    RUN(test_plugin);
    RUN(test_entry);
    RUN(test_has);
    return TEST_SUMMARY();
#endif
}
