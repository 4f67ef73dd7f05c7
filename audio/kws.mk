## speech corpus, keyword-spotting CNN, training, evaluation
libshop_a_SOURCES += audio/vocab.c audio/vocab.h audio/corpus.c audio/corpus.h \
	audio/kws.c audio/kws.h audio/train.c audio/eval.c

check_PROGRAMS += tests/audio_kws_vocab_test tests/audio_kws_corpus_test tests/audio_kws_test
tests_audio_kws_vocab_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_audio_kws_vocab_test_LDADD = $(TEST_LIBS)
tests_audio_kws_corpus_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_audio_kws_corpus_test_LDADD = $(TEST_LIBS)
tests_audio_kws_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_audio_kws_test_LDADD = $(TEST_LIBS)
TESTS += tests/audio_kws_vocab_test tests/audio_kws_corpus_test tests/audio_kws_test
