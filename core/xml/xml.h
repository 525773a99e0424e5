/*
 * xml: the only module that includes libxml2. For now it turns HTML email bodies into their
 * plain-text alternative and sanitizes HTML fragments for on-site and in-app display (XLIFF
 * comes later). Both parse with libxml2's HTML parser, network access off, errors silenced per
 * parser context, entities never expanded beyond HTML's own character references.
 *
 * Caveats first:
 * - Call hub_xml_global_init() once at start-up, before any thread exists. The functions
 *   below call it too, which is enough for single-threaded programs (tests, the CLI), but its
 *   first call must not race with another thread's.
 * - Input must be UTF-8 without NUL bytes and at most HUB_XML_MAX_INPUT bytes. libxml2 stops
 *   at 256 levels of element nesting; an input that reaches it is refused (HUB_EINVAL) rather
 *   than silently cut short.
 * - libxml2 2.9.14 checks a start tag's attributes for duplicates in quadratic time: one tag
 *   with hundreds of thousands of distinct attributes costs seconds to minutes of CPU. Callers
 *   that take HTML from untrusted sources should keep their own caps well under 4 MiB (64 KiB
 *   parses in well under a second even then).
 *
 * Thread-safety: after hub_xml_global_init(), every function is reentrant and may run on any
 * number of threads at once: each call owns its parser context and document, and nothing
 * global is changed (no xmlSetGenericErrorFunc; errors are silenced per context).
 *
 * Ownership: inputs are borrowed for the call. Output is appended to the caller's hub_buf,
 * whose cap applies (HUB_ETOOBIG). On any error the buffer is left as it was (same len, same
 * bytes) and err, when not NULL, holds a one-line message.
 */
#ifndef HUB_XML_H
#define HUB_XML_H

#include <stddef.h>

#include "base/base.h"

/* Largest HTML input either function accepts: 4 MiB. */
#define HUB_XML_MAX_INPUT ((size_t)4 << 20)

/* Initializes libxml2 (xmlInitParser). Idempotent; call once at start-up before threads. */
void hub_xml_global_init(void);

/*
 * Appends the plain-text alternative of an HTML email body to out, the way email senders
 * derive text/plain from text/html:
 * - script, style, head, title, template, noscript, object, iframe, svg, math, select and
 *   textarea are dropped with their content, and so is any element with the `hidden`
 *   attribute or an inline style of display:none (preheader tricks, tracking junk).
 *   Comments (Outlook's conditional comments included) are dropped.
 * - Runs of whitespace in text, no-break spaces included, become one space; zero-width
 *   characters (U+200B, U+2060, U+FEFF, U+034F) and soft hyphens are dropped.
 * - p, h1-h6, blockquote, pre, ul, ol, dl, figure and hr are paragraphs, separated by one
 *   blank line; div, section, article, header, footer, li, tr, table and similar start a new
 *   line; br ends the line (two br in a row make one blank line; never more than one blank
 *   line in a row). Table cells in a row are separated by a space.
 * - li gets "- " (in ul) or "N. " (in ol, from its start attribute), indented by two spaces
 *   per level of nesting; hr gives a line "---"; img gives its alt text.
 * - <a href="u">label</a> gives "label (u)"; just "label" when the label is the URL (ignoring
 *   http://, https://, mailto:, tel: and a trailing slash), or when href is empty, starts
 *   with '#' or has a scheme other than http, https, mailto and tel; just "u" when the label
 *   is empty (an image link without alt).
 * - pre keeps its spaces and line breaks.
 * - Character references are decoded; output is UTF-8, every line ends with "\n", no line
 *   ends with a space, and there are no blank lines at the start or the end. Empty or
 *   text-free input appends nothing.
 * Returns 0, HUB_ETOOBIG (input over HUB_XML_MAX_INPUT, or out's cap reached), HUB_EINVAL
 * (not UTF-8, a NUL byte, nesting over libxml2's limit) or HUB_ENOMEM.
 */
int hub_xml_html_to_text(const char *html, size_t len, hub_buf *out, hub_error *err);

/*
 * Appends a sanitized copy of an HTML fragment (what goes inside <body>) to out, keeping only
 * an allow-list, like DOMPurify or bleach with their defaults:
 * - Elements kept: a abbr b blockquote br caption cite code dd del div dl dt em figcaption
 *   figure h1 h2 h3 h4 h5 h6 hr i img ins kbd li mark ol p pre q s samp small span strong sub
 *   sup table tbody td tfoot th thead tr u ul.
 * - Elements dropped with their content: script style iframe frame frameset object embed
 *   applet param template noscript noembed noframes svg math form input button textarea
 *   select option optgroup datalist link meta base head title xmp plaintext.
 * - Any other element is unwrapped: its tags go, its content stays.
 * - Attributes kept: class id title lang dir on every kept element; a: href target rel;
 *   img: src alt width height; td, th: colspan rowspan. All others go (on* handlers, style,
 *   srcset, ...). An a with target gets rel with "noopener noreferrer" added to its tokens.
 * - href and src are kept only when, after character references are decoded and every ASCII
 *   whitespace and control character is removed, they have no scheme (relative URLs) or the
 *   scheme, case-folded, is http, https, mailto or tel. A ':' before the first '/', '?' or
 *   '#' counts as a scheme, so "javascript:", "JaVaScRiPt:", "java\tscript:", "&#106;ava..."
 *   "data:" and "vbscript:" all go.
 * - Comments, processing instructions and doctypes go.
 * Output is serialized by this module: element and attribute names in lower case, attribute
 * values in double quotes with & < > " escaped, text with & < > escaped, other characters as
 * UTF-8. Void elements (br, hr, img) have no end tag. Sanitizing the output again gives the
 * same kept elements and attributes and removes nothing.
 * removed (may be NULL) is set to the number of elements (each dropped or unwrapped element,
 * not counting its content) plus attributes removed; comments are not counted.
 * Returns 0, HUB_ETOOBIG, HUB_EINVAL or HUB_ENOMEM as hub_xml_html_to_text does.
 */
int hub_xml_sanitize_html(const char *html, size_t len, hub_buf *out, size_t *removed,
                          hub_error *err);

#endif
