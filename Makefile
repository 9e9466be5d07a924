# 流转 — two commands: `make run` (embedded default: SQLite, no servers) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
TEST_DB ?= sqlite
PORT ?= 8000
# 0.0.0.0 lets a phone on the same network open /try (set PUBLIC_BASE_URL to this machine's address too).
HOST ?= 127.0.0.1
CHANNEL ?= wecom
USER_ID ?= zhou
STUBS_PORT ?= 8900

.PHONY: install run setup test lint bench clean console stubs

# A developer's venv: run time (requirements.txt) plus tests, bench and tooling (requirements-dev.txt).
# Production installs requirements.txt alone.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

setup: install
	$(BIN)/python -m app.cli setup

run: setup
	@echo "流转已启动：管理台 http://$(HOST):$(PORT)/console/ （开发登录手机号 13900000003；Ctrl-C 退出）"
	PATH=$(BIN):$$PATH HOST=$(HOST) PORT=$(PORT) $(BIN)/honcho start -f Procfile web worker beat

# Chat with the bot in a terminal as a demo member: `make console` (小周), `make console CHANNEL=dingtalk USER_ID=sun` (老孙).
console: setup
	$(BIN)/python -m bot.console $(CHANNEL) $(USER_ID)

# Local stand-ins for the WeChat/WeCom/DingTalk APIs; prints the environment that points the app at them.
stubs: install
	$(BIN)/python -m devstubs --port $(STUBS_PORT)

test: install
	TEST_DB=$(TEST_DB) $(BIN)/pytest

# mypy checks the packages listed in [tool.mypy] files (pyproject.toml): one list, also used by editors.
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

bench: install
	$(BIN)/python -m bench.ledger

clean:
	rm -rf var .pytest_cache
