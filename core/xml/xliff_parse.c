/*
 * The guarded parse of an XLIFF input (xliff_read.c turns the tree into the model). Hostile
 * input is stopped in three places:
 * - before libxml2 sees it: the size cap, UTF-8 only (the encoding declaration is ignored, so
 *   no iconv decoder runs and no encoding trick hides markup from the next check), and a cap
 *   on attributes per start tag (libxml2 2.9.14 checks a tag's attributes for duplicates in
 *   quadratic time: 40,000 attributes cost 2 s, a few MB of them would cost an hour);
 * - while parsing, through SAX callbacks set on this call's own parser context: a DOCTYPE or
 *   any declaration stops the parser at once (so no entity is ever declared, let alone
 *   expanded or fetched), and so does nesting deeper than HUB_XLIFF_MAX_DEPTH or more than
 *   MAX_NS_IN_SCOPE namespace declarations in scope (prefix lookups are linear); the first
 *   error is recorded there too (a structured handler on the context, nothing global);
 * - on the tree: entity reference nodes are refused outright.
 * The input goes to a push parser in chunks, see push_all for why.
 */
#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "xml/internal.h"

#define MAX_TAG_ATTRS 256
#define PUSH_CHUNK    (256 * 1024) /* input fed to libxml2 at a time */
/* libxml2 looks prefixes up through every declaration in scope, for every element and
 * attribute: 62 levels of 250 declarations made 1.3 MB of <z:a/> take 10 s. */
#define MAX_NS_IN_SCOPE 128

/* ---- checks before parsing --------------------------------------------------------------- */

/* Index just past the first `end` at or after i, or n. */
static size_t skip_past(const char *s, size_t n, size_t i, const char *end)
{
    const char *p = memmem(s + i, n - i, end, strlen(end));
    return p != NULL ? (size_t)(p - s) + strlen(end) : n;
}

static int at(const char *s, size_t n, size_t i, const char *lit)
{
    size_t k = strlen(lit);
    return n - i >= k && memcmp(s + i, lit, k) == 0;
}

/*
 * 1 when a start tag has more than MAX_TAG_ATTRS attributes. Counts each '=' outside quoted
 * values between '<' and '>' (every attribute has exactly one), skipping comments, CDATA
 * sections and processing instructions. Where the input is not well-formed the count may err
 * high, never low for a tag libxml2 would accept.
 */
static int too_many_attributes(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const char *lt = memchr(s + i, '<', n - i);
        if (lt == NULL)
            return 0;
        i = (size_t)(lt - s) + 1;
        if (at(s, n, i, "!--"))
            i = skip_past(s, n, i, "-->");
        else if (at(s, n, i, "![CDATA["))
            i = skip_past(s, n, i, "]]>");
        else if (at(s, n, i, "?"))
            i = skip_past(s, n, i, "?>");
        if (i >= n || s[i - 1] == '>' || s[i] == '/' || s[i] == '!')
            continue;
        size_t eq = 0;
        char quote = 0, last = 0;
        for (; i < n && (quote != 0 || s[i] != '>'); i++) {
            char c = s[i];
            if (quote != 0) {
                quote = c == quote ? 0 : quote;
            } else if ((c == '"' || c == '\'') && last == '=') {
                quote = c;
            } else if (c == '=' && ++eq > MAX_TAG_ATTRS) {
                return 1;
            }
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
                last = c;
        }
    }
    return 0;
}

/*
 * The encoding the first bytes announce when it is not UTF-8, or NULL. libxml2 would switch
 * to it (UTF-16, UCS-4, EBCDIC through iconv), and the attribute count above reads bytes as
 * ASCII, so only UTF-8 goes on; the encoding declaration is ignored (XML_PARSE_IGNORE_ENC).
 */
static const char *other_encoding(const unsigned char *u, size_t len)
{
    xmlCharEncoding enc = xmlDetectCharEncoding(u, len < 4 ? (int)len : 4);
    if (enc != XML_CHAR_ENCODING_NONE && enc != XML_CHAR_ENCODING_UTF8) {
        const char *name = xmlGetCharEncodingName(enc);
        return name != NULL ? name : "another encoding";
    }
    if (len >= 2 && (u[0] == 0 || u[1] == 0))
        return "UTF-16 or UTF-32";
    return NULL;
}

/*
 * Offset of the first byte that does not start a well-formed UTF-8 sequence, or len. libxml2
 * checks this itself, except in CDATA sections read by its push parser, which 2.9.14 copies
 * unchecked; so the whole input is checked here.
 */
static size_t utf8_end(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        if (k > len - i || !hub_utf8_valid(s + i, k))
            return i;
        i += k;
    }
    return len;
}

static size_t line_of(const char *s, size_t off)
{
    size_t line = 1;
    for (const char *p = s; (p = memchr(p, '\n', (size_t)(s + off - p))) != NULL; p++)
        line++;
    return line;
}

static int check_input(const char *data, size_t len, hub_error *err)
{
    if (len > HUB_XLIFF_MAX_INPUT)
        return hub_error_set(err, HUB_ETOOBIG, "XLIFF is %zu bytes, over the limit of %zu", len,
                             HUB_XLIFF_MAX_INPUT);
    if (len == 0)
        return hub_error_set(err, HUB_EBADREQ, "line 1: Document is empty");
    const char *other = other_encoding((const unsigned char *)data, len);
    if (other != NULL)
        return hub_error_set(err, HUB_EBADREQ, "line 1: XLIFF must be UTF-8; this looks like %s",
                             other);
    size_t bad = utf8_end(data, len);
    if (bad < len)
        return hub_error_set(err, HUB_EBADREQ, "line %zu: not valid UTF-8 (byte 0x%02X)",
                             line_of(data, bad), (unsigned char)data[bad]);
    if (too_many_attributes(data, len))
        return hub_error_set(err, HUB_EINVAL, "an element has more than %d attributes",
                             MAX_TAG_ATTRS);
    return 0;
}

/* ---- the guarded parse ------------------------------------------------------------------- */

/* What the SAX callbacks of one parse record (ctxt->_private). */
typedef struct guard {
    int refused; /* the parser was stopped on purpose: why holds the reason */
    char why[200];
    int depth;
    int ns_at[HUB_XLIFF_MAX_DEPTH + 1]; /* namespace declarations of each open element */
    int ns_total;                       /* declarations in scope */
    int failed; /* an error of level ERROR or FATAL was seen: the first one */
    int code;
    int line;
    char msg[200];
} guard;

static void refuse(void *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void refuse(void *ctx, const char *fmt, ...)
{
    xmlParserCtxtPtr ctxt = ctx;
    guard *g = ctxt->_private;
    if (!g->refused) {
        char what[160];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        g->refused = 1;
        snprintf(g->why, sizeof(g->why), "line %d: %s", xmlSAX2GetLineNumber(ctx), what);
    }
    xmlStopParser(ctxt);
}

static void on_doctype(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
    refuse(ctx, "refused <!DOCTYPE %.40s>: XLIFF has no DTD, and a DTD can declare entities",
           name != NULL ? (const char *)name : "");
}

static void on_entity(void *ctx, const xmlChar *name, int type, const xmlChar *pub,
                      const xmlChar *sys, xmlChar *content)
{
    refuse(ctx, "refused a DTD declaring the entity %.40s", (const char *)name);
}

static void on_element_decl(void *ctx, const xmlChar *name, int type, xmlElementContentPtr c)
{
    refuse(ctx, "refused a DTD declaring elements");
}

static void on_attr_decl(void *ctx, const xmlChar *elem, const xmlChar *name, int type, int def,
                         const xmlChar *value, xmlEnumerationPtr tree)
{
    xmlFreeEnumeration(tree); /* the handler owns it */
    refuse(ctx, "refused a DTD declaring attributes");
}

static void on_notation(void *ctx, const xmlChar *name, const xmlChar *pub, const xmlChar *sys)
{
    refuse(ctx, "refused a DTD declaring notations");
}

static void on_unparsed(void *ctx, const xmlChar *name, const xmlChar *pub, const xmlChar *sys,
                        const xmlChar *notation)
{
    refuse(ctx, "refused a DTD declaring the entity %.40s", (const char *)name);
}

static xmlParserInputPtr on_resolve(void *ctx, const xmlChar *pub, const xmlChar *sys)
{
    refuse(ctx, "refused to load an external entity");
    return NULL;
}

static void on_start(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
                     int nb_ns, const xmlChar **ns, int nb_attrs, int nb_defaulted,
                     const xmlChar **attrs)
{
    guard *g = ((xmlParserCtxtPtr)ctx)->_private;
    if (++g->depth > HUB_XLIFF_MAX_DEPTH) {
        refuse(ctx, "elements nest deeper than %d", HUB_XLIFF_MAX_DEPTH);
        return;
    }
    g->ns_at[g->depth] = nb_ns;
    g->ns_total += nb_ns;
    if (g->ns_total > MAX_NS_IN_SCOPE) {
        refuse(ctx, "more than %d namespace declarations in scope", MAX_NS_IN_SCOPE);
        return;
    }
    xmlSAX2StartElementNs(ctx, localname, prefix, uri, nb_ns, ns, nb_attrs, nb_defaulted, attrs);
}

static void on_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
    guard *g = ((xmlParserCtxtPtr)ctx)->_private;
    g->ns_total -= g->ns_at[g->depth];
    g->depth--;
    xmlSAX2EndElementNs(ctx, localname, prefix, uri);
}

static void on_error(void *ctx, xmlErrorPtr e)
{
    guard *g = ((xmlParserCtxtPtr)ctx)->_private;
    if (e == NULL || e->level < XML_ERR_ERROR || g->failed)
        return;
    g->failed = 1;
    g->code = e->code;
    g->line = e->line;
    snprintf(g->msg, sizeof(g->msg), "%s", e->message != NULL ? e->message : "not well-formed");
}

static void guard_install(xmlSAXHandler *sax)
{
    sax->internalSubset = on_doctype;
    sax->externalSubset = on_doctype;
    sax->entityDecl = on_entity;
    sax->elementDecl = on_element_decl;
    sax->attributeDecl = on_attr_decl;
    sax->notationDecl = on_notation;
    sax->unparsedEntityDecl = on_unparsed;
    sax->resolveEntity = on_resolve;
    sax->startElementNs = on_start;
    sax->endElementNs = on_end;
    sax->serror = on_error;
}

/* Entity reference nodes cannot survive the guard; refuse them should one appear anyway. */
static int no_entity_ref(void *ctx, xmlNode *n)
{
    int bad = n->type == XML_ENTITY_REF_NODE;
    for (xmlAttr *a = n->type == XML_ELEMENT_NODE ? n->properties : NULL; a && !bad; a = a->next) {
        for (xmlNode *c = a->children; c != NULL && !bad; c = c->next)
            bad = c->type != XML_TEXT_NODE;
    }
    if (bad)
        *(const xmlNode **)ctx = n;
    return bad ? HUB_EINVAL : 1;
}

static int no_leave(void *ctx, xmlNode *n)
{
    return 0;
}

/* libxml2's words for its size limits, which read like internal errors, made plain. */
static const char *explain(const char *msg)
{
    if (strstr(msg, "Huge input lookup") != NULL)
        return "a tag, comment or CDATA section is over libxml2's limit of 10000000 bytes";
    if (strstr(msg, "huge text node") != NULL) /* reported as out of memory */
        return "a text is over libxml2's limit of 10000000 bytes";
    return msg;
}

static int parse_result(xmlParserCtxtPtr ctxt, const guard *g, xmlDoc *doc, hub_error *err)
{
    int rc = 0;
    if (g->refused)
        rc = hub_error_set(err, HUB_EINVAL, "%s", g->why);
    else if (g->failed && g->code == XML_ERR_NO_MEMORY && strstr(g->msg, "huge") == NULL)
        rc = hub_error_set(err, HUB_ENOMEM, "out of memory parsing XLIFF");
    else if (g->failed)
        rc = hub_error_set(err, HUB_EBADREQ, "line %d: %s", g->line, explain(g->msg));
    else if (doc == NULL || !ctxt->wellFormed)
        rc = hub_error_set(err, HUB_EBADREQ, "line %d: not well-formed XML", ctxt->lastError.line);
    if (rc == 0) {
        static const xml_visitor v = {no_entity_ref, no_leave};
        const xmlNode *bad = NULL;
        if (xml_walk(doc->children, &v, &bad) != 0)
            rc = hub_error_set(err, HUB_EINVAL, "line %ld: an entity reference was left unresolved",
                               xmlGetLineNo(bad));
    }
    if (rc != 0 && err != NULL)
        xml_clean_message(err->message);
    return rc;
}

/* Not to be fed again: stopped by a callback, or halted on a fatal error. */
static int parser_done(xmlParserCtxtPtr ctxt)
{
    return ctxt->disableSAX || ctxt->instate == XML_PARSER_EOF;
}

/*
 * Feeds the input in chunks cut at character boundaries. A push parser drops what it has
 * consumed as it goes; the memory parser of libxml2 2.9.14 keeps it all and stops with "Huge
 * input lookup" once it is 10,000,000 bytes into a document (sooner or later depending on the
 * shape: 15 MB of 1 KB texts fail, 15 MB of 100-byte texts do not).
 */
static void push_all(xmlParserCtxtPtr ctxt, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len && !parser_done(ctxt)) {
        size_t n = len - off < PUSH_CHUNK ? len - off : PUSH_CHUNK;
        size_t whole = off + n < len ? hub_utf8_back(data + off, n) : n;
        if (whole > 0)
            n = whole; /* never split a UTF-8 sequence (unless it is no UTF-8 at all) */
        xmlParseChunk(ctxt, data + off, (int)n, 0);
        off += n;
    }
    if (!parser_done(ctxt))
        xmlParseChunk(ctxt, NULL, 0, 1);
}

int xml_xliff_parse_tree(const char *data, size_t len, xmlDoc **out, hub_error *err)
{
    *out = NULL;
    int rc = check_input(data, len, err);
    if (rc != 0)
        return rc;
    hub_xml_global_init();
    xmlParserCtxtPtr ctxt = xmlCreatePushParserCtxt(NULL, NULL, NULL, 0, NULL);
    if (ctxt == NULL || ctxt->sax == NULL) {
        xmlFreeParserCtxt(ctxt);
        return hub_error_set(err, HUB_ENOMEM, "out of memory parsing XLIFF");
    }
    /* never NOENT, DTDLOAD, DTDATTR, DTDVALID, XINCLUDE or HUGE */
    xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                                XML_PARSE_IGNORE_ENC);
    guard g;
    memset(&g, 0, sizeof(g));
    ctxt->_private = &g;
    guard_install(ctxt->sax);
    push_all(ctxt, data, len);
    xmlDoc *doc = ctxt->myDoc;
    ctxt->myDoc = NULL;
    rc = parse_result(ctxt, &g, doc, err);
    xmlFreeParserCtxt(ctxt);
    if (rc != 0) {
        xmlFreeDoc(doc);
        return rc;
    }
    *out = doc;
    return 0;
}
