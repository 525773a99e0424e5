/*
 * Validation against a real store: references (terms exist, locales configured) and the
 * publish completeness rule, with locales en (default), de (falls back to en by default),
 * de-AT (truncates to de) and fr, and a few taxonomy terms.
 */
#include "content/content.h"
#include "test.h"

static hub_store *store;

static json_t *J(const char *text)
{
    size_t n = strlen(text);
    char *buf = malloc(n + 1);
    if (buf == NULL)
        abort();
    for (size_t i = 0; i <= n; i++)
        buf[i] = text[i] == '\'' ? '"' : text[i];
    json_t *v = json_loadb(buf, n, 0, NULL);
    free(buf);
    if (v == NULL)
        abort();
    return v;
}

static int setup_fn(hub_txn *txn, void *arg)
{
    static const char *const locales[][2] = {
        {"en", "{'name':'English','default':true}"},
        {"de", "{'name':'Deutsch'}"},
        {"de-AT", "{'name':'Deutsch (AT)','fallback':'de'}"},
        {"fr", "{'name':'Francais'}"},
    };
    static const char *const terms[] = {"product/accounts", "segment/vip", "segment/new",
                                        "journey/onboarding"};
    hub_error err;
    hub_error_init(&err);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof(locales) / sizeof(locales[0]); i++) {
        json_t *body = J(locales[i][1]);
        rc = hub_locale_put(txn, locales[i][0], body, NULL, &err);
        json_decref(body);
    }
    for (size_t i = 0; rc == 0 && i < sizeof(terms) / sizeof(terms[0]); i++) {
        json_t *body = J("{'label':'x'}");
        rc = hub_taxonomy_put(txn, terms[i], body, &err);
        json_decref(body);
    }
    if (rc != 0)
        fprintf(stderr, "setup failed: %s\n", err.message);
    hub_error_clear(&err);
    (void)arg;
    return rc;
}

typedef struct check {
    const char *json;
    int complete; /* 0: refs, 1: complete */
    hub_problems problems;
    int rc;
} check;

static int check_fn(hub_txn *txn, void *arg)
{
    check *c = arg;
    json_t *item = J(c->json);
    if (c->complete)
        c->rc = hub_item_validate_complete(txn, item, NULL, &c->problems);
    else
        c->rc = hub_item_validate_refs(txn, item, &c->problems);
    json_decref(item);
    return 0;
}

/* Runs one check in a read transaction and compares the pointers (in order); *msg gets the
 * message of problem number `pick`. */
static int expect(const char *json, int complete, const char *const *paths, size_t pick,
                  const char **msg)
{
    check c = {json, complete, {0}, 0};
    hub_txn *txn = NULL;
    hub_problems_init(&c.problems);
    if (hub_store_read(store, &txn) != 0)
        return 0;
    check_fn(txn, &c);
    hub_txn_end(txn);
    size_t want = 0;
    while (paths[want] != NULL)
        want++;
    int ok = c.problems.count == want && (want ? c.rc == HUB_EINVAL : c.rc == 0);
    for (size_t i = 0; ok && i < want; i++)
        ok = strcmp(c.problems.items[i].path, paths[i]) == 0;
    if (!ok) {
        fprintf(stderr, "  rc %d, %zu problems (want %zu):\n", c.rc, c.problems.count, want);
        for (size_t i = 0; i < c.problems.count; i++)
            fprintf(stderr, "    %s: %s\n", c.problems.items[i].path, c.problems.items[i].message);
    }
    static char picked[512];
    picked[0] = '\0';
    if (pick < c.problems.count)
        snprintf(picked, sizeof(picked), "%s", c.problems.items[pick].message);
    if (msg != NULL)
        *msg = picked;
    hub_problems_clear(&c.problems);
    return ok;
}

static void test_refs(void)
{
    static const char *const none[] = {NULL};
    CHECK(expect("{'tags':['product/accounts','journey/onboarding'],'variants':["
                 "{'id':'a','content':{'en':{},'de-AT':{}}},"
                 "{'id':'b','audience':{'any':['segment/vip'],'none':['segment/new']},"
                 " 'content':{'fr':{}}}]}",
                 0, none, 0, NULL));
    static const char *const bad[] = {"/tags/1",
                                      "/tags/2",
                                      "/variants/0/content/it",
                                      "/variants/1/audience/any/1",
                                      "/variants/1/audience/none/0",
                                      "/variants/1/content/de-CH",
                                      NULL};
    const char *msg = NULL;
    CHECK(expect("{'tags':['product/accounts','product/nope','segment/ghost'],'variants':["
                 "{'id':'a','content':{'en':{},'it':{}}},"
                 "{'id':'b','audience':{'any':['segment/vip','segment/ghost'],"
                 " 'none':['segment/gone']},'content':{'de-CH':{}}}]}",
                 0, bad, 0, &msg));
    CHECK(msg != NULL && strstr(msg, "product/nope") != NULL);
    /* A bare facet always exists. Non-strings are the form check's business. */
    CHECK(expect("{'tags':['product',5],'variants':[{'id':'a','content':3}]}", 0, none, 0, NULL));
}

/* control: en email complete, de subject only; short: en subject only; so every variant
 * resolves email in en, de and de-AT (html from control's English through the chain). */
#define EMAIL_OK                                                                                   \
    "{'id':'control','content':{'en':{'email':{'subject':'Welcome','html':'<p>x</p>'}},"           \
    "'de':{'email':{'subject':'Willkommen'}}}},"                                                   \
    "{'id':'short','content':{'en':{'email':{'subject':'In'}},'de-AT':{'email':{}}}}"

static void test_complete(void)
{
    static const char *const none[] = {NULL};
    CHECK(expect("{'variants':[" EMAIL_OK "]}", 1, none, 0, NULL));

    /* sms appears only in short's English: control lacks it everywhere, short has it
     * through the chain in every locale. */
    static const char *const sms[] = {"/variants/0/content/en/sms/text",
                                      "/variants/0/content/de/sms/text",
                                      "/variants/0/content/de-AT/sms/text", NULL};
    const char *msg = NULL;
    CHECK(expect("{'variants':[{'id':'control','content':{"
                 "'en':{'email':{'subject':'Welcome','html':'<p>x</p>'}},"
                 "'de':{'email':{'subject':'Willkommen'}}}},"
                 "{'id':'short','content':{'en':{'email':{'subject':'In'},'sms':{'text':'t'}},"
                 "'de-AT':{'email':{}}}}]}",
                 1, sms, 0, &msg));
    CHECK_STR(msg, "required field 'text' does not resolve for variant 'control' in locale "
                   "'en' (chain en)");

    /* Content in French and Austrian German only: nothing reaches de-AT from fr, so both
     * variants miss email there, and html is missing in French too. */
    static const char *const fr[] = {"/variants/0/content/fr/email/html",
                                     "/variants/0/content/de-AT/email/subject",
                                     "/variants/0/content/de-AT/email/html",
                                     "/variants/1/content/fr/email/html",
                                     "/variants/1/content/de-AT/email/subject",
                                     "/variants/1/content/de-AT/email/html",
                                     NULL};
    CHECK(expect("{'variants':[{'id':'control','content':{'fr':{'email':{'subject':'S'}}}},"
                 "{'id':'short','content':{'de-AT':{'email':{}}}}]}",
                 1, fr, 0, NULL));
    static const char *const one[] = {"/variants/0/content/de-AT/email/subject",
                                      "/variants/0/content/de-AT/email/html",
                                      "/variants/1/content/de-AT/email/subject", NULL};
    CHECK(expect("{'variants':[{'id':'control','content':{'fr':{'email':{'subject':'S',"
                 "'html':'h'}}}},{'id':'short','content':{'de-AT':{'email':{'html':'h'}}}}]}",
                 1, one, 2, &msg));
    CHECK_STR(msg, "required field 'subject' does not resolve for variant 'short' in locale "
                   "'de-AT' (chain de-AT, de, en)");

    /* Optional fields never matter; mobile needs title and body. */
    static const char *const mob[] = {"/variants/0/content/en/mobile/body", NULL};
    CHECK(expect("{'variants':[{'id':'a','content':{'en':{'mobile':{'title':'T','image':'i'}}}}]}",
                 1, mob, 0, NULL));
    /* A variant with no content of its own inherits everything from the base. */
    CHECK(expect("{'variants':[{'id':'a','content':{'en':{'sms':{'text':'x'}}}},"
                 "{'id':'b','content':{}}]}",
                 1, none, 0, NULL));
}

int main(void)
{
    hub_error err;
    hub_error_init(&err);
    hub_store_options opts = {.dir = test_tmpdir("validate_store")};
    if (hub_store_open(&store, &opts, &err) != 0) {
        fprintf(stderr, "cannot open store: %s\n", err.message);
        return 1;
    }
    if (hub_store_write(store, setup_fn, NULL) != 0) {
        hub_store_close(store);
        return 1;
    }
    RUN(test_refs);
    RUN(test_complete);
    hub_store_close(store);
    hub_error_clear(&err);
    return TEST_SUMMARY();
}
