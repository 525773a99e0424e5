/*
 * libFuzzer target for the XLIFF reader and writer: arbitrary bytes go through
 * hub_xliff_parse. Invariants (abort() when broken):
 * - it fails only with EBADREQ, EINVAL or ETOOBIG, with a non-empty one-line UTF-8 message
 *   and the document left empty;
 * - on success every string is valid UTF-8 (text parts NUL-terminated at len and free of
 *   NUL), part kinds are known, read codes carry no text, a unit has target parts exactly
 *   when has_target is set, unit errors are one line, and unit ids are unique per file;
 * - writing the document back (same version; units without error; codes given placeholder
 *   text) succeeds except for units whose codes are not properly nested or whose 2.0 id is
 *   not an NMTOKEN, which alone are refused with EINVAL; parsing that output gives the same
 *   files, unit ids, checksums and source and target parts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xml/xml.h"

#define OUT_CAP ((size_t)64 << 20)

static void need(int cond)
{
    if (!cond)
        abort();
}

static void check_str(const char *s)
{
    need(s != NULL && hub_utf8_valid(s, strlen(s)));
}

static void check_line(const char *s)
{
    check_str(s);
    need(s[0] != '\0' && strchr(s, '\n') == NULL);
}

static void check_parts(const hub_xliff_part *p, size_t n)
{
    need(n == 0 || p != NULL);
    for (size_t i = 0; i < n; i++) {
        need(p[i].type == NULL);
        if (p[i].kind != HUB_XLIFF_TEXT) {
            need(p[i].kind == HUB_XLIFF_CODE || p[i].kind == HUB_XLIFF_OPEN ||
                 p[i].kind == HUB_XLIFF_CLOSE);
            need(p[i].text == NULL);
            continue;
        }
        need(p[i].text != NULL && p[i].len > 0 && p[i].text[p[i].len] == '\0');
        need(strlen(p[i].text) == p[i].len && hub_utf8_valid(p[i].text, p[i].len));
    }
}

static void check_unit(const hub_xliff_unit *u)
{
    check_str(u->id);
    need(u->id[0] != '\0');
    if (u->checksum != NULL)
        check_str(u->checksum);
    if (u->error != NULL)
        check_line(u->error);
    need(u->notes == NULL && u->nnotes == 0);
    check_parts(u->source, u->nsource);
    check_parts(u->target, u->ntarget);
    need(u->has_target ? u->target != NULL && u->ntarget > 0 : u->target == NULL);
}

static void check_doc(const hub_xliff_doc *d)
{
    need(d->version == HUB_XLIFF_2 || d->version == HUB_XLIFF_12);
    need(d->nfiles == 0 || d->files != NULL);
    if (d->version == HUB_XLIFF_2 || d->nfiles > 0) {
        check_str(d->srclang);
        check_str(d->trglang);
    }
    for (size_t f = 0; f < d->nfiles; f++) {
        const hub_xliff_file *file = &d->files[f];
        check_str(file->original);
        check_str(file->srclang);
        check_str(file->trglang);
        need(file->nunits == 0 || file->units != NULL);
        for (size_t i = 0; i < file->nunits; i++) {
            check_unit(&file->units[i]);
            for (size_t k = 0; k < i; k++)
                need(strcmp(file->units[k].id, file->units[i].id) != 0);
        }
    }
}

/* 1 when OPEN and CLOSE parts nest properly, no id opened twice on one chain, depth <= 32. */
static int nested(const hub_xliff_part *p, size_t n)
{
    unsigned stack[33];
    size_t depth = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i].kind == HUB_XLIFF_OPEN) {
            for (size_t k = 0; k < depth; k++) {
                if (stack[k] == p[i].id)
                    return 0;
            }
            if (depth == 32)
                return 0;
            stack[depth++] = p[i].id;
        } else if (p[i].kind == HUB_XLIFF_CLOSE) {
            if (depth == 0 || stack[depth - 1] != p[i].id)
                return 0;
            depth--;
        }
    }
    return depth == 0;
}

/* 1 for ids that are certainly NMTOKENs. */
static int plain_nmtoken(const char *id)
{
    for (const char *c = id; *c != '\0'; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '-' || *c == '_' || *c == ':'))
            return 0;
    }
    return 1;
}

/* A copy of read parts with the placeholder text writing needs for codes (free it). */
static hub_xliff_part *writable(const hub_xliff_part *p, size_t n)
{
    hub_xliff_part *w = calloc(n + 1, sizeof(*w));
    need(w != NULL);
    for (size_t i = 0; i < n; i++) {
        w[i] = p[i];
        if (p[i].kind != HUB_XLIFF_TEXT) {
            w[i].text = "{{x}}";
            w[i].len = 5;
            w[i].type = "liquid";
        }
    }
    return w;
}

/* The unit as the writer takes it; 0 when it is to be left out (error or refused). */
static int prepare_unit(const hub_xliff_doc *d, const hub_xliff_unit *u, hub_xliff_unit *w)
{
    if (u->error != NULL)
        return 0;
    memset(w, 0, sizeof(*w));
    w->id = u->id;
    w->checksum = u->checksum;
    w->source = writable(u->source, u->nsource);
    w->nsource = u->nsource;
    if (u->has_target) {
        w->target = writable(u->target, u->ntarget);
        w->ntarget = u->ntarget;
    }
    hub_xliff_file f = {.original = "f", .units = w, .nunits = 1};
    hub_xliff_doc one = {d->version, "en", "de", &f, 1, NULL};
    hub_buf out;
    hub_buf_init(&out, OUT_CAP);
    int rc = hub_xliff_write(&one, &out, NULL);
    hub_buf_free(&out);
    int legit = !nested(u->source, u->nsource) || !nested(u->target, u->ntarget) ||
                (d->version == HUB_XLIFF_2 && !plain_nmtoken(u->id));
    need(rc == 0 || (rc == HUB_EINVAL && legit));
    if (rc == 0)
        return 1;
    free(w->source);
    free(w->target);
    return 0;
}

static void same_parts(const hub_xliff_part *a, size_t na, const hub_xliff_part *b, size_t nb)
{
    need(na == nb);
    for (size_t i = 0; i < na; i++) {
        need(a[i].kind == b[i].kind && a[i].id == b[i].id);
        if (a[i].kind == HUB_XLIFF_TEXT)
            need(a[i].len == b[i].len && memcmp(a[i].text, b[i].text, a[i].len) == 0);
    }
}

static void same_doc(const hub_xliff_doc *w, const hub_xliff_doc *r)
{
    need(r->version == w->version && r->nfiles == w->nfiles);
    for (size_t f = 0; f < w->nfiles; f++) {
        const hub_xliff_file *wf = &w->files[f], *rf = &r->files[f];
        need(strcmp(wf->original, rf->original) == 0 && wf->nunits == rf->nunits);
        for (size_t i = 0; i < wf->nunits; i++) {
            const hub_xliff_unit *wu = &wf->units[i], *ru = &rf->units[i];
            need(strcmp(wu->id, ru->id) == 0 && ru->error == NULL);
            need((wu->checksum == NULL) == (ru->checksum == NULL));
            need(wu->checksum == NULL || strcmp(wu->checksum, ru->checksum) == 0);
            same_parts(wu->source, wu->nsource, ru->source, ru->nsource);
            need(ru->has_target == (wu->target != NULL));
            same_parts(wu->target, wu->ntarget, ru->target, ru->ntarget);
        }
    }
}

static void roundtrip(const hub_xliff_doc *d)
{
    hub_xliff_file *files = calloc(d->nfiles + 1, sizeof(*files));
    need(files != NULL);
    for (size_t f = 0; f < d->nfiles; f++) {
        const hub_xliff_file *src = &d->files[f];
        files[f].original = src->original;
        files[f].units = calloc(src->nunits + 1, sizeof(hub_xliff_unit));
        need(files[f].units != NULL);
        for (size_t i = 0; i < src->nunits; i++) {
            hub_xliff_unit *w = &files[f].units[files[f].nunits];
            files[f].nunits += (size_t)prepare_unit(d, &src->units[i], w);
        }
    }
    hub_xliff_doc w = {d->version,
                       d->srclang ? d->srclang : "en",
                       d->trglang ? d->trglang : "de",
                       files,
                       d->nfiles,
                       NULL};
    hub_buf out;
    hub_buf_init(&out, OUT_CAP);
    hub_error err;
    hub_error_init(&err);
    need(hub_xliff_write(&w, &out, &err) == 0);
    hub_xliff_doc r;
    need(hub_xliff_parse(out.data, out.len, &r, &err) == 0);
    check_doc(&r);
    same_doc(&w, &r);
    hub_xliff_doc_free(&r);
    hub_buf_free(&out);
    for (size_t f = 0; f < d->nfiles; f++) {
        for (size_t i = 0; i < files[f].nunits; i++) {
            free(files[f].units[i].source);
            free(files[f].units[i].target);
        }
        free(files[f].units);
    }
    free(files);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hub_error err;
    hub_error_init(&err);
    hub_xliff_doc d;
    int rc = hub_xliff_parse((const char *)data, size, &d, &err);
    if (rc != 0) {
        need(rc == HUB_EBADREQ || rc == HUB_EINVAL || rc == HUB_ETOOBIG);
        need(err.code == rc);
        check_line(err.message);
        need(d.files == NULL && d.nfiles == 0 && d.priv_ == NULL);
        return 0;
    }
    check_doc(&d);
    roundtrip(&d);
    hub_xliff_doc_free(&d);
    hub_error_clear(&err);
    return 0;
}
