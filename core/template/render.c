/*
 * The Liquid interpreter: walks the compiled node array of one template, evaluates
 * expressions and filter chains, and enforces the limits (output, memory, steps,
 * iterations, render depth). All per-render state lives in rstate/rctx on the caller's
 * stack, so one compiled template renders on many threads at once.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int rt_error(rctx *c, int code, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->st->err != NULL)
        hub_error_set(c->st->err, code, "line %u: %s", (unsigned)c->line, msg);
    return code;
}

int rt_step(rctx *c, uint64_t n)
{
    c->st->steps += n;
    if (c->st->steps > c->st->lim.max_steps)
        return rt_error(c, HUB_ETOOBIG, "template ran more than %llu steps",
                        (unsigned long long)c->st->lim.max_steps);
    return 0;
}

/* ---- expressions ----------------------------------------------------------------------- */

static int eval_var(rctx *c, const texpr *x, val *out)
{
    const hub_template *t = c->t;
    if (c->locals[x->a].k != V_UNSET)
        *out = c->locals[x->a];
    else if (c->vars != NULL)
        *out = v_from_json(json_object_get(c->vars, pool_str(t, t->syms[x->a])));
    else
        *out = v_nil();
    for (uint32_t s = x->b; s != NONE; s = t->exprs[s].next) {
        const texpr *seg = &t->exprs[s];
        val key, base = *out;
        int rc;
        if (seg->kind == E_KEY)
            key = v_str(pool_str(t, seg->a), seg->b);
        else if ((rc = eval_expr(c, seg->a, &key)) != 0)
            return rc;
        if (key.k == V_FLOAT)
            key = v_int(d_to_i64(key.d));
        if ((rc = v_lookup(c, &base, &key, out)) != 0)
            return rc;
    }
    return 0;
}

static int eval_filters(rctx *c, const texpr *x, val *out)
{
    const hub_template *t = c->t;
    int rc = eval_expr(c, x->a, out);
    for (uint32_t f = x->b; rc == 0 && f != NONE; f = t->exprs[f].next) {
        const texpr *fx = &t->exprs[f];
        val args[8];
        size_t n = 0;
        for (uint32_t a = fx->a; a != NONE && n < 8 && rc == 0; a = t->exprs[a].next)
            rc = eval_expr(c, a, &args[n++]);
        /* String work costs in proportion to its length, so the step budget bounds time. */
        if (rc == 0)
            rc = rt_step(c, 1 + (out->k == V_STR ? out->s.n / 64 : v_len(out) / 8));
        if (rc != 0)
            return rc;
        out->safe = 0;
        rc = filter_get(fx->op)->fn(c, out, args, n);
    }
    return rc;
}

static int eval_range(rctx *c, const texpr *x, val *out)
{
    val lo, hi;
    int rc = eval_expr(c, x->a, &lo);
    if (rc == 0)
        rc = eval_expr(c, x->b, &hi);
    if (rc != 0)
        return rc;
    lo = v_to_number(&lo);
    hi = v_to_number(&hi);
    out->k = V_RANGE;
    out->safe = 0;
    /* Bounded so that hi - lo + 1 never overflows; the iteration cap applies anyway. */
    out->r.lo = d_to_i64(lo.k == V_INT ? (double)lo.i : lo.d);
    out->r.hi = d_to_i64(hi.k == V_INT ? (double)hi.i : hi.d);
    return 0;
}

int eval_expr(rctx *c, uint32_t e, val *out)
{
    const texpr *x = &c->t->exprs[e];
    switch (x->kind) {
    case E_NIL:
        *out = v_nil();
        return 0;
    case E_TRUE:
    case E_FALSE:
        *out = v_bool(x->kind == E_TRUE);
        return 0;
    case E_EMPTY:
    case E_BLANK:
        *out = (val){.k = x->kind == E_EMPTY ? V_EMPTY : V_BLANK};
        return 0;
    case E_INT:
        *out = v_int(x->num.i);
        return 0;
    case E_FLOAT:
        *out = v_float(x->num.d);
        return 0;
    case E_STR:
    case E_KEY:
        *out = v_str(pool_str(c->t, x->a), x->b);
        return 0;
    case E_RANGE:
        return eval_range(c, x, out);
    case E_VAR:
        return eval_var(c, x, out);
    case E_FILTERED:
        return eval_filters(c, x, out);
    case E_CMP: {
        bool b;
        int rc = eval_cond(c, e, &b);
        *out = v_bool(b);
        return rc;
    }
    default:
        *out = v_nil();
        return 0;
    }
}

/* and/or group from the right, as in Shopify: a and b or c is a and (b or c). */
int eval_cond(rctx *c, uint32_t e, bool *out)
{
    const texpr *x = &c->t->exprs[e];
    val a, b;
    int rc = eval_expr(c, x->a, &a);
    if (rc != 0)
        return rc;
    if (x->op == C_TRUTH) {
        *out = v_truthy(&a);
    } else {
        if ((rc = eval_expr(c, x->b, &b)) != 0 || (rc = v_compare(c, x->op, &a, &b, out)) != 0)
            return rc;
    }
    if (x->num.i == L_NONE)
        return 0;
    bool rest;
    if ((rc = eval_cond(c, x->next, &rest)) != 0)
        return rc;
    *out = x->num.i == L_AND ? (*out && rest) : (*out || rest);
    return 0;
}

/* A condition evaluated in working memory that is released at once. */
static int test(rctx *c, uint32_t e, bool *out)
{
    amark m = arena_mark(c->st);
    int rc = eval_cond(c, e, out);
    arena_release(c->st, m);
    return rc;
}

/* ---- statements ------------------------------------------------------------------------ */

static int exec_output(rctx *c, const tnode *n)
{
    amark m = arena_mark(c->st);
    val v;
    int rc = eval_expr(c, n->a, &v);
    if (rc == 0)
        rc = v_write(c, &v, c->st->opts->escape_html && !v.safe);
    arena_release(c->st, m);
    return rc;
}

static int exec_if(rctx *c, const tnode *n)
{
    const hub_template *t = c->t;
    for (uint32_t b = n->a; b != NONE; b = t->nodes[b].next) {
        const tnode *br = &t->nodes[b];
        bool yes = true;
        if (br->a != NONE) {
            int rc = test(c, br->a, &yes);
            if (rc != 0)
                return rc;
            if (b == n->a && (n->flags & NF_NEGATE))
                yes = !yes;
        }
        if (yes)
            return exec_body(c, br->b);
    }
    return 0;
}

static int exec_case(rctx *c, const tnode *n)
{
    const hub_template *t = c->t;
    val subject;
    int rc = eval_expr(c, n->a, &subject);
    bool matched = false;
    for (uint32_t w = n->b; rc == 0 && w != NONE; w = t->nodes[w].next) {
        const tnode *wn = &t->nodes[w];
        if (wn->a == NONE) { /* else: runs when no when matched */
            if (!matched)
                rc = exec_body(c, wn->b);
            continue;
        }
        bool hit = false;
        amark m = arena_mark(c->st);
        for (uint32_t v = wn->a; rc == 0 && v != NONE && !hit; v = t->exprs[v].next) {
            val x;
            if ((rc = eval_expr(c, v, &x)) == 0)
                hit = v_equal(c, &subject, &x);
        }
        arena_release(c->st, m);
        if (rc == 0 && hit) {
            matched = true;
            rc = exec_body(c, wn->b);
        }
    }
    return rc;
}

static int exec_assign(rctx *c, const tnode *n)
{
    val v;
    int rc = eval_expr(c, n->b, &v);
    if (rc != 0)
        return rc;
    if (v.k == V_LOOP) { /* the frame lives on the stack only while its loop runs */
        loopframe *lf = arena_alloc(c->st, sizeof(*lf));
        if (lf == NULL)
            return rt_nomem(c);
        *lf = *v.loop;
        v.loop = lf;
    }
    c->locals[n->a] = v;
    return 0;
}

static int exec_capture(rctx *c, const tnode *n)
{
    hub_buf *out = c->st->out;
    size_t start = out->len;
    int rc = exec_body(c, n->b);
    if (rc == 0) {
        char *s = arena_alloc(c->st, out->len - start + 1);
        if (s == NULL) {
            rc = rt_nomem(c);
        } else {
            memcpy(s, out->data + start, out->len - start);
            c->locals[n->a] = v_str(s, out->len - start);
            c->locals[n->a].safe = 1; /* rendered output: its {{ }} were escaped already */
        }
    }
    out->len = start;
    if (out->data != NULL)
        out->data[start] = '\0';
    return rc;
}

static int exec_node(rctx *c, const tnode *n)
{
    c->line = n->line;
    int rc = rt_step(c, 1);
    if (rc != 0)
        return rc;
    switch (n->kind) {
    case N_TEXT:
        return out_append(c, pool_str(c->t, n->a), n->b);
    case N_OUTPUT:
        return exec_output(c, n);
    case N_IF:
        return exec_if(c, n);
    case N_CASE:
        return exec_case(c, n);
    case N_FOR:
        return exec_for(c, n);
    case N_ASSIGN:
        return exec_assign(c, n);
    case N_CAPTURE:
        return exec_capture(c, n);
    case N_RENDER:
        return exec_render(c, n);
    case N_BREAK:
        c->jump = JUMP_BREAK;
        return 0;
    case N_CONTINUE:
        c->jump = JUMP_CONTINUE;
        return 0;
    default:
        return 0;
    }
}

int exec_body(rctx *c, uint32_t first)
{
    const hub_template *t = c->t;
    for (uint32_t i = first; i != NONE; i = t->nodes[i].next) {
        int rc = exec_node(c, &t->nodes[i]);
        if (rc != 0)
            return rc;
        if (c->jump != JUMP_NONE)
            return 0;
    }
    return 0;
}

int exec_template(rctx *c)
{
    return exec_body(c, c->t->root);
}
