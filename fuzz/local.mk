## fuzz/
