/*
 * API tokens: creation from a spec, lookup by the SHA-256 of the presented secret, listing,
 * deletion, and the per-token limits (channels, tag prefixes) that editors may carry.
 *
 * Only the hash is stored, so a leaked store does not leak usable secrets. The secret is
 * compared through its hash: the key found by the cursor is checked with CRYPTO_memcmp so
 * that no comparison of secret material depends on early-exit byte compares.
 */
#include "auth/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "taxonomy/taxonomy.h"

#define SECRET_BYTES     32
#define SECRET_PREFIX    "oh_"
#define SECRET_INPUT_MAX 256 /* longer presented secrets are refused before hashing */
#define HASH_HEX_LEN     64
#define CHANNEL_NAME_MAX 31

static const char *const role_names[] = {"none", "delivery", "preview", "editor", "admin"};

hub_role hub_role_parse(const char *s)
{
    if (s == NULL)
        return HUB_ROLE_NONE;
    for (int r = HUB_ROLE_DELIVERY; r <= HUB_ROLE_ADMIN; r++) {
        if (strcmp(s, role_names[r]) == 0)
            return (hub_role)r;
    }
    return HUB_ROLE_NONE;
}

const char *hub_role_name(hub_role r)
{
    if (r < HUB_ROLE_NONE || r > HUB_ROLE_ADMIN)
        return "none";
    return role_names[r];
}

int hub_sha256_hex(const void *s, size_t len, char out[HUB_SHA256_HEX_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(s, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return HUB_EIO;
    hub_hex(md, mdlen, out);
    return 0;
}

/* ---- spec validation ------------------------------------------------------------------- */

static void add_problem(hub_error *err, const char *path, const char *msg)
{
    if (err != NULL)
        hub_problems_add(&err->problems, path, "%s", msg);
}

static int name_valid(const char *s, size_t n)
{
    return n <= HUB_TOKEN_NAME_MAX && hub_plain_name(s, n);
}

static int channel_valid(const char *s, size_t n)
{
    if (n == 0 || n > CHANNEL_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* A tag limit: a term, a term or facet followed by '/', or a bare facet. */
static int tag_prefix_valid(const char *s, size_t n)
{
    if (n == 0 || n > HUB_TERM_MAX)
        return 0;
    if (s[n - 1] == '/')
        n--;
    return hub_taxonomy_is_facet(s, n) || hub_term_check(s, n, NULL) == 0;
}

/* Checks "channels" or "tags": null, or an array of 1..16 valid strings. */
static void check_limits(const char *member, json_t *v, int (*valid)(const char *, size_t),
                         const char *what, hub_error *err, int *bad)
{
    char path[64];
    if (json_is_null(v))
        return;
    size_t n = json_array_size(v);
    if (!json_is_array(v) || n == 0 || n > HUB_TOKEN_LIMITS_MAX) {
        snprintf(path, sizeof(path), "/%s", member);
        add_problem(err, path, "must be null or an array of 1 to 16 strings");
        *bad = 1;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(v, i);
        if (json_is_string(s) && valid(json_string_value(s), json_string_length(s)) &&
            strlen(json_string_value(s)) == json_string_length(s))
            continue;
        snprintf(path, sizeof(path), "/%s/%zu", member, i);
        add_problem(err, path, what);
        *bad = 1;
    }
}

static void check_member(const char *key, json_t *v, hub_error *err, int *bad)
{
    if (strcmp(key, "name") == 0) {
        if (!json_is_string(v) || !name_valid(json_string_value(v), json_string_length(v))) {
            add_problem(err, "/name", "must be 1 to 64 of A-Z, a-z, 0-9, '.', '_', '-'");
            *bad = 1;
        }
    } else if (strcmp(key, "role") == 0) {
        if (hub_role_parse(json_string_value(v)) == HUB_ROLE_NONE) {
            add_problem(err, "/role", "must be one of admin, editor, delivery, preview");
            *bad = 1;
        }
    } else if (strcmp(key, "channels") == 0) {
        check_limits("channels", v, channel_valid,
                     "must be a channel name of 1 to 31 of a-z, "
                     "0-9, '_', '-'",
                     err, bad);
    } else if (strcmp(key, "tags") == 0) {
        check_limits("tags", v, tag_prefix_valid,
                     "must be a facet or term, optionally "
                     "followed by '/'",
                     err, bad);
    } else {
        hub_buf path;
        hub_buf_init(&path, 256);
        if (hub_buf_append_byte(&path, '/') == 0)
            (void)hub_buf_append_jptr(&path, key);
        add_problem(err, path.data ? path.data : "/", "unknown member");
        hub_buf_free(&path);
        *bad = 1;
    }
}

static int check_spec(json_t *spec, hub_error *err)
{
    int bad = 0;
    if (!json_is_object(spec)) {
        add_problem(err, "", "the token spec must be a JSON object");
        bad = 1;
    } else {
        const char *key;
        json_t *v;
        json_object_foreach(spec, key, v)
        {
            check_member(key, v, err, &bad);
        }
        if (json_object_get(spec, "name") == NULL) {
            add_problem(err, "/name", "is required");
            bad = 1;
        }
        if (json_object_get(spec, "role") == NULL) {
            add_problem(err, "/role", "is required");
            bad = 1;
        }
        hub_role r = hub_role_parse(json_string_value(json_object_get(spec, "role")));
        const char *const limits[] = {"channels", "tags"};
        for (size_t i = 0; r != HUB_ROLE_NONE && r != HUB_ROLE_EDITOR && i < 2; i++) {
            json_t *l = json_object_get(spec, limits[i]);
            if (l != NULL && !json_is_null(l)) {
                char path[16];
                snprintf(path, sizeof(path), "/%s", limits[i]);
                add_problem(err, path, "only editor tokens can carry limits");
                bad = 1;
            }
        }
    }
    if (!bad)
        return 0;
    if (err == NULL || err->problems.count == 0)
        return hub_error_set(err, HUB_EINVAL, "invalid token spec");
    return hub_error_set(err, HUB_EINVAL, "invalid token spec: %s: %s", err->problems.items[0].path,
                         err->problems.items[0].message);
}

/* ---- tokens ---------------------------------------------------------------------------- */

static json_t *limits_or_null(json_t *spec, const char *member)
{
    json_t *v = json_object_get(spec, member);
    return json_is_array(v) ? json_deep_copy(v) : json_null();
}

static int put_token(hub_txn *txn, const char *name, const char *hash, json_t *rec)
{
    char *text = json_dumps(rec, JSON_COMPACT);
    if (text == NULL)
        return HUB_ENOMEM;
    int rc = hub_txn_put(txn, HUB_DB_TOKENS, (hub_slice){hash, HASH_HEX_LEN}, hub_slice_cstr(text));
    free(text);
    if (rc == 0)
        rc = hub_txn_put(txn, HUB_DB_TOKEN_NAMES, hub_slice_cstr(name),
                         (hub_slice){hash, HASH_HEX_LEN});
    return rc;
}

int hub_auth_token_create(hub_txn *txn, json_t *spec, char secret_out[HUB_TOKEN_SECRET_LEN],
                          json_t **record_out, hub_error *err)
{
    unsigned char raw[SECRET_BYTES];
    char b64[4 * ((SECRET_BYTES + 2) / 3) + 1], hash[HASH_HEX_LEN + 1], ts[HUB_TIME_LEN];
    hub_slice v;
    secret_out[0] = '\0';
    if (record_out != NULL)
        *record_out = NULL;
    int rc = check_spec(spec, err);
    if (rc != 0)
        return rc;
    const char *name = json_string_value(json_object_get(spec, "name"));
    if (hub_txn_get(txn, HUB_DB_TOKEN_NAMES, hub_slice_cstr(name), &v) == 0)
        return hub_error_set(err, HUB_EEXISTS, "a token named %s already exists", name);
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return hub_error_set(err, HUB_EIO, "no randomness available for a token");
    size_t n = hub_b64url_encode(raw, sizeof(raw), b64);
    OPENSSL_cleanse(raw, sizeof(raw));
    snprintf(secret_out, HUB_TOKEN_SECRET_LEN, "%s%.*s", SECRET_PREFIX, (int)n, b64);
    OPENSSL_cleanse(b64, sizeof(b64));
    if (hub_sha256_hex(secret_out, strlen(secret_out), hash) != 0)
        return hub_error_set(err, HUB_EIO, "cannot hash the token");
    hub_time_format(hub_now_ms(), ts);
    json_t *rec = json_pack("{s:s, s:s, s:o, s:o, s:s}", "name", name, "role",
                            json_string_value(json_object_get(spec, "role")), "channels",
                            limits_or_null(spec, "channels"), "tags", limits_or_null(spec, "tags"),
                            "created_at", ts);
    rc = rec ? put_token(txn, name, hash, rec) : HUB_ENOMEM;
    if (rc != 0) {
        json_decref(rec);
        OPENSSL_cleanse(secret_out, HUB_TOKEN_SECRET_LEN);
        return hub_error_set(err, rc, "cannot store the token: %s", hub_strerror(rc));
    }
    if (record_out != NULL)
        *record_out = rec;
    else
        json_decref(rec);
    return 0;
}

/* Copies an array of strings into fixed slots; HUB_EIO when any does not fit, because
 * dropping a limit would widen what the token may do. */
static int copy_limits(json_t *a, char *slots, size_t slot_len, size_t *count)
{
    *count = 0;
    if (json_is_null(a) || a == NULL)
        return 0;
    size_t n = json_array_size(a);
    if (!json_is_array(a) || n == 0 || n > HUB_TOKEN_LIMITS_MAX)
        return HUB_EIO;
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(a, i);
        if (!json_is_string(s) || json_string_length(s) == 0 || json_string_length(s) >= slot_len)
            return HUB_EIO;
        memcpy(slots + i * slot_len, json_string_value(s), json_string_length(s) + 1);
    }
    *count = n;
    return 0;
}

static int principal_from_record(json_t *rec, hub_principal *out)
{
    json_t *name = json_object_get(rec, "name");
    memset(out, 0, sizeof(*out));
    if (!json_is_string(name) || json_string_length(name) > HUB_TOKEN_NAME_MAX)
        return HUB_EIO;
    memcpy(out->name, json_string_value(name), json_string_length(name) + 1);
    out->role = hub_role_parse(json_string_value(json_object_get(rec, "role")));
    if (out->role == HUB_ROLE_NONE)
        return HUB_EIO;
    int rc = copy_limits(json_object_get(rec, "channels"), &out->channels[0][0],
                         sizeof(out->channels[0]), &out->nchannels);
    if (rc == 0)
        rc = copy_limits(json_object_get(rec, "tags"), &out->tags[0][0], sizeof(out->tags[0]),
                         &out->ntags);
    return rc;
}

/*
 * A per-thread cache of recent lookups, so the delivery hot path skips SHA-256 and parsing the
 * JSON record. An entry is trusted only while the token generation (META "seq:tokens_gen",
 * bumped by every delete in the deleting transaction) read in the caller's snapshot equals
 * the one it was filled under: the first request that sees a delete refuses the token.
 */
#define CACHE_SLOTS 4
typedef struct cached {
    size_t len; /* 0: empty */
    char secret[HUB_TOKEN_SECRET_LEN];
    uint64_t gen;
    hub_principal p;
} cached;
static _Thread_local cached cache[CACHE_SLOTS];
static _Thread_local unsigned cache_next;

static uint64_t token_generation(hub_txn *txn)
{
    hub_slice v;
    if (hub_txn_get(txn, HUB_DB_META, HUB_SLICE_LIT("seq:tokens_gen"), &v) == 0 && v.len == 8)
        return hub_be64_get((const unsigned char *)v.base);
    return 0;
}

static int lookup_stored(hub_txn *txn, const char *secret, size_t len, hub_principal *out)
{
    char hash[HASH_HEX_LEN + 1];
    hub_cursor *c = NULL;
    hub_slice k, v;
    if (hub_sha256_hex(secret, len, hash) != 0 || hub_cursor_open(txn, HUB_DB_TOKENS, &c) != 0)
        return HUB_EUNAUTH;
    int rc = HUB_EUNAUTH;
    if (hub_cursor_seek(c, (hub_slice){hash, HASH_HEX_LEN}, &k, &v) == 0 && k.len == HASH_HEX_LEN &&
        CRYPTO_memcmp(k.base, hash, HASH_HEX_LEN) == 0) {
        json_t *rec = json_loadb(v.base, v.len, 0, NULL);
        if (rec != NULL && principal_from_record(rec, out) == 0) {
            rc = 0;
        } else {
            HUB_LOG_ERROR("auth: the record of a presented token is corrupt; refused");
            memset(out, 0, sizeof(*out));
        }
        json_decref(rec);
    }
    hub_cursor_close(c);
    return rc;
}

int hub_auth_lookup(hub_txn *txn, const char *secret, size_t len, hub_principal *out)
{
    memset(out, 0, sizeof(*out));
    if (secret == NULL || len == 0 || len > SECRET_INPUT_MAX)
        return HUB_EUNAUTH;
    uint64_t gen = token_generation(txn);
    int cacheable = len < HUB_TOKEN_SECRET_LEN;
    for (unsigned i = 0; cacheable && i < CACHE_SLOTS; i++) {
        cached *e = &cache[i];
        if (e->len == len && e->gen == gen && CRYPTO_memcmp(e->secret, secret, len) == 0) {
            *out = e->p;
            return 0;
        }
    }
    int rc = lookup_stored(txn, secret, len, out);
    if (rc == 0 && cacheable) {
        cached *e = &cache[cache_next++ % CACHE_SLOTS];
        e->len = len;
        memcpy(e->secret, secret, len);
        e->gen = gen;
        e->p = *out;
    }
    return rc;
}

int hub_auth_token_list(hub_txn *txn, json_t **out)
{
    hub_cursor *c = NULL;
    hub_slice k, v, rec;
    *out = json_array();
    if (*out == NULL)
        return HUB_ENOMEM;
    int rc = hub_cursor_open(txn, HUB_DB_TOKEN_NAMES, &c);
    for (rc = rc ? rc : hub_cursor_seek(c, (hub_slice){"", 0}, &k, &v); rc == 0;
         rc = hub_cursor_next(c, &k, &v)) {
        if (hub_txn_get(txn, HUB_DB_TOKENS, v, &rec) != 0)
            continue; /* a dangling name: nothing to show */
        json_t *j = json_loadb(rec.base, rec.len, 0, NULL);
        if (j == NULL || json_array_append_new(*out, j) != 0) {
            rc = j ? HUB_ENOMEM : HUB_EIO;
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

int hub_auth_token_delete(hub_txn *txn, const char *name)
{
    char hash[HASH_HEX_LEN + 1];
    hub_slice v;
    if (name == NULL || !name_valid(name, strlen(name)))
        return HUB_ENOTFOUND;
    int rc = hub_txn_get(txn, HUB_DB_TOKEN_NAMES, hub_slice_cstr(name), &v);
    if (rc != 0)
        return rc;
    if (v.len != HASH_HEX_LEN)
        return HUB_EIO;
    /* Copy first: the value is borrowed and the writes below invalidate it. */
    memcpy(hash, v.base, HASH_HEX_LEN);
    hash[HASH_HEX_LEN] = '\0';
    uint64_t gen;
    rc = hub_txn_next_seq(txn, "tokens_gen", &gen); /* invalidates the lookup caches */
    if (rc != 0)
        return rc;
    rc = hub_txn_del(txn, HUB_DB_TOKENS, (hub_slice){hash, HASH_HEX_LEN});
    if (rc != 0 && rc != HUB_ENOTFOUND)
        return rc;
    return hub_txn_del(txn, HUB_DB_TOKEN_NAMES, hub_slice_cstr(name));
}

/* ---- limits ---------------------------------------------------------------------------- */

int hub_principal_allows_channel(const hub_principal *p, const char *channel)
{
    if (p->nchannels == 0)
        return 1;
    if (channel == NULL)
        return 0;
    for (size_t i = 0; i < p->nchannels && i < HUB_TOKEN_LIMITS_MAX; i++) {
        if (strcmp(p->channels[i], channel) == 0)
            return 1;
    }
    return 0;
}

int hub_principal_allows_tags(const hub_principal *p, json_t *tags)
{
    if (p->ntags == 0)
        return 1;
    size_t n = json_array_size(tags);
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(tags, i);
        if (!json_is_string(t))
            continue;
        for (size_t j = 0; j < p->ntags && j < HUB_TOKEN_LIMITS_MAX; j++) {
            if (hub_term_within(json_string_value(t), json_string_length(t), p->tags[j],
                                strlen(p->tags[j])))
                return 1;
        }
    }
    return 0;
}
