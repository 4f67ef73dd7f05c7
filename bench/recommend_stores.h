/* bench/recommend_stores.h: the store backends side by side (see
 * recommend_stores.c): two devices on one SQLite file and on one PostgreSQL
 * server, queries/s and p99, durable events/s. */
#ifndef SHOP_BENCH_RECOMMEND_STORES_H
#define SHOP_BENCH_RECOMMEND_STORES_H

/* Runs the comparison with the shop-recommend of builddir and the
 * tests/pg_server.sh of srcdir, seconds per run; prints the table and a
 * JSON line. Returns 0, or 1 when a backend failed or lost an event. */
int rec_bench_stores(const char *builddir, const char *srcdir, double seconds);

#endif
