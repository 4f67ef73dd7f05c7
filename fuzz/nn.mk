## fuzz targets of nn/
