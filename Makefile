# Two commands on a fresh machine: `make demo` (start the system, store and read a blob)
# and `make test` (lint, types, all tests incl. Move when a toolchain is present).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

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

test: lint
	$(BIN)/pytest -q -rs

bench: $(STAMP)
	$(BIN)/python -m bench.encode
	$(BIN)/python -m bench.store
	$(BIN)/python -m bench.indexer

clean:
	rm -rf $(VENV) .haulout move/build
