/*
 * The configured locales and their fallback chains.
 *
 * Every write loads all locale records (there are tens, capped at LOCALE_COUNT_MAX), applies
 * the change in memory, recomputes every chain, refuses the change when any chain loops or
 * grows past HUB_LOCALE_CHAIN_MAX, and only then writes the records whose JSON changed. So a
 * refused write leaves the store untouched and readers always see consistent chains.
 *
 * The default tag is also kept in HUB_DB_META under META_DEFAULT_KEY, so that the delivery
 * path finds it with one get.
 */
#include "locale/locale.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOCALE_COUNT_MAX 1000
#define LOCALE_NAME_MAX  200
#define META_DEFAULT_KEY "locale:default"

typedef struct loc {
    char tag[HUB_LOCALE_TAG_MAX];
    char fallback[HUB_LOCALE_TAG_MAX]; /* "" when none */
    const char *name;                  /* borrowed from old or from the request body */
    int is_default;
    json_t *old;            /* the stored record, NULL for a new locale */
    hub_locale_chain chain; /* computed */
} loc;

typedef struct loc_set {
    loc *v;
    size_t n;
    size_t cap;
} loc_set;

static void set_free(loc_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        json_decref(s->v[i].old);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

/* Binary search (the set is in tag order, as the cursor returns it); -1 when absent. */
static long set_find(const loc_set *s, const char *tag)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->v[mid].tag, tag);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int set_grow(loc_set *s);

/* Inserts an empty entry for tag at its sorted place; returns its index or -1 (memory). */
static long set_insert(loc_set *s, const char *tag)
{
    if (set_grow(s) != 0)
        return -1;
    size_t at = 0;
    while (at < s->n && strcmp(s->v[at].tag, tag) < 0)
        at++;
    memmove(s->v + at + 1, s->v + at, (s->n - at) * sizeof(*s->v));
    memset(&s->v[at], 0, sizeof(s->v[at]));
    snprintf(s->v[at].tag, sizeof(s->v[at].tag), "%s", tag);
    s->n++;
    return (long)at;
}

static void set_remove(loc_set *s, size_t i)
{
    json_decref(s->v[i].old);
    memmove(s->v + i, s->v + i + 1, (s->n - i - 1) * sizeof(*s->v));
    s->n--;
}

/* Fills one entry from a stored record; HUB_EIO when the record is not what we write. */
static int entry_from_record(loc *e, const char *key, size_t klen, json_t *rec)
{
    json_t *name = json_object_get(rec, "name");
    json_t *fb = json_object_get(rec, "fallback");
    if (klen == 0 || klen >= HUB_LOCALE_TAG_MAX || !json_is_string(name))
        return HUB_EIO;
    memset(e, 0, sizeof(*e));
    memcpy(e->tag, key, klen);
    e->tag[klen] = '\0';
    e->name = json_string_value(name);
    if (json_is_string(fb) && json_string_length(fb) < HUB_LOCALE_TAG_MAX)
        snprintf(e->fallback, sizeof(e->fallback), "%s", json_string_value(fb));
    e->is_default = json_is_true(json_object_get(rec, "default"));
    e->old = rec;
    return 0;
}

/* Makes room for one more entry. */
static int set_grow(loc_set *s)
{
    return hub_array_grow((void **)&s->v, &s->cap, s->n, sizeof(*s->v), 16);
}

static int set_load(hub_txn *txn, loc_set *s)
{
    hub_cursor *c = NULL;
    hub_slice k, v;
    memset(s, 0, sizeof(*s));
    int rc = hub_cursor_open(txn, HUB_DB_LOCALES, &c);
    if (rc != 0)
        return rc;
    for (rc = hub_cursor_seek(c, (hub_slice){"", 0}, &k, &v); rc == 0;
         rc = hub_cursor_next(c, &k, &v)) {
        json_t *rec = json_loadb(v.base, v.len, 0, NULL);
        if (rec == NULL) {
            rc = HUB_EIO;
            break;
        }
        rc = set_grow(s);
        if (rc == 0)
            rc = entry_from_record(&s->v[s->n], k.base, k.len, rec);
        if (rc != 0) {
            json_decref(rec);
            break;
        }
        s->n++;
    }
    hub_cursor_close(c);
    if (rc == HUB_ENOTFOUND)
        return 0;
    set_free(s);
    return rc;
}

static long find_default(const loc_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i].is_default)
            return (long)i;
    }
    return -1;
}

/* The next locale in i's chain: explicit fallback, else lookup truncation, else the
 * default; -1 after the default. Every chain ends at the default, so a fallback on the
 * default itself always comes back to it: followed here, it is reported as a cycle. */
static long next_of(const loc_set *s, size_t i)
{
    if (s->v[i].is_default && s->v[i].fallback[0] == '\0')
        return -1;
    if (s->v[i].fallback[0] != '\0') {
        long j = set_find(s, s->v[i].fallback);
        if (j >= 0)
            return j;
    }
    char t[HUB_LOCALE_TAG_MAX];
    memcpy(t, s->v[i].tag, sizeof(t));
    while (hub_locale_truncate(t) == 0) {
        long j = set_find(s, t);
        if (j >= 0)
            return j;
    }
    return find_default(s);
}

/* Computes i's chain. On a loop or an over-long chain: HUB_EINVAL and a description. */
static int compute_chain(loc_set *s, size_t i, char *why, size_t why_len)
{
    long idx[HUB_LOCALE_CHAIN_MAX];
    hub_locale_chain *ch = &s->v[i].chain;
    ch->count = 0;
    for (long cur = (long)i; cur >= 0; cur = next_of(s, (size_t)cur)) {
        for (size_t k = 0; k < ch->count; k++) {
            if (idx[k] != cur)
                continue;
            size_t w = (size_t)snprintf(why, why_len, "fallback cycle:");
            for (size_t m = k; m < ch->count && w < why_len; m++)
                w += (size_t)snprintf(why + w, why_len - w, " %s ->", ch->tags[m]);
            if (w < why_len)
                snprintf(why + w, why_len - w, " %s", s->v[cur].tag);
            return HUB_EINVAL;
        }
        if (ch->count == HUB_LOCALE_CHAIN_MAX) {
            snprintf(why, why_len, "the fallback chain of %s is longer than %d locales",
                     s->v[i].tag, HUB_LOCALE_CHAIN_MAX);
            return HUB_EINVAL;
        }
        idx[ch->count] = cur;
        memcpy(ch->tags[ch->count], s->v[cur].tag, HUB_LOCALE_TAG_MAX);
        ch->count++;
    }
    return 0;
}

static int compute_all(loc_set *s, char *why, size_t why_len)
{
    for (size_t i = 0; i < s->n; i++) {
        int rc = compute_chain(s, i, why, why_len);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static json_t *chain_json(const hub_locale_chain *ch)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < ch->count; i++) {
        if (json_array_append_new(a, json_string(ch->tags[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *record_of(const loc *e)
{
    return json_pack("{s:s, s:s, s:o, s:b, s:o}", "tag", e->tag, "name", e->name, "fallback",
                     e->fallback[0] ? json_string(e->fallback) : json_null(), "default",
                     e->is_default, "chain", chain_json(&e->chain));
}

/* Writes every record whose JSON changed and the default pointer; sets *changed when an
 * existing locale's chain differs from its stored one. */
static int set_store(hub_txn *txn, const loc_set *s, int *changed)
{
    for (size_t i = 0; i < s->n; i++) {
        const loc *e = &s->v[i];
        json_t *rec = record_of(e);
        if (rec == NULL)
            return HUB_ENOMEM;
        if (e->old != NULL &&
            !json_equal(json_object_get(e->old, "chain"), json_object_get(rec, "chain")))
            *changed = 1;
        int rc = 0;
        if (e->old == NULL || !json_equal(e->old, rec)) {
            char *text = json_dumps(rec, JSON_COMPACT);
            rc = text ? hub_txn_put(txn, HUB_DB_LOCALES, hub_slice_cstr(e->tag),
                                    hub_slice_cstr(text))
                      : HUB_ENOMEM;
            free(text);
        }
        json_decref(rec);
        if (rc != 0)
            return rc;
        if (e->is_default) {
            rc = hub_txn_put(txn, HUB_DB_META, HUB_SLICE_LIT(META_DEFAULT_KEY),
                             hub_slice_cstr(e->tag));
            if (rc != 0)
                return rc;
        }
    }
    if (s->n == 0) {
        int rc = hub_txn_del(txn, HUB_DB_META, HUB_SLICE_LIT(META_DEFAULT_KEY));
        if (rc != 0 && rc != HUB_ENOTFOUND)
            return rc;
    }
    uint64_t gen;
    return hub_txn_next_seq(txn, "locales_gen", &gen); /* invalidates the chain caches */
}

/* ---- validation ------------------------------------------------------------------------ */

static void add_problem(hub_error *err, const char *path, const char *msg)
{
    if (err != NULL)
        hub_problems_add(&err->problems, path, "%s", msg);
}

/* Sets err's one-line message from its first problem. */
static int fail_invalid(hub_error *err, const char *tag)
{
    if (err == NULL || err->problems.count == 0)
        return hub_error_set(err, HUB_EINVAL, "invalid locale %s", tag);
    return hub_error_set(err, HUB_EINVAL, "invalid locale %s: %s: %s", tag,
                         err->problems.items[0].path, err->problems.items[0].message);
}

typedef struct locale_body {
    const char *name;
    char fallback[HUB_LOCALE_TAG_MAX];
    int set_default; /* -1 absent, 0, 1 */
    int bad;
} locale_body;

static void check_member(const char *tag, const char *key, json_t *v, locale_body *b,
                         hub_error *err)
{
    if (strcmp(key, "name") == 0) {
        size_t n = json_is_string(v) ? json_string_length(v) : 0;
        if (n == 0 || n > LOCALE_NAME_MAX || strlen(json_string_value(v)) != n) {
            add_problem(err, "/name", "must be a string of 1 to 200 bytes without NUL");
            b->bad = 1;
        } else {
            b->name = json_string_value(v);
        }
    } else if (strcmp(key, "fallback") == 0) {
        hub_error ferr;
        hub_error_init(&ferr);
        if (json_is_null(v)) {
            b->fallback[0] = '\0';
        } else if (!json_is_string(v)) {
            add_problem(err, "/fallback", "must be a language tag or null");
            b->bad = 1;
        } else if (hub_locale_canonicalize(json_string_value(v), json_string_length(v), b->fallback,
                                           &ferr) != 0) {
            add_problem(err, "/fallback", ferr.message);
            b->bad = 1;
        } else if (strcmp(b->fallback, tag) == 0) {
            add_problem(err, "/fallback", "a locale cannot fall back to itself");
            b->bad = 1;
        }
        hub_error_clear(&ferr);
    } else if (strcmp(key, "default") == 0) {
        if (!json_is_boolean(v)) {
            add_problem(err, "/default", "must be true or false");
            b->bad = 1;
        } else {
            b->set_default = json_is_true(v);
        }
    } else {
        hub_buf path;
        hub_buf_init(&path, 256);
        if (hub_buf_append_byte(&path, '/') == 0)
            (void)hub_buf_append_jptr(&path, key);
        add_problem(err, path.data ? path.data : "/", "unknown member");
        hub_buf_free(&path);
        b->bad = 1;
    }
}

static int check_body(const char *tag, json_t *body, locale_body *b, hub_error *err)
{
    memset(b, 0, sizeof(*b));
    b->set_default = -1;
    if (!json_is_object(body)) {
        add_problem(err, "", "the body must be a JSON object");
        return HUB_EINVAL;
    }
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        check_member(tag, key, v, b, err);
    }
    if (b->name == NULL && json_object_get(body, "name") == NULL) {
        add_problem(err, "/name", "is required");
        b->bad = 1;
    }
    return b->bad ? HUB_EINVAL : 0;
}

/* ---- writes ---------------------------------------------------------------------------- */

/* Applies the default rules of a put to entry i. */
static int apply_default(loc_set *s, size_t i, int set_default, hub_error *err)
{
    long cur = find_default(s);
    if (set_default == 1) {
        for (size_t k = 0; k < s->n; k++)
            s->v[k].is_default = 0;
        s->v[i].is_default = 1;
    } else if (cur < 0) {
        s->v[i].is_default = 1; /* the first locale is the default */
    } else if (set_default == 0 && (size_t)cur == i && s->n > 1) {
        add_problem(err, "/default",
                    "this is the default locale; write \"default\": true on "
                    "another locale to move the default");
        return HUB_EINVAL;
    }
    return 0;
}

int hub_locale_put(hub_txn *txn, const char *tag_in, json_t *body, int *chains_changed,
                   hub_error *err)
{
    char tag[HUB_LOCALE_TAG_MAX], why[256];
    int dummy = 0;
    if (chains_changed == NULL)
        chains_changed = &dummy;
    *chains_changed = 0;
    if (tag_in == NULL || hub_locale_canonicalize(tag_in, strlen(tag_in), tag, err) != 0)
        return HUB_EINVAL;
    locale_body b;
    if (check_body(tag, body, &b, err) != 0)
        return fail_invalid(err, tag);
    loc_set s;
    int rc = set_load(txn, &s);
    if (rc != 0)
        return hub_error_set(err, rc, "cannot read the locales: %s", hub_strerror(rc));
    long i = set_find(&s, tag);
    if (i < 0 && s.n >= LOCALE_COUNT_MAX) {
        set_free(&s);
        return hub_error_set(err, HUB_EINVAL, "too many locales (at most %d)", LOCALE_COUNT_MAX);
    }
    if (i < 0 && (i = set_insert(&s, tag)) < 0) {
        set_free(&s);
        return hub_error_set(err, HUB_ENOMEM, "out of memory");
    }
    if (b.fallback[0] != '\0' && set_find(&s, b.fallback) < 0) {
        snprintf(why, sizeof(why), "fallback locale %s is not configured", b.fallback);
        add_problem(err, "/fallback", why);
        rc = HUB_EINVAL;
    }
    if (apply_default(&s, (size_t)i, b.set_default, err) != 0)
        rc = HUB_EINVAL;
    s.v[i].name = b.name;
    memcpy(s.v[i].fallback, b.fallback, sizeof(b.fallback));
    if (rc == 0 && compute_all(&s, why, sizeof(why)) != 0) {
        add_problem(err, b.set_default == 1 && b.fallback[0] == '\0' ? "/default" : "/fallback",
                    why);
        rc = HUB_EINVAL;
    }
    if (rc != 0) {
        set_free(&s);
        return fail_invalid(err, tag);
    }
    rc = set_store(txn, &s, chains_changed);
    set_free(&s);
    if (rc != 0)
        return hub_error_set(err, rc, "cannot write the locales: %s", hub_strerror(rc));
    return 0;
}

int hub_locale_delete(hub_txn *txn, const char *tag_in, int *chains_changed, hub_error *err)
{
    int dummy = 0;
    char why[256], tag[HUB_LOCALE_TAG_MAX];
    if (chains_changed == NULL)
        chains_changed = &dummy;
    *chains_changed = 0;
    /* Canonical first, so that the messages below only ever echo a well-formed tag. */
    if (tag_in == NULL || hub_locale_canonicalize(tag_in, strlen(tag_in), tag, NULL) != 0)
        return hub_error_set(err, HUB_ENOTFOUND, "no such locale (not a valid language tag)");
    loc_set s;
    int rc = set_load(txn, &s);
    if (rc != 0)
        return hub_error_set(err, rc, "cannot read the locales: %s", hub_strerror(rc));
    long i = set_find(&s, tag);
    if (i < 0) {
        set_free(&s);
        return hub_error_set(err, HUB_ENOTFOUND, "locale %s is not configured", tag);
    }
    for (size_t k = 0; k < s.n; k++) {
        if (strcmp(s.v[k].fallback, tag) == 0) {
            rc = hub_error_set(err, HUB_EINUSE, "locale %s is the fallback of %s", tag, s.v[k].tag);
            set_free(&s);
            return rc;
        }
    }
    if (s.v[i].is_default && s.n > 1) {
        set_free(&s);
        return hub_error_set(err, HUB_EINUSE,
                             "locale %s is the default; make another locale "
                             "the default first",
                             tag);
    }
    set_remove(&s, (size_t)i);
    if (compute_all(&s, why, sizeof(why)) != 0) {
        rc = hub_error_set(err, HUB_EINUSE, "deleting %s would leave a broken chain: %s", tag, why);
        set_free(&s);
        return rc;
    }
    rc = hub_txn_del(txn, HUB_DB_LOCALES, hub_slice_cstr(tag));
    if (rc == 0)
        rc = set_store(txn, &s, chains_changed);
    set_free(&s);
    if (rc != 0)
        return hub_error_set(err, rc, "cannot write the locales: %s", hub_strerror(rc));
    return 0;
}

/* ---- reads ----------------------------------------------------------------------------- */

int hub_locale_get(hub_txn *txn, const char *tag, json_t **out)
{
    hub_slice v;
    *out = NULL;
    if (tag == NULL || tag[0] == '\0')
        return HUB_ENOTFOUND;
    int rc = hub_txn_get(txn, HUB_DB_LOCALES, hub_slice_cstr(tag), &v);
    if (rc != 0)
        return rc;
    *out = json_loadb(v.base, v.len, 0, NULL);
    return *out ? 0 : HUB_EIO;
}

int hub_locale_list(hub_txn *txn, json_t **out)
{
    hub_cursor *c = NULL;
    hub_slice k, v;
    *out = json_array();
    if (*out == NULL)
        return HUB_ENOMEM;
    int rc = hub_cursor_open(txn, HUB_DB_LOCALES, &c);
    for (rc = rc ? rc : hub_cursor_seek(c, (hub_slice){"", 0}, &k, &v); rc == 0;
         rc = hub_cursor_next(c, &k, &v)) {
        json_t *rec = json_loadb(v.base, v.len, 0, NULL);
        if (rec == NULL || json_array_append_new(*out, rec) != 0) {
            rc = rec ? HUB_ENOMEM : HUB_EIO;
            break;
        }
    }
    if (c != NULL)
        hub_cursor_close(c);
    if (rc == HUB_ENOTFOUND)
        return 0;
    json_decref(*out);
    *out = NULL;
    return rc;
}

int hub_locale_exists(hub_txn *txn, const char *tag)
{
    hub_slice v;
    if (tag == NULL || tag[0] == '\0' || strlen(tag) >= HUB_LOCALE_TAG_MAX)
        return 0;
    return hub_txn_get(txn, HUB_DB_LOCALES, hub_slice_cstr(tag), &v) == 0;
}

int hub_locale_default(hub_txn *txn, char out[HUB_LOCALE_TAG_MAX])
{
    hub_slice v;
    out[0] = '\0';
    int rc = hub_txn_get(txn, HUB_DB_META, HUB_SLICE_LIT(META_DEFAULT_KEY), &v);
    if (rc != 0)
        return rc;
    if (v.len == 0 || v.len >= HUB_LOCALE_TAG_MAX)
        return HUB_EIO;
    memcpy(out, v.base, v.len);
    out[v.len] = '\0';
    return 0;
}

/* Reads the stored chain of a configured tag; HUB_ENOTFOUND when it is not configured. */
static int read_chain(hub_txn *txn, const char *tag, hub_locale_chain *out)
{
    json_t *rec = NULL;
    int rc = hub_locale_get(txn, tag, &rec);
    if (rc != 0)
        return rc;
    json_t *a = json_object_get(rec, "chain");
    size_t n = json_array_size(a);
    out->count = 0;
    for (size_t i = 0; i < n && i < HUB_LOCALE_CHAIN_MAX; i++) {
        json_t *t = json_array_get(a, i);
        if (!json_is_string(t) || json_string_length(t) >= HUB_LOCALE_TAG_MAX)
            break;
        memcpy(out->tags[out->count], json_string_value(t), json_string_length(t) + 1);
        out->count++;
    }
    json_decref(rec);
    return out->count > 0 ? 0 : HUB_EIO;
}

static int chain_lookup(hub_txn *txn, const char *requested, hub_locale_chain *out)
{
    char tag[HUB_LOCALE_TAG_MAX];
    out->count = 0;
    if (requested != NULL && requested[0] != '\0' &&
        hub_locale_canonicalize(requested, strlen(requested), tag, NULL) == 0) {
        do {
            int rc = read_chain(txn, tag, out);
            if (rc != HUB_ENOTFOUND)
                return rc;
        } while (hub_locale_truncate(tag) == 0);
    }
    int rc = hub_locale_default(txn, tag);
    if (rc != 0)
        return rc;
    return read_chain(txn, tag, out);
}

/*
 * A per-thread cache of resolved chains, so the delivery hot path does not parse locale
 * records. An entry holds while the locale generation (META "seq:locales_gen", bumped in
 * every transaction that stores locales) read in the caller's snapshot is the one it was
 * filled under.
 */
#define CHAIN_CACHE_SLOTS 8
typedef struct cached_chain {
    int used;
    uint64_t gen;
    char requested[HUB_LOCALE_TAG_MAX];
    hub_locale_chain chain;
} cached_chain;
static _Thread_local cached_chain chain_cache[CHAIN_CACHE_SLOTS];
static _Thread_local unsigned chain_cache_next;

int hub_locale_chain_get(hub_txn *txn, const char *requested, hub_locale_chain *out)
{
    hub_slice v;
    uint64_t gen = 0;
    const char *req = requested != NULL ? requested : "";
    size_t len = strlen(req);
    if (hub_txn_get(txn, HUB_DB_META, HUB_SLICE_LIT("seq:locales_gen"), &v) == 0 && v.len == 8)
        gen = hub_be64_get((const unsigned char *)v.base);
    for (unsigned i = 0; len < HUB_LOCALE_TAG_MAX && i < CHAIN_CACHE_SLOTS; i++) {
        cached_chain *e = &chain_cache[i];
        if (e->used && e->gen == gen && strcmp(e->requested, req) == 0) {
            *out = e->chain;
            return 0;
        }
    }
    int rc = chain_lookup(txn, req, out);
    if (rc == 0 && len < HUB_LOCALE_TAG_MAX) {
        cached_chain *e = &chain_cache[chain_cache_next++ % CHAIN_CACHE_SLOTS];
        e->used = 1;
        e->gen = gen;
        memcpy(e->requested, req, len + 1);
        e->chain = *out;
    }
    return rc;
}
