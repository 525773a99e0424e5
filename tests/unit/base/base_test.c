/* Unit tests for core/base: buffers with caps, problems, UTF-8, numbers, base64url, time,
 * thread names and shared directory fsyncs. */
#include "base/base.h"
/* test.h formats a path into a fixed buffer; gcc cannot prove it fits */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include "test.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>

static void test_buf_cap(void)
{
    hub_buf b;
    hub_buf_init(&b, 8);
    CHECK(hub_buf_append_str(&b, "abcd") == 0);
    CHECK(hub_buf_printf(&b, "%d", 1234) == 0);
    CHECK_STR(b.data, "abcd1234");
    CHECK(hub_buf_append_byte(&b, 'x') == HUB_ETOOBIG);
    CHECK_STR(b.data, "abcd1234"); /* unchanged after hitting the cap */
    CHECK(hub_buf_printf(&b, "%s", "y") == HUB_ETOOBIG);
    hub_buf_reset(&b);
    CHECK(hub_buf_append_jptr(&b, "a/b~c") == 0);
    CHECK_STR(b.data, "a~1b~0c");
    hub_buf_free(&b);
}

static void test_problems(void)
{
    hub_error err;
    hub_error_init(&err);
    for (int i = 0; i < HUB_PROBLEMS_MAX + 5; i++)
        hub_problems_add(&err.problems, "/x", "problem %d", i);
    CHECK(err.problems.count == HUB_PROBLEMS_MAX);
    CHECK(err.problems.dropped == 5);
    CHECK_STR(err.problems.items[3].message, "problem 3");
    CHECK(hub_error_set(&err, HUB_EINVAL, "bad %s", "thing") == HUB_EINVAL);
    CHECK_STR(err.message, "bad thing");
    hub_error_clear(&err);
    CHECK(err.problems.count == 0 && err.code == 0);
}

static void test_utf8(void)
{
    CHECK(hub_utf8_valid("J\xc3\xb6rg \xe2\x82\xac \xf0\x9f\x98\x80", 14));
    CHECK(!hub_utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
    CHECK(!hub_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    CHECK(!hub_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    CHECK(!hub_utf8_valid("\xe2\x82", 2));         /* truncated */
    /* cutting before byte n keeps whole characters: "J" "ö"(2) "r" "€"(3) "😀"(4) */
    static const char t[] = "J\xc3\xb6r\xe2\x82\xac\xf0\x9f\x98\x80!";
    CHECK(hub_utf8_back(t, 0) == 0 && hub_utf8_back(t, 1) == 1);
    CHECK(hub_utf8_back(t, 2) == 1 && hub_utf8_back(t, 3) == 3);
    CHECK(hub_utf8_back(t, 5) == 4 && hub_utf8_back(t, 6) == 4 && hub_utf8_back(t, 7) == 7);
    CHECK(hub_utf8_back(t, 8) == 7 && hub_utf8_back(t, 10) == 7 && hub_utf8_back(t, 11) == 11);
    CHECK(hub_utf8_back("\x80\x80\x80", 2) == 0); /* no start of a character at all */
    CHECK(!hub_utf8_valid("\xff", 1));
}

static void test_utf8_scrub(void)
{
    /* "unknown member '%.5s'" of "a😀": the emoji cut after 4 of its bytes, then a quote */
    char cut[] = "member 'a\xf0\x9f\x98\x80\xf0\x9f\x98' left";
    CHECK_STR(hub_utf8_scrub(cut), "member 'a\xf0\x9f\x98\x80' left");
    char bad[] = "\xff\xc0\xafok\xed\xa0\x80 \xc3\xb6\xe2\x82";
    CHECK_STR(hub_utf8_scrub(bad), "ok \xc3\xb6"); /* stray, overlong, surrogate, cut at the end */
    char fine[] = "J\xc3\xb6rg \xe2\x82\xac";
    CHECK_STR(hub_utf8_scrub(fine), "J\xc3\xb6rg \xe2\x82\xac");
    char empty[] = "";
    CHECK_STR(hub_utf8_scrub(empty), "");
    /* the message builders scrub what they were given */
    hub_error err;
    hub_error_init(&err);
    char name[300];
    memset(name, 0, sizeof(name));
    for (size_t i = 0; i + 4 < sizeof(name); i += 4)
        memcpy(name + i, "\xf0\x9f\x98\x80", 4);
    hub_error_set(&err, HUB_EINVAL, "no channel called %.41s", name); /* 10 emoji and a bit */
    CHECK(hub_utf8_valid(err.message, strlen(err.message)));
    CHECK(strlen(err.message) == strlen("no channel called ") + 40);
    hub_error_set(&err, HUB_EINVAL, "x%s", name); /* cut by the message buffer */
    CHECK(hub_utf8_valid(err.message, strlen(err.message)));
    hub_problems_add(&err.problems, name + 1, "unknown member '%.63s'", name);
    CHECK(hub_utf8_valid(err.problems.items[0].path, strlen(err.problems.items[0].path)));
    CHECK(hub_utf8_valid(err.problems.items[0].message, strlen(err.problems.items[0].message)));
    CHECK(strlen(err.problems.items[0].message) == strlen("unknown member ''") + 60);
    hub_error_clear(&err);
}

static void test_numbers_and_b64(void)
{
    uint64_t v;
    CHECK(hub_parse_u64(HUB_SLICE_LIT("18446744073709551615"), &v) == 0 && v == UINT64_MAX);
    CHECK(hub_parse_u64(HUB_SLICE_LIT("18446744073709551616"), &v) == HUB_EINVAL);
    CHECK(hub_parse_u64(HUB_SLICE_LIT("12a"), &v) == HUB_EINVAL);
    CHECK(hub_parse_u64(HUB_SLICE_LIT(""), &v) == HUB_EINVAL);
    char enc[64];
    unsigned char dec[64];
    const char *cases[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *want[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        size_t n = strlen(cases[i]);
        hub_b64url_encode((const unsigned char *)cases[i], n, enc);
        CHECK_STR(enc, want[i]);
        long m = hub_b64url_decode(enc, strlen(enc), dec, sizeof(dec));
        CHECK(m == (long)n && memcmp(dec, cases[i], n) == 0);
    }
    CHECK(hub_b64url_decode("Zm9v!", 5, dec, sizeof(dec)) == -1);
    CHECK(hub_b64url_decode("Z", 1, dec, sizeof(dec)) == -1);
    CHECK(hub_b64url_decode("Zh", 2, dec, sizeof(dec)) == -1); /* non-zero pad bits */
    CHECK(hub_b64url_decode("Zm9vYmFy", 8, dec, 3) == -1);     /* over out_cap */
}

static void test_html_escape(void)
{
    const char *in = "a&b<c>\"d'e";
    hub_buf b;
    hub_buf_init(&b, 64);
    CHECK(hub_buf_append_html(&b, in, strlen(in), 0) == 0);
    CHECK_STR(b.data, "a&amp;b&lt;c&gt;\"d'e");
    hub_buf_reset(&b);
    CHECK(hub_buf_append_html(&b, in, strlen(in), 1) == 0);
    CHECK_STR(b.data, "a&amp;b&lt;c&gt;&quot;d'e");
    hub_buf_reset(&b);
    CHECK(hub_buf_append_html(&b, in, strlen(in), 2) == 0);
    CHECK_STR(b.data, "a&amp;b&lt;c&gt;&quot;d&#39;e");
    CHECK(hub_html_entity('x', 2) == NULL);
    hub_buf_free(&b);
    /* Over the cap: nothing of the call stays. */
    hub_buf_init(&b, 12);
    CHECK(hub_buf_append_str(&b, "ok") == 0);
    CHECK(hub_buf_append_html(&b, "<<<<", 4, 0) == HUB_ETOOBIG);
    CHECK_STR(b.data, "ok");
    CHECK(b.len == 2);
    hub_buf_free(&b);
}

static void test_time(void)
{
    char buf[HUB_TIME_LEN];
    int64_t ms;
    hub_time_format(0, buf);
    CHECK_STR(buf, "1970-01-01T00:00:00.000Z");
    CHECK(hub_time_parse("2026-11-23T03:21:33.123Z", 24, &ms) == 0);
    hub_time_format(ms, buf);
    CHECK_STR(buf, "2026-11-23T03:21:33.123Z");
    CHECK(hub_time_parse("2024-02-29T23:00:00+01:00", 25, &ms) == 0);
    hub_time_format(ms, buf);
    CHECK_STR(buf, "2024-02-29T22:00:00.000Z");
    CHECK(hub_time_parse("2023-02-29T00:00:00Z", 20, &ms) == HUB_EINVAL);
    CHECK(hub_time_parse("2023-13-01T00:00:00Z", 20, &ms) == HUB_EINVAL);
    CHECK(hub_time_parse("2023-01-01 00:00:00Z", 20, &ms) == HUB_EINVAL);
    CHECK(hub_time_parse("2023-01-01T00:00:00", 19, &ms) == HUB_EINVAL);
    CHECK(hub_time_parse("2023-01-01T00:00:00.Z", 21, &ms) == HUB_EINVAL);
    CHECK(hub_time_parse("1969-12-31T23:59:59.500Z", 24, &ms) == 0 && ms == -500);
    CHECK(hub_now_ms() > 1700000000000LL);
}

/* ---- shared directory fsyncs ----------------------------------------------------------- */

#define SYNCERS    8
#define PER_SYNCER 50

typedef struct syncer {
    const char *dir;
    int index, failures;
    atomic_int *go;
} syncer;

/* Each file is created, then the directory synced: what the outbox does after a rename. */
static void *syncer_main(void *arg)
{
    syncer *s = arg;
    while (!atomic_load(s->go))
        ;
    for (int i = 0; i < PER_SYNCER; i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/f-%d-%d", s->dir, s->index, i);
        FILE *f = fopen(path, "w");
        if (f == NULL || fclose(f) != 0 || hub_fsync_dir(s->dir) != 0)
            s->failures++;
    }
    return NULL;
}

static void test_fsync_dir(void)
{
    char dir[400];
    snprintf(dir, sizeof(dir), "%s", test_tmpdir("fsync_dir"));
    CHECK(mkdir(dir, 0750) == 0 || errno == EEXIST);

    uint64_t before = hub_fsync_dir_count();
    CHECK(hub_fsync_dir(dir) == 0); /* alone: one fsync of its own */
    CHECK(hub_fsync_dir_count() == before + 1);

    pthread_t th[SYNCERS];
    syncer s[SYNCERS];
    atomic_int go = 0;
    before = hub_fsync_dir_count();
    for (int i = 0; i < SYNCERS; i++) {
        s[i] = (syncer){dir, i, 0, &go};
        REQUIRE(pthread_create(&th[i], NULL, syncer_main, &s[i]) == 0);
    }
    atomic_store(&go, 1);
    int failures = 0;
    for (int i = 0; i < SYNCERS; i++) {
        pthread_join(th[i], NULL);
        failures += s[i].failures;
    }
    uint64_t done = hub_fsync_dir_count() - before;
    fprintf(stderr, "fsync_dir: %d calls, %llu fsyncs\n", SYNCERS * PER_SYNCER,
            (unsigned long long)done);
    CHECK(failures == 0);
    CHECK(done >= 1 && done < SYNCERS * PER_SYNCER); /* concurrent calls shared fsyncs */

    /* A directory that is not there fails with errno, and does not poison the next call. */
    char gone[450];
    snprintf(gone, sizeof(gone), "%s/not-there", dir);
    errno = 0;
    CHECK(hub_fsync_dir(gone) == -1 && errno == ENOENT);
    CHECK(hub_fsync_dir(gone) == -1 && errno == ENOENT);
    CHECK(mkdir(gone, 0750) == 0);
    CHECK(hub_fsync_dir(gone) == 0);
    CHECK(hub_fsync_dir(dir) == 0);
}

int main(void)
{
    RUN(test_buf_cap);
    RUN(test_problems);
    RUN(test_utf8);
    RUN(test_utf8_scrub);
    RUN(test_numbers_and_b64);
    RUN(test_time);
    RUN(test_html_escape);
    RUN(test_fsync_dir);
    return TEST_SUMMARY();
}
