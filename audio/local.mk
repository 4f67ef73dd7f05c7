## audio/: its parts, each with its own fragment
include $(srcdir)/audio/io.mk
include $(srcdir)/audio/kws.mk
include $(srcdir)/audio/phones.mk
