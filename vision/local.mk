## vision/
