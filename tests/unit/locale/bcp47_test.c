/* Unit tests for BCP 47 parsing, canonical case and lookup truncation (core/locale/bcp47.c). */
#include "locale/locale.h"
#include "test.h"

static void check_valid(const char *in, const char *want)
{
    char out[HUB_LOCALE_TAG_MAX];
    hub_error err;
    hub_error_init(&err);
    int rc = hub_locale_canonicalize(in, strlen(in), out, &err);
    if (rc != 0)
        fprintf(stderr, "  %s refused: %s\n", in, err.message);
    CHECK(rc == 0);
    CHECK_STR(out, want);
    /* canonical output is a fixed point */
    char again[HUB_LOCALE_TAG_MAX];
    CHECK(hub_locale_canonicalize(out, strlen(out), again, NULL) == 0);
    CHECK_STR(again, out);
    hub_error_clear(&err);
}

static void check_invalid(const char *in, size_t len)
{
    char out[HUB_LOCALE_TAG_MAX];
    hub_error err;
    hub_error_init(&err);
    int rc = hub_locale_canonicalize(in, len, out, &err);
    if (rc != HUB_EINVAL)
        fprintf(stderr, "  \"%.*s\" accepted as %s\n", (int)len, in, out);
    CHECK(rc == HUB_EINVAL);
    CHECK(err.code == HUB_EINVAL);
    CHECK(err.message[0] != '\0');
    CHECK(strchr(err.message, '\n') == NULL);
    hub_error_clear(&err);
}

static void test_valid_tags(void)
{
    check_valid("en", "en");
    check_valid("EN", "en");
    check_valid("de-AT", "de-AT");
    check_valid("de-at", "de-AT");
    check_valid("es-419", "es-419");
    check_valid("zh-Hant-HK", "zh-Hant-HK");
    check_valid("ZH-HANT-hk", "zh-Hant-HK");
    check_valid("sr-latn-rs", "sr-Latn-RS");
    check_valid("de-CH-1901", "de-CH-1901");
    check_valid("en-US-x-twain", "en-US-x-twain");
    check_valid("EN-us-X-Twain", "en-US-x-twain");
    check_valid("zh-yue-HK", "zh-yue-HK");
    check_valid("sl-rozaj-biske", "sl-rozaj-biske");
    check_valid("de-DE-u-co-phonebk", "de-DE-u-co-phonebk");
    check_valid("en-a-bbb-b-ccc-x-a-b", "en-a-bbb-b-ccc-x-a-b");
    check_valid("en-A-BBBB", "en-a-bbbb"); /* a 4-letter subtag in an extension is not a script */
    check_valid("qaa-Qaaa-QM-x-southern", "qaa-Qaaa-QM-x-southern");
    check_valid("hy-Latn-IT-arevela", "hy-Latn-IT-arevela");
    check_valid("abcdefgh", "abcdefgh");
    check_valid("en-x-1", "en-x-1");
    check_valid("en-x-dup-dup", "en-x-dup-dup"); /* private use may repeat */
}

static void test_invalid_tags(void)
{
    const char *bad[] = {
        "",
        "de_AT",
        "d",
        "-de",
        "de-",
        "toolonglanguage",
        "de--AT",
        "x-private",
        "i-klingon",
        "de-AT-AT",
        "de-1901-1901",
        "de-1901-DE",
        "en-a-bbb-a-ccc",
        "en-a",
        "en-a-x-foo",
        "en-x",
        "zh-yue-yue-yue-yue",
        "en-Latn-Latn",
        "en-abcdefghi",
        "a1",
        "de-AT-\xc3\xa4",
        "de AT",
        "en-US-x-toolongxx",
        "1234",
        "en-a-b",
        "en-U-abc-u-def",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        check_invalid(bad[i], strlen(bad[i]));
    check_invalid("de\0AT", 5); /* embedded NUL */
    char longtag[80];
    memset(longtag, 'a', sizeof(longtag));
    for (size_t i = 2; i < sizeof(longtag); i += 9)
        longtag[i] = '-';
    check_invalid(longtag, HUB_LOCALE_TAG_MAX); /* 64 bytes: over the cap */
}

static void test_length_cap(void)
{
    /* 63 bytes exactly is accepted: "en" + 7 x "-abcdefgh" (9 each) = 65 > 63, so build it. */
    char tag[HUB_LOCALE_TAG_MAX], out[HUB_LOCALE_TAG_MAX];
    snprintf(tag, sizeof(tag), "en-x-%s-%s-%s-%s-%s-%s-%s", "aaaaaaaa", "bbbbbbbb", "cccccccc",
             "dddddddd", "eeeeeeee", "ffffffff", "gggg");
    CHECK(strlen(tag) == 63);
    CHECK(hub_locale_canonicalize(tag, strlen(tag), out, NULL) == 0);
    CHECK_STR(out, tag);
}

static void test_truncate(void)
{
    char t[HUB_LOCALE_TAG_MAX] = "zh-Hant-HK";
    CHECK(hub_locale_truncate(t) == 0);
    CHECK_STR(t, "zh-Hant");
    CHECK(hub_locale_truncate(t) == 0);
    CHECK_STR(t, "zh");
    CHECK(hub_locale_truncate(t) == HUB_ENOTFOUND);
    CHECK_STR(t, "zh");

    snprintf(t, sizeof(t), "en-US-x-twain");
    CHECK(hub_locale_truncate(t) == 0);
    CHECK_STR(t, "en-US"); /* the singleton x goes with its last subtag */

    snprintf(t, sizeof(t), "de-CH-1901-a-bbb-ccc");
    CHECK(hub_locale_truncate(t) == 0);
    CHECK_STR(t, "de-CH-1901-a-bbb");
    CHECK(hub_locale_truncate(t) == 0);
    CHECK_STR(t, "de-CH-1901");
    CHECK(hub_locale_truncate(t) == 0);
    CHECK_STR(t, "de-CH");

    snprintf(t, sizeof(t), "es-x-t-tnn"); /* found by the fuzzer: "es-x" is not a tag */
    CHECK(hub_locale_truncate(t) == 0);
    CHECK_STR(t, "es");
}

int main(void)
{
    RUN(test_valid_tags);
    RUN(test_invalid_tags);
    RUN(test_length_cap);
    RUN(test_truncate);
    return TEST_SUMMARY();
}
