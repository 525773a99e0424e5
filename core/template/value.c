/*
 * Liquid runtime values: conversion from JSON, truthiness, numbers, printing, equality and
 * comparison, property lookup (a.b, a[0], size/first/last, forloop.*), the working-memory
 * arena and the output writer with its caps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- working memory -------------------------------------------------------------------- */

void *arena_alloc(rstate *st, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    if (n > st->lim.max_memory || st->mem_used > st->lim.max_memory - n) {
        st->alloc_err = HUB_ETOOBIG;
        return NULL;
    }
    ablock *b = st->arena;
    if (b->size - b->used < n) {
        size_t size = b->size * 2 > n ? b->size * 2 : n;
        if (size > (1u << 20) && n <= (1u << 20))
            size = 1u << 20;
        ablock *nb = malloc(sizeof(ablock) + size);
        if (nb == NULL) {
            st->alloc_err = HUB_ENOMEM;
            return NULL;
        }
        nb->prev = b;
        nb->used = 0;
        nb->size = size;
        nb->heap = true;
        nb->data = (char *)(nb + 1);
        st->arena = b = nb;
    }
    void *p = b->data + b->used;
    b->used += n;
    st->mem_used += n;
    return p;
}

amark arena_mark(rstate *st)
{
    return (amark){st->arena, st->arena->used, st->mem_used};
}

void arena_release(rstate *st, amark m)
{
    while (st->arena != m.block) {
        ablock *b = st->arena;
        st->arena = b->prev;
        free(b);
    }
    st->arena->used = m.used;
    st->mem_used = m.mem;
}

int rt_nomem(rctx *c)
{
    if (c->st->alloc_err == HUB_ENOMEM)
        return rt_error(c, HUB_ENOMEM, "out of memory");
    return rt_error(c, HUB_ETOOBIG, "template needs more than %zu bytes of working memory",
                    c->st->lim.max_memory);
}

int sb_init(sbuf *b, rctx *c, size_t cap_hint)
{
    b->c = c;
    b->n = 0;
    b->cap = cap_hint < 16 ? 16 : cap_hint;
    b->p = arena_alloc(c->st, b->cap);
    return b->p == NULL ? rt_nomem(c) : 0;
}

int sb_add(sbuf *b, const char *p, size_t n)
{
    if (b->cap - b->n < n) {
        ablock *top = b->c->st->arena;
        size_t want = b->n + n > b->cap * 2 ? b->n + n : b->cap * 2;
        want = (want + 7) & ~(size_t)7;
        /* Grow in place when the string is the last thing in the arena. */
        if (b->p + b->cap == top->data + top->used && top->size - top->used >= want - b->cap &&
            b->c->st->mem_used + (want - b->cap) <= b->c->st->lim.max_memory) {
            top->used += want - b->cap;
            b->c->st->mem_used += want - b->cap;
        } else {
            char *np = arena_alloc(b->c->st, want);
            if (np == NULL)
                return rt_nomem(b->c);
            memcpy(np, b->p, b->n);
            b->p = np;
        }
        b->cap = want;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    return 0;
}

val sb_val(sbuf *b)
{
    return v_str(b->p, b->n);
}

/* ---- constructors and conversions ------------------------------------------------------ */

val v_nil(void)
{
    return (val){.k = V_NIL};
}

val v_int(int64_t i)
{
    return (val){.k = V_INT, .i = i};
}

val v_float(double d)
{
    return (val){.k = V_FLOAT, .d = d};
}

val v_bool(bool b)
{
    return (val){.k = b ? V_TRUE : V_FALSE};
}

val v_str(const char *p, size_t n)
{
    return (val){.k = V_STR, .s = {p, n}};
}

val v_from_json(const json_t *j)
{
    switch (j == NULL ? JSON_NULL : json_typeof(j)) {
    case JSON_OBJECT:
    case JSON_ARRAY:
        return (val){.k = V_JSON, .j = j};
    case JSON_STRING:
        return v_str(json_string_value(j), json_string_length(j));
    case JSON_INTEGER:
        return v_int(json_integer_value(j));
    case JSON_REAL:
        return v_float(json_real_value(j));
    case JSON_TRUE:
        return v_bool(true);
    case JSON_FALSE:
        return v_bool(false);
    default:
        return v_nil();
    }
}

bool v_truthy(const val *v)
{
    return v->k != V_NIL && v->k != V_FALSE && v->k != V_UNSET;
}

bool v_is_number(const val *v)
{
    return v->k == V_INT || v->k == V_FLOAT;
}

double v_to_double(const val *v)
{
    return v->k == V_INT ? (double)v->i : v->k == V_FLOAT ? v->d : 0.0;
}

int64_t d_to_i64(double d)
{
    if (d != d)
        return 0;
    if (d > 9007199254740992.0)
        return INT64_C(9007199254740992);
    if (d < -9007199254740992.0)
        return -INT64_C(9007199254740992);
    return (int64_t)d;
}

/* Ruby's to_i / Liquid's to_number: "12.5" is a float, "12abc" is 12, "abc" is 0. */
static val str_to_number(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n'))
        i++;
    size_t start = i;
    if (i < n && (p[i] == '-' || p[i] == '+'))
        i++;
    size_t digits = i;
    while (i < n && p[i] >= '0' && p[i] <= '9')
        i++;
    if (i == digits)
        return v_int(0);
    char buf[64];
    bool frac = i + 1 < n && p[i] == '.' && p[i + 1] >= '0' && p[i + 1] <= '9';
    if (frac) {
        i++;
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
    }
    size_t len = i - start < sizeof(buf) - 1 ? i - start : sizeof(buf) - 1;
    memcpy(buf, p + start, len);
    buf[len] = '\0';
    double d = strtod(buf, NULL);
    if (frac || d <= -9e18 || d >= 9e18)
        return v_float(d);
    return v_int(strtoll(buf, NULL, 10));
}

val v_to_number(const val *v)
{
    if (v_is_number(v))
        return *v;
    if (v->k == V_STR)
        return str_to_number(v->s.p, v->s.n);
    return v_int(0);
}

size_t v_len(const val *v)
{
    if (v->k == V_JSON && json_is_array(v->j))
        return json_array_size(v->j);
    if (v->k == V_ARR)
        return v->arr.n;
    if (v->k == V_RANGE)
        return v->r.hi >= v->r.lo ? (size_t)(v->r.hi - v->r.lo) + 1 : 0;
    return 0;
}

size_t v_size(const val *v)
{
    if (v->k == V_STR)
        return utf8_count(v->s.p, v->s.n);
    if (v->k == V_JSON && json_is_object(v->j))
        return json_object_size(v->j);
    return v_len(v);
}

bool v_is_empty(const val *v)
{
    if (v->k == V_EMPTY || v->k == V_BLANK)
        return true;
    if (v->k == V_STR || v->k == V_ARR || v->k == V_JSON)
        return v_size(v) == 0;
    return false;
}

val v_item(rctx *c, const val *v, size_t i)
{
    (void)c;
    if (v->k == V_JSON)
        return v_from_json(json_array_get(v->j, i));
    if (v->k == V_ARR)
        return v->arr.items[i];
    if (v->k == V_RANGE)
        return v_int(v->r.lo + (int64_t)i);
    return v_nil();
}

size_t utf8_count(const char *p, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += ((unsigned char)p[i] & 0xC0) != 0x80;
    return count;
}

size_t utf8_prefix(const char *p, size_t n, size_t chars)
{
    size_t i = 0;
    while (i < n && chars > 0) {
        i++;
        while (i < n && ((unsigned char)p[i] & 0xC0) == 0x80)
            i++;
        chars--;
    }
    return i;
}

/* Ruby's Float#to_s: shortest digits that read back, always with a fraction. */
void format_double(double d, char *buf, size_t cap)
{
    if (d != d || d - d != 0) { /* NaN or an infinity */
        snprintf(buf, cap, "%s", d != d ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
        return;
    }
    double a = d < 0 ? -d : d;
    if (a != 0 && (a >= 1e16 || a < 1e-4)) {
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, cap, "%.*e", prec - 1, d);
            if (strtod(buf, NULL) == d)
                break;
        }
        char *e = strchr(buf, 'e');
        if (e != NULL && strchr(buf, '.') == NULL && cap > strlen(buf) + 2) {
            memmove(e + 2, e, strlen(e) + 1);
            e[0] = '.';
            e[1] = '0';
        }
        return;
    }
    for (int dec = 1; dec <= 17; dec++) {
        snprintf(buf, cap, "%.*f", dec, d);
        if (strtod(buf, NULL) == d)
            return;
    }
}

/* ---- output ---------------------------------------------------------------------------- */

int out_append(rctx *c, const char *p, size_t n)
{
    rstate *st = c->st;
    if (st->out->len - st->out_start > st->lim.max_output - n || n > st->lim.max_output)
        return rt_error(c, HUB_ETOOBIG, "output over %zu bytes", st->lim.max_output);
    int rc = hub_buf_append(st->out, p, n);
    if (rc == HUB_ETOOBIG)
        return rt_error(c, rc, "output over the buffer's cap of %zu bytes", st->out->cap);
    if (rc != 0)
        return rt_error(c, rc, "out of memory");
    return 0;
}

int out_escaped(rctx *c, const char *p, size_t n)
{
    rstate *st = c->st;
    size_t before = st->out->len;
    int rc = hub_buf_append_html(st->out, p, n, 2);
    if (rc == 0 && st->out->len - st->out_start > st->lim.max_output) {
        st->out->len = before;
        st->out->data[before] = '\0';
        return rt_error(c, HUB_ETOOBIG, "output over %zu bytes", st->lim.max_output);
    }
    if (rc == HUB_ETOOBIG)
        return rt_error(c, rc, "output over the buffer's cap of %zu bytes", st->out->cap);
    if (rc != 0)
        return rt_error(c, rc, "out of memory");
    return 0;
}

static int write_json(rctx *c, const json_t *j, bool escape)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s == NULL)
        return rt_error(c, HUB_ENOMEM, "out of memory");
    int rc = escape ? out_escaped(c, s, strlen(s)) : out_append(c, s, strlen(s));
    free(s);
    return rc;
}

/* Arrays print their items one after another. */
static int write_items(rctx *c, const val *v, bool escape)
{
    for (size_t i = 0, n = v_len(v); i < n; i++) {
        val item = v_item(c, v, i);
        int rc = v_write(c, &item, escape);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int v_write(rctx *c, const val *v, bool escape)
{
    char buf[64];
    switch (v->k) {
    case V_STR:
        return escape ? out_escaped(c, v->s.p, v->s.n) : out_append(c, v->s.p, v->s.n);
    case V_INT:
        snprintf(buf, sizeof(buf), "%lld", (long long)v->i);
        return out_append(c, buf, strlen(buf));
    case V_FLOAT:
        format_double(v->d, buf, sizeof(buf));
        return out_append(c, buf, strlen(buf));
    case V_TRUE:
    case V_FALSE:
        return out_append(c, v->k == V_TRUE ? "true" : "false", v->k == V_TRUE ? 4 : 5);
    case V_RANGE:
        snprintf(buf, sizeof(buf), "%lld..%lld", (long long)v->r.lo, (long long)v->r.hi);
        return out_append(c, buf, strlen(buf));
    case V_JSON:
        if (json_is_object(v->j))
            return write_json(c, v->j, escape);
        return write_items(c, v, escape);
    case V_ARR:
        return write_items(c, v, escape);
    default:
        return 0;
    }
}

int v_to_str(rctx *c, const val *v, const char **p, size_t *n)
{
    if (v->k == V_STR) {
        *p = v->s.p;
        *n = v->s.n;
        return 0;
    }
    if (v->k == V_NIL || v->k == V_UNSET || v->k == V_EMPTY || v->k == V_BLANK || v->k == V_LOOP) {
        *p = "";
        *n = 0;
        return 0;
    }
    /* Print at the end of the output, then move the bytes into working memory. */
    hub_buf *out = c->st->out;
    size_t start = out->len;
    int rc = v_write(c, v, false);
    if (rc == 0) {
        char *s = arena_alloc(c->st, out->len - start + 1);
        if (s == NULL) {
            rc = rt_nomem(c);
        } else {
            memcpy(s, out->data + start, out->len - start);
            *p = s;
            *n = out->len - start;
        }
    }
    out->len = start;
    if (out->data != NULL)
        out->data[start] = '\0';
    return rc;
}

/* ---- equality and comparison ----------------------------------------------------------- */

static bool is_blank_str(const val *v)
{
    for (size_t i = 0; i < v->s.n; i++)
        if (v->s.p[i] != ' ' && v->s.p[i] != '\t' && v->s.p[i] != '\n' && v->s.p[i] != '\r')
            return false;
    return true;
}

static bool array_like(const val *v)
{
    return v->k == V_ARR || v->k == V_RANGE || (v->k == V_JSON && json_is_array(v->j));
}

static bool special_equal(const val *sp, const val *o)
{
    if (o->k == V_EMPTY || o->k == V_BLANK)
        return sp->k == o->k;
    if (sp->k == V_EMPTY)
        return v_is_empty(o);
    /* blank: nil, false, empty, or only whitespace */
    return !v_truthy(o) || v_is_empty(o) || (o->k == V_STR && is_blank_str(o));
}

bool v_equal(rctx *c, const val *a, const val *b)
{
    if (a->k == V_EMPTY || a->k == V_BLANK)
        return special_equal(a, b);
    if (b->k == V_EMPTY || b->k == V_BLANK)
        return special_equal(b, a);
    if (v_is_number(a) && v_is_number(b)) {
        if (a->k == V_INT && b->k == V_INT)
            return a->i == b->i;
        return v_to_double(a) == v_to_double(b);
    }
    if (a->k == V_STR && b->k == V_STR)
        return a->s.n == b->s.n && memcmp(a->s.p, b->s.p, a->s.n) == 0;
    if (!v_truthy(a) || !v_truthy(b) || a->k == V_TRUE || b->k == V_TRUE)
        return (a->k == V_UNSET ? V_NIL : a->k) == (b->k == V_UNSET ? V_NIL : b->k);
    if (a->k == V_JSON && b->k == V_JSON)
        return json_equal(a->j, b->j);
    if (array_like(a) && array_like(b)) {
        size_t n = v_len(a);
        if (n != v_len(b))
            return false;
        for (size_t i = 0; i < n; i++) {
            val x = v_item(c, a, i), y = v_item(c, b, i);
            if (!v_equal(c, &x, &y))
                return false;
        }
        return true;
    }
    return false;
}

static bool contains(rctx *c, const val *a, const val *b)
{
    if (a->k == V_STR) {
        const char *p;
        size_t n;
        if (!v_truthy(b) || v_to_str(c, b, &p, &n) != 0)
            return false;
        return n == 0 || (n <= a->s.n && memmem(a->s.p, a->s.n, p, n) != NULL);
    }
    if (array_like(a)) {
        for (size_t i = 0, n = v_len(a); i < n; i++) {
            val x = v_item(c, a, i);
            if (v_equal(c, &x, b))
                return true;
        }
        return false;
    }
    if (a->k == V_JSON && b->k == V_STR)
        return json_object_getn(a->j, b->s.p, b->s.n) != NULL;
    return false;
}

/* Order of two numbers or two strings; false for anything else (Shopify raises there). */
int v_compare(rctx *c, int op, const val *a, const val *b, bool *res)
{
    int ord;
    if (op == C_EQ || op == C_NE) {
        *res = v_equal(c, a, b) == (op == C_EQ);
        return 0;
    }
    if (op == C_CONTAINS) {
        *res = contains(c, a, b);
        return 0;
    }
    if (v_is_number(a) && v_is_number(b)) {
        if (a->k == V_INT && b->k == V_INT)
            ord = (a->i > b->i) - (a->i < b->i);
        else
            ord = (v_to_double(a) > v_to_double(b)) - (v_to_double(a) < v_to_double(b));
    } else if (a->k == V_STR && b->k == V_STR) {
        size_t n = a->s.n < b->s.n ? a->s.n : b->s.n;
        ord = n ? memcmp(a->s.p, b->s.p, n) : 0;
        if (ord == 0)
            ord = (a->s.n > b->s.n) - (a->s.n < b->s.n);
    } else {
        *res = false;
        return 0;
    }
    *res = op == C_LT ? ord < 0 : op == C_GT ? ord > 0 : op == C_LE ? ord <= 0 : ord >= 0;
    return 0;
}

/* ---- lookup ---------------------------------------------------------------------------- */

static bool key_is(const val *key, const char *word)
{
    size_t n = strlen(word);
    return key->k == V_STR && key->s.n == n && memcmp(key->s.p, word, n) == 0;
}

static val loop_prop(const loopframe *lf, const val *key)
{
    if (key_is(key, "index"))
        return v_int((int64_t)lf->index0 + 1);
    if (key_is(key, "index0"))
        return v_int((int64_t)lf->index0);
    if (key_is(key, "rindex"))
        return v_int((int64_t)(lf->length - lf->index0));
    if (key_is(key, "rindex0"))
        return v_int((int64_t)(lf->length - lf->index0 - 1));
    if (key_is(key, "first"))
        return v_bool(lf->index0 == 0);
    if (key_is(key, "last"))
        return v_bool(lf->index0 + 1 == lf->length);
    if (key_is(key, "length"))
        return v_int((int64_t)lf->length);
    if (key_is(key, "parentloop"))
        return lf->parent.k == V_LOOP ? lf->parent : v_nil();
    return v_nil();
}

int v_lookup(rctx *c, const val *base, const val *key, val *out)
{
    *out = v_nil();
    if (base->k == V_JSON && json_is_object(base->j)) {
        if (key->k == V_STR) {
            json_t *j = json_object_getn(base->j, key->s.p, key->s.n);
            if (j != NULL)
                *out = v_from_json(j);
            else if (key_is(key, "size"))
                *out = v_int((int64_t)json_object_size(base->j));
        }
    } else if (array_like(base)) {
        size_t n = v_len(base);
        if (key->k == V_INT) {
            int64_t i = key->i < 0 ? key->i + (int64_t)n : key->i;
            if (i >= 0 && (uint64_t)i < n)
                *out = v_item(c, base, (size_t)i);
        } else if (key_is(key, "size")) {
            *out = v_int((int64_t)n);
        } else if (n > 0 && (key_is(key, "first") || key_is(key, "last"))) {
            *out = v_item(c, base, key_is(key, "first") ? 0 : n - 1);
        }
    } else if (base->k == V_STR && key_is(key, "size")) {
        *out = v_int((int64_t)utf8_count(base->s.p, base->s.n));
    } else if (base->k == V_LOOP) {
        *out = loop_prop(base->loop, key);
    }
    return 0;
}
