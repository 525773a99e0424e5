/*
 * The sms plugin's state, shared by its configuration (config.c) and its calls (sms.c).
 * Built once by create(), read-only afterwards: any number of threads may read it.
 */
#ifndef OMNIHUB_SMS_H
#define OMNIHUB_SMS_H

#include <omnihub/plugin.h>
#include <stddef.h>
#include <stdint.h>

#include "common/kit.h"

#define STOP_KEYWORDS_MAX 16
#define HTTP_BODY_CAP     (256 * 1024) /* the rendered body of an HTTP request */

enum { DRIVER_OUTBOX, DRIVER_HTTP };

typedef struct sms_state {
    const hub_host_api *host;
    int driver;
    unsigned max_segments;
    int require_stop;
    char *stop[STOP_KEYWORDS_MAX];
    size_t stop_len[STOP_KEYWORDS_MAX];
    size_t nstop;
    char *sender; /* NULL: none configured */
    /* http driver */
    char *url;
    kit_headers headers;
    int has_content_type; /* the configured headers set Content-Type themselves */
    char *body;           /* the Liquid body template */
    size_t body_len;
    int body_json; /* the template looks like JSON: string variables are JSON-escaped */
    uint32_t timeout_ms;
    /* the field schema, whose description states this configuration's segment limit */
    char text_description[200];
    hub_plugin_field text_field;
    const hub_plugin_field *field_list[1];
    hub_plugin_schema schema;
} sms_state;

/*
 * Builds the state from channels.sms (config may be NULL: the defaults; see the keys in
 * config.c). 0 and *out; HUB_PLUGIN_EINVAL with a one-line reason naming the key;
 * HUB_PLUGIN_ENOMEM.
 */
int sms_config_parse(const hub_host_api *host, const json_t *config, sms_state **out, char *err,
                     size_t errcap);

/* Frees the state; NULL-safe. */
void sms_state_free(sms_state *st);

#endif
