/*
 * Liquid tag parsing: turns the markup tokens into the node array (see internal.h), one
 * block body at a time, and checks every syntax rule at compile time so that rendering never
 * meets a malformed template. Also hub_template_compile/free and the render-name list.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_SOURCE (16u << 20)

/* How a body ended: which of the expected end tags, and the rest of that tag. */
typedef struct endinfo {
    const char *const *names; /* NULL-terminated; NULL at the top level */
    const char *opener;       /* tag that opened the block, for "never closed" */
    size_t open_off;
    int which;
    elexer ex;
} endinfo;

static int parse_body(parser *p, endinfo *end, uint32_t *first);

static int new_node(parser *p, int kind, size_t off, uint32_t *out)
{
    hub_template *t = p->t;
    if (t->nnodes + 1 > t->nodes_cap) {
        uint32_t cap = t->nodes_cap ? t->nodes_cap * 2 : 32;
        tnode *n = realloc(t->nodes, (size_t)cap * sizeof(tnode));
        if (n == NULL)
            return HUB_ENOMEM;
        t->nodes = n;
        t->nodes_cap = cap;
    }
    tnode *n = &t->nodes[t->nnodes];
    memset(n, 0, sizeof(*n));
    n->kind = (uint8_t)kind;
    n->line = line_at(p, off);
    n->next = n->a = n->b = n->c = n->d = n->e = n->f = NONE;
    *out = t->nnodes++;
    return 0;
}

/* Parses a nested body; the depth cap keeps both parser and interpreter stacks small. */
static int parse_block(parser *p, size_t off, const char *opener, const char *const *names,
                       endinfo *end, uint32_t *first)
{
    if (++p->depth > HUB_TEMPLATE_MAX_NESTING)
        return perr(p, off, HUB_ETOOBIG, "blocks nested deeper than %d", HUB_TEMPLATE_MAX_NESTING);
    end->names = names;
    end->opener = opener;
    end->open_off = off;
    int rc = parse_body(p, end, first);
    p->depth--;
    return rc;
}

static int tag_if(parser *p, elexer *ex, size_t off, bool unless, uint32_t *out)
{
    static const char *const if_ends[] = {"elsif", "else", "endif", NULL};
    static const char *const unless_ends[] = {"elsif", "else", "endunless", NULL};
    static const char *const if_last[] = {"endif", NULL};
    static const char *const unless_last[] = {"endunless", NULL};
    const char *name = unless ? "unless" : "if";
    uint32_t last = NONE, cond;
    int rc;
    if ((rc = new_node(p, N_IF, off, out)) != 0 || (rc = parse_cond(p, ex, &cond)) != 0 ||
        (rc = expect_end(p, ex)) != 0)
        return rc;
    p->t->nodes[*out].flags = unless ? NF_NEGATE : 0;
    for (;;) {
        uint32_t br, body = NONE;
        endinfo end;
        bool is_else = cond == NONE;
        if ((rc = new_node(p, N_BRANCH, off, &br)) != 0 ||
            (rc = parse_block(p, off, name,
                              is_else ? (unless ? unless_last : if_last)
                                      : (unless ? unless_ends : if_ends),
                              &end, &body)) != 0)
            return rc;
        p->t->nodes[br].a = cond;
        p->t->nodes[br].b = body;
        if (last == NONE)
            p->t->nodes[*out].a = br;
        else
            p->t->nodes[last].next = br;
        last = br;
        if (is_else || end.which == 2)
            return expect_end(p, &end.ex);
        cond = NONE;
        if (end.which == 0 && (rc = parse_cond(p, &end.ex, &cond)) != 0)
            return rc;
        if ((rc = expect_end(p, &end.ex)) != 0)
            return rc;
    }
}

/* when a, b or c: a chain of values. */
static int when_values(parser *p, elexer *ex, uint32_t *first)
{
    uint32_t last = NONE;
    for (;;) {
        uint32_t v;
        int rc = parse_value(p, ex, &v);
        if (rc != 0)
            return rc;
        if (last == NONE)
            *first = v;
        else
            p->t->exprs[last].next = v;
        last = v;
        if (ex->cur.kind != ET_COMMA && !etok_is(ex, "or"))
            return expect_end(p, ex);
        elex_next(ex);
    }
}

static int tag_case(parser *p, elexer *ex, size_t off, uint32_t *out)
{
    static const char *const ends[] = {"when", "else", "endcase", NULL};
    static const char *const last_ends[] = {"endcase", NULL};
    uint32_t subject, ignored = NONE, last = NONE;
    endinfo end;
    int rc;
    if ((rc = new_node(p, N_CASE, off, out)) != 0 || (rc = parse_value(p, ex, &subject)) != 0 ||
        (rc = expect_end(p, ex)) != 0)
        return rc;
    p->t->nodes[*out].a = subject;
    /* Anything between case and the first when is dropped, as in Shopify. */
    if ((rc = parse_block(p, off, "case", ends, &end, &ignored)) != 0)
        return rc;
    while (end.which != 2) {
        uint32_t w, vals = NONE, body = NONE;
        bool is_else = end.which == 1;
        if ((rc = new_node(p, N_WHEN, off, &w)) != 0)
            return rc;
        if (is_else ? (rc = expect_end(p, &end.ex)) != 0
                    : (rc = when_values(p, &end.ex, &vals)) != 0)
            return rc;
        if ((rc = parse_block(p, off, "case", is_else ? last_ends : ends, &end, &body)) != 0)
            return rc;
        if (is_else)
            end.which = 2;
        p->t->nodes[w].a = vals;
        p->t->nodes[w].b = body;
        if (last == NONE)
            p->t->nodes[*out].b = w;
        else
            p->t->nodes[last].next = w;
        last = w;
    }
    return expect_end(p, &end.ex);
}

/* for x in coll [reversed] [limit: n] [offset: n] */
static int for_header(parser *p, elexer *ex, tnode *n)
{
    int rc;
    uint32_t sym, coll;
    if (ex->cur.kind != ET_ID)
        return perr_tok(p, ex, "expected a variable name after 'for'");
    if ((rc = sym_intern(p, ex->src + ex->cur.off, ex->cur.len, &sym)) != 0)
        return rc;
    elex_next(ex);
    if (!etok_is(ex, "in"))
        return perr_tok(p, ex, "expected 'in'");
    elex_next(ex);
    if ((rc = parse_value(p, ex, &coll)) != 0)
        return rc;
    n->a = sym;
    n->b = coll;
    for (;;) {
        if (etok_is(ex, "reversed")) {
            n->flags |= NF_REVERSED;
            elex_next(ex);
            continue;
        }
        bool limit = etok_is(ex, "limit");
        if (!limit && !etok_is(ex, "offset"))
            return expect_end(p, ex);
        elex_next(ex);
        if (ex->cur.kind != ET_COLON)
            return perr_tok(p, ex, "expected ':'");
        elex_next(ex);
        if ((rc = parse_value(p, ex, limit ? &n->e : &n->f)) != 0)
            return rc;
        if (ex->cur.kind == ET_COMMA)
            elex_next(ex);
    }
}

static int tag_for(parser *p, elexer *ex, size_t off, uint32_t *out)
{
    static const char *const ends[] = {"else", "endfor", NULL};
    static const char *const last_ends[] = {"endfor", NULL};
    tnode hdr;
    uint32_t body = NONE, other = NONE;
    endinfo end;
    int rc;
    memset(&hdr, 0, sizeof(hdr));
    hdr.e = hdr.f = NONE;
    if ((rc = new_node(p, N_FOR, off, out)) != 0 || (rc = for_header(p, ex, &hdr)) != 0)
        return rc;
    p->loop_depth++;
    rc = parse_block(p, off, "for", ends, &end, &body);
    p->loop_depth--;
    if (rc == 0 && end.which == 0 && (rc = expect_end(p, &end.ex)) == 0)
        rc = parse_block(p, off, "for", last_ends, &end, &other);
    if (rc != 0 || (rc = expect_end(p, &end.ex)) != 0)
        return rc;
    tnode *n = &p->t->nodes[*out];
    n->flags = hdr.flags;
    n->a = hdr.a;
    n->b = hdr.b;
    n->c = body;
    n->d = other;
    n->e = hdr.e;
    n->f = hdr.f;
    return 0;
}

static int tag_assign(parser *p, elexer *ex, size_t off, uint32_t *out)
{
    int rc;
    uint32_t sym, value;
    if (ex->cur.kind != ET_ID)
        return perr_tok(p, ex, "expected a variable name after 'assign'");
    if ((rc = sym_intern(p, ex->src + ex->cur.off, ex->cur.len, &sym)) != 0)
        return rc;
    elex_next(ex);
    if (ex->cur.kind != ET_BAD || ex->src[ex->cur.off] != '=')
        return perr_tok(p, ex, "expected '='");
    ex->pos = ex->cur.off + 1;
    elex_next(ex);
    if ((rc = parse_filtered(p, ex, &value)) != 0 || (rc = expect_end(p, ex)) != 0 ||
        (rc = new_node(p, N_ASSIGN, off, out)) != 0)
        return rc;
    p->t->nodes[*out].a = sym;
    p->t->nodes[*out].b = value;
    return 0;
}

static int tag_capture(parser *p, elexer *ex, size_t off, uint32_t *out)
{
    static const char *const ends[] = {"endcapture", NULL};
    int rc;
    uint32_t sym, body = NONE;
    endinfo end;
    if (ex->cur.kind != ET_ID && ex->cur.kind != ET_STR)
        return perr_tok(p, ex, "expected a variable name after 'capture'");
    if ((rc = sym_intern(p, ex->src + ex->cur.off, ex->cur.len, &sym)) != 0)
        return rc;
    elex_next(ex);
    if ((rc = expect_end(p, ex)) != 0 || (rc = new_node(p, N_CAPTURE, off, out)) != 0 ||
        (rc = parse_block(p, off, "capture", ends, &end, &body)) != 0 ||
        (rc = expect_end(p, &end.ex)) != 0)
        return rc;
    p->t->nodes[*out].a = sym;
    p->t->nodes[*out].b = body;
    return 0;
}

/* Skips to the matching endcomment; nested comments nest, raw bodies are opaque. */
static int tag_comment(parser *p, size_t off)
{
    unsigned nest = 1;
    for (;;) {
        mtok tok;
        size_t err_off;
        if (lex_next(&p->lx, &tok, &err_off) != 0)
            return perr(p, err_off, HUB_EINVAL, "tag not closed");
        if (tok.kind == MT_END)
            return perr(p, off, HUB_EINVAL, "'comment' tag was never closed (expected endcomment)");
        if (tok.kind != MT_TAG)
            continue;
        elexer ex;
        elex_init(&ex, p->src, tok.off, tok.len);
        if (etok_is(&ex, "comment")) {
            nest++;
        } else if (etok_is(&ex, "raw")) {
            if (lex_raw(&p->lx, &tok) != 0)
                return perr(p, tok.off, HUB_EINVAL, "'raw' tag was never closed");
        } else if (etok_is(&ex, "endcomment") && --nest == 0) {
            return 0;
        }
    }
}

static int tag_raw(parser *p, elexer *ex, size_t off, uint32_t *out)
{
    mtok body;
    uint32_t text;
    int rc;
    if ((rc = expect_end(p, ex)) != 0)
        return rc;
    if (lex_raw(&p->lx, &body) != 0)
        return perr(p, off, HUB_EINVAL, "'raw' tag was never closed (expected endraw)");
    if (body.len == 0)
        return 0;
    if ((rc = new_node(p, N_TEXT, off, out)) != 0 ||
        (rc = pool_add(p, p->src + body.off, body.len, &text)) != 0)
        return rc;
    p->t->nodes[*out].a = text;
    p->t->nodes[*out].b = (uint32_t)body.len;
    return 0;
}

static int tag_output(parser *p, elexer *ex, size_t off, uint32_t *out)
{
    uint32_t e;
    int rc;
    if (ex->cur.kind == ET_END)
        return 0; /* {{ }} prints nothing */
    if ((rc = parse_filtered(p, ex, &e)) != 0 || (rc = expect_end(p, ex)) != 0 ||
        (rc = new_node(p, N_OUTPUT, off, out)) != 0)
        return rc;
    p->t->nodes[*out].a = e;
    return 0;
}

static int note_render(parser *p, uint32_t off, uint32_t len)
{
    hub_template *t = p->t;
    for (uint32_t i = 0; i < t->nrenders; i++)
        if (t->renders[2 * i + 1] == len &&
            memcmp(t->pool + t->renders[2 * i], t->pool + off, len) == 0)
            return 0;
    if (t->nrenders >= 256)
        return perr(p, p->lx.pos, HUB_ETOOBIG, "more than 256 block names in render tags");
    if (t->nrenders * 2 + 2 > t->renders_cap) {
        uint32_t cap = t->renders_cap ? t->renders_cap * 2 : 8;
        uint32_t *r = realloc(t->renders, cap * sizeof(uint32_t));
        if (r == NULL)
            return HUB_ENOMEM;
        t->renders = r;
        t->renders_cap = cap;
    }
    t->renders[2 * t->nrenders] = off;
    t->renders[2 * t->nrenders + 1] = len;
    t->nrenders++;
    return 0;
}

/* key: value, ... as E_KWARG chain. */
static int render_args(parser *p, elexer *ex, uint32_t *first)
{
    uint32_t last = NONE;
    int rc;
    for (;;) {
        if (ex->cur.kind == ET_COMMA)
            elex_next(ex);
        if (ex->cur.kind == ET_END)
            return 0;
        if (ex->cur.kind != ET_ID)
            return perr_tok(p, ex, "expected 'name: value'");
        uint32_t kw, name, v;
        if ((rc = new_expr(p, E_KWARG, &kw)) != 0 ||
            (rc = pool_add(p, ex->src + ex->cur.off, ex->cur.len, &name)) != 0)
            return rc;
        elex_next(ex);
        if (ex->cur.kind != ET_COLON)
            return perr_tok(p, ex, "expected ':'");
        elex_next(ex);
        if ((rc = parse_value(p, ex, &v)) != 0)
            return rc;
        p->t->exprs[kw].a = name;
        p->t->exprs[kw].b = v;
        if (last == NONE)
            *first = kw;
        else
            p->t->exprs[last].next = kw;
        last = kw;
    }
}

/* render 'name' [with expr [as alias]] [, key: value ...] */
static int tag_render(parser *p, elexer *ex, size_t off, uint32_t *out)
{
    int rc;
    uint32_t name;
    if (ex->cur.kind != ET_STR)
        return perr_tok(p, ex, "expected a quoted template name after 'render'");
    if ((rc = new_node(p, N_RENDER, off, out)) != 0 ||
        (rc = pool_add(p, ex->src + ex->cur.off, ex->cur.len, &name)) != 0 ||
        (rc = note_render(p, name, (uint32_t)ex->cur.len)) != 0)
        return rc;
    tnode hdr = {.a = name, .b = (uint32_t)ex->cur.len, .c = NONE, .d = NONE, .e = NONE};
    elex_next(ex);
    if (etok_is(ex, "for"))
        return perr(p, ex->cur.off, HUB_EINVAL, "'render ... for' is not supported");
    if (etok_is(ex, "with")) {
        elex_next(ex);
        if ((rc = parse_value(p, ex, &hdr.d)) != 0)
            return rc;
        if (etok_is(ex, "as")) {
            elex_next(ex);
            if (ex->cur.kind != ET_ID)
                return perr_tok(p, ex, "expected a name after 'as'");
            if ((rc = pool_add(p, ex->src + ex->cur.off, ex->cur.len, &hdr.e)) != 0)
                return rc;
            elex_next(ex);
        }
    }
    if ((rc = render_args(p, ex, &hdr.c)) != 0)
        return rc;
    tnode *n = &p->t->nodes[*out];
    n->a = hdr.a;
    n->b = hdr.b;
    n->c = hdr.c;
    n->d = hdr.d;
    n->e = hdr.e;
    return 0;
}

static bool name_is(const parser *p, const etok *name, const char *word)
{
    size_t n = strlen(word);
    return name->len == n && memcmp(p->src + name->off, word, n) == 0;
}

static int tag_if_(parser *p, elexer *ex, size_t off, uint32_t *out)
{
    return tag_if(p, ex, off, false, out);
}

static int tag_unless(parser *p, elexer *ex, size_t off, uint32_t *out)
{
    return tag_if(p, ex, off, true, out);
}

static int tag_comment_(parser *p, elexer *ex, size_t off, uint32_t *out)
{
    return tag_comment(p, off);
}

static int tag_jump(parser *p, elexer *ex, size_t off, uint32_t *out)
{
    bool brk = p->src[off] == 'b';
    if (p->loop_depth == 0)
        return perr(p, off, HUB_EINVAL, "'%s' outside a for loop", brk ? "break" : "continue");
    int rc = expect_end(p, ex);
    return rc != 0 ? rc : new_node(p, brk ? N_BREAK : N_CONTINUE, off, out);
}

typedef int (*tag_fn)(parser *p, elexer *ex, size_t off, uint32_t *out);

static const struct {
    const char *name;
    tag_fn fn;
} tags[] = {
    {"if", tag_if_},           {"unless", tag_unless}, {"case", tag_case},
    {"for", tag_for},          {"assign", tag_assign}, {"capture", tag_capture},
    {"comment", tag_comment_}, {"raw", tag_raw},       {"echo", tag_output},
    {"render", tag_render},    {"break", tag_jump},    {"continue", tag_jump},
};

static int parse_tag(parser *p, const mtok *tok, endinfo *end, uint32_t *out, bool *ended)
{
    elexer ex;
    *ended = false;
    *out = NONE;
    elex_init(&ex, p->src, tok->off, tok->len);
    size_t off = ex.cur.off; /* errors about the tag point at its name */
    if (ex.cur.kind == ET_BAD && p->src[ex.cur.off] == '#')
        return 0; /* {% # inline comment %} */
    if (ex.cur.kind != ET_ID)
        return perr_tok(p, &ex, "expected a tag name");
    for (int i = 0; end->names != NULL && end->names[i] != NULL; i++) {
        if (etok_is(&ex, end->names[i])) {
            *ended = true;
            end->which = i;
            elex_next(&ex);
            end->ex = ex;
            return 0;
        }
    }
    const etok name = ex.cur;
    elex_next(&ex);
    for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
        if (name_is(p, &name, tags[i].name))
            return tags[i].fn(p, &ex, off, out);
    int n = name.len > 40 ? 40 : (int)name.len;
    if (end->opener != NULL && name.len > 3 && memcmp(p->src + name.off, "end", 3) == 0)
        return perr(p, off, HUB_EINVAL, "'%.*s' does not close '%s'", n, p->src + name.off,
                    end->opener);
    return perr(p, off, HUB_EINVAL, "unknown tag '%.*s'", n, p->src + name.off);
}

static int parse_body(parser *p, endinfo *end, uint32_t *first)
{
    uint32_t last = NONE;
    int rc = 0;
    for (;;) {
        mtok tok;
        size_t err_off;
        uint32_t n = NONE;
        bool ended = false;
        if (lex_next(&p->lx, &tok, &err_off) != 0)
            return perr(p, err_off, HUB_EINVAL, "%s was not closed",
                        p->src[err_off + 1] == '{' ? "'{{' output" : "'{%' tag");
        if (tok.kind == MT_END) {
            if (end->names == NULL)
                return 0;
            return perr(p, end->open_off, HUB_EINVAL, "'%s' tag was never closed", end->opener);
        }
        if (tok.kind == MT_TEXT) {
            uint32_t text;
            if ((rc = new_node(p, N_TEXT, tok.off, &n)) != 0 ||
                (rc = pool_add(p, p->src + tok.off, tok.len, &text)) != 0)
                return rc;
            p->t->nodes[n].a = text;
            p->t->nodes[n].b = (uint32_t)tok.len;
        } else if (tok.kind == MT_OUTPUT) {
            elexer ex;
            elex_init(&ex, p->src, tok.off, tok.len);
            rc = tag_output(p, &ex, tok.off, &n);
        } else {
            rc = parse_tag(p, &tok, end, &n, &ended);
        }
        if (rc != 0 || ended)
            return rc;
        if (n == NONE)
            continue;
        if (last == NONE)
            *first = n;
        else
            p->t->nodes[last].next = n;
        last = n;
    }
}

void hub_template_free(hub_template *t)
{
    if (t == NULL)
        return;
    free(t->pool);
    free(t->nodes);
    free(t->exprs);
    free(t->syms);
    free(t->renders);
    free(t);
}

int hub_template_compile(const char *src, size_t len, hub_template **out, hub_error *err)
{
    *out = NULL;
    if (len > MAX_SOURCE)
        return err ? hub_error_set(err, HUB_ETOOBIG, "template over %u bytes", MAX_SOURCE)
                   : HUB_ETOOBIG;
    hub_template *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return HUB_ENOMEM;
    t->root = NONE;
    t->forloop_sym = NONE;
    parser p = {.t = t, .src = src, .len = len, .err = err, .line = 1};
    p.lx.src = src;
    p.lx.len = len;
    endinfo top = {.names = NULL, .opener = NULL};
    int rc = parse_body(&p, &top, &t->root);
    if (rc == HUB_ENOMEM && err != NULL)
        hub_error_set(err, rc, "out of memory compiling a template");
    if (rc != 0) {
        hub_template_free(t);
        return rc;
    }
    for (uint32_t i = 0; i < t->nsyms; i++)
        if (strcmp(pool_str(t, t->syms[i]), "forloop") == 0)
            t->forloop_sym = i;
    *out = t;
    return 0;
}

size_t hub_template_render_count(const hub_template *t)
{
    return t->nrenders;
}

hub_slice hub_template_render_name(const hub_template *t, size_t i)
{
    return (hub_slice){t->pool + t->renders[2 * i], t->renders[2 * i + 1]};
}
