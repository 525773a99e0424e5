/*
 * analytics/recorder.c: the exposures of reads, written in the background. A read with a
 * subject must not wait for a write (the loop threads never block), yet the subject's first
 * exposure and its sticky assignment must be stored. The loop thread copies the exposure into
 * a pending list; the recorder's thread takes the whole list and writes it through the writer
 * in one transaction, while the next list fills (so batches grow with the load).
 *
 * What a crash can lose: the exposures of the last few milliseconds. Their subjects are
 * assigned again by the same bucket on their next read, so they keep their variant unless
 * the weights changed in between; they are counted at their next read.
 */
#include "analytics/internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_PENDING 65536

typedef struct pending {
    struct pending *next;
    hub_exposure x; /* slices point into data */
    char data[];
} pending;

struct hub_recorder {
    hub_store *store;
    size_t max_pending;
    pthread_mutex_t mu;
    pthread_cond_t wake, written_cv;
    pending *head, **tail;
    size_t npending;
    uint64_t queued, written, dropped; /* queued and written count accepted exposures */
    int stop;
    pthread_t thread;
};

typedef struct batch {
    pending *list;
} batch;

static int write_batch(hub_txn *txn, void *arg)
{
    for (pending *p = ((batch *)arg)->list; p != NULL; p = p->next) {
        int rc = hub_analytics_expose(txn, &p->x);
        if (rc == HUB_EFULL || rc == HUB_ENOMEM)
            return rc;
        /* another error concerns that exposure alone (a corrupt record): skip it */
    }
    return 0;
}

static void free_list(pending *p)
{
    while (p != NULL) {
        pending *n = p->next;
        free(p);
        p = n;
    }
}

static void *run(void *arg)
{
    hub_recorder *r = arg;
    hub_thread_name("oh-recorder");
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (r->head == NULL && !r->stop)
            pthread_cond_wait(&r->wake, &r->mu);
        if (r->head == NULL && r->stop)
            break;
        batch b = {r->head};
        size_t n = r->npending;
        r->head = NULL;
        r->tail = &r->head;
        r->npending = 0;
        pthread_mutex_unlock(&r->mu);
        int rc = hub_store_write(r->store, write_batch, &b);
        if (rc != 0)
            HUB_LOG_WARN("recording %zu exposures failed: %s", n, hub_strerror(rc));
        free_list(b.list);
        pthread_mutex_lock(&r->mu);
        r->written += n;
        pthread_cond_broadcast(&r->written_cv);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int hub_recorder_start(hub_store *store, size_t max_pending, hub_recorder **out)
{
    hub_recorder *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return HUB_ENOMEM;
    r->store = store;
    r->max_pending = max_pending ? max_pending : DEFAULT_MAX_PENDING;
    r->tail = &r->head;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->wake, NULL);
    pthread_cond_init(&r->written_cv, NULL);
    if (pthread_create(&r->thread, NULL, run, r) != 0) {
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->wake);
        pthread_cond_destroy(&r->written_cv);
        free(r);
        return HUB_ENOMEM;
    }
    *out = r;
    return 0;
}

void hub_recorder_stop(hub_recorder *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    free_list(r->head);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->wake);
    pthread_cond_destroy(&r->written_cv);
    free(r);
}

static hub_slice copy_in(char **at, hub_slice s)
{
    memcpy(*at, s.base, s.len);
    hub_slice out = {*at, s.len};
    *at += s.len;
    return out;
}

void hub_recorder_expose(hub_recorder *r, const hub_exposure *x)
{
    if (r == NULL)
        return;
    size_t n = x->key.len + x->subject.len + x->variant.len + x->channel.len;
    pending *p = malloc(sizeof(*p) + n);
    if (p == NULL)
        return;
    char *at = p->data;
    p->next = NULL;
    p->x = *x;
    p->x.key = copy_in(&at, x->key);
    p->x.subject = copy_in(&at, x->subject);
    p->x.variant = copy_in(&at, x->variant);
    p->x.channel = copy_in(&at, x->channel);
    pthread_mutex_lock(&r->mu);
    if (r->npending >= r->max_pending || r->stop) {
        r->dropped++;
        pthread_mutex_unlock(&r->mu);
        free(p);
        return;
    }
    *r->tail = p;
    r->tail = &p->next;
    r->npending++;
    r->queued++;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->mu);
}

void hub_recorder_flush(hub_recorder *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    uint64_t target = r->queued;
    while (r->written < target)
        pthread_cond_wait(&r->written_cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
}

void hub_recorder_stats(hub_recorder *r, uint64_t *written, uint64_t *dropped)
{
    *written = *dropped = 0;
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    *written = r->written;
    *dropped = r->dropped;
    pthread_mutex_unlock(&r->mu);
}
