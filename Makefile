# The README's two commands: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PACT_DO_NOT_TRACK := true

.PHONY: run test lint typecheck unit scenarios install fuzz load mutants bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

## Start every simulator and the orchestrator (Ctrl-C stops them all).
run: $(STAMP)
	$(BIN)/sandbox up

## Lint, type-check, then every test (scenarios included); fails when no test ran.
test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check simulators orchestrator sandbox leanhttp tests bench loadtests

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -n 2 --dist loadfile -q -m "not slow" --junitxml=reports/junit.xml

## Only the scenario suites (also part of `make test`), with JUnit XML and an HTML report.
scenarios: $(STAMP)
	$(BIN)/sandbox run scenarios -n 2 --junitxml reports/scenarios.xml --html reports/scenarios.html

## Long Schemathesis run against every simulator and the SUT.
fuzz: $(STAMP)
	$(BIN)/pytest -q -m slow tests/fuzz

## 2-minute ramp with a fault timeline; report under reports/.
load: $(STAMP)
	$(BIN)/sandbox load --shape ramp --duration 2m --timeline loadtests/timelines/default.yaml --slo loadtests/slo.yaml

## Seeded orchestrator bugs that the scenario suite must catch.
mutants: $(STAMP)
	$(BIN)/python -m tests.mutants -n 2

## Benchmarks (printed ratios, measured in one run): the simulator vs bare Flask, then 20 s of checkouts.
bench: $(STAMP)
	$(BIN)/python bench/simulator.py
	$(BIN)/python bench/checkout.py --seconds 20

clean:
	rm -rf $(VENV) .sandbox reports .pytest_cache .mypy_cache .ruff_cache *.egg-info
