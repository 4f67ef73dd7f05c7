## bench/: `make bench`, one fragment per area; each adds a phony target to BENCH_RUN
include $(srcdir)/bench/nn.mk
include $(srcdir)/bench/vision.mk
include $(srcdir)/bench/kws.mk
include $(srcdir)/bench/recommend.mk
include $(srcdir)/bench/e2e.mk
include $(srcdir)/bench/web.mk
include $(srcdir)/bench/mic.mk
