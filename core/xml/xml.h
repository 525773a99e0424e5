/*
 * xml: the only module that includes libxml2. It turns HTML email bodies into their
 * plain-text alternative, sanitizes HTML fragments for on-site and in-app display (both with
 * libxml2's HTML parser, network access off, errors silenced per parser context, entities
 * never expanded beyond HTML's own character references), and writes and reads XLIFF 2.0 and
 * 1.2 translation documents (libxml2's XML writer and parser, see "XLIFF" below).
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

/* ---- XLIFF (xliff.c, xliff_parse.c, xliff_read.c) ---------------------------------------- */
/*
 * A neutral model of a translation document: files (one per content item), each holding
 * units (one per string field), each unit's text a sequence of parts where inline codes
 * (Liquid tags, HTML tags) are kept apart from the translatable text. The meaning of ids and
 * codes belongs to the caller (core/translation); this module only writes and reads them.
 *
 * Writing (hub_xliff_write) uses libxml2's xmlTextWriter, never string concatenation.
 * - 2.0 (urn:oasis:names:tc:xliff:document:2.0): <xliff version="2.0" srcLang trgLang>,
 *   <file id="f<n>" original="<original>"> (n from 1), optional file <notes><note>, then per
 *   unit <unit id="<id>" oh:checksum="<checksum>" xml:space="preserve"> with <notes><note>
 *   per note (no category), <originalData> holding one <data id="d<k>"> per code part (the
 *   code's original text; k counts code parts from 1 through the source, then the target, so
 *   an OPEN and its CLOSE each have one), and one <segment state="initial"> ("translated"
 *   when the unit has a target) with <source> and <target>. A standalone code is
 *   <ph id="<id>" dataRef="d<k>" disp="<text>"/>, a pair is <pc id="<id>" dataRefStart="d<k>"
 *   dataRefEnd="d<k of its CLOSE>" dispStart="<OPEN text>" dispEnd="<CLOSE text>">..</pc>.
 * - 1.2 (urn:oasis:names:tc:xliff:document:1.2): <xliff version="1.2">, <file
 *   original="<original>" source-language target-language datatype="plaintext">, the file
 *   note as <header><note from="omnihub">, <body>, per unit <trans-unit id="<id>"
 *   oh:checksum resname="<id>" xml:space="preserve">, <source>, <target>, then
 *   <note from="omnihub"> per note. A standalone code is <x id="<id>" ctype="x-<type>"
 *   equiv-text="<text>"/>, a pair <g id="<id>" ctype="x-<type>">..</g> (the pair's texts are
 *   not written: <g> has no place for them). ctype is left out when type is NULL or "".
 * - oh is the namespace "urn:omnihub:xliff:1"; oh:checksum is left out when checksum is NULL.
 *   Targets are written only when a unit has one (unit->target != NULL; never for fresh
 *   exports). Output is UTF-8 with an XML declaration, indented by two spaces, except inside
 *   <source> and <target>, whose whitespace is text and is written exactly.
 * - Refused (HUB_EINVAL, err naming the file, unit and part): a string that is not UTF-8 or
 *   holds characters XML 1.0 cannot carry (NUL and other C0 controls except tab, newline and
 *   carriage return; U+FFFE, U+FFFF); a code part without text; OPEN and CLOSE parts that do
 *   not nest (a CLOSE whose id is not that of the innermost open OPEN, crossing pairs, an
 *   OPEN never closed, an id opened again inside itself) or nest more than 32 deep; a missing
 *   language, original or unit id; two units of a file with one id; in 2.0 a unit id that is
 *   not an XML NMTOKEN (letters, digits, '.', '-', '_', ':'; no spaces or '/').
 *
 * Reading (hub_xliff_parse) is safe against hostile input:
 * - at most HUB_XLIFF_MAX_INPUT bytes of UTF-8 (a UTF-8 BOM is fine; UTF-16, UTF-32 and EBCDIC
 *   are refused, and the encoding declaration is ignored, so nothing is ever transcoded); no
 *   network (XML_PARSE_NONET); no DTD loading, no entity substitution, never XML_PARSE_HUGE;
 *   any DOCTYPE (XLIFF has none; a DTD can declare or point to entities) is refused as soon
 *   as the parser sees it, so billion-laughs and external entities never expand and no file
 *   or URL is opened; XInclude is never processed; element nesting deeper than
 *   HUB_XLIFF_MAX_DEPTH, more than 256 attributes on one element and more than 128 namespace
 *   declarations in scope are refused (libxml2 2.9.14 spends quadratic time on the latter
 *   two); libxml2's own limits stay in force (10,000,000 bytes for one text node, tag,
 *   comment or CDATA section, 50,000 for a name); errors are collected per parser context
 *   (nothing global is changed). Namespace errors (an undeclared prefix) are malformed XML.
 * - Cost, measured on a 16 MiB input: 2 to 4 s of CPU and up to 60 times the input in memory
 *   (1 GB when it is nothing but inline codes; 250 MB for 15 MB of plain units), most of it
 *   libxml2's tree. Callers taking uploads should limit how many parses run at once.
 * - The root must be <xliff> in the 2.0 namespace with version "2.0" or "2.1", or in the 1.2
 *   namespace with version "1.2"; anything else (translate-toolkit's default 1.1 namespace
 *   included) is refused with a message naming what was found. Elements of other namespaces
 *   outside of inline content are skipped with all they contain (XLIFF allows extensions);
 *   unknown XLIFF elements are skipped too. 2.0 groups and 1.2 groups nest; their units
 *   belong to the file.
 * - Per unit, source and target become parts: text (character references decoded, CDATA
 *   kept, adjacent text merged into one part), and codes. 2.0: <ph id> is CODE, <pc id> is
 *   OPEN + content + CLOSE (same id), <sc id> is OPEN and <ec startRef> (or <ec id>, isolated)
 *   its CLOSE, <mrk> is unwrapped, <sm>/<em> are ignored, <cp hex> is its character (a cp
 *   that XML 1.0 text cannot hold, such as U+0001, makes the unit invalid). A unit's segments
 *   and ignorables are joined in document order (source with source, target with target; an
 *   ignorable without target contributes its source to the target). 1.2: <x id> is CODE,
 *   <bx> is OPEN and <ex> CLOSE (paired by rid, or id when there is no rid), <g id> is
 *   OPEN + content + CLOSE, <mrk> is unwrapped, and <ph>, <bpt>, <ept>, <it> (which carry the
 *   native code as their content, <sub> included) become text holding that native code. When
 *   <seg-source> is present the source comes from it; <alt-trans> is not read. Code ids must
 *   be decimal numbers up to UINT_MAX. Read parts may not nest properly (2.0 sc/ec may cross;
 *   an ec or ex may be isolated): the writer refuses those.
 * - A unit is invalid (unit->error says why in one line; its parts may be incomplete) when it
 *   has an element inside source or target other than those above (another namespace
 *   included, e.g. <xi:include>), a code without id or with a non-numeric id, no source (2.0:
 *   no segment, or a segment or ignorable without source), two sources or targets in one
 *   segment or trans-unit, or (2.0) a target in some segments but not in others. The other
 *   units still read.
 * - has_target is 1 when the unit has target text: 1.2, the target holds a part other than
 *   whitespace-only text; 2.0, every segment's target does (ignorables do not count). States
 *   (1.2 state, 2.0 segment state) are not consulted. target is NULL unless has_target.
 * - Document problems fail the whole parse with HUB_EINVAL: no source or target language
 *   (2.0 srcLang/trgLang; 1.2 source-language/target-language on every file), a file without
 *   original, a unit without id (or an empty one), two units of a file with one id. For 1.2
 *   the document's srclang/trglang are those of its first file (NULL without files); each
 *   file has its own.
 */

#define HUB_XLIFF_MAX_INPUT  ((size_t)16 << 20) /* 16 MiB */
#define HUB_XLIFF_MAX_DEPTH  64                 /* element nesting, root included */
#define HUB_XLIFF_NS_OMNIHUB "urn:omnihub:xliff:1"

typedef enum hub_xliff_version { HUB_XLIFF_2 = 20, HUB_XLIFF_12 = 12 } hub_xliff_version;

typedef enum hub_xliff_part_kind {
    HUB_XLIFF_TEXT,  /* translatable text (or, when read, native code text of 1.2 ph/bpt..) */
    HUB_XLIFF_CODE,  /* a standalone inline code: 2.0 <ph>, 1.2 <x> */
    HUB_XLIFF_OPEN,  /* the start of a paired code: 2.0 <pc>/<sc>, 1.2 <g>/<bx> */
    HUB_XLIFF_CLOSE, /* the end of the pair opened with the same id */
} hub_xliff_part_kind;

typedef struct hub_xliff_part {
    hub_xliff_part_kind kind;
    unsigned id;      /* codes: the code's id (1, 2, ...); an OPEN and its CLOSE share it */
    const char *text; /* TEXT: the text; codes when writing: the original code text (data,
                         disp, equiv-text), required; codes when read: NULL */
    size_t len;
    const char *type; /* codes when writing: a short type such as "liquid" or "html" (1.2
                         ctype "x-<type>"); NULL otherwise */
} hub_xliff_part;

typedef struct hub_xliff_unit {
    const char *id;           /* unique within its file; 2.0 needs an NMTOKEN */
    const char *checksum;     /* written as oh:checksum; read: NULL when the unit has none */
    const char *const *notes; /* writing: nnotes one-line notes; read: unused (NULL) */
    size_t nnotes;
    hub_xliff_part *source;
    size_t nsource;
    hub_xliff_part *target; /* NULL when there is no target */
    size_t ntarget;
    int has_target;    /* read: the unit has target text (then target != NULL) */
    const char *error; /* read: why this unit cannot be used (NULL: fine) */
} hub_xliff_unit;

typedef struct hub_xliff_file {
    const char *original; /* the item key */
    const char *srclang;  /* read: the file's (1.2) or document's (2.0) languages; writing:
                             unused (doc's are written) */
    const char *trglang;
    const char *note; /* writing: NULL or a note on the file (the item title) */
    hub_xliff_unit *units;
    size_t nunits;
} hub_xliff_file;

typedef struct hub_xliff_doc {
    hub_xliff_version version;
    const char *srclang;
    const char *trglang;
    hub_xliff_file *files;
    size_t nfiles;
    void *priv_; /* read: what hub_xliff_doc_free releases */
} hub_xliff_doc;

/*
 * Appends doc as an XLIFF document of doc->version to out (its cap applies: HUB_ETOOBIG).
 * doc is borrowed; file->srclang/trglang, unit->has_target and unit->error are not used.
 * Returns 0, HUB_EINVAL (see "Refused" above; an unknown doc->version too), HUB_ETOOBIG or
 * HUB_ENOMEM. On error out is left as it was and err says why.
 */
int hub_xliff_write(const hub_xliff_doc *doc, hub_buf *out, hub_error *err);

/*
 * Parses an XLIFF 2.0 or 1.2 document into *out (free with hub_xliff_doc_free; every string
 * and array belongs to it and stays valid until then; text parts are NUL-terminated at len,
 * read codes have text and type NULL, notes are not read). Errors, with one line of UTF-8 in
 * err and *out left empty: HUB_ETOOBIG (over HUB_XLIFF_MAX_INPUT), HUB_EBADREQ ("line N:
 * <libxml2's message>": not well-formed XML, not UTF-8, over one of libxml2's own limits),
 * HUB_EINVAL (well-formed but refused: a DOCTYPE, nesting deeper than HUB_XLIFF_MAX_DEPTH,
 * too many attributes or namespace declarations, not XLIFF 1.2 or 2.0, or a document problem
 * listed above), HUB_ENOMEM.
 */
int hub_xliff_parse(const char *data, size_t len, hub_xliff_doc *out, hub_error *err);

/* Releases what hub_xliff_parse gave doc and empties it. NULL-safe, and harmless on an empty
 * doc; only for documents from hub_xliff_parse (a doc built for writing owns nothing here). */
void hub_xliff_doc_free(hub_xliff_doc *doc);

#endif
