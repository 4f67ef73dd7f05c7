## fuzz targets of recommend/
