/*
 * SMS counting: GSM 03.38 (3GPP TS 23.038) default alphabet and extension table, UCS-2
 * fallback, and segment splitting as handsets do it. See gsm7.h.
 */
#include "gsm7.h"

#define SINGLE_GSM7 160
#define MULTI_GSM7  153
#define SINGLE_UCS2 70
#define MULTI_UCS2  67

/* The non-ASCII characters of the basic table (the ASCII ones are decided in code). */
static const uint16_t basic_non_ascii[] = {
    0x00A3, 0x00A5, 0x00E8, 0x00E9, 0x00F9, 0x00EC, 0x00F2, 0x00C7, 0x00D8, 0x00F8,
    0x00C5, 0x00E5, 0x0394, 0x03A6, 0x0393, 0x039B, 0x03A9, 0x03A0, 0x03A8, 0x03A3,
    0x0398, 0x039E, 0x00C6, 0x00E6, 0x00DF, 0x00C9, 0x00A4, 0x00A1, 0x00C4, 0x00D6,
    0x00D1, 0x00DC, 0x00A7, 0x00BF, 0x00E4, 0x00F6, 0x00F1, 0x00FC, 0x00E0,
};

int sms_gsm7_septets(uint32_t c)
{
    if (c == '\n' || c == '\r')
        return 1;
    if (c == 0x0C || c == '^' || c == '{' || c == '}' || c == '\\' || c == '[' || c == '~' ||
        c == ']' || c == '|' || c == 0x20AC)
        return 2;
    if (c >= 0x20 && c <= 0x7E)
        return c == '`' ? 0 : 1; /* the rest of printable ASCII is in the basic table */
    for (size_t i = 0; i < sizeof(basic_non_ascii) / sizeof(basic_non_ascii[0]); i++)
        if (basic_non_ascii[i] == c)
            return 1;
    return 0;
}

/* Decodes one UTF-8 sequence at s[*i] (strict: no overlongs, surrogates or > U+10FFFF). */
static int next_cp(const unsigned char *s, size_t len, size_t *i, uint32_t *out)
{
    unsigned char b = s[*i];
    size_t n = b < 0x80             ? 1
               : (b & 0xE0) == 0xC0 ? 2
               : (b & 0xF0) == 0xE0 ? 3
               : (b & 0xF8) == 0xF0 ? 4
                                    : 0;
    if (n == 0 || *i + n > len)
        return -1;
    uint32_t c = n == 1 ? b : n == 2 ? (b & 0x1Fu) : n == 3 ? (b & 0x0Fu) : (b & 0x07u);
    for (size_t k = 1; k < n; k++) {
        if ((s[*i + k] & 0xC0) != 0x80)
            return -1;
        c = (c << 6) | (s[*i + k] & 0x3Fu);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return -1;
    *i += n;
    *out = c;
    return 0;
}

static void note_forced(uint32_t c, uint32_t *forced, size_t cap, size_t *n)
{
    for (size_t k = 0; k < *n; k++)
        if (forced[k] == c)
            return;
    if (*n < cap)
        forced[(*n)++] = c;
}

/* Segments for units of width 1 or 2 that must not straddle a boundary. */
typedef struct splitter {
    size_t single, multi;
    size_t total, segments, used;
} splitter;

static void split_add(splitter *sp, size_t width)
{
    sp->total += width;
    if (sp->segments == 0 || sp->used + width > sp->multi) {
        sp->segments++;
        sp->used = 0;
    }
    sp->used += width;
}

static size_t split_result(const splitter *sp)
{
    if (sp->total == 0)
        return 0;
    return sp->total <= sp->single ? 1 : sp->segments;
}

int sms_count_text(const char *text, size_t len, sms_count *out, uint32_t *forced,
                   size_t forced_cap, size_t *nforced)
{
    sms_count_detail detail;
    return sms_count_text_detail(text, len, out, &detail, forced, forced_cap, nforced);
}

int sms_count_text_detail(const char *text, size_t len, sms_count *out, sms_count_detail *detail,
                          uint32_t *forced, size_t forced_cap, size_t *nforced)
{
    const unsigned char *s = (const unsigned char *)text;
    splitter gsm = {SINGLE_GSM7, MULTI_GSM7, 0, 0, 0};
    splitter ucs = {SINGLE_UCS2, MULTI_UCS2, 0, 0, 0};
    size_t nf = 0, ncp = 0, nforced_cp = 0;
    int ucs2 = 0;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        if (next_cp(s, len, &i, &c) != 0)
            return -1;
        int septets = sms_gsm7_septets(c);
        ncp++;
        if (septets == 0) {
            ucs2 = 1;
            nforced_cp++;
            note_forced(c, forced, forced != NULL ? forced_cap : 0, &nf);
        } else {
            split_add(&gsm, (size_t)septets);
        }
        split_add(&ucs, c > 0xFFFF ? 2 : 1);
    }
    out->ucs2 = ucs2;
    out->characters = ucs2 ? ucs.total : gsm.total;
    out->segments = ucs2 ? split_result(&ucs) : split_result(&gsm);
    if (nforced != NULL)
        *nforced = nf;
    detail->code_points = ncp;
    detail->forced_code_points = nforced_cp;
    detail->gsm7_characters = gsm.total;
    detail->gsm7_segments = split_result(&gsm);
    return 0;
}
