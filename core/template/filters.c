/*
 * Liquid's standard filters, with Shopify's behaviour: string filters work on the value's
 * string form, numeric filters on Liquid's number coercion (integers stay integers, a float
 * anywhere makes a float, divided_by on integers floors). Results that need new bytes are
 * built in the render's working memory; slices of the input are returned without copying.
 */
#include <string.h>

#include "internal.h"

static int in_str(rctx *c, const val *v, const char **p, size_t *n)
{
    return v_to_str(c, v, p, n);
}

static bool is_ws(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

static int arg_int(const val *args, size_t nargs, size_t i, int64_t dflt)
{
    if (i >= nargs)
        return (int)dflt;
    val n = v_to_number(&args[i]);
    double d = v_to_double(&n);
    return d > 1e9 ? 1000000000 : d < -1e9 ? -1000000000 : (int)d;
}

/* ---- strings --------------------------------------------------------------------------- */

static int f_default(rctx *c, val *v, const val *args, size_t nargs)
{
    if (!v_truthy(v) || v_is_empty(v))
        *v = args[0];
    return 0;
}

static int map_case(rctx *c, val *v, int mode) /* 0 upcase, 1 downcase, 2 capitalize */
{
    const char *p;
    size_t n;
    sbuf b;
    int rc = in_str(c, v, &p, &n);
    if (rc != 0 || (rc = sb_init(&b, c, n)) != 0 || (rc = sb_add(&b, p, n)) != 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        char ch = b.p[i];
        bool up = mode == 0 || (mode == 2 && i == 0);
        if (up && ch >= 'a' && ch <= 'z')
            b.p[i] = (char)(ch - 32);
        else if (!up && ch >= 'A' && ch <= 'Z')
            b.p[i] = (char)(ch + 32);
    }
    *v = sb_val(&b);
    return 0;
}

static int f_upcase(rctx *c, val *v, const val *args, size_t nargs)
{
    return map_case(c, v, 0);
}

static int f_downcase(rctx *c, val *v, const val *args, size_t nargs)
{
    return map_case(c, v, 1);
}

static int f_capitalize(rctx *c, val *v, const val *args, size_t nargs)
{
    return map_case(c, v, 2);
}

/* HTML-escapes; `once` leaves existing entities (&amp; &#39; &#x27;) alone. */
static int escape_html(rctx *c, val *v, bool once)
{
    const char *p;
    size_t n;
    sbuf b;
    if (v->k == V_NIL || v->k == V_UNSET)
        return 0;
    int rc = in_str(c, v, &p, &n);
    if (rc != 0 || (rc = sb_init(&b, c, n + n / 8)) != 0)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *rep = hub_html_entity(p[i], 2);
        if (p[i] == '&' && once) {
            size_t j = i + 1;
            if (j < n && p[j] == '#')
                j++;
            while (j < n && j - i < 12 &&
                   ((p[j] >= 'a' && p[j] <= 'z') || (p[j] >= 'A' && p[j] <= 'Z') ||
                    (p[j] >= '0' && p[j] <= '9')))
                j++;
            if (j < n && p[j] == ';' && j > i + 1)
                rep = NULL; /* an entity already */
        }
        rc = rep != NULL ? sb_add(&b, rep, strlen(rep)) : sb_add(&b, p + i, 1);
    }
    if (rc == 0) {
        *v = sb_val(&b);
        v->safe = 1;
    }
    return rc;
}

static int f_escape(rctx *c, val *v, const val *args, size_t nargs)
{
    return escape_html(c, v, false);
}

static int f_escape_once(rctx *c, val *v, const val *args, size_t nargs)
{
    return escape_html(c, v, true);
}

static int f_raw(rctx *c, val *v, const val *args, size_t nargs)
{
    v->safe = 1;
    return 0;
}

/* CGI.escape: unreserved bytes stay, space becomes '+', the rest %XX. */
static int f_url_encode(rctx *c, val *v, const val *args, size_t nargs)
{
    static const char hex[] = "0123456789ABCDEF";
    const char *p;
    size_t n;
    sbuf b;
    if (v->k == V_NIL || v->k == V_UNSET)
        return 0;
    int rc = in_str(c, v, &p, &n);
    if (rc != 0 || (rc = sb_init(&b, c, n + n / 2)) != 0)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        unsigned char ch = (unsigned char)p[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '_' || ch == '.' || ch == '-' || ch == '~') {
            rc = sb_add(&b, p + i, 1);
        } else if (ch == ' ') {
            rc = sb_add(&b, "+", 1);
        } else {
            char enc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            rc = sb_add(&b, enc, 3);
        }
    }
    if (rc == 0)
        *v = sb_val(&b);
    return rc;
}

static const char *find(const char *p, size_t n, const char *needle)
{
    return memmem(p, n, needle, strlen(needle));
}

/* Where a markup construct at p[i] == '<' ends, or 0 when it is not one. */
static size_t html_skip(const char *p, size_t n, size_t i)
{
    static const char *const blocks[][2] = {
        {"<script", "</script>"}, {"<!--", "-->"}, {"<style", "</style>"}};
    for (size_t k = 0; k < 3; k++) {
        size_t ol = strlen(blocks[k][0]);
        if (n - i >= ol && memcmp(p + i, blocks[k][0], ol) == 0) {
            const char *e = find(p + i + ol, n - i - ol, blocks[k][1]);
            if (e != NULL)
                return (size_t)(e - p) + strlen(blocks[k][1]);
        }
    }
    const char *gt = memchr(p + i, '>', n - i);
    return gt == NULL ? 0 : (size_t)(gt - p) + 1;
}

static int f_strip_html(rctx *c, val *v, const val *args, size_t nargs)
{
    const char *p;
    size_t n, run = 0;
    sbuf b;
    int rc = in_str(c, v, &p, &n);
    if (rc != 0 || (rc = sb_init(&b, c, n)) != 0)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t end;
        if (p[i] != '<' || (end = html_skip(p, n, i)) == 0)
            continue;
        rc = sb_add(&b, p + run, i - run);
        run = end;
        i = end - 1;
    }
    if (rc == 0 && (rc = sb_add(&b, p + run, n - run)) == 0)
        *v = sb_val(&b);
    return rc;
}

static int strip_side(rctx *c, val *v, bool left, bool right)
{
    const char *p;
    size_t n;
    int rc = in_str(c, v, &p, &n);
    if (rc != 0)
        return rc;
    while (left && n > 0 && is_ws(p[0]))
        p++, n--;
    while (right && n > 0 && is_ws(p[n - 1]))
        n--;
    *v = v_str(p, n);
    return 0;
}

static int f_strip(rctx *c, val *v, const val *args, size_t nargs)
{
    return strip_side(c, v, true, true);
}

static int f_lstrip(rctx *c, val *v, const val *args, size_t nargs)
{
    return strip_side(c, v, true, false);
}

static int f_rstrip(rctx *c, val *v, const val *args, size_t nargs)
{
    return strip_side(c, v, false, true);
}

/* Replaces every (or the first) occurrence of `from`; "" matches between characters. */
static int replace(rctx *c, val *v, const val *from, const val *to, bool all)
{
    const char *p, *f, *t;
    size_t n, fn, tn, i = 0;
    sbuf b;
    int rc = in_str(c, v, &p, &n);
    if (rc != 0 || (rc = in_str(c, from, &f, &fn)) != 0 || (rc = in_str(c, to, &t, &tn)) != 0 ||
        (rc = sb_init(&b, c, n + tn)) != 0)
        return rc;
    while (rc == 0 && i < n) {
        const char *hit = fn == 0 ? p + i : (n - i >= fn ? memmem(p + i, n - i, f, fn) : NULL);
        if (hit == NULL)
            break;
        size_t at = (size_t)(hit - p);
        size_t next = fn == 0 ? at + utf8_prefix(p + at, n - at, 1) : at + fn;
        if ((rc = sb_add(&b, p + i, at - i)) != 0 || (rc = sb_add(&b, t, tn)) != 0 ||
            (fn == 0 && (rc = sb_add(&b, p + at, next - at)) != 0) || (rc = rt_step(c, 1)) != 0)
            return rc;
        i = next;
        if (!all)
            break;
    }
    if (fn == 0 && (all || n == 0) && (rc = sb_add(&b, t, tn)) != 0)
        return rc;
    if ((rc = sb_add(&b, p + i, n - i)) != 0)
        return rc;
    *v = sb_val(&b);
    return 0;
}

static int f_replace(rctx *c, val *v, const val *args, size_t nargs)
{
    val empty = v_str("", 0);
    return replace(c, v, &args[0], nargs > 1 ? &args[1] : &empty, true);
}

static int f_replace_first(rctx *c, val *v, const val *args, size_t nargs)
{
    val empty = v_str("", 0);
    return replace(c, v, &args[0], nargs > 1 ? &args[1] : &empty, false);
}

static int f_remove(rctx *c, val *v, const val *args, size_t nargs)
{
    val empty = v_str("", 0);
    return replace(c, v, &args[0], &empty, true);
}

static int f_remove_first(rctx *c, val *v, const val *args, size_t nargs)
{
    val empty = v_str("", 0);
    return replace(c, v, &args[0], &empty, false);
}

static int concat(rctx *c, val *v, const val *a, const val *b)
{
    const char *p, *q;
    size_t n, m;
    sbuf s;
    int rc = in_str(c, a, &p, &n);
    if (rc != 0 || (rc = in_str(c, b, &q, &m)) != 0 || (rc = sb_init(&s, c, n + m)) != 0 ||
        (rc = sb_add(&s, p, n)) != 0 || (rc = sb_add(&s, q, m)) != 0)
        return rc;
    *v = sb_val(&s);
    return 0;
}

static int f_append(rctx *c, val *v, const val *args, size_t nargs)
{
    val in = *v;
    return concat(c, v, &in, &args[0]);
}

static int f_prepend(rctx *c, val *v, const val *args, size_t nargs)
{
    val in = *v;
    return concat(c, v, &args[0], &in);
}

static int f_newline_to_br(rctx *c, val *v, const val *args, size_t nargs)
{
    val from = v_str("\n", 1), to = v_str("<br />\n", 7);
    return replace(c, v, &from, &to, true);
}

/* Shopify counts the ellipsis inside the length: truncate: 5 of "Hello world" is "He...". */
static int f_truncate(rctx *c, val *v, const val *args, size_t nargs)
{
    const char *p, *e = "...";
    size_t n, en = 3;
    sbuf b;
    if (v->k == V_NIL || v->k == V_UNSET)
        return 0;
    int rc = in_str(c, v, &p, &n);
    if (rc == 0 && nargs > 1)
        rc = in_str(c, &args[1], &e, &en);
    if (rc != 0)
        return rc;
    int len = arg_int(args, nargs, 0, 50);
    if (len < 0 || utf8_count(p, n) <= (size_t)len) {
        *v = v_str(p, n);
        return 0;
    }
    size_t ecount = utf8_count(e, en);
    size_t keep = (size_t)len > ecount ? (size_t)len - ecount : 0;
    size_t bytes = utf8_prefix(p, n, keep);
    if ((rc = sb_init(&b, c, bytes + en)) != 0 || (rc = sb_add(&b, p, bytes)) != 0 ||
        (rc = sb_add(&b, e, en)) != 0)
        return rc;
    *v = sb_val(&b);
    return 0;
}

/* Keeps the first n words (runs of non-space) joined by one space, then the ellipsis. */
static int f_truncatewords(rctx *c, val *v, const val *args, size_t nargs)
{
    const char *p, *e = "...";
    size_t n, en = 3, words = 0, i = 0;
    sbuf b;
    if (v->k == V_NIL || v->k == V_UNSET)
        return 0;
    int rc = in_str(c, v, &p, &n);
    if (rc == 0 && nargs > 1)
        rc = in_str(c, &args[1], &e, &en);
    if (rc != 0 || (rc = sb_init(&b, c, n + en)) != 0)
        return rc;
    int max = arg_int(args, nargs, 0, 15);
    if (max <= 0)
        max = 1;
    for (;;) {
        while (i < n && is_ws(p[i]))
            i++;
        if (i >= n) { /* no more words than allowed: the input as it was */
            *v = v_str(p, n);
            return 0;
        }
        if (words == (size_t)max)
            break;
        size_t start = i;
        while (i < n && !is_ws(p[i]))
            i++;
        if ((words > 0 && (rc = sb_add(&b, " ", 1)) != 0) ||
            (rc = sb_add(&b, p + start, i - start)) != 0)
            return rc;
        words++;
    }
    if ((rc = sb_add(&b, e, en)) != 0)
        return rc;
    *v = sb_val(&b);
    return 0;
}

/* ---- arrays ---------------------------------------------------------------------------- */

static bool is_list(const val *v)
{
    return v->k == V_ARR || v->k == V_RANGE || (v->k == V_JSON && json_is_array(v->j));
}

static int f_size(rctx *c, val *v, const val *args, size_t nargs)
{
    *v = v_int((int64_t)v_size(v));
    return 0;
}

static int f_join(rctx *c, val *v, const val *args, size_t nargs)
{
    const char *sep = " ", *p;
    size_t sn = 1, n;
    sbuf b;
    int rc = nargs > 0 ? in_str(c, &args[0], &sep, &sn) : 0;
    if (rc != 0 || !is_list(v))
        return rc;
    val list = *v;
    if ((rc = sb_init(&b, c, 64)) != 0)
        return rc;
    for (size_t i = 0, len = v_len(&list); i < len; i++) {
        val item = v_item(c, &list, i);
        if ((rc = in_str(c, &item, &p, &n)) != 0 || (i > 0 && (rc = sb_add(&b, sep, sn)) != 0) ||
            (rc = sb_add(&b, p, n)) != 0)
            return rc;
    }
    *v = sb_val(&b);
    return 0;
}

static int push(rctx *c, val **items, size_t *n, size_t *cap, val v)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        val *ni = arena_alloc(c->st, ncap * sizeof(val));
        if (ni == NULL)
            return rt_nomem(c);
        if (*n)
            memcpy(ni, *items, *n * sizeof(val));
        *items = ni;
        *cap = ncap;
    }
    (*items)[(*n)++] = v;
    return rt_step(c, 0);
}

/* Ruby's String#split: " " splits on runs of whitespace, "" into characters, and trailing
 * empty strings are dropped. */
static int f_split(rctx *c, val *v, const val *args, size_t nargs)
{
    const char *p, *s;
    size_t n, sn, cnt = 0, cap = 0, i = 0;
    val *items = NULL;
    int rc = in_str(c, v, &p, &n);
    if (rc != 0 || (rc = in_str(c, &args[0], &s, &sn)) != 0)
        return rc;
    bool ws = sn == 1 && s[0] == ' ';
    while (rc == 0 && i < n) {
        size_t end, next;
        if (ws) {
            while (i < n && is_ws(p[i]))
                i++;
            if (i >= n)
                break;
            for (end = i; end < n && !is_ws(p[end]);)
                end++;
            next = end;
        } else if (sn == 0) {
            end = next = i + utf8_prefix(p + i, n - i, 1);
        } else {
            const char *hit = n - i >= sn ? memmem(p + i, n - i, s, sn) : NULL;
            end = hit != NULL ? (size_t)(hit - p) : n;
            next = hit != NULL ? end + sn : n;
        }
        rc = push(c, &items, &cnt, &cap, v_str(p + i, end - i));
        i = next;
    }
    while (cnt > 0 && items[cnt - 1].s.n == 0)
        cnt--;
    if (rc == 0)
        *v = (val){.k = V_ARR, .arr = {items, cnt}};
    return rc;
}

static int f_first(rctx *c, val *v, const val *args, size_t nargs)
{
    size_t n = is_list(v) ? v_len(v) : 0;
    *v = n > 0 ? v_item(c, v, 0) : v_nil();
    return 0;
}

static int f_last(rctx *c, val *v, const val *args, size_t nargs)
{
    size_t n = is_list(v) ? v_len(v) : 0;
    *v = n > 0 ? v_item(c, v, n - 1) : v_nil();
    return 0;
}

static int f_reverse(rctx *c, val *v, const val *args, size_t nargs)
{
    if (!is_list(v))
        return 0;
    size_t n = v_len(v);
    val *items = arena_alloc(c->st, (n ? n : 1) * sizeof(val));
    if (items == NULL)
        return rt_nomem(c);
    for (size_t i = 0; i < n; i++)
        items[i] = v_item(c, v, n - 1 - i);
    *v = (val){.k = V_ARR, .arr = {items, n}};
    return 0;
}

/* ---- numbers --------------------------------------------------------------------------- */

/* Rounding without libm, so the module links with libc alone. */
static double dfloor(double d)
{
    if (!(d > -4503599627370496.0 && d < 4503599627370496.0)) /* 2^52: already integral */
        return d;
    double t = (double)(int64_t)d;
    return t > d ? t - 1 : t;
}

static double dceil(double d)
{
    return -dfloor(-d);
}

static double dround(double d) /* half away from zero, as Ruby */
{
    if (d < 0)
        return -dround(-d);
    double t = dfloor(d);
    return d - t >= 0.5 ? t + 1 : t;
}

enum { OP_PLUS, OP_MINUS, OP_TIMES, OP_DIV, OP_MOD };

static int int_op(rctx *c, int op, int64_t a, int64_t b, val *out)
{
    int64_t r;
    bool ovf = false;
    if (op == OP_PLUS)
        ovf = __builtin_add_overflow(a, b, &r);
    else if (op == OP_MINUS)
        ovf = __builtin_sub_overflow(a, b, &r);
    else if (op == OP_TIMES)
        ovf = __builtin_mul_overflow(a, b, &r);
    else if (b == 0)
        return rt_error(c, HUB_EINVAL, "divided by 0");
    else if (a == INT64_MIN && b == -1)
        ovf = true;
    else if (op == OP_DIV)
        r = a / b - ((a % b != 0) && ((a < 0) != (b < 0))); /* Ruby floors */
    else
        r = a % b + ((a % b != 0) && ((a < 0) != (b < 0)) ? b : 0);
    if (ovf) { /* Ruby would grow a bignum; a float is the closest we have */
        double x = (double)a, y = (double)b;
        *out = v_float(op == OP_PLUS    ? x + y
                       : op == OP_MINUS ? x - y
                       : op == OP_TIMES ? x * y
                                        : x / y);
        return 0;
    }
    *out = v_int(r);
    return 0;
}

static int arith(rctx *c, val *v, const val *arg, int op)
{
    val a = v_to_number(v), b = v_to_number(arg);
    if (a.k == V_INT && b.k == V_INT)
        return int_op(c, op, a.i, b.i, v);
    double x = v_to_double(&a), y = v_to_double(&b);
    if (op == OP_MOD && y == 0)
        return rt_error(c, HUB_EINVAL, "divided by 0");
    double r = op == OP_PLUS    ? x + y
               : op == OP_MINUS ? x - y
               : op == OP_TIMES ? x * y
               : op == OP_DIV   ? x / y
                                : x - y * dfloor(x / y);
    *v = v_float(r);
    return 0;
}

static int f_plus(rctx *c, val *v, const val *args, size_t nargs)
{
    return arith(c, v, &args[0], OP_PLUS);
}

static int f_minus(rctx *c, val *v, const val *args, size_t nargs)
{
    return arith(c, v, &args[0], OP_MINUS);
}

static int f_times(rctx *c, val *v, const val *args, size_t nargs)
{
    return arith(c, v, &args[0], OP_TIMES);
}

static int f_divided_by(rctx *c, val *v, const val *args, size_t nargs)
{
    return arith(c, v, &args[0], OP_DIV);
}

static int f_modulo(rctx *c, val *v, const val *args, size_t nargs)
{
    return arith(c, v, &args[0], OP_MOD);
}

static val to_int_val(double d)
{
    if (d != d || d >= 9.2e18 || d <= -9.2e18)
        return v_float(d);
    return v_int((int64_t)d);
}

/* round with no argument (or 0) gives an integer, with n decimals a float; half away from 0. */
static int f_round(rctx *c, val *v, const val *args, size_t nargs)
{
    val a = v_to_number(v);
    int digits = arg_int(args, nargs, 0, 0);
    if (a.k == V_INT) {
        *v = a;
        return 0;
    }
    if (digits <= 0) {
        *v = to_int_val(dround(a.d));
        return 0;
    }
    if (digits > 15) {
        *v = a;
        return 0;
    }
    double scale = 1;
    for (int i = 0; i < digits; i++)
        scale *= 10;
    *v = v_float(dround(a.d * scale) / scale);
    return 0;
}

static int f_ceil(rctx *c, val *v, const val *args, size_t nargs)
{
    val a = v_to_number(v);
    *v = a.k == V_INT ? a : to_int_val(dceil(a.d));
    return 0;
}

static int f_floor(rctx *c, val *v, const val *args, size_t nargs)
{
    val a = v_to_number(v);
    *v = a.k == V_INT ? a : to_int_val(dfloor(a.d));
    return 0;
}

static int f_abs(rctx *c, val *v, const val *args, size_t nargs)
{
    val a = v_to_number(v);
    *v = a.k == V_INT ? (a.i == INT64_MIN ? v_float(-(double)a.i) : v_int(a.i < 0 ? -a.i : a.i))
                      : v_float(a.d < 0 ? -a.d : a.d);
    return 0;
}

/* ---- the table ------------------------------------------------------------------------- */

static const filter_def filters[] = {
    {"abs", 0, 0, f_abs},
    {"append", 1, 1, f_append},
    {"capitalize", 0, 0, f_capitalize},
    {"ceil", 0, 0, f_ceil},
    {"date", 1, 1, filter_date},
    {"default", 1, 1, f_default},
    {"divided_by", 1, 1, f_divided_by},
    {"downcase", 0, 0, f_downcase},
    {"escape", 0, 0, f_escape},
    {"escape_once", 0, 0, f_escape_once},
    {"first", 0, 0, f_first},
    {"floor", 0, 0, f_floor},
    {"join", 0, 1, f_join},
    {"last", 0, 0, f_last},
    {"lstrip", 0, 0, f_lstrip},
    {"minus", 1, 1, f_minus},
    {"modulo", 1, 1, f_modulo},
    {"newline_to_br", 0, 0, f_newline_to_br},
    {"plus", 1, 1, f_plus},
    {"prepend", 1, 1, f_prepend},
    {"raw", 0, 0, f_raw},
    {"remove", 1, 1, f_remove},
    {"remove_first", 1, 1, f_remove_first},
    {"replace", 1, 2, f_replace},
    {"replace_first", 1, 2, f_replace_first},
    {"reverse", 0, 0, f_reverse},
    {"round", 0, 1, f_round},
    {"rstrip", 0, 0, f_rstrip},
    {"size", 0, 0, f_size},
    {"split", 1, 1, f_split},
    {"strip", 0, 0, f_strip},
    {"strip_html", 0, 0, f_strip_html},
    {"times", 1, 1, f_times},
    {"truncate", 0, 2, f_truncate},
    {"truncatewords", 0, 2, f_truncatewords},
    {"upcase", 0, 0, f_upcase},
    {"url_encode", 0, 0, f_url_encode},
};

const filter_def *filter_find(const char *name, size_t len, unsigned *id)
{
    for (unsigned i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
        if (strlen(filters[i].name) == len && memcmp(filters[i].name, name, len) == 0) {
            *id = i;
            return &filters[i];
        }
    }
    return NULL;
}

const filter_def *filter_get(unsigned id)
{
    return &filters[id];
}
