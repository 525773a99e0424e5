/*
 * content: items (messages and blocks) with variants, localized per channel; drafts,
 * validation of form, publishing into immutable versions, the materialized delivery
 * documents, the changes feed, the audit log and journeys.
 *
 * Item document (what clients PUT), see API.md "Items":
 *   {"key","kind":"message"|"block","title","tags":[terms],"variants":[{"id","weight"?,
 *    "audience"?:{"any"|"all"|"none":[segment terms]},"content":{locale:{channel:{field:
 *    string}}}}],"experiment"?:{...},"publish_at"?,"unpublish_at"?}
 * The first variant is the base variant.
 *
 * Stored draft (HUB_DB_DRAFTS): the item plus "revision" (1, 2, ...), "created_at",
 * "updated_at", "updated_by", "published_version" (number|null). Its ETag is "\"r<revision>\"".
 *
 * Publishing version n stores the item in HUB_DB_VERSIONS (key\0be32 n) with "version",
 * "published_at", "published_by"; a head in HUB_DB_HEADS; and, for every variant v, every
 * locale X the item has content in (any variant), every channel c the item has content for,
 * one materialized delivery document in HUB_DB_DELIVERY under "key\0v\0X\0c": the exact
 * response body of GET /v1/content for a request whose chain reaches X first, resolved with
 * chain(X) (field by field: v's field, else the base variant's field, for each locale of the
 * chain in turn; the first hit wins). Reads walk the requested chain and serve the first X
 * that has a document, so a read is a few LMDB gets and a copy.
 *
 * All functions taking a hub_txn run inside the caller's transaction (the writer thread for
 * writes). Returned json_t are new references unless stated.
 */
#ifndef HUB_CONTENT_H
#define HUB_CONTENT_H

#include <jansson.h>

#include "auth/auth.h"
#include "base/base.h"
#include "experiment/experiment.h"
#include "locale/locale.h"
#include "store/store.h"
#include "taxonomy/taxonomy.h"

#define HUB_ITEM_KEY_MAX   200
#define HUB_VARIANT_ID_MAX 64

/* ---- channel field schemas ------------------------------------------------------------- */

/* Built in until the channel plugins declare them (render issue). */
typedef struct hub_field_schema {
    const char *name;
    int required;     /* must resolve for every variant x targeted locale at publish */
    size_t max_bytes; /* raw template text limit */
    int is_object;    /* 1: a JSON object of string values (mobile "data"), else a string */
} hub_field_schema;

typedef struct hub_channel_schema {
    const char *name;
    const hub_field_schema *fields;
    size_t nfields;
} hub_channel_schema;

typedef struct hub_schema_set {
    const hub_channel_schema *channels;
    size_t nchannels;
} hub_schema_set;

/* email, sms, mobile, web with their fields. Static, never freed. */
const hub_schema_set *hub_content_builtin_schemas(void);
const hub_channel_schema *hub_schema_find(const hub_schema_set *set, const char *channel);

/* ---- validation (validate.c) ----------------------------------------------------------- */

/*
 * Item key grammar: 1..200 bytes, segments of [A-Za-z0-9._-] separated by single '/', no
 * empty, "." or ".." segment, and no segment named "versions", "publish", "unpublish" or
 * "rollback" (they are route words). HUB_EINVAL with the reason in err (may be NULL).
 */
int hub_item_key_check(const char *key, size_t len, hub_error *err);

/*
 * Checks the form of an item document: types, required members, unknown members, variant ids
 * (unique, [A-Za-z0-9_-], 1..64), weights (0..10000 numbers), audience shape, locale keys
 * (well-formed BCP 47, canonical case required), channels and field names known to `schemas`,
 * field sizes, experiment shape, RFC 3339 times, "key" equal to `key` when present.
 * Appends every problem found (JSON pointers into the document) to out; returns HUB_EINVAL
 * if any was added, else 0. Pure: no store access.
 */
int hub_item_validate_form(json_t *item, const char *key, const hub_schema_set *schemas,
                           hub_problems *out);

/* Checks that the item's tags and audience segment terms exist and its locales are
 * configured. Appends problems; HUB_EINVAL if any. */
int hub_item_validate_refs(hub_txn *txn, json_t *item, hub_problems *out);

/* Publish rule: every variant resolves every required field of every channel the item has
 * content for, in every locale it has content in. Appends problems with pointers like
 * "/variants/1/content/de/email/subject". HUB_EINVAL if any. */
int hub_item_validate_complete(hub_txn *txn, json_t *item, const hub_schema_set *schemas,
                               hub_problems *out);

/* RFC 7396 JSON merge patch: returns the patched copy of target (new reference). */
json_t *hub_json_merge_patch(json_t *target, json_t *patch);

/* ---- field resolution (schemas.c) ------------------------------------------------------ */
/*
 * The one resolution rule, shared by completeness checks and materialization: for (variant v,
 * chain), for each locale X of the chain in order, take v's content[X][channel][field] if
 * present, else the base variant's (variants[0]) content[X][channel][field]; the first hit
 * wins. Pure: no store access; safe from any thread on an item nobody modifies meanwhile.
 */

/*
 * Resolves one field. On 0: *out_value is borrowed from item, *out_variant_id is borrowed from
 * item (the id of the variant it came from; NULL if that variant has no string id), and
 * *out_locale is borrowed from chain (chain->tags[k]). Any out pointer may be NULL.
 * HUB_ENOTFOUND when nothing resolves (or variant_index is out of range).
 */
int hub_item_resolve_field(json_t *item, size_t variant_index, const hub_locale_chain *chain,
                           const char *channel, const char *field, json_t **out_value,
                           const char **out_variant_id, const char **out_locale);

/*
 * Resolves every field of `channel` in `schemas`: a new object {field: value} (the values are
 * shared with item: treat them as read-only), in schema field order. *out_resolved_from
 * (may be NULL) gets a new object {field: {"variant": id, "locale": X}}. Returns NULL, and
 * sets *out_resolved_from to NULL, when no field resolves, the channel is unknown or memory
 * runs out.
 */
json_t *hub_item_resolve_channel(json_t *item, size_t variant_index, const hub_locale_chain *chain,
                                 const char *channel, const hub_schema_set *schemas,
                                 json_t **out_resolved_from);

/* The locale served for a resolution: the first locale of chain that some field came from
 * (out_resolved_from of hub_item_resolve_channel), else the chain's first. Borrowed from
 * chain. */
const char *hub_served_locale(const hub_locale_chain *chain, json_t *resolved_from);

/* ---- items (items.c, publish.c) -------------------------------------------------------- */

/*
 * The channel rules a publish must pass beyond form and completeness (Liquid compiles, blocks
 * exist, each channel plugin's validation), supplied by the module above (render) so that
 * content does not depend on plugins. Runs in the publishing transaction; appends problems
 * and returns HUB_EINVAL if any, 0 if none, another code when it could not check.
 */
typedef int (*hub_publish_check)(void *ctx, hub_txn *txn, const char *key, json_t *item,
                                 hub_problems *out, json_t *warnings);

typedef struct hub_content_ctx {
    const hub_schema_set *schemas;
    const hub_principal *actor; /* who writes; its name goes into audit and drafts */
    hub_publish_check check;    /* NULL: form and completeness only */
    void *check_ctx;
    json_t *warnings; /* NULL, or an array the check appends {"code","message","path"} to */
} hub_content_ctx;

/*
 * Creates or replaces the draft of `key` with `item` (borrowed). if_match: NULL, or the
 * value of If-Match ("*" or an ETag list); a mismatch is HUB_EPRECOND. Validates form and
 * references (HUB_EINVAL with problems). Enforces the actor's channel and tag limits
 * (HUB_EFORBIDDEN). Updates the tag index and locale refs, writes audit.
 * *out_draft: the stored draft (may be NULL); *created: 1 if it did not exist.
 */
int hub_content_put(hub_txn *txn, const hub_content_ctx *cx, const char *key, json_t *item,
                    const char *if_match, json_t **out_draft, int *created, hub_error *err);
/* The stored draft or HUB_ENOTFOUND. */
int hub_content_get_draft(hub_txn *txn, const char *key, json_t **out);
/* The published version document or HUB_ENOTFOUND. */
int hub_content_get_published(hub_txn *txn, const char *key, json_t **out);

/* Validates completeness and stores a new immutable version from the draft; materializes
 * delivery documents; appends to the changes feed and the audit log. *out_version: n. */
int hub_content_publish(hub_txn *txn, const hub_content_ctx *cx, const char *key,
                        uint32_t *out_version, hub_error *err);
/* Removes the head and delivery documents (versions stay). HUB_ENOTFOUND if not published. */
int hub_content_unpublish(hub_txn *txn, const hub_content_ctx *cx, const char *key, hub_error *err);
/* Unpublishes and removes the draft, versions and index entries. HUB_EINUSE when a journey
 * uses the item or a published message renders it (blocks). */
int hub_content_delete(hub_txn *txn, const hub_content_ctx *cx, const char *key, hub_error *err);
/* Publishes a copy of version n as a new version. */
int hub_content_rollback(hub_txn *txn, const hub_content_ctx *cx, const char *key, uint32_t n,
                         uint32_t *out_version, hub_error *err);
/* [{"version","published_at","published_by","title"}...] newest first. */
int hub_content_versions(hub_txn *txn, const char *key, json_t **out);
int hub_content_version_get(hub_txn *txn, const char *key, uint32_t n, json_t **out);

/* Re-resolves every published item's delivery documents (after locale chains changed). */
int hub_content_rematerialize_all(hub_txn *txn);
/* 1 if any draft or published item has content in locale `tag`. */
int hub_content_locale_in_use(hub_txn *txn, const char *tag);

typedef struct hub_item_filter {
    const char *tag;             /* NULL or a term: items tagged with it or a descendant */
    const char *kind;            /* NULL, "message" or "block" */
    int published_only;          /* status=published: look at the published version */
    const char *q;               /* NULL or a case-insensitive substring of the title */
    const hub_principal *viewer; /* tag limits narrow the list */
} hub_item_filter;

/*
 * One page of items in key order: summaries {"key","kind","title","tags","revision",
 * "published_version","updated_at"}. cursor: NULL or an opaque string from a previous page
 * (bad: HUB_EBADREQ). *next_cursor: malloc'd string or NULL at the end.
 */
int hub_content_list(hub_txn *txn, const hub_item_filter *f, const char *cursor, size_t limit,
                     json_t **out_items, char **next_cursor, hub_error *err);

/* A 128-bit change detector for ETags (two FNV-1a 64 lanes, finalized): not cryptographic.
 * Used by the delivery documents and by http for bodies resolved on the fly. */
void hub_hash128(const void *data, size_t len, unsigned char out[16]);

/* ---- delivery reads (delivery.c) ------------------------------------------------------- */

typedef struct hub_delivery_doc {
    hub_slice body;      /* the JSON response body */
    hub_slice etag;      /* strong ETag with quotes */
    hub_slice surrogate; /* Surrogate-Key value */
    hub_slice locale;    /* Content-Language */
} hub_delivery_doc;

/*
 * The materialized document for (key, variant (len 0: base), requested locale (canonical;
 * "" = default), channel). Borrowed from the transaction. HUB_ENOTFOUND (with a reason in
 * err: item not published, unknown variant, no content for the channel) otherwise.
 */
int hub_content_delivery(hub_txn *txn, hub_slice key, hub_slice variant, const char *locale,
                         hub_slice channel, hub_delivery_doc *out, hub_error *err);

/*
 * The experiment plan of key, decoded into *out: the published version's (draft 0), stored in
 * its head, or the draft's (draft 1), compiled on the spot. *out borrows from txn or scratch
 * (keep both until done with it). *version (may be NULL): the published version, 0 for a
 * draft. HUB_ENOTFOUND when the item is not published (no draft, for draft 1); HUB_EIO.
 */
int hub_content_plan(hub_txn *txn, hub_slice key, int draft, hub_buf *scratch, hub_plan *out,
                     uint32_t *version);

/* ---- changes feed and audit (log.c) ---------------------------------------------------- */

/* Appends {"seq","type":"item.published"|"item.unpublished"|"item.deleted","key",
 * "version","at"}, and runs the change hook on it in the same transaction. */
int hub_changes_append(hub_txn *txn, const char *type, const char *key, uint32_t version);

/* ---- scheduled publish and unpublish (schedule.c) --------------------------------------- */

/* Schedules action ("publish" | "unpublish") of key at at_ms with the rights of actor,
 * replacing a pending schedule of the same action. *out: {"action","key","at","actor",
 * "status":"scheduled"}. */
int hub_schedule_put(hub_txn *txn, const hub_principal *actor, const char *key, const char *action,
                     int64_t at_ms, json_t **out);
/* Cancels the pending schedule of action for key; HUB_ENOTFOUND when there is none. */
int hub_schedule_cancel(hub_txn *txn, const char *key, const char *action);
/* {"key","publish":{"at","by"}|null,"unpublish":{"at","by"}|null}. */
int hub_schedule_get(hub_txn *txn, const char *key, json_t **out);
/* The key of the first entry due at now_ms into due; HUB_ENOTFOUND when none is due, with
 * *next_ms the time of the next entry (-1: none). */
int hub_schedule_next(hub_txn *txn, int64_t now_ms, hub_buf *due, int64_t *next_ms);
/* Removes the entry and runs its action (cx gives schemas and the publish check; the actor is
 * the one kept with the entry) in txn. *done: {"action","key","by","version"}. HUB_ENOTFOUND
 * when the entry is gone (fired or replaced); the action's error otherwise (roll back). */
int hub_schedule_fire(hub_txn *txn, const hub_content_ctx *cx, hub_slice skey, json_t **done,
                      hub_error *err);
/* Removes an entry whose action failed and audits the reason (item.scheduled_<action>_failed). */
int hub_schedule_drop(hub_txn *txn, hub_slice skey, const char *reason);

/* Runs inside the transaction of every change with its record (borrowed); a failure rolls
 * the change back with it. The webhooks hang here, so an event is queued exactly when its
 * change commits. Set once at start-up, before any write (NULL: none). */
typedef int (*hub_change_hook)(void *ctx, hub_txn *txn, const json_t *change);
void hub_changes_set_hook(hub_change_hook fn, void *ctx);
/* Changes with seq > since, at most limit. *next: the last seq returned (or since). */
int hub_changes_list(hub_txn *txn, uint64_t since, size_t limit, json_t **out, uint64_t *next);

/* Appends {"seq","at","actor","action","resource","key","detail"} (detail borrowed, may be
 * NULL). action like "item.put", "locale.delete"; resource like "items", "locales". */
int hub_audit_append(hub_txn *txn, const char *actor, const char *action, const char *resource,
                     const char *key, json_t *detail);
/* Audit records, oldest first, filtered by key (NULL: all) and since_ms (0: all), paged by an
 * opaque cursor (bad: HUB_EBADREQ). */
int hub_audit_list(hub_txn *txn, const char *key, int64_t since_ms, const char *cursor,
                   size_t limit, json_t **out, char **next_cursor, hub_error *err);

/* ---- journeys (journeys.c) ------------------------------------------------------------- */

/*
 * Journey {"title": string, "steps": [{"id", "item": key of an existing item, "channels":
 * [known channels]}]}; the id is a journey/ term that exists. HUB_EINVAL with problems.
 */
int hub_journey_put(hub_txn *txn, const hub_content_ctx *cx, const char *id, json_t *body,
                    json_t **out, int *created, hub_error *err);
int hub_journey_get(hub_txn *txn, const char *id, json_t **out);
int hub_journey_list(hub_txn *txn, json_t **out);
int hub_journey_delete(hub_txn *txn, const hub_content_ctx *cx, const char *id);
/* 1 if a journey step uses the item. */
int hub_journey_uses_item(hub_txn *txn, const char *key);

/* ---- internal to core/content (shared by items.c, publish.c, delivery.c, journeys.c) ---- */
/* Not for other modules: helpers the content files share. All run in the caller's txn. */

/* Loads the JSON value stored under key (new reference); HUB_ENOTFOUND, HUB_EIO if corrupt. */
int hub_content_load_json(hub_txn *txn, hub_db db, hub_slice key, json_t **out);
/* Stores doc as compact JSON under key. */
int hub_content_store_json(hub_txn *txn, hub_db db, hub_slice key, json_t *doc);
/* A deep copy of an item document without the draft and version metadata members. */
json_t *hub_content_item_copy(json_t *doc);
/* The name written into drafts and audit for the actor ("cli" when NULL). */
const char *hub_content_actor_name(const hub_content_ctx *cx);
/* Brings the tag and locale index (HUB_DB_TAG_ITEMS) of `key` from the union of the old
 * documents to the union of the new ones (each may be NULL). */
int hub_content_index_update(hub_txn *txn, const char *key, json_t *old_a, json_t *old_b,
                             json_t *new_a, json_t *new_b);
/* The published version number of key from its head; HUB_ENOTFOUND when not published. */
int hub_content_head_version(hub_txn *txn, const char *key, uint32_t *out);
/* Writes the head and the delivery documents of a version document (replacing old ones). */
int hub_content_materialize(hub_txn *txn, const hub_schema_set *schemas, const char *key,
                            json_t *version_doc);
/* Removes the head and every delivery document of key. */
int hub_content_unmaterialize(hub_txn *txn, const char *key);
/* The id of the first journey (id order) with a step using key into out: 1, or 0 if none. */
int hub_journey_first_user(hub_txn *txn, const char *key, char *out, size_t cap);

#endif
