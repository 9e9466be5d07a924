# 流转 — two commands: `make run` (embedded default: SQLite, no servers) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
TEST_DB ?= sqlite
PORT ?= 8000

.PHONY: install run setup test lint bench clean

# A developer's venv: run time (requirements.txt) plus tests, bench and tooling (requirements-dev.txt).
# Production installs requirements.txt alone (or `pip install .`).
$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

setup: install
	$(BIN)/python -m app.cli setup

run: setup
	@echo "流转已启动：http://127.0.0.1:$(PORT)/ （Ctrl-C 退出）"
	PATH=$(BIN):$$PATH PORT=$(PORT) $(BIN)/honcho start -f Procfile web worker beat

test: install
	TEST_DB=$(TEST_DB) $(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: install
	$(BIN)/python -m bench.ledger

clean:
	rm -rf var .pytest_cache
