/*
 * template internals shared by the lexer, parser, interpreter and filters. Not part of the
 * module's interface: only the files of core/template include it.
 *
 * The compiled form is two flat arrays: nodes (statements) and exprs (expressions), linked by
 * uint32 indices, plus one string pool. A block body is a chain of nodes through `next`.
 */
#ifndef HUB_TEMPLATE_INTERNAL_H
#define HUB_TEMPLATE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "template.h"

#define NONE UINT32_MAX

/* ---- compiled form --------------------------------------------------------------------- */

enum node_kind {
    N_TEXT,     /* a = pool offset, b = length */
    N_OUTPUT,   /* a = expr */
    N_IF,       /* a = first N_BRANCH; flags NF_NEGATE: unless */
    N_BRANCH,   /* a = condition expr or NONE (else), b = body */
    N_CASE,     /* a = subject expr, b = first N_WHEN */
    N_WHEN,     /* a = first value expr (chain) or NONE (else), b = body */
    N_FOR,      /* a = symbol, b = collection, c = body, d = else body, e = limit, f = offset */
    N_ASSIGN,   /* a = symbol, b = expr */
    N_CAPTURE,  /* a = symbol, b = body */
    N_RENDER,   /* a = name pool offset, b = name length, c = first E_KWARG, d = with expr,
                   e = alias pool offset (NONE: the name's last path segment) */
    N_BREAK,    /* no operands */
    N_CONTINUE, /* no operands */
};
#define NF_NEGATE   1u
#define NF_REVERSED 2u

typedef struct tnode {
    uint8_t kind;
    uint8_t flags;
    uint32_t line; /* for runtime error messages */
    uint32_t next;
    uint32_t a, b, c, d, e, f;
} tnode;

enum expr_kind {
    E_NIL,
    E_TRUE,
    E_FALSE,
    E_EMPTY,
    E_BLANK,
    E_INT,      /* num.i */
    E_FLOAT,    /* num.d */
    E_STR,      /* a = pool offset, b = length */
    E_RANGE,    /* a = low expr, b = high expr */
    E_VAR,      /* a = symbol, b = first segment (chain of E_KEY / E_INDEX) */
    E_KEY,      /* a = pool offset, b = length: .name or ["name"] */
    E_INDEX,    /* a = expr: [expr] */
    E_FILTERED, /* a = base expr, b = first E_FILTER */
    E_FILTER,   /* op = filter id, a = first argument (chain), b = argument count */
    E_KWARG,    /* a = pool offset of the name, b = value expr (render arguments, allow_false) */
    E_CMP,      /* op = comparison, a, b = operands (b NONE for a bare value);
                   num.i = logic operator joining the next E_CMP through `next` */
};

enum cmp_op { C_TRUTH, C_EQ, C_NE, C_LT, C_GT, C_LE, C_GE, C_CONTAINS };
enum logic_op { L_NONE, L_AND, L_OR };

typedef struct texpr {
    uint8_t kind;
    uint8_t op;
    uint32_t next;
    uint32_t a, b;
    union {
        int64_t i;
        double d;
    } num;
} texpr;

struct hub_template {
    char *pool; /* strings, each NUL-terminated */
    size_t pool_len, pool_cap;
    tnode *nodes;
    uint32_t nnodes, nodes_cap;
    texpr *exprs;
    uint32_t nexprs, exprs_cap;
    uint32_t *syms; /* pool offsets of variable names */
    uint32_t nsyms, syms_cap;
    uint32_t *renders; /* pairs: pool offset, length */
    uint32_t nrenders, renders_cap;
    uint32_t root;        /* first node of the body */
    uint32_t forloop_sym; /* NONE when the template never names forloop */
};

static inline const char *pool_str(const hub_template *t, uint32_t off)
{
    return t->pool + off;
}

/* ---- lexer ----------------------------------------------------------------------------- */

enum mtok_kind { MT_END, MT_TEXT, MT_OUTPUT, MT_TAG };

/* A markup token: text, or the inside of {{ }} / {% %} without the delimiters and dashes. */
typedef struct mtok {
    int kind;
    size_t off, len; /* into the source */
} mtok;

typedef struct lexer {
    const char *src;
    size_t len, pos;
    bool trim_next; /* the last tag ended with -%} or -}} */
} lexer;

/* Fills tok; returns 0 or HUB_EINVAL with *err_off set (unterminated tag). */
int lex_next(lexer *lx, mtok *tok, size_t *err_off);
/* After {% raw %}: the body up to {% endraw %}; 0 or HUB_EINVAL when there is no endraw. */
int lex_raw(lexer *lx, mtok *body);

/* Expression tokens inside a tag. */
enum etok_kind {
    ET_END,
    ET_ID,
    ET_INT,
    ET_FLOAT,
    ET_STR, /* off/len exclude the quotes */
    ET_DOT,
    ET_DOTDOT,
    ET_LBRACK,
    ET_RBRACK,
    ET_LPAREN,
    ET_RPAREN,
    ET_COMMA,
    ET_COLON,
    ET_PIPE,
    ET_CMP, /* op holds enum cmp_op */
    ET_BAD,
};

typedef struct etok {
    int kind;
    int op;
    size_t off, len;
} etok;

typedef struct elexer {
    const char *src;
    size_t pos, end;
    etok cur;
} elexer;

void elex_init(elexer *ex, const char *src, size_t off, size_t len);
void elex_next(elexer *ex);
bool etok_is(const elexer *ex, const char *word); /* identifier equal to word */

/* 1-based line and column (in characters) of a source offset. */
void src_position(const char *src, size_t len, size_t off, unsigned *line, unsigned *col);

/* ---- runtime values -------------------------------------------------------------------- */

enum vkind {
    V_NIL,
    V_FALSE,
    V_TRUE,
    V_INT,
    V_FLOAT,
    V_STR,
    V_JSON,
    V_ARR,
    V_RANGE,
    V_LOOP,
    V_EMPTY,
    V_BLANK,
    V_UNSET
};

struct loopframe;

typedef struct val {
    uint8_t k;
    uint8_t safe; /* already HTML-safe: went through raw or escape */
    union {
        int64_t i;
        double d;
        struct {
            const char *p;
            size_t n;
        } s;
        const json_t *j; /* an array or an object */
        struct {
            const struct val *items;
            size_t n;
        } arr;
        struct {
            int64_t lo, hi;
        } r;
        const struct loopframe *loop;
    };
} val;

typedef struct loopframe {
    size_t index0, length;
    val parent; /* the forloop value outside this loop */
} loopframe;

/* Working memory: a chain of blocks, the first one on the render's stack. */
typedef struct ablock {
    struct ablock *prev;
    size_t used, size;
    bool heap;
    char *data;
} ablock;

typedef struct amark {
    ablock *block;
    size_t used, mem;
} amark;

/* State shared by a render and the blocks it renders. */
typedef struct rstate {
    hub_buf *out;
    size_t out_start;
    ablock *arena;
    size_t mem_used;
    const hub_template_options *opts;
    hub_template_limits lim;
    uint64_t steps, iters;
    unsigned depth;
    int64_t now_ms;
    int alloc_err; /* why the last arena_alloc failed */
    hub_error *err;
} rstate;

/* One template's activation: its variables and locals. */
typedef struct rctx {
    rstate *st;
    const hub_template *t;
    const json_t *vars;
    val *locals;   /* nsyms entries, V_UNSET when not assigned */
    uint32_t line; /* of the node running, for error messages */
    int jump;      /* JUMP_BREAK or JUMP_CONTINUE pending */
} rctx;

enum { JUMP_NONE, JUMP_BREAK, JUMP_CONTINUE };

/* NULL when over max_memory or out of memory; then rt_nomem reports it. */
void *arena_alloc(rstate *st, size_t n);
int rt_nomem(rctx *c);
amark arena_mark(rstate *st);
void arena_release(rstate *st, amark m);

int rt_error(rctx *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int rt_step(rctx *c, uint64_t n);

/* Values (value.c). */
val v_nil(void);
val v_int(int64_t i);
val v_float(double d);
val v_bool(bool b);
val v_str(const char *p, size_t n);
val v_from_json(const json_t *j);
bool v_truthy(const val *v);
bool v_is_number(const val *v);
double v_to_double(const val *v);
/* A double to an integer, clamped to +-2^53 (NaN is 0): never undefined behaviour. */
int64_t d_to_i64(double d);
/* Numeric coercion for arithmetic: strings parse as numbers, others are 0. */
val v_to_number(const val *v);
/* Count for size/default/empty: items of arrays and objects, characters of strings. */
size_t v_size(const val *v);
bool v_is_empty(const val *v);
size_t v_len(const val *v); /* item count of an array-like value, 0 otherwise */
val v_item(rctx *c, const val *v, size_t i);
/* The string form of a scalar; arrays and objects use the arena. 0 or an error code. */
int v_to_str(rctx *c, const val *v, const char **p, size_t *n);
int v_write(rctx *c, const val *v, bool escape);
int out_append(rctx *c, const char *p, size_t n);
int out_escaped(rctx *c, const char *p, size_t n);
bool v_equal(rctx *c, const val *a, const val *b);
int v_compare(rctx *c, int op, const val *a, const val *b, bool *res);
int v_lookup(rctx *c, const val *base, const val *key, val *out);
size_t utf8_count(const char *p, size_t n);
size_t utf8_prefix(const char *p, size_t n, size_t chars); /* bytes of the first chars */
void format_double(double d, char *buf, size_t cap);

/* Statements (render.c, loop.c). */
int exec_body(rctx *c, uint32_t first);
int exec_template(rctx *c);
int exec_for(rctx *c, const tnode *n);
int exec_render(rctx *c, const tnode *n);

/* Expressions and filters. */
int eval_expr(rctx *c, uint32_t e, val *out);
int eval_cond(rctx *c, uint32_t e, bool *out);

typedef int (*filter_fn)(rctx *c, val *v, const val *args, size_t nargs);
typedef struct filter_def {
    const char *name;
    uint8_t min_args, max_args;
    filter_fn fn;
} filter_def;
/* The filter table; returns NULL when there is no such filter. */
const filter_def *filter_find(const char *name, size_t len, unsigned *id);
const filter_def *filter_get(unsigned id);
int filter_date(rctx *c, val *v, const val *args, size_t nargs);

/* Strings built in working memory. */
typedef struct sbuf {
    rctx *c;
    char *p;
    size_t n, cap;
} sbuf;
int sb_init(sbuf *b, rctx *c, size_t cap_hint);
int sb_add(sbuf *b, const char *p, size_t n);
val sb_val(sbuf *b);

/* ---- parser (parse.c for tags, pexpr.c for expressions) -------------------------------- */

typedef struct parser {
    hub_template *t;
    const char *src;
    size_t len;
    lexer lx;
    hub_error *err;
    unsigned depth, loop_depth, edepth;
    size_t line_off; /* line counting is incremental: offsets only grow */
    uint32_t line;
} parser;

int perr(parser *p, size_t off, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int perr_tok(parser *p, const elexer *ex, const char *what);
uint32_t line_at(parser *p, size_t off);
int pool_add(parser *p, const char *s, size_t n, uint32_t *off);
int new_expr(parser *p, int kind, uint32_t *out);
int sym_intern(parser *p, const char *s, size_t n, uint32_t *out);
/* Expressions: a value (literal, range or variable path), a value with filters, a condition. */
int parse_value(parser *p, elexer *ex, uint32_t *out);
int parse_filtered(parser *p, elexer *ex, uint32_t *out);
int parse_cond(parser *p, elexer *ex, uint32_t *out);
int expect_end(parser *p, elexer *ex);

#endif
