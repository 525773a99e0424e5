/* The sms plugin's counting, on hand-checked cases: the GSM-7 tables, UCS-2, and segment
 * boundaries including escape sequences and surrogate pairs that must not be split. */
#include "gsm7.h"
#include "repeat.h"
#include "test.h"

/* n copies of the UTF-8 sequence u, then tail; in a static buffer. */
static const char *rep(const char *u, size_t n, const char *tail)
{
    static char big[4096];
    return repeat_into(big, sizeof(big), u, n, tail);
}

static sms_count count(const char *s)
{
    sms_count c = {-1, 0, 0};
    CHECK(sms_count_text(s, strlen(s), &c, NULL, 0, NULL) == 0);
    return c;
}

#define EXPECT(text, enc, chars, segs)                                                             \
    do {                                                                                           \
        sms_count c_ = count(text);                                                                \
        CHECK(c_.ucs2 == (enc));                                                                   \
        CHECK(c_.characters == (chars));                                                           \
        CHECK(c_.segments == (segs));                                                              \
    } while (0)

static void test_gsm7(void)
{
    EXPECT("", 0, 0, 0);
    EXPECT("Hello", 0, 5, 1);
    EXPECT("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?", 0, 63, 1);
    EXPECT("¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà", 0, 64, 1);
    EXPECT("€", 0, 2, 1);
    EXPECT("[~]^{}\\|\f", 0, 18, 1);
    EXPECT("Grüß Gott, 5 €", 0, 15, 1);
}

static void test_gsm7_boundaries(void)
{
    EXPECT(rep("a", 160, ""), 0, 160, 1);
    EXPECT(rep("a", 161, ""), 0, 161, 2);
    EXPECT(rep("a", 306, ""), 0, 306, 2); /* 153 x 2 */
    EXPECT(rep("a", 307, ""), 0, 307, 3);
    EXPECT(rep("a", 158, "€"), 0, 160, 1);
    EXPECT(rep("a", 159, "€"), 0, 161, 2);
    /* 152 + (€ does not fit in the 153rd septet: next segment) 2 + 151, then 1: three
     * segments, where 306 septets would otherwise need two. */
    EXPECT(rep("a", 152,
               "€aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
               "aa"),
           0, 306, 3);
}

static void test_ucs2(void)
{
    uint32_t forced[4];
    size_t n = 0;
    sms_count c;
    const char *cjk = "你好, 你好";
    CHECK(sms_count_text(cjk, strlen(cjk), &c, forced, 4, &n) == 0);
    CHECK(c.ucs2 == 1 && c.characters == 6 && c.segments == 1);
    CHECK(n == 2 && forced[0] == 0x4F60 && forced[1] == 0x597D);
    EXPECT("`", 1, 1, 1);
    EXPECT("ú", 1, 1, 1);         /* not in GSM-7 although ù is */
    EXPECT("e\xcc\x81", 1, 2, 1); /* e + combining acute: two code units */
    EXPECT("😀", 1, 2, 1);         /* a surrogate pair */
    const char *mixed = "Hi 😀 ú €";
    CHECK(sms_count_text(mixed, strlen(mixed), &c, forced, 1, &n) == 0);
    CHECK(c.ucs2 == 1 && c.characters == 9 && n == 1 && forced[0] == 0x1F600);
}

static void test_ucs2_boundaries(void)
{
    EXPECT(rep("ç", 70, ""), 1, 70, 1);
    EXPECT(rep("ç", 71, ""), 1, 71, 2); /* 67 + 4 */
    EXPECT(rep("ç", 134, ""), 1, 134, 2);
    EXPECT(rep("ç", 135, ""), 1, 135, 3);
    EXPECT(rep("ç", 68, "😀"), 1, 70, 1);
    /* 66 + (the pair does not fit in the 67th unit) 2 + 65, then 1: three segments for 134
     * units. */
    EXPECT(rep("ç", 66, "😀çççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççç"), 1,
           134, 3);
}

static void test_invalid(void)
{
    sms_count c;
    CHECK(sms_count_text("\xff", 1, &c, NULL, 0, NULL) == -1);
    CHECK(sms_count_text("\xc3", 1, &c, NULL, 0, NULL) == -1);         /* truncated */
    CHECK(sms_count_text("\xc0\xaf", 2, &c, NULL, 0, NULL) == -1);     /* overlong */
    CHECK(sms_count_text("\xed\xa0\x80", 3, &c, NULL, 0, NULL) == -1); /* surrogate */
    CHECK(sms_gsm7_septets('A') == 1 && sms_gsm7_septets(0x20AC) == 2 &&
          sms_gsm7_septets(0x00FA) == 0);
}

int main(void)
{
    RUN(test_gsm7);
    RUN(test_gsm7_boundaries);
    RUN(test_ucs2);
    RUN(test_ucs2_boundaries);
    RUN(test_invalid);
    return TEST_SUMMARY();
}
