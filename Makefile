# `make test` sets up .venv on first use (CPU MXNet + test tools) and runs the whole test suite;
# `make test-fast` leaves out the tests marked slow.
.PHONY: test test-fast bench
test:
	py=$$(./scripts/ensure-env.sh) && $$py -m pytest -q tests

# everything but the tests marked slow (subprocesses, training): about a minute, for the edit loop
test-fast:
	py=$$(./scripts/ensure-env.sh) && $$py -m pytest -q -m "not slow" tests

bench:
	py=$$(./scripts/ensure-env.sh) && $$py -m bench.run_all
