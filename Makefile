# chaoslab: two commands to start, `make demo` and `make test`. Everything installs into .venv here.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP_BASE := $(VENV)/.installed-base
STAMP_ALL  := $(VENV)/.installed-all
DEMO_EXPERIMENT ?= experiments/db-slow-retry-cascade.yaml
DEMO_OUT ?= runs/demo
# `make test` runs the whole suite in two phases: first every test that needs no engine, on TEST_WORKERS
# pytest-xdist workers (they are CPU-bound, so two workers on two cores halve their time; tests/conftest.py
# keeps each module or fixture directory whole on one worker), then tests/live in one process, alone: live
# tests time real stacks, so they never share the CPU with other tests (LIVE_EARLY below, which times nothing,
# is the exception). A failure in the first phase does not
# skip the second; the exit code is non-zero if either failed. With PYTEST_ARGS (`make test
# PYTEST_ARGS='-k golden'`), one pytest run takes them, live tests still in one group on one worker.
TEST_WORKERS ?= 2
# Live tests that time nothing (images built from Debian's packages and checked by their contents, and
# Compose's handling of one idle http.server container: up until healthy, ps, logs, an exit reported,
# down) run beside the first phase, in a process of their own whose output is shown when it ends: most
# of their time is downloading packages, Docker importing layers and waiting on 1 s health checks, so
# the first phase's workers lose little, and the second phase starts with the packages in pytest's
# cache. The Compose tests take the images this process builds anyway (tests/live/docker's session
# fixtures); in the second phase they built them again. Nothing here may time a stack (the Compose
# test's `down` within 8 s only tells the container's init from Docker's 10 s kill timeout), and no
# stack or game day runs beside the first phase.
LIVE_EARLY ?= tests/live/docker/test_docker_engine.py tests/live/docker/test_docker_images.py \
              tests/live/docker/test_docker_compose.py tests/live/realstack/test_realstack_images.py

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
ifeq ($(strip $(PYTEST_ARGS)),)
	status=0; early_log=$$(mktemp); \
	$(BIN)/python -m pytest $(LIVE_EARLY) >"$$early_log" 2>&1 & early=$$!; \
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --ignore=tests/live tests || status=$$?; \
	wait $$early || status=$$?; \
	echo "== live tests run beside the first phase: $(LIVE_EARLY)"; cat "$$early_log"; rm -f "$$early_log"; \
	$(BIN)/python -m pytest $(addprefix --ignore=,$(LIVE_EARLY)) tests/live || status=$$?; \
	exit $$status
else
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)
endif

bench: $(STAMP_ALL)
	$(BIN)/python benchmarks/sim_speed.py

lint: $(STAMP_ALL)
	$(BIN)/ruff check chaos tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) runs .pytest_cache
