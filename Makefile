# Two commands on a fresh machine: `make run` and `make test`. Each bootstraps .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,interop]"
	touch $(STAMP)

node_modules/.installed: package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --silent && touch $@; \
	else echo "npm not found: the accessibility scans will skip"; fi

## Start the tool with its sandbox LMS at http://127.0.0.1:5000 (SQLite in ./instance).
run: $(STAMP)
	$(BIN)/lti-tool init
	$(BIN)/lti-tool sandbox

## Run the whole suite in parallel.
test: $(STAMP)
	-@$(MAKE) --no-print-directory node_modules/.installed
	$(BIN)/pytest -n auto

lint: $(STAMP)
	$(BIN)/ruff check lti_tool tests bench

## Benchmarks (results recorded in bench/results.md).
bench: $(STAMP)
	$(BIN)/python -m bench.grade_delivery

## Save the main pages as PNG at desktop and phone width into screenshots/.
screenshots: $(STAMP)
	$(BIN)/python -m tests.browser.screenshots screenshots

clean:
	rm -rf $(VENV) node_modules instance screenshots
