/*
 * Shared by the files of core/translation; not for other modules: inline codes (codes.c) and
 * the translation records (records.c).
 */
#ifndef HUB_TRANSLATION_INTERNAL_H
#define HUB_TRANSLATION_INTERNAL_H

#include "translation/translation.h"

/* A growable list of parts; texts point into the string that was split. */
typedef struct tr_parts {
    hub_xliff_part *v;
    size_t n, cap;
} tr_parts;

void tr_parts_free(tr_parts *p);

/*
 * Splits a field's text into translatable text and inline codes, the way translators must
 * see it:
 * - Liquid: every {{ ... }} and {% ... %} tag is a standalone code of type "liquid" (Liquid
 *   between {% raw %} and {% endraw %} is text; HTML there is still split). An unterminated
 *   tag is text.
 * - With html set (HTML fields), every tag is a code of type "html": a start tag whose end
 *   tag follows at the same level is an OPEN/CLOSE pair around its content; void elements,
 *   self-closing tags, comments, doctypes, and start or end tags without their partner are
 *   standalone codes. Quoted attribute values and Liquid inside a tag belong to the tag. A
 *   '<' that does not start a tag is text.
 * Codes are numbered 1, 2, ... in order of appearance (a pair takes its number where it
 * opens). Adjacent text is one part. HUB_ENOMEM.
 */
int tr_split(const char *s, size_t len, int html, tr_parts *out);

/* Why a translation's inline codes are not acceptable. */
typedef enum tr_code_problem {
    TR_CODES_OK = 0,
    TR_CODES_BROKEN,  /* an id the source does not have, used twice, of the wrong kind, or a
                         code the source does not have (typed in as text) */
    TR_CODES_MISSING, /* a code of the source is not in the translation */
} tr_code_problem;

/*
 * Rebuilds the text of a translation from its parts (as read from XLIFF): text as it is,
 * each code replaced by the original text of the source's code with the same id (src: the
 * tr_split of the current source). Then splits the result again and requires exactly the
 * source's codes: the same Liquid tags, the same HTML tags, the same pairs (in any order),
 * and, with html, no more '<' that could start markup in the text than the source has (so
 * "<a href=x" typed as text cannot become a tag once the codes around it are in place).
 * Returns TR_CODES_OK with the text in out, or a problem with one line in why (cap
 * whycap); a negative code (HUB_ENOMEM, HUB_ETOOBIG from out's cap).
 */
int tr_rebuild(const tr_parts *src, const hub_xliff_part *tgt, size_t ntgt, int html, hub_buf *out,
               char *why, size_t whycap);

/* ---- translation records (records.c) ---------------------------------------------------- */

/* What a field's translation was made from: the source locale and the source text's
 * checksum at import, the checksum of the translation written, and when. */
typedef struct tr_record {
    char source[HUB_LOCALE_TAG_MAX];
    char checksum[HUB_SHA256_HEX_LEN + 1];
    char target[HUB_SHA256_HEX_LEN + 1];
    int64_t at_ms;
} tr_record;

/* The record of (item, variant, locale, channel, field): 0, HUB_ENOTFOUND, HUB_EIO. */
int tr_record_get(hub_txn *txn, const char *item, const char *variant, const char *locale,
                  const char *channel, const char *field, tr_record *out);
int tr_record_put(hub_txn *txn, const char *item, const char *variant, const char *locale,
                  const char *channel, const char *field, const tr_record *rec);

#endif
