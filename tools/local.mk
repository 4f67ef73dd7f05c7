## tools/
