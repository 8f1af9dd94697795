"""docqa benchmarks: `python -m bench` prints one table; every figure is a ratio against a baseline measured
in the same run (medians, p50, and p95). `python -m bench --smoke` checks the script in seconds, timing nothing."""
