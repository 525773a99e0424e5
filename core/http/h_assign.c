/*
 * http/h_assign.c: which variant a read or a send serves to one recipient, shared by
 * GET /v1/content, GET /v1/journeys/{id}/steps/{step} and the sends. The decision itself is
 * core/experiment's; this file reads the request's subject and segments, finds the plan of
 * the published item (or of the draft for previews), and hands first exposures to the
 * recorder so that the loop thread never waits for a write.
 */
#include "http/internal.h"

#include <string.h>

int hub_req_audience(hub_request *r, hub_audience_in *out)
{
    const char *subject = hub_req_param(r, "subject");
    const char *segs = hub_req_param(r, "segments");
    out->subject = hub_slice_cstr(subject != NULL ? subject : "");
    out->nsegs = 0;
    if (out->subject.len > HUB_SUBJECT_MAX) {
        hub_req_send_problem(r, 400, "subject must be at most 256 bytes", NULL);
        return -1;
    }
    int n = hub_segments_split(segs, out->segs, HUB_SEGMENTS_MAX);
    if (n < 0) {
        hub_req_send_problem(r, 400, "at most 64 segments", NULL);
        return -1;
    }
    out->nsegs = (size_t)n;
    return 0;
}

int hub_req_assign(hub_txn *txn, const char *key, int draft, const hub_audience_in *who,
                   hub_buf *scratch, hub_plan *p, hub_decision *d, uint32_t *version,
                   hub_error *err)
{
    int rc = hub_content_plan(txn, hub_slice_cstr(key), draft, scratch, p, version);
    if (rc == HUB_ENOTFOUND)
        return hub_error_set(err, rc, draft ? "no such item" : "item is not published");
    if (rc == 0)
        rc = hub_experiment_decide(txn, p, hub_slice_cstr(key), who->subject, who->segs, who->nsegs,
                                   d);
    if (rc != 0 && err->code == 0)
        hub_error_set(err, rc, "cannot assign a variant: %s", hub_strerror(rc));
    return rc;
}

void hub_req_note_exposure(hub_request *r, const char *key, const hub_audience_in *who,
                           const hub_plan *p, const hub_decision *d, const char *channel)
{
    hub_exposure x;
    if (d->bucket < 0 || r->cfg->recorder == NULL)
        return;
    if (d->stored && (d->rec.flags & HUB_ASSIGN_EXPOSED) && !d->store)
        return; /* nothing new: the common case of a returning subject */
    hub_exposure_of(p, d, hub_slice_cstr(key), who->subject, hub_slice_cstr(channel), hub_now_ms(),
                    &x);
    hub_recorder_expose(r->cfg->recorder, &x);
}
