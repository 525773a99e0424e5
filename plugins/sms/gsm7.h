/*
 * How a phone network counts an SMS: the GSM 03.38 7-bit alphabet with its extension
 * table, else UCS-2; segments of 160/153 septets or 70/67 UTF-16 code units. Part of the sms
 * plugin, libc only, no state: reentrant.
 *
 * Rules, as handsets apply them:
 * - GSM-7 when every character is in the basic table or the extension table (form feed,
 *   ^ { } \ [ ~ ] | and the euro sign); an extension character takes two septets (ESC + code).
 *   Characters counts septets.
 * - Otherwise UCS-2 for the whole message; characters counts UTF-16 code units (a character
 *   outside the BMP, such as an emoji, is a surrogate pair: two units).
 * - One segment holds 160 septets or 70 units. A longer message is split into segments of
 *   153 septets or 67 units (the rest carries the concatenation header); an escape sequence
 *   or a surrogate pair is never split between segments, so it moves to the next one.
 */
#ifndef OMNIHUB_SMS_GSM7_H
#define OMNIHUB_SMS_GSM7_H

#include <stddef.h>
#include <stdint.h>

typedef struct sms_count {
    int ucs2;          /* 0: GSM-7, 1: UCS-2 */
    size_t characters; /* septets (GSM-7) or UTF-16 code units (UCS-2) */
    size_t segments;   /* 0 for the empty text */
} sms_count;

/*
 * Counts `len` bytes of UTF-8 text. forced (may be NULL): receives, in order of first
 * appearance and without repeats, the first forced_cap distinct code points that are not in
 * GSM-7 (the characters that made the message UCS-2); *nforced (may be NULL) gets how many
 * were written. Returns 0, or -1 when the text is not valid UTF-8.
 */
int sms_count_text(const char *text, size_t len, sms_count *out, uint32_t *forced,
                   size_t forced_cap, size_t *nforced);

/* What sms_count_text_detail reports besides the count. */
typedef struct sms_count_detail {
    size_t code_points;        /* code points in the text */
    size_t forced_code_points; /* of them, those outside GSM-7 (repeats counted) */
    size_t gsm7_characters;    /* septets of the text with the forced ones left out */
    size_t gsm7_segments;      /* segments of that text in GSM-7 (0 when it is empty) */
} sms_count_detail;

/*
 * sms_count_text, and fills *detail (not NULL) in the same pass: enough to tell whether a few
 * stray characters forced UCS-2 and what the message would cost without them.
 */
int sms_count_text_detail(const char *text, size_t len, sms_count *out, sms_count_detail *detail,
                          uint32_t *forced, size_t forced_cap, size_t *nforced);

/* 1 if code point c is in the GSM-7 basic table, 2 if in the extension table, else 0. */
int sms_gsm7_septets(uint32_t c);

#endif
