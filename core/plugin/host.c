/*
 * The host services lent to plugins (hub_host_api): output buffers, reports, logging,
 * HTML to text and sanitizing (core/xml), Liquid (core/template), the outbox, metrics, and
 * the SMTP and HTTP drivers handed in by the app. Every function here is thread-safe.
 *
 * The outbox directory and the drivers belong to the frozen registry (the one hub_plugins
 * loaded last), the only global the plugin module keeps; it is set once at start-up.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "template/template.h"
#include "xml/xml.h"

static const hub_plugins *registry;

const hub_plugins *hub_plugin_registry(void)
{
    return registry;
}

void hub_plugin_registry_set(const hub_plugins *p)
{
    registry = p;
}

/* ---- log, buffers, reports --------------------------------------------------------------- */

static void host_log(int level, const char *plugin, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    hub_log_level l = level <= HUB_PLUGIN_LOG_DEBUG  ? HUB_LOG_DEBUG
                      : level == HUB_PLUGIN_LOG_INFO ? HUB_LOG_INFO
                      : level == HUB_PLUGIN_LOG_WARN ? HUB_LOG_WARN
                                                     : HUB_LOG_ERROR;
    hub_log(l, "plugin %s: %s", plugin != NULL ? plugin : "?", line);
}

hub_buf *hub_out_buf(hub_out *out)
{
    return out->b;
}

static int host_out_append(hub_out *out, const void *data, size_t len)
{
    return hub_buf_append(out->b, data, len);
}

/* JSON string literal: quotes, backslash and control characters escaped, UTF-8 kept. Runs of
 * plain bytes are appended at once; on failure the buffer is as it was. */
static int host_out_json_string(hub_out *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    hub_buf *b = out->b;
    size_t start = b->len, run = 0;
    if (!hub_utf8_valid(s, len))
        return HUB_EINVAL;
    int rc = hub_buf_append_byte(b, '"');
    for (size_t i = 0; rc == 0 && i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        rc = hub_buf_append(b, s + run, i - run);
        run = i + 1;
        char esc[7] = {'\\', (char)c, 0};
        size_t n = 2;
        if (c == '\n' || c == '\r' || c == '\t') {
            esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        } else if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        if (rc == 0)
            rc = hub_buf_append(b, esc, n);
    }
    if (rc == 0)
        rc = hub_buf_append(b, s + run, len - run);
    if (rc == 0)
        rc = hub_buf_append_byte(b, '"');
    if (rc != 0) {
        b->len = start;
        if (b->data != NULL)
            b->data[start] = '\0';
    }
    return rc;
}

static hub_str host_out_view(const hub_out *out)
{
    return (hub_str){out->b->data != NULL ? out->b->data : "", out->b->len};
}

static hub_out *host_out_new(size_t cap)
{
    hub_out *o = calloc(1, sizeof(*o));
    if (o != NULL) {
        hub_buf_init(&o->own, cap);
        o->b = &o->own;
    }
    return o;
}

static void host_out_free(hub_out *out)
{
    if (out != NULL) {
        hub_buf_free(&out->own);
        free(out);
    }
}

static void host_report_problem(hub_report *r, const char *field, const char *fmt, ...)
{
    char msg[400];
    hub_buf path;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->problems++;
    if (r->rep == NULL || r->rep->problems == NULL)
        return;
    hub_buf_init(&path, 1024);
    hub_buf_append_str(&path, r->rep->path_prefix != NULL ? r->rep->path_prefix : "");
    if (field != NULL && field[0] != '\0') {
        hub_buf_append_byte(&path, '/');
        hub_buf_append_jptr(&path, field);
    }
    const char *suffix = r->rep->suffix != NULL ? r->rep->suffix : "";
    hub_problems_add(r->rep->problems, path.data != NULL ? path.data : "", "%s%s", msg, suffix);
    hub_buf_free(&path);
}

static void host_report_warning(hub_report *r, const char *code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    if (r->rep == NULL || r->rep->warnings == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_array_append_new(
        r->rep->warnings,
        json_pack("{s:s, s:s}", "code", code != NULL ? code : "warning", "message", msg));
}

/* ---- HTML and Liquid ----------------------------------------------------------------------- */

static int host_html_to_text(const char *html, size_t len, hub_out *out)
{
    return hub_xml_html_to_text(html, len, out->b, NULL);
}

static int host_sanitize_html(const char *html, size_t len, hub_out *out, size_t *removed)
{
    return hub_xml_sanitize_html(html, len, out->b, removed, NULL);
}

static int host_template_render(const char *src, size_t len, const json_t *vars, hub_out *out,
                                char *err, size_t errcap)
{
    hub_template *t = NULL;
    hub_error e;
    hub_error_init(&e);
    int rc = hub_template_compile(src, len, &t, &e);
    if (rc == 0)
        rc = hub_template_render(t, vars, NULL, out->b, &e);
    if (rc != 0 && err != NULL && errcap > 0)
        snprintf(err, errcap, "%s", e.message[0] ? e.message : hub_strerror(rc));
    hub_template_free(t);
    hub_error_clear(&e);
    return rc;
}

/* ---- delivery services --------------------------------------------------------------------- */

static int host_smtp_send(const char *channel, const hub_smtp_message *msg, hub_smtp_result *res,
                          char *err, size_t errcap)
{
    const hub_plugins *p = registry;
    if (p == NULL || p->services.smtp_send == NULL) {
        snprintf(err, errcap, "this hub has no SMTP driver");
        return HUB_DELIVER_FAIL;
    }
    if (msg == NULL || !HUB_PLUGIN_HAS(msg, flags) || msg->url == NULL) {
        snprintf(err, errcap, "the plugin named no SMTP server (hub_smtp_message.url, ABI 1.1)");
        return HUB_DELIVER_FAIL;
    }
    return p->services.smtp_send(p->services.ctx, channel, msg, res, err, errcap);
}

static int host_http_request(const hub_http_request *req, hub_http_response *res, char *err,
                             size_t errcap)
{
    const hub_plugins *p = registry;
    if (p == NULL || p->services.http_request == NULL) {
        snprintf(err, errcap, "this hub has no HTTP driver");
        return HUB_DELIVER_FAIL;
    }
    return p->services.http_request(p->services.ctx, req, res, err, errcap);
}

static int host_inbox_write(const char *channel, const char *recipient, const char *message_id,
                            hub_str body, char *err, size_t errcap)
{
    const hub_plugins *p = registry;
    if (p == NULL || p->services.inbox_write == NULL) {
        snprintf(err, errcap, "this hub has no inbox");
        return HUB_DELIVER_FAIL;
    }
    return p->services.inbox_write(p->services.ctx, channel, recipient, message_id, body, err,
                                   errcap);
}

static int plain_name(const char *s, size_t max)
{
    size_t n = s != NULL ? strlen(s) : 0;
    return n > 0 && n <= max && s[0] != '.' && hub_plain_name(s, n);
}

/* Creates directory path if it is not there; a new one is made durable in its parent (the
 * files delivered into it must not vanish with it after a crash). */
static int mkdir_one(const char *path)
{
    if (mkdir(path, 0750) != 0)
        return errno == EEXIST ? 0 : -1;
    char parent[4096];
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return hub_fsync_dir(".");
    snprintf(parent, sizeof(parent), "%.*s", slash == path ? 1 : (int)(slash - path), path);
    return hub_fsync_dir(parent);
}

/* Writes data to fd completely, then fsyncs it. */
static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return fsync(fd);
}

static int host_outbox_write(const char *channel, const char *name, const char *ext,
                             const void *data, size_t len, char *err, size_t errcap)
{
    const hub_plugins *p = registry;
    char dir[4096], tmp[4400], final[4400];
    if (p == NULL || p->outbox_dir == NULL) {
        snprintf(err, errcap, "this hub has no outbox directory");
        return HUB_DELIVER_FAIL;
    }
    if (!plain_name(channel, 32) || !plain_name(name, 128) || ext == NULL ||
        (ext[0] != '\0' && (ext[0] != '.' || !plain_name(ext + 1, 16)))) {
        snprintf(err, errcap, "outbox: bad channel, name or extension");
        return HUB_DELIVER_FAIL;
    }
    snprintf(dir, sizeof(dir), "%s/%s", p->outbox_dir, channel);
    snprintf(final, sizeof(final), "%s/%s%s", dir, name, ext);
    snprintf(tmp, sizeof(tmp), "%s/.%s%s.%ld.tmp", dir, name, ext, (long)gettid());
    if (mkdir_one(p->outbox_dir) != 0 || mkdir_one(dir) != 0) {
        snprintf(err, errcap, "outbox: cannot create %s: %s", dir, strerror(errno));
        return HUB_DELIVER_RETRY;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0 || write_all(fd, data, len) != 0) {
        snprintf(err, errcap, "outbox: cannot write %s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        return HUB_DELIVER_RETRY;
    }
    close(fd);
    /* Deliveries into one directory at the same time share the fsync of the directory. */
    if (rename(tmp, final) != 0 || hub_fsync_dir(dir) != 0) {
        snprintf(err, errcap, "outbox: cannot rename into %s: %s", final, strerror(errno));
        unlink(tmp);
        return HUB_DELIVER_RETRY;
    }
    return HUB_DELIVER_OK;
}

/* ---- metrics ------------------------------------------------------------------------------ */

#define METRICS_MAX 64

static struct {
    char plugin[33];
    char name[49];
    double value;
} metrics[METRICS_MAX];
static size_t nmetrics;
static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;

static int metric_name_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
            return 0;
    return n > 0 && n <= 48;
}

static void host_metric_add(const char *plugin, const char *name, double delta)
{
    if (!plain_name(plugin, 32) || !metric_name_ok(name))
        return;
    pthread_mutex_lock(&metrics_lock);
    size_t i = 0;
    while (i < nmetrics &&
           (strcmp(metrics[i].plugin, plugin) != 0 || strcmp(metrics[i].name, name) != 0))
        i++;
    if (i == nmetrics && nmetrics < METRICS_MAX) {
        snprintf(metrics[i].plugin, sizeof(metrics[i].plugin), "%s", plugin);
        snprintf(metrics[i].name, sizeof(metrics[i].name), "%s", name);
        metrics[i].value = 0;
        nmetrics++;
    }
    if (i < nmetrics)
        metrics[i].value += delta;
    pthread_mutex_unlock(&metrics_lock);
}

/* Prometheus wants a family's samples together: print them grouped by name. */
int hub_plugins_metrics_text(hub_buf *out)
{
    int rc = 0;
    char done[METRICS_MAX] = {0};
    pthread_mutex_lock(&metrics_lock);
    for (size_t i = 0; rc == 0 && i < nmetrics; i++) {
        if (done[i])
            continue;
        rc = hub_buf_printf(out, "# TYPE omnihub_plugin_%s_total counter\n", metrics[i].name);
        for (size_t j = i; rc == 0 && j < nmetrics; j++) {
            if (done[j] || strcmp(metrics[j].name, metrics[i].name) != 0)
                continue;
            done[j] = 1;
            rc = hub_buf_printf(out, "omnihub_plugin_%s_total{channel=\"%s\"} %.17g\n",
                                metrics[j].name, metrics[j].plugin, metrics[j].value);
        }
    }
    pthread_mutex_unlock(&metrics_lock);
    return rc;
}

void hub_plugin_host_init(hub_host_api *h)
{
    memset(h, 0, sizeof(*h));
    h->struct_size = sizeof(*h);
    h->abi_minor = OMNIHUB_PLUGIN_ABI_MINOR;
    h->log = host_log;
    h->out_append = host_out_append;
    h->out_json_string = host_out_json_string;
    h->out_view = host_out_view;
    h->report_problem = host_report_problem;
    h->report_warning = host_report_warning;
    h->html_to_text = host_html_to_text;
    h->sanitize_html = host_sanitize_html;
    h->template_render = host_template_render;
    h->smtp_send = host_smtp_send;
    h->http_request = host_http_request;
    h->outbox_write = host_outbox_write;
    h->metric_add = host_metric_add;
    h->out_new = host_out_new;
    h->out_free = host_out_free;
    h->inbox_write = host_inbox_write;
}
