## fuzz targets of ipc/
