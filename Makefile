# chaoslab: two commands to start, `make demo` and `make test`. Everything installs into .venv here.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP_BASE := $(VENV)/.installed-base
STAMP_ALL  := $(VENV)/.installed-all
DEMO_EXPERIMENT ?= experiments/db-slow-retry-cascade.yaml
DEMO_OUT ?= runs/demo
# `make test TEST_WORKERS=2` runs the suite on two pytest-xdist workers: the live tests, one after
# another on one of them, wait mostly on the wall clock, and the CPU-bound tests run beside them on
# the other (tests/conftest.py draws the groups). The default, 0, runs everything in this one process
# until a whole parallel run with the live tests has been timed and found reliable on the CI machine.
TEST_WORKERS ?= 0

.PHONY: demo test bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The simulator needs only the base dependencies; tests need the live and dev extras too.
$(STAMP_BASE): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_ALL): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[live,dev]'
	touch $@ $(STAMP_BASE)

demo: $(STAMP_BASE)
	$(BIN)/chaoslab simulate $(DEMO_EXPERIMENT) --out $(DEMO_OUT); status=$$?; \
	echo; echo "Results are in $(DEMO_OUT)/ (result.json, series.csv, report.html). Exit code $$status (1 = an SLO was missed, as this experiment shows)."; \
	test $$status -le 1

test: $(STAMP_ALL)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

bench: $(STAMP_ALL)
	$(BIN)/python benchmarks/sim_speed.py

lint: $(STAMP_ALL)
	$(BIN)/ruff check chaos tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) runs .pytest_cache
