## benchmarks of nn: the reference CNN in our engine and in PyTorch, side by side
noinst_PROGRAMS += bench/nn-bench
bench_nn_bench_SOURCES = bench/nn_bench.c
bench_nn_bench_LDADD = $(OFFLINE_LIBS)
EXTRA_DIST += bench/nn_bench.py
BENCH_RUN += bench-nn
bench-nn: bench/nn-bench
	nice -n 10 $(PYTHON3) $(srcdir)/bench/nn_bench.py --bin bench/nn-bench
