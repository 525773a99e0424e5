/*
 * XLIFF writer: a hub_xliff_doc to an XLIFF 2.0 or 1.2 document through libxml2's
 * xmlTextWriter (the reader is xliff_read.c). Every string is checked before it is written
 * (UTF-8, characters XML 1.0 can carry), inline codes are checked for proper nesting (an OPEN
 * and its CLOSE become one pc/g element), and the result is appended to the caller's buffer
 * only when the whole document was written.
 *
 * Indentation: xmlTextWriter indents by writing a newline and spaces around child elements.
 * Inside <source> and <target> (mixed content, where whitespace is text) that would change
 * the text, so indentation is off from a source/target start tag to its end tag, and the
 * newline after the end tag is written by hand so the next sibling starts on its own line.
 *
 * Errors are sticky: the first one is kept in wr.rc and every later call does nothing, so the
 * writing functions read as straight-line code.
 */
#include <libxml/xmlwriter.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xml/internal.h"

#define MAX_CODE_DEPTH 32 /* pc/g nesting: leaves the reader's HUB_XLIFF_MAX_DEPTH room */

typedef struct wr {
    xmlTextWriterPtr tw;
    xmlBufferPtr buf;
    hub_error *err;
    int rc;           /* first error; later calls do nothing */
    size_t room;      /* bytes the caller's buffer can still take */
    size_t file;      /* 1-based index of the file being written, 0 outside files */
    const char *unit; /* id of the unit being written (checked), NULL outside units */
    hub_buf tmp;      /* NUL-terminated copies of counted text */
} wr;

/* A side (source or target) checked and numbered for writing. */
typedef struct plan {
    const hub_xliff_part *parts;
    size_t n;
    size_t *mate; /* OPEN: index of its CLOSE */
    size_t *dnum; /* codes: number of their 2.0 <data> element */
} plan;

/* ---- shared with xliff_read.c ------------------------------------------------------------ */

/* Length of the well-formed UTF-8 sequence at s[0..n), 0 when there is none. */
static size_t utf8_seq(const char *s, size_t n)
{
    unsigned char c = (unsigned char)s[0];
    size_t k = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    return k <= n && hub_utf8_valid(s, k) ? k : 0;
}

void xml_clean_message(char *m)
{
    size_t n = strlen(m), o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(m + i, n - i);
        if (k == 0 || (k == 1 && ((unsigned char)m[i] < 0x20 || m[i] == 0x7f))) {
            m[o++] = k == 0 ? '?' : ' ';
            i++;
            continue;
        }
        memmove(m + o, m + i, k);
        o += k;
        i += k;
    }
    while (o > 0 && m[o - 1] == ' ')
        o--;
    m[o] = '\0';
}

static int cmp_unit_id(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int xml_duplicate_unit(const hub_xliff_unit *units, size_t n, const char **dup)
{
    *dup = NULL;
    if (n < 2)
        return 0;
    const char **ids = malloc(n * sizeof(*ids));
    if (ids == NULL)
        return HUB_ENOMEM;
    for (size_t i = 0; i < n; i++)
        ids[i] = units[i].id;
    qsort(ids, n, sizeof(*ids), cmp_unit_id);
    for (size_t i = 1; i < n && *dup == NULL; i++) {
        if (strcmp(ids[i - 1], ids[i]) == 0)
            *dup = ids[i];
    }
    free(ids);
    return 0;
}

/* ---- checks and errors ----------------------------------------------------------------- */

static int fail(wr *w, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(wr *w, int code, const char *fmt, ...)
{
    if (w->rc != 0)
        return w->rc;
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    w->rc = code;
    if (w->unit != NULL)
        hub_error_set(w->err, code, "file %zu, unit \"%.60s\": %s", w->file, w->unit, what);
    else if (w->file > 0)
        hub_error_set(w->err, code, "file %zu: %s", w->file, what);
    else
        hub_error_set(w->err, code, "%s", what);
    if (w->err != NULL)
        xml_clean_message(w->err->message);
    return code;
}

/*
 * 0 when s[0..n) is UTF-8 that XML 1.0 can carry. Otherwise the offending code point in *cp
 * (or -1 when the bytes are not UTF-8) and -1.
 */
static int xml_text_ok(const char *s, size_t n, long *cp)
{
    *cp = -1;
    if (n > 0 && s == NULL)
        return -1;
    if (!hub_utf8_valid(s, n))
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
            *cp = c;
            return -1;
        }
        if (c == 0xEF && i + 2 < n && (unsigned char)s[i + 1] == 0xBF &&
            (unsigned char)s[i + 2] >= 0xBE) {
            *cp = (unsigned char)s[i + 2] == 0xBE ? 0xFFFE : 0xFFFF;
            return -1;
        }
    }
    return 0;
}

/* Checks s[0..n) (what names it in a message); 0 or the sticky error. */
static int check_text(wr *w, const char *what, const char *s, size_t n)
{
    long cp;
    if (w->rc != 0 || xml_text_ok(s, n, &cp) == 0)
        return w->rc;
    if (cp < 0)
        return fail(w, HUB_EINVAL, "%s is not valid UTF-8", what);
    return fail(w, HUB_EINVAL, "%s has the character U+%04lX, which XML 1.0 cannot carry", what,
                cp);
}

/* Checks a C string that must be there and not be empty. */
static int check_name(wr *w, const char *what, const char *s)
{
    if (w->rc == 0 && (s == NULL || s[0] == '\0'))
        return fail(w, HUB_EINVAL, "%s is missing", what);
    return s != NULL ? check_text(w, what, s, strlen(s)) : w->rc;
}

/* ---- writer calls ------------------------------------------------------------------------ */

static void lx(wr *w, int rc)
{
    if (rc < 0)
        fail(w, HUB_ENOMEM, "out of memory writing XLIFF");
}

static void w_start(wr *w, const char *name)
{
    if (w->rc == 0)
        lx(w, xmlTextWriterStartElement(w->tw, BAD_CAST name));
}

static void w_end(wr *w)
{
    if (w->rc == 0)
        lx(w, xmlTextWriterEndElement(w->tw));
}

/* An attribute from a string already checked (or built here). */
static void w_attr(wr *w, const char *name, const char *value)
{
    if (w->rc == 0)
        lx(w, xmlTextWriterWriteAttribute(w->tw, BAD_CAST name, BAD_CAST value));
}

static void w_attr_num(wr *w, const char *name, const char *prefix, size_t v)
{
    char num[32];
    snprintf(num, sizeof(num), "%s%zu", prefix, v);
    w_attr(w, name, num);
}

/* NUL-terminated copy of s[0..n), checked; NULL after an error. */
static const char *w_copy(wr *w, const char *what, const char *s, size_t n)
{
    if (check_text(w, what, s, n) != 0)
        return NULL;
    hub_buf_reset(&w->tmp);
    if (hub_buf_append(&w->tmp, n > 0 ? s : "", n) != 0) {
        fail(w, HUB_ENOMEM, "out of memory writing XLIFF");
        return NULL;
    }
    return w->tmp.data;
}

static void w_attr_text(wr *w, const char *name, const char *what, const char *s, size_t n)
{
    const char *v = w_copy(w, what, s, n);
    if (v != NULL)
        w_attr(w, name, v);
}

static void w_text(wr *w, const char *what, const char *s, size_t n)
{
    const char *v = w_copy(w, what, s, n);
    if (v != NULL)
        lx(w, xmlTextWriterWriteString(w->tw, BAD_CAST v));
}

/* Fails when out has no room for what was written so far. */
static void w_room(wr *w)
{
    if (w->rc == 0)
        lx(w, xmlTextWriterFlush(w->tw));
    if (w->rc == 0 && (size_t)xmlBufferLength(w->buf) > w->room)
        fail(w, HUB_ETOOBIG, "XLIFF document is over the output cap");
}

/* ---- parts ------------------------------------------------------------------------------- */

static int check_part(wr *w, const char *side, size_t i, const hub_xliff_part *p)
{
    char what[64];
    snprintf(what, sizeof(what), "%s part %zu", side, i + 1);
    if (p->kind == HUB_XLIFF_TEXT)
        return check_text(w, what, p->text, p->len);
    if (p->kind != HUB_XLIFF_CODE && p->kind != HUB_XLIFF_OPEN && p->kind != HUB_XLIFF_CLOSE)
        return fail(w, HUB_EINVAL, "%s has an unknown kind %d", what, (int)p->kind);
    if (p->text == NULL)
        return fail(w, HUB_EINVAL, "%s is a code without its original text", what);
    if (check_text(w, what, p->text, p->len) != 0)
        return w->rc;
    if (p->type != NULL)
        check_text(w, "a code type", p->type, strlen(p->type));
    return w->rc;
}

/* Pairs each OPEN with its CLOSE (mate) and numbers codes from *next (dnum). */
static int plan_pairs(wr *w, plan *pl, const char *side, size_t *next)
{
    size_t stack[MAX_CODE_DEPTH], depth = 0;
    for (size_t i = 0; i < pl->n && w->rc == 0; i++) {
        const hub_xliff_part *p = &pl->parts[i];
        if (check_part(w, side, i, p) != 0)
            break;
        pl->dnum[i] = p->kind == HUB_XLIFF_TEXT ? 0 : (*next)++;
        if (p->kind == HUB_XLIFF_OPEN) {
            for (size_t k = 0; k < depth; k++) {
                if (pl->parts[stack[k]].id == p->id)
                    return fail(w, HUB_EINVAL, "%s part %zu opens code %u again inside itself",
                                side, i + 1, p->id);
            }
            if (depth == MAX_CODE_DEPTH)
                return fail(w, HUB_EINVAL, "%s nests codes more than %d deep", side,
                            MAX_CODE_DEPTH);
            stack[depth++] = i;
        } else if (p->kind == HUB_XLIFF_CLOSE) {
            if (depth == 0 || pl->parts[stack[depth - 1]].id != p->id)
                return fail(w, HUB_EINVAL,
                            "%s part %zu closes code %u, which is not the innermost open code",
                            side, i + 1, p->id);
            pl->mate[stack[--depth]] = i;
        }
    }
    if (w->rc == 0 && depth > 0)
        fail(w, HUB_EINVAL, "%s never closes code %u", side, pl->parts[stack[depth - 1]].id);
    return w->rc;
}

static int plan_make(wr *w, plan *pl, const hub_xliff_part *parts, size_t n, const char *side,
                     size_t *next)
{
    pl->parts = parts;
    pl->n = n;
    pl->mate = NULL;
    pl->dnum = NULL;
    if (n > 0 && parts == NULL)
        return fail(w, HUB_EINVAL, "%s has %zu parts but no array", side, n);
    if (n == 0 || w->rc != 0)
        return w->rc;
    pl->mate = calloc(2 * n, sizeof(size_t));
    if (pl->mate == NULL)
        return fail(w, HUB_ENOMEM, "out of memory writing XLIFF");
    pl->dnum = pl->mate + n;
    return plan_pairs(w, pl, side, next);
}

static void plan_free(plan *pl)
{
    free(pl->mate);
    pl->mate = NULL;
}

static void write_code20(wr *w, const plan *pl, size_t i)
{
    const hub_xliff_part *p = &pl->parts[i];
    if (p->kind == HUB_XLIFF_CLOSE) {
        w_end(w);
        return;
    }
    w_start(w, p->kind == HUB_XLIFF_CODE ? "ph" : "pc");
    w_attr_num(w, "id", "", p->id);
    if (p->kind == HUB_XLIFF_CODE) {
        w_attr_num(w, "dataRef", "d", pl->dnum[i]);
        w_attr_text(w, "disp", "code text", p->text, p->len);
        w_end(w);
        return;
    }
    const hub_xliff_part *close = &pl->parts[pl->mate[i]];
    w_attr_num(w, "dataRefStart", "d", pl->dnum[i]);
    w_attr_num(w, "dataRefEnd", "d", pl->dnum[pl->mate[i]]);
    w_attr_text(w, "dispStart", "code text", p->text, p->len);
    w_attr_text(w, "dispEnd", "code text", close->text, close->len);
}

static void write_code12(wr *w, const hub_xliff_part *p)
{
    if (p->kind == HUB_XLIFF_CLOSE) {
        w_end(w);
        return;
    }
    w_start(w, p->kind == HUB_XLIFF_CODE ? "x" : "g");
    w_attr_num(w, "id", "", p->id);
    if (p->type != NULL && p->type[0] != '\0') { /* checked with the part */
        hub_buf_reset(&w->tmp);
        if (hub_buf_append_str(&w->tmp, "x-") != 0 || hub_buf_append_str(&w->tmp, p->type) != 0)
            fail(w, HUB_ENOMEM, "out of memory writing XLIFF");
        w_attr(w, "ctype", w->tmp.data);
    }
    if (p->kind == HUB_XLIFF_CODE) {
        w_attr_text(w, "equiv-text", "code text", p->text, p->len);
        w_end(w);
    }
}

/* <source> or <target> with its parts; pc/g elements open and close with the pairs. */
static void write_mixed(wr *w, int v2, const char *name, const plan *pl)
{
    w_start(w, name);
    if (w->rc == 0)
        lx(w, xmlTextWriterSetIndent(w->tw, 0));
    for (size_t i = 0; i < pl->n && w->rc == 0; i++) {
        const hub_xliff_part *p = &pl->parts[i];
        if (p->kind == HUB_XLIFF_TEXT)
            w_text(w, name, p->text, p->len);
        else if (v2)
            write_code20(w, pl, i);
        else
            write_code12(w, p);
    }
    w_end(w);
    if (w->rc == 0)
        lx(w, xmlTextWriterSetIndent(w->tw, 1));
    if (w->rc == 0)
        lx(w, xmlTextWriterWriteString(w->tw, BAD_CAST "\n"));
    if (w->rc == 0) /* the newline cleared the writer's "indent the next tag" flag */
        lx(w, xmlTextWriterSetIndent(w->tw, 1));
}

/* ---- units and files --------------------------------------------------------------------- */

static void write_data20(wr *w, const plan *src, const plan *tgt)
{
    if (src->dnum == NULL && tgt->dnum == NULL)
        return;
    int any = 0;
    for (int s = 0; s < 2; s++) {
        const plan *pl = s == 0 ? src : tgt;
        for (size_t i = 0; i < pl->n && w->rc == 0; i++) {
            const hub_xliff_part *p = &pl->parts[i];
            if (p->kind == HUB_XLIFF_TEXT)
                continue;
            if (!any)
                w_start(w, "originalData");
            any = 1;
            w_start(w, "data");
            w_attr_num(w, "id", "d", pl->dnum[i]);
            w_text(w, "code text", p->text, p->len);
            w_end(w);
        }
    }
    if (any)
        w_end(w);
}

static void write_notes(wr *w, int v2, const char *const *notes, size_t n)
{
    if (n > 0 && notes == NULL) {
        fail(w, HUB_EINVAL, "%zu notes but no array", n);
        return;
    }
    if (n > 0 && v2)
        w_start(w, "notes");
    for (size_t i = 0; i < n && w->rc == 0; i++) {
        if (notes[i] == NULL) {
            fail(w, HUB_EINVAL, "note %zu is NULL", i + 1);
            break;
        }
        w_start(w, "note");
        if (!v2)
            w_attr(w, "from", "omnihub");
        w_text(w, "a note", notes[i], strlen(notes[i]));
        w_end(w);
    }
    if (n > 0 && v2)
        w_end(w);
}

static void unit_start(wr *w, int v2, const hub_xliff_unit *u)
{
    w_start(w, v2 ? "unit" : "trans-unit");
    w_attr(w, "id", u->id);
    if (u->checksum != NULL && check_text(w, "checksum", u->checksum, strlen(u->checksum)) == 0)
        w_attr(w, "oh:checksum", u->checksum);
    if (!v2)
        w_attr(w, "resname", u->id);
    w_attr(w, "xml:space", "preserve");
}

static void write_unit(wr *w, int v2, const hub_xliff_unit *u)
{
    w->unit = NULL;
    if (check_name(w, "unit id", u->id) != 0)
        return;
    if (v2 && xmlValidateNMToken(BAD_CAST u->id, 0) != 0)
        fail(w, HUB_EINVAL, "unit id \"%.60s\" is not an XML NMTOKEN, as XLIFF 2.0 needs", u->id);
    w->unit = u->id;
    plan src, tgt = {0};
    size_t next = 1;
    plan_make(w, &src, u->source, u->nsource, "source", &next);
    if (u->target != NULL)
        plan_make(w, &tgt, u->target, u->ntarget, "target", &next);
    unit_start(w, v2, u);
    if (v2) {
        write_notes(w, 1, u->notes, u->nnotes);
        write_data20(w, &src, &tgt);
        w_start(w, "segment");
        w_attr(w, "state", u->target != NULL ? "translated" : "initial");
    }
    write_mixed(w, v2, "source", &src);
    if (u->target != NULL)
        write_mixed(w, v2, "target", &tgt);
    if (v2)
        w_end(w); /* segment */
    else
        write_notes(w, 0, u->notes, u->nnotes);
    w_end(w);
    plan_free(&src);
    plan_free(&tgt);
    w->unit = NULL;
    w_room(w);
}

static void file_start(wr *w, int v2, const hub_xliff_doc *doc, const hub_xliff_file *f)
{
    w_start(w, "file");
    if (v2)
        w_attr_num(w, "id", "f", w->file);
    w_attr(w, "original", f->original);
    if (!v2) {
        w_attr(w, "source-language", doc->srclang);
        w_attr(w, "target-language", doc->trglang);
        w_attr(w, "datatype", "plaintext");
    }
    if (f->note != NULL) {
        w_start(w, v2 ? "notes" : "header");
        w_start(w, "note");
        if (!v2)
            w_attr(w, "from", "omnihub");
        w_text(w, "file note", f->note, strlen(f->note));
        w_end(w);
        w_end(w);
    }
    if (!v2)
        w_start(w, "body");
}

static void write_file(wr *w, int v2, const hub_xliff_doc *doc, const hub_xliff_file *f)
{
    if (check_name(w, "original", f->original) != 0)
        return;
    if (f->nunits > 0 && f->units == NULL) {
        fail(w, HUB_EINVAL, "%zu units but no array", f->nunits);
        return;
    }
    for (size_t i = 0; i < f->nunits && w->rc == 0; i++)
        check_name(w, "unit id", f->units[i].id);
    const char *dup = NULL;
    if (w->rc == 0 && xml_duplicate_unit(f->units, f->nunits, &dup) != 0)
        fail(w, HUB_ENOMEM, "out of memory writing XLIFF");
    if (dup != NULL)
        fail(w, HUB_EINVAL, "two units have the id \"%.60s\"", dup);
    file_start(w, v2, doc, f);
    for (size_t i = 0; i < f->nunits && w->rc == 0; i++)
        write_unit(w, v2, &f->units[i]);
    if (!v2)
        w_end(w); /* body */
    w_end(w);
}

static void write_doc(wr *w, const hub_xliff_doc *doc)
{
    int v2 = doc->version == HUB_XLIFF_2;
    check_name(w, "source language", doc->srclang);
    check_name(w, "target language", doc->trglang);
    if (doc->nfiles > 0 && doc->files == NULL)
        fail(w, HUB_EINVAL, "%zu files but no array", doc->nfiles);
    if (w->rc == 0)
        lx(w, xmlTextWriterStartDocument(w->tw, NULL, "UTF-8", NULL));
    w_start(w, "xliff");
    w_attr(w, "xmlns", v2 ? XML_XLIFF_NS_20 : XML_XLIFF_NS_12);
    w_attr(w, "xmlns:oh", HUB_XLIFF_NS_OMNIHUB);
    w_attr(w, "version", v2 ? "2.0" : "1.2");
    if (v2) {
        w_attr(w, "srcLang", doc->srclang);
        w_attr(w, "trgLang", doc->trglang);
    }
    for (size_t i = 0; i < doc->nfiles && w->rc == 0; i++) {
        w->file = i + 1;
        write_file(w, v2, doc, &doc->files[i]);
    }
    w->file = 0;
    w_end(w);
    if (w->rc == 0)
        lx(w, xmlTextWriterEndDocument(w->tw));
    w_room(w);
}

int hub_xliff_write(const hub_xliff_doc *doc, hub_buf *out, hub_error *err)
{
    wr w = {.err = err, .room = out->cap - (out->len < out->cap ? out->len : out->cap)};
    hub_buf_init(&w.tmp, (size_t)-1);
    if (doc->version != HUB_XLIFF_2 && doc->version != HUB_XLIFF_12)
        return hub_error_set(err, HUB_EINVAL, "XLIFF version %d is not 20 (2.0) or 12 (1.2)",
                             (int)doc->version);
    hub_xml_global_init();
    w.buf = xmlBufferCreate();
    if (w.buf != NULL) /* the default, exact sizes, reallocates for every 4 KB flushed */
        xmlBufferSetAllocationScheme(w.buf, XML_BUFFER_ALLOC_DOUBLEIT);
    w.tw = w.buf != NULL ? xmlNewTextWriterMemory(w.buf, 0) : NULL;
    if (w.tw == NULL) {
        xmlBufferFree(w.buf);
        return hub_error_set(err, HUB_ENOMEM, "out of memory writing XLIFF");
    }
    lx(&w, xmlTextWriterSetIndent(w.tw, 1));
    lx(&w, xmlTextWriterSetIndentString(w.tw, BAD_CAST "  "));
    write_doc(&w, doc);
    xmlFreeTextWriter(w.tw); /* flushes into w.buf */
    if (w.rc == 0) {
        int rc = hub_buf_append(out, xmlBufferContent(w.buf), (size_t)xmlBufferLength(w.buf));
        if (rc != 0)
            fail(&w, rc,
                 rc == HUB_ETOOBIG ? "XLIFF document is over the output cap"
                                   : "out of memory writing XLIFF");
    }
    xmlBufferFree(w.buf);
    hub_buf_free(&w.tmp);
    return w.rc;
}
