## benchmarks of e2e
