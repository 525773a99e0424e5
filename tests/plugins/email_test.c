/*
 * The email plugin through the real loader and host: whole MIME messages compared byte for
 * byte (expected encodings computed once with Python's base64 and checked by hand), header
 * folding and RFC 2047 encoded-words, quoted-printable and base64 bodies, List-Unsubscribe,
 * refused header injection, the text derived from the HTML, the size warning, delivery to
 * the outbox and to SMTP, refused configurations. Several artifacts are also handed to
 * email_mime_check.py, which parses them with Python's email package.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/plugin.h"
#include "test.h"

#define MAIN_CONFIG                                                                                \
    "{\"from\": \"Bank Example <news@bank.example>\", \"unsubscribe\": {\"url\": "                 \
    "\"https://bank.example/unsub?r={{ recipient.id }}&m={{ message_id }}\", "                     \
    "\"mailto\": \"unsub@bank.example\"}}"
#define RECIPIENT "{\"id\": \"cust-42\", \"email\": \"j@example.org\"}"
#define NOW       1700000000000LL /* Tue, 14 Nov 2023 22:13:20 UTC */

typedef struct fixture {
    hub_plugins *p;
    const hub_channel *c;
    char dir[512];
} fixture;

/* The smtp_send service, recording what the plugin handed over. */
typedef struct smtp_seen {
    int calls;
    char from[128];
    char rcpt[128];
    char channel[32];
    unsigned nrcpt;
    char *data;
    size_t len;
} smtp_seen;

static int fake_smtp(void *ctx, const char *channel, const hub_smtp_message *msg,
                     hub_smtp_result *res, char *err, size_t errcap)
{
    smtp_seen *s = ctx;
    s->calls++;
    snprintf(s->channel, sizeof(s->channel), "%s", channel);
    snprintf(s->from, sizeof(s->from), "%s", msg->from);
    s->nrcpt = msg->nrcpt;
    snprintf(s->rcpt, sizeof(s->rcpt), "%s", msg->nrcpt > 0 ? msg->rcpt[0] : "");
    free(s->data);
    s->data = malloc(msg->data.len + 1);
    memcpy(s->data, msg->data.ptr, msg->data.len);
    s->data[msg->data.len] = '\0';
    s->len = msg->data.len;
    res->reply_code = 250;
    snprintf(err, errcap, "accepted");
    return HUB_DELIVER_OK;
}

/* Loads email.so with channels.email = config; f->c is NULL when it was refused. */
static void load(fixture *f, const char *config, const char *tmpname, smtp_seen *smtp)
{
    char so[1024];
    const char *dir = getenv("HUB_PLUGIN_DIR");
    snprintf(so, sizeof(so), "%s/email.so", dir != NULL ? dir : "build/plugins");
    snprintf(f->dir, sizeof(f->dir), "%s", test_tmpdir(tmpname));
    json_t *conf = json_loads(config, 0, NULL);
    json_t *channels = json_object();
    json_object_set_new(channels, "email", conf);
    const char *paths[1] = {so};
    hub_plugins_config cfg = {
        .paths = paths, .npaths = 1, .channels = channels, .data_dir = f->dir};
    if (smtp != NULL) {
        cfg.services.smtp_send = fake_smtp;
        cfg.services.ctx = smtp;
    }
    hub_error err;
    hub_error_init(&err);
    f->p = NULL;
    if (hub_plugins_load(&cfg, &f->p, &err) != 0)
        fprintf(stderr, "load: %s\n", err.message);
    f->c = hub_plugins_find(f->p, "email", 5);
    hub_error_clear(&err);
    json_decref(channels);
}

typedef struct result {
    int rc;
    json_t *art;
    hub_problems problems;
    json_t *warnings;
    hub_buf buf;
} result;

enum { SUBJECT, PREHEADER, HTML, TEXT, FROM_NAME, REPLY_TO };

static void fill_in(hub_render_in *in, hub_str fs[6], const char *const f[6], json_t *rec,
                    const char *msgid, int64_t now)
{
    for (int i = 0; i < 6; i++)
        fs[i] = f[i] != NULL ? (hub_str){f[i], strlen(f[i])} : (hub_str){NULL, 0};
    *in =
        (hub_render_in){sizeof(*in), 6, fs, "onboarding/welcome", "control", "en", rec, msgid, now};
}

static void render_at(const hub_channel *c, const char *const f[6], const char *recipient,
                      const char *msgid, int64_t now, result *r)
{
    hub_str fs[6];
    hub_render_in in;
    json_t *rec = recipient != NULL ? json_loads(recipient, 0, NULL) : NULL;
    fill_in(&in, fs, f, rec, msgid, now);
    hub_problems_init(&r->problems);
    r->warnings = json_array();
    hub_channel_report rep = {&r->problems, "/c", NULL, r->warnings};
    hub_buf_init(&r->buf, 64 << 20);
    hub_error err;
    hub_error_init(&err);
    r->rc = hub_channel_render(c, &in, &r->buf, 1, &rep, &err);
    r->art = r->rc == 0 ? json_loadb(r->buf.data, r->buf.len, 0, NULL) : NULL;
    json_decref(rec);
    hub_error_clear(&err);
}

static void render(const hub_channel *c, const char *const f[6], const char *recipient, result *r)
{
    render_at(c, f, recipient, "msg-0001", NOW, r);
}

static void validate(const hub_channel *c, const char *const f[6], result *r)
{
    hub_str fs[6];
    hub_render_in in;
    fill_in(&in, fs, f, NULL, "validate", NOW);
    hub_problems_init(&r->problems);
    r->warnings = json_array();
    r->art = NULL;
    hub_buf_init(&r->buf, 1024);
    hub_channel_report rep = {&r->problems, "/c", NULL, r->warnings};
    r->rc = hub_channel_validate(c, &in, &rep);
}

static void result_free(result *r)
{
    json_decref(r->art);
    json_decref(r->warnings);
    hub_problems_clear(&r->problems);
    hub_buf_free(&r->buf);
}

static const char *art_str(const result *r, const char *key)
{
    return json_string_value(json_object_get(r->art, key));
}

static const char *mime_of(const result *r)
{
    const char *m = art_str(r, "mime");
    return m != NULL ? m : "";
}

/* The header block of the message (up to and with the blank line), in buf. */
static const char *headers_of(const result *r, char *buf, size_t cap)
{
    const char *m = mime_of(r), *end = strstr(m, "\r\n\r\n");
    size_t n = end != NULL ? (size_t)(end - m) + 4 : 0;
    snprintf(buf, cap, "%.*s", (int)(n < cap ? n : cap - 1), m);
    return buf;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int has_problem(const result *r, const char *path)
{
    for (size_t i = 0; i < r->problems.count; i++)
        if (strcmp(r->problems.items[i].path, path) == 0)
            return 1;
    return 0;
}

static int has_warning(const result *r, const char *code)
{
    size_t i;
    json_t *w;
    json_array_foreach(r->warnings, i, w)
    {
        if (strcmp(json_string_value(json_object_get(w, "code")), code) == 0)
            return 1;
    }
    return 0;
}

/* CRLF everywhere, no line over 998 bytes, body lines (after the header) at most 76. */
static int lines_ok(const char *m)
{
    const char *body = strstr(m, "\r\n\r\n");
    size_t col = 0;
    for (const char *p = m; *p != '\0'; p++) {
        if (*p == '\n' && (p == m || p[-1] != '\r'))
            return 0;
        if (*p == '\r' && p[1] != '\n')
            return 0;
        if (*p == '\r' || *p == '\n') {
            col = 0;
            continue;
        }
        col++;
        if (col > 998 || (body != NULL && p > body && col > 76))
            return 0;
    }
    return 1;
}

/* Writes the artifact into the temp dir and runs the Python checker on it. */
static void python_check(const result *r, const char *dir, const char *name)
{
    char path[700], cmd[2000], script[1024];
    const char *src = __FILE__, *slash = strrchr(src, '/');
    snprintf(script, sizeof(script), "%.*s/email_mime_check.py",
             slash != NULL ? (int)(slash - src) : 1, slash != NULL ? src : ".");
    snprintf(path, sizeof(path), "%s/%s.json", dir, name);
    FILE *fp = fopen(path, "wb");
    REQUIRE(fp != NULL);
    fwrite(r->buf.data, 1, r->buf.len, fp);
    fclose(fp);
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 '%s' < '%s'", script, path);
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "email_mime_check.py failed on %s\n", path);
    CHECK(rc == 0);
}

/* ---- tests --------------------------------------------------------------------------------- */

static const char golden_ascii[] =
    "From: Bank Example <news@bank.example>\r\n"
    "To: j@example.org\r\n"
    "Subject: Welcome to the bank\r\n"
    "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
    "Message-ID: <msg-0001@bank.example>\r\n"
    "MIME-Version: 1.0\r\n"
    "List-Unsubscribe: <https://bank.example/unsub?r=cust-42&m=msg-0001>,\r\n"
    " <mailto:unsub@bank.example>\r\n"
    "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    "Content-Type: multipart/alternative;\r\n"
    " boundary=\"=_omnihub_msg-0001_0\"\r\n"
    "\r\n"
    "--=_omnihub_msg-0001_0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Hello\r\n"
    "\r\n"
    "--=_omnihub_msg-0001_0\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "<div style=3D\"display:none;max-height:0;overflow:hidden;mso-hide:all\">Your =\r\n"
    "account is ready</div><p>Hello</p>\r\n"
    "--=_omnihub_msg-0001_0--\r\n";

static void test_golden_ascii(void)
{
    fixture f;
    result r;
    load(&f, MAIN_CONFIG, "email_golden", NULL);
    REQUIRE(f.c != NULL);
    const char *fields[6] = {
        "Welcome to the bank", "Your account is ready", "<p>Hello</p>", "Hello\n", NULL, NULL};
    render(f.c, fields, RECIPIENT, &r);
    CHECK(r.rc == 0);
    CHECK_STR(mime_of(&r), golden_ascii);
    CHECK_STR(art_str(&r, "subject"), "Welcome to the bank");
    CHECK_STR(art_str(&r, "html"),
              "<div style=\"display:none;max-height:0;overflow:hidden;mso-hide:all\">Your "
              "account is ready</div><p>Hello</p>");
    CHECK_STR(art_str(&r, "text"), "Hello\n");
    CHECK_STR(art_str(&r, "message_id"), "<msg-0001@bank.example>");
    CHECK_STR(art_str(&r, "preheader"), "Your account is ready");
    CHECK_STR(art_str(&r, "to"), "j@example.org");
    CHECK_STR(art_str(&r, "from"), "Bank Example <news@bank.example>");
    CHECK(json_array_size(r.warnings) == 0);
    python_check(&r, f.dir, "golden");
    result_free(&r);
    hub_plugins_free(f.p);
}

static void test_non_ascii_headers(void)
{
    fixture f;
    result r;
    char h[4096];
    load(&f, MAIN_CONFIG, "email_utf8", NULL);
    REQUIRE(f.c != NULL);
    const char *fields[6] = {"  Willkommen, Jörg ",
                             NULL,
                             "<p>Hallo <b>Jörg</b></p>",
                             NULL,
                             "Jörg's Bank",
                             "\"Support, Team\" <help@bank.example>"};
    render(f.c, fields, "{\"id\": \"cust-7\"}", &r);
    REQUIRE(r.rc == 0);
    headers_of(&r, h, sizeof(h));
    static const char want[] = "From: =?UTF-8?B?SsO2cmcncyBCYW5r?= <news@bank.example>\r\n"
                               "Reply-To: \"Support, Team\" <help@bank.example>\r\n"
                               "Subject: =?UTF-8?Q?Willkommen=2C_J=C3=B6rg?=\r\n"
                               "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n";
    CHECK(starts_with(h, want));
    CHECK(strstr(h, "\r\nTo:") == NULL); /* no recipient.email: no To */
    CHECK(strstr(h, "List-Unsubscribe: <https://bank.example/unsub?r=cust-7&m=msg-0001>,") != NULL);
    CHECK_STR(art_str(&r, "subject"), "Willkommen, Jörg");
    CHECK_STR(art_str(&r, "from"), "Jörg's Bank <news@bank.example>");
    CHECK(json_is_null(json_object_get(r.art, "to")));
    CHECK(json_is_null(json_object_get(r.art, "preheader")));
    CHECK_STR(art_str(&r, "html"), "<p>Hallo <b>Jörg</b></p>");
    CHECK_STR(art_str(&r, "text"), "Hallo Jörg\n");
    CHECK(lines_ok(mime_of(&r)));
    python_check(&r, f.dir, "utf8");
    result_free(&r);
    hub_plugins_free(f.p);
}

/* ASCII display names with specials go as quoted-strings, escapes and all. */
static void test_display_names(void)
{
    fixture f;
    result r;
    load(&f,
         "{\"from\": \"\\\"Bank, Inc.\\\" <news@bank.example>\", "
         "\"reply_to\": \"help@bank.example\"}",
         "email_names", NULL);
    REQUIRE(f.c != NULL);
    const char *fields[6] = {"Hi", NULL, "<HTML><BODY BGCOLOR=\"#fff\"><p>x</p></BODY></HTML>",
                             NULL, NULL, NULL};
    render(f.c, fields, RECIPIENT, &r);
    REQUIRE(r.rc == 0);
    CHECK(starts_with(mime_of(&r), "From: \"Bank, Inc.\" <news@bank.example>\r\n"
                                   "To: j@example.org\r\nReply-To: help@bank.example\r\n"
                                   "Subject: Hi\r\n"));
    CHECK_STR(art_str(&r, "from"), "\"Bank, Inc.\" <news@bank.example>");
    result_free(&r);
    fields[FROM_NAME] = "Bank \"Support\"";
    fields[PREHEADER] = "Hello";
    render(f.c, fields, RECIPIENT, &r);
    REQUIRE(r.rc == 0);
    CHECK(starts_with(mime_of(&r), "From: \"Bank \\\"Support\\\"\" <news@bank.example>\r\n"));
    CHECK_STR(art_str(&r, "from"), "\"Bank \\\"Support\\\"\" <news@bank.example>");
    /* The preheader goes after <BODY ...> whatever its case. */
    CHECK(strstr(art_str(&r, "html"), "<BODY BGCOLOR=\"#fff\"><div style=") != NULL);
    python_check(&r, f.dir, "names");
    result_free(&r);
    hub_plugins_free(f.p);
}

/* Long subjects: ASCII folds at white space; long UTF-8 runs split on characters only. */
static void test_long_subjects(void)
{
    fixture f;
    result r;
    char h[4096], subj[200];
    load(&f, "{}", "email_long", NULL);
    REQUIRE(f.c != NULL);
    const char *fields[6] = {"Your statement for November is ready: balances, recent "
                             "transactions, upcoming payments and a note from your advisor",
                             NULL,
                             "<p>x</p>",
                             "x",
                             NULL,
                             NULL};
    render(f.c, fields, RECIPIENT, &r);
    REQUIRE(r.rc == 0);
    CHECK(strstr(headers_of(&r, h, sizeof(h)),
                 "\r\nSubject: Your statement for November is ready: balances, recent "
                 "transactions,\r\n upcoming payments and a note from your advisor\r\n") != NULL);
    CHECK(starts_with(h, "From: omnihub <no-reply@localhost>\r\n"));
    CHECK(strstr(h, "Message-ID: <msg-0001@localhost>\r\n") != NULL);
    CHECK(strstr(h, "List-Unsubscribe") == NULL);
    python_check(&r, f.dir, "folded");
    result_free(&r);

    subj[0] = '\0';
    for (int i = 0; i < 40; i++)
        strcat(subj, "ö");
    fields[SUBJECT] = subj;
    render(f.c, fields, RECIPIENT, &r);
    REQUIRE(r.rc == 0);
    CHECK(strstr(headers_of(&r, h, sizeof(h)),
                 "\r\nSubject: =?UTF-8?B?w7bDtsO2w7bDtsO2w7bDtsO2w7bDtsO2w7bDtsO2w7bDtsO2w7Y=?=\r\n"
                 " =?UTF-8?B?w7bDtsO2w7bDtsO2w7bDtsO2w7bDtsO2w7bDtsO2w7bDtsO2w7bDtsO2?=\r\n") !=
          NULL);
    CHECK_STR(art_str(&r, "subject"), subj);
    result_free(&r);

    /* 4-byte characters: a byte-wise split would cut the tenth emoji in two. */
    strcpy(subj, "Hi ");
    for (int i = 0; i < 20; i++)
        strcat(subj, "\xF0\x9F\x8E\x89");
    render(f.c, fields, RECIPIENT, &r);
    REQUIRE(r.rc == 0);
    CHECK(strstr(headers_of(&r, h, sizeof(h)),
                 "\r\nSubject: =?UTF-8?B?SGkg8J+OifCfjonwn46J8J+OifCfjonwn46J8J+OifCfjonwn46J?=\r\n"
                 " =?UTF-8?B?8J+OifCfjonwn46J8J+OifCfjonwn46J8J+OifCfjonwn46J8J+OifCfjok=?=\r\n") !=
          NULL);
    python_check(&r, f.dir, "emoji");
    result_free(&r);

    /* An ASCII word longer than a line cannot fold: encoded-words (Q) instead. */
    strcpy(subj, "Code ");
    memset(subj + 5, 'A', 90);
    subj[95] = '\0';
    render(f.c, fields, RECIPIENT, &r);
    REQUIRE(r.rc == 0);
    char want[300];
    snprintf(want, sizeof(want), "\r\nSubject: =?UTF-8?Q?Code_%.50s?=\r\n =?UTF-8?Q?%.40s?=\r\n",
             subj + 5, subj + 5);
    CHECK(strstr(headers_of(&r, h, sizeof(h)), want) != NULL);
    CHECK_STR(art_str(&r, "subject"), subj);
    result_free(&r);
    hub_plugins_free(f.p);
}

static void test_bodies(void)
{
    fixture f;
    result r;
    char text[200], want[400];
    load(&f, "{}", "email_qp", NULL);
    REQUIRE(f.c != NULL);
    /* '=', a non-ASCII letter, a line of 85 characters, a trailing space. */
    snprintf(text, sizeof(text), "a=b ü %.72s\ntail \n",
             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    const char *fields[6] = {"Statement", NULL, "<p>x</p>", text, NULL, NULL};
    render(f.c, fields, RECIPIENT, &r);
    REQUIRE(r.rc == 0);
    snprintf(want, sizeof(want),
             "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
             "a=3Db =C3=BC %.62s=\r\n%.10s\r\ntail=20\r\n\r\n--=_omnihub_msg-0001_0\r\n",
             text + 7, text + 7);
    CHECK(strstr(mime_of(&r), want) != NULL);
    CHECK(lines_ok(mime_of(&r)));
    python_check(&r, f.dir, "qp");
    result_free(&r);

    /* Mostly non-ASCII: base64 of the text with CRLF line ends. */
    fields[TEXT] = "Привет, мир!\n";
    fields[HTML] = "<p>Привет, мир! Это длинное письмо на русском языке, чтобы строки base64 "
                   "были длиннее семидесяти шести знаков.</p>";
    render(f.c, fields, RECIPIENT, &r);
    REQUIRE(r.rc == 0);
    CHECK(strstr(mime_of(&r),
                 "Content-Type: text/plain; charset=utf-8\r\n"
                 "Content-Transfer-Encoding: base64\r\n\r\n"
                 "0J/RgNC40LLQtdGCLCDQvNC40YAhDQo=\r\n--=_omnihub_msg-0001_0\r\n") != NULL);
    CHECK(strstr(mime_of(&r), "Content-Type: text/html; charset=utf-8\r\n"
                              "Content-Transfer-Encoding: base64\r\n") != NULL);
    CHECK(lines_ok(mime_of(&r)));
    python_check(&r, f.dir, "base64");
    result_free(&r);
    hub_plugins_free(f.p);
}

static void test_date_and_id(void)
{
    fixture f;
    result r;
    char h[4096];
    load(&f, "{\"from\": \"news@mail.bank.example\"}", "email_date", NULL);
    REQUIRE(f.c != NULL);
    const char *fields[6] = {"Hi", NULL, "<p>x</p>", "x", NULL, NULL};
    render_at(f.c, fields, RECIPIENT, "Ab-9_z", 1709251199999LL, &r);
    REQUIRE(r.rc == 0);
    headers_of(&r, h, sizeof(h));
    CHECK(starts_with(h, "From: news@mail.bank.example\r\n"));
    CHECK(strstr(h, "\r\nDate: Thu, 29 Feb 2024 23:59:59 +0000\r\n") != NULL);
    CHECK(strstr(h, "\r\nMessage-ID: <Ab-9_z@mail.bank.example>\r\n") != NULL);
    CHECK_STR(art_str(&r, "message_id"), "<Ab-9_z@mail.bank.example>");
    result_free(&r);
    render_at(f.c, fields, RECIPIENT, "m1", -1, &r);
    REQUIRE(r.rc == 0);
    CHECK(strstr(headers_of(&r, h, sizeof(h)), "\r\nDate: Wed, 31 Dec 1969 23:59:59 +0000\r\n") !=
          NULL);
    result_free(&r);
    render_at(f.c, fields, RECIPIENT, "bad id!", NOW, &r); /* not [A-Za-z0-9_-] */
    CHECK(r.rc == HUB_EINVAL);
    result_free(&r);
    hub_plugins_free(f.p);
}

static void test_list_unsubscribe(void)
{
    fixture f;
    result r;
    char h[4096];
    load(&f, "{\"unsubscribe\": {\"mailto\": \"mailto:unsub@bank.example\"}}", "email_unsub", NULL);
    REQUIRE(f.c != NULL);
    const char *fields[6] = {"Hi", NULL, "<p>x</p>", "x", NULL, NULL};
    /* http only: listed, but no one-click POST (RFC 8058 wants https). */
    render(f.c, fields,
           "{\"id\": \"c1\", \"attributes\": {\"unsubscribe_url\": \"http://bank.example/u/1\"}}",
           &r);
    REQUIRE(r.rc == 0);
    headers_of(&r, h, sizeof(h));
    CHECK(strstr(h, "\r\nList-Unsubscribe: <http://bank.example/u/1>, "
                    "<mailto:unsub@bank.example>\r\n") != NULL);
    CHECK(strstr(h, "List-Unsubscribe-Post") == NULL);
    result_free(&r);
    /* https from the attribute, a space percent-encoded: one-click. */
    render(
        f.c, fields,
        "{\"id\": \"c1\", \"attributes\": {\"unsubscribe_url\": \"https://bank.example/u?n=a b\"}}",
        &r);
    REQUIRE(r.rc == 0);
    headers_of(&r, h, sizeof(h));
    CHECK(strstr(h, "\r\nList-Unsubscribe: <https://bank.example/u?n=a%20b>,\r\n"
                    " <mailto:unsub@bank.example>\r\n"
                    "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n") != NULL);
    result_free(&r);
    /* no URL: the mailto alone, no POST. */
    render(f.c, fields, RECIPIENT, &r);
    REQUIRE(r.rc == 0);
    headers_of(&r, h, sizeof(h));
    CHECK(strstr(h, "\r\nList-Unsubscribe: <mailto:unsub@bank.example>\r\n") != NULL);
    CHECK(strstr(h, "List-Unsubscribe-Post") == NULL);
    result_free(&r);
    /* not http(s): left out, with a warning. */
    render(f.c, fields,
           "{\"id\": \"c1\", \"attributes\": {\"unsubscribe_url\": \"javascript:alert(1)\"}}", &r);
    REQUIRE(r.rc == 0);
    headers_of(&r, h, sizeof(h));
    CHECK(strstr(h, "\r\nList-Unsubscribe: <mailto:unsub@bank.example>\r\n") != NULL);
    CHECK(has_warning(&r, "email_unsubscribe_url") && json_array_size(r.warnings) == 1);
    result_free(&r);
    /* a line break in the URL is refused, not cleaned. */
    render(f.c, fields,
           "{\"id\": \"c1\", \"attributes\": {\"unsubscribe_url\": \"https://x.example/\\r\\nBcc: "
           "a@b\"}}",
           &r);
    CHECK(r.rc == HUB_EINVAL);
    CHECK(has_problem(&r, "/c"));
    result_free(&r);
    hub_plugins_free(f.p);
}

static void test_injection_refused(void)
{
    fixture f;
    result r;
    load(&f, MAIN_CONFIG, "email_inject", NULL);
    REQUIRE(f.c != NULL);
    const char *fields[6] = {"a\r\nBcc: x@y", NULL, "<p>x</p>", NULL, NULL, NULL};
    render(f.c, fields, RECIPIENT, &r);
    CHECK(r.rc == HUB_EINVAL);
    CHECK(has_problem(&r, "/c/subject"));
    CHECK(r.buf.len == 0);
    result_free(&r);
    validate(f.c, fields, &r);
    CHECK(r.rc == 0);
    CHECK(r.problems.count == 1 && has_problem(&r, "/c/subject"));
    result_free(&r);

    const char *more[6] = {"Hi", NULL, "<p>x</p>", NULL, "X\nBcc: y@z", "a@b.example\r\nBcc: z@y"};
    render(f.c, more, RECIPIENT, &r);
    CHECK(r.rc == HUB_EINVAL);
    CHECK(has_problem(&r, "/c/from_name") && has_problem(&r, "/c/reply_to"));
    result_free(&r);
    validate(f.c, more, &r);
    CHECK(r.problems.count == 2);
    result_free(&r);

    const char *bad_reply[6] = {"Hi", NULL, "<p>x</p>", NULL, NULL, "not an address"};
    render(f.c, bad_reply, RECIPIENT, &r);
    CHECK(r.rc == HUB_EINVAL && has_problem(&r, "/c/reply_to"));
    result_free(&r);

    const char *ok[6] = {"Hi", NULL, "<p>x</p>", NULL, NULL, NULL};
    render(f.c, ok, "{\"id\": \"c\", \"email\": \"j@example.org\\r\\nBcc: x@y\"}", &r);
    CHECK(r.rc == HUB_EINVAL && has_problem(&r, "/c"));
    result_free(&r);
    render(f.c, ok, "{\"id\": \"c\", \"email\": \"j@@example.org\"}", &r);
    CHECK(r.rc == HUB_EINVAL && has_problem(&r, "/c"));
    result_free(&r);

    /* An empty subject (here: blank once trimmed) is a problem at publish and at render. */
    const char *empty[6] = {"  ", NULL, "<p>x</p>", NULL, NULL, NULL};
    validate(f.c, empty, &r);
    CHECK(r.problems.count == 1 && has_problem(&r, "/c/subject"));
    result_free(&r);
    render(f.c, empty, RECIPIENT, &r);
    CHECK(r.rc == HUB_EINVAL);
    result_free(&r);
    hub_plugins_free(f.p);
}

static void test_text_derived(void)
{
    fixture f;
    result r;
    load(&f, MAIN_CONFIG, "email_text", NULL);
    REQUIRE(f.c != NULL);
    const char *fields[6] = {
        "Open your account",
        "Two minutes, no paperwork",
        "<!DOCTYPE html><html><head><title>T</title></head><body class=\"x\"><p>Hello, "
        "<a href=\"https://bank.example/open\">open your account</a> today.</p></body></html>",
        NULL,
        NULL,
        NULL};
    render(f.c, fields, RECIPIENT, &r);
    REQUIRE(r.rc == 0);
    const char *text = art_str(&r, "text");
    REQUIRE(text != NULL);
    CHECK(strstr(text, "open your account (https://bank.example/open)") != NULL);
    CHECK(strstr(text, "Two minutes") == NULL); /* the hidden preheader stays out */
    /* The preheader goes right after <body ...>, not before the doctype. */
    CHECK(strstr(art_str(&r, "html"),
                 "<body class=\"x\"><div style=\"display:none;max-height:0;overflow:hidden;"
                 "mso-hide:all\">Two minutes, no paperwork</div><p>Hello,") != NULL);
    python_check(&r, f.dir, "derived");
    result_free(&r);
    /* The preheader is HTML-escaped. */
    fields[PREHEADER] = "<b>&\"'";
    fields[HTML] = "<p>x</p>";
    render(f.c, fields, RECIPIENT, &r);
    REQUIRE(r.rc == 0);
    CHECK(strstr(art_str(&r, "html"), ">&lt;b&gt;&amp;&quot;&#39;</div><p>x</p>") != NULL);
    CHECK_STR(art_str(&r, "preheader"), "<b>&\"'");
    result_free(&r);
    hub_plugins_free(f.p);
}

static void test_html_size_warning(void)
{
    fixture f;
    result r;
    size_t n = 102401;
    char *html = malloc(n + 1);
    REQUIRE(html != NULL);
    memcpy(html, "<p>", 3);
    memset(html + 3, 'a', n - 7);
    memcpy(html + n - 4, "</p>", 5);
    load(&f, "{}", "email_size", NULL);
    REQUIRE(f.c != NULL);
    const char *fields[6] = {"Big", NULL, html, "text", NULL, NULL};
    render(f.c, fields, RECIPIENT, &r);
    CHECK(r.rc == 0);
    CHECK(has_warning(&r, "email_html_size") && json_array_size(r.warnings) == 1);
    CHECK(lines_ok(mime_of(&r)));
    result_free(&r);
    validate(f.c, fields, &r);
    CHECK(r.problems.count == 0 && has_warning(&r, "email_html_size"));
    result_free(&r);
    memcpy(html + n - 5, "</p>", 5); /* 102400 bytes: no warning */
    render(f.c, fields, RECIPIENT, &r);
    CHECK(r.rc == 0 && json_array_size(r.warnings) == 0);
    result_free(&r);
    hub_plugins_free(f.p);
    load(&f, "{\"html_warn_bytes\": 10}", "email_size", NULL);
    REQUIRE(f.c != NULL);
    fields[HTML] = "<p>0123456</p>";
    render(f.c, fields, RECIPIENT, &r);
    CHECK(r.rc == 0 && has_warning(&r, "email_html_size"));
    result_free(&r);
    hub_plugins_free(f.p);
    free(html);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    char *d = NULL;
    if (fp == NULL)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    d = malloc((size_t)n + 1);
    *len = fread(d, 1, (size_t)n, fp);
    d[*len] = '\0';
    fclose(fp);
    return d;
}

static int deliver(const hub_channel *c, const result *r, const char *recipient, char *err,
                   size_t cap)
{
    json_t *rec = recipient != NULL ? json_loads(recipient, 0, NULL) : NULL;
    hub_deliver_in in = {sizeof(in), 1, {r->buf.data, r->buf.len}, rec, "msg-0001"};
    int rc = hub_channel_deliver(c, &in, err, cap, NULL);
    json_decref(rec);
    return rc;
}

static void test_deliver_outbox(void)
{
    fixture f;
    result r;
    char err[256], path[1024];
    size_t len = 0;
    load(&f, MAIN_CONFIG, "email_outbox", NULL);
    REQUIRE(f.c != NULL);
    const char *fields[6] = {"Hi", NULL, "<p>x</p>", NULL, NULL, NULL};
    render(f.c, fields, RECIPIENT, &r);
    REQUIRE(r.rc == 0);
    CHECK(deliver(f.c, &r, RECIPIENT, err, sizeof(err)) == HUB_DELIVER_OK);
    snprintf(path, sizeof(path), "%s/outbox/email/msg-0001.eml", f.dir);
    char *data = read_file(path, &len);
    REQUIRE(data != NULL);
    CHECK(len == strlen(mime_of(&r)) && memcmp(data, mime_of(&r), len) == 0);
    free(data);
    /* The same message again replaces the file (idempotent). */
    CHECK(deliver(f.c, &r, RECIPIENT, err, sizeof(err)) == HUB_DELIVER_OK);
    result_free(&r);
    hub_buf bad;
    hub_buf_init(&bad, 64);
    hub_buf_append_str(&bad, "{\"subject\": \"x\"}");
    result fake = {.buf = bad};
    CHECK(deliver(f.c, &fake, RECIPIENT, err, sizeof(err)) == HUB_DELIVER_FAIL);
    hub_buf_free(&bad);
    hub_plugins_free(f.p);
}

static void test_deliver_smtp(void)
{
    fixture f;
    result r;
    smtp_seen seen = {0};
    char err[256];
    load(&f,
         "{\"driver\": \"smtp\", \"smtp\": {\"url\": \"smtp://127.0.0.1:2525\", \"from\": "
         "\"Bank <bounces@bank.example>\", \"username\": null, \"password\": \"s3cret\", "
         "\"starttls\": false}}",
         "email_smtp", &seen);
    REQUIRE(f.c != NULL);
    const char *fields[6] = {"Hi", NULL, "<p>x</p>", NULL, NULL, NULL};
    render(f.c, fields, RECIPIENT, &r);
    REQUIRE(r.rc == 0);
    /* No top-level from: the header From is smtp.from. */
    CHECK(starts_with(mime_of(&r), "From: Bank <bounces@bank.example>\r\n"));
    CHECK(deliver(f.c, &r, RECIPIENT, err, sizeof(err)) == HUB_DELIVER_OK);
    CHECK(seen.calls == 1 && seen.nrcpt == 1);
    CHECK_STR(seen.channel, "email");
    CHECK_STR(seen.from, "bounces@bank.example");
    CHECK_STR(seen.rcpt, "j@example.org");
    CHECK(seen.data != NULL && strcmp(seen.data, mime_of(&r)) == 0);
    CHECK(deliver(f.c, &r, "{\"id\": \"c\"}", err, sizeof(err)) == HUB_DELIVER_FAIL);
    CHECK_STR(err, "no email address");
    CHECK(seen.calls == 1);
    result_free(&r);
    free(seen.data);
    hub_plugins_free(f.p);
}

static void check_refused(const char *config, const char *needle)
{
    fixture f;
    load(&f, config, "email_refused", NULL);
    CHECK(f.c == NULL);
    const char *why = hub_plugins_refusal(f.p, 0);
    CHECK(why != NULL && strstr(why, needle) != NULL);
    if (why == NULL || strstr(why, needle) == NULL)
        fprintf(stderr, "refusal: %s (want %s)\n", why != NULL ? why : "(none)", needle);
    hub_plugins_free(f.p);
}

static void test_config_refused(void)
{
    check_refused("{\"colour\": 1}", "channels.email: unknown key 'colour'");
    check_refused("{\"from\": \"nobody\"}", "channels.email.from");
    check_refused("{\"from\": \"A <a@b.example>\\r\\nBcc: c@d\"}", "channels.email.from");
    check_refused("{\"driver\": \"pigeon\"}", "channels.email.driver");
    check_refused("{\"driver\": \"smtp\"}", "channels.email.smtp.url");
    check_refused("{\"smtp\": {\"url\": \"smtp://x\", \"port\": 25}}",
                  "channels.email.smtp: unknown key 'port'");
    check_refused("{\"reply_to\": 7}", "channels.email.reply_to");
    check_refused("{\"unsubscribe\": {\"url\": \"{{ oops\"}}", "channels.email.unsubscribe.url");
    check_refused("{\"unsubscribe\": {\"url\": \"ftp://x/{{ message_id }}\"}}",
                  "channels.email.unsubscribe.url");
    check_refused("{\"unsubscribe\": {\"mailto\": \"x\"}}", "channels.email.unsubscribe.mailto");
    check_refused("{\"html_warn_bytes\": -1}", "channels.email.html_warn_bytes");
}

static void test_schema(void)
{
    fixture f;
    load(&f, "{}", "email_schema", NULL);
    REQUIRE(f.c != NULL);
    const hub_plugin_schema *s = hub_channel_fields(f.c);
    static const char *const names[6] = {"subject", "preheader", "html",
                                         "text",    "from_name", "reply_to"};
    static const size_t max[6] = {998, 500, 1 << 20, 1 << 20, 200, 320};
    REQUIRE(s->nfields == 6);
    for (int i = 0; i < 6; i++) {
        CHECK_STR(s->fields[i]->name, names[i]);
        CHECK(s->fields[i]->max_bytes == max[i]);
        CHECK(s->fields[i]->required == (i == SUBJECT || i == HTML));
    }
    CHECK(s->fields[HTML]->kind == HUB_FIELD_HTML && s->fields[SUBJECT]->kind == HUB_FIELD_TEXT);
    hub_plugins_free(f.p);
}

int main(void)
{
    RUN(test_schema);
    RUN(test_golden_ascii);
    RUN(test_non_ascii_headers);
    RUN(test_display_names);
    RUN(test_long_subjects);
    RUN(test_bodies);
    RUN(test_date_and_id);
    RUN(test_list_unsubscribe);
    RUN(test_injection_refused);
    RUN(test_text_derived);
    RUN(test_html_size_warning);
    RUN(test_deliver_outbox);
    RUN(test_deliver_smtp);
    RUN(test_config_refused);
    return TEST_SUMMARY();
}
