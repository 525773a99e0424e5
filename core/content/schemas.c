/*
 * Channel field schemas: the fields each channel accepts, which must resolve at publish, and
 * their raw size limits. Built in (static, read-only) until the channel plugins declare their
 * own; the limits follow what the channels accept (RFC 5322's 998-byte line for an email
 * subject, a 4 KiB push payload, 1 MiB of HTML).
 *
 * Also the resolution of those fields for a variant along a locale chain: one rule, used by
 * the publish completeness check and by materialization alike.
 *
 * Thread-safety: the schemas are immutable; resolution is pure (any thread, on an item that
 * nobody modifies meanwhile).
 */
#include <string.h>

#include "content/content.h"

#define MIB ((size_t)1024 * 1024)

static const hub_field_schema email_fields[] = {
    {"subject", 1, 998, 0}, {"preheader", 0, 500, 0}, {"html", 1, MIB, 0},
    {"text", 0, MIB, 0},    {"from_name", 0, 200, 0}, {"reply_to", 0, 320, 0},
};

static const hub_field_schema sms_fields[] = {
    {"text", 1, 10000, 0},
};

static const hub_field_schema mobile_fields[] = {
    {"title", 1, 500, 0},      {"body", 1, 4000, 0}, {"image", 0, 2048, 0},
    {"deep_link", 0, 2048, 0}, {"data", 0, 4096, 1},
};

static const hub_field_schema web_fields[] = {
    {"title", 1, 500, 0},  {"html", 1, MIB, 0}, {"summary", 0, 2000, 0},
    {"image", 0, 2048, 0}, {"url", 0, 2048, 0},
};

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

static const hub_channel_schema builtin_channels[] = {
    {"email", email_fields, NFIELDS(email_fields)},
    {"sms", sms_fields, NFIELDS(sms_fields)},
    {"mobile", mobile_fields, NFIELDS(mobile_fields)},
    {"web", web_fields, NFIELDS(web_fields)},
};

static const hub_schema_set builtin_set = {builtin_channels, NFIELDS(builtin_channels)};

const hub_schema_set *hub_content_builtin_schemas(void)
{
    return &builtin_set;
}

const hub_channel_schema *hub_schema_find(const hub_schema_set *set, const char *channel)
{
    if (set == NULL || channel == NULL)
        return NULL;
    for (size_t i = 0; i < set->nchannels; i++) {
        if (strcmp(set->channels[i].name, channel) == 0)
            return &set->channels[i];
    }
    return NULL;
}

/* ---- resolution ------------------------------------------------------------------------ */

static json_t *content_field(json_t *variant, const char *loc, const char *channel,
                             const char *field)
{
    json_t *v = json_object_get(json_object_get(variant, "content"), loc);
    v = json_object_get(json_object_get(v, channel), field);
    return json_is_null(v) ? NULL : v;
}

int hub_item_resolve_field(json_t *item, size_t variant_index, const hub_locale_chain *chain,
                           const char *channel, const char *field, json_t **out_value,
                           const char **out_variant_id, const char **out_locale)
{
    json_t *vs = json_object_get(item, "variants");
    json_t *v = json_array_get(vs, variant_index), *base = json_array_get(vs, 0);
    if (v == NULL || chain == NULL || channel == NULL || field == NULL)
        return HUB_ENOTFOUND;
    for (size_t k = 0; k < chain->count && k < HUB_LOCALE_CHAIN_MAX; k++) {
        json_t *from = v, *val = content_field(v, chain->tags[k], channel, field);
        if (val == NULL && variant_index != 0) {
            from = base;
            val = content_field(base, chain->tags[k], channel, field);
        }
        if (val == NULL)
            continue;
        if (out_value != NULL)
            *out_value = val;
        if (out_variant_id != NULL)
            *out_variant_id = json_string_value(json_object_get(from, "id"));
        if (out_locale != NULL)
            *out_locale = chain->tags[k];
        return 0;
    }
    return HUB_ENOTFOUND;
}

json_t *hub_item_resolve_channel(json_t *item, size_t variant_index, const hub_locale_chain *chain,
                                 const char *channel, const hub_schema_set *schemas,
                                 json_t **out_resolved_from)
{
    const hub_channel_schema *cs =
        hub_schema_find(schemas != NULL ? schemas : hub_content_builtin_schemas(), channel);
    json_t *fields = json_object(), *from = json_object();
    int ok = cs != NULL && fields != NULL && from != NULL;
    if (out_resolved_from != NULL)
        *out_resolved_from = NULL;
    for (size_t i = 0; ok && i < cs->nfields; i++) {
        json_t *val;
        const char *vid, *loc;
        if (hub_item_resolve_field(item, variant_index, chain, channel, cs->fields[i].name, &val,
                                   &vid, &loc) != 0)
            continue;
        json_t *src = json_pack("{s:s?, s:s}", "variant", vid, "locale", loc);
        ok = src != NULL && json_object_set_new(from, cs->fields[i].name, src) == 0 &&
             json_object_set(fields, cs->fields[i].name, val) == 0;
    }
    if (!ok || json_object_size(fields) == 0) {
        json_decref(fields);
        json_decref(from);
        return NULL;
    }
    if (out_resolved_from != NULL)
        *out_resolved_from = from;
    else
        json_decref(from);
    return fields;
}

const char *hub_served_locale(const hub_locale_chain *chain, json_t *resolved_from)
{
    for (size_t i = 0; i < chain->count; i++) {
        const char *f;
        json_t *v;
        json_object_foreach(resolved_from, f, v)
        {
            const char *loc = json_string_value(json_object_get(v, "locale"));
            if (loc != NULL && strcmp(loc, chain->tags[i]) == 0)
                return chain->tags[i];
        }
    }
    return chain->tags[0];
}
