/*
 * The mobile plugin's state, shared by its configuration (config.c) and its calls
 * (mobile.c). Built once by create(), read-only afterwards: any number of threads may read
 * it.
 */
#ifndef OMNIHUB_MOBILE_H
#define OMNIHUB_MOBILE_H

#include <omnihub/plugin.h>
#include <stddef.h>
#include <stdint.h>

#include "common/kit.h"

#define PUSH_MAX_BYTES    4096
#define PUSH_WARN_DEFAULT 3686 /* 90% of 4096 */
#define MAX_TIMEOUT_MS    600000

enum { DRIVER_OUTBOX, DRIVER_HTTP };

typedef struct mobile_state {
    const hub_host_api *host;
    int driver;
    char *url;
    kit_headers headers; /* http.headers; never Content-Type or Idempotency-Key */
    uint32_t timeout_ms;
    char *sound; /* NULL: no sound member */
    char *category;
    char *thread_id;
    char *channel_id;
    const char *priority; /* "high" or "normal" (static) */
    size_t warn_bytes;
} mobile_state;

/*
 * Builds the state from channels.mobile (config may be NULL: the defaults). 0 and *out, or
 * HUB_PLUGIN_EINVAL with a one-line reason naming the key, or HUB_PLUGIN_ENOMEM with
 * "out of memory".
 */
int mobile_config_parse(const hub_host_api *host, const json_t *config, mobile_state **out,
                        char *err, size_t errcap);

/* Frees the state; NULL-safe. */
void mobile_state_free(mobile_state *st);

#endif
