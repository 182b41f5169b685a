# publisher: make issue MONTH=YYYY-MM builds an issue; make test runs the tests.
# Both set up .venv on first use (and again whenever pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PUBLISHER := $(BIN)/publisher

.DEFAULT_GOAL := help
.PHONY: help issue check test lint golden lock clean distclean venv system-deps

help:
	@echo "usage:"
	@echo "  make issue MONTH=YYYY-MM   build every format of an issue into dist/YYYY-MM/"
	@echo "  make check MONTH=YYYY-MM   validate an issue's source"
	@echo "  make test                  run the test suite"
	@echo "  make lint                  ruff"
	@echo "  make golden                rewrite tests/golden/ after a meant layout change"
	@echo "  make lock                  pin the venv's package versions in constraints.txt"
	@echo "  make site                  build the download site in dist/site/"
	@echo "  make serve                 preview it on http://127.0.0.1:8000/"
	@echo "  make clean                 remove dist/"
	@echo "  make bench                 measure the build and the send (table + dist/bench/)"
	@echo "  make proof MONTH=YYYY-MM   PNG proofs of the print PDF and a contact sheet"

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	@touch $@

# After changing a dependency (or to take newer releases: `make lock UPGRADE=1`), pin the
# venv's versions in constraints.txt; run `make test` and commit both.
lock:
	$(if $(UPGRADE),$(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade -e '.[test]',)
	{ sed -n '1,3p' constraints.txt; $(BIN)/python -m pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

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

# DAISY Ace (npm), the EPUB accessibility checker the tests run, in tools/ace/; it drives
# Debian's Chromium, so no browser is downloaded (PUPPETEER_SKIP_DOWNLOAD, --ignore-scripts).
ACE := tools/ace/node_modules/.bin/ace-cli
$(ACE): tools/ace/package.json tools/ace/package-lock.json
	cd tools/ace && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@

# The Debian packages the tests use (poppler-utils, qpdf, Chromium, Java, npm...):
# installed with apt-get when missing and run as root; otherwise one line names the command.
system-deps:
	@sh tools/system-deps

test: system-deps $(STAMP) $(ACE)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Rewrite tests/golden/ (the print HTML and email of 2023-08) after a meant change; review
# the result with `git diff tests/golden/`.
golden: $(STAMP)
	$(BIN)/python tests/golden.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

clean:
	rm -rf dist

distclean: clean
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis

.PHONY: site serve
site: $(STAMP)
	$(PUBLISHER) site

serve: site
	$(PUBLISHER) serve

# make bench runs them all; each part alone: bench-pdf, bench-epub, bench-email, bench-send,
# bench-import.
.PHONY: bench bench-pdf bench-epub bench-email bench-send bench-import proof
bench: $(STAMP)
	$(BIN)/python bench/run.py

bench-epub: $(STAMP)   # needs pandoc (apt-get install pandoc), for the comparison only
	$(BIN)/python bench/epub_vs_pandoc.py $(or $(MONTH),2023-08)

bench-send: $(STAMP)
	$(BIN)/python bench/send_bench.py

bench-import: $(STAMP)
	$(BIN)/python bench/import_bench.py

bench-pdf: $(STAMP)
	$(BIN)/python bench/pdf_bench.py $(or $(MONTH),2023-08)

proof: $(STAMP)
	$(call need_month,proof)
	$(PUBLISHER) build $(MONTH) --format pdf
	$(BIN)/python -m publisher.build.proof --month $(MONTH)

bench-email: $(STAMP)
	$(BIN)/python bench/email_bench.py $(or $(MONTH),2023-08)
