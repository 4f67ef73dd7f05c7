## benchmarks of vision
