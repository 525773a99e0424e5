/*
 * auth: API tokens and roles. A token's secret is 32 random bytes from OpenSSL's RAND_bytes
 * (256 bits), shown once as "oh_" + base64url; only its SHA-256 is stored. Lookup hashes the
 * presented secret and finds the record by hash; the stored hash is compared with
 * CRYPTO_memcmp as well.
 *
 * Records: HUB_DB_TOKENS sha256-hex -> JSON {"name","role","channels":[...]|null,
 * "tags":[...]|null,"created_at"}; HUB_DB_TOKEN_NAMES name -> sha256-hex.
 */
#ifndef HUB_AUTH_H
#define HUB_AUTH_H

#include <jansson.h>

#include "base/base.h"
#include "store/store.h"

typedef enum hub_role {
    HUB_ROLE_NONE = 0,
    HUB_ROLE_DELIVERY = 1,
    HUB_ROLE_PREVIEW = 2,
    HUB_ROLE_EDITOR = 3,
    HUB_ROLE_ADMIN = 4,
} hub_role;

#define HUB_TOKEN_NAME_MAX   64
#define HUB_TOKEN_LIMITS_MAX 16 /* channels or tag prefixes per token */
#define HUB_TOKEN_SECRET_LEN 47 /* "oh_" + 43 base64url chars + NUL */

/* The identity behind a request: a copy, valid without the transaction. */
typedef struct hub_principal {
    char name[HUB_TOKEN_NAME_MAX + 1];
    hub_role role;
    size_t nchannels; /* 0: all channels */
    char channels[HUB_TOKEN_LIMITS_MAX][32];
    size_t ntags; /* 0: all items */
    char tags[HUB_TOKEN_LIMITS_MAX][201];
} hub_principal;

/* "admin" -> HUB_ROLE_ADMIN; HUB_ROLE_NONE if unknown. And back (static string). */
hub_role hub_role_parse(const char *s);
const char *hub_role_name(hub_role r);

/* SHA-256 of the bytes as lower-case hex. 0 or HUB_EIO. */
#define HUB_SHA256_HEX_LEN 64
int hub_sha256_hex(const void *data, size_t len, char out[HUB_SHA256_HEX_LEN + 1]);

/*
 * Creates a token from spec {"name": 1..64 of [A-Za-z0-9._-], "role", "channels": [..]
 * (editor only), "tags": [prefixes] (editor only)}. Unknown members, bad values: HUB_EINVAL
 * with problems; a taken name: HUB_EEXISTS. Writes the secret into secret_out and the
 * public record (new reference, no secret) into *record_out (may be NULL).
 */
int hub_auth_token_create(hub_txn *txn, json_t *spec, char secret_out[HUB_TOKEN_SECRET_LEN],
                          json_t **record_out, hub_error *err);
/* Finds the token for a presented secret. 0 and *out filled, or HUB_EUNAUTH. */
int hub_auth_lookup(hub_txn *txn, const char *secret, size_t len, hub_principal *out);
/* Array of public records, name order. New reference. */
int hub_auth_token_list(hub_txn *txn, json_t **out);
/* HUB_ENOTFOUND when no token has that name. */
int hub_auth_token_delete(hub_txn *txn, const char *name);

/* 1 if the principal may touch `channel` (no channel limits, or listed). */
int hub_principal_allows_channel(const hub_principal *p, const char *channel);
/* 1 if the principal may touch an item with these tags (array of strings): no tag limits,
 * or some tag lies within one of the prefixes (hub_term_within-like: "campaign/" matches
 * "campaign/x"; a prefix without the trailing slash matches the term and its descendants). */
int hub_principal_allows_tags(const hub_principal *p, json_t *tags);

#endif
