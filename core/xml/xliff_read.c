/*
 * XLIFF reader: the tree of an XLIFF 2.0 or 1.2 document (parsed with the guards of
 * xliff_parse.c) to the neutral model of xml.h; the writer is xliff.c. Recursion on the tree
 * is bounded by the nesting cap the parser enforced. Everything handed out lives in one arena
 * (a list of chunks) that hub_xliff_doc_free releases; parts are gathered in growable arrays
 * per unit and copied into it when the unit ends. Problems inside a unit (an unknown inline
 * element, a non-numeric code id) become that unit's error, and reading goes on; problems
 * with the document (root, languages, ids) fail the whole parse.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xml/internal.h"

#define CHUNK_SIZE (64 * 1024) /* arena */
#define NS_OH      BAD_CAST HUB_XLIFF_NS_OMNIHUB

/* ---- arena ------------------------------------------------------------------------------- */

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    max_align_t data[];
} chunk;

static void *arena_alloc(chunk **head, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    chunk *c = *head;
    if (c == NULL || c->size - c->used < n) {
        size_t size = n > CHUNK_SIZE ? n : CHUNK_SIZE;
        c = malloc(sizeof(chunk) + size);
        if (c == NULL)
            return NULL;
        c->size = size;
        c->used = 0;
        if (*head != NULL && size > CHUNK_SIZE) { /* keep using the head's free space */
            c->next = (*head)->next;
            (*head)->next = c;
        } else {
            c->next = *head;
            *head = c;
        }
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

static void arena_free(chunk *c)
{
    while (c != NULL) {
        chunk *next = c->next;
        free(c);
        c = next;
    }
}

/* ---- reader state ------------------------------------------------------------------------ */

typedef struct vec {
    char *items;
    size_t n, cap, size;
} vec;

/* One side (source or target) of the unit being read. */
typedef struct side {
    vec parts;      /* hub_xliff_part; TEXT parts point into the arena */
    hub_buf run;    /* text not made a part yet (adjacent text merges) */
    size_t content; /* parts added so far other than whitespace-only text */
} side;

typedef struct rd {
    chunk *arena;
    hub_error *err;
    int rc; /* first error; later calls do nothing */
    int v2;
    const xmlChar *ns;    /* the document's XLIFF namespace */
    const char *original; /* of the file being read */
    vec files, units;     /* hub_xliff_file; hub_xliff_unit of the file being read */
    side src, tgt;
    char uerr[200]; /* first problem with the unit being read, "" when none */
    hub_buf scratch;
} rd;

static int rfail(rd *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int rfail(rd *r, int code, const char *fmt, ...)
{
    if (r->rc != 0)
        return r->rc;
    r->rc = code;
    if (r->err == NULL)
        return code;
    va_list ap;
    va_start(ap, fmt);
    r->err->code = code;
    vsnprintf(r->err->message, sizeof(r->err->message), fmt, ap);
    va_end(ap);
    xml_clean_message(r->err->message);
    return code;
}

static void nomem(rd *r)
{
    rfail(r, HUB_ENOMEM, "out of memory reading XLIFF");
}

static void unit_fail(rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void unit_fail(rd *r, const char *fmt, ...)
{
    if (r->uerr[0] != '\0')
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->uerr, sizeof(r->uerr), fmt, ap);
    va_end(ap);
    xml_clean_message(r->uerr);
}

static void *vec_push(rd *r, vec *v)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        char *items = realloc(v->items, cap * v->size);
        if (items == NULL) {
            nomem(r);
            return NULL;
        }
        v->items = items;
        v->cap = cap;
    }
    void *slot = v->items + v->n++ * v->size;
    memset(slot, 0, v->size);
    return slot;
}

/* The items of v copied into the arena, their count in *n (0 with NULL: none, or a failed
 * read, which leaves no count without its array); v is then empty. */
static void *vec_take(rd *r, vec *v, size_t *n)
{
    void *p = NULL;
    if (v->n > 0 && r->rc == 0 && (p = arena_alloc(&r->arena, v->n * v->size)) == NULL)
        nomem(r);
    if (p != NULL)
        memcpy(p, v->items, v->n * v->size);
    *n = p != NULL ? v->n : 0;
    v->n = 0;
    return p;
}

static char *arena_str(rd *r, const char *s, size_t n)
{
    char *p = r->rc == 0 ? arena_alloc(&r->arena, n + 1) : NULL;
    if (p == NULL) {
        nomem(r);
        return NULL;
    }
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* ---- tree helpers ------------------------------------------------------------------------ */

static int is_el(const xmlNode *n, const xmlChar *ns, const char *name)
{
    return n->type == XML_ELEMENT_NODE && n->ns != NULL && xmlStrEqual(n->ns->href, ns) &&
           xmlStrEqual(n->name, BAD_CAST name);
}

/* The element's name as written (prefix:name), cut to fit buf on a character boundary. */
static const char *el_name(const xmlNode *n, char *buf, size_t cap)
{
    if (n->ns != NULL && n->ns->prefix != NULL)
        snprintf(buf, cap, "%s:%s", (const char *)n->ns->prefix, (const char *)n->name);
    else
        snprintf(buf, cap, "%s", (const char *)n->name);
    xml_clean_message(buf);
    return buf;
}

/* The value of attribute name (ns NULL: no namespace) in r->scratch, or NULL when absent. */
static const char *attr_get(rd *r, const xmlNode *n, const char *name, const xmlChar *ns)
{
    xmlAttr *a = xmlHasNsProp(n, BAD_CAST name, ns);
    if (a == NULL || a->type != XML_ATTRIBUTE_NODE || r->rc != 0)
        return NULL;
    hub_buf_reset(&r->scratch);
    int rc = hub_buf_append(&r->scratch, "", 0);
    for (const xmlNode *c = a->children; c != NULL && rc == 0; c = c->next) {
        if (c->type == XML_TEXT_NODE && c->content != NULL)
            rc = hub_buf_append_str(&r->scratch, (const char *)c->content);
    }
    if (rc != 0) {
        nomem(r);
        return NULL;
    }
    return r->scratch.data;
}

/* The attribute copied into the arena; NULL when absent or empty. */
static const char *attr_keep(rd *r, const xmlNode *n, const char *name, const xmlChar *ns)
{
    const char *v = attr_get(r, n, name, ns);
    return v != NULL && v[0] != '\0' ? arena_str(r, v, strlen(v)) : NULL;
}

/* ---- sides ------------------------------------------------------------------------------- */

static void side_flush(rd *r, side *s)
{
    if (s->run.len == 0 || r->rc != 0)
        return;
    char *text = arena_str(r, s->run.data, s->run.len);
    hub_xliff_part *p = text != NULL ? vec_push(r, &s->parts) : NULL;
    if (p != NULL) {
        p->kind = HUB_XLIFF_TEXT;
        p->text = text;
        p->len = s->run.len;
    }
    hub_buf_reset(&s->run);
}

static void side_text(rd *r, side *s, const char *t, size_t n)
{
    if (r->rc != 0)
        return;
    if (hub_buf_append(&s->run, t, n) != 0) {
        nomem(r);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (t[i] != ' ' && t[i] != '\t' && t[i] != '\r' && t[i] != '\n') {
            s->content++;
            break;
        }
    }
}

/* A text or CDATA node's text onto side s. */
static void side_node(rd *r, side *s, const xmlNode *c)
{
    const char *t = c->content != NULL ? (const char *)c->content : "";
    side_text(r, s, t, strlen(t));
}

static void side_code(rd *r, side *s, hub_xliff_part_kind kind, unsigned id)
{
    side_flush(r, s);
    hub_xliff_part *p = r->rc == 0 ? vec_push(r, &s->parts) : NULL;
    if (p != NULL) {
        p->kind = kind;
        p->id = id;
        s->content++;
    }
}

static hub_xliff_part *side_take(rd *r, side *s, size_t *n)
{
    side_flush(r, s);
    s->content = 0;
    return vec_take(r, &s->parts, n);
}

static void side_drop(side *s)
{
    s->parts.n = 0;
    s->content = 0;
    hub_buf_reset(&s->run);
}

/* ---- inline content ---------------------------------------------------------------------- */

static void unsupported(rd *r, const xmlNode *e, const char *where)
{
    char name[80];
    unit_fail(r, "unsupported element <%s> in %s", el_name(e, name, sizeof(name)), where);
}

/* Reads attribute attr of e as a code id (decimal); 0 and a unit error when it is not. */
static int read_id(rd *r, const xmlNode *e, const char *attr, const char *where, unsigned *id)
{
    char name[80];
    const char *v = attr_get(r, e, attr, NULL);
    uint64_t x = 0;
    if (v == NULL) {
        unit_fail(r, "<%s> without %s in %s", el_name(e, name, sizeof(name)), attr, where);
        return 0;
    }
    if (hub_parse_u64(hub_slice_cstr(v), &x) != 0 || x > UINT_MAX) {
        unit_fail(r, "<%s %s=\"%.40s\"> in %s: omnihub reads only numeric code ids",
                  el_name(e, name, sizeof(name)), attr, v, where);
        return 0;
    }
    *id = (unsigned)x;
    return 1;
}

static void code(rd *r, side *s, const xmlNode *e, const char *attr, hub_xliff_part_kind kind,
                 const char *where)
{
    unsigned id;
    if (read_id(r, e, attr, where, &id))
        side_code(r, s, kind, id);
}

/* 1 for the characters XML 1.0 text can hold. */
static int xml_char(unsigned long c)
{
    return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
           (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

static void read_cp(rd *r, side *s, const xmlNode *e, const char *where)
{
    const char *v = attr_get(r, e, "hex", NULL);
    size_t n = v != NULL ? strlen(v) : 0;
    unsigned long c = 0;
    int ok = n >= 1 && n <= 6;
    for (size_t i = 0; ok && i < n; i++) {
        char h = v[i];
        int d = h >= '0' && h <= '9'                     ? h - '0'
                : (h | 0x20) >= 'a' && (h | 0x20) <= 'f' ? (h | 0x20) - 'a' + 10
                                                         : -1;
        ok = d >= 0;
        c = c * 16 + (unsigned long)(d >= 0 ? d : 0);
    }
    if (!ok || !xml_char(c)) {
        unit_fail(r, "<cp hex=\"%.12s\"> in %s is not a character omnihub keeps", v ? v : "",
                  where);
        return;
    }
    char u[4];
    size_t k = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    static const unsigned char lead[] = {0, 0, 0xC0, 0xE0, 0xF0};
    for (size_t i = k - 1; i > 0; i--, c >>= 6)
        u[i] = (char)(0x80 | (c & 0x3F));
    u[0] = (char)(lead[k] | c);
    side_text(r, s, u, k);
}

static void read_inline(rd *r, side *s, const xmlNode *parent, const char *where);

/* A paired code that holds its content (2.0 pc, 1.2 g): open, the content, close. */
static void paired(rd *r, side *s, const xmlNode *e, const char *where)
{
    unsigned id;
    if (read_id(r, e, "id", where, &id)) {
        side_code(r, s, HUB_XLIFF_OPEN, id);
        read_inline(r, s, e, where);
        side_code(r, s, HUB_XLIFF_CLOSE, id);
    }
}

static void element20(rd *r, side *s, const xmlNode *e, const char *where)
{
    if (is_el(e, r->ns, "ph")) {
        code(r, s, e, "id", HUB_XLIFF_CODE, where);
    } else if (is_el(e, r->ns, "pc")) {
        paired(r, s, e, where);
    } else if (is_el(e, r->ns, "sc")) {
        code(r, s, e, "id", HUB_XLIFF_OPEN, where);
    } else if (is_el(e, r->ns, "ec")) {
        int paired = xmlHasNsProp(e, BAD_CAST "startRef", NULL) != NULL;
        code(r, s, e, paired ? "startRef" : "id", HUB_XLIFF_CLOSE, where);
    } else if (is_el(e, r->ns, "mrk")) {
        read_inline(r, s, e, where);
    } else if (is_el(e, r->ns, "cp")) {
        read_cp(r, s, e, where);
    } else if (!is_el(e, r->ns, "sm") && !is_el(e, r->ns, "em")) {
        unsupported(r, e, where);
    }
}

/* 1.2 ph, bpt, ept, it: their content is native code, kept as text (sub included). */
static void native12(rd *r, side *s, const xmlNode *parent, const char *where)
{
    for (const xmlNode *c = parent->children; c != NULL && r->rc == 0; c = c->next) {
        if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE)
            side_node(r, s, c);
        else if (is_el(c, r->ns, "sub"))
            native12(r, s, c, where);
        else if (c->type == XML_ELEMENT_NODE)
            unsupported(r, c, where);
    }
}

static void element12(rd *r, side *s, const xmlNode *e, const char *where)
{
    int rid = xmlHasNsProp(e, BAD_CAST "rid", NULL) != NULL;
    if (is_el(e, r->ns, "x")) {
        code(r, s, e, "id", HUB_XLIFF_CODE, where);
    } else if (is_el(e, r->ns, "bx")) {
        code(r, s, e, rid ? "rid" : "id", HUB_XLIFF_OPEN, where);
    } else if (is_el(e, r->ns, "ex")) {
        code(r, s, e, rid ? "rid" : "id", HUB_XLIFF_CLOSE, where);
    } else if (is_el(e, r->ns, "g")) {
        paired(r, s, e, where);
    } else if (is_el(e, r->ns, "mrk")) {
        read_inline(r, s, e, where);
    } else if (is_el(e, r->ns, "ph") || is_el(e, r->ns, "bpt") || is_el(e, r->ns, "ept") ||
               is_el(e, r->ns, "it")) {
        native12(r, s, e, where);
    } else {
        unsupported(r, e, where);
    }
}

/* The content of a source or target (or of a code pair inside one) onto side s. Recursion
 * is bounded: the parser refused nesting deeper than HUB_XLIFF_MAX_DEPTH. */
static void read_inline(rd *r, side *s, const xmlNode *parent, const char *where)
{
    for (const xmlNode *c = parent->children; c != NULL && r->rc == 0; c = c->next) {
        if (r->uerr[0] != '\0')
            return; /* the unit is invalid anyway */
        if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE)
            side_node(r, s, c);
        else if (c->type == XML_ELEMENT_NODE && r->v2)
            element20(r, s, c, where);
        else if (c->type == XML_ELEMENT_NODE)
            element12(r, s, c, where);
    }
}

/* ---- units ------------------------------------------------------------------------------- */

/* The first child of e named name; a second one makes the unit invalid. */
static const xmlNode *only_child(rd *r, const xmlNode *e, const char *name)
{
    const xmlNode *found = NULL;
    for (const xmlNode *c = e->children; c != NULL; c = c->next) {
        if (!is_el(c, r->ns, name))
            continue;
        if (found != NULL) {
            unit_fail(r, "<%s> has more than one <%s>", (const char *)e->name, name);
            break;
        }
        found = c;
    }
    return found;
}

static void unit_begin(rd *r, const xmlNode *e, hub_xliff_unit *u)
{
    memset(u, 0, sizeof(*u));
    r->uerr[0] = '\0';
    side_drop(&r->src);
    side_drop(&r->tgt);
    u->id = attr_keep(r, e, "id", NULL);
    if (u->id == NULL)
        rfail(r, HUB_EINVAL, "file \"%.60s\": the <%s> at line %ld has no id", r->original,
              (const char *)e->name, xmlGetLineNo(e));
    u->checksum = attr_keep(r, e, "checksum", NS_OH);
}

static void unit_end(rd *r, hub_xliff_unit *u, int has_target)
{
    u->source = side_take(r, &r->src, &u->nsource);
    u->has_target = has_target;
    if (has_target)
        u->target = side_take(r, &r->tgt, &u->ntarget);
    side_drop(&r->tgt);
    if (r->uerr[0] != '\0')
        u->error = arena_str(r, r->uerr, strlen(r->uerr));
    hub_xliff_unit *slot = r->rc == 0 ? vec_push(r, &r->units) : NULL;
    if (slot != NULL)
        *slot = *u;
}

/* Segments and ignorables, in order; targets must be in every segment or in none. */
static void read_unit20(rd *r, const xmlNode *e)
{
    hub_xliff_unit u;
    unit_begin(r, e, &u);
    size_t with = 0, without = 0;
    for (const xmlNode *c = e->children; c != NULL && r->rc == 0; c = c->next) {
        int seg = is_el(c, r->ns, "segment");
        if (!seg && !is_el(c, r->ns, "ignorable"))
            continue;
        const xmlNode *src = only_child(r, c, "source");
        const xmlNode *tgt = only_child(r, c, "target");
        if (src == NULL) {
            unit_fail(r, "<%s> without <source>", seg ? "segment" : "ignorable");
            continue;
        }
        read_inline(r, &r->src, src, "source");
        size_t before = r->tgt.content;
        /* an ignorable without target stands for itself in the target */
        read_inline(r, &r->tgt, tgt != NULL ? tgt : src, tgt != NULL ? "target" : "source");
        if (seg && tgt != NULL && r->tgt.content > before)
            with++;
        else if (seg)
            without++;
    }
    if (with + without == 0)
        unit_fail(r, "unit without <segment>");
    if (with > 0 && without > 0)
        unit_fail(r, "%zu of the unit's %zu segments have no target", without, with + without);
    unit_end(r, &u, with > 0);
}

static void read_unit12(rd *r, const xmlNode *e)
{
    hub_xliff_unit u;
    unit_begin(r, e, &u);
    const xmlNode *src = only_child(r, e, "seg-source");
    if (src == NULL)
        src = only_child(r, e, "source");
    const xmlNode *tgt = only_child(r, e, "target");
    if (src == NULL)
        unit_fail(r, "<trans-unit> without <source>");
    else
        read_inline(r, &r->src, src, "source");
    if (tgt != NULL)
        read_inline(r, &r->tgt, tgt, "target");
    unit_end(r, &u, r->tgt.content > 0);
}

/* Units of a 2.0 file or group, or of a 1.2 body or group (groups nest). */
static void read_units(rd *r, const xmlNode *parent)
{
    const char *unit = r->v2 ? "unit" : "trans-unit";
    for (const xmlNode *c = parent->children; c != NULL && r->rc == 0; c = c->next) {
        if (is_el(c, r->ns, unit) && r->v2)
            read_unit20(r, c);
        else if (is_el(c, r->ns, unit))
            read_unit12(r, c);
        else if (is_el(c, r->ns, "group"))
            read_units(r, c);
    }
}

/* ---- files and the document -------------------------------------------------------------- */

static const char *need_attr(rd *r, const xmlNode *e, const char *name, size_t index)
{
    const char *v = attr_keep(r, e, name, NULL);
    if (v == NULL && r->original == NULL)
        rfail(r, HUB_EINVAL, "file %zu (line %ld) has no %s", index, xmlGetLineNo(e), name);
    else if (v == NULL)
        rfail(r, HUB_EINVAL, "file \"%.60s\" has no %s", r->original, name);
    return v;
}

static void read_file(rd *r, const xmlNode *e, size_t index, const hub_xliff_doc *doc)
{
    hub_xliff_file f = {0};
    r->original = NULL;
    f.original = need_attr(r, e, "original", index);
    r->original = f.original;
    f.srclang = r->v2 ? doc->srclang : need_attr(r, e, "source-language", index);
    f.trglang = r->v2 ? doc->trglang : need_attr(r, e, "target-language", index);
    r->units.n = 0;
    for (const xmlNode *c = e->children; c != NULL && !r->v2; c = c->next) {
        if (is_el(c, r->ns, "body"))
            read_units(r, c);
    }
    if (r->v2)
        read_units(r, e);
    const char *dup = NULL;
    if (r->rc == 0 && xml_duplicate_unit((hub_xliff_unit *)r->units.items, r->units.n, &dup))
        nomem(r);
    if (dup != NULL)
        rfail(r, HUB_EINVAL, "file \"%.60s\": two units have the id \"%.60s\"", f.original, dup);
    f.units = vec_take(r, &r->units, &f.nunits);
    hub_xliff_file *slot = r->rc == 0 ? vec_push(r, &r->files) : NULL;
    if (slot != NULL)
        *slot = f;
}

/* Names what the root is when it is not XLIFF. */
static int not_xliff(rd *r, const xmlNode *root)
{
    char name[80];
    const char *ns = root->ns != NULL ? (const char *)root->ns->href : NULL;
    if (ns == NULL)
        return rfail(r, HUB_EINVAL, "not XLIFF: the root element <%s> has no namespace",
                     el_name(root, name, sizeof(name)));
    return rfail(r, HUB_EINVAL, "not XLIFF 1.2 or 2.0: the root element is <%s> in namespace %.80s",
                 el_name(root, name, sizeof(name)), ns);
}

static int read_root(rd *r, const xmlNode *root, hub_xliff_doc *out)
{
    r->v2 = is_el(root, BAD_CAST XML_XLIFF_NS_20, "xliff");
    if (r->v2)
        r->ns = BAD_CAST XML_XLIFF_NS_20;
    else if (is_el(root, BAD_CAST XML_XLIFF_NS_12, "xliff"))
        r->ns = BAD_CAST XML_XLIFF_NS_12;
    else
        return not_xliff(r, root);
    const char *v = attr_get(r, root, "version", NULL);
    int ok = v != NULL &&
             (r->v2 ? strcmp(v, "2.0") == 0 || strcmp(v, "2.1") == 0 : strcmp(v, "1.2") == 0);
    if (!ok)
        return rfail(r, HUB_EINVAL, "XLIFF %s namespace with version \"%.20s\" (expected %s)",
                     r->v2 ? "2.0" : "1.2", v != NULL ? v : "", r->v2 ? "2.0 or 2.1" : "1.2");
    out->version = r->v2 ? HUB_XLIFF_2 : HUB_XLIFF_12;
    if (r->v2) {
        out->srclang = attr_keep(r, root, "srcLang", NULL);
        out->trglang = attr_keep(r, root, "trgLang", NULL);
        if (r->rc == 0 && (out->srclang == NULL || out->trglang == NULL))
            return rfail(r, HUB_EINVAL, "<xliff> has no %s",
                         out->srclang == NULL ? "srcLang" : "trgLang");
    }
    for (const xmlNode *c = root->children; c != NULL && r->rc == 0; c = c->next) {
        if (is_el(c, r->ns, "file"))
            read_file(r, c, r->files.n + 1, out);
    }
    out->files = vec_take(r, &r->files, &out->nfiles);
    if (!r->v2 && out->nfiles > 0) {
        out->srclang = out->files[0].srclang;
        out->trglang = out->files[0].trglang;
    }
    return r->rc;
}

/* ---- API --------------------------------------------------------------------------------- */

static void rd_free(rd *r)
{
    free(r->files.items);
    free(r->units.items);
    free(r->src.parts.items);
    free(r->tgt.parts.items);
    hub_buf_free(&r->src.run);
    hub_buf_free(&r->tgt.run);
    hub_buf_free(&r->scratch);
}

int hub_xliff_parse(const char *data, size_t len, hub_xliff_doc *out, hub_error *err)
{
    memset(out, 0, sizeof(*out));
    xmlDoc *doc;
    int rc = xml_xliff_parse_tree(data, len, &doc, err);
    if (rc != 0)
        return rc;
    rd r = {.err = err};
    r.files.size = sizeof(hub_xliff_file);
    r.units.size = sizeof(hub_xliff_unit);
    r.src.parts.size = r.tgt.parts.size = sizeof(hub_xliff_part);
    hub_buf_init(&r.src.run, (size_t)-1);
    hub_buf_init(&r.tgt.run, (size_t)-1);
    hub_buf_init(&r.scratch, (size_t)-1);
    rc = read_root(&r, xmlDocGetRootElement(doc), out);
    xmlFreeDoc(doc);
    rd_free(&r);
    if (rc != 0) {
        arena_free(r.arena);
        memset(out, 0, sizeof(*out));
        return rc;
    }
    out->priv_ = r.arena;
    return 0;
}

void hub_xliff_doc_free(hub_xliff_doc *doc)
{
    if (doc == NULL)
        return;
    arena_free(doc->priv_);
    memset(doc, 0, sizeof(*doc));
}
