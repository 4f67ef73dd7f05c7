## benchmarks of e2e: the main job's latency through a real shopd, from a
## spoken request (end of speech) and from a 1 MP photo to the recommendations
## event (figures in docs/main-job.md)
EXTRA_DIST += bench/e2e_bench.py
BENCH_RUN += bench-e2e
bench-e2e: shopd tests/e2e_mkdata
	SHOPD_DATADIR='$(abs_top_srcdir)' SHOP_TOP_SRCDIR='$(abs_top_srcdir)' \
	SHOP_TOP_BUILDDIR='$(abs_top_builddir)' nice -n 10 /usr/bin/python3 \
	$(srcdir)/bench/e2e_bench.py
