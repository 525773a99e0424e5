/*
 * locale: BCP 47 tags (RFC 5646 syntax, canonical case), the configured locales and their
 * fallback chains.
 *
 * A chain is defined recursively: chain(L) = [L] + chain(next(L)), where next(L) is L's
 * explicit `fallback` if set, else the first configured locale reached by RFC 4647 lookup
 * truncation of L (de-AT -> de), else the default locale; the default's chain is [default].
 * So every chain ends at the default, and the tail of a chain after X is chain(X). Chains
 * are recomputed and stored in each locale record whenever any locale is written.
 *
 * Records in HUB_DB_LOCALES: tag -> JSON {"tag","name","fallback"(string|null),"default"
 * (bool),"chain":[tags]}. Exactly one locale is the default once any exists.
 *
 * Thread-safety: the parsers are pure; the rest run inside the caller's transaction.
 */
#ifndef HUB_LOCALE_H
#define HUB_LOCALE_H

#include <jansson.h>

#include "base/base.h"
#include "store/store.h"

#define HUB_LOCALE_TAG_MAX   64 /* bytes, with the NUL; longer tags are refused */
#define HUB_LOCALE_CHAIN_MAX 16

/*
 * Checks that in[0..len) is a well-formed BCP 47 language tag (language, extlang, script,
 * region, variants, extensions, private use; grandfathered tags are refused) and writes it in
 * canonical case (language lower, Script title, REGION upper) to out.
 * HUB_EINVAL with a one-line reason in err (err may be NULL).
 */
int hub_locale_canonicalize(const char *in, size_t len, char out[HUB_LOCALE_TAG_MAX],
                            hub_error *err);

/* One RFC 4647 lookup truncation step in place ("zh-Hant-HK" -> "zh-Hant"; a singleton left
 * at the end is removed with it, as are one-character private-use subtags, so the result stays
 * well-formed: "es-x-t-tnn" -> "es"). 0, or HUB_ENOTFOUND when nothing is left to remove. */
int hub_locale_truncate(char *tag);

typedef struct hub_locale_chain {
    size_t count;
    char tags[HUB_LOCALE_CHAIN_MAX][HUB_LOCALE_TAG_MAX];
} hub_locale_chain;

/*
 * Creates or replaces locale `tag` (canonical) from body {"name": string (required, 1..200
 * bytes), "fallback": tag|null, "default": bool}. Unknown members, a fallback that is not
 * configured, or a fallback cycle: HUB_EINVAL with problems in err. Recomputes every chain.
 * *chains_changed is set to 1 when any stored chain differs from before (content that was
 * resolved through chains must then be re-resolved).
 */
int hub_locale_put(hub_txn *txn, const char *tag, json_t *body, int *chains_changed,
                   hub_error *err);
/* The record (new reference) or HUB_ENOTFOUND. */
int hub_locale_get(hub_txn *txn, const char *tag, json_t **out);
/* Array of every record in tag order (new reference). */
int hub_locale_list(hub_txn *txn, json_t **out);
/* Deletes a locale. HUB_EINUSE when another locale falls back to it or when it is the
 * default while others exist (the caller checks content first). Recomputes chains. */
int hub_locale_delete(hub_txn *txn, const char *tag, int *chains_changed, hub_error *err);
/* 1 if tag (canonical) is configured, else 0. */
int hub_locale_exists(hub_txn *txn, const char *tag);
/* The default tag into out, or HUB_ENOTFOUND when no locale exists. */
int hub_locale_default(hub_txn *txn, char out[HUB_LOCALE_TAG_MAX]);

/*
 * The chain for a requested tag (canonical): its stored chain if configured; else the chain
 * of the first configured locale reached by truncation; else the default's chain. With no
 * locales configured: HUB_ENOTFOUND. (Named _get: hub_locale_chain is the type.)
 */
int hub_locale_chain_get(hub_txn *txn, const char *requested, hub_locale_chain *out);

#endif
