## benchmarks of nn
