# `make test` sets up .venv on first use (CPU MXNet + test tools) and runs the whole test suite.
.PHONY: test bench
test:
	py=$$(./scripts/ensure-env.sh) && $$py -m pytest -q tests

bench:
	py=$$(./scripts/ensure-env.sh) && $$py -m bench.run_all
