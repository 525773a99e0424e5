/*
 * analytics/internal.h: the record formats shared by record.c, reports.c and bandit.c.
 *
 * Counters value: HUB_CTR_COUNT big-endian u64 counts, then the value sum as the big-endian
 * bits of an IEEE 754 double.
 * Touchpoint value: [u8 event type][be16 len][item][be16 len][channel].
 * Conversion value: [8 bytes value bits][be16 len][subject][be16 len][item].
 * Time index value: [u8 't' | 'c'] and the key of the touchpoint or conversion.
 */
#ifndef HUB_ANALYTICS_INTERNAL_H
#define HUB_ANALYTICS_INTERNAL_H

#include "analytics/analytics.h"

#define HUB_DAY_MS   86400000LL
#define HUB_CKEY_MAX 511

typedef enum hub_ctr {
    HUB_CTR_EXPOSURES, /* subjects exposed (each once per item) */
    HUB_CTR_DELIVERIES,
    HUB_CTR_OPENS,
    HUB_CTR_CLICKS,
    HUB_CTR_CONVERSIONS, /* subjects converted (each once per item) */
    HUB_CTR_UNSUBSCRIBES,
    HUB_CTR_BOUNCES,
    HUB_CTR_CONVERSION_EVENTS,
    HUB_CTR_COUNT
} hub_ctr;

typedef struct hub_counts {
    uint64_t n[HUB_CTR_COUNT];
    double value;
} hub_counts;

#define HUB_COUNTS_BYTES (8 * HUB_CTR_COUNT + 8)

/* "item\0variant\0channel\0" + be32 day into out; its length, 0 when it would not fit. */
size_t hub_counter_key(char out[HUB_CKEY_MAX], hub_slice item, hub_slice variant, hub_slice channel,
                       uint32_t day);
/* Splits a counter key; 0 or HUB_EIO. */
int hub_counter_key_split(hub_slice k, hub_slice *item, hub_slice *variant, hub_slice *channel,
                          uint32_t *day);
int hub_counts_decode(hub_slice v, hub_counts *out);
void hub_counts_add(hub_counts *to, const hub_counts *from);

/* The names of the event types ("exposure", ...) and of the counters in reports. */
const char *hub_event_type_name(hub_event_type t);
int hub_event_type_parse(const char *s, hub_event_type *out);

#endif
