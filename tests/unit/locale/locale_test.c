/* Unit tests for configured locales and fallback chains (core/locale/locale.c) on a real store. */
#include <jansson.h>

#include "locale/locale.h"
#include "test.h"

static hub_store *store;

typedef struct put_arg {
    const char *tag;
    const char *body; /* JSON text */
    int del;          /* delete instead of put */
    int changed;
    hub_error err;
} put_arg;

static int do_write(hub_txn *txn, void *arg)
{
    put_arg *a = arg;
    if (a->del)
        return hub_locale_delete(txn, a->tag, &a->changed, &a->err);
    json_t *body = json_loads(a->body, 0, NULL);
    if (body == NULL)
        return HUB_EBADREQ;
    int rc = hub_locale_put(txn, a->tag, body, &a->changed, &a->err);
    json_decref(body);
    return rc;
}

/* Runs a put (or delete) in a write txn; returns its code. *changed and the first problem
 * path are reported through the out pointers when not NULL. */
static int put(const char *tag, const char *body, int *changed, char *path, size_t path_len)
{
    put_arg a = {tag, body, body == NULL, -1, {0}};
    hub_error_init(&a.err);
    int rc = hub_store_write(store, do_write, &a);
    if (changed)
        *changed = a.changed;
    if (path) {
        snprintf(path, path_len, "%s", a.err.problems.count ? a.err.problems.items[0].path : "");
    }
    if (rc != 0 && (a.err.message[0] == '\0' || strchr(a.err.message, '\n') != NULL))
        fprintf(stderr, "  %s: missing or bad error message\n", tag);
    if (rc != 0 && a.err.message[0] == '\0')
        rc = 1000; /* make the caller's expectation fail */
    hub_error_clear(&a.err);
    return rc;
}

static int del(const char *tag, int *changed)
{
    return put(tag, NULL, changed, NULL, 0);
}

/* The chain for `requested` joined with commas, into a static buffer ("!<code>" on error). */
static const char *chain(const char *requested)
{
    static char buf[HUB_LOCALE_CHAIN_MAX * HUB_LOCALE_TAG_MAX];
    hub_txn *txn = NULL;
    hub_locale_chain ch;
    buf[0] = '\0';
    if (hub_store_read(store, &txn) != 0)
        return "!read";
    int rc = hub_locale_chain_get(txn, requested, &ch);
    hub_txn_end(txn);
    if (rc != 0) {
        snprintf(buf, sizeof(buf), "!%d", rc);
        return buf;
    }
    size_t w = 0;
    for (size_t i = 0; i < ch.count; i++)
        w += (size_t)snprintf(buf + w, sizeof(buf) - w, "%s%s", i ? "," : "", ch.tags[i]);
    return buf;
}

static const char *default_tag(void)
{
    static char out[HUB_LOCALE_TAG_MAX];
    hub_txn *txn = NULL;
    if (hub_store_read(store, &txn) != 0)
        return "!read";
    int rc = hub_locale_default(txn, out);
    hub_txn_end(txn);
    return rc == 0 ? out : "!none";
}

static json_t *get(const char *tag)
{
    hub_txn *txn = NULL;
    json_t *rec = NULL;
    if (hub_store_read(store, &txn) != 0)
        return NULL;
    (void)hub_locale_get(txn, tag, &rec);
    hub_txn_end(txn);
    return rec;
}

static void test_chains(void)
{
    int changed = -1;
    CHECK_STR(chain("en"), "!-4"); /* nothing configured: HUB_ENOTFOUND */
    CHECK(put("en", "{\"name\":\"English\"}", &changed, NULL, 0) == 0);
    CHECK_STR(default_tag(), "en"); /* the first locale is the default */
    CHECK_STR(chain("en"), "en");
    CHECK(put("de", "{\"name\":\"Deutsch\"}", &changed, NULL, 0) == 0);
    CHECK(changed == 0);
    CHECK(put("DE-at", "{\"name\":\"Deutsch (\\u00d6sterreich)\",\"default\":false}", &changed,
              NULL, 0) == 0);
    CHECK(changed == 0); /* a new locale changes no existing chain */
    CHECK_STR(chain("de-AT"), "de-AT,de,en");
    CHECK_STR(chain("de"), "de,en");
    CHECK_STR(default_tag(), "en");

    json_t *rec = get("de-AT");
    REQUIRE(rec != NULL);
    CHECK_STR(json_string_value(json_object_get(rec, "tag")), "de-AT");
    CHECK(json_is_null(json_object_get(rec, "fallback")));
    CHECK(json_is_false(json_object_get(rec, "default")));
    CHECK(json_array_size(json_object_get(rec, "chain")) == 3);
    json_decref(rec);

    /* unknown requested tags: truncate until configured, else the default */
    CHECK_STR(chain("de-AT-1996"), "de-AT,de,en");
    CHECK_STR(chain("de-CH"), "de,en");
    CHECK_STR(chain("pt-BR"), "en");
    CHECK_STR(chain(""), "en");
    CHECK_STR(chain("not a tag!"), "en");

    /* explicit fallback */
    CHECK(put("fr", "{\"name\":\"Fran\\u00e7ais\"}", NULL, NULL, 0) == 0);
    CHECK(put("fr-CH", "{\"name\":\"Suisse\",\"fallback\":\"de-at\"}", NULL, NULL, 0) == 0);
    CHECK_STR(chain("fr-CH"), "fr-CH,de-AT,de,en");
    rec = get("fr-CH");
    CHECK(rec && json_is_string(json_object_get(rec, "fallback")) &&
          strcmp(json_string_value(json_object_get(rec, "fallback")), "de-AT") == 0);
    json_decref(rec);

    /* changing de's fallback changes de-AT's and fr-CH's chains too */
    CHECK(put("de", "{\"name\":\"Deutsch\",\"fallback\":\"fr\"}", &changed, NULL, 0) == 0);
    CHECK(changed == 1);
    CHECK_STR(chain("de-AT"), "de-AT,de,fr,en");
    CHECK_STR(chain("fr-CH"), "fr-CH,de-AT,de,fr,en");

    /* moving the default */
    CHECK(put("fr", "{\"name\":\"Fran\\u00e7ais\",\"default\":true}", &changed, NULL, 0) == 0);
    CHECK(changed == 1);
    CHECK_STR(default_tag(), "fr");
    CHECK_STR(chain("en"), "en,fr");
    CHECK_STR(chain("de"), "de,fr");
    CHECK_STR(chain("pt"), "fr");
    rec = get("en");
    CHECK(rec && json_is_false(json_object_get(rec, "default")));
    json_decref(rec);
    /* rewriting without "default" keeps it; "default": false on the default is refused */
    CHECK(put("fr", "{\"name\":\"Francais\"}", &changed, NULL, 0) == 0);
    CHECK(changed == 0);
    CHECK_STR(default_tag(), "fr");
    char path[64];
    CHECK(put("fr", "{\"name\":\"Francais\",\"default\":false}", NULL, path, sizeof(path)) ==
          HUB_EINVAL);
    CHECK_STR(path, "/default");
    CHECK(put("en", "{\"name\":\"English\",\"default\":true}", &changed, NULL, 0) == 0);
    CHECK_STR(default_tag(), "en");
    CHECK_STR(chain("fr"), "fr,en");

    json_t *list = NULL;
    hub_txn *txn = NULL;
    REQUIRE(hub_store_read(store, &txn) == 0);
    CHECK(hub_locale_list(txn, &list) == 0);
    CHECK(hub_locale_exists(txn, "de-AT") == 1);
    CHECK(hub_locale_exists(txn, "de-CH") == 0);
    hub_txn_end(txn);
    CHECK(json_array_size(list) == 5);
    CHECK_STR(json_string_value(json_object_get(json_array_get(list, 0), "tag")), "de");
    CHECK_STR(json_string_value(json_object_get(json_array_get(list, 4), "tag")), "fr-CH");
    json_decref(list);
}

static void test_refusals(void)
{
    char path[64];
    /* de currently falls back to fr; fr -> de would close a cycle */
    CHECK(put("fr", "{\"name\":\"F\",\"fallback\":\"de\"}", NULL, path, sizeof(path)) ==
          HUB_EINVAL);
    CHECK_STR(path, "/fallback");
    json_t *rec = get("fr");
    CHECK(rec && json_is_null(json_object_get(rec, "fallback"))); /* nothing was written */
    json_decref(rec);
    CHECK_STR(chain("fr"), "fr,en");

    CHECK(put("it", "{\"name\":\"Italiano\",\"fallback\":\"pt\"}", NULL, path, sizeof(path)) ==
          HUB_EINVAL);
    CHECK_STR(path, "/fallback");
    CHECK(put("it", "{\"name\":\"Italiano\",\"fallback\":\"it\"}", NULL, path, sizeof(path)) ==
          HUB_EINVAL);
    CHECK_STR(path, "/fallback");
    CHECK(put("it", "{\"name\":\"Italiano\",\"fallback\":\"de_AT\"}", NULL, path, sizeof(path)) ==
          HUB_EINVAL);
    CHECK(put("it", "{\"name\":\"Italiano\",\"colour\":1}", NULL, path, sizeof(path)) ==
          HUB_EINVAL);
    CHECK_STR(path, "/colour");
    CHECK(put("it", "{\"fallback\":null}", NULL, path, sizeof(path)) == HUB_EINVAL);
    CHECK_STR(path, "/name");
    CHECK(put("it", "{\"name\":\"\"}", NULL, path, sizeof(path)) == HUB_EINVAL);
    CHECK_STR(path, "/name");
    CHECK(put("it", "{\"name\":5}", NULL, path, sizeof(path)) == HUB_EINVAL);
    CHECK(put("it", "{\"name\":\"I\",\"default\":\"yes\"}", NULL, path, sizeof(path)) ==
          HUB_EINVAL);
    CHECK_STR(path, "/default");
    CHECK(put("it", "[]", NULL, NULL, 0) == HUB_EINVAL);
    char big[300];
    snprintf(big, sizeof(big), "{\"name\":\"%0201d\"}", 0);
    CHECK(put("it", big, NULL, path, sizeof(path)) == HUB_EINVAL);
    CHECK(put("de_AT", "{\"name\":\"x\"}", NULL, NULL, 0) == HUB_EINVAL);
    hub_txn *txn = NULL;
    REQUIRE(hub_store_read(store, &txn) == 0);
    CHECK(hub_locale_exists(txn, "it") == 0);
    hub_txn_end(txn);
}

static void test_delete(void)
{
    int changed = -1;
    /* de-AT is fr-CH's fallback; de is de's... de is not referenced explicitly by anyone */
    CHECK(del("de-AT", NULL) == HUB_EINUSE);
    CHECK(del("en", NULL) == HUB_EINUSE); /* the default while others exist */
    CHECK(del("pt", NULL) == HUB_ENOTFOUND);
    CHECK(del("not a tag", NULL) == HUB_ENOTFOUND);
    CHECK(del("fr", NULL) == HUB_EINUSE); /* de falls back to fr */
    CHECK(put("fr-CH", "{\"name\":\"Suisse\"}", &changed, NULL, 0) == 0);
    CHECK_STR(chain("fr-CH"), "fr-CH,fr,en");
    CHECK(changed == 1);
    CHECK(del("de", &changed) == 0); /* de-AT now truncates past it to the default */
    CHECK(changed == 1);
    CHECK_STR(chain("de-AT"), "de-AT,en");
    CHECK_STR(chain("de"), "en");

    /* a delete that would reroute truncation into a cycle is refused:
     * de-AT -> en (explicit), de-AT-1901 -> de-AT (truncation), de -> de-AT-1901 (explicit) */
    CHECK(put("de-AT", "{\"name\":\"AT\",\"fallback\":\"en\"}", NULL, NULL, 0) == 0);
    CHECK(put("de-AT-1901", "{\"name\":\"AT old\"}", NULL, NULL, 0) == 0);
    CHECK(put("de", "{\"name\":\"D\",\"fallback\":\"de-AT-1901\"}", NULL, NULL, 0) == 0);
    CHECK_STR(chain("de"), "de,de-AT-1901,de-AT,en");
    CHECK(del("de-AT", NULL) == HUB_EINUSE);
    CHECK_STR(chain("de"), "de,de-AT-1901,de-AT,en");

    /* delete everything: the default goes last */
    const char *order[] = {"de-AT-1901", "de-AT", "fr-CH", "fr", "en"};
    CHECK(del("DE", NULL) == 0); /* canonicalized: deletes de */
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        CHECK(del(order[i], NULL) == 0);
    CHECK_STR(default_tag(), "!none");
    CHECK_STR(chain("en"), "!-4");
    /* and the next locale is the default again */
    CHECK(put("es-419", "{\"name\":\"Espa\\u00f1ol\"}", NULL, NULL, 0) == 0);
    CHECK_STR(default_tag(), "es-419");
    CHECK_STR(chain("es"), "es-419");
}

static void test_long_chain(void)
{
    /* Each falls back to the previous; with the default es-419 at the end, the 16th (aap)
     * would have a chain of 17 > HUB_LOCALE_CHAIN_MAX and is refused. */
    char tag[8], body[64];
    int rc = 0;
    for (int i = 0; i < 17 && rc == 0; i++) {
        snprintf(tag, sizeof(tag), "aa%c", 'a' + i);
        if (i == 0)
            snprintf(body, sizeof(body), "{\"name\":\"n\"}");
        else
            snprintf(body, sizeof(body), "{\"name\":\"n\",\"fallback\":\"aa%c\"}", 'a' + i - 1);
        rc = put(tag, body, NULL, NULL, 0);
    }
    CHECK(rc == HUB_EINVAL);
    CHECK_STR(chain("aao"), "aao,aan,aam,aal,aak,aaj,aai,aah,aag,aaf,aae,aad,aac,aab,aaa,es-419");
    CHECK_STR(chain("aap"), "es-419"); /* not configured */
}

int main(void)
{
    hub_store_options opts = {0};
    hub_error err;
    hub_error_init(&err);
    opts.dir = test_tmpdir("locale");
    opts.map_size = 64u << 20;
    if (hub_store_open(&store, &opts, &err) != 0) {
        fprintf(stderr, "cannot open the store: %s\n", err.message);
        return 1;
    }
    RUN(test_chains);
    RUN(test_refusals);
    RUN(test_delete);
    RUN(test_long_chain);
    hub_store_close(store);
    hub_error_clear(&err);
    return TEST_SUMMARY();
}
