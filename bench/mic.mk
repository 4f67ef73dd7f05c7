## what listening costs: shopd's CPU share on an ALSA virtual microphone fed
## silence and speech in real time, next to arecord (figures in docs/audio-input.md)
EXTRA_DIST += bench/mic_bench.py
BENCH_RUN += bench-mic
bench-mic: shopd
	SHOPD_DATADIR='$(abs_top_srcdir)' SHOP_TOP_SRCDIR='$(abs_top_srcdir)' \
	SHOP_TOP_BUILDDIR='$(abs_top_builddir)' nice -n 10 /usr/bin/python3 \
	$(srcdir)/bench/mic_bench.py
