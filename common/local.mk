## common/: logging and small helpers every module uses
libshop_a_SOURCES += common/log.c common/log.h common/util.c common/util.h \
	common/ratelimit.c common/ratelimit.h
libshop_a_CPPFLAGS = $(AM_CPPFLAGS) -DSHOP_SRCDIR='"$(abs_top_srcdir)"'
