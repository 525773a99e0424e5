/*
 * app/import.c: `omnihub import`. Loads JSON files and folders (content-samples/README.md
 * describes the format) and applies them through the same module functions the HTTP API
 * uses, so an imported entity obeys exactly the rules of a PUT.
 *
 * Every file is read and its shape checked first; then the entities of all accepted files are
 * applied in dependency order: locales (a fallback before the locales that name it), taxonomy
 * terms (parents before children), blocks, messages, publishes, journeys. Entities run many
 * to a transaction (one fsync per BATCH_MAX); when one fails, the batch is rolled back, the
 * entities before it are committed again without it, and the bad one is reported alone.
 *
 * Re-importing the same files is harmless: an item whose draft (or published version) already
 * equals the file is not written (or published) again.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "app/app.h"

#define FILE_BYTES_MAX ((long long)64 * 1024 * 1024)
#define DIR_DEPTH_MAX  32
#define BATCH_MAX      500
#define REASON_MAX     600

typedef enum { K_LOCALE, K_TERM, K_BLOCK, K_MESSAGE, K_PUBLISH, K_JOURNEY, K_COUNT } ekind;

static const char *const kind_label[K_COUNT] = {"locale", "term",    "item",
                                                "item",   "publish", "journey"};

typedef struct ifile {
    char *path;
    json_t *root;
    int rejected;
    char *reason; /* the first problem */
    size_t more;  /* problems after the first */
} ifile;

typedef struct entity {
    ekind kind;
    size_t file;
    char ptr[48];     /* where in the file: "" (the whole file) or "/items/12" */
    const char *name; /* tag, term, item key or journey id; borrowed from the file's root */
    json_t *body;     /* what the module function gets (owned) */
    int order;        /* within the kind: dependency depth */
    size_t seq;       /* collection order: keeps the sort stable */
    int publish;      /* items: "status": "published" */
    size_t item;      /* K_PUBLISH: index of its item entity */
    int failed;       /* reported as rejected */
    int skipped;      /* nothing to do (unchanged, or its item failed) */
} entity;

typedef struct importer {
    hub_store *store;
    hub_content_ctx cx;
    hub_principal actor;
    ifile *files;
    size_t nfiles, cap_files;
    entity *ents;
    size_t nents, cap_ents;
    size_t counts[K_COUNT];
    size_t published;
} importer;

/* ---- files ----------------------------------------------------------------------------- */

static int grow(void **arr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need)
        n *= 2;
    void *p = realloc(*arr, n * size);
    if (p == NULL)
        return HUB_ENOMEM;
    *arr = p;
    *cap = n;
    return 0;
}

/* Records a problem against file i; the first one becomes its reason. */
__attribute__((format(printf, 3, 4))) static void reject(importer *im, size_t i, const char *fmt,
                                                         ...)
{
    ifile *f = &im->files[i];
    char text[REASON_MAX];
    va_list ap;
    if (f->rejected) {
        f->more++;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    f->rejected = 1;
    f->reason = hub_strdup(text);
}

static long add_file(importer *im, const char *path)
{
    if (grow((void **)&im->files, &im->cap_files, im->nfiles + 1, sizeof(ifile)) != 0)
        return HUB_ENOMEM;
    ifile *f = &im->files[im->nfiles];
    memset(f, 0, sizeof(*f));
    f->path = hub_strdup(path);
    if (f->path == NULL)
        return HUB_ENOMEM;
    return (long)im->nfiles++;
}

static int name_cmp(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int ends_with_json(const char *s)
{
    size_t n = strlen(s);
    return n > 5 && strcmp(s + n - 5, ".json") == 0;
}

static int add_path(importer *im, const char *path, int depth);

/* Adds the *.json files and the folders of a folder, in name order; hidden names skipped. */
static int add_dir(importer *im, const char *path, int depth)
{
    struct dirent **list = NULL;
    int n = scandir(path, &list, NULL, name_cmp), rc = 0;
    if (n < 0) {
        long i = add_file(im, path);
        if (i >= 0)
            reject(im, (size_t)i, "cannot read the folder: %s", strerror(errno));
        return i < 0 ? (int)i : 0;
    }
    for (int k = 0; k < n; k++) {
        const char *nm = list[k]->d_name;
        char child[4096];
        struct stat st;
        int w = snprintf(child, sizeof(child), "%s/%s", path, nm);
        if (rc == 0 && nm[0] != '.' && w > 0 && (size_t)w < sizeof(child) &&
            stat(child, &st) == 0 && (S_ISDIR(st.st_mode) || ends_with_json(nm)))
            rc = add_path(im, child, depth + 1);
        free(list[k]);
    }
    free(list);
    return rc;
}

static int add_path(importer *im, const char *path, int depth)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (depth < DIR_DEPTH_MAX)
            return add_dir(im, path, depth);
    }
    long i = add_file(im, path);
    if (i < 0)
        return (int)i;
    if (depth >= DIR_DEPTH_MAX)
        reject(im, (size_t)i, "folders nested deeper than %d levels", DIR_DEPTH_MAX);
    return 0;
}

static void load_file(importer *im, size_t i)
{
    ifile *f = &im->files[i];
    struct stat st;
    json_error_t jerr;
    if (f->rejected)
        return;
    if (stat(f->path, &st) != 0) {
        reject(im, i, "%s", strerror(errno));
        return;
    }
    if (!S_ISREG(st.st_mode) || (long long)st.st_size > FILE_BYTES_MAX) {
        reject(im, i, "not a regular file of at most %lld bytes", FILE_BYTES_MAX);
        return;
    }
    f->root = json_load_file(f->path, JSON_REJECT_DUPLICATES, &jerr);
    if (f->root == NULL)
        reject(im, i, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
}

/* ---- collecting entities --------------------------------------------------------------- */

/* A copy of obj without member `drop` (new reference). */
static json_t *copy_without(json_t *obj, const char *drop)
{
    json_t *c = json_copy(obj);
    if (c != NULL && drop != NULL)
        json_object_del(c, drop);
    return c;
}

static entity *add_entity(importer *im, ekind k, size_t file, const char *ptr, const char *name,
                          json_t *body)
{
    if (body == NULL ||
        grow((void **)&im->ents, &im->cap_ents, im->nents + 1, sizeof(entity)) != 0) {
        json_decref(body);
        return NULL;
    }
    entity *e = &im->ents[im->nents];
    memset(e, 0, sizeof(*e));
    e->kind = k;
    e->file = file;
    snprintf(e->ptr, sizeof(e->ptr), "%s", ptr);
    e->name = name;
    e->body = body;
    e->seq = im->nents++;
    return e;
}

static int add_item(importer *im, size_t file, const char *ptr, json_t *doc)
{
    json_t *status = json_object_get(doc, "status");
    const char *st = json_string_value(status);
    const char *key = json_string_value(json_object_get(doc, "key"));
    if (key == NULL) {
        reject(im, file, "%s/key: required: the item key (a string)", ptr);
        return HUB_EINVAL;
    }
    if (status != NULL && (st == NULL || (strcmp(st, "published") && strcmp(st, "draft")))) {
        reject(im, file, "%s/status: must be \"published\" or \"draft\"", ptr);
        return HUB_EINVAL;
    }
    const char *kind = json_string_value(json_object_get(doc, "kind"));
    ekind k = kind != NULL && strcmp(kind, "block") == 0 ? K_BLOCK : K_MESSAGE;
    entity *e = add_entity(im, k, file, ptr, key, copy_without(doc, "status"));
    if (e == NULL)
        return HUB_ENOMEM;
    e->publish = st != NULL && strcmp(st, "published") == 0;
    return 0;
}

static int add_journey(importer *im, size_t file, const char *ptr, json_t *doc)
{
    const char *id = json_string_value(json_object_get(doc, "id"));
    if (id == NULL) {
        reject(im, file, "%s/id: required: the journey id (a journey/ term)", ptr);
        return HUB_EINVAL;
    }
    return add_entity(im, K_JOURNEY, file, ptr, id, json_incref(doc)) ? 0 : HUB_ENOMEM;
}

/* "locales" entries {"tag",...} and "taxonomy" entries {"term",...}. */
static int add_named(importer *im, size_t file, const char *ptr, json_t *doc, ekind k)
{
    const char *member = k == K_LOCALE ? "tag" : "term";
    const char *name = json_string_value(json_object_get(doc, member));
    if (name == NULL) {
        reject(im, file, "%s/%s: required: a string", ptr, member);
        return HUB_EINVAL;
    }
    return add_entity(im, k, file, ptr, name, copy_without(doc, member)) ? 0 : HUB_ENOMEM;
}

static const char *const sections[] = {"locales", "taxonomy", "items", "journeys", NULL};

static int add_section(importer *im, size_t file, size_t s, json_t *list)
{
    size_t i;
    json_t *doc;
    if (!json_is_array(list)) {
        reject(im, file, "/%s: must be an array", sections[s]);
        return HUB_EINVAL;
    }
    json_array_foreach(list, i, doc)
    {
        char ptr[48];
        int rc;
        snprintf(ptr, sizeof(ptr), "/%s/%zu", sections[s], i);
        if (!json_is_object(doc)) {
            reject(im, file, "%s: must be an object", ptr);
            return HUB_EINVAL;
        }
        if (s == 0 || s == 1)
            rc = add_named(im, file, ptr, doc, s == 0 ? K_LOCALE : K_TERM);
        else
            rc = s == 2 ? add_item(im, file, ptr, doc) : add_journey(im, file, ptr, doc);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* The entities of one loaded file; a file with a bad shape adds none. */
static int collect_file(importer *im, size_t file)
{
    json_t *root = im->files[file].root, *v;
    const char *m;
    size_t mark = im->nents;
    int rc = 0;
    if (root == NULL)
        return 0;
    if (!json_is_object(root)) {
        reject(im, file, "the file must hold a JSON object");
        return 0;
    }
    if (json_object_get(root, "key") != NULL && json_object_get(root, "variants") != NULL) {
        rc = add_item(im, file, "", root);
    } else if (json_object_get(root, "id") != NULL && json_object_get(root, "steps") != NULL) {
        rc = add_journey(im, file, "", root);
    } else {
        json_object_foreach(root, m, v)
        {
            size_t s = 0;
            while (sections[s] != NULL && strcmp(sections[s], m) != 0)
                s++;
            if (sections[s] == NULL) {
                reject(im, file,
                       "unknown member /%.64s: expected locales, taxonomy, items, journeys, an "
                       "item (key, variants) or a journey (id, steps)",
                       m);
                rc = HUB_EINVAL;
            } else {
                rc = add_section(im, file, s, v);
            }
            if (rc != 0)
                break;
        }
        if (rc == 0 && json_object_size(root) == 0) {
            reject(im, file, "empty document: nothing to import");
            rc = HUB_EINVAL;
        }
    }
    if (rc != 0) { /* drop what this file added */
        while (im->nents > mark)
            json_decref(im->ents[--im->nents].body);
    }
    return rc == HUB_ENOMEM ? rc : 0;
}

/* ---- ordering -------------------------------------------------------------------------- */

static const entity *find_locale(const importer *im, const char *tag)
{
    for (size_t j = 0; j < im->nents; j++) {
        if (im->ents[j].kind == K_LOCALE && strcasecmp(im->ents[j].name, tag) == 0)
            return &im->ents[j];
    }
    return NULL;
}

/* How many imported locales a locale's explicit fallbacks pass through (cycles stop at 64:
 * hub_locale_put reports them). */
static void locale_orders(importer *im)
{
    for (size_t i = 0; i < im->nents; i++) {
        entity *e = &im->ents[i];
        if (e->kind != K_LOCALE)
            continue;
        int depth = 0;
        const char *fb = json_string_value(json_object_get(e->body, "fallback"));
        const entity *o = fb != NULL ? find_locale(im, fb) : NULL;
        while (o != NULL && depth < 64) {
            depth++;
            fb = json_string_value(json_object_get(o->body, "fallback"));
            o = fb != NULL ? find_locale(im, fb) : NULL;
        }
        /* The default first among equals, so it never has to be moved. */
        e->order = depth * 2 + (json_is_true(json_object_get(e->body, "default")) ? 0 : 1);
    }
}

static int entity_cmp(const void *pa, const void *pb)
{
    const entity *a = pa, *b = pb;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    if (a->order != b->order)
        return a->order < b->order ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Sorts, then inserts one publish per published item, after the items, before the journeys. */
static int order_entities(importer *im)
{
    size_t npub = 0, nj = 0;
    if (im->nents == 0)
        return 0;
    locale_orders(im);
    for (size_t i = 0; i < im->nents; i++) {
        entity *e = &im->ents[i];
        if (e->kind == K_TERM) {
            e->order = 0;
            for (const char *p = e->name; *p; p++)
                e->order += *p == '/';
        }
        npub += e->publish;
    }
    qsort(im->ents, im->nents, sizeof(entity), entity_cmp);
    if (grow((void **)&im->ents, &im->cap_ents, im->nents + npub, sizeof(entity)) != 0)
        return HUB_ENOMEM;
    while (nj < im->nents && im->ents[im->nents - 1 - nj].kind == K_JOURNEY)
        nj++;
    size_t at = im->nents - nj;
    memmove(&im->ents[at + npub], &im->ents[at], nj * sizeof(entity));
    for (size_t i = 0, k = at; i < at; i++) {
        if (!im->ents[i].publish)
            continue;
        entity *p = &im->ents[k++];
        *p = im->ents[i];
        p->kind = K_PUBLISH;
        p->body = NULL;
        p->publish = 0;
        p->item = i;
    }
    im->nents += npub;
    return 0;
}

/* ---- applying -------------------------------------------------------------------------- */

/* Members the hub adds to drafts and versions (see content/items.c). */
static const char *const meta_members[] = {"revision",     "created_at",        "updated_at",
                                           "updated_by",   "published_version", "version",
                                           "published_at", "published_by",      NULL};

/* 1 if the stored document (draft or version), without its metadata, equals body. */
static int same_as_stored(json_t *stored, json_t *body)
{
    json_t *c = json_copy(stored);
    int same;
    if (c == NULL)
        return 0;
    for (size_t i = 0; meta_members[i] != NULL; i++)
        json_object_del(c, meta_members[i]);
    same = json_equal(c, body);
    json_decref(c);
    return same;
}

static int apply_item(importer *im, hub_txn *txn, entity *e, hub_error *err)
{
    json_t *draft = NULL;
    int same = hub_content_get_draft(txn, e->name, &draft) == 0 && same_as_stored(draft, e->body);
    json_decref(draft);
    e->skipped = same;
    if (same)
        return 0;
    return hub_content_put(txn, &im->cx, e->name, e->body, NULL, NULL, NULL, err);
}

static int apply_publish(importer *im, hub_txn *txn, entity *e, hub_error *err)
{
    entity *item = &im->ents[e->item];
    json_t *pub = NULL, *draft = NULL;
    uint32_t version;
    e->skipped = item->failed;
    if (item->failed)
        return 0;
    if (hub_content_get_published(txn, e->name, &pub) == 0 &&
        hub_content_get_draft(txn, e->name, &draft) == 0)
        e->skipped = same_as_stored(pub, item->body) && same_as_stored(draft, item->body);
    json_decref(pub);
    json_decref(draft);
    if (e->skipped)
        return 0;
    return hub_content_publish(txn, &im->cx, e->name, &version, err);
}

static int apply_one(importer *im, hub_txn *txn, entity *e, hub_error *err)
{
    int changed = 0, rc;
    e->skipped = 0;
    switch (e->kind) {
    case K_LOCALE:
        rc = hub_locale_put(txn, e->name, e->body, &changed, err);
        if (rc == 0 && changed)
            rc = hub_content_rematerialize_all(txn);
        if (rc == 0) /* audited like the API's writes: every change is in the log */
            rc = hub_audit_append(txn, im->actor.name, "locale.put", "locales", e->name, e->body);
        return rc;
    case K_TERM:
        rc = hub_taxonomy_put(txn, e->name, e->body, err);
        if (rc == 0)
            rc =
                hub_audit_append(txn, im->actor.name, "taxonomy.put", "taxonomy", e->name, e->body);
        return rc;
    case K_BLOCK:
    case K_MESSAGE:
        return apply_item(im, txn, e, err);
    case K_PUBLISH:
        return apply_publish(im, txn, e, err);
    case K_JOURNEY:
        return hub_journey_put(txn, &im->cx, e->name, e->body, NULL, NULL, err);
    case K_COUNT:
        break;
    }
    return HUB_EINVAL;
}

typedef struct batch {
    importer *im;
    size_t start, end;
    long failed; /* index of the entity that failed, or -1 */
    hub_error err;
} batch;

static int batch_write(hub_txn *txn, void *arg)
{
    batch *b = arg;
    for (size_t i = b->start; i < b->end; i++) {
        hub_error_clear(&b->err);
        int rc = apply_one(b->im, txn, &b->im->ents[i], &b->err);
        if (rc < 0) {
            b->failed = (long)i;
            return rc;
        }
    }
    return 0;
}

/* Reports entity e's failure against its file, with the first problem's pointer. */
static void report(importer *im, entity *e, int rc, const hub_error *err)
{
    const char *msg = err->message[0] ? err->message : hub_strerror(rc);
    e->failed = 1;
    if (err->problems.count == 0) {
        reject(im, e->file, "%s %.200s: %s", kind_label[e->kind], e->name, msg);
        return;
    }
    const hub_problem *p = &err->problems.items[0];
    reject(im, e->file, "%s %.200s: %s; %s%.200s: %s", kind_label[e->kind], e->name, msg, e->ptr,
           p->path, p->message);
}

static void committed(importer *im, size_t start, size_t end)
{
    for (size_t i = start; i < end; i++) {
        entity *e = &im->ents[i];
        if (e->kind == K_PUBLISH)
            im->published += !im->ents[e->item].failed;
        else
            im->counts[e->kind]++;
    }
}

/* Applies every entity, BATCH_MAX to a transaction; isolates failures (see the top). */
static void apply_all(importer *im)
{
    size_t i = 0, limit = im->nents;
    while (i < im->nents) {
        size_t end = i + BATCH_MAX < limit ? i + BATCH_MAX : limit;
        batch b = {im, i, end, -1, {0}};
        hub_error_init(&b.err);
        int rc = hub_store_write(im->store, batch_write, &b);
        if (rc == 0) {
            committed(im, i, end);
            i = end;
            limit = im->nents;
        } else if (b.failed < 0) { /* the commit itself failed: none of them is stored */
            for (; i < end; i++)
                report(im, &im->ents[i], rc, &b.err);
            limit = im->nents;
        } else if ((size_t)b.failed == i) {
            report(im, &im->ents[i], rc, &b.err);
            i++;
            limit = im->nents;
        } else {
            limit = (size_t)b.failed; /* commit those before it, then report it alone */
        }
        hub_error_clear(&b.err);
    }
}

/* ---- the entry point ------------------------------------------------------------------- */

static void importer_free(importer *im)
{
    for (size_t i = 0; i < im->nents; i++)
        json_decref(im->ents[i].body);
    for (size_t i = 0; i < im->nfiles; i++) {
        free(im->files[i].path);
        free(im->files[i].reason);
        json_decref(im->files[i].root);
    }
    free(im->ents);
    free(im->files);
}

static size_t print_rejected(importer *im)
{
    size_t n = 0;
    for (size_t i = 0; i < im->nfiles; i++) {
        ifile *f = &im->files[i];
        if (!f->rejected)
            continue;
        n++;
        if (f->more > 0)
            fprintf(stderr, "import: %s: %s (and %zu more problem%s)\n", f->path,
                    f->reason ? f->reason : "rejected", f->more, f->more == 1 ? "" : "s");
        else
            fprintf(stderr, "import: %s: %s\n", f->path, f->reason ? f->reason : "rejected");
    }
    return n;
}

int hub_import_paths(hub_store *store, const hub_renderer *renderer, char **paths, int npaths)
{
    importer im;
    int rc = 0;
    memset(&im, 0, sizeof(im));
    im.store = store;
    snprintf(im.actor.name, sizeof(im.actor.name), "import");
    im.actor.role = HUB_ROLE_ADMIN;
    im.cx.schemas =
        renderer != NULL ? hub_renderer_schemas(renderer) : hub_content_builtin_schemas();
    im.cx.check = renderer != NULL ? hub_render_publish_check : NULL;
    im.cx.check_ctx = (void *)renderer;
    im.cx.actor = &im.actor;
    for (int i = 0; i < npaths && rc == 0; i++)
        rc = add_path(&im, paths[i], 0);
    for (size_t i = 0; i < im.nfiles && rc == 0; i++) {
        load_file(&im, i);
        rc = collect_file(&im, i);
    }
    if (rc == 0)
        rc = order_entities(&im);
    if (rc == 0)
        apply_all(&im);
    size_t rejected = print_rejected(&im);
    if (rc != 0)
        fprintf(stderr, "import: %s\n", hub_strerror(rc));
    fprintf(stderr,
            "imported %zu locales, %zu terms, %zu items (%zu published), %zu journeys; %zu "
            "files rejected\n",
            im.counts[K_LOCALE], im.counts[K_TERM], im.counts[K_BLOCK] + im.counts[K_MESSAGE],
            im.published, im.counts[K_JOURNEY], rejected);
    importer_free(&im);
    return rc != 0 || rejected > 0 ? 1 : 0;
}
