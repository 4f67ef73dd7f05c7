## benchmarks of the keyword spotter: real-time factor and batch-1 time of the
## shipped model, beside a peer model: the real-speaker model
## models/kws-domain.nn, or the one SHOP_KWS_PEER names (e.g. an earlier
## models/kws.nn taken from git: docs/speech.md; empty: none)
noinst_PROGRAMS += bench/kws-bench
bench_kws_bench_SOURCES = bench/kws_bench.c
BENCH_RUN += bench-kws
SHOP_KWS_PEER ?= $(abs_top_srcdir)/models/kws-domain.nn
bench-kws: bench/kws-bench
	SHOPD_DATADIR='$(abs_top_srcdir)' nice -n 10 bench/kws-bench \
	  '$(abs_top_srcdir)/models/kws.nn' $(SHOP_KWS_PEER)
