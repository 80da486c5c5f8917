# The two commands: `make run` starts the whole bot, `make test` checks it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU build of torch on this machine's disk; an unpinned one downloads several GB.
TORCH := 2.13.0

.PHONY: install run worker test lint typecheck unit bench soak clean messages catalogs

# The customer texts are gettext catalogs, English the source of each (README: Translations);
# their compiled .mo files are generated: at install, before the tests and by `make messages`.
define compile_catalogs
$(BIN)/pybabel -q compile -d bot/text/locales -D core
$(BIN)/pybabel -q compile -d channels/locales -D channels
endef

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==$(TORCH)
	$(BIN)/pip install --quiet -e '.[dev,ml]' torch==$(TORCH)
	$(compile_catalogs)
	touch $(STAMP)

# axe-core for the browser tests' accessibility checks, from the npm registry, pinned by its lockfile.
AXE := tests/browser/axe/node_modules/axe-core/axe.min.js
$(AXE): tests/browser/axe/package-lock.json
	cd tests/browser/axe && npm ci --no-audit --no-fund --silent
	touch $(AXE)

install: $(STAMP) catalogs $(AXE)

# After adding or changing a text: every language's .po gets the English msgids, then all
# catalogs compile.
messages: $(STAMP)
	$(BIN)/python -m bot.contract.catalogs bot/text/locales core
	$(BIN)/python -m bot.contract.catalogs channels/locales channels
	$(compile_catalogs)

catalogs: $(STAMP)
	$(compile_catalogs)

run: $(STAMP) catalogs
	$(BIN)/intake-bot serve

worker: $(STAMP) catalogs
	$(BIN)/intake-bot worker

lint: $(STAMP)
	$(BIN)/ruff check bot channels moderation tests bench
	$(BIN)/ruff format --check bot channels moderation tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# Both cores: tests share no port, file, database or key prefix (tests/conftest.py).
TEST_WORKERS ?= 2

# Coverage of our three packages (settings in pyproject.toml); the floor is the total measured
# when it was set, rounded down: raise it as tests are added, never lower it to pass.
unit: $(STAMP) catalogs $(AXE)
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --durations=15 \
		--cov=bot --cov=channels --cov=moderation \
		--cov-report=term:skip-covered --cov-fail-under=91

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.classify_rate
	$(BIN)/python -m bench.meta_rate
	$(BIN)/python -m bench.telegram_rate
	$(BIN)/python -m bench.mail_rate
	$(BIN)/python -m bench.chat_rate
	$(BIN)/python -m bench.chat_rate --distributed
	$(BIN)/python -m bench.sweep_rate
	$(BIN)/python -m bench.console_rate
	$(BIN)/python -m bench.dashboard_rate
	$(BIN)/python -m bench.scale_out
	$(BIN)/python -m bench.moderation_eval

# Ten minutes of steady load on two workers: memory growth per process (build/bench/soak.*).
soak: $(STAMP)
	$(BIN)/python -m bench.scale_out --soak 600

clean:
	rm -rf $(VENV) data build *.egg-info
