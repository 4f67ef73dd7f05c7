## benchmarks of recommend
