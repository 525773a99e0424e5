/*
 * taxonomy: the six facets and their terms. A term is "facet/segment[/segment...]", each
 * segment 1..64 bytes of [a-z0-9] and '-', '_', '.', starting with a letter or digit; a
 * term is at most 200 bytes. Facets themselves are implicit and always exist; a term's
 * parent must exist before it (the facet's direct children need only the facet).
 *
 * Records in HUB_DB_TERMS: term -> JSON {"label","description"}.
 * Usage: HUB_DB_TAG_ITEMS holds "term\0item key" for every item tagged with the term
 * (written by content); a term is in use when it or any descendant has entries.
 */
#ifndef HUB_TAXONOMY_H
#define HUB_TAXONOMY_H

#include <jansson.h>

#include "base/base.h"
#include "store/store.h"

#define HUB_TERM_MAX 200

/* The facet names, in a fixed order; NULL-terminated. */
extern const char *const hub_taxonomy_facets[];

/* 1 if s names a facet. */
int hub_taxonomy_is_facet(const char *s, size_t len);

/* Checks the term grammar (not existence). HUB_EINVAL with the reason in err (may be NULL). */
int hub_term_check(const char *term, size_t len, hub_error *err);

/* 1 if `term` equals `prefix` or is a descendant of it (prefix followed by '/'). */
int hub_term_within(const char *term, size_t term_len, const char *prefix, size_t prefix_len);

/*
 * Creates or replaces a term from body {"label": string (required, 1..200 bytes),
 * "description": string (optional, <= 2000 bytes)}. Unknown members: HUB_EINVAL with
 * problems. Missing parent: HUB_EINVAL. A bare facet ("product") cannot be written.
 */
int hub_taxonomy_put(hub_txn *txn, const char *term, json_t *body, hub_error *err);
/* 1 if the term exists (a bare facet name always exists), else 0. */
int hub_taxonomy_exists(hub_txn *txn, const char *term);
/* {"term","facet","label","description","children":[{"term","label"}...],"item_count"} for
 * a term, or for a bare facet {"term":facet,"facet":facet,"children":[...],"item_count"}.
 * item_count counts distinct items tagged with the term or a descendant. New reference. */
int hub_taxonomy_get(hub_txn *txn, const char *term, json_t **out);
/* {"facets":[{"facet","terms":[{"term","label","description","children":[...]}]}]} */
int hub_taxonomy_tree(hub_txn *txn, json_t **out);
/* HUB_EINUSE when the term has children or items; HUB_ENOTFOUND when missing. */
int hub_taxonomy_delete(hub_txn *txn, const char *term, hub_error *err);

#endif
