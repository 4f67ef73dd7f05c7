## fuzz targets of audio/
