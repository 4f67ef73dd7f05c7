## speech corpus, keyword-spotting CNN, training, evaluation
libshop_a_SOURCES += audio/vocab.c audio/vocab.h audio/corpus.c audio/corpus.h \
	audio/corpus_store.c audio/corpus_int.h \
	audio/kws.c audio/kws.h audio/train.c audio/eval.c audio/realdata.c audio/realdata.h

check_PROGRAMS += tests/audio_kws_vocab_test tests/audio_kws_corpus_test tests/audio_kws_test \
	tests/audio_kws_model_test tests/audio_kws_real_test
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
TESTS += tests/audio_kws_vocab_test tests/audio_kws_corpus_test tests/audio_kws_test \
	tests/audio_kws_model_test tests/audio_kws_real_test
## recordings of real speakers for the real-speech evaluation test (README there)
EXTRA_DIST += tests/data/realspeech

## make eval: the speech-to-intent measures on the held-out test voices of
## the 7,400-utterance corpus prefix every shipped model was measured on
## (docs/speech.md), synthesised first when SHOP_SPEECH_CORPUS holds none
## (10-60 min of espeak-ng/flite/festival).
SHOP_SPEECH_CORPUS ?= /work/cache/speech/v1
## real speech (Speech Commands, FSDD): the shared data folder beside the source tree
SHOP_REAL_DATA ?= $(abs_top_srcdir)/../shared/data
EVAL_RUN += eval-audio
eval-audio: shop-train shop-eval
	@test -f $(SHOP_SPEECH_CORPUS)/clips.tsv || \
	  ./shop-train audio-corpus --out $(SHOP_SPEECH_CORPUS) --seed 1 --scale 2.5 --limit 7400
	SHOPD_DATADIR=$(abs_top_srcdir) ./shop-eval audio --corpus $(SHOP_SPEECH_CORPUS) \
	  --real-data $(SHOP_REAL_DATA) --commands 300 --background-min 20 --json

## the shipped keyword-spotting model
nobase_dist_pkgdata_DATA += models/kws.nn
