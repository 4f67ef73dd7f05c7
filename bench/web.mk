## the kiosk page's WebSocket bridge: what it adds to a request's round trip,
## against the protocol's own ZeroMQ client side by side (figures in
## docs/protocol.md)
EXTRA_DIST += bench/web_bench.py
BENCH_RUN += bench-web
bench-web: shopd
	SHOPD_DATADIR='$(abs_top_srcdir)' SHOP_TOP_SRCDIR='$(abs_top_srcdir)' \
	SHOP_TOP_BUILDDIR='$(abs_top_builddir)' nice -n 10 /usr/bin/python3 \
	$(srcdir)/bench/web_bench.py
