/*
 * Liquid expression parsing: literals, ranges, variable paths (a.b[0]["c"]), filter chains
 * and conditions. Also the compile-time allocators (string pool, expression array, symbol
 * table) and error positions, shared with the tag parser.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_EXPR_DEPTH  32 /* nested [index] lookups */
#define MAX_COND_TERMS  64 /* comparisons joined by and/or in one tag */
#define MAX_FILTER_ARGS 8
#define MAX_SYMS        4096 /* distinct variable names: lookups are linear at compile time */

int perr(parser *p, size_t off, int code, const char *fmt, ...)
{
    unsigned line, col;
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    src_position(p->src, p->len, off, &line, &col);
    if (p->err != NULL)
        return hub_error_set(p->err, code, "line %u, column %u: %s", line, col, msg);
    return code;
}

/* An error naming the token at the cursor. */
int perr_tok(parser *p, const elexer *ex, const char *what)
{
    const etok *t = &ex->cur;
    if (t->kind == ET_END)
        return perr(p, t->off, HUB_EINVAL, "%s, found the end of the tag", what);
    size_t n = t->len > 0 ? t->len : 1;
    if (t->kind == ET_BAD)
        return perr(p, t->off, HUB_EINVAL, "%s, found an unexpected character '%.1s'", what,
                    ex->src + t->off);
    if (t->kind == ET_STR)
        return perr(p, t->off - 1, HUB_EINVAL, "%s, found a string", what);
    return perr(p, t->off, HUB_EINVAL, "%s, found '%.*s'", what, n > 40 ? 40 : (int)n,
                ex->src + t->off);
}

uint32_t line_at(parser *p, size_t off)
{
    while (p->line_off < off && p->line_off < p->len) {
        if (p->src[p->line_off] == '\n')
            p->line++;
        p->line_off++;
    }
    return p->line;
}

static int grow(void **arr, uint32_t *cap, size_t elem, uint32_t need)
{
    if (need <= *cap)
        return 0;
    uint32_t n = *cap ? *cap * 2 : 16;
    while (n < need)
        n *= 2;
    void *a = realloc(*arr, (size_t)n * elem);
    if (a == NULL)
        return HUB_ENOMEM;
    *arr = a;
    *cap = n;
    return 0;
}

int pool_add(parser *p, const char *s, size_t n, uint32_t *off)
{
    hub_template *t = p->t;
    if (t->pool_len + n + 1 > t->pool_cap) {
        size_t cap = t->pool_cap ? t->pool_cap : 256;
        while (cap < t->pool_len + n + 1)
            cap *= 2;
        char *np = realloc(t->pool, cap);
        if (np == NULL)
            return HUB_ENOMEM;
        t->pool = np;
        t->pool_cap = cap;
    }
    if (n)
        memcpy(t->pool + t->pool_len, s, n);
    t->pool[t->pool_len + n] = '\0';
    *off = (uint32_t)t->pool_len;
    t->pool_len += n + 1;
    return 0;
}

int new_expr(parser *p, int kind, uint32_t *out)
{
    hub_template *t = p->t;
    if (grow((void **)&t->exprs, &t->exprs_cap, sizeof(texpr), t->nexprs + 1) != 0)
        return HUB_ENOMEM;
    texpr *e = &t->exprs[t->nexprs];
    memset(e, 0, sizeof(*e));
    e->kind = (uint8_t)kind;
    e->next = e->a = e->b = NONE;
    *out = t->nexprs++;
    return 0;
}

int sym_intern(parser *p, const char *s, size_t n, uint32_t *out)
{
    hub_template *t = p->t;
    for (uint32_t i = 0; i < t->nsyms; i++) {
        const char *name = pool_str(t, t->syms[i]);
        if (strlen(name) == n && memcmp(name, s, n) == 0) {
            *out = i;
            return 0;
        }
    }
    uint32_t off;
    if (t->nsyms >= MAX_SYMS)
        return perr(p, (size_t)(s - p->src), HUB_ETOOBIG, "more than %d variable names", MAX_SYMS);
    if (grow((void **)&t->syms, &t->syms_cap, sizeof(uint32_t), t->nsyms + 1) != 0 ||
        pool_add(p, s, n, &off) != 0)
        return HUB_ENOMEM;
    t->syms[t->nsyms] = off;
    *out = t->nsyms++;
    return 0;
}

int expect_end(parser *p, elexer *ex)
{
    if (ex->cur.kind != ET_END)
        return perr_tok(p, ex, "expected the end of the tag");
    return 0;
}

static int parse_number(parser *p, elexer *ex, uint32_t *out)
{
    char buf[64];
    const etok *tk = &ex->cur;
    if (tk->len >= sizeof(buf))
        return perr(p, tk->off, HUB_EINVAL, "number too long");
    memcpy(buf, ex->src + tk->off, tk->len);
    buf[tk->len] = '\0';
    int rc = new_expr(p, E_FLOAT, out);
    if (rc != 0)
        return rc;
    texpr *e = &p->t->exprs[*out];
    e->num.d = strtod(buf, NULL);
    if (tk->kind == ET_INT && e->num.d > -9e18 && e->num.d < 9e18) {
        e->kind = E_INT;
        e->num.i = strtoll(buf, NULL, 10);
    }
    elex_next(ex);
    return 0;
}

static int parse_keyword(parser *p, elexer *ex, uint32_t *out, bool *matched)
{
    static const struct {
        const char *word;
        int kind;
    } words[] = {{"true", E_TRUE}, {"false", E_FALSE}, {"nil", E_NIL},
                 {"null", E_NIL},  {"empty", E_EMPTY}, {"blank", E_BLANK}};
    *matched = false;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (etok_is(ex, words[i].word)) {
            *matched = true;
            elex_next(ex);
            return new_expr(p, words[i].kind, out);
        }
    }
    return 0;
}

static int parse_segment(parser *p, elexer *ex, uint32_t *out)
{
    int rc;
    if (ex->cur.kind == ET_DOT) {
        elex_next(ex);
        if (ex->cur.kind != ET_ID)
            return perr_tok(p, ex, "expected a name after '.'");
        uint32_t off;
        if ((rc = new_expr(p, E_KEY, out)) != 0 ||
            (rc = pool_add(p, ex->src + ex->cur.off, ex->cur.len, &off)) != 0)
            return rc;
        p->t->exprs[*out].a = off;
        p->t->exprs[*out].b = (uint32_t)ex->cur.len;
        elex_next(ex);
        return 0;
    }
    elex_next(ex); /* '[' */
    uint32_t inner;
    if ((rc = parse_value(p, ex, &inner)) != 0)
        return rc;
    if (ex->cur.kind != ET_RBRACK)
        return perr_tok(p, ex, "expected ']'");
    elex_next(ex);
    texpr *ie = &p->t->exprs[inner];
    if (ie->kind == E_STR) { /* ["name"] is .name */
        ie->kind = E_KEY;
        *out = inner;
        return 0;
    }
    if ((rc = new_expr(p, E_INDEX, out)) != 0)
        return rc;
    p->t->exprs[*out].a = inner;
    return 0;
}

static int parse_path(parser *p, elexer *ex, uint32_t *out)
{
    int rc;
    uint32_t sym, last = NONE;
    if ((rc = sym_intern(p, ex->src + ex->cur.off, ex->cur.len, &sym)) != 0 ||
        (rc = new_expr(p, E_VAR, out)) != 0)
        return rc;
    p->t->exprs[*out].a = sym;
    elex_next(ex);
    while (ex->cur.kind == ET_DOT || ex->cur.kind == ET_LBRACK) {
        uint32_t seg;
        if ((rc = parse_segment(p, ex, &seg)) != 0)
            return rc;
        if (last == NONE)
            p->t->exprs[*out].b = seg;
        else
            p->t->exprs[last].next = seg;
        last = seg;
    }
    return 0;
}

static int parse_range(parser *p, elexer *ex, uint32_t *out)
{
    int rc;
    uint32_t lo, hi;
    elex_next(ex); /* '(' */
    if ((rc = parse_value(p, ex, &lo)) != 0)
        return rc;
    if (ex->cur.kind != ET_DOTDOT)
        return perr_tok(p, ex, "expected '..' in a range");
    elex_next(ex);
    if ((rc = parse_value(p, ex, &hi)) != 0)
        return rc;
    if (ex->cur.kind != ET_RPAREN)
        return perr_tok(p, ex, "expected ')' after a range");
    elex_next(ex);
    if ((rc = new_expr(p, E_RANGE, out)) != 0)
        return rc;
    p->t->exprs[*out].a = lo;
    p->t->exprs[*out].b = hi;
    return 0;
}

int parse_value(parser *p, elexer *ex, uint32_t *out)
{
    int rc;
    bool kw;
    if (++p->edepth > MAX_EXPR_DEPTH)
        return perr(p, ex->cur.off, HUB_ETOOBIG, "expression nested too deeply");
    switch (ex->cur.kind) {
    case ET_STR: {
        uint32_t off;
        if ((rc = new_expr(p, E_STR, out)) != 0 ||
            (rc = pool_add(p, ex->src + ex->cur.off, ex->cur.len, &off)) != 0)
            break;
        p->t->exprs[*out].a = off;
        p->t->exprs[*out].b = (uint32_t)ex->cur.len;
        elex_next(ex);
        break;
    }
    case ET_INT:
    case ET_FLOAT:
        rc = parse_number(p, ex, out);
        break;
    case ET_LPAREN:
        rc = parse_range(p, ex, out);
        break;
    case ET_ID:
        rc = parse_keyword(p, ex, out, &kw);
        if (rc == 0 && !kw)
            rc = parse_path(p, ex, out);
        break;
    default:
        rc = perr_tok(p, ex, "expected a value");
    }
    p->edepth--;
    return rc;
}

/* The arguments after "filter:"; *argc counts them. */
static int parse_args(parser *p, elexer *ex, uint32_t *first, uint32_t *argc)
{
    uint32_t last = NONE;
    int rc;
    *argc = 0;
    do {
        elex_next(ex); /* ':' or ',' */
        if (ex->cur.kind == ET_ID) {
            elexer peek = *ex;
            elex_next(&peek);
            if (peek.cur.kind == ET_COLON)
                return perr(p, ex->cur.off, HUB_EINVAL, "named filter arguments are not supported");
        }
        uint32_t a;
        if ((rc = parse_value(p, ex, &a)) != 0)
            return rc;
        if (last == NONE)
            *first = a;
        else
            p->t->exprs[last].next = a;
        last = a;
        if (++*argc > MAX_FILTER_ARGS)
            return perr(p, ex->cur.off, HUB_EINVAL, "too many filter arguments");
    } while (ex->cur.kind == ET_COMMA);
    return 0;
}

static int parse_filter(parser *p, elexer *ex, uint32_t *out)
{
    int rc;
    unsigned id;
    elex_next(ex); /* '|' */
    if (ex->cur.kind != ET_ID)
        return perr_tok(p, ex, "expected a filter name after '|'");
    size_t name_off = ex->cur.off, name_len = ex->cur.len;
    const filter_def *f = filter_find(ex->src + name_off, name_len, &id);
    if (f == NULL)
        return perr(p, name_off, HUB_EINVAL, "unknown filter '%.*s'",
                    name_len > 40 ? 40 : (int)name_len, ex->src + name_off);
    if ((rc = new_expr(p, E_FILTER, out)) != 0)
        return rc;
    uint32_t first = NONE, argc = 0;
    elex_next(ex);
    if (ex->cur.kind == ET_COLON && (rc = parse_args(p, ex, &first, &argc)) != 0)
        return rc;
    if (argc < f->min_args || argc > f->max_args) {
        if (f->min_args == f->max_args)
            return perr(p, name_off, HUB_EINVAL, "filter '%s' takes %u argument%s, not %u", f->name,
                        f->min_args, f->min_args == 1 ? "" : "s", argc);
        return perr(p, name_off, HUB_EINVAL, "filter '%s' takes %u to %u arguments, not %u",
                    f->name, f->min_args, f->max_args, argc);
    }
    texpr *e = &p->t->exprs[*out];
    e->op = (uint8_t)id;
    e->a = first;
    e->b = argc;
    return 0;
}

int parse_filtered(parser *p, elexer *ex, uint32_t *out)
{
    int rc;
    uint32_t base, last = NONE;
    if ((rc = parse_value(p, ex, &base)) != 0)
        return rc;
    if (ex->cur.kind != ET_PIPE) {
        *out = base;
        return 0;
    }
    if ((rc = new_expr(p, E_FILTERED, out)) != 0)
        return rc;
    p->t->exprs[*out].a = base;
    while (ex->cur.kind == ET_PIPE) {
        uint32_t f;
        if ((rc = parse_filter(p, ex, &f)) != 0)
            return rc;
        if (last == NONE)
            p->t->exprs[*out].b = f;
        else
            p->t->exprs[last].next = f;
        last = f;
    }
    return 0;
}

static int parse_cmp(parser *p, elexer *ex, uint32_t *out)
{
    int rc;
    uint32_t a, b = NONE;
    int op = C_TRUTH;
    if ((rc = parse_value(p, ex, &a)) != 0)
        return rc;
    if (ex->cur.kind == ET_CMP)
        op = ex->cur.op;
    else if (etok_is(ex, "contains"))
        op = C_CONTAINS;
    if (op != C_TRUTH) {
        elex_next(ex);
        if ((rc = parse_value(p, ex, &b)) != 0)
            return rc;
    }
    if ((rc = new_expr(p, E_CMP, out)) != 0)
        return rc;
    texpr *e = &p->t->exprs[*out];
    e->op = (uint8_t)op;
    e->a = a;
    e->b = b;
    e->num.i = L_NONE;
    return 0;
}

int parse_cond(parser *p, elexer *ex, uint32_t *out)
{
    int rc;
    uint32_t last = NONE, terms = 0;
    for (;;) {
        uint32_t c;
        if (++terms > MAX_COND_TERMS)
            return perr(p, ex->cur.off, HUB_ETOOBIG, "more than %d conditions in one tag",
                        MAX_COND_TERMS);
        if ((rc = parse_cmp(p, ex, &c)) != 0)
            return rc;
        if (last == NONE)
            *out = c;
        else
            p->t->exprs[last].next = c;
        last = c;
        int logic = etok_is(ex, "and") ? L_AND : etok_is(ex, "or") ? L_OR : L_NONE;
        if (logic == L_NONE)
            return 0;
        p->t->exprs[last].num.i = logic;
        elex_next(ex);
    }
}
