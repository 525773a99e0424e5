/* Shared between the loader and the host services of core/plugin; not for other modules. */
#ifndef HUB_PLUGIN_INTERNAL_H
#define HUB_PLUGIN_INTERNAL_H

#include "plugin/plugin.h"

/* A host-owned output buffer: either wraps a caller's hub_buf or owns one (out_new). */
struct hub_out {
    hub_buf *b;
    hub_buf own;
};

/* What one validate/render call reports into. */
struct hub_report {
    const hub_channel *channel;
    hub_channel_report *rep;
    size_t problems; /* problems added during this call */
};

struct hub_channel {
    const hub_plugin *plugin; /* borrowed from the loaded object */
    void *state;
    void *dl;
    char *path;
    char name[33];
};

struct hub_plugins {
    hub_channel channels[HUB_PLUGINS_MAX];
    size_t count;
    char **refusals;
    size_t nrefusals;
    char *outbox_dir;
    hub_plugin_services services;
    hub_host_api host;
};

/* Fills the host table (host.c). */
void hub_plugin_host_init(hub_host_api *host);
/* The set the host services act for: the frozen registry, set by the loader. */
const hub_plugins *hub_plugin_registry(void);
void hub_plugin_registry_set(const hub_plugins *p);

#endif
