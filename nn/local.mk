## nn/
