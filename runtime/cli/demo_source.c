/*
 * demo_source.c — synthetic auction bids for `runnel eval`, the demo that runs before the job
 * runtime exists. Deterministic: bid i is a function of i alone (a hashed counter), so any
 * slice of the table can be generated independently. This is not the Nexmark generator (that
 * is the `nexmark` source operator); it only has Nexmark's bid columns and rough shapes.
 */
#include <stdio.h>

#include "cli.h"
#include "runnel/hash.h"

static const char *const channels[] = {"Google", "Facebook", "Baidu", "Apple"};

const rn_schema *rn_demo_bids_schema(void)
{
    static rn_schema *s;
    if (!s) s = rn_schema_parse("auction:int64 not null, bidder:int64 not null, price:int64 not null, "
                                "channel:string not null, url:string not null, date_time:timestamp not null",
                                NULL);
    return s;
}

int rn_demo_bids_fill(struct rn_batch *b, uint64_t first, uint32_t n)
{
    int64_t *auction = b->cols[0].values, *bidder = b->cols[1].values, *price = b->cols[2].values;
    int64_t *ts = b->cols[5].values;
    char chan[32], url[96];
    for (uint32_t i = 0; i < n; i++) {
        uint64_t id = first + i, h = rn_hash_i64((int64_t)id), h2 = rn_hash_mix64(h);
        auction[i] = 1000 + (int64_t)(id / 50) - (int64_t)(h % 100);   /* recent auctions */
        bidder[i] = 1000 + (int64_t)(id / 25) - (int64_t)((h >> 8) % 1000);
        price[i] = 100 + (int64_t)((h2 % 1000000) * (h2 >> 50 & 7) / 7);
        ts[i] = 1700000000000 + (int64_t)id * 10;                     /* 100 bids per second */
        int c = (int)((h >> 20) % 8), len;
        if (c < 4) len = snprintf(chan, sizeof chan, "%s", channels[c]);
        else len = snprintf(chan, sizeof chan, "channel-%u", (unsigned)((h >> 24) % 10000));
        int ul = snprintf(url, sizeof url, "https://www.nexmark.com/%s/item.htm?query=1&channel_id=%u",
                          c < 4 ? channels[c] : "other", (unsigned)((h >> 24) % 10000));
        if (rn_batch_set_str(b, 3, i, chan, (size_t)len) || rn_batch_set_str(b, 4, i, url, (size_t)ul))
            return RN_ENOMEM;
    }
    b->n_rows = n;
    return 0;
}
