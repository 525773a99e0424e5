/*
 * BCP 47 language tags: the RFC 5646 section 2.1 syntax checked subtag by subtag, written back
 * in canonical case, and the RFC 4647 section 3.4 lookup truncation.
 *
 * Grandfathered and private-use-only tags are refused: every locale needs a language. The
 * parser never reads past `len` and never writes past HUB_LOCALE_TAG_MAX bytes.
 */
#include "locale/locale.h"

#include <string.h>

/* Where the parser is in the tag; each subtag may only move it forward. */
enum tag_state {
    ST_LANGUAGE, /* expecting the language */
    ST_EXTLANG,  /* after a 2-3 letter language: extlang, script, region, variant... */
    ST_SCRIPT,   /* after a language of 4+ letters or the extlangs */
    ST_REGION,   /* after the script */
    ST_VARIANT,  /* after the region or a variant */
    ST_EXTENSION /* after an extension subtag: more of it, or another singleton */
};

typedef struct tag_parser {
    enum tag_state state;
    int extlangs;
    int ext_subtags;     /* subtags after the current singleton */
    char singletons[40]; /* singletons seen, lower case */
    size_t nsingletons;
    char variants[64]; /* "-v1-v2-" variants seen, lower case, for duplicate checks */
    size_t variants_len;
} tag_parser;

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int all_alpha(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!is_alpha(s[i]))
            return 0;
    }
    return 1;
}

static int all_digit(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return 0;
    }
    return 1;
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static char upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

static int is_variant(const char *s, size_t n)
{
    return (n >= 5 && n <= 8) || (n == 4 && is_digit(s[0]));
}

/* Records a variant (already lower case in out); 1 if it was seen before. */
static int variant_seen(tag_parser *p, const char *v, size_t n)
{
    char key[12];
    key[0] = '-';
    memcpy(key + 1, v, n);
    key[n + 1] = '-';
    key[n + 2] = '\0';
    p->variants[p->variants_len] = '\0';
    if (p->variants_len > 0 && strstr(p->variants, key) != NULL)
        return 1;
    /* The tag is under 64 bytes, so the variants fit; the first one starts the list. */
    size_t start = p->variants_len == 0 ? 0 : p->variants_len - 1;
    if (start + n + 3 > sizeof(p->variants))
        return 0;
    memcpy(p->variants + start, key, n + 2);
    p->variants_len = start + n + 2;
    return 0;
}

/* Handles the first subtag. */
static int parse_language(tag_parser *p, const char *s, size_t n, hub_error *err)
{
    if (n == 1 && lower(s[0]) == 'x')
        return hub_error_set(err, HUB_EINVAL,
                             "invalid language tag: a private-use tag has "
                             "no language");
    if (n == 1)
        return hub_error_set(err, HUB_EINVAL,
                             "invalid language tag: the language must be 2 to "
                             "8 letters (grandfathered tags are not accepted)");
    if (n > 8 || !all_alpha(s, n))
        return hub_error_set(err, HUB_EINVAL,
                             "invalid language tag: the language must be 2 to 8 letters");
    p->state = n <= 3 ? ST_EXTLANG : ST_SCRIPT;
    return 0;
}

/* Handles a subtag after a singleton (extension or private use). */
static int parse_in_extension(tag_parser *p, const char *s, size_t n, hub_error *err)
{
    if (n == 1)
        return 1; /* a new singleton: the caller handles it */
    if (n > 8)
        return hub_error_set(err, HUB_EINVAL,
                             "invalid language tag: an extension subtag must "
                             "be 2 to 8 letters or digits");
    p->ext_subtags++;
    return 0;
}

/* Handles a singleton; *private_use set when it is 'x'. */
static int parse_singleton(tag_parser *p, char c, int *private_use, hub_error *err)
{
    char l = lower(c);
    if (p->state == ST_EXTENSION && p->ext_subtags == 0)
        return hub_error_set(err, HUB_EINVAL,
                             "invalid language tag: an extension needs at "
                             "least one subtag after its singleton");
    if (l == 'x') {
        *private_use = 1;
        return 0;
    }
    for (size_t i = 0; i < p->nsingletons; i++) {
        if (p->singletons[i] == l)
            return hub_error_set(err, HUB_EINVAL,
                                 "invalid language tag: extension '%c' appears twice", l);
    }
    if (p->nsingletons < sizeof(p->singletons))
        p->singletons[p->nsingletons++] = l;
    p->state = ST_EXTENSION;
    p->ext_subtags = 0;
    return 0;
}

/*
 * Classifies one subtag after the language and writes its canonical case into out.
 * Returns 0, 1 when the subtag is a singleton (handled by the caller), or HUB_EINVAL.
 */
static int parse_subtag(tag_parser *p, const char *s, size_t n, char *out, hub_error *err)
{
    for (size_t i = 0; i < n; i++)
        out[i] = lower(s[i]);
    if (p->state == ST_EXTENSION)
        return parse_in_extension(p, s, n, err);
    if (n == 1)
        return 1;
    if (p->state == ST_EXTLANG && n == 3 && all_alpha(s, n)) {
        if (++p->extlangs > 3)
            return hub_error_set(err, HUB_EINVAL,
                                 "invalid language tag: at most 3 extended language subtags");
        return 0;
    }
    if (p->state <= ST_SCRIPT && n == 4 && all_alpha(s, n)) {
        out[0] = upper(s[0]);
        p->state = ST_REGION;
        return 0;
    }
    if (p->state <= ST_REGION && ((n == 2 && all_alpha(s, n)) || (n == 3 && all_digit(s, n)))) {
        out[0] = upper(s[0]);
        out[1] = upper(s[1]);
        out[n - 1] = upper(s[n - 1]);
        p->state = ST_VARIANT;
        return 0;
    }
    if (is_variant(s, n)) {
        if (variant_seen(p, out, n))
            return hub_error_set(err, HUB_EINVAL,
                                 "invalid language tag: variant '%.*s' "
                                 "appears twice",
                                 (int)n, out);
        p->state = ST_VARIANT;
        return 0;
    }
    return hub_error_set(err, HUB_EINVAL,
                         "invalid language tag: subtag '%.*s' is out of place or malformed", (int)n,
                         out);
}

int hub_locale_canonicalize(const char *in, size_t len, char out[HUB_LOCALE_TAG_MAX],
                            hub_error *err)
{
    out[0] = '\0';
    if (in == NULL || len == 0)
        return hub_error_set(err, HUB_EINVAL, "invalid language tag: empty");
    if (len >= HUB_LOCALE_TAG_MAX)
        return hub_error_set(err, HUB_EINVAL, "invalid language tag: longer than %d bytes",
                             HUB_LOCALE_TAG_MAX - 1);
    for (size_t i = 0; i < len; i++) {
        if (!is_alpha(in[i]) && !is_digit(in[i]) && in[i] != '-')
            return hub_error_set(err, HUB_EINVAL,
                                 "invalid language tag: only letters, digits "
                                 "and '-' between subtags are allowed");
    }
    tag_parser p;
    memset(&p, 0, sizeof(p));
    char buf[HUB_LOCALE_TAG_MAX];
    int private_use = 0;
    size_t pos = 0;
    while (pos <= len) {
        const char *dash = memchr(in + pos, '-', len - pos);
        size_t n = dash ? (size_t)(dash - (in + pos)) : len - pos;
        if (n == 0)
            return hub_error_set(err, HUB_EINVAL, "invalid language tag: empty subtag");
        if (n > 8)
            return hub_error_set(err, HUB_EINVAL,
                                 "invalid language tag: a subtag is longer than 8 characters");
        int rc;
        if (private_use) {
            for (size_t i = 0; i < n; i++)
                buf[pos + i] = lower(in[pos + i]);
            rc = 0;
        } else if (pos == 0) {
            rc = parse_language(&p, in, n, err);
            for (size_t i = 0; i < n; i++)
                buf[i] = lower(in[i]);
        } else {
            rc = parse_subtag(&p, in + pos, n, buf + pos, err);
            if (rc == 1)
                rc = parse_singleton(&p, in[pos], &private_use, err);
            /* "x" needs at least one private-use subtag (each 1..8 alnum, checked above). */
            if (rc == 0 && private_use && pos + n >= len)
                return hub_error_set(err, HUB_EINVAL,
                                     "invalid language tag: 'x' needs at "
                                     "least one private-use subtag");
        }
        if (rc != 0)
            return rc;
        pos += n;
        if (pos < len)
            buf[pos] = '-';
        pos++;
    }
    if (p.state == ST_EXTENSION && p.ext_subtags == 0)
        return hub_error_set(err, HUB_EINVAL,
                             "invalid language tag: an extension needs at "
                             "least one subtag after its singleton");
    memcpy(out, buf, len);
    out[len] = '\0';
    return 0;
}

int hub_locale_truncate(char *tag)
{
    char *dash = strrchr(tag, '-');
    if (dash == NULL)
        return HUB_ENOTFOUND;
    *dash = '\0';
    /* A singleton left at the end would start an empty extension: drop it as well. Inside
     * private use a one-character subtag is not a singleton, but dropping it may leave the
     * "x" bare, so keep dropping one-character tails ("es-x-t-tnn" -> "es"). The first
     * subtag always stays, so a well-formed tag stays well-formed. */
    char *prev = strrchr(tag, '-');
    while (prev != NULL && strlen(prev + 1) == 1) {
        *prev = '\0';
        prev = strrchr(tag, '-');
    }
    return 0;
}
