# Performance and load (tests/load). Included by the top-level Makefile.
# The correctness-under-load and graceful-shutdown tests run in `make test`.

.PHONY: bench bench-quick

bench: venv ## Benchmark one pod (waitress + shim on the moto emulator): table + .bench/*.json, ~8 min on 2 cores; BENCH_QUICK=1 for ~1.5 min
	$(PY) tests/load/bench.py

bench-quick: venv ## Short benchmark run, same as BENCH_QUICK=1 make bench
	BENCH_QUICK=1 $(PY) tests/load/bench.py
