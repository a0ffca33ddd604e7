# Two commands on a fresh machine: `make demo` (start the system, store and read a blob)
# and `make test` (lint, types, all tests incl. Move when a toolchain is present).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

WALRUS_TS := tools/walrus-ts/node_modules/.installed

.PHONY: install demo up test lint bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/haulout demo
	$(BIN)/haulout up --fresh --demo --exit


up: $(STAMP)
	$(BIN)/haulout up

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint $(WALRUS_TS)
	$(BIN)/pytest -q -rs

# the official @mysten/walrus SDK, for the upload-relay compatibility test (skipped without npm)
$(WALRUS_TS): tools/walrus-ts/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix tools/walrus-ts --no-audit --no-fund --loglevel=error && touch $@ \
	  || echo "npm ci failed: the @mysten/walrus test will be skipped"; \
	else echo "no npm: the @mysten/walrus test will be skipped"; fi

bench: $(STAMP)
	$(BIN)/python -m bench.encode
	$(BIN)/python -m bench.store
	$(BIN)/python -m bench.indexer

clean:
	rm -rf $(VENV) .haulout move/build
