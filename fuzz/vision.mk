## fuzz targets of vision/
