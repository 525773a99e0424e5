/*
 * libFuzzer target for the Liquid engine: arbitrary bytes are compiled as a template and,
 * when they compile, rendered twice (with and without HTML escaping) against fixed variables,
 * with a resolver that hands back the same template for every {% render %} (so recursion is
 * exercised) and small limits so each input runs fast.
 * Invariants: compile fails only with EINVAL or ETOOBIG and a one-line "line L, column C: "
 * message; render fails only with a limit, a runtime error or an unknown block, leaves the
 * output as it was on error, and is deterministic.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "template/template.h"

static json_t *vars;

static int resolve(void *ctx, const char *name, size_t len, const hub_template **out)
{
    if (len > 0 && name[0] == 'x')
        return HUB_ENOTFOUND;
    *out = ctx;
    return 0;
}

static void render(const hub_template *t, int escape, hub_buf *out)
{
    hub_template_options o = {
        .escape_html = escape, .now_ms = 1, .resolve = resolve, .resolve_ctx = (void *)t};
    o.limits = (hub_template_limits){.max_output = 1 << 16,
                                     .max_memory = 1 << 20,
                                     .max_steps = 20000,
                                     .max_iterations = 5000,
                                     .max_depth = 4};
    hub_error err;
    hub_error_init(&err);
    hub_buf_append_str(out, "<");
    int rc = hub_template_render(t, vars, &o, out, &err);
    assert(rc == 0 || rc == HUB_ETOOBIG || rc == HUB_EINVAL || rc == HUB_ENOTFOUND);
    if (rc != 0) {
        assert(out->len == 1 && strncmp(err.message, "line ", 5) == 0);
        assert(strchr(err.message, '\n') == NULL);
    }
    assert(out->len == 1 || out->len - 1 <= o.limits.max_output);
    hub_error_clear(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (vars == NULL)
        vars = json_loads("{\"a\":\"<x> & 'y'\",\"n\":3,\"f\":-1.5,\"t\":true,\"l\":[1,\"two\","
                          "[3],{\"k\":null}],\"o\":{\"a\":{\"b\":[5,6]},\"s\":\" a b \"}}",
                          0, NULL);
    hub_template *t = NULL;
    hub_error err;
    hub_error_init(&err);
    int rc = hub_template_compile((const char *)data, size, &t, &err);
    assert(rc == 0 || rc == HUB_EINVAL || rc == HUB_ETOOBIG);
    if (rc != 0) {
        assert(t == NULL && strncmp(err.message, "line ", 5) == 0);
        assert(strstr(err.message, ", column ") != NULL && strchr(err.message, '\n') == NULL);
        hub_error_clear(&err);
        return 0;
    }
    for (int escape = 0; escape < 2; escape++) {
        hub_buf a, b;
        hub_buf_init(&a, 1 << 20);
        hub_buf_init(&b, 1 << 20);
        render(t, escape, &a);
        render(t, escape, &b);
        assert(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
        hub_buf_free(&a);
        hub_buf_free(&b);
    }
    for (size_t i = 0; i < hub_template_render_count(t); i++)
        assert(hub_template_render_name(t, i).base != NULL);
    hub_template_free(t);
    hub_error_clear(&err);
    return 0;
}
