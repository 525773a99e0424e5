/*
 * Liquid for loops and {% render %}, and the render entry point that sets up the per-call
 * state (limits, working memory with its first block on the stack, locals).
 */
#include <stddef.h>
#include <string.h>

#include "internal.h"

#define ARENA_STACK   8192
#define MAX_DEPTH_CAP 64 /* render nesting, whatever the options say: bounds the C stack */

/* A JSON object iterates as [key, value] pairs, as a Ruby hash does. */
static int object_pairs(rctx *c, const json_t *obj, val *out)
{
    size_t n = json_object_size(obj), i = 0;
    val *items = arena_alloc(c->st, (n ? n : 1) * 3 * sizeof(val));
    if (items == NULL)
        return rt_nomem(c);
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value)
    {
        val *pair = items + n + 2 * i;
        pair[0] = v_str(key, strlen(key));
        pair[1] = v_from_json(value);
        items[i++] = (val){.k = V_ARR, .arr = {pair, 2}};
    }
    *out = (val){.k = V_ARR, .arr = {items, n}};
    return 0;
}

static int loop_bound(rctx *c, uint32_t e, size_t dflt, size_t max, size_t *out)
{
    *out = dflt;
    if (e == NONE)
        return 0;
    val v;
    int rc = eval_expr(c, e, &v);
    if (rc != 0)
        return rc;
    v = v_to_number(&v);
    double d = v_to_double(&v);
    *out = d <= 0 ? 0 : d >= (double)max ? max : (size_t)d;
    return 0;
}

/* The items to iterate: *coll normalized to something v_item can index. */
static int loop_items(rctx *c, const tnode *n, val *coll, size_t *len)
{
    int rc = eval_expr(c, n->b, coll);
    if (rc != 0)
        return rc;
    if (coll->k == V_JSON && json_is_object(coll->j) && (rc = object_pairs(c, coll->j, coll)) != 0)
        return rc;
    if (coll->k == V_STR && coll->s.n > 0) { /* a string is one item */
        val *one = arena_alloc(c->st, sizeof(val));
        if (one == NULL)
            return rt_nomem(c);
        *one = *coll;
        *coll = (val){.k = V_ARR, .arr = {one, 1}};
    }
    *len = v_len(coll);
    return 0;
}

int exec_for(rctx *c, const tnode *n)
{
    rstate *st = c->st;
    val coll;
    size_t len = 0, offset, limit;
    int rc = loop_items(c, n, &coll, &len);
    if (rc != 0 || (rc = loop_bound(c, n->f, 0, len, &offset)) != 0 ||
        (rc = loop_bound(c, n->e, len, len, &limit)) != 0)
        return rc;
    size_t start = offset, end = len - start < limit ? len : start + limit;
    if (end <= start)
        return n->d != NONE ? exec_body(c, n->d) : 0;
    uint32_t fs = c->t->forloop_sym;
    val saved = c->locals[n->a];
    loopframe lf = {.index0 = 0, .length = end - start, .parent = v_nil()};
    if (fs != NONE)
        lf.parent = c->locals[fs];
    for (size_t i = 0; i < lf.length; i++) {
        if (++st->iters > st->lim.max_iterations) {
            rc = rt_error(c, HUB_ETOOBIG, "more than %llu loop iterations",
                          (unsigned long long)st->lim.max_iterations);
            break;
        }
        lf.index0 = i;
        c->locals[n->a] = v_item(c, &coll, (n->flags & NF_REVERSED) ? end - 1 - i : start + i);
        if (fs != NONE)
            c->locals[fs] = (val){.k = V_LOOP, .loop = &lf};
        if ((rc = exec_body(c, n->c)) != 0)
            break;
        int jump = c->jump;
        c->jump = JUMP_NONE;
        if (jump == JUMP_BREAK)
            break;
    }
    c->locals[n->a] = saved;
    if (fs != NONE)
        c->locals[fs] = lf.parent;
    return rc;
}

/* Sets the child's variable `name` when the child uses it at all. */
static void bind(rctx *child, const char *name, size_t len, val v)
{
    const hub_template *t = child->t;
    for (uint32_t i = 0; i < t->nsyms; i++) {
        const char *s = pool_str(t, t->syms[i]);
        if (strncmp(s, name, len) == 0 && s[len] == '\0') {
            child->locals[i] = v;
            return;
        }
    }
}

static val *new_locals(rstate *st, const hub_template *t)
{
    val *l = arena_alloc(st, (t->nsyms ? t->nsyms : 1) * sizeof(val));
    for (uint32_t i = 0; l != NULL && i < t->nsyms; i++)
        l[i] = (val){.k = V_UNSET};
    return l;
}

/* Binds `with` and key: value arguments, evaluated in the caller's scope. */
static int bind_args(rctx *c, const tnode *n, rctx *child)
{
    const hub_template *t = c->t;
    const char *name = pool_str(t, n->a);
    val v;
    int rc;
    if (n->d != NONE) {
        if ((rc = eval_expr(c, n->d, &v)) != 0)
            return rc;
        const char *alias = n->e != NONE ? pool_str(t, n->e) : strrchr(name, '/');
        alias = alias == NULL ? name : alias[0] == '/' ? alias + 1 : alias;
        bind(child, alias, strlen(alias), v);
    }
    for (uint32_t k = n->c; k != NONE; k = t->exprs[k].next) {
        const texpr *kw = &t->exprs[k];
        if ((rc = eval_expr(c, kw->b, &v)) != 0)
            return rc;
        bind(child, pool_str(t, kw->a), strlen(pool_str(t, kw->a)), v);
    }
    return 0;
}

/* The block name as it may appear in a one-line message: short, no control characters. */
static void printable_name(const char *name, size_t len, char out[64])
{
    size_t n = len < 60 ? len : 60;
    if (n < len)
        n = hub_utf8_back(name, n); /* never cut a character in two */
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ? '?' : name[i];
    out[n] = '\0';
}

int exec_render(rctx *c, const tnode *n)
{
    rstate *st = c->st;
    char name[64];
    printable_name(pool_str(c->t, n->a), n->b, name);
    if (st->depth >= st->lim.max_depth)
        return rt_error(c, HUB_ETOOBIG, "render '%s': blocks nested deeper than %u", name,
                        st->lim.max_depth);
    const hub_template *child = NULL;
    int rc = HUB_ENOTFOUND;
    if (st->opts->resolve != NULL)
        rc = st->opts->resolve(st->opts->resolve_ctx, pool_str(c->t, n->a), n->b, &child);
    if (rc == 0 && child == NULL)
        rc = HUB_ENOTFOUND;
    if (rc != 0)
        return rt_error(c, rc, "render '%s': %s", name, hub_strerror(rc));
    amark m = arena_mark(st);
    rctx cc = {.st = st, .t = child, .vars = c->vars, .locals = new_locals(st, child)};
    if (cc.locals == NULL)
        rc = rt_nomem(c);
    else
        rc = bind_args(c, n, &cc);
    if (rc == 0) {
        st->depth++;
        rc = exec_template(&cc);
        st->depth--;
    }
    arena_release(st, m);
    return rc;
}

static void apply_defaults(hub_template_limits *l)
{
    if (l->max_output == 0)
        l->max_output = 1u << 20;
    if (l->max_memory == 0)
        l->max_memory = 8u << 20;
    if (l->max_steps == 0)
        l->max_steps = 1000000;
    if (l->max_iterations == 0)
        l->max_iterations = 100000;
    if (l->max_depth == 0)
        l->max_depth = 8;
    if (l->max_depth > MAX_DEPTH_CAP)
        l->max_depth = MAX_DEPTH_CAP;
}

int hub_template_render(const hub_template *t, const json_t *vars, const hub_template_options *opts,
                        hub_buf *out, hub_error *err)
{
    static const hub_template_options no_options;
    _Alignas(max_align_t) char stack[ARENA_STACK];
    ablock first = {.prev = NULL, .used = 0, .size = sizeof(stack), .heap = false, .data = stack};
    rstate st = {.out = out, .out_start = out->len, .arena = &first, .err = err};
    st.opts = opts != NULL ? opts : &no_options;
    st.lim = st.opts->limits;
    st.now_ms = st.opts->now_ms;
    apply_defaults(&st.lim);
    rctx c = {.st = &st, .t = t, .vars = json_is_object(vars) ? vars : NULL};
    c.locals = new_locals(&st, t);
    int rc = c.locals == NULL ? rt_nomem(&c) : exec_template(&c);
    arena_release(&st, (amark){&first, 0, 0});
    if (rc != 0) {
        out->len = st.out_start;
        if (out->data != NULL)
            out->data[out->len] = '\0';
    }
    return rc;
}
