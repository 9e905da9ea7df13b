# Two commands on a fresh machine: `make demo` and `make test`. Everything is installed
# here, into .venv; nothing is assumed installed by hand.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DEMO_OUT ?= runs/demo

.PHONY: demo test install install-test browser bench bench-tools lint schema clean warm

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[test]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

# compile the simulator's kernels once (about half a minute), saying so; later
# processes load them from the cache
warm: install
	$(BIN)/python -m socialcredit.engine._warm

demo: install warm
	$(BIN)/socialcredit simulate seed --population 1000000 --days 365 --seed 1 --out $(DEMO_OUT) --report
	@echo
	@echo "The run is in $(DEMO_OUT)/:"
	@echo "  summary.json     end-of-run statistics (shares of adults, companies)"
	@echo "  details.json     sanctions in force, errors by channel, regions, disclosure"
	@echo "  metrics.parquet  one row per day"
	@echo "  run.json         the exact policy, seed, version and sizes"
	@echo "  report.html      the report: open it in a browser (works offline)"
	@echo
	@echo "Report: $(abspath $(DEMO_OUT))/report.html"

# Debian's Chromium for the browser tests (Playwright drives it; it downloads no browser)
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq chromium)

test: install-test browser warm
	$(BIN)/ruff check src tests benchmarks
	SOCIALCREDIT_CHROMIUM=$(CHROMIUM) $(BIN)/pytest

lint: install-test
	$(BIN)/ruff check src tests benchmarks

bench: install
	$(BIN)/python benchmarks/bench_reference.py

# wrk, the HTTP load generator benchmarks/bench_service.py uses for single checks
bench-tools: install-test
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq wrk)

schema: install
	$(BIN)/python -m socialcredit.policy._schema

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
