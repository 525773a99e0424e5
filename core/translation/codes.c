/*
 * Inline codes: a field's text split into what translators translate and the Liquid and
 * HTML tags they must keep (tr_split), and a translation put back together from XLIFF parts
 * with the source's codes, checked to carry exactly those codes (tr_rebuild).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

#define TAG_NAME_MAX 32

void tr_parts_free(tr_parts *p)
{
    free(p->v);
    p->v = NULL;
    p->n = p->cap = 0;
}

static int push(tr_parts *p, hub_xliff_part_kind kind, const char *text, size_t len,
                const char *type)
{
    if (kind == HUB_XLIFF_TEXT && len == 0)
        return 0;
    if (kind == HUB_XLIFF_TEXT && p->n > 0 && p->v[p->n - 1].kind == HUB_XLIFF_TEXT &&
        p->v[p->n - 1].text + p->v[p->n - 1].len == text) {
        p->v[p->n - 1].len += len; /* adjacent text is one part */
        return 0;
    }
    if (hub_array_grow((void **)&p->v, &p->cap, p->n, sizeof(*p->v), 16) != 0)
        return HUB_ENOMEM;
    p->v[p->n++] = (hub_xliff_part){kind, 0, text, len, type};
    return 0;
}

/* ---- scanning ----------------------------------------------------------------------------- */

/*
 * The text being split, with the last answer for each closer it is searched for. A split tries
 * every "{{", "{%" and "<!--" it meets; without these answers, text full of openers that never
 * close ("{{{{{{...") would be searched to its end once per opener: quadratic in its length.
 */
enum { CLOSE_OUTPUT, CLOSE_TAG, CLOSE_COMMENT, CLOSERS };
static const char *const closers[CLOSERS] = {"}}", "%}", "-->"};

typedef struct scan {
    const char *s;
    size_t len;
    size_t from[CLOSERS]; /* a search began here (SIZE_MAX: none yet)... */
    size_t at[CLOSERS];   /* ...and found the closer here first (len: nowhere after it) */
} scan;

static void scan_init(scan *t, const char *s, size_t len)
{
    t->s = s;
    t->len = len;
    for (int k = 0; k < CLOSERS; k++)
        t->from[k] = SIZE_MAX;
}

/* Where closer k first occurs at or after from, or NULL. */
static const char *find(scan *t, size_t from, int k)
{
    const char *needle = closers[k];
    size_t n = strlen(needle), i = from;
    if (t->from[k] != SIZE_MAX && from >= t->from[k] && from <= t->at[k]) {
        i = t->at[k]; /* nothing in [from, at) */
    } else {
        /* Search up to where the last search began: from there on its answer holds. */
        int known = t->from[k] != SIZE_MAX && from < t->from[k];
        while (i + n <= t->len && memcmp(t->s + i, needle, n) != 0) {
            i++;
            if (known && i == t->from[k]) {
                i = t->at[k];
                break;
            }
        }
        if (i + n > t->len)
            i = t->len;
        t->from[k] = from;
        t->at[k] = i;
    }
    return i + n <= t->len ? t->s + i : NULL;
}

/* The end (one past) of the Liquid tag at s[i] ("{{" or "{%"), or 0 when unterminated. */
static size_t liquid_end(scan *t, size_t i)
{
    const char *e = find(t, i + 2, t->s[i + 1] == '{' ? CLOSE_OUTPUT : CLOSE_TAG);
    return e == NULL ? 0 : (size_t)(e - t->s) + 2;
}

/* 1 when the Liquid tag s[a..b) is {% <word> %} (whitespace control allowed). */
static int liquid_is(const char *s, size_t a, size_t b, const char *word)
{
    size_t i = a + 2, n = strlen(word);
    if (s[a + 1] != '%')
        return 0;
    if (i < b && s[i] == '-')
        i++;
    while (i < b && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    if (i + n > b || memcmp(s + i, word, n) != 0)
        return 0;
    i += n;
    return i < b && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '-' || s[i] == '%');
}

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* The end (one past '>') of the HTML tag, comment or declaration at s[i] == '<', or 0. */
static size_t html_end(scan *t, size_t i)
{
    const char *s = t->s;
    size_t len = t->len;
    if (i + 3 < len && memcmp(s + i, "<!--", 4) == 0) {
        const char *e = find(t, i + 4, CLOSE_COMMENT);
        return e == NULL ? 0 : (size_t)(e - s) + 3;
    }
    size_t k = i + 1;
    if (k < len && (s[k] == '/' || s[k] == '!'))
        k++;
    if (k >= len || !is_alpha(s[k]))
        return 0;
    while (k < len) {
        char c = s[k];
        if (c == '>')
            return k + 1;
        if (c == '"' || c == '\'') {
            const char *q = memchr(s + k + 1, c, len - k - 1);
            if (q == NULL)
                return 0;
            k = (size_t)(q - s) + 1;
        } else if (c == '{' && k + 1 < len && (s[k + 1] == '{' || s[k + 1] == '%')) {
            size_t e = liquid_end(t, k);
            if (e == 0)
                return 0;
            k = e;
        } else if (c == '<') {
            return 0; /* "a < b <i>": the first '<' was text */
        } else {
            k++;
        }
    }
    return 0;
}

static int is_void(const char *name, size_t n)
{
    static const char *const voids[] = {"area",  "base", "br",   "col",   "embed",  "hr",    "img",
                                        "input", "link", "meta", "param", "source", "track", "wbr"};
    for (size_t i = 0; i < sizeof(voids) / sizeof(voids[0]); i++) {
        if (strlen(voids[i]) == n && strncasecmp(voids[i], name, n) == 0)
            return 1;
    }
    return 0;
}

/* An HTML tag's shape: its name (into name), 1 for a start tag that may pair, -1 for an end
 * tag, 0 for anything standalone. */
static int html_shape(const char *s, size_t a, size_t b, char name[TAG_NAME_MAX + 1])
{
    size_t k = a + 1, n = 0;
    int end = 0;
    name[0] = '\0';
    if (s[k] == '!')
        return 0;
    if (s[k] == '/') {
        end = 1;
        k++;
    }
    while (k < b && n < TAG_NAME_MAX &&
           (is_alpha(s[k]) || (s[k] >= '0' && s[k] <= '9') || s[k] == '-' || s[k] == ':')) {
        char c = s[k++];
        name[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    name[n] = '\0';
    if (end)
        return -1;
    if (is_void(name, n) || (b >= a + 2 && s[b - 2] == '/'))
        return 0;
    return 1;
}

/* ---- splitting ---------------------------------------------------------------------------- */

typedef struct open_tag {
    size_t part;
    char name[TAG_NAME_MAX + 1];
} open_tag;

typedef struct splitter {
    tr_parts *out;
    open_tag *stack;
    size_t depth, cap;
    size_t *partner; /* partner[i]: the CLOSE of OPEN i (index), grown with out */
    size_t npartner;
} splitter;

static int remember_partner(splitter *sp, size_t open, size_t close)
{
    if (open >= sp->npartner) {
        size_t n = sp->out->cap > open ? sp->out->cap : open + 1;
        size_t *v = realloc(sp->partner, n * sizeof(*v));
        if (v == NULL)
            return HUB_ENOMEM;
        for (size_t i = sp->npartner; i < n; i++)
            v[i] = (size_t)-1;
        sp->partner = v;
        sp->npartner = n;
    }
    sp->partner[open] = close;
    return 0;
}

static int html_tag(splitter *sp, const char *s, size_t a, size_t b)
{
    char name[TAG_NAME_MAX + 1];
    int shape = html_shape(s, a, b, name);
    int rc = push(sp->out, HUB_XLIFF_CODE, s + a, b - a, "html");
    if (rc != 0 || shape == 0)
        return rc;
    size_t me = sp->out->n - 1;
    if (shape > 0) {
        if (hub_array_grow((void **)&sp->stack, &sp->cap, sp->depth, sizeof(*sp->stack), 8) != 0)
            return HUB_ENOMEM;
        sp->stack[sp->depth].part = me;
        memcpy(sp->stack[sp->depth++].name, name, sizeof(name));
        return 0;
    }
    for (size_t d = sp->depth; d-- > 0;) { /* an end tag closes the nearest open namesake */
        if (strcmp(sp->stack[d].name, name) != 0)
            continue;
        size_t open = sp->stack[d].part;
        sp->out->v[open].kind = HUB_XLIFF_OPEN;
        sp->out->v[me].kind = HUB_XLIFF_CLOSE;
        sp->depth = d; /* what opened inside and never closed stays standalone */
        return remember_partner(sp, open, me);
    }
    return 0;
}

/* Numbers the codes in order; a CLOSE takes its OPEN's number. */
static void number(splitter *sp)
{
    unsigned next = 1;
    for (size_t i = 0; i < sp->out->n; i++) {
        hub_xliff_part *p = &sp->out->v[i];
        if (p->kind == HUB_XLIFF_CODE)
            p->id = next++;
        else if (p->kind == HUB_XLIFF_OPEN) {
            p->id = next++;
            sp->out->v[sp->partner[i]].id = p->id;
        }
    }
}

int tr_split(const char *s, size_t len, int html, tr_parts *out)
{
    splitter sp = {out, NULL, 0, 0, NULL, 0};
    size_t i = 0, text = 0;
    int rc = 0, raw = 0;
    scan t;
    scan_init(&t, s, len);
    out->n = 0;
    while (rc == 0 && i < len) {
        size_t e = 0;
        int liquid = s[i] == '{' && i + 1 < len && (s[i + 1] == '{' || s[i + 1] == '%');
        if (liquid)
            e = liquid_end(&t, i);
        else if (html && s[i] == '<') /* raw keeps Liquid as text, not HTML */
            e = html_end(&t, i);
        if (e == 0 || (raw && liquid && !liquid_is(s, i, e, "endraw"))) {
            i++;
            continue;
        }
        rc = push(out, HUB_XLIFF_TEXT, s + text, i - text, NULL);
        if (rc == 0 && liquid)
            rc = push(out, HUB_XLIFF_CODE, s + i, e - i, "liquid");
        else if (rc == 0)
            rc = html_tag(&sp, s, i, e);
        if (liquid)
            raw = liquid_is(s, i, e, "raw");
        i = text = e;
    }
    if (rc == 0 && len > text)
        rc = push(out, HUB_XLIFF_TEXT, s + text, len - text, NULL);
    if (rc == 0)
        number(&sp);
    free(sp.stack);
    free(sp.partner);
    return rc;
}

/* ---- rebuilding ---------------------------------------------------------------------------- */

/* Where each source code is: slot 2 id for a standalone code or a start, 2 id + 1 for an end,
 * holding its index + 1 (0: none). Ids are numbered from 1 and never exceed the part count. */
static size_t *code_index(const tr_parts *src)
{
    size_t *at = calloc(2 * (src->n + 1), sizeof(*at));
    for (size_t i = 0; at != NULL && i < src->n; i++) {
        const hub_xliff_part *p = &src->v[i];
        if (p->kind != HUB_XLIFF_TEXT && p->id <= src->n)
            at[2 * (size_t)p->id + (p->kind == HUB_XLIFF_CLOSE)] = i + 1;
    }
    return at;
}

/* The source part with kind and id, or NULL. */
static const hub_xliff_part *code_of(const tr_parts *src, const size_t *at,
                                     hub_xliff_part_kind kind, unsigned id)
{
    if (id > src->n)
        return NULL;
    size_t i = at[2 * (size_t)id + (kind == HUB_XLIFF_CLOSE)];
    return i != 0 && src->v[i - 1].kind == kind ? &src->v[i - 1] : NULL;
}

static const char *kind_word(hub_xliff_part_kind k)
{
    return k == HUB_XLIFF_CODE ? "standalone code" : k == HUB_XLIFF_OPEN ? "start" : "end";
}

/* Appends the target parts with each code's source text; TR_CODES_BROKEN on a bad id. */
static int assemble(const tr_parts *src, const hub_xliff_part *tgt, size_t ntgt, hub_buf *out,
                    char *why, size_t whycap)
{
    unsigned char *used = calloc(src->n + 1, 1);
    size_t *at = code_index(src);
    int rc = used == NULL || at == NULL ? HUB_ENOMEM : 0;
    for (size_t i = 0; rc == 0 && i < ntgt; i++) {
        const hub_xliff_part *t = &tgt[i];
        if (t->kind == HUB_XLIFF_TEXT) {
            rc = hub_buf_append(out, t->text, t->len);
            continue;
        }
        const hub_xliff_part *c = code_of(src, at, t->kind, t->id);
        if (c == NULL) {
            snprintf(why, whycap, "inline code %u: the source has no %s with that id", t->id,
                     kind_word(t->kind));
            rc = TR_CODES_BROKEN;
        } else if (used[c - src->v]++) {
            snprintf(why, whycap, "inline code %u (%.*s) appears twice", t->id, (int)c->len,
                     c->text);
            rc = TR_CODES_BROKEN;
        } else {
            rc = hub_buf_append(out, c->text, c->len);
        }
    }
    free(used);
    free(at);
    return rc;
}

static int part_cmp(const void *a, const void *b)
{
    const hub_xliff_part *x = a, *y = b;
    if (x->kind != y->kind)
        return (int)x->kind - (int)y->kind;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->text, y->text, n);
    return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

/* The codes of parts, sorted by kind and text, into a new array (*n of them). */
static hub_xliff_part *codes_sorted(const tr_parts *p, size_t *n)
{
    hub_xliff_part *v = malloc((p->n + 1) * sizeof(*v));
    *n = 0;
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < p->n; i++) {
        if (p->v[i].kind != HUB_XLIFF_TEXT)
            v[(*n)++] = p->v[i];
    }
    qsort(v, *n, sizeof(*v), part_cmp);
    return v;
}

/* Compares the codes of the source and of the rebuilt text as multisets; a missing code is
 * reported before an extra one. */
static int same_codes(const tr_parts *src, const tr_parts *got, char *why, size_t whycap)
{
    size_t na, nb, i = 0, j = 0;
    hub_xliff_part *a = codes_sorted(src, &na), *b = codes_sorted(got, &nb);
    const hub_xliff_part *missing = NULL, *extra = NULL;
    if (a == NULL || b == NULL) {
        free(a);
        free(b);
        return HUB_ENOMEM;
    }
    while (i < na || j < nb) {
        int c = i == na ? 1 : j == nb ? -1 : part_cmp(&a[i], &b[j]);
        if (c <= 0 && missing == NULL && c < 0)
            missing = &a[i];
        if (c > 0 && extra == NULL)
            extra = &b[j];
        i += c <= 0;
        j += c >= 0;
    }
    int rc = TR_CODES_OK;
    if (missing != NULL) {
        snprintf(why, whycap, "inline code %u (%.*s) is missing%s", missing->id, (int)missing->len,
                 missing->text, missing->kind == HUB_XLIFF_CODE ? "" : " or no longer pairs");
        rc = TR_CODES_MISSING;
    } else if (extra != NULL) {
        snprintf(why, whycap, "%.*s is not an inline code of the source", (int)extra->len,
                 extra->text);
        rc = TR_CODES_BROKEN;
    }
    free(a);
    free(b);
    return rc;
}

/* How many '<' in the text parts could start markup (a letter, '/', '!' or '?' follows) but
 * are no complete tag; *first: the first of them. */
static size_t dangling(const tr_parts *p, const char **first)
{
    size_t n = 0;
    *first = NULL;
    for (size_t i = 0; i < p->n; i++) {
        const hub_xliff_part *x = &p->v[i];
        for (size_t k = 0; x->kind == HUB_XLIFF_TEXT && k + 1 < x->len; k++) {
            char c = x->text[k + 1];
            if (x->text[k] == '<' && (is_alpha(c) || c == '/' || c == '!' || c == '?')) {
                *first = *first ? *first : x->text + k;
                n++;
            }
        }
    }
    return n;
}

/* A translation may not carry more unfinished markup than its source: "<a href=x" typed as
 * text would become a tag once the codes around it are in place. */
static int no_new_markup(const tr_parts *src, const tr_parts *got, char *why, size_t whycap)
{
    const char *a, *b;
    if (dangling(got, &b) <= dangling(src, &a))
        return TR_CODES_OK;
    snprintf(why, whycap, "'%.20s' starts markup that is not a complete tag of the source", b);
    return TR_CODES_BROKEN;
}

int tr_rebuild(const tr_parts *src, const hub_xliff_part *tgt, size_t ntgt, int html, hub_buf *out,
               char *why, size_t whycap)
{
    size_t start = out->len;
    tr_parts got = {0};
    int rc = assemble(src, tgt, ntgt, out, why, whycap);
    if (rc == 0)
        rc = tr_split(out->data + start, out->len - start, html, &got);
    if (rc == 0)
        rc = same_codes(src, &got, why, whycap);
    if (rc == 0 && html)
        rc = no_new_markup(src, &got, why, whycap);
    tr_parts_free(&got);
    if (rc != 0 && out->data != NULL) {
        out->len = start;
        out->data[start] = '\0';
    }
    return rc;
}
