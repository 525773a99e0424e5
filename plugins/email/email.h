/*
 * The email plugin's state, shared by its configuration (config.c) and its calls (email.c).
 * Built once by create(), read-only afterwards: any number of threads may read it.
 */
#ifndef OMNIHUB_EMAIL_H
#define OMNIHUB_EMAIL_H

#include <omnihub/plugin.h>
#include <stddef.h>

#define EMAIL_DRIVER_OUTBOX 0
#define EMAIL_DRIVER_SMTP   1

#define EMAIL_HTML_WARN_DEFAULT 102400 /* Gmail clips a message whose HTML passes ~102 KB */

typedef struct email_state {
    const hub_host_api *host;
    int driver;
    char *from_disp;    /* display name of From, unquoted, "" for none */
    char *from_addr;    /* addr-spec of From */
    const char *domain; /* the domain of from_addr, for Message-ID */
    char *reply_disp;   /* Reply-To from the configuration, or NULL */
    char *reply_addr;
    char *envelope_from; /* the SMTP envelope sender: smtp.from's address, else From's */
    char *smtp_url;
    char *smtp_user;
    char *smtp_pass;
    int smtp_starttls;
    char *unsub_url; /* Liquid template of the one-click URL, or NULL */
    size_t unsub_url_len;
    char *unsub_mailto; /* addr-spec for the mailto: alternative, or NULL */
    size_t html_warn_bytes;
} email_state;

/*
 * Builds the state from channels.email (see the keys in config.c). 0 and *out, or
 * HUB_PLUGIN_EINVAL with a one-line reason naming the key, or HUB_PLUGIN_ENOMEM.
 */
int email_config_parse(const hub_host_api *host, const json_t *config, email_state **out, char *err,
                       size_t errcap);

/* Frees the state (secrets wiped first); NULL-safe. */
void email_state_free(email_state *st);

#endif
