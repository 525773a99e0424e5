/*
 * Liquid lexing, in two layers: the markup lexer splits the source into text, {{ output }}
 * and {% tag %} tokens and applies whitespace control ({%- -%}, {{- -}}); the expression
 * lexer splits the inside of one tag into identifiers, literals and punctuation.
 */
#include <string.h>

#include "internal.h"

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

/* The offset of the next "{{" or "{%" at or after pos, or len. */
static size_t find_open(const char *s, size_t len, size_t pos)
{
    while (pos + 1 < len) {
        const char *p = memchr(s + pos, '{', len - pos - 1);
        if (p == NULL)
            return len;
        pos = (size_t)(p - s);
        if (s[pos + 1] == '{' || s[pos + 1] == '%')
            return pos;
        pos++;
    }
    return len;
}

static size_t find_close(const char *s, size_t len, size_t pos, char first)
{
    while (pos + 1 < len) {
        const char *p = memchr(s + pos, first, len - pos - 1);
        if (p == NULL)
            return len;
        pos = (size_t)(p - s);
        if (s[pos + 1] == '}')
            return pos;
        pos++;
    }
    return len;
}

int lex_next(lexer *lx, mtok *tok, size_t *err_off)
{
    for (;;) {
        if (lx->pos >= lx->len) {
            tok->kind = MT_END;
            tok->off = lx->len;
            tok->len = 0;
            return 0;
        }
        size_t open = find_open(lx->src, lx->len, lx->pos);
        if (open > lx->pos) {
            size_t a = lx->pos, b = open;
            if (lx->trim_next)
                while (a < b && is_space(lx->src[a]))
                    a++;
            if (open + 2 < lx->len && lx->src[open + 2] == '-')
                while (b > a && is_space(lx->src[b - 1]))
                    b--;
            lx->trim_next = false;
            lx->pos = open;
            if (b > a) {
                tok->kind = MT_TEXT;
                tok->off = a;
                tok->len = b - a;
                return 0;
            }
            continue;
        }
        bool output = lx->src[open + 1] == '{';
        size_t inner = open + 2;
        if (inner < lx->len && lx->src[inner] == '-')
            inner++;
        size_t close = find_close(lx->src, lx->len, inner, output ? '}' : '%');
        if (close >= lx->len) {
            *err_off = open;
            return HUB_EINVAL;
        }
        size_t end = close;
        lx->trim_next = false;
        if (end > inner && lx->src[end - 1] == '-') {
            end--;
            lx->trim_next = true;
        }
        lx->pos = close + 2;
        tok->kind = output ? MT_OUTPUT : MT_TAG;
        tok->off = inner;
        tok->len = end - inner;
        return 0;
    }
}

/* Does s[pos..] hold "{%[-] endraw [-]%}"? Sets *end past it and the dash flags. */
static bool match_endraw(const char *s, size_t len, size_t pos, size_t *end, bool *ltrim,
                         bool *rtrim)
{
    size_t i = pos + 2;
    *ltrim = i < len && s[i] == '-';
    if (*ltrim)
        i++;
    while (i < len && is_space(s[i]))
        i++;
    if (len - i < 6 || memcmp(s + i, "endraw", 6) != 0)
        return false;
    i += 6;
    while (i < len && is_space(s[i]))
        i++;
    *rtrim = i < len && s[i] == '-';
    if (*rtrim)
        i++;
    if (len - i < 2 || s[i] != '%' || s[i + 1] != '}')
        return false;
    *end = i + 2;
    return true;
}

int lex_raw(lexer *lx, mtok *body)
{
    size_t a = lx->pos, pos = lx->pos;
    if (lx->trim_next)
        while (a < lx->len && is_space(lx->src[a]))
            a++;
    for (;;) {
        pos = find_open(lx->src, lx->len, pos);
        if (pos >= lx->len)
            return HUB_EINVAL;
        size_t end;
        bool ltrim, rtrim;
        if (lx->src[pos + 1] == '%' && match_endraw(lx->src, lx->len, pos, &end, &ltrim, &rtrim)) {
            size_t b = pos < a ? a : pos;
            if (ltrim)
                while (b > a && is_space(lx->src[b - 1]))
                    b--;
            body->kind = MT_TEXT;
            body->off = a;
            body->len = b - a;
            lx->pos = end;
            lx->trim_next = rtrim;
            return 0;
        }
        pos += 2;
    }
}

/* ---- expressions ----------------------------------------------------------------------- */

void elex_init(elexer *ex, const char *src, size_t off, size_t len)
{
    ex->src = src;
    ex->pos = off;
    ex->end = off + len;
    elex_next(ex);
}

static bool is_id_start(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static void lex_number(elexer *ex, etok *t)
{
    const char *s = ex->src;
    size_t i = ex->pos;
    if (s[i] == '-')
        i++;
    while (i < ex->end && is_digit(s[i]))
        i++;
    t->kind = ET_INT;
    if (i + 1 < ex->end && s[i] == '.' && is_digit(s[i + 1])) {
        i++;
        while (i < ex->end && is_digit(s[i]))
            i++;
        t->kind = ET_FLOAT;
    }
    t->len = i - ex->pos;
    ex->pos = i;
}

static bool lex_punct(elexer *ex, etok *t)
{
    static const struct {
        const char *text;
        int kind, op;
    } punct[] = {
        {"..", ET_DOTDOT, 0}, {"==", ET_CMP, C_EQ}, {"!=", ET_CMP, C_NE}, {"<>", ET_CMP, C_NE},
        {"<=", ET_CMP, C_LE}, {">=", ET_CMP, C_GE}, {"<", ET_CMP, C_LT},  {">", ET_CMP, C_GT},
        {".", ET_DOT, 0},     {"[", ET_LBRACK, 0},  {"]", ET_RBRACK, 0},  {"(", ET_LPAREN, 0},
        {")", ET_RPAREN, 0},  {",", ET_COMMA, 0},   {":", ET_COLON, 0},   {"|", ET_PIPE, 0},
    };
    for (size_t i = 0; i < sizeof(punct) / sizeof(punct[0]); i++) {
        size_t n = strlen(punct[i].text);
        if (ex->end - ex->pos >= n && memcmp(ex->src + ex->pos, punct[i].text, n) == 0) {
            t->kind = punct[i].kind;
            t->op = punct[i].op;
            t->len = n;
            ex->pos += n;
            return true;
        }
    }
    return false;
}

void elex_next(elexer *ex)
{
    etok *t = &ex->cur;
    const char *s = ex->src;
    while (ex->pos < ex->end && is_space(s[ex->pos]))
        ex->pos++;
    t->off = ex->pos;
    t->len = 0;
    t->op = 0;
    if (ex->pos >= ex->end) {
        t->kind = ET_END;
        return;
    }
    char ch = s[ex->pos];
    if (is_id_start(ch)) {
        size_t i = ex->pos + 1;
        while (i < ex->end && (is_id_start(s[i]) || is_digit(s[i]) || s[i] == '-'))
            i++;
        if (i < ex->end && s[i] == '?')
            i++;
        t->kind = ET_ID;
        t->len = i - ex->pos;
        ex->pos = i;
    } else if (is_digit(ch) || (ch == '-' && ex->pos + 1 < ex->end && is_digit(s[ex->pos + 1]))) {
        lex_number(ex, t);
    } else if (ch == '\'' || ch == '"') {
        const char *q = memchr(s + ex->pos + 1, ch, ex->end - ex->pos - 1);
        if (q == NULL) {
            t->kind = ET_BAD;
            return;
        }
        t->kind = ET_STR;
        t->off = ex->pos + 1;
        t->len = (size_t)(q - s) - t->off;
        ex->pos = (size_t)(q - s) + 1;
    } else if (!lex_punct(ex, t)) {
        t->kind = ET_BAD;
    }
}

bool etok_is(const elexer *ex, const char *word)
{
    size_t n = strlen(word);
    return ex->cur.kind == ET_ID && ex->cur.len == n && memcmp(ex->src + ex->cur.off, word, n) == 0;
}

void src_position(const char *src, size_t len, size_t off, unsigned *line, unsigned *col)
{
    unsigned l = 1, c = 1;
    if (off > len)
        off = len;
    for (size_t i = 0; i < off; i++) {
        if (src[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)src[i] & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}
