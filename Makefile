# `make test` sets up .venv on first use (CPU MXNet + test tools) and runs the whole test suite;
# `make test-fast` leaves out the tests marked slow. TEST_WORKERS test processes (pytest-xdist)
# share the files out, each file's tests in one process, so a module's fixtures (a trained run)
# are made once; 2 is CI's core count.
TEST_WORKERS ?= 2
PYTEST = $$py -m pytest -q -n $(TEST_WORKERS) --dist loadfile
.PHONY: test test-fast bench
test:
	py=$$(./scripts/ensure-env.sh) && $(PYTEST) tests

# everything but the tests marked slow (subprocesses, training): about a minute, for the edit loop
test-fast:
	py=$$(./scripts/ensure-env.sh) && $(PYTEST) -m "not slow" tests

bench:
	py=$$(./scripts/ensure-env.sh) && $$py -m bench.run_all
