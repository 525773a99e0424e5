/*
 * The email plugin through the real loader and host: whole MIME messages compared byte for
 * byte (expected encodings computed once with Python's base64 and checked by hand), header
 * folding and RFC 2047 encoded-words, quoted-printable and base64 bodies, List-Unsubscribe,
 * refused header injection, the text derived from the HTML, the size warning, delivery to
 * the outbox and to SMTP, refused configurations. Several artifacts are also handed to
 * email_mime_check.py, which parses them with Python's email package.
 */
#include "plugin_fixture.h"

#define MAIN_CONFIG                                                                                \
    "{\"from\": \"Bank Example <news@bank.example>\", \"unsubscribe\": {\"url\": "                 \
    "\"https://bank.example/unsub?r={{ recipient.id }}&m={{ message_id }}\", "                     \
    "\"mailto\": \"unsub@bank.example\"}}"
#define RECIPIENT "{\"id\": \"cust-42\", \"email\": \"j@example.org\"}"
#define NOW       1700000000000LL /* Tue, 14 Nov 2023 22:13:20 UTC */

/* The smtp_send service, recording what the plugin handed over. */
typedef struct smtp_seen {
    int calls;
    char from[128];
    char rcpt[128];
    char channel[32];
    char url[64], user[32], pass[32];
    unsigned nrcpt, flags;
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
    s->flags = HUB_PLUGIN_HAS(msg, flags) ? msg->flags : 99;
    snprintf(s->url, sizeof(s->url), "%s", HUB_PLUGIN_HAS(msg, url) ? msg->url : "(none)");
    snprintf(s->user, sizeof(s->user), "%s", msg->username ? msg->username : "(null)");
    snprintf(s->pass, sizeof(s->pass), "%s", msg->password ? msg->password : "(null)");
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

static plug email = {.name = "email"};
static const plug_msg msg = {.item = "onboarding/welcome",
                             .variant = "control",
                             .locale = "en",
                             .message_id = "msg-0001",
                             .now_ms = NOW,
                             .prefix = "/c",
                             .cap = 64 << 20};

/* Loads email.so with channels.email = config into the data directory tmpname, with the
 * smtp_send service recording into smtp when it is not NULL. The channel, or NULL when it was
 * refused. */
static const hub_channel *load(const char *config, const char *tmpname, smtp_seen *smtp)
{
    email.tmpname = tmpname;
    email.services = (hub_plugin_services){0};
    if (smtp != NULL) {
        email.services.smtp_send = fake_smtp;
        email.services.ctx = smtp;
    }
    plug_load(&email, config);
    return email.ch;
}

enum { SUBJECT, PREHEADER, HTML, TEXT, FROM_NAME, REPLY_TO };

static void render_at(const char *const f[6], const char *recipient, const char *msgid, int64_t now,
                      plug_call *r)
{
    json_t *rec = recipient != NULL ? json_loads(recipient, 0, NULL) : NULL;
    plug_msg m = msg;
    m.recipient = rec;
    m.message_id = msgid;
    m.now_ms = now;
    plug_run_str(r, email.ch, PLUG_RENDER, &m, f);
    json_decref(rec);
}

static void render(const char *const f[6], const char *recipient, plug_call *r)
{
    render_at(f, recipient, "msg-0001", NOW, r);
}

static void validate(const char *const f[6], plug_call *r)
{
    plug_run_str(r, email.ch, PLUG_VALIDATE, &msg, f);
}

static const char *mime_of(const plug_call *r)
{
    const char *m = plug_art_str(r, "mime");
    return m != NULL ? m : "";
}

/* The header block of the message (up to and with the blank line), in buf. */
static const char *headers_of(const plug_call *r, char *buf, size_t cap)
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

static int has_problem(const plug_call *r, const char *path)
{
    return plug_problems_at(r, path, "") > 0;
}

static int has_warning(const plug_call *r, const char *code)
{
    return plug_warnings_with(r, code, "") > 0;
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

/* Writes the artifact into the data directory and runs the Python checker on it. */
static void python_check(const plug_call *r, const char *name)
{
    char path[700], cmd[2000], script[1024];
    const char *src = __FILE__, *slash = strrchr(src, '/');
    snprintf(script, sizeof(script), "%.*s/email_mime_check.py",
             slash != NULL ? (int)(slash - src) : 1, slash != NULL ? src : ".");
    snprintf(path, sizeof(path), "%s/%s.json", email.data_dir, name);
    FILE *fp = fopen(path, "wb");
    REQUIRE(fp != NULL);
    fwrite(r->artifact.data, 1, r->artifact.len, fp);
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
    plug_call r;
    REQUIRE(load(MAIN_CONFIG, "email_golden", NULL) != NULL);
    const char *fields[6] = {
        "Welcome to the bank", "Your account is ready", "<p>Hello</p>", "Hello\n", NULL, NULL};
    render(fields, RECIPIENT, &r);
    CHECK(r.rc == 0);
    CHECK_STR(mime_of(&r), golden_ascii);
    CHECK_STR(plug_art_str(&r, "subject"), "Welcome to the bank");
    CHECK_STR(plug_art_str(&r, "html"),
              "<div style=\"display:none;max-height:0;overflow:hidden;mso-hide:all\">Your "
              "account is ready</div><p>Hello</p>");
    CHECK_STR(plug_art_str(&r, "text"), "Hello\n");
    CHECK_STR(plug_art_str(&r, "message_id"), "<msg-0001@bank.example>");
    CHECK_STR(plug_art_str(&r, "preheader"), "Your account is ready");
    CHECK_STR(plug_art_str(&r, "to"), "j@example.org");
    CHECK_STR(plug_art_str(&r, "from"), "Bank Example <news@bank.example>");
    CHECK(json_array_size(r.warnings) == 0);
    python_check(&r, "golden");
    plug_call_free(&r);
    plug_unload(&email);
}

static void test_non_ascii_headers(void)
{
    plug_call r;
    char h[4096];
    REQUIRE(load(MAIN_CONFIG, "email_utf8", NULL) != NULL);
    const char *fields[6] = {"  Willkommen, Jörg ",
                             NULL,
                             "<p>Hallo <b>Jörg</b></p>",
                             NULL,
                             "Jörg's Bank",
                             "\"Support, Team\" <help@bank.example>"};
    render(fields, "{\"id\": \"cust-7\"}", &r);
    REQUIRE(r.rc == 0);
    headers_of(&r, h, sizeof(h));
    static const char want[] = "From: =?UTF-8?B?SsO2cmcncyBCYW5r?= <news@bank.example>\r\n"
                               "Reply-To: \"Support, Team\" <help@bank.example>\r\n"
                               "Subject: =?UTF-8?Q?Willkommen=2C_J=C3=B6rg?=\r\n"
                               "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n";
    CHECK(starts_with(h, want));
    CHECK(strstr(h, "\r\nTo:") == NULL); /* no recipient.email: no To */
    CHECK(strstr(h, "List-Unsubscribe: <https://bank.example/unsub?r=cust-7&m=msg-0001>,") != NULL);
    CHECK_STR(plug_art_str(&r, "subject"), "Willkommen, Jörg");
    CHECK_STR(plug_art_str(&r, "from"), "Jörg's Bank <news@bank.example>");
    CHECK(json_is_null(json_object_get(r.art, "to")));
    CHECK(json_is_null(json_object_get(r.art, "preheader")));
    CHECK_STR(plug_art_str(&r, "html"), "<p>Hallo <b>Jörg</b></p>");
    CHECK_STR(plug_art_str(&r, "text"), "Hallo Jörg\n");
    CHECK(lines_ok(mime_of(&r)));
    python_check(&r, "utf8");
    plug_call_free(&r);
    plug_unload(&email);
}

/* ASCII display names with specials go as quoted-strings, escapes and all. */
static void test_display_names(void)
{
    plug_call r;
    REQUIRE(load("{\"from\": \"\\\"Bank, Inc.\\\" <news@bank.example>\", "
                 "\"reply_to\": \"help@bank.example\"}",
                 "email_names", NULL) != NULL);
    const char *fields[6] = {"Hi", NULL, "<HTML><BODY BGCOLOR=\"#fff\"><p>x</p></BODY></HTML>",
                             NULL, NULL, NULL};
    render(fields, RECIPIENT, &r);
    REQUIRE(r.rc == 0);
    CHECK(starts_with(mime_of(&r), "From: \"Bank, Inc.\" <news@bank.example>\r\n"
                                   "To: j@example.org\r\nReply-To: help@bank.example\r\n"
                                   "Subject: Hi\r\n"));
    CHECK_STR(plug_art_str(&r, "from"), "\"Bank, Inc.\" <news@bank.example>");
    plug_call_free(&r);
    fields[FROM_NAME] = "Bank \"Support\"";
    fields[PREHEADER] = "Hello";
    render(fields, RECIPIENT, &r);
    REQUIRE(r.rc == 0);
    CHECK(starts_with(mime_of(&r), "From: \"Bank \\\"Support\\\"\" <news@bank.example>\r\n"));
    CHECK_STR(plug_art_str(&r, "from"), "\"Bank \\\"Support\\\"\" <news@bank.example>");
    /* The preheader goes after <BODY ...> whatever its case. */
    CHECK(strstr(plug_art_str(&r, "html"), "<BODY BGCOLOR=\"#fff\"><div style=") != NULL);
    python_check(&r, "names");
    plug_call_free(&r);
    plug_unload(&email);
}

/* Long subjects: ASCII folds at white space; long UTF-8 runs split on characters only. */
static void test_long_subjects(void)
{
    plug_call r;
    char h[4096], subj[200];
    REQUIRE(load("{}", "email_long", NULL) != NULL);
    const char *fields[6] = {"Your statement for November is ready: balances, recent "
                             "transactions, upcoming payments and a note from your advisor",
                             NULL,
                             "<p>x</p>",
                             "x",
                             NULL,
                             NULL};
    render(fields, RECIPIENT, &r);
    REQUIRE(r.rc == 0);
    CHECK(strstr(headers_of(&r, h, sizeof(h)),
                 "\r\nSubject: Your statement for November is ready: balances, recent "
                 "transactions,\r\n upcoming payments and a note from your advisor\r\n") != NULL);
    CHECK(starts_with(h, "From: omnihub <no-reply@localhost>\r\n"));
    CHECK(strstr(h, "Message-ID: <msg-0001@localhost>\r\n") != NULL);
    CHECK(strstr(h, "List-Unsubscribe") == NULL);
    python_check(&r, "folded");
    plug_call_free(&r);

    subj[0] = '\0';
    for (int i = 0; i < 40; i++)
        strcat(subj, "ö");
    fields[SUBJECT] = subj;
    render(fields, RECIPIENT, &r);
    REQUIRE(r.rc == 0);
    CHECK(strstr(headers_of(&r, h, sizeof(h)),
                 "\r\nSubject: =?UTF-8?B?w7bDtsO2w7bDtsO2w7bDtsO2w7bDtsO2w7bDtsO2w7bDtsO2w7Y=?=\r\n"
                 " =?UTF-8?B?w7bDtsO2w7bDtsO2w7bDtsO2w7bDtsO2w7bDtsO2w7bDtsO2w7bDtsO2?=\r\n") !=
          NULL);
    CHECK_STR(plug_art_str(&r, "subject"), subj);
    plug_call_free(&r);

    /* 4-byte characters: a byte-wise split would cut the tenth emoji in two. */
    strcpy(subj, "Hi ");
    for (int i = 0; i < 20; i++)
        strcat(subj, "\xF0\x9F\x8E\x89");
    render(fields, RECIPIENT, &r);
    REQUIRE(r.rc == 0);
    CHECK(strstr(headers_of(&r, h, sizeof(h)),
                 "\r\nSubject: =?UTF-8?B?SGkg8J+OifCfjonwn46J8J+OifCfjonwn46J8J+OifCfjonwn46J?=\r\n"
                 " =?UTF-8?B?8J+OifCfjonwn46J8J+OifCfjonwn46J8J+OifCfjonwn46J8J+OifCfjok=?=\r\n") !=
          NULL);
    python_check(&r, "emoji");
    plug_call_free(&r);

    /* An ASCII word longer than a line cannot fold: encoded-words (Q) instead. */
    strcpy(subj, "Code ");
    memset(subj + 5, 'A', 90);
    subj[95] = '\0';
    render(fields, RECIPIENT, &r);
    REQUIRE(r.rc == 0);
    char want[300];
    snprintf(want, sizeof(want), "\r\nSubject: =?UTF-8?Q?Code_%.50s?=\r\n =?UTF-8?Q?%.40s?=\r\n",
             subj + 5, subj + 5);
    CHECK(strstr(headers_of(&r, h, sizeof(h)), want) != NULL);
    CHECK_STR(plug_art_str(&r, "subject"), subj);
    plug_call_free(&r);
    plug_unload(&email);
}

static void test_bodies(void)
{
    plug_call r;
    char text[200], want[400];
    REQUIRE(load("{}", "email_qp", NULL) != NULL);
    /* '=', a non-ASCII letter, a line of 85 characters, a trailing space. */
    snprintf(text, sizeof(text), "a=b ü %.72s\ntail \n",
             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    const char *fields[6] = {"Statement", NULL, "<p>x</p>", text, NULL, NULL};
    render(fields, RECIPIENT, &r);
    REQUIRE(r.rc == 0);
    snprintf(want, sizeof(want),
             "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
             "a=3Db =C3=BC %.62s=\r\n%.10s\r\ntail=20\r\n\r\n--=_omnihub_msg-0001_0\r\n",
             text + 7, text + 7);
    CHECK(strstr(mime_of(&r), want) != NULL);
    CHECK(lines_ok(mime_of(&r)));
    python_check(&r, "qp");
    plug_call_free(&r);

    /* Mostly non-ASCII: base64 of the text with CRLF line ends. */
    fields[TEXT] = "Привет, мир!\n";
    fields[HTML] = "<p>Привет, мир! Это длинное письмо на русском языке, чтобы строки base64 "
                   "были длиннее семидесяти шести знаков.</p>";
    render(fields, RECIPIENT, &r);
    REQUIRE(r.rc == 0);
    CHECK(strstr(mime_of(&r),
                 "Content-Type: text/plain; charset=utf-8\r\n"
                 "Content-Transfer-Encoding: base64\r\n\r\n"
                 "0J/RgNC40LLQtdGCLCDQvNC40YAhDQo=\r\n--=_omnihub_msg-0001_0\r\n") != NULL);
    CHECK(strstr(mime_of(&r), "Content-Type: text/html; charset=utf-8\r\n"
                              "Content-Transfer-Encoding: base64\r\n") != NULL);
    CHECK(lines_ok(mime_of(&r)));
    python_check(&r, "base64");
    plug_call_free(&r);
    plug_unload(&email);
}

static void test_date_and_id(void)
{
    plug_call r;
    char h[4096];
    REQUIRE(load("{\"from\": \"news@mail.bank.example\"}", "email_date", NULL) != NULL);
    const char *fields[6] = {"Hi", NULL, "<p>x</p>", "x", NULL, NULL};
    render_at(fields, RECIPIENT, "Ab-9_z", 1709251199999LL, &r);
    REQUIRE(r.rc == 0);
    headers_of(&r, h, sizeof(h));
    CHECK(starts_with(h, "From: news@mail.bank.example\r\n"));
    CHECK(strstr(h, "\r\nDate: Thu, 29 Feb 2024 23:59:59 +0000\r\n") != NULL);
    CHECK(strstr(h, "\r\nMessage-ID: <Ab-9_z@mail.bank.example>\r\n") != NULL);
    CHECK_STR(plug_art_str(&r, "message_id"), "<Ab-9_z@mail.bank.example>");
    plug_call_free(&r);
    render_at(fields, RECIPIENT, "m1", -1, &r);
    REQUIRE(r.rc == 0);
    CHECK(strstr(headers_of(&r, h, sizeof(h)), "\r\nDate: Wed, 31 Dec 1969 23:59:59 +0000\r\n") !=
          NULL);
    plug_call_free(&r);
    render_at(fields, RECIPIENT, "bad id!", NOW, &r); /* not [A-Za-z0-9_-] */
    CHECK(r.rc == HUB_EINVAL);
    plug_call_free(&r);
    plug_unload(&email);
}

static void test_list_unsubscribe(void)
{
    plug_call r;
    char h[4096];
    REQUIRE(load("{\"unsubscribe\": {\"mailto\": \"mailto:unsub@bank.example\"}}", "email_unsub",
                 NULL) != NULL);
    const char *fields[6] = {"Hi", NULL, "<p>x</p>", "x", NULL, NULL};
    /* http only: listed, but no one-click POST (RFC 8058 wants https). */
    render(fields,
           "{\"id\": \"c1\", \"attributes\": {\"unsubscribe_url\": \"http://bank.example/u/1\"}}",
           &r);
    REQUIRE(r.rc == 0);
    headers_of(&r, h, sizeof(h));
    CHECK(strstr(h, "\r\nList-Unsubscribe: <http://bank.example/u/1>, "
                    "<mailto:unsub@bank.example>\r\n") != NULL);
    CHECK(strstr(h, "List-Unsubscribe-Post") == NULL);
    plug_call_free(&r);
    /* https from the attribute, a space percent-encoded: one-click. */
    render(
        fields,
        "{\"id\": \"c1\", \"attributes\": {\"unsubscribe_url\": \"https://bank.example/u?n=a b\"}}",
        &r);
    REQUIRE(r.rc == 0);
    headers_of(&r, h, sizeof(h));
    CHECK(strstr(h, "\r\nList-Unsubscribe: <https://bank.example/u?n=a%20b>,\r\n"
                    " <mailto:unsub@bank.example>\r\n"
                    "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n") != NULL);
    plug_call_free(&r);
    /* no URL: the mailto alone, no POST. */
    render(fields, RECIPIENT, &r);
    REQUIRE(r.rc == 0);
    headers_of(&r, h, sizeof(h));
    CHECK(strstr(h, "\r\nList-Unsubscribe: <mailto:unsub@bank.example>\r\n") != NULL);
    CHECK(strstr(h, "List-Unsubscribe-Post") == NULL);
    plug_call_free(&r);
    /* not http(s): left out, with a warning. */
    render(fields,
           "{\"id\": \"c1\", \"attributes\": {\"unsubscribe_url\": \"javascript:alert(1)\"}}", &r);
    REQUIRE(r.rc == 0);
    headers_of(&r, h, sizeof(h));
    CHECK(strstr(h, "\r\nList-Unsubscribe: <mailto:unsub@bank.example>\r\n") != NULL);
    CHECK(has_warning(&r, "email_unsubscribe_url") && json_array_size(r.warnings) == 1);
    plug_call_free(&r);
    /* a line break in the URL is refused, not cleaned. */
    render(fields,
           "{\"id\": \"c1\", \"attributes\": {\"unsubscribe_url\": \"https://x.example/\\r\\nBcc: "
           "a@b\"}}",
           &r);
    CHECK(r.rc == HUB_EINVAL);
    CHECK(has_problem(&r, "/c"));
    plug_call_free(&r);
    plug_unload(&email);
}

static void test_injection_refused(void)
{
    plug_call r;
    REQUIRE(load(MAIN_CONFIG, "email_inject", NULL) != NULL);
    const char *fields[6] = {"a\r\nBcc: x@y", NULL, "<p>x</p>", NULL, NULL, NULL};
    render(fields, RECIPIENT, &r);
    CHECK(r.rc == HUB_EINVAL);
    CHECK(has_problem(&r, "/c/subject"));
    CHECK(r.artifact.len == 0);
    plug_call_free(&r);
    validate(fields, &r);
    CHECK(r.rc == 0);
    CHECK(r.problems.count == 1 && has_problem(&r, "/c/subject"));
    plug_call_free(&r);

    const char *more[6] = {"Hi", NULL, "<p>x</p>", NULL, "X\nBcc: y@z", "a@b.example\r\nBcc: z@y"};
    render(more, RECIPIENT, &r);
    CHECK(r.rc == HUB_EINVAL);
    CHECK(has_problem(&r, "/c/from_name") && has_problem(&r, "/c/reply_to"));
    plug_call_free(&r);
    validate(more, &r);
    CHECK(r.problems.count == 2);
    plug_call_free(&r);

    const char *bad_reply[6] = {"Hi", NULL, "<p>x</p>", NULL, NULL, "not an address"};
    render(bad_reply, RECIPIENT, &r);
    CHECK(r.rc == HUB_EINVAL && has_problem(&r, "/c/reply_to"));
    plug_call_free(&r);

    const char *ok[6] = {"Hi", NULL, "<p>x</p>", NULL, NULL, NULL};
    render(ok, "{\"id\": \"c\", \"email\": \"j@example.org\\r\\nBcc: x@y\"}", &r);
    CHECK(r.rc == HUB_EINVAL && has_problem(&r, "/c"));
    plug_call_free(&r);
    render(ok, "{\"id\": \"c\", \"email\": \"j@@example.org\"}", &r);
    CHECK(r.rc == HUB_EINVAL && has_problem(&r, "/c"));
    plug_call_free(&r);

    /* An empty subject (here: blank once trimmed) is a problem at publish and at render. */
    const char *empty[6] = {"  ", NULL, "<p>x</p>", NULL, NULL, NULL};
    validate(empty, &r);
    CHECK(r.problems.count == 1 && has_problem(&r, "/c/subject"));
    plug_call_free(&r);
    render(empty, RECIPIENT, &r);
    CHECK(r.rc == HUB_EINVAL);
    plug_call_free(&r);
    plug_unload(&email);
}

static void test_text_derived(void)
{
    plug_call r;
    REQUIRE(load(MAIN_CONFIG, "email_text", NULL) != NULL);
    const char *fields[6] = {
        "Open your account",
        "Two minutes, no paperwork",
        "<!DOCTYPE html><html><head><title>T</title></head><body class=\"x\"><p>Hello, "
        "<a href=\"https://bank.example/open\">open your account</a> today.</p></body></html>",
        NULL,
        NULL,
        NULL};
    render(fields, RECIPIENT, &r);
    REQUIRE(r.rc == 0);
    const char *text = plug_art_str(&r, "text");
    REQUIRE(text != NULL);
    CHECK(strstr(text, "open your account (https://bank.example/open)") != NULL);
    CHECK(strstr(text, "Two minutes") == NULL); /* the hidden preheader stays out */
    /* The preheader goes right after <body ...>, not before the doctype. */
    CHECK(strstr(plug_art_str(&r, "html"),
                 "<body class=\"x\"><div style=\"display:none;max-height:0;overflow:hidden;"
                 "mso-hide:all\">Two minutes, no paperwork</div><p>Hello,") != NULL);
    python_check(&r, "derived");
    plug_call_free(&r);
    /* The preheader is HTML-escaped. */
    fields[PREHEADER] = "<b>&\"'";
    fields[HTML] = "<p>x</p>";
    render(fields, RECIPIENT, &r);
    REQUIRE(r.rc == 0);
    CHECK(strstr(plug_art_str(&r, "html"), ">&lt;b&gt;&amp;&quot;&#39;</div><p>x</p>") != NULL);
    CHECK_STR(plug_art_str(&r, "preheader"), "<b>&\"'");
    plug_call_free(&r);
    plug_unload(&email);
}

static void test_html_size_warning(void)
{
    plug_call r;
    size_t n = 102401;
    char *html = malloc(n + 1);
    REQUIRE(html != NULL);
    memcpy(html, "<p>", 3);
    memset(html + 3, 'a', n - 7);
    memcpy(html + n - 4, "</p>", 5);
    REQUIRE(load("{}", "email_size", NULL) != NULL);
    const char *fields[6] = {"Big", NULL, html, "text", NULL, NULL};
    render(fields, RECIPIENT, &r);
    CHECK(r.rc == 0);
    CHECK(has_warning(&r, "email_html_size") && json_array_size(r.warnings) == 1);
    CHECK(lines_ok(mime_of(&r)));
    plug_call_free(&r);
    validate(fields, &r);
    CHECK(r.problems.count == 0 && has_warning(&r, "email_html_size"));
    plug_call_free(&r);
    memcpy(html + n - 5, "</p>", 5); /* 102400 bytes: no warning */
    render(fields, RECIPIENT, &r);
    CHECK(r.rc == 0 && json_array_size(r.warnings) == 0);
    plug_call_free(&r);
    plug_unload(&email);
    REQUIRE(load("{\"html_warn_bytes\": 10}", "email_size", NULL) != NULL);
    fields[HTML] = "<p>0123456</p>";
    render(fields, RECIPIENT, &r);
    CHECK(r.rc == 0 && has_warning(&r, "email_html_size"));
    plug_call_free(&r);
    plug_unload(&email);
    free(html);
}

/* Delivers the artifact art (the whole text) to recipient as msg-0001. */
static int deliver(const char *art, const char *recipient, char *err, size_t cap)
{
    return plug_deliver(email.ch, art, strlen(art), recipient, "msg-0001", err, cap, NULL);
}

static void test_deliver_outbox(void)
{
    plug_call r;
    char err[256];
    size_t len = 0;
    REQUIRE(load(MAIN_CONFIG, "email_outbox", NULL) != NULL);
    const char *fields[6] = {"Hi", NULL, "<p>x</p>", NULL, NULL, NULL};
    render(fields, RECIPIENT, &r);
    REQUIRE(r.rc == 0);
    CHECK(deliver(r.artifact.data, RECIPIENT, err, sizeof(err)) == HUB_DELIVER_OK);
    const char *data = plug_outbox(&email, "msg-0001.eml", &len);
    REQUIRE(data != NULL);
    CHECK(len == strlen(mime_of(&r)) && memcmp(data, mime_of(&r), len) == 0);
    /* The same message again replaces the file (idempotent). */
    CHECK(deliver(r.artifact.data, RECIPIENT, err, sizeof(err)) == HUB_DELIVER_OK);
    plug_call_free(&r);
    CHECK(deliver("{\"subject\": \"x\"}", RECIPIENT, err, sizeof(err)) == HUB_DELIVER_FAIL);
    plug_unload(&email);
}

static void test_deliver_smtp(void)
{
    plug_call r;
    smtp_seen seen = {0};
    char err[256];
    REQUIRE(
        load("{\"driver\": \"smtp\", \"smtp\": {\"url\": \"smtp://127.0.0.1:2525\", \"from\": "
             "\"Bank <bounces@bank.example>\", \"username\": \"relay\", \"password\": \"s3cret\", "
             "\"starttls\": true}}",
             "email_smtp", &seen) != NULL);
    const char *fields[6] = {"Hi", NULL, "<p>x</p>", NULL, NULL, NULL};
    render(fields, RECIPIENT, &r);
    REQUIRE(r.rc == 0);
    /* No top-level from: the header From is smtp.from. */
    CHECK(starts_with(mime_of(&r), "From: Bank <bounces@bank.example>\r\n"));
    CHECK(deliver(r.artifact.data, RECIPIENT, err, sizeof(err)) == HUB_DELIVER_OK);
    CHECK(seen.calls == 1 && seen.nrcpt == 1);
    CHECK_STR(seen.channel, "email");
    CHECK_STR(seen.from, "bounces@bank.example");
    CHECK_STR(seen.rcpt, "j@example.org");
    /* ABI 1.1: the server and the login travel with the message. */
    CHECK_STR(seen.url, "smtp://127.0.0.1:2525");
    CHECK_STR(seen.user, "relay");
    CHECK_STR(seen.pass, "s3cret");
    CHECK(seen.flags == HUB_SMTP_STARTTLS);
    CHECK(seen.data != NULL && strcmp(seen.data, mime_of(&r)) == 0);
    CHECK(deliver(r.artifact.data, "{\"id\": \"c\"}", err, sizeof(err)) == HUB_DELIVER_FAIL);
    CHECK_STR(err, "no email address");
    CHECK(seen.calls == 1);
    plug_call_free(&r);
    free(seen.data);
    plug_unload(&email);
}

static void check_refused(const char *config, const char *needle)
{
    load(config, "email_refused", NULL);
    CHECK(email.ch == NULL);
    CHECK(plug_refusal_has(&email, needle));
    plug_unload(&email);
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
    REQUIRE(load("{}", "email_schema", NULL) != NULL);
    const hub_plugin_schema *s = hub_channel_fields(email.ch);
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
    plug_unload(&email);
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
    plug_unload(&email);
    return TEST_SUMMARY();
}
