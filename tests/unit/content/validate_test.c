/*
 * Pure validation tests: the item key grammar, the form check against a table of good and bad
 * items with the exact pointers expected, RFC 7396 merge patch against the RFC's appendix A,
 * and field resolution with hand-made chains. JSON in the tables is written with single quotes
 * (turned into double quotes before parsing) so it stays readable.
 */
#include "content/content.h"
#include "test.h"

/* Parses JSON written with ' for ". Aborts the test run on a broken fixture. */
static json_t *J(const char *text)
{
    size_t n = strlen(text);
    char *buf = malloc(n + 1);
    json_error_t e;
    if (buf == NULL)
        abort();
    for (size_t i = 0; i <= n; i++)
        buf[i] = text[i] == '\'' ? '"' : text[i];
    json_t *v = json_loadb(buf, n, JSON_DECODE_ANY, &e);
    if (v == NULL) {
        fprintf(stderr, "bad fixture: %s: %s\n", e.text, buf);
        abort();
    }
    free(buf);
    return v;
}

/* ---- key grammar ----------------------------------------------------------------------- */

static void test_key_grammar(void)
{
    static const char *const good[] = {"a",         "onboarding/welcome", "a.b_c-D/9",
                                       "versionsx", "x/publishing",       "...",
                                       "a/.b/..c",  "Rollback",           NULL};
    static const char *const bad[] = {
        "/a",         "a/",      "a//b",         ".",         "a/./b", "a/../b",   "..",   "a b",
        "a/versions", "publish", "x/rollback/y", "unpublish", "a?b",   "\xc3\xa4", "a\\b", "/",
        NULL};
    char long_ok[HUB_ITEM_KEY_MAX + 2];
    hub_error err;
    hub_error_init(&err);
    for (size_t i = 0; good[i] != NULL; i++) {
        int rc = hub_item_key_check(good[i], strlen(good[i]), &err);
        if (rc != 0)
            fprintf(stderr, "  good key '%s' refused: %s\n", good[i], err.message);
        CHECK(rc == 0);
    }
    for (size_t i = 0; bad[i] != NULL; i++) {
        err.message[0] = '\0';
        int rc = hub_item_key_check(bad[i], strlen(bad[i]), &err);
        if (rc != HUB_EINVAL)
            fprintf(stderr, "  bad key '%s' accepted\n", bad[i]);
        CHECK(rc == HUB_EINVAL);
        CHECK(err.message[0] != '\0' && strchr(err.message, '\n') == NULL);
    }
    CHECK(hub_item_key_check("", 0, NULL) == HUB_EINVAL);
    CHECK(hub_item_key_check(NULL, 0, NULL) == HUB_EINVAL);
    CHECK(hub_item_key_check("a\0b", 3, NULL) == HUB_EINVAL);
    /* The length counts, not the NUL: "ab" given as 1 byte is "a". */
    CHECK(hub_item_key_check("a/", 1, NULL) == 0);
    memset(long_ok, 'k', sizeof(long_ok));
    long_ok[99] = '/';
    CHECK(hub_item_key_check(long_ok, HUB_ITEM_KEY_MAX, NULL) == 0);
    CHECK(hub_item_key_check(long_ok, HUB_ITEM_KEY_MAX + 1, &err) == HUB_EINVAL);
    CHECK(strstr(err.message, "200") != NULL);
    CHECK(hub_item_key_check("a/versions", 10, &err) == HUB_EINVAL);
    CHECK(strstr(err.message, "versions") != NULL);
    hub_error_clear(&err);
}

/* ---- form ------------------------------------------------------------------------------ */

#define V0   "{'id':'control','content':{'en':{'email':{'subject':'Hi','html':'<p>x</p>'}}}}"
#define HEAD "'kind':'message','title':'Welcome',"

typedef struct form_case {
    const char *json;
    const char *key;             /* the URL key, or NULL */
    const char *const paths[12]; /* expected pointers in order, NULL-terminated */
} form_case;

static const form_case form_cases[] = {
    /* good items */
    {"{'key':'onboarding/welcome'," HEAD "'tags':['journey/onboarding','product/accounts/savings'],"
     "'variants':[{'id':'control','weight':50,'content':{"
     "  'en':{'email':{'subject':'Welcome','preheader':'p','html':'<h1>x</h1>','text':'x',"
     "               'from_name':'Bank','reply_to':'a@b.c'},"
     "        'sms':{'text':'Welcome'},"
     "        'mobile':{'title':'W','body':'B','deep_link':'bank://home','image':'i',"
     "                  'data':{'screen':'home','id':'7'}},"
     "        'web':{'title':'W','html':'<p>x</p>','summary':'s','image':'i','url':'u'}},"
     "  'de-AT':{'email':{'subject':'Servus'}},'zh-Hant-HK':{},'es-419':{'sms':{'text':'Hola'}}}},"
     " {'id':'short','weight':50.5,'content':{'en':{'email':{'subject':'In'}}}},"
     " {'id':'vip_2','audience':{'any':['segment/vip'],'none':[]},'content':{}}],"
     "'experiment':{'status':'running','holdout_percent':5,'allocation':'fixed','seed':'s1'},"
     "'publish_at':null,'unpublish_at':'2027-03-01T09:00:00+01:00'}",
     "onboarding/welcome",
     {NULL}},
    {"{'kind':'block','title':'t','variants':[{'id':'a','content':{}}]}", NULL, {NULL}},
    {"{" HEAD "'variants':[" V0 ",{'id':'b','content':{}}],"
     "'experiment':{'status':'concluded','winner':'b','holdout_percent':0}}",
     "x",
     {NULL}},
    /* not an object; nothing at all */
    {"[]", "x", {"", NULL}},
    {"'item'", "x", {"", NULL}},
    {"{}", "x", {"/kind", "/title", "/variants", NULL}},
    /* unknown top-level members, escaped in the pointer */
    {"{" HEAD "'variants':[" V0 "],'colour':1,'a/b~c':2}", "x", {"/colour", "/a~1b~0c", NULL}},
    /* key, kind and title */
    {"{'key':'other','kind':'page','title':'','variants':[" V0 "]}",
     "mine",
     {"/key", "/kind", "/title", NULL}},
    {"{'key':7,'kind':1,'title':['t'],'variants':[" V0 "]}",
     "x",
     {"/key", "/kind", "/title", NULL}},
    /* tags: bad term, duplicate, not a string; and not an array */
    {"{" HEAD "'tags':['product/accounts','bogus','product/accounts',7,'segment/Vip'],"
     "'variants':[" V0 "]}",
     "x",
     {"/tags/1", "/tags/2", "/tags/3", "/tags/4", NULL}},
    {"{" HEAD "'tags':'product/a','variants':[" V0 "]}", "x", {"/tags", NULL}},
    /* variants: empty, wrong type, an element that is not an object */
    {"{" HEAD "'variants':[]}", "x", {"/variants", NULL}},
    {"{" HEAD "'variants':{}}", "x", {"/variants", NULL}},
    {"{" HEAD "'variants':[" V0 ",3]}", "x", {"/variants/1", NULL}},
    /* many problems in one variant, in document order */
    {"{" HEAD "'variants':[{'id':'control','audience':{'any':['segment/vip']},"
     "  'content':{'en':{'email':{'subject':'s','html':'h'}}}},"
     " {'id':'control','weight':20000,'extra':1,'content':{'de-at':{'sms':{'text':'x'}},"
     "  'xx-!!':{},'en':{'fax':{},'email':{'subjekt':'s','html':5}},'fr':3,'it':{'sms':2}}}]}",
     "x",
     {"/variants/0/audience", "/variants/1/extra", "/variants/1/id", "/variants/1/weight",
      "/variants/1/content/de-at", "/variants/1/content/xx-!!", "/variants/1/content/en/fax",
      "/variants/1/content/en/email/subjekt", "/variants/1/content/en/email/html",
      "/variants/1/content/fr", "/variants/1/content/it/sms", NULL}},
    /* ids: missing, bad characters, too long; weight negative and not a number */
    {"{" HEAD "'variants':[{'content':{}},{'id':'a b','content':{},'weight':-1},"
     "{'id':'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa','content':{},"
     "'weight':'5'},{'id':''}]}",
     "x",
     {"/variants/0/id", "/variants/1/id", "/variants/1/weight", "/variants/2/id",
      "/variants/2/weight", "/variants/3/id", "/variants/3/content", NULL}},
    /* audience shapes */
    {"{" HEAD "'variants':[" V0 ",{'id':'b','audience':{'any':[]},'content':{}},"
     "{'id':'c','audience':{'all':['product/x','segment/ok'],'some':[]},'content':{}},"
     "{'id':'d','audience':{'none':'segment/x'},'content':{}},"
     "{'id':'e','audience':['segment/x'],'content':{}}]}",
     "x",
     {"/variants/1/audience", "/variants/2/audience/some", "/variants/2/audience/all/0",
      "/variants/3/audience/none", "/variants/4/audience", NULL}},
    /* a locale key with '/' and '~' is escaped */
    {"{" HEAD "'variants':[{'id':'a','content':{'en/x~':{}}}]}",
     "x",
     {"/variants/0/content/en~1x~0", NULL}},
    /* field shapes: mobile data must be an object of strings */
    {"{" HEAD "'variants':[{'id':'a','content':{'en':{'mobile':{'data':{'k':'v','n':1},"
     "'title':{}},'email':{'subject':null}}}}]}",
     "x",
     {"/variants/0/content/en/mobile/data/n", "/variants/0/content/en/mobile/title",
      "/variants/0/content/en/email/subject", NULL}},
    /* experiment: every member wrong at once */
    {"{" HEAD "'variants':[" V0 "],'experiment':{'status':'done','holdout_percent':101,"
     "'allocation':'x','winner':'nope','seed':'','foo':1}}",
     "x",
     {"/experiment/foo", "/experiment/status", "/experiment/holdout_percent",
      "/experiment/allocation", "/experiment/winner", "/experiment/seed", NULL}},
    {"{" HEAD "'variants':[" V0 "],'experiment':{'status':'running','winner':'control'}}",
     "x",
     {"/experiment/winner", NULL}},
    {"{" HEAD "'variants':[" V0 "],'experiment':[]}", "x", {"/experiment", NULL}},
    /* times */
    {"{" HEAD "'variants':[" V0 "],'publish_at':'tomorrow','unpublish_at':5}",
     "x",
     {"/publish_at", "/unpublish_at", NULL}},
};

static int form_case_run(const form_case *fc, size_t idx)
{
    hub_problems p;
    hub_problems_init(&p);
    json_t *item = J(fc->json);
    int rc = hub_item_validate_form(item, fc->key, hub_content_builtin_schemas(), &p);
    size_t want = 0;
    while (fc->paths[want] != NULL)
        want++;
    int ok = p.count == want && (want == 0 ? rc == 0 : rc == HUB_EINVAL);
    for (size_t i = 0; ok && i < want; i++)
        ok = strcmp(p.items[i].path, fc->paths[i]) == 0;
    for (size_t i = 0; i < p.count; i++)
        ok = ok && p.items[i].message[0] != '\0' && strchr(p.items[i].message, '\n') == NULL;
    if (!ok) {
        fprintf(stderr, "  form case %zu: rc %d, %zu problems (want %zu):\n", idx, rc, p.count,
                want);
        for (size_t i = 0; i < p.count; i++)
            fprintf(stderr, "    %s: %s\n", p.items[i].path, p.items[i].message);
    }
    hub_problems_clear(&p);
    json_decref(item);
    return ok;
}

static void test_form_table(void)
{
    for (size_t i = 0; i < sizeof(form_cases) / sizeof(form_cases[0]); i++)
        CHECK(form_case_run(&form_cases[i], i));
}

/* An item with one base variant whose en content has `channel`.`field` = n bytes of 'x'. */
static json_t *item_with_field(const char *channel, const char *field, size_t n)
{
    char *s = malloc(n + 1);
    if (s == NULL)
        abort();
    memset(s, 'x', n);
    s[n] = '\0';
    json_t *item = J("{" HEAD "'variants':[{'id':'a','content':{'en':{}}}]}");
    json_t *en = json_object_get(
        json_object_get(json_array_get(json_object_get(item, "variants"), 0), "content"), "en");
    json_object_set_new(en, channel, json_pack("{s:s}", field, s));
    free(s);
    return item;
}

static const char *first_path(json_t *item, hub_problems *p)
{
    hub_problems_clear(p);
    hub_item_validate_form(item, NULL, NULL, p);
    json_decref(item);
    return p->count > 0 ? p->items[0].path : "(none)";
}

static void test_field_limits(void)
{
    hub_problems p;
    hub_problems_init(&p);
    CHECK_STR(first_path(item_with_field("sms", "text", 10000), &p), "(none)");
    CHECK_STR(first_path(item_with_field("sms", "text", 10001), &p),
              "/variants/0/content/en/sms/text");
    CHECK(p.count == 1 && strstr(p.items[0].message, "10001") != NULL);
    CHECK_STR(first_path(item_with_field("email", "subject", 998), &p), "(none)");
    CHECK_STR(first_path(item_with_field("email", "subject", 999), &p),
              "/variants/0/content/en/email/subject");
    CHECK_STR(first_path(item_with_field("email", "html", 1048576), &p), "(none)");
    CHECK_STR(first_path(item_with_field("email", "html", 1048577), &p),
              "/variants/0/content/en/email/html");
    CHECK_STR(first_path(item_with_field("web", "summary", 2001), &p),
              "/variants/0/content/en/web/summary");
    CHECK_STR(first_path(item_with_field("mobile", "body", 4001), &p),
              "/variants/0/content/en/mobile/body");
    /* mobile data counts names and values together: "k" + 4095 bytes fits, 4096 does not. */
    json_t *item = item_with_field("mobile", "title", 1);
    json_t *mob = json_object_get(
        json_object_get(
            json_object_get(json_array_get(json_object_get(item, "variants"), 0), "content"), "en"),
        "mobile");
    json_t *data = json_object();
    json_object_set_new(mob, "data", data);
    char *big = malloc(4097);
    REQUIRE(big != NULL);
    memset(big, 'v', 4096);
    big[4095] = '\0';
    json_object_set_new(data, "k", json_string(big));
    CHECK(hub_item_validate_form(item, NULL, NULL, &p) == 0);
    big[4095] = 'v';
    big[4096] = '\0';
    json_object_set_new(data, "k", json_string(big));
    free(big);
    CHECK_STR(first_path(item, &p), "/variants/0/content/en/mobile/data");
    hub_problems_clear(&p);
}

static void test_form_messages(void)
{
    hub_problems p;
    hub_problems_init(&p);
    json_t *item = J("{" HEAD "'tags':['product/a','product/a'],"
                     "'variants':[{'id':'a','content':{'de-at':{}}},{'id':'a','content':{}}]}");
    CHECK(hub_item_validate_form(item, NULL, NULL, &p) == HUB_EINVAL);
    REQUIRE(p.count == 3);
    CHECK(strstr(p.items[0].message, "/tags/0") != NULL);
    CHECK(strstr(p.items[1].message, "'de-AT'") != NULL);
    CHECK(strstr(p.items[2].message, "'a'") != NULL);
    json_decref(item);
    hub_problems_clear(&p);

    /* A long, multi-byte, control-laden member name: one line, valid UTF-8, shortened. */
    item = J("{" HEAD "'variants':[" V0 "]}");
    char name[300];
    size_t n = 0;
    name[n++] = '\n';
    while (n + 2 < sizeof(name)) {
        name[n++] = (char)0xc3;
        name[n++] = (char)0xa4;
    }
    name[n] = '\0';
    json_object_set_new(item, name, json_true());
    CHECK(hub_item_validate_form(item, NULL, NULL, &p) == HUB_EINVAL);
    REQUIRE(p.count == 1);
    CHECK(strchr(p.items[0].message, '\n') == NULL);
    CHECK(hub_utf8_valid(p.items[0].message, strlen(p.items[0].message)));
    CHECK(strlen(p.items[0].message) < 120);
    CHECK(p.items[0].path[0] == '/' && strcmp(p.items[0].path + 1, name) == 0);
    json_decref(item);
    hub_problems_clear(&p);
}

/* ---- merge patch ----------------------------------------------------------------------- */

static void test_merge_patch_rfc(void)
{
    /* RFC 7396 appendix A, then the section 3 example. */
    static const char *const cases[][3] = {
        {"{'a':'b'}", "{'a':'c'}", "{'a':'c'}"},
        {"{'a':'b'}", "{'b':'c'}", "{'a':'b','b':'c'}"},
        {"{'a':'b'}", "{'a':null}", "{}"},
        {"{'a':'b','b':'c'}", "{'a':null}", "{'b':'c'}"},
        {"{'a':['b']}", "{'a':'c'}", "{'a':'c'}"},
        {"{'a':'c'}", "{'a':['b']}", "{'a':['b']}"},
        {"{'a':{'b':'c'}}", "{'a':{'b':'d','c':null}}", "{'a':{'b':'d'}}"},
        {"{'a':[{'b':'c'}]}", "{'a':[1]}", "{'a':[1]}"},
        {"['a','b']", "['c','d']", "['c','d']"},
        {"{'a':'b'}", "['c']", "['c']"},
        {"{'a':'foo'}", "null", "null"},
        {"{'a':'foo'}", "'bar'", "'bar'"},
        {"{'e':null}", "{'a':1}", "{'e':null,'a':1}"},
        {"[1,2]", "{'a':'b','c':null}", "{'a':'b'}"},
        {"{}", "{'a':{'bb':{'ccc':null}}}", "{'a':{'bb':{}}}"},
        {"{'title':'Goodbye!','author':{'givenName':'John','familyName':'Doe'},"
         "'tags':['example','sample'],'content':'This will be unchanged'}",
         "{'title':'Hello!','phoneNumber':'+01-123-456-7890','author':{'familyName':null},"
         "'tags':['example']}",
         "{'title':'Hello!','author':{'givenName':'John'},'tags':['example'],"
         "'content':'This will be unchanged','phoneNumber':'+01-123-456-7890'}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *t = J(cases[i][0]), *p = J(cases[i][1]), *want = J(cases[i][2]);
        char *t_before = json_dumps(t, JSON_ENCODE_ANY | JSON_SORT_KEYS);
        char *p_before = json_dumps(p, JSON_ENCODE_ANY | JSON_SORT_KEYS);
        json_t *got = hub_json_merge_patch(t, p);
        int ok = got != NULL && json_equal(got, want);
        if (!ok)
            fprintf(stderr, "  merge case %zu wrong\n", i);
        CHECK(ok);
        char *t_after = json_dumps(t, JSON_ENCODE_ANY | JSON_SORT_KEYS);
        char *p_after = json_dumps(p, JSON_ENCODE_ANY | JSON_SORT_KEYS);
        CHECK_STR(t_after, t_before);
        CHECK_STR(p_after, p_before);
        /* The result shares nothing with the inputs. */
        CHECK(got != t && (got != p || !(json_is_object(p) || json_is_array(p))));
        free(t_before), free(p_before), free(t_after), free(p_after);
        json_decref(t), json_decref(p), json_decref(want), json_decref(got);
    }
}

static void test_merge_patch_no_sharing(void)
{
    json_t *t = J("{'a':{'x':[1]},'b':{'y':1}}"), *p = J("{'b':{'z':{'q':1}},'c':[2]}");
    json_t *got = hub_json_merge_patch(t, p);
    REQUIRE(got != NULL);
    json_array_append_new(json_object_get(json_object_get(got, "a"), "x"), json_integer(9));
    json_object_set_new(json_object_get(json_object_get(got, "b"), "z"), "q", json_integer(5));
    json_array_append_new(json_object_get(got, "c"), json_integer(9));
    json_t *t_want = J("{'a':{'x':[1]},'b':{'y':1}}"), *p_want = J("{'b':{'z':{'q':1}},'c':[2]}");
    CHECK(json_equal(t, t_want));
    CHECK(json_equal(p, p_want));
    /* A NULL target behaves like a missing one. */
    json_t *fresh = hub_json_merge_patch(NULL, p);
    CHECK(fresh != NULL && json_equal(fresh, p_want));
    CHECK(hub_json_merge_patch(t, NULL) == NULL);
    json_decref(fresh);
    json_decref(t), json_decref(p), json_decref(got), json_decref(t_want), json_decref(p_want);
}

/* ---- resolution ------------------------------------------------------------------------ */

static json_t *resolution_item(void)
{
    return J("{'kind':'message','title':'t','variants':["
             " {'id':'control','content':{"
             "   'en':{'email':{'subject':'Welcome','html':'<p>en</p>'},'sms':{'text':'Hi'}},"
             "   'de':{'email':{'subject':'Willkommen'}}}},"
             " {'id':'short','content':{'en':{'email':{'subject':'In'}},"
             "   'fr':{'email':{'subject':'Entre','preheader':null}}}}]}");
}

static hub_locale_chain chain_of(const char *a, const char *b)
{
    hub_locale_chain c;
    memset(&c, 0, sizeof(c));
    snprintf(c.tags[c.count++], HUB_LOCALE_TAG_MAX, "%s", a);
    if (b != NULL)
        snprintf(c.tags[c.count++], HUB_LOCALE_TAG_MAX, "%s", b);
    return c;
}

static void test_resolve_field(void)
{
    json_t *item = resolution_item(), *v = NULL;
    const char *vid = NULL, *loc = NULL;
    hub_locale_chain de = chain_of("de", "en"), en = chain_of("en", NULL),
                     fr = chain_of("fr", "en");

    /* A German reader of "short" gets control's German subject, never short's English one. */
    CHECK(hub_item_resolve_field(item, 1, &de, "email", "subject", &v, &vid, &loc) == 0);
    CHECK_STR(json_string_value(v), "Willkommen");
    CHECK_STR(vid, "control");
    CHECK_STR(loc, "de");
    CHECK(loc == de.tags[0]);
    /* html is nowhere in German: control's English one, from the chain's second locale. */
    CHECK(hub_item_resolve_field(item, 1, &de, "email", "html", &v, &vid, &loc) == 0);
    CHECK_STR(json_string_value(v), "<p>en</p>");
    CHECK_STR(vid, "control");
    CHECK_STR(loc, "en");
    /* short's own English subject wins over control's. */
    CHECK(hub_item_resolve_field(item, 1, &en, "email", "subject", &v, &vid, &loc) == 0);
    CHECK_STR(json_string_value(v), "In");
    CHECK_STR(vid, "short");
    /* A null value counts as absent: the chain goes on. */
    CHECK(hub_item_resolve_field(item, 1, &fr, "email", "preheader", &v, &vid, &loc) ==
          HUB_ENOTFOUND);
    CHECK(hub_item_resolve_field(item, 1, &fr, "email", "subject", NULL, NULL, NULL) == 0);
    CHECK(hub_item_resolve_field(item, 0, &de, "email", "subject", &v, &vid, &loc) == 0);
    CHECK_STR(json_string_value(v), "Willkommen");
    /* Nothing there, a variant out of range, no chain. */
    CHECK(hub_item_resolve_field(item, 0, &de, "web", "title", &v, NULL, NULL) == HUB_ENOTFOUND);
    CHECK(hub_item_resolve_field(item, 2, &en, "email", "subject", &v, NULL, NULL) ==
          HUB_ENOTFOUND);
    CHECK(hub_item_resolve_field(item, 0, NULL, "email", "subject", &v, NULL, NULL) ==
          HUB_ENOTFOUND);
    CHECK(hub_item_resolve_field(NULL, 0, &en, "email", "subject", &v, NULL, NULL) ==
          HUB_ENOTFOUND);
    json_decref(item);
}

static void test_resolve_channel(void)
{
    json_t *item = resolution_item(), *from = NULL;
    hub_locale_chain de = chain_of("de", "en"), fr = chain_of("fr", NULL);
    json_t *fields = hub_item_resolve_channel(item, 1, &de, "email", NULL, &from);
    json_t *want = J("{'subject':'Willkommen','html':'<p>en</p>'}");
    json_t *want_from = J("{'subject':{'variant':'control','locale':'de'},"
                          "'html':{'variant':'control','locale':'en'}}");
    CHECK(fields != NULL && json_equal(fields, want));
    CHECK(from != NULL && json_equal(from, want_from));
    /* Fields come in schema order. */
    CHECK_STR(json_object_iter_key(json_object_iter(fields)), "subject");
    json_decref(fields), json_decref(from), json_decref(want), json_decref(want_from);

    /* sms for short in German: control's English text. */
    fields = hub_item_resolve_channel(item, 1, &de, "sms", hub_content_builtin_schemas(), &from);
    want = J("{'text':'Hi'}");
    want_from = J("{'text':{'variant':'control','locale':'en'}}");
    CHECK(fields != NULL && json_equal(fields, want) && json_equal(from, want_from));
    json_decref(fields), json_decref(from), json_decref(want), json_decref(want_from);

    /* Nothing resolves: NULL, and from is NULL too. */
    from = json_true();
    CHECK(hub_item_resolve_channel(item, 0, &fr, "sms", NULL, &from) == NULL);
    CHECK(from == NULL);
    from = json_true();
    CHECK(hub_item_resolve_channel(item, 0, &de, "fax", NULL, &from) == NULL);
    CHECK(from == NULL);
    fields = hub_item_resolve_channel(item, 1, &fr, "email", NULL, NULL);
    want = J("{'subject':'Entre'}");
    CHECK(fields != NULL && json_equal(fields, want));
    json_decref(fields), json_decref(want);
    json_decref(item);
}

int main(void)
{
    RUN(test_key_grammar);
    RUN(test_form_table);
    RUN(test_field_limits);
    RUN(test_form_messages);
    RUN(test_merge_patch_rfc);
    RUN(test_merge_patch_no_sharing);
    RUN(test_resolve_field);
    RUN(test_resolve_channel);
    return TEST_SUMMARY();
}
