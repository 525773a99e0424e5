/*
 * Import: content-samples/ loads into an empty store with the expected counts (and loads
 * again without new versions); a rejected file is reported with its reason while the other
 * files are imported; a bad entity in a large batch is reported alone; locales and terms are
 * applied in dependency order whatever the file order.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/app.h"
#include "test.h"

/* The repository root, from this file's path (CMake compiles with absolute paths). */
static const char *samples_dir(void)
{
    static char path[1024];
    const char *f = __FILE__, *cut = strstr(f, "tests/unit/app/");
    if (cut == NULL)
        return "content-samples";
    snprintf(path, sizeof(path), "%.*scontent-samples", (int)(cut - f), f);
    return path;
}

static hub_store *open_store(const char *dir)
{
    hub_store *s = NULL;
    hub_error err;
    hub_error_init(&err);
    hub_store_options o = {.dir = dir, .map_size = 256ull << 20};
    if (hub_store_open(&s, &o, &err) != 0)
        fprintf(stderr, "store: %s\n", err.message);
    hub_error_clear(&err);
    return s;
}

/* Runs the import with stderr captured into out (NUL-terminated). */
static int import_capture(hub_store *s, char **paths, int n, char *out, size_t cap)
{
    char tmpl[] = "/tmp/omnihub-import-XXXXXX";
    int fd = mkstemp(tmpl), saved = dup(2);
    if (fd < 0 || saved < 0)
        abort();
    unlink(tmpl);
    fflush(stderr);
    dup2(fd, 2);
    int rc = hub_import_paths(s, NULL, paths, n);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ssize_t got = pread(fd, out, cap - 1, 0);
    out[got > 0 ? got : 0] = '\0';
    close(fd);
    fputs(out, stderr); /* keep it visible in the test log */
    return rc;
}

static void write_file(const char *dir, const char *name, const char *fmt, ...)
{
    char path[700];
    va_list ap;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        abort();
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
}

static size_t count(hub_store *s, hub_db db)
{
    hub_txn *t;
    if (hub_store_read(s, &t) != 0)
        return (size_t)-1;
    size_t n = hub_txn_count(t, db);
    hub_txn_end(t);
    return n;
}

static json_t *published(hub_store *s, const char *key)
{
    hub_txn *t;
    json_t *doc = NULL;
    if (hub_store_read(s, &t) != 0)
        return NULL;
    hub_content_get_published(t, key, &doc);
    hub_txn_end(t);
    return doc;
}

/* Audit records about `key`. */
static size_t audit_count(hub_store *s, const char *key)
{
    hub_txn *t;
    json_t *list = NULL;
    char *next = NULL;
    hub_error err;
    hub_error_init(&err);
    if (hub_store_read(s, &t) != 0)
        return (size_t)-1;
    size_t n = hub_audit_list(t, key, 0, NULL, 1000, &list, &next, &err) == 0
                   ? json_array_size(list)
                   : (size_t)-1;
    hub_txn_end(t);
    json_decref(list);
    free(next);
    hub_error_clear(&err);
    return n;
}

static void test_samples(void)
{
    const char *dir = test_tmpdir("app_import_samples");
    char out[8192];
    char *paths[] = {(char *)samples_dir()};
    hub_store *s = open_store(dir);
    REQUIRE(s != NULL);
    CHECK(import_capture(s, paths, 1, out, sizeof(out)) == 0);
    CHECK_STR(out, "imported 4 locales, 23 terms, 12 items (10 published), 2 journeys; 0 files "
                   "rejected\n");
    CHECK(count(s, HUB_DB_LOCALES) == 4);
    CHECK(count(s, HUB_DB_TERMS) == 23);
    CHECK(count(s, HUB_DB_DRAFTS) == 12);
    CHECK(count(s, HUB_DB_HEADS) == 10);
    CHECK(count(s, HUB_DB_JOURNEYS) == 2);
    CHECK(audit_count(s, "de-AT") == 1); /* locale and term writes are audited too */
    CHECK(audit_count(s, "product/accounts/savings") == 1);
    json_t *w = published(s, "onboarding/welcome");
    CHECK(json_integer_value(json_object_get(w, "version")) == 1);
    CHECK(json_object_get(w, "status") == NULL); /* stripped before the write */
    CHECK_STR(json_string_value(json_object_get(w, "published_by")), "import");
    json_decref(w);
    w = published(s, "abandonment/last-chance"); /* a draft in the samples */
    CHECK(w == NULL);
    json_decref(w);

    /* Again: nothing changes, no new versions. */
    CHECK(import_capture(s, paths, 1, out, sizeof(out)) == 0);
    CHECK(strstr(out, "0 files rejected") != NULL);
    w = published(s, "onboarding/welcome");
    CHECK(json_integer_value(json_object_get(w, "version")) == 1);
    json_decref(w);
    CHECK(count(s, HUB_DB_VERSIONS) == 10);
    hub_store_close(s);
}

static const char good_item[] =
    "{\"key\": \"%s\", \"kind\": \"message\", \"title\": \"T\", \"tags\": [\"journey/x\"],"
    " \"status\": \"published\", \"variants\": [{\"id\": \"a\", \"content\": {\"en\": {\"sms\":"
    " {\"text\": \"hello\"}}}}]}";

static void test_rejected_file(void)
{
    const char *base = test_tmpdir("app_import_rejected");
    char dir[600], out[8192];
    snprintf(dir, sizeof(dir), "%s/in", base);
    REQUIRE(mkdir(dir, 0755) == 0);
    /* Children before parents and fallbacks before their targets: the import sorts them. */
    write_file(dir, "a-setup.json",
               "{\"taxonomy\": [{\"term\": \"journey/x/y\", \"label\": \"Y\"},"
               " {\"term\": \"journey/x\", \"label\": \"X\"}],"
               " \"locales\": [{\"tag\": \"de-AT\", \"name\": \"AT\", \"fallback\": \"de\"},"
               " {\"tag\": \"de\", \"name\": \"DE\", \"fallback\": \"en\"},"
               " {\"tag\": \"en\", \"name\": \"EN\", \"default\": true}]}");
    write_file(dir, "b-good.json", good_item, "good/one");
    write_file(dir, "c-broken.json", "{\"key\": \"x\",\n  \"variants\": [1,]}");
    /* Valid as a draft, but not publishable: no email html in de or anywhere on its chain. */
    write_file(dir, "d-incomplete.json",
               "{\"key\": \"bad/incomplete\", \"kind\": \"message\", \"title\": \"T\","
               " \"status\": \"published\", \"variants\": [{\"id\": \"a\", \"content\": {\"de\":"
               " {\"email\": {\"subject\": \"S\"}}}}]}");
    write_file(dir, "e-unknown-tag.json",
               "{\"key\": \"bad/tag\", \"kind\": \"message\", \"title\": \"T\", \"tags\":"
               " [\"campaign/nope\"], \"variants\": [{\"id\": \"a\", \"content\": {}}]}");
    write_file(dir, "f-journey.json",
               "{\"id\": \"journey/x\", \"title\": \"X\", \"steps\": [{\"id\": \"s1\", \"item\":"
               " \"good/one\", \"channels\": [\"sms\"]}]}");
    write_file(dir, "g-what.json", "{\"stuff\": []}");
    write_file(dir, "notes.txt", "not json, not imported from a folder");
    char *paths[] = {dir};
    hub_store *s = open_store(base);
    REQUIRE(s != NULL);
    CHECK(import_capture(s, paths, 1, out, sizeof(out)) == 1);
    char line[1400];
    snprintf(line, sizeof(line),
             "import: %s/c-broken.json: line 2 column 18: unexpected token near ']'\n", dir);
    CHECK(strstr(out, line) != NULL);
    snprintf(line, sizeof(line),
             "import: %s/d-incomplete.json: publish bad/incomplete: the item has 1 problem; "
             "/variants/0/content/de/email/html: required field 'html' does not resolve",
             dir);
    CHECK(strstr(out, line) != NULL);
    snprintf(line, sizeof(line),
             "import: %s/e-unknown-tag.json: item bad/tag: the item has 1 problem; /tags/0: term "
             "'campaign/nope' does not exist\n",
             dir);
    CHECK(strstr(out, line) != NULL);
    snprintf(line, sizeof(line), "import: %s/g-what.json: unknown member /stuff:", dir);
    CHECK(strstr(out, line) != NULL);
    CHECK(strstr(out, "notes.txt") == NULL);
    CHECK(strstr(out, "b-good") == NULL && strstr(out, "a-setup") == NULL);
    CHECK(strstr(out, "imported 3 locales, 2 terms, 2 items (1 published), 1 journeys; 4 files "
                      "rejected\n") != NULL);
    json_t *g = published(s, "good/one");
    CHECK(json_integer_value(json_object_get(g, "version")) == 1);
    json_decref(g);
    CHECK(count(s, HUB_DB_JOURNEYS) == 1);
    CHECK(count(s, HUB_DB_HEADS) == 1);
    /* The draft of the incomplete item was stored (it is valid as a draft), not published. */
    CHECK(count(s, HUB_DB_DRAFTS) == 2);
    hub_store_close(s);
}

/* 700 items in one file, one bad in the middle (second batch): 699 imported, one reported. */
static void test_batch_isolation(void)
{
    const char *base = test_tmpdir("app_import_batch");
    char path[600], out[8192];
    snprintf(path, sizeof(path), "%s/bulk.json", base);
    FILE *f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs("{\"locales\": [{\"tag\": \"en\", \"name\": \"English\"}],"
          " \"taxonomy\": [{\"term\": \"journey/x\", \"label\": \"X\"}], \"items\": [",
          f);
    for (int i = 0; i < 700; i++) {
        fprintf(f,
                "%s{\"key\": \"bulk/%d\", \"kind\": \"message\", \"title\": \"T%d\","
                " \"tags\": [\"%s\"], \"variants\": [{\"id\": \"a\", \"content\": {\"en\":"
                " {\"sms\": {\"text\": \"hi %d\"}}}}]}",
                i ? "," : "", i, i, i == 612 ? "journey/nope" : "journey/x", i);
    }
    fputs("]}", f);
    fclose(f);
    char *paths[] = {path};
    hub_store *s = open_store(base);
    REQUIRE(s != NULL);
    uint64_t commits = hub_store_commit_count(s);
    CHECK(import_capture(s, paths, 1, out, sizeof(out)) == 1);
    char line[1400];
    snprintf(line, sizeof(line),
             "import: %s: item bulk/612: the item has 1 problem; /items/612/tags/0: term "
             "'journey/nope' does not exist\n",
             path);
    CHECK(strstr(out, line) != NULL);
    CHECK(strstr(out, "imported 1 locales, 1 terms, 699 items (0 published), 0 journeys; 1 "
                      "files rejected\n") != NULL);
    CHECK(count(s, HUB_DB_DRAFTS) == 699);
    /* Batched: a handful of commits, not one per entity. */
    CHECK(hub_store_commit_count(s) - commits < 10);
    hub_store_close(s);
}

static void test_missing_path(void)
{
    const char *base = test_tmpdir("app_import_missing");
    char path[600], out[2048];
    snprintf(path, sizeof(path), "%s/nope.json", base);
    char *paths[] = {path};
    hub_store *s = open_store(base);
    REQUIRE(s != NULL);
    CHECK(import_capture(s, paths, 1, out, sizeof(out)) == 1);
    CHECK(strstr(out, "nope.json: No such file or directory\n") != NULL);
    CHECK(strstr(out, "; 1 files rejected\n") != NULL);
    hub_store_close(s);
}

int main(void)
{
    RUN(test_samples);
    RUN(test_rejected_file);
    RUN(test_batch_isolation);
    RUN(test_missing_path);
    return TEST_SUMMARY();
}
