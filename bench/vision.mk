## benchmarks of vision: latency of the photo path (decode, preprocess, CNN, search)
noinst_PROGRAMS += bench/vision-bench
bench_vision_bench_SOURCES = bench/vision_bench.c tests/vision_util.c
bench_vision_bench_CFLAGS = $(AM_CFLAGS) -fno-sanitize=shift
bench_vision_bench_LDADD = $(OFFLINE_LIBS)
BENCH_RUN += bench-vision
bench-vision: bench/vision-bench
	SHOPD_DATADIR='$(abs_top_srcdir)' nice -n 10 bench/vision-bench
