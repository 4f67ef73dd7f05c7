## benchmarks of recommend: training times on UCI Online Retail, query latency
## and throughput in-process and over ZeroMQ with many clients; then SQLite and
## PostgreSQL side by side with two devices (queries/s, p99, durable events/s)
noinst_PROGRAMS += bench/recommend-bench
bench_recommend_bench_SOURCES = bench/recommend_bench.c \
	bench/recommend_stores.c bench/recommend_stores.h
bench_recommend_bench_LDADD = $(OFFLINE_LIBS)
BENCH_RUN += bench-recommend
bench-recommend: bench/recommend-bench shop-recommend$(EXEEXT)
	SHOP_TOP_SRCDIR='$(abs_top_srcdir)' nice -n 10 bench/recommend-bench
	SHOP_TOP_SRCDIR='$(abs_top_srcdir)' SHOP_TOP_BUILDDIR='$(abs_top_builddir)' \
		nice -n 10 bench/recommend-bench --stores
