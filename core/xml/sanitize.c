/*
 * The HTML fragment sanitizer: parse with libxml2, then write the tree back out ourselves,
 * keeping only allow-listed elements and attributes. Writing our own serializer (instead of
 * dumping libxml2 nodes) keeps every byte of the output under this file's control: names come
 * from the allow-list, never from the input, and every text and attribute value is escaped, so
 * what a browser parses is exactly the tree that was checked.
 */
#include <string.h>

#include "xml/internal.h"

static const char *const kept[] = {
    "a",     "abbr",  "b",  "blockquote", "br",         "caption", "cite", "code",   "dd",   "del",
    "div",   "dl",    "dt", "em",         "figcaption", "figure",  "h1",   "h2",     "h3",   "h4",
    "h5",    "h6",    "hr", "i",          "img",        "ins",     "kbd",  "li",     "mark", "ol",
    "p",     "pre",   "q",  "s",          "samp",       "small",   "span", "strong", "sub",  "sup",
    "table", "tbody", "td", "tfoot",      "th",         "thead",   "tr",   "u",      "ul"};

static const char *const dropped[] = {
    "script", "style",    "iframe",   "frame",   "frameset", "object",   "embed",    "applet",
    "param",  "template", "noscript", "noembed", "noframes", "svg",      "math",     "form",
    "input",  "button",   "textarea", "select",  "option",   "optgroup", "datalist", "link",
    "meta",   "base",     "head",     "title",   "xmp",      "plaintext"};

/* Returns the allow-list's spelling of name, or NULL. */
static const char *find(const char *const *list, size_t n, const xmlChar *name)
{
    for (size_t i = 0; i < n; i++) {
        if (xmlStrcasecmp(name, (const xmlChar *)list[i]) == 0)
            return list[i];
    }
    return NULL;
}

#define FIND(list, name) find(list, sizeof(list) / sizeof(list[0]), name)

static int is_void(const char *name)
{
    return strcmp(name, "br") == 0 || strcmp(name, "hr") == 0 || strcmp(name, "img") == 0;
}

/* The allow-list's spelling of attribute `attr` on element `elem`, or NULL. */
static const char *attr_allowed(const char *elem, const xmlChar *attr)
{
    static const char *const global[] = {"class", "id", "title", "lang", "dir"};
    static const char *const a[] = {"href", "target", "rel"};
    static const char *const img[] = {"src", "alt", "width", "height"};
    static const char *const cell[] = {"colspan", "rowspan"};
    const char *name = FIND(global, attr);
    if (name == NULL && strcmp(elem, "a") == 0)
        name = FIND(a, attr);
    if (name == NULL && strcmp(elem, "img") == 0)
        name = FIND(img, attr);
    if (name == NULL && (strcmp(elem, "td") == 0 || strcmp(elem, "th") == 0))
        name = FIND(cell, attr);
    return name;
}

typedef struct san_state {
    hub_buf *out;
    size_t removed;
    hub_buf val; /* scratch: one attribute value */
    hub_buf rel; /* scratch: the rel value of an <a target> */
} san_state;

static int put_attr(hub_buf *out, const char *name, const char *value, size_t len)
{
    int rc = hub_buf_append_byte(out, ' ');
    if (rc == 0)
        rc = hub_buf_append_str(out, name);
    if (rc == 0)
        rc = hub_buf_append(out, "=\"", 2);
    if (rc == 0)
        rc = hub_buf_append_html(out, value, len, 1);
    if (rc == 0)
        rc = hub_buf_append_byte(out, '"');
    return rc;
}

/* 1 when the whitespace-separated list `list` holds `token` (ASCII case-insensitive). */
static int has_token(const char *list, const char *token)
{
    size_t n = strlen(token);
    const char *p = list;
    while (*p != '\0') {
        while (*p != '\0' && (unsigned char)*p <= 0x20)
            p++;
        const char *w = p;
        while (*p != '\0' && (unsigned char)*p > 0x20)
            p++;
        if ((size_t)(p - w) == n &&
            xmlStrncasecmp((const xmlChar *)w, (const xmlChar *)token, (int)n) == 0)
            return 1;
    }
    return 0;
}

/* rel for an <a> with target: its own tokens, then noopener and noreferrer if missing. */
static int put_rel(san_state *st, const xmlNode *node)
{
    hub_buf *rel = &st->rel;
    hub_buf_reset(rel);
    int rc = hub_buf_append(rel, "", 0);
    xmlAttr *a = xml_attr(node, "rel");
    if (rc == 0 && a != NULL) {
        rc = xml_attr_text(a, &st->val);
        if (rc == 0)
            rc = hub_buf_append(rel, st->val.data, st->val.len);
    }
    static const char *const need[] = {"noopener", "noreferrer"};
    for (size_t i = 0; i < 2 && rc == 0; i++) {
        if (has_token(rel->data, need[i]))
            continue;
        if (rel->len > 0)
            rc = hub_buf_append_byte(rel, ' ');
        if (rc == 0)
            rc = hub_buf_append_str(rel, need[i]);
    }
    return rc != 0 ? rc : put_attr(st->out, "rel", rel->data, rel->len);
}

static int put_start_tag(san_state *st, const xmlNode *node, const char *name)
{
    int rc = hub_buf_append_byte(st->out, '<');
    if (rc == 0)
        rc = hub_buf_append_str(st->out, name);
    int is_a = strcmp(name, "a") == 0;
    int targeted = is_a && xml_attr(node, "target") != NULL;
    for (const xmlAttr *a = node->properties; a != NULL && rc == 0; a = a->next) {
        const char *an = a->name != NULL ? attr_allowed(name, a->name) : NULL;
        if (an == NULL) {
            st->removed++;
            continue;
        }
        if (targeted && strcmp(an, "rel") == 0)
            continue; /* written by put_rel below */
        rc = xml_attr_text(a, &st->val);
        if (rc != 0)
            break;
        if ((strcmp(an, "href") == 0 || strcmp(an, "src") == 0) &&
            !xml_url_allowed(st->val.data, st->val.len)) {
            st->removed++;
            continue;
        }
        rc = put_attr(st->out, an, st->val.data, st->val.len);
    }
    if (rc == 0 && targeted)
        rc = put_rel(st, node);
    if (rc == 0)
        rc = hub_buf_append_byte(st->out, '>');
    return rc;
}

static int san_enter(void *ctx, xmlNode *node)
{
    san_state *st = ctx;
    if (node->type == XML_TEXT_NODE || node->type == XML_CDATA_SECTION_NODE) {
        if (node->content == NULL)
            return 0;
        const char *s = (const char *)node->content;
        return hub_buf_append_html(st->out, s, strlen(s), 0);
    }
    if (node->type != XML_ELEMENT_NODE || node->name == NULL)
        return 0; /* comments, processing instructions, doctypes */
    if (xml_is(node, "html") || xml_is(node, "body"))
        return 1; /* the wrapper the fragment was parsed in */
    if (FIND(dropped, node->name) != NULL) {
        st->removed++;
        return 0;
    }
    const char *name = FIND(kept, node->name);
    if (name == NULL) {
        st->removed++;
        return 1; /* unwrapped: its content stays */
    }
    int rc = put_start_tag(st, node, name);
    if (rc != 0)
        return rc;
    return is_void(name) ? 0 : 1;
}

static int san_leave(void *ctx, xmlNode *node)
{
    san_state *st = ctx;
    const char *name = FIND(kept, node->name);
    if (name == NULL || is_void(name))
        return 0;
    int rc = hub_buf_append(st->out, "</", 2);
    if (rc == 0)
        rc = hub_buf_append_str(st->out, name);
    if (rc == 0)
        rc = hub_buf_append_byte(st->out, '>');
    return rc;
}

int hub_xml_sanitize_html(const char *html, size_t len, hub_buf *out, size_t *removed,
                          hub_error *err)
{
    if (removed != NULL)
        *removed = 0;
    xmlDoc *doc = NULL;
    int rc = xml_parse_html(html, len, 1, &doc, err);
    if (rc != 0 || doc == NULL)
        return rc;
    san_state st = {.out = out};
    size_t start = out->len;
    hub_buf_init(&st.val, HUB_XML_MAX_INPUT);
    hub_buf_init(&st.rel, HUB_XML_MAX_INPUT + 32);
    static const xml_visitor visitor = {san_enter, san_leave};
    rc = xml_walk(doc->children, &visitor, &st);
    if (rc != 0) {
        out->len = start;
        if (out->data != NULL)
            out->data[out->len] = '\0';
        if (rc == HUB_ETOOBIG)
            hub_error_set(err, rc, "sanitized HTML is over the output cap of %zu bytes", out->cap);
        else
            hub_error_set(err, rc, "out of memory sanitizing HTML");
    } else if (removed != NULL) {
        *removed = st.removed;
    }
    hub_buf_free(&st.val);
    hub_buf_free(&st.rel);
    xmlFreeDoc(doc);
    return rc;
}
