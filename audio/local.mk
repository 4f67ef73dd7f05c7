## audio/
