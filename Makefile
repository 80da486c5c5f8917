# The two commands: `make run` starts the whole bot, `make test` checks it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU build of torch on this machine's disk; an unpinned one downloads several GB.
TORCH := 2.13.0

.PHONY: install run worker test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==$(TORCH)
	$(BIN)/pip install --quiet -e '.[dev,ml]' torch==$(TORCH)
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/intake-bot serve

worker: $(STAMP)
	$(BIN)/intake-bot worker

lint: $(STAMP)
	$(BIN)/ruff check bot channels moderation tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.classify_rate
	$(BIN)/python -m bench.meta_rate
	$(BIN)/python -m bench.telegram_rate
	$(BIN)/python -m bench.mail_rate
	$(BIN)/python -m bench.chat_rate
	$(BIN)/python -m bench.chat_rate --distributed

clean:
	rm -rf $(VENV) data build *.egg-info
