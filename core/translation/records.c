/*
 * Translation records (HUB_DB_TRANSLATIONS): for each field a translation was imported into,
 * the source locale and the checksum of the source text it translates, so that an export
 * knows which translations the source has since moved away from. Key
 * "item\0variant\0locale\0channel\0field"; value {"source","checksum","target","at"} as
 * compact JSON (target: the checksum of the translation the import wrote).
 * Deleting an item deletes its records (core/content).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define RKEY_MAX 512

static int record_key(char out[RKEY_MAX], const char *item, const char *variant, const char *locale,
                      const char *channel, const char *field, size_t *len)
{
    const char *parts[] = {item, variant, locale, channel, field};
    size_t n = 0;
    for (size_t i = 0; i < 5; i++) {
        size_t l = strlen(parts[i]);
        if (n + l + 1 > RKEY_MAX)
            return HUB_EINVAL;
        memcpy(out + n, parts[i], l);
        n += l;
        if (i < 4)
            out[n++] = '\0';
    }
    *len = n;
    return 0;
}

int tr_record_get(hub_txn *txn, const char *item, const char *variant, const char *locale,
                  const char *channel, const char *field, tr_record *out)
{
    char k[RKEY_MAX];
    size_t n;
    hub_slice v;
    if (record_key(k, item, variant, locale, channel, field, &n) != 0)
        return HUB_ENOTFOUND; /* no key that long was ever stored */
    int rc = hub_txn_get(txn, HUB_DB_TRANSLATIONS, (hub_slice){k, n}, &v);
    if (rc != 0)
        return rc;
    json_t *doc = json_loadb(v.base, v.len, 0, NULL);
    const char *src = json_string_value(json_object_get(doc, "source"));
    const char *sum = json_string_value(json_object_get(doc, "checksum"));
    const char *tgt = json_string_value(json_object_get(doc, "target"));
    json_t *at = json_object_get(doc, "at");
    if (src == NULL || sum == NULL || tgt == NULL || !json_is_integer(at) ||
        strlen(src) >= sizeof(out->source) || strlen(sum) != HUB_SHA256_HEX_LEN ||
        strlen(tgt) != HUB_SHA256_HEX_LEN) {
        json_decref(doc);
        return HUB_EIO;
    }
    snprintf(out->source, sizeof(out->source), "%s", src);
    memcpy(out->checksum, sum, HUB_SHA256_HEX_LEN + 1);
    memcpy(out->target, tgt, HUB_SHA256_HEX_LEN + 1);
    out->at_ms = json_integer_value(at);
    json_decref(doc);
    return 0;
}

int tr_record_put(hub_txn *txn, const char *item, const char *variant, const char *locale,
                  const char *channel, const char *field, const tr_record *rec)
{
    char k[RKEY_MAX];
    size_t n;
    int rc = record_key(k, item, variant, locale, channel, field, &n);
    if (rc != 0)
        return rc;
    json_t *doc = json_pack("{s:s,s:s,s:s,s:I}", "source", rec->source, "checksum", rec->checksum,
                            "target", rec->target, "at", (json_int_t)rec->at_ms);
    char *text = doc == NULL ? NULL : json_dumps(doc, JSON_COMPACT);
    rc = text == NULL ? HUB_ENOMEM
                      : hub_txn_put(txn, HUB_DB_TRANSLATIONS, (hub_slice){k, n},
                                    (hub_slice){text, strlen(text)});
    free(text);
    json_decref(doc);
    return rc;
}
