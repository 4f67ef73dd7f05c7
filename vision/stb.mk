## vision/stb.mk (reliability): vision/decode.c, the one unit that
## compiles stb_image, is built against a copy of the system's stb_image.h
## with shopd's downstream patch applied (vision/stb_image-shift.patch says
## why). The copy is made here at build time, the way a distribution carries
## a patch: the tree holds only our few lines, never stb's code.
EXTRA_DIST += vision/stb_image-shift.patch
CLEANFILES += vision/stb_image_patched.h
## the header the compiler itself would include (its first line marker);
## --fuzz=0: every context line must match, so another stb_image version
## stops the build instead of being patched blindly
vision/stb_image_patched.h: $(srcdir)/vision/stb_image-shift.patch
	$(AM_V_GEN)$(MKDIR_P) vision; \
	hdr=`echo '#include <stb/stb_image.h>' | $(CC) $(CPPFLAGS) -E -x c - | \
		sed -n 's|^# 1 "\(.*/stb/stb_image\.h\)".*|\1|p' | head -n 1`; \
	test -n "$$hdr" || { echo "$@: stb/stb_image.h not found (libstb-dev)" >&2; exit 1; }; \
	rm -f $@.tmp; \
	patch --batch --forward --fuzz=0 --quiet --no-backup-if-mismatch --reject-file=- \
		--output=$@.tmp "$$hdr" $(srcdir)/vision/stb_image-shift.patch || { \
		rm -f $@.tmp; \
		echo "$@: vision/stb_image-shift.patch does not apply to $$hdr (another stb_image version? see whether it still needs the guard)" >&2; \
		exit 1; }; \
	mv -f $@.tmp $@
vision/libshop_a-decode.$(OBJEXT): vision/stb_image_patched.h
