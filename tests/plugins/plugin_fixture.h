/*
 * Shared fixture for the tests that drive a channel plugin through the real loader and host
 * (tests/plugins/<plugin>_test.c, tests/abi/chat_test.c): load one plugin file with one
 * channel configuration into a fresh data directory, render or validate a message and keep
 * what came back (artifact text and JSON, problems, warnings), look problems and warnings
 * up, deliver, read the outbox, and a stub of the app's HTTP driver.
 *
 * Everything here only calls the public loader API of core/plugin/plugin.h, so a test sees
 * what the server sees. Single-threaded, like the tests.
 */
#ifndef HUB_TEST_PLUGIN_FIXTURE_H
#define HUB_TEST_PLUGIN_FIXTURE_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/plugin.h"
#include "repeat.h"
#include "test.h"

/* ---- loading ------------------------------------------------------------------------------- */

/* One plugin file and the set it was loaded into. The test sets the first four members (a
 * static `plug x = {.name = "web"}` is enough); plug_load fills the rest. */
typedef struct plug {
    const char *name;             /* the channel: channels.<name>, and <name>.so */
    const char *so;               /* the file; NULL: $HUB_PLUGIN_DIR/<name>.so */
    const char *tmpname;          /* the data directory's name (test_tmpdir); NULL: name */
    hub_plugin_services services; /* handed to the loader as they are */

    hub_plugins *set;      /* NULL when the loader failed outright */
    const hub_channel *ch; /* the channel called name; NULL when it was refused */
    char path[1024];       /* the file loaded */
    char data_dir[512];    /* a fresh empty directory for each load */
    char refusal[800];     /* the loader's first refusal, "" when none */
    char *file;            /* plug_outbox's last read */
} plug;

/* Frees what plug_load loaded (the set, every plugin's free()) and the last outbox read. */
static inline void plug_unload(plug *p)
{
    hub_plugins_free(p->set);
    p->set = NULL;
    p->ch = NULL;
    free(p->file);
    p->file = NULL;
}

/*
 * Loads p->so (or $HUB_PLUGIN_DIR/<name>.so, build/plugins without it) with `config` (JSON
 * text) as channels.<name>, or no entry for it when config is NULL, into a fresh data
 * directory. Unloads what p held before. Returns p->set: NULL when the loader itself failed;
 * a refused channel leaves p->ch NULL and its reason in p->refusal. A config that is not JSON
 * is a mistake in the test: it aborts.
 */
static inline hub_plugins *plug_load(plug *p, const char *config)
{
    json_t *channels = json_object(), *conf = NULL;
    if (config != NULL) {
        json_error_t je;
        conf = json_loads(config, 0, &je);
        if (conf == NULL) {
            fprintf(stderr, "bad test config %s: %s\n", config, je.text);
            abort();
        }
        json_object_set_new(channels, p->name, conf);
    }
    plug_unload(p);
    p->refusal[0] = '\0';
    if (p->so != NULL) {
        snprintf(p->path, sizeof(p->path), "%s", p->so);
    } else {
        const char *dir = getenv("HUB_PLUGIN_DIR");
        snprintf(p->path, sizeof(p->path), "%s/%s.so", dir != NULL ? dir : "build/plugins",
                 p->name);
    }
    snprintf(p->data_dir, sizeof(p->data_dir), "%s",
             test_tmpdir(p->tmpname != NULL ? p->tmpname : p->name));
    const char *paths[1] = {p->path};
    hub_plugins_config cfg = {.paths = paths,
                              .npaths = 1,
                              .channels = channels,
                              .data_dir = p->data_dir,
                              .services = p->services};
    hub_error err;
    hub_error_init(&err);
    if (hub_plugins_load(&cfg, &p->set, &err) != 0) {
        fprintf(stderr, "load %s: %s\n", p->path, err.message);
        p->set = NULL;
    }
    hub_error_clear(&err);
    json_decref(channels);
    if (p->set == NULL)
        return NULL;
    p->ch = hub_plugins_find(p->set, p->name, strlen(p->name));
    if (hub_plugins_refused_count(p->set) > 0)
        snprintf(p->refusal, sizeof(p->refusal), "%s", hub_plugins_refusal(p->set, 0));
    return p->set;
}

/* 1 when p->refusal contains part; else 0, saying so on stderr. */
static inline int plug_refusal_has(const plug *p, const char *part)
{
    if (strstr(p->refusal, part) != NULL)
        return 1;
    fprintf(stderr, "refusal: %s (wanted %s)\n", p->refusal[0] != '\0' ? p->refusal : "(none)",
            part);
    return 0;
}

/* Checks that config loads the file but refuses the channel, with a reason containing part. */
static inline void plug_expect_refusal(plug *p, const char *config, const char *part)
{
    CHECK(plug_load(p, config) != NULL);
    if (p->set == NULL)
        return;
    CHECK(hub_plugins_count(p->set) == 0);
    CHECK(hub_plugins_refused_count(p->set) == 1);
    CHECK(plug_refusal_has(p, part));
}

/* ---- render and validate ------------------------------------------------------------------- */

/* What a message is about besides its fields, and where its problems go. */
typedef struct plug_msg {
    const char *item, *variant, *locale;
    const json_t *recipient; /* render only: validate gets NULL, as from the hub */
    const char *message_id;  /* render only: validate gets "validate" */
    int64_t now_ms;
    const char *prefix; /* problems go under "<prefix>/<field>" */
    size_t cap;         /* the artifact buffer's cap; 0: 1 MiB */
} plug_msg;

/* What one render or validate call gave back. */
typedef struct plug_call {
    int rc;
    hub_buf artifact;      /* the artifact text render() wrote */
    json_t *art;           /* the artifact parsed when render() returned 0, else NULL */
    hub_problems problems; /* as reported under m->prefix */
    json_t *warnings;      /* [{"code","message"}] */
    hub_error err;         /* render()'s one-line reason */
} plug_call;

enum { PLUG_RENDER = 0, PLUG_VALIDATE = 1 };

/* Frees what a call kept; a zeroed plug_call may be freed too. */
static inline void plug_call_free(plug_call *c)
{
    hub_buf_free(&c->artifact);
    json_decref(c->art);
    c->art = NULL;
    hub_problems_clear(&c->problems);
    json_decref(c->warnings);
    c->warnings = NULL;
    hub_error_clear(&c->err);
}

/*
 * Renders (PLUG_RENDER) or validates (PLUG_VALIDATE) one message through the host: fields
 * has one value per field of the channel's schema, in its order ({NULL, 0}: absent). Fills
 * *c afresh (free it with plug_call_free before reusing it). A NULL channel (it was not
 * loaded) gives HUB_ENOTFOUND instead of a crash.
 */
static inline void plug_run(plug_call *c, const hub_channel *ch, int validate, const plug_msg *m,
                            const hub_str *fields)
{
    memset(c, 0, sizeof(*c));
    hub_buf_init(&c->artifact, m->cap != 0 ? m->cap : 1 << 20);
    hub_problems_init(&c->problems);
    hub_error_init(&c->err);
    c->warnings = json_array();
    if (ch == NULL) {
        c->rc = hub_error_set(&c->err, HUB_ENOTFOUND, "the channel was not loaded");
        return;
    }
    hub_render_in in = {sizeof(in),
                        (uint32_t)hub_channel_fields(ch)->nfields,
                        fields,
                        m->item,
                        m->variant,
                        m->locale,
                        validate ? NULL : m->recipient,
                        validate ? "validate" : m->message_id,
                        m->now_ms};
    hub_channel_report rep = {&c->problems, m->prefix, NULL, c->warnings};
    if (validate) {
        c->rc = hub_channel_validate(ch, &in, &rep);
        return;
    }
    c->rc = hub_channel_render(ch, &in, &c->artifact, 1, &rep, &c->err);
    if (c->rc == 0)
        c->art = json_loadb(c->artifact.data, c->artifact.len, 0, NULL);
}

/* plug_run with the fields as C strings, one per schema field (NULL: absent). */
static inline void plug_run_str(plug_call *c, const hub_channel *ch, int validate,
                                const plug_msg *m, const char *const *fields)
{
    hub_str f[32] = {{NULL, 0}};
    size_t n = ch != NULL ? hub_channel_fields(ch)->nfields : 0;
    for (size_t i = 0; i < n && i < 32; i++)
        f[i] = (hub_str){fields[i], fields[i] != NULL ? strlen(fields[i]) : 0};
    plug_run(c, ch, validate, m, f);
}

/* The string member key of the parsed artifact, or NULL. Borrowed from c. */
static inline const char *plug_art_str(const plug_call *c, const char *key)
{
    return json_string_value(json_object_get(c->art, key));
}

/* How many problems are at path with a message containing part ("" for any). */
static inline int plug_problems_at(const plug_call *c, const char *path, const char *part)
{
    int n = 0;
    for (size_t i = 0; i < c->problems.count; i++)
        if (strcmp(c->problems.items[i].path, path) == 0 &&
            strstr(c->problems.items[i].message, part) != NULL)
            n++;
    return n;
}

/* How many warnings have code and a message containing part ("" for any). */
static inline int plug_warnings_with(const plug_call *c, const char *code, const char *part)
{
    size_t i;
    json_t *w;
    int n = 0;
    json_array_foreach(c->warnings, i, w)
    {
        const char *wc = json_string_value(json_object_get(w, "code"));
        const char *m = json_string_value(json_object_get(w, "message"));
        if (wc != NULL && m != NULL && strcmp(wc, code) == 0 && strstr(m, part) != NULL)
            n++;
    }
    return n;
}

/* 1 when problem i is exactly {path, message}; else 0, saying what it was on stderr. */
static inline int plug_problem_is(const plug_call *c, size_t i, const char *path,
                                  const char *message)
{
    if (i >= c->problems.count) {
        fprintf(stderr, "no problem %zu; wanted %s: %s\n", i, path, message);
        return 0;
    }
    const hub_problem *p = &c->problems.items[i];
    if (strcmp(p->path, path) != 0 || strcmp(p->message, message) != 0) {
        fprintf(stderr, "problem %zu: %s: %s\n   wanted %s: %s\n", i, p->path, p->message, path,
                message);
        return 0;
    }
    return 1;
}

/* 1 when warning i is exactly {code, message}; else 0, saying what it was on stderr. */
static inline int plug_warning_is(const plug_call *c, size_t i, const char *code,
                                  const char *message)
{
    json_t *w = json_array_get(c->warnings, i);
    const char *wc = json_string_value(json_object_get(w, "code"));
    const char *m = json_string_value(json_object_get(w, "message"));
    if (wc == NULL || m == NULL || strcmp(wc, code) != 0 || strcmp(m, message) != 0) {
        fprintf(stderr, "warning %zu: [%s] %s\n   wanted [%s] %s\n", i, wc ? wc : "(none)",
                m ? m : "", code, message);
        return 0;
    }
    return 1;
}

/* ---- delivery ------------------------------------------------------------------------------ */

/* Delivers the artifact art[len] (attempt 1) to recipient (JSON text; NULL: none) as
 * message_id: the host's HUB_DELIVER_* code, the reason in err, Retry-After in *retry (retry
 * may be NULL). A NULL channel (it was not loaded) fails instead of crashing. */
static inline int plug_deliver(const hub_channel *ch, const char *art, size_t len,
                               const char *recipient, const char *message_id, char *err,
                               size_t errcap, int64_t *retry)
{
    if (ch == NULL) {
        snprintf(err, errcap, "the channel was not loaded");
        return HUB_DELIVER_FAIL;
    }
    json_t *r = recipient != NULL ? json_loads(recipient, 0, NULL) : NULL;
    hub_deliver_in in = {sizeof(in), 1, {art, len}, r, message_id};
    int rc = hub_channel_deliver(ch, &in, err, errcap, retry);
    json_decref(r);
    return rc;
}

/* The outbox file <data_dir>/outbox/<name>/<file>, NUL-terminated, or NULL when it is not
 * there; its length in *len (len may be NULL). Borrowed: valid until the next plug_outbox,
 * plug_load or plug_unload on p. */
static inline const char *plug_outbox(plug *p, const char *file, size_t *len)
{
    char path[1200];
    size_t n = 0, alloc = 1 << 12;
    free(p->file);
    p->file = NULL;
    if (len != NULL)
        *len = 0;
    snprintf(path, sizeof(path), "%s/outbox/%s/%s", p->data_dir, p->name, file);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *d = malloc(alloc);
    while (d != NULL) {
        n += fread(d + n, 1, alloc - n - 1, f);
        if (n < alloc - 1)
            break;
        char *bigger = realloc(d, alloc * 2);
        if (bigger == NULL)
            free(d);
        d = bigger;
        alloc *= 2;
    }
    fclose(f);
    if (d == NULL)
        return NULL;
    d[n] = '\0';
    if (len != NULL)
        *len = n;
    p->file = d;
    return d;
}

/* ---- a stub of the app's HTTP driver ------------------------------------------------------- */

#define PLUG_GW_MAX 16

/* A request the stub saw. */
typedef struct plug_gw_req {
    char method[16];
    char url[256];
    char headers[1024]; /* "Name: value\n" each, in order */
    char body[8192];
    uint32_t timeout_ms;
} plug_gw_req;

/* How the stub answers one request. */
typedef struct plug_gw_answer {
    int code;         /* the transport's verdict: HUB_DELIVER_OK, _RETRY or _FAIL */
    uint32_t status;  /* the HTTP status it reports */
    int64_t retry_ms; /* res->retry_after_ms */
    const char *err;  /* written into err; NULL: "stub: <status>" unless code is OK */
} plug_gw_answer;

/* Request i (counted from the last plug_gw_reset) is recorded in req[i] and answered with
 * answer[i]; past PLUG_GW_MAX requests are counted and failed. Hand it to the loader as
 * services = {.http_request = plug_gw_http, .ctx = &gw}. */
typedef struct plug_gw {
    int calls;
    plug_gw_req req[PLUG_GW_MAX];
    plug_gw_answer answer[PLUG_GW_MAX];
} plug_gw;

/* Answers every request from now on with a. */
static inline void plug_gw_answer_all(plug_gw *gw, plug_gw_answer a)
{
    for (int i = 0; i < PLUG_GW_MAX; i++)
        gw->answer[i] = a;
}

/* Forgets the requests seen; every request answers OK with status 200. */
static inline void plug_gw_reset(plug_gw *gw)
{
    memset(gw, 0, sizeof(*gw));
    plug_gw_answer_all(gw, (plug_gw_answer){HUB_DELIVER_OK, 200, 0, NULL});
}

/* The last request seen (an empty one before any). */
static inline const plug_gw_req *plug_gw_last(const plug_gw *gw)
{
    int i = gw->calls > PLUG_GW_MAX ? PLUG_GW_MAX : gw->calls;
    return &gw->req[i > 0 ? i - 1 : 0];
}

static inline int plug_gw_http(void *ctx, const hub_http_request *req, hub_http_response *res,
                               char *err, size_t errcap)
{
    plug_gw *gw = ctx;
    int i = gw->calls++;
    if (i >= PLUG_GW_MAX)
        return HUB_DELIVER_FAIL;
    plug_gw_req *r = &gw->req[i];
    const plug_gw_answer *a = &gw->answer[i];
    size_t n = 0;
    snprintf(r->method, sizeof(r->method), "%s", req->method);
    snprintf(r->url, sizeof(r->url), "%s", req->url);
    r->headers[0] = '\0';
    for (uint32_t h = 0; h < req->nheaders && n < sizeof(r->headers); h++)
        n += (size_t)snprintf(r->headers + n, sizeof(r->headers) - n, "%s: %s\n",
                              req->headers[h].name, req->headers[h].value);
    snprintf(r->body, sizeof(r->body), "%.*s", (int)req->body.len, req->body.ptr);
    r->timeout_ms = req->timeout_ms;
    res->status = a->status;
    res->retry_after_ms = a->retry_ms;
    if (a->err != NULL)
        snprintf(err, errcap, "%s", a->err);
    else if (a->code != HUB_DELIVER_OK)
        snprintf(err, errcap, "stub: %u", a->status);
    return a->code;
}

#endif
