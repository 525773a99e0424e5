/*
 * The email channel's configuration, channels.email of the configuration file:
 *   "driver"          "outbox" (default) or "smtp"
 *   "from"            "Name <addr@domain>" or an address; default smtp.from when that is
 *                     set, else "omnihub <no-reply@localhost>"
 *   "reply_to"        a mailbox like "from", or null
 *   "smtp"            {"url", "from", "username", "password", "starttls"}; url is required
 *                     with the smtp driver; from, when set, is the envelope sender
 *   "unsubscribe"     {"url": a Liquid template of an http(s) URL with the variables
 *                     recipient and message_id, "mailto": an address}, or null
 *   "html_warn_bytes" warn when the HTML body passes this many bytes (default 102400)
 * Unknown keys and wrong types refuse the plugin with one line naming the key.
 */
#include <stdlib.h>
#include <string.h>

#include "common/kit.h"
#include "email.h"
#include "mime.h"

#define DEFAULT_FROM "omnihub <no-reply@localhost>"

static int check_keys(const json_t *obj, const char *const *allowed, const char *path, char *err,
                      size_t cap)
{
    const char *key = kit_unknown_key(obj, allowed);
    return key != NULL ? kit_err(err, cap, HUB_PLUGIN_EINVAL, "%s: unknown key '%.64s'", path, key)
                       : 0;
}

/* *out: the string at obj.key, or NULL when absent or null. */
static int opt_string(const json_t *obj, const char *key, const char *path, const char **out,
                      char *err, size_t cap)
{
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return kit_err(err, cap, HUB_PLUGIN_EINVAL, "%s.%s: want a string", path, key);
    *out = json_string_value(v);
    return 0;
}

static int opt_object(const json_t *obj, const char *key, const json_t **out, char *err, size_t cap)
{
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return kit_err(err, cap, HUB_PLUGIN_EINVAL, "channels.email.%s: want an object", key);
    *out = v;
    return 0;
}

/* Splits a configured mailbox into owned display name and address. */
static int keep_mailbox(const char *s, const char *key, char **disp, char **addr, char *err,
                        size_t cap)
{
    mime_mailbox m;
    size_t n = strlen(s);
    if (mime_has_line_break(s, n) || mime_mailbox_parse(s, n, &m) != 0)
        return kit_err(err, cap, HUB_PLUGIN_EINVAL,
                       "channels.email.%s: want \"Name <addr@domain>\" or an address", key);
    *disp = malloc(m.dn + 1);
    *addr = kit_strndup(m.addr, m.an);
    if (*disp == NULL || *addr == NULL)
        return HUB_PLUGIN_ENOMEM;
    size_t dn = m.quoted ? mime_unquote(m.disp, m.dn, *disp) : m.dn;
    if (!m.quoted)
        memcpy(*disp, m.disp, m.dn);
    (*disp)[dn] = '\0';
    return 0;
}

static int parse_smtp(email_state *st, const json_t *smtp, const char **from, char *err, size_t cap)
{
    static const char *const keys[] = {"url", "from", "username", "password", "starttls", NULL};
    const char *url = NULL, *user = NULL, *pass = NULL;
    const json_t *tls = json_object_get(smtp, "starttls");
    int rc = check_keys(smtp, keys, "channels.email.smtp", err, cap);
    if (rc == 0)
        rc = opt_string(smtp, "url", "channels.email.smtp", &url, err, cap);
    if (rc == 0)
        rc = opt_string(smtp, "from", "channels.email.smtp", from, err, cap);
    if (rc == 0)
        rc = opt_string(smtp, "username", "channels.email.smtp", &user, err, cap);
    if (rc == 0)
        rc = opt_string(smtp, "password", "channels.email.smtp", &pass, err, cap);
    if (rc == 0 && tls != NULL && !json_is_null(tls) && !json_is_boolean(tls))
        rc = kit_err(err, cap, HUB_PLUGIN_EINVAL,
                     "channels.email.smtp.starttls: want true or false");
    if (rc == 0 && url != NULL && strncmp(url, "smtp://", 7) != 0 &&
        strncmp(url, "smtps://", 8) != 0)
        rc = kit_err(err, cap, HUB_PLUGIN_EINVAL,
                     "channels.email.smtp.url: want smtp:// or smtps://");
    if (rc != 0)
        return rc;
    st->smtp_starttls = json_is_true(tls);
    if ((url != NULL && (st->smtp_url = kit_strdup(url)) == NULL) ||
        (user != NULL && (st->smtp_user = kit_strdup(user)) == NULL) ||
        (pass != NULL && (st->smtp_pass = kit_strdup(pass)) == NULL))
        return HUB_PLUGIN_ENOMEM;
    return 0;
}

/* The URL template must compile and, with every variable empty, give an http(s) URL. */
static int check_unsub_url(const hub_host_api *host, const char *url, char *err, size_t cap)
{
    char why[200] = "";
    hub_out *o = host->out_new(64 * 1024);
    if (o == NULL)
        return HUB_PLUGIN_ENOMEM;
    int rc = host->template_render(url, strlen(url), NULL, o, why, sizeof(why));
    hub_str v = host->out_view(o);
    if (rc != 0)
        rc = kit_err(err, cap, HUB_PLUGIN_EINVAL, "channels.email.unsubscribe.url: %s",
                     why[0] ? why : "bad template");
    else if (!(v.len > 8 && mime_prefix_ci(v.ptr, v.len, "https://")) &&
             !(v.len > 7 && mime_prefix_ci(v.ptr, v.len, "http://")))
        rc = kit_err(err, cap, HUB_PLUGIN_EINVAL,
                     "channels.email.unsubscribe.url: want an http:// or https:// URL");
    host->out_free(o);
    return rc;
}

static int parse_unsubscribe(email_state *st, const json_t *u, char *err, size_t cap)
{
    static const char *const keys[] = {"url", "mailto", NULL};
    const char *url = NULL, *mailto = NULL;
    int rc = check_keys(u, keys, "channels.email.unsubscribe", err, cap);
    if (rc == 0)
        rc = opt_string(u, "url", "channels.email.unsubscribe", &url, err, cap);
    if (rc == 0)
        rc = opt_string(u, "mailto", "channels.email.unsubscribe", &mailto, err, cap);
    if (rc == 0 && url != NULL)
        rc = check_unsub_url(st->host, url, err, cap);
    if (rc == 0 && mailto != NULL) {
        if (mime_prefix_ci(mailto, strlen(mailto), "mailto:"))
            mailto += 7;
        if (!mime_addr_ok(mailto, strlen(mailto)))
            rc = kit_err(err, cap, HUB_PLUGIN_EINVAL,
                         "channels.email.unsubscribe.mailto: want an address");
    }
    if (rc != 0)
        return rc;
    if ((url != NULL && (st->unsub_url = kit_strdup(url)) == NULL) ||
        (mailto != NULL && (st->unsub_mailto = kit_strdup(mailto)) == NULL))
        return HUB_PLUGIN_ENOMEM;
    st->unsub_url_len = url != NULL ? strlen(url) : 0;
    return 0;
}

static int parse_driver(email_state *st, const json_t *config, char *err, size_t cap)
{
    const char *driver = NULL;
    int rc = opt_string(config, "driver", "channels.email", &driver, err, cap);
    if (rc != 0 || driver == NULL || strcmp(driver, "outbox") == 0)
        return rc;
    if (strcmp(driver, "smtp") != 0)
        return kit_err(err, cap, HUB_PLUGIN_EINVAL,
                       "channels.email.driver: want \"outbox\" or \"smtp\"");
    if (st->host->abi_minor < 1) /* a 1.0 hub reads no server from hub_smtp_message */
        return kit_err(err, cap, HUB_PLUGIN_EINVAL,
                       "channels.email.driver: \"smtp\" needs a hub of plugin ABI 1.1 or later");
    st->driver = EMAIL_DRIVER_SMTP;
    return 0;
}

static int parse_warn(email_state *st, const json_t *config, char *err, size_t cap)
{
    const json_t *v = json_object_get(config, "html_warn_bytes");
    st->html_warn_bytes = EMAIL_HTML_WARN_DEFAULT;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!kit_int_in(v, 0, (json_int_t)1 << 40, NULL))
        return kit_err(err, cap, HUB_PLUGIN_EINVAL,
                       "channels.email.html_warn_bytes: want a number of bytes");
    st->html_warn_bytes = (size_t)json_integer_value(v);
    return 0;
}

static int parse_all(email_state *st, const json_t *config, char *err, size_t cap)
{
    static const char *const keys[] = {"driver",          "from", "reply_to", "smtp", "unsubscribe",
                                       "html_warn_bytes", NULL};
    const json_t *smtp = NULL, *unsub = NULL;
    const char *from = NULL, *smtp_from = NULL, *reply = NULL;
    char *env_disp = NULL;
    int rc = check_keys(config, keys, "channels.email", err, cap);
    if (rc == 0)
        rc = parse_driver(st, config, err, cap);
    if (rc == 0)
        rc = opt_string(config, "from", "channels.email", &from, err, cap);
    if (rc == 0)
        rc = opt_string(config, "reply_to", "channels.email", &reply, err, cap);
    if (rc == 0)
        rc = opt_object(config, "smtp", &smtp, err, cap);
    if (rc == 0)
        rc = opt_object(config, "unsubscribe", &unsub, err, cap);
    if (rc == 0)
        rc = parse_warn(st, config, err, cap);
    if (rc == 0 && smtp != NULL)
        rc = parse_smtp(st, smtp, &smtp_from, err, cap);
    if (rc == 0 && st->driver == EMAIL_DRIVER_SMTP && st->smtp_url == NULL)
        rc = kit_err(err, cap, HUB_PLUGIN_EINVAL,
                     "channels.email.smtp.url: required with the smtp driver");
    if (rc == 0 && unsub != NULL)
        rc = parse_unsubscribe(st, unsub, err, cap);
    if (rc == 0)
        rc = keep_mailbox(from != NULL        ? from
                          : smtp_from != NULL ? smtp_from
                                              : DEFAULT_FROM,
                          from != NULL || smtp_from == NULL ? "from" : "smtp.from", &st->from_disp,
                          &st->from_addr, err, cap);
    if (rc == 0 && reply != NULL)
        rc = keep_mailbox(reply, "reply_to", &st->reply_disp, &st->reply_addr, err, cap);
    if (rc == 0 && smtp_from != NULL)
        rc = keep_mailbox(smtp_from, "smtp.from", &env_disp, &st->envelope_from, err, cap);
    else if (rc == 0)
        rc = (st->envelope_from = kit_strdup(st->from_addr)) == NULL ? HUB_PLUGIN_ENOMEM : 0;
    free(env_disp);
    if (rc == 0)
        st->domain = strchr(st->from_addr, '@') + 1;
    return rc;
}

int email_config_parse(const hub_host_api *host, const json_t *config, email_state **out, char *err,
                       size_t errcap)
{
    email_state *st = calloc(1, sizeof(*st));
    *out = NULL;
    if (st == NULL)
        return HUB_PLUGIN_ENOMEM;
    st->host = host;
    int rc = config != NULL && !json_is_object(config)
                 ? kit_err(err, errcap, HUB_PLUGIN_EINVAL, "channels.email: want an object")
                 : parse_all(st, config, err, errcap);
    if (rc == HUB_PLUGIN_ENOMEM)
        kit_err(err, errcap, rc, "out of memory");
    if (rc != 0) {
        email_state_free(st);
        return rc;
    }
    *out = st;
    return 0;
}

static void wipe_free(char *s)
{
    if (s == NULL)
        return;
    for (volatile char *p = s; *p != '\0'; p++)
        *p = '\0';
    free(s);
}

void email_state_free(email_state *st)
{
    if (st == NULL)
        return;
    free(st->from_disp);
    free(st->from_addr);
    free(st->reply_disp);
    free(st->reply_addr);
    free(st->envelope_from);
    free(st->smtp_url);
    wipe_free(st->smtp_user);
    wipe_free(st->smtp_pass);
    free(st->unsub_url);
    free(st->unsub_mailto);
    free(st);
}
