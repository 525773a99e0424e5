/*
 * The plugin loader and the host table against deliberately broken plugins (the fixtures in
 * tests/abi/fixtures, built into $HUB_ABI_FIXTURES): every refusal is one line naming the
 * file and the reason, the good plugins still load, a refused plugin is undone (free() after
 * a successful create(), never after a failed one), and hub_plugins_free calls each loaded
 * plugin's free() exactly once. Then the host services as a plugin sees them: JSON strings,
 * the outbox, Liquid, problem paths, warnings, metrics, the HTTP service and deliver().
 */
#include <dirent.h>
#include <jansson.h>
#include <stdint.h>
#include <sys/stat.h>

#include "plugin/plugin.h"
#include "test.h"

static char fixdir[1024]; /* $HUB_ABI_FIXTURES */
static char tmp[600];     /* this run's scratch directory */
static char logpath[700]; /* $FX_LOG: the fixtures append "<who>:free" lines */

static void fixture(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s.so", fixdir, name);
}

/* The whole file as a NUL-terminated malloc'd string, or NULL. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    if (f == NULL)
        return NULL;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            char *b = realloc(buf, cap = n + 4096 + 1 + cap);
            if (b == NULL)
                break;
            buf = b;
        }
        size_t got = fread(buf + n, 1, 4096, f);
        n += got;
        if (got < 4096)
            break;
    }
    fclose(f);
    if (buf != NULL)
        buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

/* The fixtures' event log so far ("" when none). Static buffer. */
static const char *events(void)
{
    static char copy[1024];
    char *s = slurp(logpath, NULL);
    snprintf(copy, sizeof(copy), "%s", s != NULL ? s : "");
    free(s);
    return copy;
}

static json_t *json_of(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (j == NULL) {
        fprintf(stderr, "bad JSON in the test: %s: %s\n", text, je.text);
        abort();
    }
    return j;
}

/* Loads the fixtures named (paths list) with channels (JSON text, may be NULL). */
static hub_plugins *load_fixtures(const char *const *names, size_t n, const char *channels,
                                  hub_plugin_services services)
{
    char paths[16][1100];
    const char *pp[16];
    hub_plugins *p = NULL;
    hub_error err;
    json_t *ch = channels != NULL ? json_of(channels) : NULL;
    for (size_t i = 0; i < n && i < 16; i++) {
        fixture(names[i], paths[i], sizeof(paths[i]));
        pp[i] = paths[i];
    }
    hub_plugins_config cfg = {
        .paths = pp, .npaths = n, .channels = ch, .data_dir = tmp, .services = services};
    hub_error_init(&err);
    int rc = hub_plugins_load(&cfg, &p, &err);
    if (rc != 0)
        fprintf(stderr, "hub_plugins_load: %d %s\n", rc, err.message);
    hub_error_clear(&err);
    json_decref(ch);
    return p;
}

/* ---- refusals ------------------------------------------------------------------------------ */

typedef struct expect {
    const char *file; /* fixture name */
    const char *why;  /* a substring of the refusal */
    const char *why2; /* another one, or NULL */
} expect;

static const expect refusals[] = {
    {"fx_abi2", "ABI major 2", "the hub speaks 1"},
    {"fx_noentry", "no entry point", "omnihub_plugin_entry"},
    {"fx_undef", "undefined symbol", "fx_symbol_nobody_defines"},
    {"fx_dup_b", "duplicate channel name 'dup'", "fx_dup_a.so"},
    {"fx_nodeliver", "missing callback 'deliver'", NULL},
    {"fx_createfail", "create failed: createfail: the key 'colour' is not allowed", NULL},
    {"fx_nofields", "0 fields", NULL},
    {"fx_badfieldname", "schema field 1", "name"},
    {"fx_declines", "declined", "-2"},
    {"fx_badname", "bad channel name", NULL},
    {"fx_small", "struct_size 16", NULL},
};
#define NREFUSALS (sizeof(refusals) / sizeof(refusals[0]))

/* The refusal that names path, checking that exactly one does; NULL if none or several. */
static const char *refusal_of(const hub_plugins *p, const char *path)
{
    const char *found = NULL;
    int n = 0;
    char head[1200];
    snprintf(head, sizeof(head), "%s: ", path);
    for (size_t i = 0; i < hub_plugins_refused_count(p); i++) {
        const char *r = hub_plugins_refusal(p, i);
        if (strncmp(r, head, strlen(head)) == 0) {
            found = r;
            n++;
        }
    }
    return n == 1 ? found : NULL;
}

static void check_refusals(const hub_plugins *p)
{
    CHECK(hub_plugins_refused_count(p) == NREFUSALS);
    for (size_t i = 0; i < NREFUSALS; i++) {
        char path[1100];
        fixture(refusals[i].file, path, sizeof(path));
        const char *r = refusal_of(p, path);
        if (r == NULL) {
            fprintf(stderr, "no single refusal for %s\n", path);
            CHECK(r != NULL);
            continue;
        }
        if (strstr(r, refusals[i].why) == NULL ||
            (refusals[i].why2 != NULL && strstr(r, refusals[i].why2) == NULL))
            fprintf(stderr, "refusal of %s lacks '%s'/'%s': %s\n", refusals[i].file,
                    refusals[i].why, refusals[i].why2 ? refusals[i].why2 : "", r);
        CHECK(strstr(r, refusals[i].why) != NULL);
        CHECK(refusals[i].why2 == NULL || strstr(r, refusals[i].why2) != NULL);
        CHECK(strchr(r, '\n') == NULL && strchr(r, '\r') == NULL);
    }
}

static const char *const all_fixtures[] = {
    "fx_good",    "fx_abi2",      "fx_noentry",    "fx_undef",    "fx_dup_a",
    "fx_dup_b",   "fx_nodeliver", "fx_createfail", "fx_nofields", "fx_badfieldname",
    "fx_badjson", "fx_declines",  "fx_badname",    "fx_small",
};

static void test_refusals(void)
{
    hub_plugin_services none = {0};
    char path[1100];
    unlink(logpath);
    hub_plugins *p =
        load_fixtures(all_fixtures, sizeof(all_fixtures) / sizeof(all_fixtures[0]),
                      "{\"fx_good\": {\"prefix\": \"> \"}, \"createfail\": {\"colour\": 1}}", none);
    REQUIRE(p != NULL);
    REQUIRE(hub_plugins_count(p) == 3);
    CHECK_STR(hub_channel_name(hub_plugins_get(p, 0)), "fx_good");
    CHECK_STR(hub_channel_name(hub_plugins_get(p, 1)), "dup");
    CHECK_STR(hub_channel_name(hub_plugins_get(p, 2)), "badjson");
    CHECK(hub_plugins_get(p, 3) == NULL);
    fixture("fx_dup_a", path, sizeof(path));
    CHECK_STR(hub_channel_path(hub_plugins_get(p, 1)), path);
    CHECK_STR(hub_channel_plugin(hub_plugins_get(p, 1))->version, "0.0.1");
    CHECK(hub_plugins_find(p, "dup", 3) == hub_plugins_get(p, 1));
    CHECK(hub_plugins_find(p, "fx_goo", 6) == NULL);
    CHECK(hub_plugins_find(p, "createfail", 10) == NULL);
    check_refusals(p);
    CHECK(hub_plugins_refusal(p, NREFUSALS) == NULL);
    /* Refused after create() (bad schemas): freed at once. Refused by create(): never. */
    CHECK_STR(events(), "nofields:free\nbadfieldname:free\n");
    hub_plugins_free(p);
    CHECK_STR(events(), "nofields:free\nbadfieldname:free\ndup_a:free\nfx_good:free\n");
}

/* A directory without a load list: every *.so in name order, same verdicts. */
static void test_load_dir(void)
{
    hub_plugins *p = NULL;
    hub_error err;
    hub_plugins_config cfg = {.dir = fixdir, .data_dir = tmp};
    unlink(logpath);
    hub_error_init(&err);
    REQUIRE(hub_plugins_load(&cfg, &p, &err) == 0);
    REQUIRE(hub_plugins_count(p) == 3);
    CHECK_STR(hub_channel_name(hub_plugins_get(p, 0)), "badjson");
    CHECK_STR(hub_channel_name(hub_plugins_get(p, 1)), "dup");
    CHECK_STR(hub_channel_name(hub_plugins_get(p, 2)), "fx_good");
    check_refusals(p);
    hub_plugins_free(p);
    CHECK_STR(events(), "badfieldname:free\nnofields:free\nfx_good:free\ndup_a:free\n");
    hub_error_clear(&err);
}

/* A load list naming something that is not a plain name is a configuration error. */
static void test_load_names(void)
{
    const char *bad[][2] = {
        {"fx_good", "../fx_good"}, {"fx_good", "fx/good"}, {"Fx_good", "fx_good"}, {"fx_good", ""}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        hub_plugins *p = (hub_plugins *)&p; /* must be reset to NULL */
        hub_error err;
        hub_plugins_config cfg = {.dir = fixdir, .load = bad[i], .nload = 2, .data_dir = tmp};
        hub_error_init(&err);
        CHECK(hub_plugins_load(&cfg, &p, &err) == HUB_EINVAL);
        CHECK(p == NULL);
        CHECK(strstr(err.message, "plugins.load") != NULL);
        hub_error_clear(&err);
    }
    /* Good names: the missing one is refused, the others load. */
    const char *names[] = {"fx_good", "fx_nothere", "fx_badjson"};
    char missing[1100];
    hub_plugins *p = NULL;
    hub_error err;
    hub_plugins_config cfg = {.dir = fixdir, .load = names, .nload = 3, .data_dir = tmp};
    hub_error_init(&err);
    REQUIRE(hub_plugins_load(&cfg, &p, &err) == 0);
    CHECK(hub_plugins_count(p) == 2);
    CHECK(hub_plugins_refused_count(p) == 1);
    fixture("fx_nothere", missing, sizeof(missing));
    const char *r = refusal_of(p, missing);
    CHECK(r != NULL && strstr(r, "cannot load") != NULL);
    hub_plugins_free(p);
    hub_error_clear(&err);
}

/* ---- calls into a loaded plugin ------------------------------------------------------------ */

static hub_render_in render_in(const hub_str *fields, const char *message_id)
{
    hub_render_in in = {sizeof(in), 2,    fields,     "demo/item", "default",
                        "en",       NULL, message_id, 1000};
    return in;
}

static void test_render(void)
{
    static const char *const names[] = {"fx_good", "fx_badjson"};
    hub_plugin_services none = {0};
    hub_plugins *p = load_fixtures(names, 2, "{\"fx_good\": {\"prefix\": \"> \"}}", none);
    REQUIRE(p != NULL && hub_plugins_count(p) == 2);
    const hub_channel *c = hub_plugins_find(p, "fx_good", 7);
    REQUIRE(c != NULL);
    CHECK(hub_channel_fields(c)->nfields == 2);
    CHECK(hub_channel_field_index(c, "text") == 0);
    CHECK(hub_channel_field_index(c, "link") == 1);
    CHECK(hub_channel_field_index(c, "nope") == -1);

    hub_str f[2] = {{"Hi \"Ada\"\n\\", 10}, {NULL, 0}};
    hub_render_in in = render_in(f, "m-1");
    hub_buf art;
    hub_error err;
    json_t *warnings = json_array();
    hub_problems probs;
    hub_problems_init(&probs);
    hub_channel_report rep = {&probs, "/p", " (suffix)", warnings};
    hub_buf_init(&art, 4096);
    hub_error_init(&err);
    hub_buf_append_str(&art, "kept:");
    CHECK(hub_channel_render(c, &in, &art, 1, &rep, &err) == 0);
    CHECK_STR(art.data, "kept:{\"text\":\"> Hi \\\"Ada\\\"\\n\\\\\",\"link\":null,"
                        "\"message_id\":\"m-1\"}");
    CHECK(probs.count == 0 && json_array_size(warnings) == 0);

    /* A warning, with its code. */
    hub_buf_reset(&art);
    f[0] = (hub_str){"warn:sms_ucs2", 13};
    f[1] = (hub_str){"https://x.example/?a=1&b=2", 26};
    CHECK(hub_channel_render(c, &in, &art, 1, &rep, &err) == 0);
    CHECK_STR(art.data, "{\"text\":\"> warn:sms_ucs2\",\"link\":\"https://x.example/?a=1&b=2\","
                        "\"message_id\":\"m-1\"}");
    CHECK(json_array_size(warnings) == 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(warnings, 0), "code")), "sms_ucs2");
    CHECK_STR(json_string_value(json_object_get(json_array_get(warnings, 0), "message")),
              "fixture warning 3");

    /* A problem makes the message unsendable even though render() returned 0; the artifact
     * is rolled back to what the buffer held before. */
    hub_buf_reset(&art);
    hub_buf_append_str(&art, "kept:");
    f[0] = (hub_str){"problem:a/b", 11};
    CHECK(hub_channel_render(c, &in, &art, 1, &rep, &err) == HUB_EINVAL);
    CHECK_STR(art.data, "kept:");
    CHECK(art.len == 5);
    REQUIRE(probs.count == 1);
    CHECK_STR(probs.items[0].path, "/p/a~1b");
    CHECK_STR(probs.items[0].message, "fixture problem 2 (suffix)");
    CHECK(strstr(err.message, "fx_good") != NULL);

    /* Over the artifact's cap. */
    hub_buf small;
    hub_buf_init(&small, 16);
    f[0] = (hub_str){"hello", 5};
    CHECK(hub_channel_render(c, &in, &small, 1, &rep, &err) == HUB_ETOOBIG);
    CHECK(small.len == 0);
    hub_buf_free(&small);

    /* Broken JSON: caught only when asked to check. */
    const hub_channel *bj = hub_plugins_find(p, "badjson", 7);
    REQUIRE(bj != NULL);
    hub_str one[1] = {{"x", 1}};
    hub_render_in in1 = render_in(one, "m-2");
    in1.nfields = 1;
    hub_buf_reset(&art);
    hub_error_clear(&err);
    hub_error_init(&err);
    CHECK(hub_channel_render(bj, &in1, &art, 1, &rep, &err) == HUB_EIO);
    CHECK(art.len == 0);
    CHECK(strstr(err.message, "not a JSON object") != NULL);
    CHECK(strstr(err.message, "badjson") != NULL);
    CHECK(hub_channel_render(bj, &in1, &art, 0, &rep, &err) == 0);
    CHECK_STR(art.data, "{\"text\": \"unterminated");

    hub_buf_free(&art);
    hub_error_clear(&err);
    hub_problems_clear(&probs);
    json_decref(warnings);
    hub_plugins_free(p);
}

/* report_problem: "<prefix>/<field>" with RFC 6901 escaping, the prefix alone for NULL. */
static void test_problem_paths(void)
{
    static const char *const names[] = {"fx_good"};
    hub_plugin_services none = {0};
    hub_plugins *p = load_fixtures(names, 1, NULL, none);
    REQUIRE(p != NULL && hub_plugins_count(p) == 1);
    const hub_channel *c = hub_plugins_get(p, 0);
    hub_problems probs;
    hub_problems_init(&probs);
    hub_channel_report rep = {&probs, "/variants/0/content/en/fx_good", NULL, NULL};
    hub_str f[2] = {{"problem:a/b", 11}, {NULL, 0}};
    hub_render_in in = render_in(f, "validate");
    CHECK(hub_channel_validate(c, &in, &rep) == 0);
    f[0] = (hub_str){"problem:t~x", 11};
    CHECK(hub_channel_validate(c, &in, &rep) == 0);
    f[0] = (hub_str){"problem:", 8};
    CHECK(hub_channel_validate(c, &in, &rep) == 0);
    f[0] = (hub_str){"fine", 4};
    CHECK(hub_channel_validate(c, &in, &rep) == 0);
    REQUIRE(probs.count == 3);
    CHECK_STR(probs.items[0].path, "/variants/0/content/en/fx_good/a~1b");
    CHECK_STR(probs.items[0].message, "fixture problem 1");
    CHECK_STR(probs.items[1].path, "/variants/0/content/en/fx_good/t~0x");
    CHECK_STR(probs.items[2].path, "/variants/0/content/en/fx_good");
    /* No problem list: counted, dropped, no crash. */
    hub_channel_report quiet = {NULL, NULL, NULL, NULL};
    f[0] = (hub_str){"problem:text", 12};
    CHECK(hub_channel_validate(c, &in, &quiet) == 0);
    CHECK(probs.count == 3);
    hub_problems_clear(&probs);
    hub_plugins_free(p);
}

/* ---- deliver and the HTTP service ---------------------------------------------------------- */

static struct {
    int calls;
    char method[16];
    char url[128];
    char key[64];
    char body[256];
} seen;

static int fake_http(void *ctx, const hub_http_request *req, hub_http_response *res, char *err,
                     size_t errcap)
{
    seen.calls++;
    snprintf(seen.method, sizeof(seen.method), "%s", req->method);
    snprintf(seen.url, sizeof(seen.url), "%s", req->url);
    for (uint32_t i = 0; i < req->nheaders; i++)
        if (strcmp(req->headers[i].name, "Idempotency-Key") == 0)
            snprintf(seen.key, sizeof(seen.key), "%s", req->headers[i].value);
    snprintf(seen.body, sizeof(seen.body), "%.*s", (int)req->body.len, req->body.ptr);
    res->status = 503;
    res->retry_after_ms = 1234;
    snprintf(err, errcap, "gateway said 503");
    return *(const int *)ctx;
}

static int deliver(const hub_channel *c, const char *mode, const char *artifact, char *err,
                   size_t errcap, int64_t *retry)
{
    char rcp[64];
    snprintf(rcp, sizeof(rcp), "{\"mode\": \"%s\"}", mode);
    json_t *r = json_of(rcp);
    hub_deliver_in in = {sizeof(in), 3, {artifact, strlen(artifact)}, r, "m-42"};
    int rc = hub_channel_deliver(c, &in, err, errcap, retry);
    json_decref(r);
    return rc;
}

/* The names of the entries of dir, "a,b," in name order (none: ""). */
static void list_dir(const char *dir, char *out, size_t cap)
{
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, alphasort);
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (strcmp(ents[i]->d_name, ".") != 0 && strcmp(ents[i]->d_name, "..") != 0)
            len += (size_t)snprintf(out + len, len < cap ? cap - len : 0, "%s,", ents[i]->d_name);
        free(ents[i]);
    }
    if (n >= 0)
        free(ents);
}

static void test_deliver(void)
{
    static const char *const names[] = {"fx_good"};
    int answer = HUB_DELIVER_RETRY;
    hub_plugin_services svc = {.http_request = fake_http, .ctx = &answer};
    hub_plugin_services none = {0};
    char err[128], path[1200], listing[512];
    int64_t retry = -1;
    const char *art = "{\"text\":\"hello\"}";

    hub_plugins *p = load_fixtures(names, 1, NULL, none);
    REQUIRE(p != NULL && hub_plugins_count(p) == 1);
    const hub_channel *c = hub_plugins_get(p, 0);
    CHECK(deliver(c, "outbox", art, err, sizeof(err), &retry) == HUB_DELIVER_OK);
    CHECK_STR(err, "");
    CHECK(retry == 0);
    snprintf(path, sizeof(path), "%s/outbox/fx_good/m-42.json", tmp);
    char *got = slurp(path, NULL);
    CHECK_STR(got, art);
    free(got);
    snprintf(path, sizeof(path), "%s/outbox/fx_good", tmp);
    list_dir(path, listing, sizeof(listing));
    CHECK_STR(listing, "m-42.json,"); /* no temporary file left behind */

    CHECK(deliver(c, "retry", art, err, sizeof(err), &retry) == HUB_DELIVER_RETRY);
    CHECK_STR(err, "fixture: try again (attempt 3)");
    CHECK(retry == 5000);
    CHECK(deliver(c, "fail", art, err, sizeof(err), &retry) == HUB_DELIVER_FAIL);
    CHECK_STR(err, "fixture: permanent failure");
    CHECK(deliver(c, "fail", art, err, 8, NULL) == HUB_DELIVER_FAIL);
    CHECK_STR(err, "fixture"); /* cut at the cap, still terminated */
    /* A result outside OK/RETRY/FAIL is a temporary failure with a reason. */
    CHECK(deliver(c, "weird", art, err, sizeof(err), &retry) == HUB_DELIVER_RETRY);
    CHECK_STR(err, "the fx_good plugin returned 7 from deliver");
    /* No HTTP driver in this hub. */
    CHECK(deliver(c, "http", art, err, sizeof(err), &retry) == HUB_DELIVER_FAIL);
    CHECK_STR(err, "this hub has no HTTP driver");
    hub_plugins_free(p);

    /* With a driver: the request reaches it, its verdict and Retry-After come back. */
    p = load_fixtures(names, 1, NULL, svc);
    REQUIRE(p != NULL && hub_plugins_count(p) == 1);
    c = hub_plugins_get(p, 0);
    CHECK(deliver(c, "http", art, err, sizeof(err), &retry) == HUB_DELIVER_RETRY);
    CHECK(seen.calls == 1);
    CHECK_STR(seen.method, "POST");
    CHECK_STR(seen.url, "http://127.0.0.1:9/hook");
    CHECK_STR(seen.key, "m-42");
    CHECK_STR(seen.body, art);
    CHECK_STR(err, "gateway said 503");
    CHECK(retry == 1234);
    hub_plugins_free(p);
}

/* ---- host services, called directly ------------------------------------------------------- */

static const hub_host_api *host_of(hub_plugins **keep)
{
    static const char *const names[] = {"fx_good"};
    hub_plugin_services none = {0};
    *keep = load_fixtures(names, 1, NULL, none);
    return hub_plugins_host(*keep);
}

static void test_host_table(void)
{
    hub_plugins *p;
    const hub_host_api *h = host_of(&p);
    REQUIRE(h != NULL);
    CHECK(h->struct_size == sizeof(hub_host_api));
    CHECK(h->abi_minor == OMNIHUB_PLUGIN_ABI_MINOR);
    CHECK(h->log != NULL && h->out_append != NULL && h->out_json_string != NULL &&
          h->out_view != NULL && h->report_problem != NULL && h->report_warning != NULL &&
          h->html_to_text != NULL && h->sanitize_html != NULL && h->template_render != NULL &&
          h->smtp_send != NULL && h->http_request != NULL && h->outbox_write != NULL &&
          h->metric_add != NULL && h->out_new != NULL && h->out_free != NULL);
    h->log(HUB_PLUGIN_LOG_DEBUG, "fx_good", "a debug line %d", 1);
    h->log(99, NULL, "an odd level and no plugin name");
    hub_plugins_free(p);
}

/* s (n bytes) as a JSON string through the host into a fresh buffer; rc out. */
static char *json_string_of(const hub_host_api *h, const char *s, size_t n, int *rc)
{
    hub_out *o = h->out_new(4096);
    h->out_append(o, "[", 1);
    *rc = h->out_json_string(o, s, n);
    hub_str v = h->out_view(o);
    char *copy = hub_strndup(v.ptr, v.len);
    h->out_free(o);
    return copy;
}

static void check_json_string(const hub_host_api *h, const char *s, size_t n, const char *want)
{
    int rc;
    char *got = json_string_of(h, s, n, &rc);
    CHECK(rc == 0);
    CHECK_STR(got, want);
    free(got);
}

static void test_host_json_string(void)
{
    hub_plugins *p;
    const hub_host_api *h = host_of(&p);
    REQUIRE(h != NULL);
    check_json_string(h, "plain", 5, "[\"plain\"");
    check_json_string(h, "", 0, "[\"\"");
    check_json_string(h, "a\"b\\c/d", 7, "[\"a\\\"b\\\\c/d\"");
    check_json_string(h, "l1\nl2\r\tx", 8, "[\"l1\\nl2\\r\\tx\"");
    check_json_string(h, "\x01\x1f\x7f", 3, "[\"\\u0001\\u001f\x7f\"");
    check_json_string(h, "a\0b", 3, "[\"a\\u0000b\"");
    check_json_string(h, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14,
                      "[\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");

    /* Every ASCII byte survives a round trip through a JSON parser. */
    char all[128];
    for (int i = 0; i < 128; i++)
        all[i] = (char)i;
    int rc;
    char *lit = json_string_of(h, all, 128, &rc);
    CHECK(rc == 0);
    json_error_t je;
    json_t *back = lit != NULL ? json_loads(lit + 1, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je) : NULL;
    CHECK(json_string_length(back) == 128 && memcmp(json_string_value(back), all, 128) == 0);
    json_decref(back);
    free(lit);

    /* Invalid UTF-8 is refused and the buffer left as it was. */
    static const char *const bad[] = {"\xc3\x28", "\xc0\xaf",   "\xed\xa0\x80",
                                      "\xff",     "ok\xe2\x82", "\xf4\x90\x80\x80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *got = json_string_of(h, bad[i], strlen(bad[i]), &rc);
        CHECK(rc == HUB_PLUGIN_EINVAL);
        CHECK_STR(got, "[");
        free(got);
    }

    /* The cap: an append that does not fit fails whole. */
    hub_out *o = h->out_new(10);
    CHECK(h->out_json_string(o, "12345678", 8) == 0);
    CHECK(h->out_json_string(o, "", 0) == HUB_PLUGIN_ETOOBIG);
    CHECK(h->out_append(o, "x", 1) == HUB_PLUGIN_ETOOBIG);
    hub_str v = h->out_view(o);
    CHECK(v.len == 10 && memcmp(v.ptr, "\"12345678\"", 10) == 0);
    h->out_free(o);
    o = h->out_new(8);
    CHECK(h->out_append(o, "ab", 2) == 0);
    /* 7 bytes escaped: fails at the closing quote, after the escape went in */
    CHECK(h->out_json_string(o, "a\nbc", 4) == HUB_PLUGIN_ETOOBIG);
    v = h->out_view(o);
    CHECK(v.len == 2 && memcmp(v.ptr, "ab", 2) == 0);
    h->out_free(o);
    h->out_free(NULL);
    hub_plugins_free(p);
}

static void test_host_outbox(void)
{
    hub_plugins *p;
    const hub_host_api *h = host_of(&p);
    char err[128], path[1200], listing[512];
    REQUIRE(h != NULL);
    CHECK(h->outbox_write("fx_good", "msg-1", ".json", "{\"a\":1}", 7, err, sizeof(err)) ==
          HUB_DELIVER_OK);
    snprintf(path, sizeof(path), "%s/outbox/fx_good/msg-1.json", tmp);
    char *got = slurp(path, NULL);
    CHECK_STR(got, "{\"a\":1}");
    free(got);
    /* The same name again replaces the file. */
    CHECK(h->outbox_write("fx_good", "msg-1", ".json", "second", 6, err, sizeof(err)) ==
          HUB_DELIVER_OK);
    got = slurp(path, NULL);
    CHECK_STR(got, "second");
    free(got);
    /* Bytes, not strings: a NUL inside is kept. */
    size_t n = 0;
    CHECK(h->outbox_write("chat2", "bin_1.x", "", "a\0b", 3, err, sizeof(err)) == HUB_DELIVER_OK);
    snprintf(path, sizeof(path), "%s/outbox/chat2/bin_1.x", tmp);
    got = slurp(path, &n);
    CHECK(got != NULL && n == 3 && memcmp(got, "a\0b", 3) == 0);
    free(got);
    char longest[130];
    memset(longest, 'a', 128);
    longest[128] = '\0';
    CHECK(h->outbox_write("fx_good", longest, ".eml", "x", 1, err, sizeof(err)) == HUB_DELIVER_OK);

    /* Bad channel, name or extension: refused, nothing written. */
    longest[128] = 'a';
    longest[129] = '\0';
    const char *bad[][3] = {
        {"fx_good", "../escape", ".json"},
        {"fx_good", "a/b", ".json"},
        {"fx_good", ".hidden", ".json"},
        {"fx_good", "", ".json"},
        {"fx_good", "sp ace", ".json"},
        {"fx_good", longest, ".json"},
        {"fx_good", "ok", "json"},
        {"fx_good", "ok", "./x"},
        {"fx_good", "ok", ".a/b"},
        {"../fx_good", "ok", ".json"},
        {"", "ok", ".json"},
        {"fx_good", "ok", NULL},
        {"fx_good", NULL, ".json"},
        {NULL, "ok", ".json"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        CHECK(h->outbox_write(bad[i][0], bad[i][1], bad[i][2], "x", 1, err, sizeof(err)) ==
              HUB_DELIVER_FAIL);
        CHECK(err[0] != '\0');
    }
    snprintf(path, sizeof(path), "%s/outbox/fx_good", tmp);
    list_dir(path, listing, sizeof(listing));
    char want[300];
    longest[128] = '\0';
    snprintf(want, sizeof(want), "%s.eml,m-42.json,msg-1.json,", longest); /* m-42: deliver */
    CHECK_STR(listing, want);
    snprintf(path, sizeof(path), "%s/outbox", tmp);
    list_dir(path, listing, sizeof(listing));
    CHECK_STR(listing, "chat2,fx_good,");
    hub_plugins_free(p);
}

static void test_host_template(void)
{
    hub_plugins *p;
    const hub_host_api *h = host_of(&p);
    char err[200] = "";
    REQUIRE(h != NULL);
    json_t *vars = json_of("{\"first_name\": \"Ada\", \"n\": 3}");
    hub_out *o = h->out_new(1024);
    const char *t = "Hello {{ first_name }}! {% if n > 2 %}many{% else %}few{% endif %}";
    CHECK(h->template_render(t, strlen(t), vars, o, err, sizeof(err)) == 0);
    hub_str v = h->out_view(o);
    CHECK(v.len == 15 && memcmp(v.ptr, "Hello Ada! many", 15) == 0);
    h->out_free(o);
    o = h->out_new(1024);
    t = "Hello {{ first_name | default: 'there' }}";
    CHECK(h->template_render(t, strlen(t), NULL, o, err, sizeof(err)) == 0);
    v = h->out_view(o);
    CHECK(v.len == 11 && memcmp(v.ptr, "Hello there", 11) == 0);
    h->out_free(o);
    /* A syntax error: a negative code and a one-line reason. */
    o = h->out_new(1024);
    t = "{% if x %}never closed";
    CHECK(h->template_render(t, strlen(t), vars, o, err, sizeof(err)) < 0);
    CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
    CHECK(h->template_render(t, strlen(t), vars, o, NULL, 0) < 0); /* err may be NULL */
    h->out_free(o);
    json_decref(vars);
    hub_plugins_free(p);
}

static void test_host_html(void)
{
    hub_plugins *p;
    const hub_host_api *h = host_of(&p);
    REQUIRE(h != NULL);
    hub_out *o = h->out_new(4096);
    const char *html = "<p>Hi <a href=\"https://x.example/\">there</a> &amp; bye</p>";
    CHECK(h->html_to_text(html, strlen(html), o) == 0);
    hub_str v = h->out_view(o);
    char *text = hub_strndup(v.ptr, v.len);
    CHECK(text != NULL && strstr(text, "there (https://x.example/)") != NULL);
    CHECK(text != NULL && strstr(text, "& bye") != NULL);
    free(text);
    h->out_free(o);
    o = h->out_new(4096);
    size_t removed = 0;
    html = "<p onclick=\"x()\">a<script>alert(1)</script></p>";
    CHECK(h->sanitize_html(html, strlen(html), o, &removed) == 0);
    v = h->out_view(o);
    text = hub_strndup(v.ptr, v.len);
    CHECK(text != NULL && strstr(text, "script") == NULL && strstr(text, "onclick") == NULL);
    CHECK(text != NULL && strstr(text, "a") != NULL);
    CHECK(removed >= 2);
    free(text);
    h->out_free(o);
    hub_plugins_free(p);
}

static void test_host_metrics(void)
{
    hub_plugins *p;
    const hub_host_api *h = host_of(&p);
    hub_buf text;
    REQUIRE(h != NULL);
    h->metric_add("fx_good", "sent", 2);
    h->metric_add("fx_good", "sent", 1.5);
    h->metric_add("other", "sent", 1);
    h->metric_add("fx_good", "Sent", 1); /* upper case: ignored */
    h->metric_add("fx_good", "a-b", 1);  /* '-': ignored */
    h->metric_add("../x", "sent", 1);    /* not a plugin name: ignored */
    h->metric_add("fx_good", "", 1);     /* empty: ignored */
    h->metric_add(NULL, "sent", 1);      /* no plugin: ignored */
    char longest[50], line[120];
    memset(longest, 'r', 48);
    longest[48] = '\0';
    h->metric_add("fx_good", longest, 1); /* 48 bytes: the longest name */
    memset(longest, 'q', 49);
    longest[49] = '\0';
    h->metric_add("fx_good", longest, 1); /* 49 bytes: ignored */
    hub_buf_init(&text, 1 << 16);
    CHECK(hub_plugins_metrics_text(&text) == 0);
    CHECK(strstr(text.data, "omnihub_plugin_sent_total{channel=\"fx_good\"} 3.5\n") != NULL);
    CHECK(strstr(text.data, "omnihub_plugin_sent_total{channel=\"other\"} 1\n") != NULL);
    CHECK(strstr(text.data, "Sent") == NULL && strstr(text.data, "a-b") == NULL);
    CHECK(strstr(text.data, "../x") == NULL && strstr(text.data, "qqqq") == NULL);
    memset(longest, 'r', 48);
    longest[48] = '\0';
    snprintf(line, sizeof(line), "omnihub_plugin_%s_total{channel=\"fx_good\"} 1\n", longest);
    CHECK(strstr(text.data, line) != NULL);
    CHECK(strstr(text.data, "omnihub_plugin__total") == NULL);
    /* deliver() of test_deliver counted one message to the outbox. */
    CHECK(strstr(text.data, "omnihub_plugin_delivered_total{channel=\"fx_good\"} 1\n") != NULL);
    hub_buf_free(&text);
    hub_plugins_free(p);
}

int main(void)
{
    const char *fx = getenv("HUB_ABI_FIXTURES");
    if (fx == NULL) {
        fprintf(stderr, "HUB_ABI_FIXTURES is not set (run through ctest)\n");
        return 1;
    }
    snprintf(fixdir, sizeof(fixdir), "%s", fx);
    snprintf(tmp, sizeof(tmp), "%s", test_tmpdir("abi_loader"));
    snprintf(logpath, sizeof(logpath), "%s/fx.log", tmp);
    setenv("FX_LOG", logpath, 1);
    RUN(test_refusals);
    RUN(test_load_dir);
    RUN(test_load_names);
    RUN(test_render);
    RUN(test_problem_paths);
    RUN(test_deliver);
    RUN(test_host_table);
    RUN(test_host_json_string);
    RUN(test_host_outbox);
    RUN(test_host_template);
    RUN(test_host_html);
    RUN(test_host_metrics);
    return TEST_SUMMARY();
}
