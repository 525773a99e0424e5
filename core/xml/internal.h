/*
 * Shared by the files of the xml module only (not part of its API): parsing an HTML input
 * with the checks both public functions make, a tree walk that does not recurse, the URL
 * scheme check, and what the XLIFF writer (xliff.c), parser (xliff_parse.c) and reader
 * (xliff_read.c) share.
 */
#ifndef HUB_XML_INTERNAL_H
#define HUB_XML_INTERNAL_H

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>

#include "xml/xml.h"

/*
 * Checks the input (size, NUL bytes, UTF-8) and parses it with the HTML parser. With
 * fragment set, the input is parsed as the content of <body>. On success *out is a new
 * document (xmlFreeDoc it) or NULL when the input holds nothing at all.
 */
int xml_parse_html(const char *html, size_t len, int fragment, xmlDoc **out, hub_error *err);

/*
 * Visits `first` and its following siblings depth-first without recursion. enter returns
 * <0 to stop with that code, 0 to skip the node's children (leave is not called), >0 to
 * visit them; leave is then called after the last child.
 */
typedef struct xml_visitor {
    int (*enter)(void *ctx, xmlNode *node);
    int (*leave)(void *ctx, xmlNode *node);
} xml_visitor;
int xml_walk(xmlNode *first, const xml_visitor *v, void *ctx);

/* 1 when node is an element named `name` (lower case, ASCII case-insensitive match). */
int xml_is(const xmlNode *node, const char *name);

/* The attribute `name` of an element, or NULL. */
xmlAttr *xml_attr(const xmlNode *node, const char *name);

/* Replaces b's contents with the text of attribute a (its text children, joined). */
int xml_attr_text(const xmlAttr *a, hub_buf *b);

/* 1 when a URL may be kept: no scheme, or http, https, mailto, tel (see xml.h). */
int xml_url_allowed(const char *v, size_t len);

/* ---- XLIFF ---- */

#define XML_XLIFF_NS_20 "urn:oasis:names:tc:xliff:document:2.0"
#define XML_XLIFF_NS_12 "urn:oasis:names:tc:xliff:document:1.2"

/* Makes a message one line of valid UTF-8 in place: control characters become spaces, bytes
 * that are not UTF-8 (a sequence cut by truncation) become '?', trailing spaces go. */
void xml_clean_message(char *m);

/*
 * Parses an XLIFF input with the guards xliff_parse.c describes. On success *out is a new
 * document (xmlFreeDoc it); on failure err says why (codes as hub_xliff_parse).
 */
int xml_xliff_parse_tree(const char *data, size_t len, xmlDoc **out, hub_error *err);

/* Sets *dup to an id two of the units share (borrowed from units), or NULL. 0 or ENOMEM. */
int xml_duplicate_unit(const hub_xliff_unit *units, size_t n, const char **dup);

#endif
