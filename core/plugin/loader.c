/*
 * Loading channel plugins: dlopen, the entry symbol, ABI and struct checks, create(), the
 * field schema; every refusal is one line naming the file, and a refused plugin is undone
 * completely (its state freed, the object closed) while the others load. Also the calls
 * into a loaded plugin, which wrap the host-owned output and report objects.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "xml/xml.h"

_Static_assert(HUB_PLUGIN_ENOMEM == HUB_ENOMEM && HUB_PLUGIN_EINVAL == HUB_EINVAL &&
                   HUB_PLUGIN_ETOOBIG == HUB_ETOOBIG && HUB_PLUGIN_EIO == HUB_EIO,
               "plugin codes equal the hub's");

/* The size of the major-1 structs as minor 0 defined them: what a plugin must provide. */
#define PLUGIN_MIN_SIZE (offsetof(hub_plugin, free) + sizeof(((hub_plugin *)0)->free))
#define SCHEMA_MIN_SIZE (offsetof(hub_plugin_schema, fields) + sizeof(void *))
#define FIELD_MIN_SIZE  (offsetof(hub_plugin_field, description) + sizeof(char *))

static int name_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > 32 || s[0] < 'a' || s[0] > 'z')
        return 0;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int field_name_ok(const char *s)
{
    return name_ok(s) && strchr(s, '-') == NULL;
}

static void refuse(hub_plugins *p, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void refuse(hub_plugins *p, const char *path, const char *fmt, ...)
{
    char why[300], line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    snprintf(line, sizeof(line), "%s: %s", path, why);
    for (char *c = line; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    char **r = realloc(p->refusals, (p->nrefusals + 1) * sizeof(*r));
    if (r == NULL)
        return;
    p->refusals = r;
    r[p->nrefusals] = hub_strdup(line);
    if (r[p->nrefusals] != NULL)
        p->nrefusals++;
}

static const char *callback_missing(const hub_plugin *pl)
{
    if (pl->create == NULL)
        return "create";
    if (pl->fields == NULL)
        return "fields";
    if (pl->validate == NULL)
        return "validate";
    if (pl->render == NULL)
        return "render";
    if (pl->deliver == NULL)
        return "deliver";
    if (pl->free == NULL)
        return "free";
    return NULL;
}

/* Checks the description the entry point handed over; a reason or NULL. */
static const char *plugin_check(hub_plugins *p, const hub_plugin *pl, char *why, size_t cap)
{
    const char *cb;
    if (pl->abi_major != OMNIHUB_PLUGIN_ABI_MAJOR) { /* first: a struct_size means nothing then */
        snprintf(why, cap, "ABI major %u, the hub speaks %d", pl->abi_major,
                 OMNIHUB_PLUGIN_ABI_MAJOR);
    } else if (pl->struct_size < PLUGIN_MIN_SIZE) {
        snprintf(why, cap, "hub_plugin.struct_size %u is smaller than ABI 1.0's %zu",
                 pl->struct_size, PLUGIN_MIN_SIZE);
    } else if (!name_ok(pl->name)) {
        snprintf(why, cap, "bad channel name (want [a-z][a-z0-9_-]{0,31})");
    } else if ((cb = callback_missing(pl)) != NULL) {
        snprintf(why, cap, "missing callback '%s'", cb);
    } else {
        for (size_t i = 0; i < p->count; i++) {
            if (strcmp(p->channels[i].name, pl->name) == 0) {
                snprintf(why, cap, "duplicate channel name '%s' (already loaded from %s)", pl->name,
                         p->channels[i].path);
                return why;
            }
        }
        return NULL;
    }
    return why;
}

/* Checks a field schema; a reason or NULL. */
static const char *schema_check(const hub_plugin_schema *s, char *why, size_t cap)
{
    if (s == NULL || s->struct_size < SCHEMA_MIN_SIZE || s->fields == NULL) {
        snprintf(why, cap, "fields() returned no schema");
        return why;
    }
    if (s->nfields == 0 || s->nfields > 32) {
        snprintf(why, cap, "the schema has %u fields (want 1..32)", s->nfields);
        return why;
    }
    for (uint32_t i = 0; i < s->nfields; i++) {
        const hub_plugin_field *f = s->fields[i];
        if (f == NULL || f->struct_size < FIELD_MIN_SIZE) {
            snprintf(why, cap, "schema field %u: missing or too small a struct", i);
            return why;
        }
        if (!field_name_ok(f->name)) {
            snprintf(why, cap, "schema field %u: bad name '%.40s' (want [a-z][a-z0-9_]{0,31})", i,
                     f->name != NULL ? f->name : "(null)");
            return why;
        }
        if (f->kind < HUB_FIELD_TEXT || f->kind > HUB_FIELD_OBJECT) {
            snprintf(why, cap, "schema field '%s': unknown kind %u", f->name, f->kind);
            return why;
        }
        for (uint32_t j = 0; j < i; j++) {
            if (strcmp(s->fields[j]->name, f->name) == 0) {
                snprintf(why, cap, "schema field '%s' declared twice", f->name);
                return why;
            }
        }
    }
    return NULL;
}

static int create_state(hub_plugins *p, const hub_plugins_config *cfg, const hub_plugin *pl,
                        void **state, char *why, size_t cap)
{
    json_t *empty = json_object();
    const json_t *conf = json_object_get(cfg->channels, pl->name);
    hub_plugin_create_in in = {sizeof(in), 0, &p->host, conf != NULL ? conf : empty,
                               cfg->data_dir != NULL ? cfg->data_dir : "."};
    char err[256] = "";
    int rc = empty == NULL ? HUB_ENOMEM : pl->create(&in, state, err, sizeof(err));
    json_decref(empty);
    if (rc != 0) {
        err[sizeof(err) - 1] = '\0';
        snprintf(why, cap, "create failed: %s", err[0] ? err : hub_strerror(rc));
    }
    return rc;
}

static void load_one(hub_plugins *p, const hub_plugins_config *cfg, const char *path)
{
    char why[300];
    const hub_plugin *pl = NULL;
    void *state = NULL;
    if (p->count == HUB_PLUGINS_MAX) {
        refuse(p, path, "more than %d plugins", HUB_PLUGINS_MAX);
        return;
    }
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        const char *e = dlerror();
        refuse(p, path, "cannot load: %s", e != NULL ? e : "dlopen failed");
        return;
    }
    hub_plugin_entry_fn entry;
    void *sym = dlsym(dl, OMNIHUB_PLUGIN_ENTRY);
    memcpy(&entry, &sym, sizeof(entry)); /* object pointer to function pointer, POSIX-style */
    int rc;
    if (sym == NULL) {
        refuse(p, path, "no entry point %s", OMNIHUB_PLUGIN_ENTRY);
    } else if ((rc = entry(&p->host, OMNIHUB_PLUGIN_ABI_MAJOR, &pl)) != 0 || pl == NULL) {
        refuse(p, path, "the entry point declined this host (code %d)", rc);
    } else if (plugin_check(p, pl, why, sizeof(why)) != NULL) {
        refuse(p, path, "%s", why);
    } else if (create_state(p, cfg, pl, &state, why, sizeof(why)) != 0) {
        refuse(p, path, "%s", why);
    } else if (schema_check(pl->fields(state), why, sizeof(why)) != NULL) {
        pl->free(state);
        refuse(p, path, "%s", why);
    } else {
        hub_channel *c = &p->channels[p->count];
        c->path = hub_strdup(path);
        if (c->path == NULL) {
            pl->free(state);
            refuse(p, path, "out of memory");
        } else {
            c->plugin = pl;
            c->state = state;
            c->dl = dl;
            snprintf(c->name, sizeof(c->name), "%s", pl->name);
            p->count++;
            return;
        }
    }
    dlclose(dl);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every *.so in dir, in name order. */
static void load_dir(hub_plugins *p, const hub_plugins_config *cfg)
{
    DIR *d = opendir(cfg->dir);
    char *names[HUB_PLUGINS_MAX * 2];
    size_t n = 0;
    struct dirent *e;
    if (d == NULL) {
        refuse(p, cfg->dir, "cannot open the plugin directory");
        return;
    }
    while ((e = readdir(d)) != NULL && n < sizeof(names) / sizeof(names[0])) {
        size_t l = strlen(e->d_name);
        if (l <= 3 || strcmp(e->d_name + l - 3, ".so") != 0 || e->d_name[0] == '.')
            continue;
        names[n] = hub_strdup(e->d_name);
        if (names[n] != NULL)
            n++;
    }
    closedir(d);
    qsort(names, n, sizeof(names[0]), cmp_str);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", cfg->dir, names[i]);
        load_one(p, cfg, path);
        free(names[i]);
    }
}

static int load_named(hub_plugins *p, const hub_plugins_config *cfg, hub_error *err)
{
    for (size_t i = 0; i < cfg->nload; i++) {
        if (!name_ok(cfg->load[i]))
            return hub_error_set(err, HUB_EINVAL, "plugins.load: '%s' is not a channel name",
                                 cfg->load[i] != NULL ? cfg->load[i] : "(null)");
    }
    for (size_t i = 0; i < cfg->nload; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s.so", cfg->dir != NULL ? cfg->dir : ".", cfg->load[i]);
        load_one(p, cfg, path);
    }
    return 0;
}

static char *outbox_dir_of(const hub_plugins_config *cfg)
{
    char buf[4096];
    if (cfg->outbox_dir != NULL)
        return hub_strdup(cfg->outbox_dir);
    if (cfg->data_dir == NULL)
        return NULL;
    snprintf(buf, sizeof(buf), "%s/outbox", cfg->data_dir);
    return hub_strdup(buf);
}

int hub_plugins_load(const hub_plugins_config *cfg, hub_plugins **out, hub_error *err)
{
    hub_plugins *p = calloc(1, sizeof(*p));
    int rc = 0;
    *out = NULL;
    if (p == NULL)
        return hub_error_set(err, HUB_ENOMEM, "out of memory");
    hub_xml_global_init(); /* libxml2's one-time set-up, before the threads that render */
    p->outbox_dir = outbox_dir_of(cfg);
    p->services = cfg->services;
    hub_plugin_host_init(&p->host);
    hub_plugin_registry_set(p);
    if (cfg->dir != NULL && cfg->nload == 0)
        load_dir(p, cfg);
    else if (cfg->nload > 0)
        rc = load_named(p, cfg, err);
    for (size_t i = 0; rc == 0 && i < cfg->npaths; i++)
        load_one(p, cfg, cfg->paths[i]);
    if (rc != 0) {
        hub_plugins_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void hub_plugins_free(hub_plugins *p)
{
    if (p == NULL)
        return;
    for (size_t i = p->count; i-- > 0;) {
        hub_channel *c = &p->channels[i];
        c->plugin->free(c->state);
        dlclose(c->dl);
        free(c->path);
    }
    for (size_t i = 0; i < p->nrefusals; i++)
        free(p->refusals[i]);
    free(p->refusals);
    free(p->outbox_dir);
    if (hub_plugin_registry() == p)
        hub_plugin_registry_set(NULL);
    free(p);
}

size_t hub_plugins_count(const hub_plugins *p)
{
    return p != NULL ? p->count : 0;
}

const hub_channel *hub_plugins_get(const hub_plugins *p, size_t i)
{
    return p != NULL && i < p->count ? &p->channels[i] : NULL;
}

const hub_channel *hub_plugins_find(const hub_plugins *p, const char *name, size_t len)
{
    for (size_t i = 0; p != NULL && name != NULL && i < p->count; i++) {
        if (strlen(p->channels[i].name) == len && memcmp(p->channels[i].name, name, len) == 0)
            return &p->channels[i];
    }
    return NULL;
}

size_t hub_plugins_refused_count(const hub_plugins *p)
{
    return p != NULL ? p->nrefusals : 0;
}

const char *hub_plugins_refusal(const hub_plugins *p, size_t i)
{
    return p != NULL && i < p->nrefusals ? p->refusals[i] : NULL;
}

const hub_host_api *hub_plugins_host(const hub_plugins *p)
{
    return p != NULL ? &p->host : NULL;
}

const char *hub_channel_name(const hub_channel *c)
{
    return c->name;
}

const char *hub_channel_path(const hub_channel *c)
{
    return c->path;
}

const hub_plugin *hub_channel_plugin(const hub_channel *c)
{
    return c->plugin;
}

const hub_plugin_schema *hub_channel_fields(const hub_channel *c)
{
    return c->plugin->fields(c->state);
}

int hub_channel_field_index(const hub_channel *c, const char *name)
{
    const hub_plugin_schema *s = hub_channel_fields(c);
    for (uint32_t i = 0; name != NULL && i < s->nfields; i++) {
        if (strcmp(s->fields[i]->name, name) == 0)
            return (int)i;
    }
    return -1;
}

/* ---- calls ------------------------------------------------------------------------------- */

int hub_channel_validate(const hub_channel *c, const hub_render_in *in, hub_channel_report *rep)
{
    struct hub_report r = {c, rep, 0};
    return c->plugin->validate(c->state, in, &r);
}

static int artifact_is_object(const char *s, size_t len)
{
    json_error_t je;
    json_t *j = json_loadb(s, len, JSON_REJECT_DUPLICATES, &je);
    int ok = json_is_object(j);
    json_decref(j);
    return ok;
}

int hub_channel_render(const hub_channel *c, const hub_render_in *in, hub_buf *artifact,
                       int check_json, hub_channel_report *rep, hub_error *err)
{
    struct hub_out o = {artifact, {0}};
    struct hub_report r = {c, rep, 0};
    size_t start = artifact->len;
    int rc = c->plugin->render(c->state, in, &o, &r);
    if (rc == 0 && r.problems > 0)
        rc = HUB_EINVAL; /* a problem makes the message unsendable, whatever was returned */
    if (rc == 0 && check_json && !artifact_is_object(artifact->data + start, artifact->len - start))
        rc = hub_error_set(err, HUB_EIO,
                           "the %s plugin wrote an artifact that is not a JSON object", c->name);
    else if (rc == HUB_EINVAL)
        hub_error_set(err, rc, "the %s channel cannot render this message", c->name);
    else if (rc == HUB_ETOOBIG)
        hub_error_set(err, rc, "the %s artifact is over its size cap", c->name);
    else if (rc != 0)
        rc = hub_error_set(err, rc == HUB_ENOMEM ? HUB_ENOMEM : HUB_EIO,
                           "the %s plugin failed to render (code %d)", c->name, rc);
    if (rc != 0) {
        artifact->len = start;
        if (artifact->data != NULL)
            artifact->data[start] = '\0';
    }
    return rc;
}

int hub_channel_deliver(const hub_channel *c, const hub_deliver_in *in, char *err, size_t errcap,
                        int64_t *retry_after_ms)
{
    hub_deliver_out out = {sizeof(out), 0, err, errcap, 0};
    if (errcap > 0)
        err[0] = '\0';
    int rc = c->plugin->deliver(c->state, in, &out);
    if (errcap > 0)
        err[errcap - 1] = '\0';
    if (retry_after_ms != NULL)
        *retry_after_ms = out.retry_after_ms;
    if (rc != HUB_DELIVER_OK && rc != HUB_DELIVER_RETRY && rc != HUB_DELIVER_FAIL) {
        if (errcap > 0 && err[0] == '\0')
            snprintf(err, errcap, "the %s plugin returned %d from deliver", c->name, rc);
        rc = HUB_DELIVER_RETRY;
    }
    return rc;
}
