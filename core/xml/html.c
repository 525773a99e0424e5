/*
 * HTML input for the xml module: the checks and the parse both public functions share, a
 * tree walk without recursion, the URL scheme check, and HTML email body to plain text.
 *
 * The text conversion keeps a little state while it walks the tree: the whitespace and line
 * breaks it owes (written only when more text follows, which is what trims trailing spaces
 * and blank lines), the open lists (for "- " and "N. " prefixes), the open links (to append
 * "(url)" after the label) and the depth inside <pre>.
 */
#include <stdio.h>
#include <string.h>

#include "xml/internal.h"

/* ---- shared with sanitize.c ------------------------------------------------------------ */

void hub_xml_global_init(void)
{
    xmlInitParser();
}

int xml_is(const xmlNode *node, const char *name)
{
    if (node->type != XML_ELEMENT_NODE || node->name == NULL)
        return 0;
    return xmlStrcasecmp(node->name, (const xmlChar *)name) == 0;
}

xmlAttr *xml_attr(const xmlNode *node, const char *name)
{
    for (xmlAttr *a = node->properties; a != NULL; a = a->next) {
        if (a->name != NULL && xmlStrcasecmp(a->name, (const xmlChar *)name) == 0)
            return a;
    }
    return NULL;
}

int xml_attr_text(const xmlAttr *a, hub_buf *b)
{
    hub_buf_reset(b);
    int rc = hub_buf_append(b, "", 0); /* data is never NULL afterwards */
    for (const xmlNode *c = a->children; c != NULL && rc == 0; c = c->next) {
        if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
            rc = hub_buf_append_str(b, (const char *)c->content);
    }
    return rc;
}

static int ascii_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

int xml_url_allowed(const char *v, size_t len)
{
    static const char *const schemes[] = {"http", "https", "mailto", "tel"};
    char scheme[8];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c <= 0x20 || c == 0x7f)
            continue; /* browsers ignore some of these inside a scheme; drop them all */
        if (c == '/' || c == '?' || c == '#')
            return 1; /* relative: no scheme before the path, query or fragment */
        if (c == ':') {
            for (size_t k = 0; k < sizeof(schemes) / sizeof(schemes[0]); k++) {
                if (strlen(schemes[k]) == n && memcmp(schemes[k], scheme, n) == 0)
                    return 1;
            }
            return 0;
        }
        if (n == sizeof(scheme))
            n = sizeof(scheme) + 1; /* too long for an allowed scheme; keep looking for ':' */
        else if (n < sizeof(scheme))
            scheme[n++] = (char)ascii_lower(c);
    }
    return 1;
}

static const char fragment_prefix[] = "<html><body>";

/*
 * libxml2 2.9.14 checks a tag's attributes for duplicates in quadratic time: one tag with
 * 140k attributes in 1 MB takes 45 s. Publishing runs the sanitizer on the writer thread, so
 * a tag with more than MAX_TAG_ATTRS attribute-like tokens is refused before parsing. The
 * count errs high (every whitespace-separated token and every '=' outside a quoted value
 * counts), which only matters for a tag no real page has.
 */
#define MAX_TAG_ATTRS 1000

static int too_many_attributes(const char *s, size_t len)
{
    size_t tokens = 0;
    int in_tag = 0, gap = 0;
    char quote = 0, last = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!in_tag) {
            in_tag =
                c == '<' && i + 1 < len && ((s[i + 1] | 0x20) >= 'a' && (s[i + 1] | 0x20) <= 'z');
            tokens = 0;
            gap = 0;
            continue;
        }
        if (quote != 0) {
            quote = c == quote ? 0 : quote;
            continue;
        }
        if (c == '>') {
            in_tag = 0;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
            gap = 1;
            continue;
        } else if ((c == '"' || c == '\'') && last == '=') {
            quote = c;
        } else if (c == '=' || gap) {
            tokens++;
        }
        gap = 0;
        last = c;
        if (tokens > MAX_TAG_ATTRS)
            return 1;
    }
    return 0;
}

int xml_parse_html(const char *html, size_t len, int fragment, xmlDoc **out, hub_error *err)
{
    *out = NULL;
    if (len > HUB_XML_MAX_INPUT)
        return hub_error_set(err, HUB_ETOOBIG, "HTML is %zu bytes, over the limit of %zu", len,
                             HUB_XML_MAX_INPUT);
    if (len > 0 && memchr(html, 0, len) != NULL)
        return hub_error_set(err, HUB_EINVAL, "HTML contains a NUL byte");
    if (!hub_utf8_valid(html, len))
        return hub_error_set(err, HUB_EINVAL, "HTML is not valid UTF-8");
    if (too_many_attributes(html, len))
        return hub_error_set(err, HUB_EINVAL, "HTML has a tag with more than %d attributes",
                             MAX_TAG_ATTRS);
    if (len == 0)
        return 0;
    hub_xml_global_init();

    hub_buf src;
    hub_buf_init(&src, HUB_XML_MAX_INPUT + sizeof(fragment_prefix));
    const char *text = html;
    size_t text_len = len;
    if (fragment) {
        if (hub_buf_append_str(&src, fragment_prefix) != 0 ||
            hub_buf_append(&src, html, len) != 0) {
            hub_buf_free(&src);
            return hub_error_set(err, HUB_ENOMEM, "out of memory parsing HTML");
        }
        text = src.data;
        text_len = src.len;
    }
    htmlParserCtxtPtr ctxt = htmlNewParserCtxt();
    if (ctxt == NULL) {
        hub_buf_free(&src);
        return hub_error_set(err, HUB_ENOMEM, "out of memory parsing HTML");
    }
    int opts = HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
               HTML_PARSE_IGNORE_ENC | HTML_PARSE_NODEFDTD;
    xmlDoc *doc = htmlCtxtReadMemory(ctxt, text, (int)text_len, NULL, "UTF-8", opts);
    int rc = 0;
    if (ctxt->errNo == XML_ERR_NO_MEMORY) {
        rc = hub_error_set(err, HUB_ENOMEM, "out of memory parsing HTML");
    } else if (ctxt->disableSAX) {
        /* libxml2 halts (and drops the rest) when elements nest deeper than 256 */
        rc = hub_error_set(err, HUB_EINVAL, "HTML nests elements more than 256 deep");
    }
    htmlFreeParserCtxt(ctxt);
    hub_buf_free(&src);
    if (rc != 0) {
        xmlFreeDoc(doc);
        return rc;
    }
    *out = doc;
    return 0;
}

int xml_walk(xmlNode *first, const xml_visitor *v, void *ctx)
{
    if (first == NULL)
        return 0;
    xmlNode *top = first->parent;
    xmlNode *n = first;
    for (;;) {
        int rc = v->enter(ctx, n);
        if (rc < 0)
            return rc;
        if (rc > 0) {
            if (n->children != NULL) {
                n = n->children;
                continue;
            }
            rc = v->leave(ctx, n);
            if (rc < 0)
                return rc;
        }
        while (n->next == NULL) {
            n = n->parent;
            if (n == top || n == NULL)
                return 0;
            rc = v->leave(ctx, n);
            if (rc < 0)
                return rc;
        }
        n = n->next;
    }
}

/* ---- HTML to text ---------------------------------------------------------------------- */

#define LIST_MAX   32
#define ANCHOR_MAX 16

typedef struct text_state {
    hub_buf *out;
    size_t start;                   /* out->len when the call began */
    size_t line_start;              /* offset in out of the current line */
    int nl;                         /* line breaks owed before the next text */
    int space;                      /* a space owed before the next text on this line */
    int pre;                        /* depth inside <pre> */
    int pre_start;                  /* at the start of a <pre>: its first newline is not content */
    char prefix[LIST_MAX * 2 + 16]; /* list item marker owed at the start of the next line */
    size_t prefix_len;
    struct {
        int ordered;
        long next;
    } lists[LIST_MAX];
    int nlists;                 /* open lists, may exceed LIST_MAX (deeper ones count as ul) */
    size_t anchors[ANCHOR_MAX]; /* offset in out where each open link's label starts */
    int nanchors;               /* open links, may exceed ANCHOR_MAX (deeper ones ignored) */
    hub_buf attr;               /* scratch for attribute values */
} text_state;

typedef enum { K_INLINE, K_DROP, K_LINE, K_PARA } elem_kind;

static elem_kind text_kind(const xmlNode *node)
{
    static const char *const drop[] = {"script", "style",  "head", "title", "template", "noscript",
                                       "object", "iframe", "svg",  "math",  "select",   "textarea"};
    static const char *const para[] = {"p",          "h1",  "h2", "h3", "h4", "h5",    "h6",
                                       "blockquote", "pre", "ul", "ol", "dl", "figure"};
    static const char *const line[] = {
        "div",     "section", "article",  "header", "footer",  "main",    "nav",     "aside",
        "address", "li",      "dt",       "dd",     "tr",      "table",   "caption", "figcaption",
        "center",  "form",    "fieldset", "legend", "details", "summary", "hgroup"};
    const char *name = (const char *)node->name;
    for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++) {
        if (strcmp(name, drop[i]) == 0)
            return K_DROP;
    }
    for (size_t i = 0; i < sizeof(para) / sizeof(para[0]); i++) {
        if (strcmp(name, para[i]) == 0)
            return K_PARA;
    }
    for (size_t i = 0; i < sizeof(line) / sizeof(line[0]); i++) {
        if (strcmp(name, line[i]) == 0)
            return K_LINE;
    }
    return K_INLINE;
}

/* Hidden from the reader: the hidden attribute or an inline display:none. */
static int is_hidden(text_state *st, const xmlNode *node)
{
    if (xml_attr(node, "hidden") != NULL)
        return 1;
    xmlAttr *style = xml_attr(node, "style");
    if (style == NULL || xml_attr_text(style, &st->attr) != 0)
        return 0;
    char norm[16];
    size_t n = 0;
    for (const char *p = st->attr.data; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20)
            continue;
        if (c == ';') {
            n = 0;
            continue;
        }
        if (n < sizeof(norm) - 1)
            norm[n++] = (char)ascii_lower(c);
        norm[n] = '\0';
        if (n == 12 && memcmp(norm, "display:none", 12) == 0)
            return 1;
    }
    return 0;
}

static void request_break(text_state *st, int n)
{
    if (n > 1 && st->nlists > 0)
        n = 1; /* paragraphs inside list items do not open blank lines between items */
    if (st->nl < n)
        st->nl = n;
}

static void trim_line_end(text_state *st)
{
    hub_buf *b = st->out;
    while (b->len > st->line_start && (b->data[b->len - 1] == ' ' || b->data[b->len - 1] == '\t'))
        b->len--;
    if (b->data != NULL)
        b->data[b->len] = '\0';
}

/* Writes what is owed (line breaks, a space, a list marker) before text. */
static int flush(text_state *st)
{
    hub_buf *b = st->out;
    int rc = 0;
    if (b->len == st->start) {
        st->nl = 0;
        st->space = 0;
    }
    if (st->nl > 0) {
        trim_line_end(st); /* may leave nothing: blank lines do not lead the text */
        for (int i = 0; i < st->nl && rc == 0 && b->len > st->start; i++)
            rc = hub_buf_append_byte(b, '\n');
        st->line_start = b->len;
        st->nl = 0;
        st->space = 0;
    }
    if (rc == 0 && st->space && b->len > st->line_start)
        rc = hub_buf_append_byte(b, ' ');
    st->space = 0;
    if (rc == 0 && st->prefix_len > 0) {
        rc = hub_buf_append(b, st->prefix, st->prefix_len);
        st->prefix_len = 0;
    }
    return rc;
}

static int put(text_state *st, const char *s, size_t n)
{
    int rc = flush(st);
    return rc != 0 ? rc : hub_buf_append(st->out, s, n);
}

/* Length of a whitespace (n > 0, *drop 0) or zero-width (n > 0, *drop 1) character at s. */
static size_t space_at(const unsigned char *s, size_t avail, int *drop)
{
    *drop = 0;
    if (s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r' || s[0] == '\f' || s[0] == '\v')
        return 1;
    if (avail >= 2 && s[0] == 0xC2 && s[1] == 0xA0)
        return 2; /* U+00A0 no-break space */
    if (avail >= 2 && ((s[0] == 0xC2 && s[1] == 0xAD) || (s[0] == 0xCD && s[1] == 0x8F))) {
        *drop = 1; /* U+00AD soft hyphen, U+034F combining grapheme joiner */
        return 2;
    }
    if (avail >= 3 && s[0] == 0xE2 && s[1] == 0x80 && (s[2] >= 0x80 && s[2] <= 0x8A))
        return 3; /* U+2000..U+200A */
    if (avail >= 3 && s[0] == 0xE2 && s[1] == 0x80 && s[2] == 0x8B) {
        *drop = 1; /* U+200B zero-width space */
        return 3;
    }
    if (avail >= 3 && s[0] == 0xE2 && s[1] == 0x81 && s[2] == 0xA0) {
        *drop = 1; /* U+2060 word joiner */
        return 3;
    }
    if (avail >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF) {
        *drop = 1; /* U+FEFF */
        return 3;
    }
    if (avail >= 3 && ((s[0] == 0xE2 && s[1] == 0x80 && s[2] == 0xAF) ||
                       (s[0] == 0xE2 && s[1] == 0x81 && s[2] == 0x9F) ||
                       (s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x80)))
        return 3; /* U+202F, U+205F, U+3000 */
    return 0;
}

/* Text outside <pre>: whitespace runs become one owed space, the rest is written. */
static int text_flow(text_state *st, const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t len = strlen(text);
    size_t i = 0;
    while (i < len) {
        int drop;
        size_t k = space_at(s + i, len - i, &drop);
        if (k > 0) {
            if (!drop)
                st->space = 1;
            i += k;
            continue;
        }
        if (s[i] < 0x20 || s[i] == 0x7f) { /* a stray control character is not text */
            i++;
            continue;
        }
        size_t j = i + 1;
        while (j < len && s[j] >= 0x20 && s[j] != 0x7f && space_at(s + j, len - j, &drop) == 0)
            j++;
        int rc = put(st, text + i, j - i);
        if (rc != 0)
            return rc;
        i = j;
    }
    return 0;
}

/* Text inside <pre>: kept as is, line breaks included (CR LF and CR become LF). */
static int text_pre(text_state *st, const char *text)
{
    size_t len = strlen(text);
    size_t i = 0;
    if (st->pre_start && len > 0 && text[0] == '\n')
        i = 1; /* like browsers: a newline right after <pre> is not content */
    if (st->pre_start && len > 1 && text[0] == '\r' && text[1] == '\n')
        i = 2;
    st->pre_start = 0;
    while (i < len) {
        if (text[i] == '\r' || text[i] == '\n') {
            i += (text[i] == '\r' && i + 1 < len && text[i + 1] == '\n') ? 2 : 1;
            if (st->out->len > st->start)
                st->nl++;
            continue;
        }
        size_t j = i;
        while (j < len && text[j] != '\r' && text[j] != '\n')
            j++;
        int rc = put(st, text + i, j - i);
        if (rc != 0)
            return rc;
        i = j;
    }
    return 0;
}

static long list_start(text_state *st, const xmlNode *node)
{
    xmlAttr *a = xml_attr(node, "start");
    if (a == NULL || xml_attr_text(a, &st->attr) != 0)
        return 1;
    const char *p = st->attr.data;
    while (*p == ' ')
        p++;
    int neg = *p == '-';
    if (neg)
        p++;
    long v = 0;
    if (*p < '0' || *p > '9')
        return 1;
    for (; *p >= '0' && *p <= '9' && v < 1000000000L; p++)
        v = v * 10 + (*p - '0');
    return neg ? -v : v;
}

static void list_item(text_state *st)
{
    request_break(st, 1);
    int level = st->nlists > 0 ? st->nlists - 1 : 0;
    size_t n = 0;
    for (int i = 0; i < level && i < LIST_MAX; i++) {
        st->prefix[n++] = ' ';
        st->prefix[n++] = ' ';
    }
    if (st->nlists > 0 && st->nlists <= LIST_MAX && st->lists[st->nlists - 1].ordered) {
        int k = snprintf(st->prefix + n, sizeof(st->prefix) - n, "%ld. ",
                         st->lists[st->nlists - 1].next++);
        n += k > 0 ? (size_t)k : 0;
    } else {
        st->prefix[n++] = '-';
        st->prefix[n++] = ' ';
    }
    st->prefix_len = n;
}

/* Trims ASCII whitespace from both ends of [*s, *s + *n). */
static void trim(const char **s, size_t *n)
{
    while (*n > 0 && (unsigned char)(*s)[0] <= 0x20) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && (unsigned char)(*s)[*n - 1] <= 0x20)
        (*n)--;
}

/* Drops a scheme a reader does not see (http://, https://, mailto:, tel:), a trailing '/'. */
static void url_core(const char **s, size_t *n)
{
    static const char *const prefixes[] = {"https://", "http://", "mailto:", "tel:"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t k = strlen(prefixes[i]);
        if (*n >= k &&
            xmlStrncasecmp((const xmlChar *)*s, (const xmlChar *)prefixes[i], (int)k) == 0) {
            *s += k;
            *n -= k;
            break;
        }
    }
    if (*n > 0 && (*s)[*n - 1] == '/')
        (*n)--;
}

static int same_target(const char *label, size_t label_len, const char *url, size_t url_len)
{
    url_core(&label, &label_len);
    url_core(&url, &url_len);
    return label_len == url_len &&
           xmlStrncasecmp((const xmlChar *)label, (const xmlChar *)url, (int)url_len) == 0;
}

/* At </a>: "label (url)", or "url" for an empty label, or nothing when the URL adds nothing. */
static int link_end(text_state *st, const xmlNode *node, size_t label_start)
{
    xmlAttr *a = xml_attr(node, "href");
    if (a == NULL)
        return 0;
    int rc = xml_attr_text(a, &st->attr);
    if (rc != 0)
        return rc;
    size_t url_len = 0; /* browsers drop tabs and line breaks inside URLs; drop all controls */
    for (size_t i = 0; i < st->attr.len; i++) {
        unsigned char c = (unsigned char)st->attr.data[i];
        if (c >= 0x20 && c != 0x7f)
            st->attr.data[url_len++] = (char)c;
    }
    const char *url = st->attr.data;
    trim(&url, &url_len);
    if (url_len == 0 || url[0] == '#' || !xml_url_allowed(url, url_len))
        return 0;
    if (label_start > st->out->len)
        label_start = st->out->len;
    const char *label = st->out->data != NULL ? st->out->data + label_start : "";
    size_t label_len = st->out->len - label_start;
    trim(&label, &label_len);
    if (label_len == 0)
        return put(st, url, url_len);
    if (memchr(label, '\n', label_len) == NULL && same_target(label, label_len, url, url_len))
        return 0;
    st->space = 1;
    rc = put(st, "(", 1);
    if (rc == 0)
        rc = hub_buf_append(st->out, url, url_len);
    if (rc == 0)
        rc = hub_buf_append_byte(st->out, ')');
    return rc;
}

static int text_enter(void *ctx, xmlNode *node)
{
    text_state *st = ctx;
    if (node->type == XML_TEXT_NODE || node->type == XML_CDATA_SECTION_NODE) {
        if (node->content == NULL)
            return 0;
        return st->pre > 0 ? text_pre(st, (const char *)node->content)
                           : text_flow(st, (const char *)node->content);
    }
    if (node->type != XML_ELEMENT_NODE || node->name == NULL)
        return 0;
    elem_kind kind = text_kind(node);
    if (kind == K_DROP || is_hidden(st, node))
        return 0;
    if (xml_is(node, "br")) {
        st->nl = st->nl < 2 ? st->nl + 1 : 2;
        return 0;
    }
    if (xml_is(node, "hr")) {
        request_break(st, 2);
        int rc = put(st, "---", 3);
        request_break(st, 2);
        return rc;
    }
    if (xml_is(node, "img")) {
        xmlAttr *alt = xml_attr(node, "alt");
        if (alt == NULL)
            return 0;
        int rc = xml_attr_text(alt, &st->attr);
        return rc != 0 ? rc : text_flow(st, st->attr.data);
    }
    if (xml_is(node, "li")) {
        list_item(st);
        return 1;
    }
    if (xml_is(node, "ul") || xml_is(node, "ol")) {
        request_break(st, 2);
        if (st->nlists < LIST_MAX) {
            st->lists[st->nlists].ordered = xml_is(node, "ol");
            st->lists[st->nlists].next = list_start(st, node);
        }
        st->nlists++;
        return 1;
    }
    if (xml_is(node, "a")) {
        if (st->nanchors < ANCHOR_MAX)
            st->anchors[st->nanchors] = st->out->len;
        st->nanchors++;
        return 1;
    }
    if (xml_is(node, "td") || xml_is(node, "th")) {
        st->space = 1;
        return 1;
    }
    if (xml_is(node, "pre")) {
        st->pre++;
        st->pre_start = 1;
    }
    request_break(st, kind == K_PARA ? 2 : kind == K_LINE ? 1 : 0);
    return 1;
}

static int text_leave(void *ctx, xmlNode *node)
{
    text_state *st = ctx;
    if (xml_is(node, "ul") || xml_is(node, "ol")) {
        st->nlists--;
        request_break(st, 2);
    } else if (xml_is(node, "li")) {
        st->prefix_len = 0; /* an empty item writes nothing */
        request_break(st, 1);
    } else if (xml_is(node, "a")) {
        st->nanchors--;
        if (st->nanchors < ANCHOR_MAX)
            return link_end(st, node, st->anchors[st->nanchors]);
    } else if (xml_is(node, "td") || xml_is(node, "th")) {
        st->space = 1;
    } else {
        if (xml_is(node, "pre")) {
            st->pre--;
            st->pre_start = 0;
        }
        elem_kind kind = text_kind(node);
        request_break(st, kind == K_PARA ? 2 : kind == K_LINE ? 1 : 0);
    }
    return 0;
}

int hub_xml_html_to_text(const char *html, size_t len, hub_buf *out, hub_error *err)
{
    xmlDoc *doc = NULL;
    int rc = xml_parse_html(html, len, 0, &doc, err);
    if (rc != 0 || doc == NULL)
        return rc;
    text_state st = {.out = out, .start = out->len, .line_start = out->len};
    hub_buf_init(&st.attr, HUB_XML_MAX_INPUT);
    static const xml_visitor visitor = {text_enter, text_leave};
    rc = xml_walk(doc->children, &visitor, &st);
    if (rc == 0) {
        trim_line_end(&st);
        if (out->len > st.start)
            rc = hub_buf_append_byte(out, '\n');
    }
    if (rc != 0) {
        out->len = st.start;
        if (out->data != NULL)
            out->data[out->len] = '\0';
        if (rc == HUB_ETOOBIG)
            hub_error_set(err, rc, "plain text is over the output cap of %zu bytes", out->cap);
        else
            hub_error_set(err, rc, "out of memory converting HTML to text");
    }
    hub_buf_free(&st.attr);
    xmlFreeDoc(doc);
    return rc;
}
