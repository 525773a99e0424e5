/* Unit tests for API tokens: create, lookup, list, delete, spec validation, limits. */
#include <jansson.h>

#include "auth/auth.h"
#include "test.h"

static hub_store *store;

typedef struct create_arg {
    const char *spec;
    const char *del_name; /* delete instead */
    char secret[HUB_TOKEN_SECRET_LEN];
    json_t *record;
    hub_error err;
} create_arg;

static int do_op(hub_txn *txn, void *arg)
{
    create_arg *a = arg;
    if (a->del_name)
        return hub_auth_token_delete(txn, a->del_name);
    json_t *spec = json_loads(a->spec, 0, NULL);
    if (spec == NULL)
        return HUB_EBADREQ;
    int rc = hub_auth_token_create(txn, spec, a->secret, &a->record, &a->err);
    json_decref(spec);
    return rc;
}

static char last_path[64];

/* Creates a token; secret into out (may be NULL); returns the code. */
static int create(const char *spec, char *out, json_t **record)
{
    create_arg a;
    memset(&a, 0, sizeof(a));
    a.spec = spec;
    hub_error_init(&a.err);
    int rc = hub_store_write(store, do_op, &a);
    if (out)
        memcpy(out, a.secret, HUB_TOKEN_SECRET_LEN);
    snprintf(last_path, sizeof(last_path), "%s",
             a.err.problems.count ? a.err.problems.items[0].path : "");
    if (rc != 0 && a.err.message[0] == '\0')
        rc = 1000;
    if (record)
        *record = a.record;
    else
        json_decref(a.record);
    hub_error_clear(&a.err);
    return rc;
}

static int del(const char *name)
{
    create_arg a;
    memset(&a, 0, sizeof(a));
    a.del_name = name;
    hub_error_init(&a.err);
    return hub_store_write(store, do_op, &a);
}

static int lookup(const char *secret, size_t len, hub_principal *p)
{
    hub_txn *txn = NULL;
    int rc = hub_store_read(store, &txn);
    if (rc == 0)
        rc = hub_auth_lookup(txn, secret, len, p);
    hub_txn_end(txn);
    return rc;
}

static void test_roles(void)
{
    CHECK(hub_role_parse("admin") == HUB_ROLE_ADMIN);
    CHECK(hub_role_parse("editor") == HUB_ROLE_EDITOR);
    CHECK(hub_role_parse("delivery") == HUB_ROLE_DELIVERY);
    CHECK(hub_role_parse("preview") == HUB_ROLE_PREVIEW);
    CHECK(hub_role_parse("none") == HUB_ROLE_NONE);
    CHECK(hub_role_parse("Admin") == HUB_ROLE_NONE);
    CHECK(hub_role_parse(NULL) == HUB_ROLE_NONE);
    CHECK_STR(hub_role_name(HUB_ROLE_PREVIEW), "preview");
    CHECK_STR(hub_role_name((hub_role)42), "none");
}

static char admin_secret[HUB_TOKEN_SECRET_LEN];
static char editor_secret[HUB_TOKEN_SECRET_LEN];

static void test_create_lookup(void)
{
    json_t *rec = NULL;
    CHECK(create("{\"name\":\"root\",\"role\":\"admin\"}", admin_secret, &rec) == 0);
    CHECK(strncmp(admin_secret, "oh_", 3) == 0);
    CHECK(strlen(admin_secret) == HUB_TOKEN_SECRET_LEN - 1);
    for (size_t i = 3; i < strlen(admin_secret); i++) {
        char c = admin_secret[i];
        CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_');
    }
    REQUIRE(rec != NULL);
    CHECK_STR(json_string_value(json_object_get(rec, "name")), "root");
    CHECK_STR(json_string_value(json_object_get(rec, "role")), "admin");
    CHECK(json_is_null(json_object_get(rec, "channels")));
    CHECK(json_is_null(json_object_get(rec, "tags")));
    CHECK(json_is_string(json_object_get(rec, "created_at")));
    CHECK(json_object_size(rec) == 5); /* no secret, no hash */
    char *dump = json_dumps(rec, 0);
    CHECK(dump && strstr(dump, admin_secret + 3) == NULL);
    free(dump);
    json_decref(rec);

    hub_principal p;
    CHECK(lookup(admin_secret, strlen(admin_secret), &p) == 0);
    CHECK_STR(p.name, "root");
    CHECK(p.role == HUB_ROLE_ADMIN);
    CHECK(p.nchannels == 0 && p.ntags == 0);

    char wrong[HUB_TOKEN_SECRET_LEN];
    memcpy(wrong, admin_secret, sizeof(wrong));
    wrong[10] = wrong[10] == 'A' ? 'B' : 'A';
    CHECK(lookup(wrong, strlen(wrong), &p) == HUB_EUNAUTH);
    CHECK(p.role == HUB_ROLE_NONE);
    CHECK(lookup(admin_secret, strlen(admin_secret) - 1, &p) == HUB_EUNAUTH);
    CHECK(lookup("", 0, &p) == HUB_EUNAUTH);
    CHECK(lookup("oh_", 3, &p) == HUB_EUNAUTH);
    static char huge[100000];
    memset(huge, 'a', sizeof(huge));
    CHECK(lookup(huge, sizeof(huge), &p) == HUB_EUNAUTH);

    /* two tokens never share a secret */
    char other[HUB_TOKEN_SECRET_LEN];
    CHECK(create("{\"name\":\"reader\",\"role\":\"delivery\"}", other, NULL) == 0);
    CHECK(strcmp(other, admin_secret) != 0);
    CHECK(lookup(other, strlen(other), &p) == 0 && p.role == HUB_ROLE_DELIVERY);

    CHECK(create("{\"name\":\"root\",\"role\":\"preview\"}", NULL, NULL) == HUB_EEXISTS);

    CHECK(create("{\"name\":\"email-team\",\"role\":\"editor\",\"channels\":[\"email\","
                 "\"sms\"],\"tags\":[\"campaign/\",\"product/accounts\"]}",
                 editor_secret, NULL) == 0);
    CHECK(lookup(editor_secret, strlen(editor_secret), &p) == 0);
    CHECK_STR(p.name, "email-team");
    CHECK(p.role == HUB_ROLE_EDITOR);
    CHECK(p.nchannels == 2 && p.ntags == 2);
    CHECK_STR(p.channels[1], "sms");
    CHECK_STR(p.tags[0], "campaign/");
}

static void expect_spec_error(const char *spec, const char *path)
{
    int rc = create(spec, NULL, NULL);
    if (rc != HUB_EINVAL || strcmp(last_path, path) != 0)
        fprintf(stderr, "  %s -> %d at \"%s\"\n", spec, rc, last_path);
    CHECK(rc == HUB_EINVAL);
    CHECK_STR(last_path, path);
}

static void test_spec_errors(void)
{
    expect_spec_error("{\"name\":\"x\",\"role\":\"admin\",\"secret\":\"s\"}", "/secret");
    expect_spec_error("{\"name\":\"x\",\"role\":\"root\"}", "/role");
    expect_spec_error("{\"name\":\"x\"}", "/role");
    expect_spec_error("{\"role\":\"admin\"}", "/name");
    expect_spec_error("{\"name\":\"bad name\",\"role\":\"admin\"}", "/name");
    expect_spec_error("{\"name\":\"\",\"role\":\"admin\"}", "/name");
    expect_spec_error("{\"name\":\"a234567890123456789012345678901234567890123456789012345678901"
                      "2345\",\"role\":\"admin\"}",
                      "/name");
    expect_spec_error("{\"name\":\"x\",\"role\":\"delivery\",\"channels\":[\"email\"]}",
                      "/channels");
    expect_spec_error("{\"name\":\"x\",\"role\":\"admin\",\"tags\":[\"campaign/\"]}", "/tags");
    expect_spec_error("{\"name\":\"x\",\"role\":\"editor\",\"channels\":[\"Email\"]}",
                      "/channels/0");
    expect_spec_error("{\"name\":\"x\",\"role\":\"editor\",\"channels\":[]}", "/channels");
    expect_spec_error("{\"name\":\"x\",\"role\":\"editor\",\"channels\":\"email\"}", "/channels");
    expect_spec_error("{\"name\":\"x\",\"role\":\"editor\",\"tags\":[\"campaign/\",\"nope/\"]}",
                      "/tags/1");
    expect_spec_error("{\"name\":\"x\",\"role\":\"editor\",\"tags\":[\"campaign//\"]}", "/tags/0");
    expect_spec_error("{\"name\":\"x\",\"role\":\"editor\",\"tags\":[1]}", "/tags/0");
    expect_spec_error("{\"name\":\"x\",\"role\":\"editor\",\"tags\":[\"a\",\"b\",\"c\",\"d\","
                      "\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"l\",\"m\",\"n\",\"o\",\"p\","
                      "\"q\"]}",
                      "/tags");
    expect_spec_error("[]", "");
    /* valid limit forms */
    CHECK(create("{\"name\":\"t1\",\"role\":\"editor\",\"tags\":[\"campaign\",\"product/a/\","
                 "\"journey/x\"],\"channels\":null}",
                 NULL, NULL) == 0);
    CHECK(create("{\"name\":\"t.2_x-Y\",\"role\":\"preview\",\"channels\":null,\"tags\":null}",
                 NULL, NULL) == 0);
}

static void test_list_delete(void)
{
    hub_txn *txn = NULL;
    json_t *list = NULL;
    REQUIRE(hub_store_read(store, &txn) == 0);
    CHECK(hub_auth_token_list(txn, &list) == 0);
    hub_txn_end(txn);
    const char *want[] = {"email-team", "reader", "root", "t.2_x-Y", "t1"};
    CHECK(json_array_size(list) == 5);
    for (size_t i = 0; i < 5 && i < json_array_size(list); i++)
        CHECK_STR(json_string_value(json_object_get(json_array_get(list, i), "name")), want[i]);
    json_t *ed = json_array_get(list, 0);
    CHECK(json_array_size(json_object_get(ed, "channels")) == 2);
    json_decref(list);

    /* Look it up first so this thread's lookup cache holds it: a delete must still win. */
    hub_principal p;
    CHECK(lookup(editor_secret, strlen(editor_secret), &p) == 0);
    CHECK(lookup(editor_secret, strlen(editor_secret), &p) == 0);
    CHECK(del("email-team") == 0);
    CHECK(lookup(editor_secret, strlen(editor_secret), &p) == HUB_EUNAUTH);
    CHECK(del("email-team") == HUB_ENOTFOUND);
    CHECK(del("no such") == HUB_ENOTFOUND);
    CHECK(lookup(admin_secret, strlen(admin_secret), &p) == 0);
    REQUIRE(hub_store_read(store, &txn) == 0);
    CHECK(hub_auth_token_list(txn, &list) == 0);
    hub_txn_end(txn);
    CHECK(json_array_size(list) == 4);
    json_decref(list);
    /* the name is free again */
    CHECK(create("{\"name\":\"email-team\",\"role\":\"delivery\"}", NULL, NULL) == 0);
}

static void test_allows(void)
{
    hub_principal p;
    memset(&p, 0, sizeof(p));
    p.role = HUB_ROLE_EDITOR;
    json_t *tags = json_loads("[\"journey/x\"]", 0, NULL);
    CHECK(hub_principal_allows_channel(&p, "web")); /* no limits */
    CHECK(hub_principal_allows_tags(&p, tags));
    json_decref(tags);

    p.nchannels = 2;
    snprintf(p.channels[0], sizeof(p.channels[0]), "email");
    snprintf(p.channels[1], sizeof(p.channels[1]), "sms");
    CHECK(hub_principal_allows_channel(&p, "email"));
    CHECK(hub_principal_allows_channel(&p, "sms"));
    CHECK(!hub_principal_allows_channel(&p, "web"));
    CHECK(!hub_principal_allows_channel(&p, "emails"));
    CHECK(!hub_principal_allows_channel(&p, NULL));

    p.ntags = 2;
    snprintf(p.tags[0], sizeof(p.tags[0]), "campaign/");
    snprintf(p.tags[1], sizeof(p.tags[1]), "product/accounts");
    struct {
        const char *tags;
        int want;
    } cases[] = {
        {"[\"campaign/spring\"]", 1},
        {"[\"journey/x\",\"campaign/spring/week-1\"]", 1},
        {"[\"product/accounts\"]", 1},
        {"[\"product/accounts/savings\"]", 1},
        {"[\"product/accounts-x\"]", 0},
        {"[\"product/account\"]", 0},
        {"[\"journey/x\"]", 0},
        {"[]", 0},
        {"[1, null]", 0},
        {"{}", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *t = json_loads(cases[i].tags, 0, NULL);
        int got = hub_principal_allows_tags(&p, t);
        if (got != cases[i].want)
            fprintf(stderr, "  allows_tags(%s) = %d\n", cases[i].tags, got);
        CHECK(got == cases[i].want);
        json_decref(t);
    }
    CHECK(!hub_principal_allows_tags(&p, NULL));
}

int main(void)
{
    hub_store_options opts = {0};
    hub_error err;
    hub_error_init(&err);
    opts.dir = test_tmpdir("auth");
    opts.map_size = 64u << 20;
    if (hub_store_open(&store, &opts, &err) != 0) {
        fprintf(stderr, "cannot open the store: %s\n", err.message);
        return 1;
    }
    RUN(test_roles);
    RUN(test_create_lookup);
    RUN(test_spec_errors);
    RUN(test_list_delete);
    RUN(test_allows);
    hub_store_close(store);
    hub_error_clear(&err);
    return TEST_SUMMARY();
}
