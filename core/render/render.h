/*
 * render: item -> resolved fields -> Liquid -> channel plugin. The two places content meets
 * the channels:
 * - publishing: every variant x targeted locale x channel of an item must compile (Liquid,
 *   with the field, line and column of a syntax error), render the blocks it names
 *   (published blocks), and pass the channel plugin's validate() (hub_render_publish_check,
 *   the hub_publish_check of core/content);
 * - rendering for one recipient (POST /v1/render, omnihub render, sending): resolve the
 *   variant and locale, run the compiled templates with the recipient's attributes, and hand
 *   the fields to the plugin's render().
 *
 * The field schemas of the loaded plugins become the content module's schema set
 * (hub_renderer_schemas), so content validates exactly the fields the plugins declare.
 *
 * Threads: a hub_renderer is immutable after hub_renderer_new and shared by all threads.
 * A hub_render_cache belongs to one thread (each HTTP thread has its own); it keeps compiled
 * templates keyed by item, version, variant, locale and channel, so a published item is
 * compiled once per thread and rendered many times.
 */
#ifndef HUB_RENDER_H
#define HUB_RENDER_H

#include <jansson.h>

#include "base/base.h"
#include "content/content.h"
#include "plugin/plugin.h"

typedef struct hub_renderer hub_renderer;
typedef struct hub_render_cache hub_render_cache;

/* A renderer over the loaded plugins (borrowed; they must outlive it). HUB_ENOMEM. */
int hub_renderer_new(const hub_plugins *plugins, hub_renderer **out);
void hub_renderer_free(hub_renderer *r);

/* The plugins' field schemas as a content schema set; valid until hub_renderer_free. */
const hub_schema_set *hub_renderer_schemas(const hub_renderer *r);
const hub_plugins *hub_renderer_plugins(const hub_renderer *r);

/* The hub_publish_check for core/content: ctx is the hub_renderer. */
int hub_render_publish_check(void *ctx, hub_txn *txn, const char *key, json_t *item,
                             hub_problems *out, json_t *warnings);

/*
 * The publish check narrowed to one locale and one channel, for every variant: the problems
 * it finds are appended to out (the same paths and messages as hub_render_publish_check).
 * 0 when it could check, whatever it found; HUB_ENOTFOUND for a channel no plugin serves.
 */
int hub_render_check_locale(const hub_renderer *r, hub_txn *txn, const char *key, json_t *item,
                            const char *locale, const char *channel, hub_problems *out);

/* A per-thread cache of compiled templates holding at most max_entries (0: 4096). */
hub_render_cache *hub_render_cache_new(size_t max_entries);
void hub_render_cache_free(hub_render_cache *c);

typedef struct hub_render_request {
    const char *item; /* key */
    const char *channel;
    const char *locale;      /* canonical BCP 47 tag; NULL or "": the default locale */
    int no_fallback;         /* 1: only the exact locale */
    const char *variant;     /* NULL: an audience variant the recipient matches, else the
                                base variant (weighted assignment is the experiments issue) */
    const json_t *recipient; /* borrowed: {"id","segments":[...],"attributes":{...},...};
                                may be NULL */
    int draft;               /* 1: render the draft instead of the published version */
    int64_t now_ms;          /* 0: the wall clock */
    const char *message_id;  /* NULL: a new random one */
    size_t max_artifact;     /* cap on the artifact in bytes (0: 4 MiB) */
} hub_render_request;

typedef struct hub_render_result {
    uint32_t version; /* 0 for a draft */
    char variant[HUB_VARIANT_ID_MAX + 1];
    char locale[HUB_LOCALE_TAG_MAX];
    char message_id[40];
    hub_buf artifact;      /* JSON object text from the plugin; owned: result_free */
    json_t *warnings;      /* new: [{"code","message"}] */
    hub_problems problems; /* why the plugin refused, when HUB_EINVAL */
} hub_render_result;

void hub_render_result_init(hub_render_result *res);
void hub_render_result_free(hub_render_result *res);

/*
 * Renders rq in the read (or write) transaction txn with cache (may be NULL: compile each
 * time). 0 with res filled. Errors: HUB_ENOTFOUND (no such item, not published, unknown
 * channel or variant, no content for the channel in the chain), HUB_EINVAL (a Liquid runtime
 * error, a block that does not resolve, or the plugin refused: res->problems says why),
 * HUB_ETOOBIG (a template limit or the artifact cap), HUB_ENOMEM; err has one line.
 */
int hub_render(const hub_renderer *r, hub_render_cache *cache, hub_txn *txn,
               const hub_render_request *rq, hub_render_result *res, hub_error *err);

/* The response body of POST /v1/render for a successful result (new reference). */
json_t *hub_render_result_json(const hub_render_request *rq, const hub_render_result *res);

#endif
