## fuzz/all.mk: `make fuzz` runs every libFuzzer target for FUZZ_TIME seconds
## (rules below, filled in by the reliability work).
