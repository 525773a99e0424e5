/*
 * translation: the translation workflow. Content goes out to translators as XLIFF (2.0 or
 * 1.2) and comes back into the drafts of the target locale, checked on the way in.
 *
 * Units. One unit per string field that translators work on: every TEXT and HTML field
 * (URL and object fields are not prose and stay out) that a variant has in the source
 * locale. Unit id "<variant>.<channel>.<field>" (an NMTOKEN: variant ids, channel and field
 * names never contain '.'); one XLIFF file per item, `original` = the item key. Liquid and
 * HTML tags are inline codes (internal.h, tr_split), each unit carries oh:checksum, the
 * SHA-256 of its source text, and notes: where it is used, the channel's limits for the
 * field, and for an outdated unit the translation it replaces.
 *
 * Export picks, per field, what is missing or outdated in the target locale: missing when
 * the variant has no string for (target, channel, field); outdated when the translation
 * was imported from a source text (in the source locale of that import) whose checksum is
 * not the current one. Imports record both checksums; a translation an editor typed in
 * directly, or corrected by hand after the import, counts as up to date.
 * The source is each item's draft, the working copy editors change.
 *
 * Import takes each unit on its own and refuses it, with the unit id and a reason code,
 * when: its item does not exist or the token may not touch it ("unknown_item",
 * "forbidden"); its id names no source field ("unknown_unit"); the source text changed
 * since the export ("stale_source": oh:checksum differs, or without oh:checksum the
 * document's source text is not the current one); the unit is malformed ("invalid_unit");
 * inline codes are broken or missing ("broken_code", "missing_code"); the Liquid does not
 * compile ("liquid"); or the channel refuses the result ("channel_limits": the field's size
 * limit, SMS segments, push payload bytes...: the same checks a publish runs, for every
 * variant that resolves the field in the target locale). A unit without target text is
 * "untranslated", not an error. What passes is written into the item's draft in one
 * hub_content_put per item (audited as the token: item.put, and item.translated with the
 * locales and unit ids), so a unit is imported whole or not at all, and its translation
 * record is stored in the same transaction.
 */
#ifndef HUB_TRANSLATION_H
#define HUB_TRANSLATION_H

#include <jansson.h>

#include "base/base.h"
#include "content/content.h"
#include "render/render.h"
#include "xml/xml.h"

/* The largest export: small enough that the translated file (targets add about a third)
 * fits the import's HUB_XLIFF_MAX_INPUT. A bigger selection is narrowed with a tag. */
#define HUB_TR_EXPORT_MAX ((size_t)12 << 20)

typedef struct hub_tr_export_request {
    const char *source; /* canonical tag of a configured locale; NULL: the default locale */
    const char *locale; /* the target: canonical tag of a configured locale, not the source */
    const char *tag;    /* NULL: every item; else the items tagged with it or a descendant,
                           and the blocks they render (transitively) */
    hub_xliff_version format;
    const hub_principal *viewer; /* its channel and tag limits narrow the export; NULL: none */
} hub_tr_export_request;

/*
 * Appends the XLIFF document for rq to out (cap applies) and sets *nunits. With no unit to
 * translate, nothing is appended and *nunits is 0. HUB_EINVAL (unknown locale, the same
 * locale twice) with err; HUB_ETOOBIG; HUB_ENOMEM; HUB_EIO.
 */
int hub_translation_export(hub_txn *txn, const hub_renderer *r, const hub_tr_export_request *rq,
                           hub_buf *out, size_t *nunits, hub_error *err);

/*
 * Imports the translations of doc into the drafts of their target locale, in the write
 * transaction txn (cx: the actor and schemas, as for hub_content_put). *report (new):
 * {"format":"xliff2"|"xliff12","files":n,"imported":[{"item","unit","locale"}],
 *  "untranslated":[{"item","unit"}],"rejected":[{"item","unit","reason","detail"}],
 *  "items":[keys whose draft changed]}.
 * Returns 0 with the report whatever the units' fates; an error only when nothing could be
 * judged (HUB_ENOMEM, HUB_EIO, a store error: roll back).
 */
int hub_translation_import(hub_txn *txn, const hub_content_ctx *cx, const hub_renderer *r,
                           const hub_xliff_doc *doc, json_t **report, hub_error *err);

/* "xliff2" or "xliff12" <-> the version; 0 when the name is unknown. */
hub_xliff_version hub_translation_format(const char *name);
const char *hub_translation_format_name(hub_xliff_version v);

#endif
