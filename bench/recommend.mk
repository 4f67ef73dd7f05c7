## benchmarks of recommend: training times on UCI Online Retail, query latency
## and throughput in-process and over ZeroMQ with many clients
noinst_PROGRAMS += bench/recommend-bench
bench_recommend_bench_SOURCES = bench/recommend_bench.c
bench_recommend_bench_LDADD = $(OFFLINE_LIBS)
BENCH_RUN += bench-recommend
bench-recommend: bench/recommend-bench
	SHOP_TOP_SRCDIR='$(abs_top_srcdir)' nice -n 10 bench/recommend-bench
