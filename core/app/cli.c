/*
 * app/cli.c: the command line of API.md "Command line": serve, token create, import, backup,
 * render, xliff export and import, --help, --version. Exit codes: 0 success, 1 runtime failure, 2
 * bad usage; every error is one line on stderr.
 *
 * serve starts in order (store, writer, HTTP) and stops in reverse: SIGTERM and SIGINT are
 * blocked before any thread exists, so every thread inherits the mask and only the main
 * thread, waiting in sigwait, receives them. The HTTP server drains in-flight requests (whose
 * writes the writer still commits) before the writer and the store close.
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "translation/translation.h"

#define HUB_VERSION_STRING "0.1.0"
#define THREADS_MAX        256

static const char usage_text[] =
    "usage:\n"
    "  omnihub serve --data DIR [--listen HOST:PORT] [--threads N] [--config FILE]\n"
    "  omnihub token create --data DIR --role admin|editor|delivery|preview --name NAME\n"
    "                       [--channels a,b] [--tags p/,q/]\n"
    "  omnihub import --data DIR [--config FILE] PATH...\n"
    "  omnihub render --data DIR --item KEY --channel C [--locale L] [--subject ID]\n"
    "                 [--attributes JSON] [--segments a,b] [--variant V]\n"
    "                 [--status published|draft] [--message-id ID]\n"
    "                 [--now RFC3339]\n"
    "                 [--config FILE]\n"
    "  omnihub backup --data DIR OUT\n"
    "  omnihub xliff export --data DIR --locale L [--source L] [--tag TERM]\n"
    "                       [--format xliff2|xliff12] [--out FILE] [--config FILE]\n"
    "  omnihub xliff import --data DIR [--config FILE] FILE\n"
    "  omnihub --help | --version\n"
    "Exit codes: 0 success, 1 runtime failure, 2 bad usage.\n";

/* One line on stderr and exit code 2. */
__attribute__((format(printf, 1, 2))) static int usage(const char *fmt, ...)
{
    va_list ap;
    fputs("omnihub: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see omnihub --help)\n", stderr);
    return 2;
}

/* One line on stderr and exit code 1. */
static int fail(const hub_error *err, int rc)
{
    fprintf(stderr, "omnihub: %s\n", err->message[0] ? err->message : hub_strerror(rc));
    return 1;
}

/* ---- options --------------------------------------------------------------------------- */

typedef struct opt {
    const char *name; /* without the dashes */
    const char **value;
} opt;

typedef struct args {
    const opt *opts;
    char **pos; /* positional arguments, in order (points into argv) */
    int npos;
    int maxpos;
    int help;
} args;

/* Parses "--name value" and "--name=value" into the table; the rest are positionals. Returns
 * 0 or a usage exit code (message printed). */
static int parse_args(int argc, char **argv, args *a)
{
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            a->help = 1;
            continue;
        }
        if (strncmp(s, "--", 2) != 0 || s[2] == '\0') {
            if (a->npos >= a->maxpos)
                return usage("unexpected argument '%.100s'", s);
            a->pos[a->npos++] = argv[i];
            continue;
        }
        const char *name = s + 2, *eq = strchr(name, '=');
        size_t nlen = eq != NULL ? (size_t)(eq - name) : strlen(name);
        const opt *o = a->opts;
        while (o->name != NULL && !(strlen(o->name) == nlen && memcmp(o->name, name, nlen) == 0))
            o++;
        if (o->name == NULL)
            return usage("unknown option --%.*s", (int)(nlen > 100 ? 100 : nlen), name);
        if (eq != NULL) {
            *o->value = eq + 1;
        } else if (i + 1 < argc) {
            *o->value = argv[++i];
        } else {
            return usage("option --%s needs a value", o->name);
        }
    }
    return 0;
}

static int open_store(hub_store **out, const char *data, uint64_t map_size, int read_only)
{
    hub_error err;
    hub_error_init(&err);
    hub_store_options so = {.dir = data, .map_size = map_size, .read_only = read_only};
    int rc = hub_store_open(out, &so, &err);
    if (rc != 0)
        fail(&err, rc);
    hub_error_clear(&err);
    return rc;
}

/* ---- serve ----------------------------------------------------------------------------- */

static int serve_settings(const char *listen, const char *threads, const char *config,
                          hub_config *cfg)
{
    hub_error err;
    hub_error_init(&err);
    if (config != NULL && hub_config_load(cfg, config, &err) != 0) {
        fprintf(stderr, "omnihub: %s\n", err.message);
        hub_error_clear(&err);
        return 2;
    }
    hub_error_clear(&err);
    if (listen != NULL && hub_config_parse_listen(listen, cfg->http.host, &cfg->http.port) != 0)
        return usage("--listen must be HOST:PORT, for example 127.0.0.1:8080");
    if (threads != NULL) {
        uint64_t n;
        if (hub_parse_u64(hub_slice_cstr(threads), &n) != 0 || n < 1 || n > THREADS_MAX)
            return usage("--threads must be an integer 1..%d", THREADS_MAX);
        cfg->http.threads = (unsigned)n;
    }
    if (cfg->http.threads == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->http.threads = cores < 1 ? 1 : cores > THREADS_MAX ? THREADS_MAX : (unsigned)cores;
    }
    return 0;
}

/* Runs the server until SIGTERM or SIGINT. The signals must already be blocked. */
static int serve_run(const hub_config *cfg, const char *data)
{
    hub_store *store = NULL;
    hub_http_server *http = NULL;
    hub_queue *queue = NULL;
    hub_scheduler *scheduler = NULL;
    hub_recorder *recorder = NULL;
    hub_channels ch = {0};
    hub_http_config hc = cfg->http;
    hub_error err;
    int sig = 0, code = 1;
    sigset_t set;
    hub_error_init(&err);
    /* libcurl first, while this is the only thread. */
    int rc = hub_transport_global_init(&err);
    if (rc == 0)
        rc = hub_channels_open(&ch, cfg, data, &err);
    if (rc != 0) {
        fail(&err, rc);
        hub_error_clear(&err);
        hub_transport_global_cleanup();
        return rc == HUB_EINVAL ? 2 : 1;
    }
    if (open_store(&store, data, cfg->map_size, 0) != 0) {
        hub_transport_global_cleanup();
        hub_channels_close(&ch);
        hub_error_clear(&err);
        return 1;
    }
    rc = hub_store_writer_start(store, 0);
    if (rc != 0) {
        hub_error_set(&err, rc, "store: cannot start the writer: %s", hub_strerror(rc));
        goto out;
    }
    ch.services->store = store;
    hub_queue_config qc = {.store = store,
                           .plugins = ch.plugins,
                           .workers = cfg->workers,
                           .retry = cfg->retry,
                           .keep_ms = cfg->keep_ms};
    qc.services = ch.services;
    hub_jobs_set_delivered_hook(hub_analytics_on_delivered, NULL);
    rc = hub_queue_start(&qc, &queue, &err);
    if (rc != 0)
        goto out;
    hub_changes_set_hook(hub_webhooks_on_change, NULL);
    rc = hub_recorder_start(store, 0, &recorder);
    if (rc != 0) {
        hub_error_set(&err, rc, "cannot start the exposure recorder: %s", hub_strerror(rc));
        goto out;
    }
    hub_content_ctx scx = {hub_renderer_schemas(ch.renderer), NULL, hub_render_publish_check,
                           (void *)ch.renderer, NULL};
    rc = hub_scheduler_start(store, &scx, &cfg->analytics, &scheduler, &err);
    if (rc != 0)
        goto out;
    hc.renderer = ch.renderer;
    hc.queue = queue;
    hc.recorder = recorder;
    hc.retention_days = cfg->analytics.retention_days;
    rc = hub_http_start(&http, &hc, store, hub_renderer_schemas(ch.renderer), &err);
    if (rc != 0)
        goto out;
    int v6 = strchr(cfg->http.host, ':') != NULL;
    fprintf(stderr, "omnihub listening on http://%s%s%s:%u (%u threads, data %s)\n", v6 ? "[" : "",
            cfg->http.host, v6 ? "]" : "", (unsigned)hub_http_port(http), cfg->http.threads, data);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    while (sigwait(&set, &sig) != 0 || (sig != SIGTERM && sig != SIGINT))
        ;
    HUB_LOG_INFO("signal %d: draining and stopping", sig);
    code = 0;
out:
    if (code != 0)
        fail(&err, rc);
    hub_http_stop(http);
    hub_recorder_stop(recorder); /* after HTTP (no new reads), before the writer */
    hub_scheduler_stop(scheduler);
    hub_changes_set_hook(NULL, NULL);
    hub_queue_stop(queue); /* after HTTP (no new sends), before the writer (its outcomes) */
    hub_jobs_set_delivered_hook(NULL, NULL);
    hub_store_writer_stop(store);
    hub_store_close(store);
    hub_channels_close(&ch);
    hub_transport_global_cleanup();
    hub_error_clear(&err);
    return code;
}

static int cmd_serve(int argc, char **argv)
{
    const char *data = NULL, *listen = NULL, *threads = NULL, *config = NULL;
    const opt opts[] = {{"data", &data},
                        {"listen", &listen},
                        {"threads", &threads},
                        {"config", &config},
                        {NULL, NULL}};
    args a = {.opts = opts};
    hub_config cfg;
    int code = parse_args(argc, argv, &a);
    if (code != 0 || a.help) {
        if (a.help)
            fputs(usage_text, stdout);
        return code;
    }
    if (data == NULL || data[0] == '\0')
        return usage("serve needs --data DIR");
    hub_config_defaults(&cfg);
    code = serve_settings(listen, threads, config, &cfg);
    if (code == 0) {
        sigset_t set;
        hub_log_set_level(cfg.log_level);
        signal(SIGPIPE, SIG_IGN);
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread: they inherit it */
        code = serve_run(&cfg, data);
    }
    hub_config_free(&cfg);
    return code;
}

/* ---- token create ---------------------------------------------------------------------- */

typedef struct token_call {
    json_t *spec;
    char secret[HUB_TOKEN_SECRET_LEN];
    hub_error err;
} token_call;

static int token_write(hub_txn *txn, void *arg)
{
    token_call *c = arg;
    json_t *detail;
    int rc = hub_auth_token_create(txn, c->spec, c->secret, NULL, &c->err);
    if (rc != 0)
        return rc;
    detail = json_pack("{s:O}", "role", json_object_get(c->spec, "role"));
    rc = hub_audit_append(txn, "cli", "token.create", "tokens",
                          json_string_value(json_object_get(c->spec, "name")), detail);
    json_decref(detail);
    return rc;
}

/* "a,b" -> ["a","b"] (new reference); empty parts are kept so auth reports them. */
static json_t *split_list(const char *s)
{
    json_t *arr = json_array();
    while (arr != NULL) {
        const char *comma = strchr(s, ',');
        size_t n = comma != NULL ? (size_t)(comma - s) : strlen(s);
        if (json_array_append_new(arr, json_stringn(s, n)) != 0) {
            json_decref(arr);
            return NULL;
        }
        if (comma == NULL)
            break;
        s = comma + 1;
    }
    return arr;
}

static int token_run(const char *data, json_t *spec)
{
    hub_store *store = NULL;
    token_call c = {.spec = spec};
    int code = 0;
    if (open_store(&store, data, 0, 0) != 0)
        return 1;
    hub_error_init(&c.err);
    int rc = hub_store_write(store, token_write, &c);
    if (rc == HUB_EEXISTS) {
        fputs("omnihub: token name already exists\n", stderr);
        code = 1;
    } else if (rc == HUB_EINVAL && c.err.problems.count > 0) {
        fprintf(stderr, "omnihub: token: %s %s\n", c.err.problems.items[0].path,
                c.err.problems.items[0].message);
        code = 2;
    } else if (rc != 0) {
        code = rc == HUB_EINVAL ? 2 : 1;
        fail(&c.err, rc);
    } else {
        printf("%s\n", c.secret);
        code = fflush(stdout) == 0 ? 0 : 1;
    }
    hub_error_clear(&c.err);
    hub_store_close(store);
    return code;
}

/* Loads the channel plugins for a command: 0, or the exit code after the one-line error
 * (2 for a configuration the plugins refuse, 1 otherwise). */
static int open_channels(const hub_config *cfg, const char *data, hub_channels *ch)
{
    hub_error err;
    hub_error_init(&err);
    int rc = hub_channels_open(ch, cfg, data, &err);
    if (rc != 0)
        fail(&err, rc);
    hub_error_clear(&err);
    return rc == 0 ? 0 : rc == HUB_EINVAL ? 2 : 1;
}

/* Loads --config (when given) into cfg; prints the one-line error and returns 2. */
static int load_config(const char *config, hub_config *cfg)
{
    hub_error err;
    int code = 0;
    hub_error_init(&err);
    if (config != NULL && hub_config_load(cfg, config, &err) != 0) {
        fprintf(stderr, "omnihub: %s\n", err.message);
        code = 2;
    }
    hub_error_clear(&err);
    return code;
}

static int cmd_token(int argc, char **argv)
{
    const char *data = NULL, *role = NULL, *name = NULL, *channels = NULL, *tags = NULL;
    const opt opts[] = {{"data", &data},         {"role", &role}, {"name", &name},
                        {"channels", &channels}, {"tags", &tags}, {NULL, NULL}};
    char *pos[1];
    args a = {.opts = opts, .pos = pos, .maxpos = 1};
    int code = parse_args(argc, argv, &a);
    if (code != 0 || a.help) {
        if (a.help)
            fputs(usage_text, stdout);
        return code;
    }
    if (a.npos != 1 || strcmp(pos[0], "create") != 0)
        return usage("token needs the subcommand 'create'");
    if (data == NULL || data[0] == '\0')
        return usage("token create needs --data DIR");
    if (name == NULL)
        return usage("token create needs --name NAME");
    if (role == NULL || hub_role_parse(role) == HUB_ROLE_NONE)
        return usage("token create needs --role admin|editor|delivery|preview");
    json_t *spec = json_pack("{s:s,s:s}", "name", name, "role", role);
    if (spec == NULL)
        return usage("--name and --role must be UTF-8 text");
    if ((channels != NULL && json_object_set_new(spec, "channels", split_list(channels)) != 0) ||
        (tags != NULL && json_object_set_new(spec, "tags", split_list(tags)) != 0)) {
        json_decref(spec);
        return usage("--channels and --tags must be comma-separated UTF-8 lists");
    }
    json_t *c;
    size_t i;
    hub_config cfg;
    hub_channels ch = {0};
    hub_config_defaults(&cfg);
    if (json_array_size(json_object_get(spec, "channels")) > 0)
        code = open_channels(&cfg, data, &ch);
    json_array_foreach(json_object_get(spec, "channels"), i, c)
    {
        const char *cn = json_string_value(c);
        if (code == 0 && hub_plugins_find(ch.plugins, cn, strlen(cn)) == NULL)
            code = usage("--channels: unknown channel '%.40s'", cn);
    }
    hub_channels_close(&ch);
    hub_config_free(&cfg);
    if (code != 0) {
        json_decref(spec);
        return code;
    }
    code = token_run(data, spec);
    json_decref(spec);
    return code;
}

/* ---- import and backup ----------------------------------------------------------------- */

static int cmd_import(int argc, char **argv)
{
    const char *data = NULL, *config = NULL;
    const opt opts[] = {{"data", &data}, {"config", &config}, {NULL, NULL}};
    hub_config cfg;
    hub_channels ch = {0};
    char **pos = calloc((size_t)argc + 1, sizeof(*pos));
    args a = {.opts = opts, .pos = pos, .maxpos = argc};
    hub_store *store = NULL;
    int code = pos == NULL ? 1 : parse_args(argc, argv, &a);
    if (code != 0 || a.help) {
        if (a.help)
            fputs(usage_text, stdout);
    } else if (data == NULL || data[0] == '\0') {
        code = usage("import needs --data DIR");
    } else if (a.npos == 0) {
        code = usage("import needs at least one PATH");
    } else {
        hub_config_defaults(&cfg);
        code = load_config(config, &cfg);
        if (code == 0)
            code = open_channels(&cfg, data, &ch);
        if (code == 0 && open_store(&store, data, 0, 0) != 0)
            code = 1;
        if (code == 0) {
            /* Events of imported changes wait in the queue for a server to send them. */
            hub_changes_set_hook(hub_webhooks_on_change, NULL);
            code = hub_import_paths(store, ch.renderer, a.pos, a.npos);
        }
        hub_store_close(store);
        hub_channels_close(&ch);
        hub_config_free(&cfg);
    }
    free(pos);
    return code;
}

static int cmd_backup(int argc, char **argv)
{
    const char *data = NULL;
    const opt opts[] = {{"data", &data}, {NULL, NULL}};
    char *pos[1];
    args a = {.opts = opts, .pos = pos, .maxpos = 1};
    hub_store *store = NULL;
    hub_error err;
    int code = parse_args(argc, argv, &a);
    if (code != 0 || a.help) {
        if (a.help)
            fputs(usage_text, stdout);
        return code;
    }
    if (data == NULL || data[0] == '\0')
        return usage("backup needs --data DIR");
    if (a.npos != 1)
        return usage("backup needs one OUT directory");
    /* A read-only environment: mdb_env_copy needs only a read transaction. */
    if (open_store(&store, data, 0, 1) != 0)
        return 1;
    hub_error_init(&err);
    int rc = hub_store_backup(store, pos[0], &err);
    code = rc == 0 ? 0 : fail(&err, rc);
    hub_error_clear(&err);
    hub_store_close(store);
    return code;
}

/* ---- render ----------------------------------------------------------------------------- */

typedef struct render_opts {
    const char *data, *item, *channel, *locale, *subject, *attributes, *segments, *variant, *status,
        *config, *message_id, *now;
} render_opts;

/* The recipient of --subject, --attributes and --segments (new), or NULL with a message. */
static json_t *render_recipient(const render_opts *o)
{
    json_error_t je;
    json_t *rcp = json_object();
    json_t *attrs = o->attributes != NULL ? json_loads(o->attributes, 0, &je) : json_object();
    if (rcp == NULL || !json_is_object(attrs)) {
        usage("--attributes must be a JSON object");
        json_decref(attrs);
        json_decref(rcp);
        return NULL;
    }
    json_object_set_new(rcp, "attributes", attrs);
    if (o->subject != NULL)
        json_object_set_new(rcp, "id", json_string(o->subject));
    json_object_set_new(rcp, "segments",
                        o->segments != NULL ? split_list(o->segments) : json_array());
    return rcp;
}

static int render_run(const render_opts *o, const hub_renderer *renderer, hub_store *store,
                      json_t *recipient, int64_t now_ms)
{
    char locale[HUB_LOCALE_TAG_MAX] = "";
    hub_error err;
    hub_render_result res;
    hub_txn *txn = NULL;
    hub_error_init(&err);
    hub_render_result_init(&res);
    int rc =
        o->locale != NULL ? hub_locale_canonicalize(o->locale, strlen(o->locale), locale, &err) : 0;
    hub_render_request rq = {.item = o->item,
                             .channel = o->channel,
                             .locale = locale,
                             .variant = o->variant,
                             .recipient = recipient,
                             .draft = o->status != NULL && strcmp(o->status, "draft") == 0,
                             .message_id = o->message_id,
                             .now_ms = now_ms};
    if (rc == 0 && (rc = hub_store_read(store, &txn)) == 0) {
        rc = hub_render(renderer, NULL, txn, &rq, &res, &err);
        hub_txn_end(txn);
    }
    json_t *body = rc == 0 ? hub_render_result_json(&rq, &res) : NULL;
    int code = rc == 0 && body != NULL ? 0 : 1;
    if (body != NULL) {
        code = json_dumpf(body, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 ? 0 : 1;
        putchar('\n');
    } else if (rc == 0) {
        fprintf(stderr, "omnihub: the %s plugin produced an artifact that is not JSON\n",
                o->channel);
    } else if (res.problems.count > 0) {
        fprintf(stderr, "omnihub: %s: %s %s\n", err.message, res.problems.items[0].path,
                res.problems.items[0].message);
    } else {
        fail(&err, rc);
    }
    json_decref(body);
    hub_render_result_free(&res);
    hub_error_clear(&err);
    return code;
}

static int cmd_render(int argc, char **argv)
{
    render_opts o = {0};
    const opt opts[] = {{"data", &o.data},
                        {"item", &o.item},
                        {"channel", &o.channel},
                        {"locale", &o.locale},
                        {"subject", &o.subject},
                        {"attributes", &o.attributes},
                        {"segments", &o.segments},
                        {"variant", &o.variant},
                        {"status", &o.status},
                        {"config", &o.config},
                        {"message-id", &o.message_id},
                        {"now", &o.now},
                        {NULL, NULL}};
    args a = {.opts = opts};
    hub_config cfg;
    hub_channels ch = {0};
    hub_store *store = NULL;
    int code = parse_args(argc, argv, &a);
    if (code != 0 || a.help) {
        if (a.help)
            fputs(usage_text, stdout);
        return code;
    }
    if (o.data == NULL || o.item == NULL || o.channel == NULL)
        return usage("render needs --data DIR, --item KEY and --channel C");
    if (o.status != NULL && strcmp(o.status, "draft") != 0 && strcmp(o.status, "published") != 0)
        return usage("--status must be published or draft");
    int64_t now_ms = 0;
    if (o.now != NULL && hub_time_parse(o.now, strlen(o.now), &now_ms) != 0)
        return usage("--now must be an RFC 3339 time, for example 2027-03-01T09:00:00Z");
    json_t *recipient = render_recipient(&o);
    if (recipient == NULL)
        return 2;
    hub_config_defaults(&cfg);
    code = load_config(o.config, &cfg);
    if (code == 0)
        code = open_channels(&cfg, o.data, &ch);
    if (code == 0 && open_store(&store, o.data, 0, 1) != 0)
        code = 1;
    if (code == 0)
        code = render_run(&o, ch.renderer, store, recipient, now_ms);
    hub_store_close(store);
    hub_channels_close(&ch);
    hub_config_free(&cfg);
    json_decref(recipient);
    return code;
}

/* ---- xliff ------------------------------------------------------------------------------ */

typedef struct xliff_opts {
    const char *data, *locale, *source, *tag, *format, *out, *config;
} xliff_opts;

static int xliff_export_run(const xliff_opts *o, const hub_renderer *renderer, hub_store *store)
{
    char locale[HUB_LOCALE_TAG_MAX], source[HUB_LOCALE_TAG_MAX] = "";
    hub_tr_export_request rq = {NULL, locale, o->tag, hub_translation_format(o->format), NULL};
    hub_txn *txn = NULL;
    hub_buf out;
    hub_error err;
    size_t n = 0;
    hub_error_init(&err);
    hub_buf_init(&out, HUB_TR_EXPORT_MAX);
    int rc = hub_locale_canonicalize(o->locale, strlen(o->locale), locale, &err);
    if (rc == 0 && o->source != NULL) {
        rc = hub_locale_canonicalize(o->source, strlen(o->source), source, &err);
        rq.source = source;
    }
    if (rc == 0 && (rc = hub_store_read(store, &txn)) == 0) {
        rc = hub_translation_export(txn, renderer, &rq, &out, &n, &err);
        hub_txn_end(txn);
    }
    if (rc == HUB_ETOOBIG)
        hub_error_set(&err, rc, "the export is over 12 MiB: narrow it with --tag");
    FILE *f = rc != 0 || o->out == NULL ? stdout : fopen(o->out, "wb");
    int code = rc != 0 ? fail(&err, rc) : 0;
    if (code == 0 && f == NULL) {
        fprintf(stderr, "omnihub: cannot write %s\n", o->out);
        code = 1;
    } else if (code == 0 && (fwrite(out.data, 1, out.len, f) != out.len || fflush(f) != 0)) {
        fprintf(stderr, "omnihub: cannot write the document\n");
        code = 1;
    }
    if (code == 0)
        fprintf(stderr, "omnihub: %zu unit%s to translate\n", n, n == 1 ? "" : "s");
    if (f != NULL && f != stdout)
        fclose(f);
    hub_buf_free(&out);
    hub_error_clear(&err);
    return code;
}

typedef struct xliff_import_ctx {
    const hub_renderer *renderer;
    hub_xliff_doc *doc;
    json_t *report;
    hub_error err;
} xliff_import_ctx;

static int xliff_import_fn(hub_txn *txn, void *arg)
{
    xliff_import_ctx *x = arg;
    hub_content_ctx cx = {hub_renderer_schemas(x->renderer), NULL, hub_render_publish_check,
                          (void *)x->renderer, NULL};
    return hub_translation_import(txn, &cx, x->renderer, x->doc, &x->report, &x->err);
}

/* Reads the whole file (at most HUB_XLIFF_MAX_INPUT bytes) into b. */
static int read_file(const char *path, hub_buf *b)
{
    char chunk[65536];
    size_t n;
    FILE *f = fopen(path, "rb");
    int rc = f == NULL ? HUB_EIO : 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rc = hub_buf_append(b, chunk, n);
    if (f != NULL && ferror(f))
        rc = HUB_EIO;
    if (f != NULL)
        fclose(f);
    return rc;
}

static int xliff_import_run(const char *path, const hub_renderer *renderer, hub_store *store)
{
    hub_xliff_doc doc = {0};
    xliff_import_ctx x = {.renderer = renderer, .doc = &doc};
    hub_buf in;
    size_t i;
    json_t *e;
    hub_buf_init(&in, HUB_XLIFF_MAX_INPUT);
    hub_error_init(&x.err);
    int rc = read_file(path, &in);
    if (rc != 0)
        hub_error_set(&x.err, rc, "%s: %s", path,
                      rc == HUB_ETOOBIG ? "larger than 16 MiB" : "cannot read it");
    if (rc == 0)
        rc = hub_xliff_parse(in.data, in.len, &doc, &x.err);
    if (rc == 0)
        rc = hub_store_write(store, xliff_import_fn, &x);
    int code = rc != 0 ? fail(&x.err, rc) : 0;
    if (rc == 0) {
        json_dumpf(x.report, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_array_foreach(json_object_get(x.report, "rejected"), i, e)
        {
            fprintf(stderr, "omnihub: %s %s: %s: %s\n",
                    json_string_value(json_object_get(e, "item")),
                    json_string_value(json_object_get(e, "unit")),
                    json_string_value(json_object_get(e, "reason")),
                    json_string_value(json_object_get(e, "detail")));
            code = 1;
        }
    }
    json_decref(x.report);
    hub_xliff_doc_free(&doc);
    hub_buf_free(&in);
    hub_error_clear(&x.err);
    return code;
}

static int cmd_xliff(int argc, char **argv)
{
    xliff_opts o = {0};
    const opt opts[] = {{"data", &o.data},     {"locale", &o.locale}, {"source", &o.source},
                        {"tag", &o.tag},       {"format", &o.format}, {"out", &o.out},
                        {"config", &o.config}, {NULL, NULL}};
    char *pos[2];
    args a = {.opts = opts, .pos = pos, .maxpos = 2};
    hub_config cfg;
    hub_channels ch = {0};
    hub_store *store = NULL;
    int code = parse_args(argc, argv, &a), export = a.npos > 0 && strcmp(pos[0], "export") == 0;
    if (code != 0 || a.help) {
        if (a.help)
            fputs(usage_text, stdout);
        return code;
    }
    if (a.npos == 0 || (!export && strcmp(pos[0], "import") != 0))
        return usage("xliff needs export or import");
    if (o.data == NULL || (export && (o.locale == NULL || a.npos != 1)))
        return usage("xliff export needs --data DIR and --locale L");
    if (!export && a.npos != 2)
        return usage("xliff import needs --data DIR and one FILE");
    if (hub_translation_format(o.format) == 0)
        return usage("--format must be xliff2 or xliff12");
    hub_config_defaults(&cfg);
    code = load_config(o.config, &cfg);
    if (code == 0)
        code = open_channels(&cfg, o.data, &ch);
    if (code == 0 && open_store(&store, o.data, 0, export) != 0)
        code = 1;
    if (code == 0 && export)
        code = xliff_export_run(&o, ch.renderer, store);
    else if (code == 0)
        code = xliff_import_run(pos[1], ch.renderer, store);
    hub_store_close(store);
    hub_channels_close(&ch);
    hub_config_free(&cfg);
    return code;
}

int hub_cli_main(int argc, char **argv)
{
    if (argc < 2)
        return usage("no command given");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        puts("omnihub " HUB_VERSION_STRING);
        return 0;
    }
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc - 2, argv + 2);
    /* The one-shot commands print what they did themselves: only warnings go to the log. */
    hub_log_set_level(HUB_LOG_WARN);
    if (strcmp(cmd, "token") == 0)
        return cmd_token(argc - 2, argv + 2);
    if (strcmp(cmd, "import") == 0)
        return cmd_import(argc - 2, argv + 2);
    if (strcmp(cmd, "backup") == 0)
        return cmd_backup(argc - 2, argv + 2);
    if (strcmp(cmd, "render") == 0)
        return cmd_render(argc - 2, argv + 2);
    if (strcmp(cmd, "xliff") == 0)
        return cmd_xliff(argc - 2, argv + 2);
    return usage("unknown command '%.100s'", cmd);
}
