## the keyword spotter's phone model: phone set and word spotter (run by
## audio/kws.c), CTC and the model's training (offline)
libshop_a_SOURCES += audio/phones.c audio/phones.h
libshop_offline_a_SOURCES += audio/ctc.c audio/ctc.h audio/phones_train.c audio/phones_train.h

check_PROGRAMS += tests/audio_ctc_test tests/audio_phones_test
tests_audio_ctc_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_audio_ctc_test_LDADD = $(TEST_LIBS)
tests_audio_phones_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_audio_phones_test_LDADD = $(TEST_LIBS)
TESTS += tests/audio_ctc_test tests/audio_phones_test

## make models-speech-phones: the phone model of docs/speech.md from the
## main corpus (under the build folder) and the real training speakers
## (SHOP_REAL_DATA): 8 epochs, then 4 more at a lower rate on new noisy
## copies; writes $(SPEECH_DIR)/kws-phones.nn
.PHONY: models-speech-phones
PHONES_TRAIN_ARGS = --corpus $(SPEECH_CORPUS) --real-data $(SHOP_REAL_DATA) --copies 1 \
	--real-copies 3 --fsdd-copies 1 --batch 32 --threads 2
models-speech-phones: speech-corpus shop-train
	./shop-train audio-phones $(PHONES_TRAIN_ARGS) --epochs 8 --lr 0.005 --seed 1 \
	  --out $(SPEECH_DIR)/kws-phones-base.nn
	./shop-train audio-phones $(PHONES_TRAIN_ARGS) --epochs 4 --lr 0.002 --seed 2 \
	  --init $(SPEECH_DIR)/kws-phones-base.nn --out $(SPEECH_DIR)/kws-phones.nn
