# Performance and load (tests/load). Included by the top-level Makefile.
# The correctness-under-load and graceful-shutdown tests run in `make test`.

.PHONY: bench bench-quick

bench: venv ## Benchmark one pod (gunicorn + shim on the moto emulator): table + .bench/*.json, ~10 min; BENCH_QUICK=1 for ~2 min
	$(PY) tests/load/bench.py

bench-quick: venv ## Short benchmark run, same as BENCH_QUICK=1 make bench
	BENCH_QUICK=1 $(PY) tests/load/bench.py
