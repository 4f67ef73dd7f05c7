## speech corpus, keyword-spotting CNN, training, evaluation
libshop_a_SOURCES += audio/vocab.c audio/vocab.h audio/kws.c audio/kws.h
## offline: the corpus generator and store, the real-speech reader, training and
## evaluation of the spotter
libshop_offline_a_SOURCES += audio/corpus.c audio/corpus.h audio/corpus_store.c audio/corpus_int.h \
	audio/align.c audio/align.h audio/realdata.c audio/realdata.h audio/train.c audio/train.h audio/eval.c \
	audio/eval.h audio/belief.c audio/belief.h

check_PROGRAMS += tests/audio_kws_vocab_test tests/audio_kws_corpus_test tests/audio_kws_test \
	tests/audio_kws_model_test tests/audio_kws_real_test tests/audio_align_test \
	tests/audio_kws_fuse_test tests/audio_kws_teacher_test tests/audio_eval_background_test \
	tests/audio_belief_test tests/audio_kws_belief_test tests/audio_kws_dann_test \
	tests/audio_kws_filler_test tests/audio_kws_wake_min_test
tests_audio_kws_vocab_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_audio_kws_vocab_test_LDADD = $(TEST_LIBS)
tests_audio_kws_corpus_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_audio_kws_corpus_test_LDADD = $(TEST_LIBS)
tests_audio_kws_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_audio_kws_test_LDADD = $(TEST_LIBS)
tests_audio_kws_model_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_audio_kws_model_test_LDADD = $(TEST_LIBS)
tests_audio_kws_real_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_audio_kws_real_test_LDADD = $(TEST_LIBS)
tests_audio_align_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_audio_align_test_LDADD = $(TEST_LIBS)
tests_audio_kws_fuse_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_audio_kws_fuse_test_LDADD = $(TEST_LIBS)
tests_audio_kws_teacher_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_audio_kws_teacher_test_LDADD = $(TEST_LIBS)
tests_audio_eval_background_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_audio_eval_background_test_LDADD = $(TEST_LIBS)
tests_audio_belief_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_audio_belief_test_LDADD = $(TEST_LIBS)
tests_audio_kws_belief_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_audio_kws_belief_test_LDADD = $(TEST_LIBS)
tests_audio_kws_dann_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_audio_kws_dann_test_LDADD = $(TEST_LIBS)
TESTS += tests/audio_kws_vocab_test tests/audio_kws_corpus_test tests/audio_kws_test \
	tests/audio_kws_model_test tests/audio_kws_real_test tests/audio_align_test \
	tests/audio_kws_fuse_test tests/audio_kws_teacher_test tests/audio_eval_background_test \
	tests/audio_belief_test tests/audio_kws_belief_test tests/audio_kws_dann_test \
	tests/audio_kws_filler_test tests/audio_kws_wake_min_test
tests_audio_kws_filler_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_audio_kws_filler_test_LDADD = $(TEST_LIBS)
tests_audio_kws_wake_min_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_audio_kws_wake_min_test_LDADD = $(TEST_LIBS)
## recordings of real speakers for the real-speech evaluation test and the
## filler-class test (READMEs there)
EXTRA_DIST += tests/data/realspeech tests/data/fillerspeech

## The speech corpus: the seeded main plan (22,325 utterances, 29,880 clips)
## synthesised in two halves that `make -j2` runs side by side (one
## espeak-ng/flite/festival process each; 15-40 min on two cores), under the
## build folder.
SPEECH_DIR = $(abs_builddir)/speech
SPEECH_CORPUS = $(SPEECH_DIR)/corpus-a,$(SPEECH_DIR)/corpus-b
## real speech (Speech Commands, FSDD): the shared data folder beside the source tree
SHOP_REAL_DATA ?= $(abs_top_srcdir)/../shared/data
$(SPEECH_DIR)/corpus-a/clips.tsv: | shop-train
	rm -rf $(SPEECH_DIR)/corpus-a.tmp && mkdir -p $(SPEECH_DIR)
	./shop-train audio-corpus --out $(SPEECH_DIR)/corpus-a.tmp --seed 1 --scale 2.5 --limit 11200
	rm -rf $(SPEECH_DIR)/corpus-a && mv $(SPEECH_DIR)/corpus-a.tmp $(SPEECH_DIR)/corpus-a
## the second half continues the plan (--from) in an empty corpus
$(SPEECH_DIR)/corpus-b/clips.tsv: | shop-train
	rm -rf $(SPEECH_DIR)/corpus-b.tmp && mkdir -p $(SPEECH_DIR)/corpus-b.tmp
	printf '#shopd-speech-corpus 1\n' > $(SPEECH_DIR)/corpus-b.tmp/clips.tsv
	: > $(SPEECH_DIR)/corpus-b.tmp/clips.pcm
	./shop-train audio-corpus --out $(SPEECH_DIR)/corpus-b.tmp --seed 1 --scale 2.5 --from 11200
	rm -rf $(SPEECH_DIR)/corpus-b && mv $(SPEECH_DIR)/corpus-b.tmp $(SPEECH_DIR)/corpus-b
## the extra training speakers (flite/festival voices by their parameters),
## a second corpus read with the first, also in two halves
$(SPEECH_DIR)/extra-a/clips.tsv: | shop-train
	rm -rf $(SPEECH_DIR)/extra-a.tmp && mkdir -p $(SPEECH_DIR)
	./shop-train audio-corpus --out $(SPEECH_DIR)/extra-a.tmp --seed 2 --scale 1 --extra --limit 3630
	rm -rf $(SPEECH_DIR)/extra-a && mv $(SPEECH_DIR)/extra-a.tmp $(SPEECH_DIR)/extra-a
$(SPEECH_DIR)/extra-b/clips.tsv: | shop-train
	rm -rf $(SPEECH_DIR)/extra-b.tmp && mkdir -p $(SPEECH_DIR)/extra-b.tmp
	printf '#shopd-speech-corpus 1\n' > $(SPEECH_DIR)/extra-b.tmp/clips.tsv
	: > $(SPEECH_DIR)/extra-b.tmp/clips.pcm
	./shop-train audio-corpus --out $(SPEECH_DIR)/extra-b.tmp --seed 2 --scale 1 --extra --from 3630
	rm -rf $(SPEECH_DIR)/extra-b && mv $(SPEECH_DIR)/extra-b.tmp $(SPEECH_DIR)/extra-b
## the training voices saying the real recordings' non-vocabulary words
## (up, off, left, ...; `--confusables`), a corpus read with the others
$(SPEECH_DIR)/confusables/clips.tsv: | shop-train
	rm -rf $(SPEECH_DIR)/confusables.tmp && mkdir -p $(SPEECH_DIR)
	./shop-train audio-corpus --out $(SPEECH_DIR)/confusables.tmp --seed 5 --scale 2.5 --confusables
	rm -rf $(SPEECH_DIR)/confusables && mv $(SPEECH_DIR)/confusables.tmp $(SPEECH_DIR)/confusables
.PHONY: speech-corpus models-speech models-speech-real models-speech-joint models-speech-fused \
  models-speech-domain
speech-corpus: $(SPEECH_DIR)/corpus-a/clips.tsv $(SPEECH_DIR)/corpus-b/clips.tsv

## make models-speech: the shipped models/kws.nn's recipe from a clean clone
## (docs/speech.md): both corpora, 15 epochs on one thread, thresholds
## recalibrated with a lower floor, the word ends the corpus stores (as that
## model was trained: --prefix-ends, also for the candidates below), the
## listener's wake_min chosen for it (docs/speech.md); writes
## $(SPEECH_DIR)/kws.nn
KWS_ALL = $(SPEECH_CORPUS),$(SPEECH_DIR)/extra-a,$(SPEECH_DIR)/extra-b
KWS_SKIP = --skip-voices lp_diphone,hy_fi_mv_diphone,suo_fi_lj_diphone,upc_ca_ona_hts
models-speech: speech-corpus $(SPEECH_DIR)/extra-a/clips.tsv $(SPEECH_DIR)/extra-b/clips.tsv shop-train
	./shop-train audio --corpus $(KWS_ALL) --out $(SPEECH_DIR)/kws-base.nn --epochs 15 \
	  --copies 3 --lr 0.004 --seed 3 --between 1 --thr-min 0.35 --stride 5 --threads 1 $(KWS_SKIP) \
	  --prefix-ends
	./shop-train audio --corpus $(KWS_ALL) --seed 3 --copies 3 --between 1 --thr-min 0.25 \
	  --stride 5 $(KWS_SKIP) --prefix-ends --wake-min 0.6 \
	  --calibrate $(SPEECH_DIR)/kws-base.nn --out $(SPEECH_DIR)/kws.nn

## make models-speech-real: the real-speaker candidate of docs/speech.md: the
## shipped model trained on for 3 epochs with the real training speakers
## (SHOP_REAL_DATA) added; writes $(SPEECH_DIR)/kws-real.nn
models-speech-real: speech-corpus shop-train
	./shop-train audio --corpus $(SPEECH_CORPUS) --real-data $(SHOP_REAL_DATA) \
	  --init $(abs_top_srcdir)/models/kws.nn --epochs 3 --copies 1 --lr 0.001 --seed 3 \
	  --between 1 --thr-min 0.25 --stride 5 --threads 2 --real-copies 8 --fsdd-copies 1 \
	  --real-noise 0.3 --prefix-ends --out $(SPEECH_DIR)/kws-real.nn

## make models-speech-joint: the joint candidate of docs/speech.md: a new net
## 96 channels wide trained on both corpora and the real training speakers
## (SHOP_REAL_DATA) together, the real recordings' noise clips as a noise
## source; the calibration speakers choose the epoch and the thresholds;
## writes $(SPEECH_DIR)/kws-joint.nn
models-speech-joint: speech-corpus $(SPEECH_DIR)/extra-a/clips.tsv $(SPEECH_DIR)/extra-b/clips.tsv shop-train
	./shop-train audio --corpus $(KWS_ALL) $(KWS_SKIP) --real-data $(SHOP_REAL_DATA) \
	  --channels 96 --epochs 10 --copies 2 --lr 0.004 --seed 3 --between 1 --thr-min 0.25 \
	  --stride 5 --threads 2 --real-copies 10 --fsdd-copies 1 --real-noise 0.3 --fa-rate 0.003 \
	  --prefix-ends --out $(SPEECH_DIR)/kws-joint.nn

## make models-speech-domain: the real-speaker model models/kws-domain.nn's
## recipe (docs/speech.md): the shipped recipe from the start with the real
## training speakers (SHOP_REAL_DATA), the confusables corpus, filler classes
## and the real vocabulary words' windows trained over the real recordings'
## classes; thresholds recalibrated with a lower floor at the false-accept
## rate and with the wake_min its calibration speakers and validation voices
## chose for it; writes $(SPEECH_DIR)/kws-domain.nn
KWS_DOMAIN = --corpus $(KWS_ALL),$(SPEECH_DIR)/confusables $(KWS_SKIP) \
  --real-data $(SHOP_REAL_DATA) --real-copies 10 --fsdd-copies 1 --real-noise 0.3 --seed 3 \
  --between 1 --stride 5 --threads 2 --prefix-ends
models-speech-domain: speech-corpus $(SPEECH_DIR)/extra-a/clips.tsv $(SPEECH_DIR)/extra-b/clips.tsv \
  $(SPEECH_DIR)/confusables/clips.tsv shop-train
	./shop-train audio $(KWS_DOMAIN) --epochs 15 --copies 3 --lr 0.004 --thr-min 0.35 \
	  --filler-classes --domain-classes=words --fa-rate 0.003 \
	  --out $(SPEECH_DIR)/kws-domain-base.nn
	./shop-train audio $(KWS_DOMAIN) --copies 3 --thr-min 0.25 --fa-rate 0.001 --wake-min 0 \
	  --calibrate $(SPEECH_DIR)/kws-domain-base.nn --out $(SPEECH_DIR)/kws-domain.nn

## make models-speech-fused: the product-of-experts candidate of
## docs/speech.md: the shipped recipe's model and the joint candidate as one
## model file (logits summed with weights 0.5 / 0.5), thresholds from the
## synthetic validation voices and the real calibration speakers; writes
## $(SPEECH_DIR)/kws-fused.nn
models-speech-fused: models-speech models-speech-joint
	./shop-train audio --corpus $(KWS_ALL) $(KWS_SKIP) --real-data $(SHOP_REAL_DATA) \
	  --copies 2 --seed 3 --between 1 --thr-min 0.25 --stride 5 --threads 2 --real-copies 10 \
	  --fsdd-copies 1 --real-noise 0.3 --fa-rate 0.002 \
	  --fuse $(SPEECH_DIR)/kws.nn,$(SPEECH_DIR)/kws-joint.nn --fuse-weights 0.5,0.5 \
	  --prefix-ends --out $(SPEECH_DIR)/kws-fused.nn

## make eval: the speech-to-intent measures on the corpus's held-out test
## voices and on the real validation speakers (docs/speech.md); 10 hours of
## noise alone, read by the spotter and by shopd's listener (wake word
## required; about 1.5 min of one core per hour on a 2-core AVX2 machine), so
## that a false-accept rate of 1 per hour or less can show: 0 events in the
## 8.6 hours without babble bound the rate at 0.35/h (95 %), 3 events at 0.90/h
EVAL_RUN += eval-audio
eval-audio: speech-corpus shop-eval
	SHOPD_DATADIR=$(abs_top_srcdir) ./shop-eval audio --corpus $(SPEECH_CORPUS) \
	  --real-data $(SHOP_REAL_DATA) --commands 300 --background-min 20 --noise-hours 10 --json

## the shipped keyword-spotting model
nobase_dist_pkgdata_DATA += models/kws.nn models/kws-domain.nn
