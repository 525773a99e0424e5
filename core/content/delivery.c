/*
 * content/delivery.c: the materialized delivery documents and their hot read path.
 *
 * Head (HUB_DB_HEADS, item key -> value), compact binary so that a read needs no JSON:
 *   [u8 'H'][u8 2 (format)][be32 version]
 *   then four lists in this order: variant ids (the first is the base), tags, channels,
 *   content locales; each list is [be16 count] and count times [be16 len][bytes];
 *   then the experiment plan (hub_plan_encode) and, last, [be32 plan length].
 *   Format 1 (before experiments) had no plan: hub_content_plan compiles one from the
 *   published version for such a head.
 *
 * Delivery document (HUB_DB_DELIVERY, "key\0variant\0locale\0channel" -> value):
 *   [be32 etag len][be32 surrogate len][be32 locale len][etag][surrogate][locale][body]
 *   etag: "\"" + 32 hex digits of hub_hash128(body) + "\""; surrogate: "item:<key>" and
 *   " tag:<t>" per tag; locale: the Content-Language served; body: the compact JSON
 *   {"key","version","variant","experiment_bucket":null,"locale","channel","fields",
 *   "resolved_from"}, keys in that order.
 *   A document exists for (v, X, c) only when some field of c resolves from X itself; see
 *   provides().
 *
 * A read is one head get, the locale chain, and one get per chain locale until a hit; the
 * returned slices point into the map (no copy, no allocation).
 */
#include "content/content.h"

#include <stdlib.h>
#include <string.h>

#define DKEY_MAX 511

/* ---- hash ------------------------------------------------------------------------------ */

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void hub_hash128(const void *data, size_t len, unsigned char out[16])
{
    const unsigned char *p = data;
    uint64_t a = 0xcbf29ce484222325ULL, b = 0x84222325cbf29ce4ULL ^ (uint64_t)len;
    for (size_t i = 0; i < len; i++) {
        a = (a ^ p[i]) * 0x100000001b3ULL;
        b = (b ^ p[i]) * 0x00000100000001b3ULL + 0x9e3779b97f4a7c15ULL;
        b ^= b >> 29;
    }
    uint64_t h1 = mix64(a ^ mix64(b)), h2 = mix64(b + 0x9e3779b97f4a7c15ULL * h1);
    for (int i = 0; i < 8; i++) {
        out[i] = (unsigned char)(h1 >> (56 - 8 * i));
        out[8 + i] = (unsigned char)(h2 >> (56 - 8 * i));
    }
}

/* ---- head ------------------------------------------------------------------------------ */

static int put_str(hub_buf *b, const char *s)
{
    size_t len = strlen(s);
    unsigned char l[2] = {(unsigned char)(len >> 8), (unsigned char)len};
    if (len > 0xffff)
        return HUB_ETOOBIG;
    int rc = hub_buf_append(b, l, 2);
    return rc != 0 ? rc : hub_buf_append(b, s, len);
}

/* Appends a list of the keys of an object used as an ordered set. */
static int put_list(hub_buf *b, json_t *set)
{
    const char *k;
    json_t *unused;
    size_t n = json_object_size(set);
    unsigned char l[2] = {(unsigned char)(n >> 8), (unsigned char)n};
    int rc = n > 0xffff ? HUB_ETOOBIG : hub_buf_append(b, l, 2);
    json_object_foreach(set, k, unused)
    {
        if (rc == 0)
            rc = put_str(b, k);
    }
    return rc;
}

/* Reads one [be16 len][bytes] entry at *pos. 0 or HUB_EIO when it overruns. */
static int get_str(hub_slice h, size_t *pos, hub_slice *out)
{
    if (h.len - *pos < 2)
        return HUB_EIO;
    const unsigned char *p = (const unsigned char *)h.base + *pos;
    size_t len = ((size_t)p[0] << 8) | p[1];
    if (h.len - *pos - 2 < len)
        return HUB_EIO;
    *out = (hub_slice){h.base + *pos + 2, len};
    *pos += 2 + len;
    return 0;
}

static int head_check(hub_slice h)
{
    return h.len >= 8 && h.base[0] == 'H' && (h.base[1] == 1 || h.base[1] == 2) ? 0 : HUB_EIO;
}

/* The plan stored at the end of a format 2 head. */
static int head_plan(hub_slice h, hub_slice *out)
{
    if (h.base[1] != 2 || h.len < 12)
        return HUB_ENOTFOUND;
    size_t n = hub_be32_get((const unsigned char *)h.base + h.len - 4);
    if (n > h.len - 12)
        return HUB_EIO;
    *out = (hub_slice){h.base + h.len - 4 - n, n};
    return 0;
}

/* Compiles the plan of a stored document (the draft, or the published version of an old
 * head) into scratch. */
static int plan_of_doc(hub_txn *txn, const char *key, int draft, hub_buf *scratch, hub_slice *out)
{
    json_t *doc = NULL;
    int rc =
        draft ? hub_content_get_draft(txn, key, &doc) : hub_content_get_published(txn, key, &doc);
    hub_buf_reset(scratch);
    if (rc == 0)
        rc = hub_plan_encode(doc, scratch);
    json_decref(doc);
    if (rc == 0)
        *out = (hub_slice){scratch->data, scratch->len};
    return rc;
}

int hub_content_plan(hub_txn *txn, hub_slice key, int draft, hub_buf *scratch, hub_plan *out,
                     uint32_t *version)
{
    hub_slice h, bytes;
    char k[HUB_ITEM_KEY_MAX + 1];
    uint32_t v = 0;
    if (key.len == 0 || key.len > HUB_ITEM_KEY_MAX || memchr(key.base, '\0', key.len) != NULL)
        return HUB_ENOTFOUND;
    memcpy(k, key.base, key.len);
    k[key.len] = '\0';
    int rc = 0;
    if (draft) {
        rc = plan_of_doc(txn, k, 1, scratch, &bytes);
    } else {
        rc = hub_txn_get(txn, HUB_DB_HEADS, key, &h);
        if (rc == 0)
            rc = head_check(h);
        if (rc == 0) {
            v = hub_be32_get((const unsigned char *)h.base + 2);
            rc = head_plan(h, &bytes);
            if (rc == HUB_ENOTFOUND) /* a head from before plans */
                rc = plan_of_doc(txn, k, 0, scratch, &bytes);
        }
    }
    if (rc == 0)
        rc = hub_plan_decode(bytes, out);
    if (rc == 0 && version != NULL)
        *version = v;
    return rc;
}

int hub_content_head_version(hub_txn *txn, const char *key, uint32_t *out)
{
    hub_slice h;
    if (key[0] == '\0' || strlen(key) > HUB_ITEM_KEY_MAX)
        return HUB_ENOTFOUND;
    int rc = hub_txn_get(txn, HUB_DB_HEADS, hub_slice_cstr(key), &h);
    if (rc == 0)
        rc = head_check(h);
    if (rc == 0)
        *out = hub_be32_get((const unsigned char *)h.base + 2);
    return rc;
}

/* Finds variant `want` (len 0: the base) among the head's variants. */
static int head_variant(hub_slice h, hub_slice want, hub_slice *out)
{
    size_t pos = 8;
    const unsigned char *p = (const unsigned char *)h.base + 6;
    size_t n = ((size_t)p[0] << 8) | p[1];
    for (size_t i = 0; i < n; i++) {
        hub_slice id;
        if (get_str(h, &pos, &id) != 0)
            return HUB_EIO;
        if (want.len == 0 || (id.len == want.len && memcmp(id.base, want.base, id.len) == 0)) {
            *out = id;
            return 0;
        }
    }
    return HUB_ENOTFOUND;
}

/* ---- materialize ----------------------------------------------------------------------- */

/* The ordered sets of an item: variant ids, tags, channels, content locales. */
typedef struct item_sets {
    json_t *variants, *tags, *channels, *locales;
} item_sets;

static void sets_free(item_sets *s)
{
    json_decref(s->variants);
    json_decref(s->tags);
    json_decref(s->channels);
    json_decref(s->locales);
}

static int sets_collect(json_t *doc, item_sets *s)
{
    size_t i;
    json_t *v;
    s->variants = json_object();
    s->tags = json_object();
    s->channels = json_object();
    s->locales = json_object();
    if (!s->variants || !s->tags || !s->channels || !s->locales)
        return HUB_ENOMEM;
    json_array_foreach(json_object_get(doc, "tags"), i, v)
    {
        if (json_is_string(v))
            json_object_set(s->tags, json_string_value(v), json_true());
    }
    json_array_foreach(json_object_get(doc, "variants"), i, v)
    {
        const char *loc, *ch;
        json_t *lv, *unused;
        const char *id = json_string_value(json_object_get(v, "id"));
        if (id == NULL)
            return HUB_EIO;
        json_object_set(s->variants, id, json_true());
        json_object_foreach(json_object_get(v, "content"), loc, lv)
        {
            json_object_set(s->locales, loc, json_true());
            json_object_foreach(lv, ch, unused) json_object_set(s->channels, ch, json_true());
        }
    }
    return 0;
}

/* A bandit item keeps a weights record (equal weights until the first re-weighting); other
 * items have none. */
static int bandit_keep(hub_txn *txn, const char *key, hub_slice plan_bytes)
{
    hub_plan p;
    double w[HUB_PLAN_VARIANTS_MAX];
    int rc = hub_plan_decode(plan_bytes, &p);
    if (rc != 0)
        return rc;
    if (p.allocation != HUB_ALLOC_BANDIT)
        return hub_bandit_drop(txn, hub_slice_cstr(key));
    rc = hub_bandit_get(txn, hub_slice_cstr(key), &p, w, NULL);
    if (rc != HUB_ENOTFOUND)
        return rc;
    hub_bandit_equal(&p, w);
    return hub_bandit_put(txn, hub_slice_cstr(key), &p, w, hub_now_ms());
}

static int write_head(hub_txn *txn, const char *key, uint32_t version, const item_sets *s,
                      json_t *doc)
{
    hub_buf b;
    unsigned char hdr[6] = {'H', 2, 0, 0, 0, 0}, plen[4];
    hub_be32_put(hdr + 2, version);
    hub_buf_init(&b, 1u << 20);
    int rc = hub_buf_append(&b, hdr, sizeof(hdr));
    if (rc == 0)
        rc = put_list(&b, s->variants);
    if (rc == 0)
        rc = put_list(&b, s->tags);
    if (rc == 0)
        rc = put_list(&b, s->channels);
    if (rc == 0)
        rc = put_list(&b, s->locales);
    size_t at = b.len;
    if (rc == 0)
        rc = hub_plan_encode(doc, &b);
    hub_be32_put(plen, (uint32_t)(b.len - at));
    if (rc == 0)
        rc = hub_buf_append(&b, plen, 4);
    if (rc == 0)
        rc = bandit_keep(txn, key, (hub_slice){b.data + at, b.len - at - 4});
    if (rc == 0)
        rc = hub_txn_put(txn, HUB_DB_HEADS, hub_slice_cstr(key), (hub_slice){b.data, b.len});
    hub_buf_free(&b);
    return rc;
}

/* The delivery body (new reference). fields and resolved_from are stolen. */
static json_t *make_body(const char *key, json_t *version, const char *variant, const char *locale,
                         const char *channel, json_t *fields, json_t *resolved_from)
{
    return json_pack("{s:s,s:O,s:s,s:n,s:s,s:s,s:o,s:o}", "key", key, "version", version, "variant",
                     variant, "experiment_bucket", "locale", locale, "channel", channel, "fields",
                     fields, "resolved_from",
                     resolved_from != NULL ? resolved_from : json_object());
}

/* Key "key\0variant\0locale\0channel" into out; 0 when it would not fit. */
static size_t delivery_key(char out[DKEY_MAX], hub_slice parts[4])
{
    size_t n = 0;
    for (int i = 0; i < 4; i++) {
        if (n + parts[i].len + (i < 3) > DKEY_MAX)
            return 0;
        memcpy(out + n, parts[i].base, parts[i].len);
        n += parts[i].len;
        if (i < 3)
            out[n++] = '\0';
    }
    return n;
}

static int put_doc(hub_txn *txn, hub_slice parts[4], json_t *body, const char *surrogate)
{
    char dk[DKEY_MAX], etag[40];
    unsigned char h[16];
    hub_buf b;
    size_t klen = delivery_key(dk, parts);
    char *s = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s == NULL)
        return HUB_ENOMEM;
    size_t blen = strlen(s), slen = strlen(surrogate);
    hub_hash128(s, blen, h);
    etag[0] = '"';
    hub_hex(h, 16, etag + 1);
    etag[33] = '"';
    etag[34] = '\0';
    unsigned char hdr[12];
    hub_be32_put(hdr, 34);
    hub_be32_put(hdr + 4, (uint32_t)slen);
    hub_be32_put(hdr + 8, (uint32_t)parts[2].len);
    hub_buf_init(&b, 64u << 20);
    int rc = klen == 0 ? HUB_EINVAL : hub_buf_append(&b, hdr, sizeof(hdr));
    if (rc == 0)
        rc = hub_buf_append(&b, etag, 34);
    if (rc == 0)
        rc = hub_buf_append(&b, surrogate, slen);
    if (rc == 0)
        rc = hub_buf_append(&b, parts[2].base, parts[2].len);
    if (rc == 0)
        rc = hub_buf_append(&b, s, blen);
    if (rc == 0)
        rc = hub_txn_put(txn, HUB_DB_DELIVERY, (hub_slice){dk, klen}, (hub_slice){b.data, b.len});
    hub_buf_free(&b);
    free(s);
    return rc;
}

static int surrogate_of(const char *key, json_t *tags, hub_buf *out)
{
    const char *t;
    json_t *unused;
    int rc = hub_buf_printf(out, "item:%s", key);
    json_object_foreach(tags, t, unused)
    {
        if (rc == 0)
            rc = hub_buf_printf(out, " tag:%s", t);
    }
    return rc;
}

/*
 * 0 when resolved_from shows that no field came from locale X itself. Such a document would
 * be identical, field for field, to the one of the next locale of X's chain (the tail of
 * chain(X) is the chain of that locale), so it is not stored: the read walks on to the locale
 * that really provides the content, and Content-Language names it.
 */
static int provides(json_t *resolved_from, const char *x)
{
    const char *f;
    json_t *v;
    int known = 0;
    json_object_foreach(resolved_from, f, v)
    {
        const char *loc = json_string_value(json_object_get(v, "locale"));
        if (loc == NULL)
            return 1; /* an unexpected shape: keep the document */
        if (strcmp(loc, x) == 0)
            return 1;
        known = 1;
    }
    return !known;
}

/* Materializes every variant and channel of one content locale. */
static int materialize_locale(hub_txn *txn, const hub_schema_set *schemas, json_t *doc,
                              const char *loc, const item_sets *s, const char *surrogate)
{
    hub_locale_chain chain;
    const char *vid, *ch, *key = json_string_value(json_object_get(doc, "key"));
    json_t *unused, *unused2;
    size_t vi = 0;
    int rc = hub_locale_chain_get(txn, loc, &chain);
    if (rc != 0)
        return rc;
    json_object_foreach(s->variants, vid, unused)
    {
        json_object_foreach(s->channels, ch, unused2)
        {
            json_t *from = NULL;
            json_t *fields = hub_item_resolve_channel(doc, vi, &chain, ch, schemas, &from);
            if (fields == NULL || !provides(from, loc)) {
                json_decref(fields);
                json_decref(from);
                continue;
            }
            json_t *body =
                make_body(key, json_object_get(doc, "version"), vid, loc, ch, fields, from);
            hub_slice parts[4] = {hub_slice_cstr(key), hub_slice_cstr(vid), hub_slice_cstr(loc),
                                  hub_slice_cstr(ch)};
            rc = body == NULL ? HUB_ENOMEM : put_doc(txn, parts, body, surrogate);
            json_decref(body);
            if (rc != 0)
                return rc;
        }
        vi++;
    }
    return 0;
}

static int delete_docs(hub_txn *txn, const char *key)
{
    hub_cursor *c;
    hub_slice k, v;
    size_t i, plen = strlen(key) + 1;
    json_t *kv, *keys = json_array();
    int rc = keys == NULL ? HUB_ENOMEM : hub_cursor_open(txn, HUB_DB_DELIVERY, &c);
    if (rc != 0) {
        json_decref(keys);
        return rc;
    }
    /* Collect first: deleting would invalidate the borrowed keys. The keys contain NULs,
     * which jansson strings with a length keep. */
    rc = hub_cursor_seek(c, (hub_slice){key, plen}, &k, &v);
    while (rc == 0 && k.len >= plen && memcmp(k.base, key, plen) == 0) {
        json_array_append_new(keys, json_stringn_nocheck(k.base, k.len));
        rc = hub_cursor_next(c, &k, &v);
    }
    hub_cursor_close(c);
    rc = rc == HUB_ENOTFOUND ? 0 : rc;
    json_array_foreach(keys, i, kv)
    {
        if (rc == 0)
            rc = hub_txn_del(txn, HUB_DB_DELIVERY,
                             (hub_slice){json_string_value(kv), json_string_length(kv)});
    }
    json_decref(keys);
    return rc;
}

int hub_content_unmaterialize(hub_txn *txn, const char *key)
{
    int rc = hub_txn_del(txn, HUB_DB_HEADS, hub_slice_cstr(key));
    if (rc != 0 && rc != HUB_ENOTFOUND)
        return rc;
    rc = hub_bandit_drop(txn, hub_slice_cstr(key));
    if (rc != 0)
        return rc;
    return delete_docs(txn, key);
}

int hub_content_materialize(hub_txn *txn, const hub_schema_set *schemas, const char *key,
                            json_t *doc)
{
    item_sets s = {0};
    hub_buf sur;
    const char *loc;
    json_t *unused;
    hub_buf_init(&sur, 1u << 20);
    int rc = delete_docs(txn, key);
    if (rc == 0)
        rc = sets_collect(doc, &s);
    if (rc == 0)
        rc = write_head(txn, key, (uint32_t)json_integer_value(json_object_get(doc, "version")), &s,
                        doc);
    if (rc == 0)
        rc = surrogate_of(key, s.tags, &sur);
    json_object_foreach(s.locales, loc, unused)
    {
        if (rc == 0)
            rc = materialize_locale(txn, schemas, doc, loc, &s, sur.data);
    }
    sets_free(&s);
    hub_buf_free(&sur);
    return rc;
}

/* ---- reads ----------------------------------------------------------------------------- */

static int decode_doc(hub_slice v, hub_delivery_doc *out)
{
    if (v.len < 12)
        return HUB_EIO;
    const unsigned char *p = (const unsigned char *)v.base;
    size_t el = hub_be32_get(p), sl = hub_be32_get(p + 4), ll = hub_be32_get(p + 8);
    size_t rest = v.len - 12;
    if (el > rest || sl > rest - el || ll > rest - el - sl)
        return HUB_EIO;
    out->etag = (hub_slice){v.base + 12, el};
    out->surrogate = (hub_slice){v.base + 12 + el, sl};
    out->locale = (hub_slice){v.base + 12 + el + sl, ll};
    out->body = (hub_slice){v.base + 12 + el + sl + ll, rest - el - sl - ll};
    return 0;
}

static int bad_part(hub_slice s)
{
    return s.len == 0 || s.len > DKEY_MAX || memchr(s.base, '\0', s.len) != NULL;
}

static int read_chain(hub_txn *txn, const char *locale, hub_locale_chain *chain)
{
    char def[HUB_LOCALE_TAG_MAX];
    if (locale == NULL || locale[0] == '\0') {
        int rc = hub_locale_default(txn, def);
        if (rc != 0)
            return rc;
        locale = def;
    }
    return hub_locale_chain_get(txn, locale, chain);
}

int hub_content_delivery(hub_txn *txn, hub_slice key, hub_slice variant, const char *locale,
                         hub_slice channel, hub_delivery_doc *out, hub_error *err)
{
    hub_slice head, vid, v;
    hub_locale_chain chain;
    char dk[DKEY_MAX];
    if (bad_part(key) || key.len > HUB_ITEM_KEY_MAX ||
        hub_txn_get(txn, HUB_DB_HEADS, key, &head) != 0 || head_check(head) != 0)
        return hub_error_set(err, HUB_ENOTFOUND, "item is not published");
    if ((variant.len > 0 && bad_part(variant)) || head_variant(head, variant, &vid) != 0)
        return hub_error_set(err, HUB_ENOTFOUND, "unknown variant");
    if (!bad_part(channel) && read_chain(txn, locale, &chain) == 0) {
        for (size_t i = 0; i < chain.count; i++) {
            hub_slice parts[4] = {key, vid, hub_slice_cstr(chain.tags[i]), channel};
            size_t klen = delivery_key(dk, parts);
            if (klen == 0 || hub_txn_get(txn, HUB_DB_DELIVERY, (hub_slice){dk, klen}, &v) != 0)
                continue;
            if (decode_doc(v, out) != 0)
                return hub_error_set(err, HUB_EIO, "a stored delivery document is corrupt");
            return 0;
        }
    }
    return hub_error_set(err, HUB_ENOTFOUND, "no %.*s content for this item",
                         (int)(channel.len > 32 ? 32 : channel.len), channel.base);
}
