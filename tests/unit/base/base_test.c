/* Unit tests for core/base: buffers with caps, problems, UTF-8, numbers, base64url, time. */
#include "base/base.h"
#include "test.h"

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
    CHECK(!hub_utf8_valid("\xff", 1));
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

int main(void)
{
    RUN(test_buf_cap);
    RUN(test_problems);
    RUN(test_utf8);
    RUN(test_numbers_and_b64);
    RUN(test_time);
    RUN(test_html_escape);
    return TEST_SUMMARY();
}
