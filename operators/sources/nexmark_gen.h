/*
 * nexmark_gen.h — the Nexmark event generator as a library (no operator code): persons,
 * auctions and bids in the 1:3:46 proportion with the id, price, time and hot-key rules of the
 * reference generator (../shared/nexmark.md). Deterministic: the same config gives the same
 * events, byte for byte. The `nexmark` source operator wraps it.
 *
 * Parallel instances: with num_generators = P, instance i generates a contiguous range of event
 * ids (events / P each, the last takes the remainder), on one shared timeline: its k-th event has
 * date_time = base_time + k * inter_event_delay * P, where inter_event_delay = 1e6 / rate us.
 */
#ifndef RN_NEXMARK_GEN_H
#define RN_NEXMARK_GEN_H

#include <stdint.h>

#include "runnel/batch.h"

enum rn_nexmark_kind { RN_NEXMARK_PERSON, RN_NEXMARK_AUCTION, RN_NEXMARK_BID, RN_NEXMARK_ALL };

struct rn_nexmark_config {
    uint64_t seed;             /* default 0 */
    uint64_t events;           /* total over all instances; 0 = unbounded */
    uint64_t rate;             /* event-time rate, events/s over all instances; default 10,000,000 */
    int64_t base_time;         /* ms since the epoch of event 0; default 1436918400000 (2015-07-15) */
    uint32_t num_generators;   /* P >= 1 */
    uint32_t index;            /* this instance, 0 .. P-1 */
};

/* Fills c with the defaults above (P = 1, index 0). */
void rn_nexmark_config_default(struct rn_nexmark_config *c);

/* Output schema of a kind (one reference owned by the library; take a ref to keep it):
 *   person:  id int64, name string, email_address string, credit_card string, city string,
 *            state string, date_time timestamp, extra string
 *   auction: id int64, item_name string, description string, initial_bid int64, reserve int64,
 *            date_time timestamp, expires timestamp, seller int64, category int64, extra string
 *   bid:     auction int64, bidder int64, price int64, channel string, url string,
 *            date_time timestamp, extra string
 *   all:     event_type int64 (0 person, 1 auction, 2 bid), date_time timestamp, then every
 *            person column prefixed "person_", auction "auction_", bid "bid_" (nullable: only the
 *            event's own group is set). Columns are not nullable in the single-kind schemas. */
const rn_schema *rn_nexmark_schema(enum rn_nexmark_kind kind);

typedef struct rn_nexmark_gen rn_nexmark_gen;

/* A generator of events of one kind (others are skipped but still consume event numbers and
 * randomness exactly as when generating all, so a person source and an auction source with the
 * same config agree on ids). NULL on a bad config (P = 0, index >= P, rate = 0) or no memory. */
rn_nexmark_gen *rn_nexmark_gen_create(const struct rn_nexmark_config *c, enum rn_nexmark_kind kind);
void rn_nexmark_gen_destroy(rn_nexmark_gen *g);

/* Appends up to max_rows events of the generator's kind to b (whose schema is
 * rn_nexmark_schema(kind), with room for n_rows + max_rows), setting b->n_rows. Returns the
 * number appended; 0 only at the end of a bounded stream; < 0 on error. */
int rn_nexmark_gen_next(rn_nexmark_gen *g, struct rn_batch *b, uint32_t max_rows);

/* Events (of every kind) this instance has generated or skipped so far, and a way to resume
 * from such a position (checkpoints store it). seek(p) then next() gives exactly what a fresh
 * generator would give after p events. */
uint64_t rn_nexmark_gen_position(const rn_nexmark_gen *g);
int rn_nexmark_gen_seek(rn_nexmark_gen *g, uint64_t position);

#endif
