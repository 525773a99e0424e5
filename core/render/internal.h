/* Shared by the files of core/render; not for other modules. */
#ifndef HUB_RENDER_INTERNAL_H
#define HUB_RENDER_INTERNAL_H

#include "render/render.h"
#include "template/template.h"

#define RENDER_FIELDS_MAX 32

/* One channel's schema as content sees it, plus what rendering needs to know per field. */
typedef struct render_channel {
    const hub_channel *channel;
    hub_field_schema fields[RENDER_FIELDS_MAX];
    uint32_t kinds[RENDER_FIELDS_MAX];
    size_t nfields;
} render_channel;

struct hub_renderer {
    const hub_plugins *plugins;
    render_channel channels[HUB_PLUGINS_MAX];
    hub_channel_schema schemas[HUB_PLUGINS_MAX];
    hub_schema_set set;
};

/*
 * The compiled fields of one channel of one variant in one locale: templates[i] for schema
 * field i (NULL when absent); object fields keep one template per member in `objects[i]`
 * (a JSON object whose values are integers indexing `members`).
 */
typedef struct compiled_fields {
    size_t nfields;
    hub_template *templates[RENDER_FIELDS_MAX];
    json_t *objects[RENDER_FIELDS_MAX];
    hub_template **members;
    size_t nmembers;
    uint32_t version;
    char variant[HUB_VARIANT_ID_MAX + 1];
    char locale[HUB_LOCALE_TAG_MAX];
} compiled_fields;

void compiled_free(compiled_fields *cf);

/* Compiles the fields object {name: value} of channel rc into a new cf; on a syntax error
 * HUB_EINVAL and the failing field's name in *bad_field, the message in err. */
int compiled_new(const render_channel *rc, json_t *fields, compiled_fields **out,
                 const char **bad_field, hub_error *err);

/* Called for each field that does not compile (schema index, code, why); nonzero stops. */
typedef int (*compile_error_fn)(void *ctx, size_t field, int code, const hub_error *e);
/* compiled_new, reporting every failing field to on_error; HUB_EINVAL if any failed. */
int compiled_new_each(const render_channel *rc, json_t *fields, compiled_fields **out,
                      compile_error_fn on_error, void *ctx);

/* Block resolution for {% render %}: published blocks in the chain of `locale`. */
typedef struct block_ctx {
    const hub_renderer *r;
    hub_render_cache *cache;
    hub_txn *txn;
    const render_channel *rc;
    const char *locale;
    size_t field;
    char missing[HUB_ITEM_KEY_MAX + 1]; /* the name that did not resolve */
} block_ctx;

int block_resolve(void *ctx, const char *name, size_t len, const hub_template **out);

/*
 * Renders the compiled fields with vars into buf and points strs[i] into it. Stops at the
 * first error, with the field's name in *bad_field.
 */
int render_fields(const hub_renderer *r, hub_render_cache *cache, hub_txn *txn,
                  const render_channel *rc, const compiled_fields *cf, const json_t *vars,
                  int64_t now_ms, hub_buf *buf, hub_str strs[RENDER_FIELDS_MAX],
                  const char **bad_field, block_ctx *bctx, hub_error *err);

const render_channel *render_channel_find(const hub_renderer *r, const char *name);

/* Cache: compiled fields by a key (an ETag and a channel); NULL when absent. */
const compiled_fields *cache_get(hub_render_cache *c, const char *key, size_t klen);
/* Takes cf (owned by the cache, or freed at once on failure or when the key is present:
 * look it up again). HUB_ETOOBIG when the cache is NULL or its slots are full. */
int cache_put(hub_render_cache *c, const char *key, size_t klen, compiled_fields *cf);
void hub_render_cache_trim(hub_render_cache *c);

#endif
