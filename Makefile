# publisher: make issue MONTH=YYYY-MM builds an issue; make test runs the tests.
# Both set up .venv on first use (and again whenever pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PUBLISHER := $(BIN)/publisher

.DEFAULT_GOAL := help
.PHONY: help issue check test lint golden clean distclean venv bench

help:
	@echo "usage:"
	@echo "  make issue MONTH=YYYY-MM   build every format of an issue into dist/YYYY-MM/"
	@echo "  make check MONTH=YYYY-MM   validate an issue's source"
	@echo "  make test                  run the test suite"
	@echo "  make lint                  ruff"
	@echo "  make clean                 remove dist/"
	@echo "  make bench                 benchmark sending (10,000 and 100,000 messages)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

venv: $(STAMP)

define need_month
	@if [ -z "$(MONTH)" ]; then \
	  echo "usage: make $(1) MONTH=YYYY-MM   (e.g. make $(1) MONTH=2023-08)" >&2; exit 2; fi
endef

issue: $(STAMP)
	$(call need_month,issue)
	$(PUBLISHER) build $(MONTH)

check: $(STAMP)
	$(call need_month,check)
	$(PUBLISHER) check $(MONTH)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests

bench: $(STAMP)
	$(BIN)/python bench/send_bench.py

clean:
	rm -rf dist

distclean: clean
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
