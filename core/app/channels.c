/*
 * app/channels.c: the channel plugins and the renderer over them, as the configuration
 * says: "plugins": {"dir", "load": [names], "paths": [files]} and "channels": {name: {...}}
 * (each plugin checks its own object). Without "plugins.dir" the plugins are looked for
 * in $OMNIHUB_PLUGIN_DIR, then next to the binary (build/plugins beside build/omnihub), then
 * in ../lib/omnihub/plugins (an installed tree). A refused plugin is reported on stderr and the
 * others load.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/app.h"

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The default plugin directory into out (cap bytes); 0 if one exists. */
static int default_dir(char *out, size_t cap)
{
    char exe[PATH_MAX];
    const char *env = getenv("OMNIHUB_PLUGIN_DIR");
    if (env != NULL && env[0] != '\0') {
        snprintf(out, cap, "%s", env);
        return 0;
    }
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return -1;
    *slash = '\0';
    int n1 = snprintf(out, cap, "%.3000s/plugins", exe);
    if (n1 > 0 && (size_t)n1 < cap && is_dir(out))
        return 0;
    int n2 = snprintf(out, cap, "%.3000s/../lib/omnihub/plugins", exe);
    return n2 > 0 && (size_t)n2 < cap && is_dir(out) ? 0 : -1;
}

/* The strings of a JSON array as a NULL-terminated malloc'd vector (borrowed strings). */
static const char **strings_of(json_t *arr, size_t *n)
{
    size_t i;
    json_t *v;
    const char **out = calloc(json_array_size(arr) + 1, sizeof(*out));
    *n = 0;
    if (out == NULL)
        return NULL;
    json_array_foreach(arr, i, v) out[(*n)++] = json_string_value(v);
    return out;
}

/* The reason the plugin file <name>.so was refused (after "create failed: "), or NULL. */
static const char *refusal_of(const hub_plugins *p, const char *name)
{
    char file[80];
    snprintf(file, sizeof(file), "/%.64s.so: ", name);
    for (size_t i = 0; i < hub_plugins_refused_count(p); i++) {
        const char *r = hub_plugins_refusal(p, i), *at = strstr(r, file);
        if (at == NULL)
            continue;
        at += strlen(file);
        return strncmp(at, "create failed: ", 15) == 0 ? at + 15 : at;
    }
    return NULL;
}

int hub_channels_open(hub_channels *out, const hub_config *cfg, const char *data_dir,
                      hub_error *err)
{
    char dir[PATH_MAX];
    hub_plugins_config pc = {0};
    size_t nload = 0, npaths = 0;
    memset(out, 0, sizeof(*out));
    const char *cdir = json_string_value(json_object_get(cfg->plugins, "dir"));
    if (cdir != NULL)
        snprintf(dir, sizeof(dir), "%s", cdir);
    else if (default_dir(dir, sizeof(dir)) != 0)
        dir[0] = '\0';
    const char **load = strings_of(json_object_get(cfg->plugins, "load"), &nload);
    const char **paths = strings_of(json_object_get(cfg->plugins, "paths"), &npaths);
    pc.dir = dir[0] != '\0' ? dir : NULL;
    pc.load = load;
    pc.nload = nload;
    pc.paths = paths;
    pc.npaths = npaths;
    pc.channels = cfg->channels;
    pc.data_dir = data_dir;
    pc.outbox_dir = json_string_value(json_object_get(cfg->outbox, "dir"));
    out->services = calloc(1, sizeof(*out->services));
    int rc = out->services == NULL ? HUB_ENOMEM
                                   : hub_breakers_new(cfg->breaker_threshold, cfg->breaker_open_ms,
                                                      cfg->breaker_open_ms * 32, &out->breakers);
    if (rc == 0) {
        out->services->transport.timeout_ms = cfg->send_timeout_ms;
        out->services->transport.breakers = out->breakers;
        hub_delivery_services_bind(out->services, &pc.services);
    }
    rc = rc != 0 || load == NULL || paths == NULL ? hub_error_set(err, HUB_ENOMEM, "out of memory")
                                                  : hub_plugins_load(&pc, &out->plugins, err);
    free(load);
    free(paths);
    if (rc != 0)
        return rc;
    const char *name;
    json_t *v;
    json_object_foreach(cfg->channels, name, v)
    {
        if (hub_plugins_find(out->plugins, name, strlen(name)) != NULL)
            continue;
        /* A configured channel must load: its plugin's reason (often a key of its section)
         * is the start-up error. */
        const char *why = refusal_of(out->plugins, name);
        hub_error_set(err, HUB_EINVAL, "config: /channels/%.64s: %s", name,
                      why != NULL ? why : "no plugin of this name is loaded");
        hub_channels_close(out);
        return HUB_EINVAL;
    }
    for (size_t i = 0; i < hub_plugins_refused_count(out->plugins); i++)
        HUB_LOG_WARN("plugin refused: %s", hub_plugins_refusal(out->plugins, i));
    for (size_t i = 0; i < hub_plugins_count(out->plugins); i++) {
        const hub_channel *c = hub_plugins_get(out->plugins, i);
        const char *version = hub_channel_plugin(c)->version;
        HUB_LOG_INFO("plugin loaded: %s (channel %s, %s)", hub_channel_path(c), hub_channel_name(c),
                     version != NULL ? version : "no version");
    }
    if (hub_plugins_count(out->plugins) == 0)
        fprintf(stderr, "omnihub: no channel plugins loaded (plugin directory: %s)\n",
                dir[0] ? dir : "none found");
    rc = hub_renderer_new(out->plugins, &out->renderer);
    if (rc != 0) {
        hub_channels_close(out);
        return hub_error_set(err, rc, "out of memory");
    }
    return 0;
}

void hub_channels_close(hub_channels *c)
{
    hub_renderer_free(c->renderer);
    hub_plugins_free(c->plugins);
    hub_breakers_free(c->breakers);
    free(c->services);
    c->renderer = NULL;
    c->plugins = NULL;
    c->breakers = NULL;
    c->services = NULL;
}
