/*
 * Shared fixture for the content store tests (items, publish, delivery, log, journeys): a real
 * store in a fresh directory, locales en (default), de, de-AT, a few taxonomy terms, the
 * example item of API.md, and small wrappers that run one content call in a durable write.
 */
#ifndef HUB_TEST_CONTENT_FIXTURE_H
#define HUB_TEST_CONTENT_FIXTURE_H

#include "test.h"

#include "content/content.h"

/* One call's inputs and outputs; the wrappers below fill what they use. */
typedef struct call {
    const char *key;
    const char *body; /* JSON text */
    const char *if_match;
    const hub_principal *actor;
    uint32_t n;
    json_t *out;
    int created;
    uint32_t version;
    hub_error err;
} call;

static inline void call_init(call *c, const char *key, const char *body)
{
    memset(c, 0, sizeof(*c));
    c->key = key;
    c->body = body;
    hub_error_init(&c->err);
}

static inline void call_done(call *c)
{
    json_decref(c->out);
    c->out = NULL;
    hub_error_clear(&c->err);
}

static inline int fn_put(hub_txn *t, void *a)
{
    call *c = a;
    json_t *j = json_loads(c->body, 0, NULL);
    hub_content_ctx cx = {hub_content_builtin_schemas(), c->actor, NULL, NULL, NULL};
    int rc = hub_content_put(t, &cx, c->key, j, c->if_match, &c->out, &c->created, &c->err);
    json_decref(j);
    return rc;
}

static inline int fn_publish(hub_txn *t, void *a)
{
    call *c = a;
    hub_content_ctx cx = {hub_content_builtin_schemas(), c->actor, NULL, NULL, NULL};
    return hub_content_publish(t, &cx, c->key, &c->version, &c->err);
}

static inline int fn_unpublish(hub_txn *t, void *a)
{
    call *c = a;
    hub_content_ctx cx = {hub_content_builtin_schemas(), c->actor, NULL, NULL, NULL};
    return hub_content_unpublish(t, &cx, c->key, &c->err);
}

static inline int fn_delete(hub_txn *t, void *a)
{
    call *c = a;
    hub_content_ctx cx = {hub_content_builtin_schemas(), c->actor, NULL, NULL, NULL};
    return hub_content_delete(t, &cx, c->key, &c->err);
}

static inline int fn_rollback(hub_txn *t, void *a)
{
    call *c = a;
    hub_content_ctx cx = {hub_content_builtin_schemas(), c->actor, NULL, NULL, NULL};
    return hub_content_rollback(t, &cx, c->key, c->n, &c->version, &c->err);
}

static inline int fn_locale(hub_txn *t, void *a)
{
    call *c = a;
    json_t *j = json_loads(c->body, 0, NULL);
    int rc = hub_locale_put(t, c->key, j, &c->created, &c->err);
    json_decref(j);
    return rc;
}

static inline int fn_term(hub_txn *t, void *a)
{
    call *c = a;
    json_t *j = json_loads(c->body, 0, NULL);
    int rc = hub_taxonomy_put(t, c->key, j, &c->err);
    json_decref(j);
    return rc;
}

/* Runs fn on a fresh call {key, body}; returns its result, and keeps the call in *c. */
static inline int fx_run(hub_store *s, hub_write_fn fn, call *c)
{
    int rc = hub_store_write(s, fn, c);
    if (rc != 0 && c->err.message[0] == '\0')
        snprintf(c->err.message, sizeof(c->err.message), "%s", hub_strerror(rc));
    return rc;
}

/* Runs fn(key, body) and returns the result, discarding outputs. */
static inline int fx_do(hub_store *s, hub_write_fn fn, const char *key, const char *body)
{
    call c;
    call_init(&c, key, body);
    int rc = fx_run(s, fn, &c);
    if (rc != 0)
        fprintf(stderr, "  (%s %s: %s)\n", key, hub_strerror(rc), c.err.message);
    for (size_t i = 0; i < c.err.problems.count; i++)
        fprintf(stderr, "    %s: %s\n", c.err.problems.items[i].path,
                c.err.problems.items[i].message);
    call_done(&c);
    return rc;
}

/* The example of API.md (without the block render and the experiment). */
static const char *const example_item =
    "{\"kind\":\"message\",\"title\":\"Welcome to the bank\","
    "\"tags\":[\"journey/onboarding\",\"product/accounts/savings\",\"segment/new-customers\"],"
    "\"variants\":["
    "{\"id\":\"control\",\"weight\":50,\"content\":{"
    "\"en\":{\"email\":{\"subject\":\"Welcome, {{ first_name | default: 'friend' }}\","
    "\"preheader\":\"Your account is ready\",\"html\":\"<h1>Hello {{ first_name }}</h1>\"},"
    "\"sms\":{\"text\":\"Welcome to the bank, {{ first_name }}! Reply STOP to opt out.\"},"
    "\"mobile\":{\"title\":\"Welcome\",\"body\":\"Your account is ready\","
    "\"deep_link\":\"bank://home\"},"
    "\"web\":{\"title\":\"Welcome\",\"html\":\"<p>Open your first savings account</p>\"}},"
    "\"de\":{\"email\":{\"subject\":\"Willkommen, {{ first_name }}\"}}}},"
    "{\"id\":\"short\",\"weight\":50,\"content\":{\"en\":{\"email\":{\"subject\":\"You're in\"}}}},"
    "{\"id\":\"vip\",\"audience\":{\"any\":[\"segment/vip\"]},"
    "\"content\":{\"en\":{\"email\":{\"subject\":\"Welcome back\"}}}}]}";

/* Opens a fresh store with locales and terms. NULL on failure (reported). */
static inline hub_store *fx_open(const char *name)
{
    static const char *const terms[] = {"journey/onboarding",    "campaign/spring",
                                        "product/accounts",      "product/accounts/savings",
                                        "product/accountsx",     "segment/vip",
                                        "segment/new-customers", NULL};
    hub_store *s = NULL;
    hub_error err;
    hub_store_options o = {.dir = test_tmpdir(name), .map_size = 64u << 20};
    hub_error_init(&err);
    if (hub_store_open(&s, &o, &err) != 0) {
        fprintf(stderr, "store open: %s\n", err.message);
        return NULL;
    }
    int bad = fx_do(s, fn_locale, "en", "{\"name\":\"English\"}") != 0;
    bad |= fx_do(s, fn_locale, "de", "{\"name\":\"Deutsch\"}") != 0;
    bad |= fx_do(s, fn_locale, "de-AT", "{\"name\":\"Deutsch (Österreich)\"}") != 0;
    bad |= fx_do(s, fn_locale, "fr", "{\"name\":\"Français\"}") != 0;
    for (size_t i = 0; terms[i] != NULL; i++)
        bad |= fx_do(s, fn_term, terms[i], "{\"label\":\"x\"}") != 0;
    if (bad) {
        hub_store_close(s);
        return NULL;
    }
    return s;
}

/* The stored draft of key (new reference) or NULL. */
static inline json_t *fx_draft(hub_store *s, const char *key)
{
    hub_txn *t;
    json_t *d = NULL;
    if (hub_store_read(s, &t) != 0)
        return NULL;
    hub_content_get_draft(t, key, &d);
    hub_txn_end(t);
    return d;
}

#endif
