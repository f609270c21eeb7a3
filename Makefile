# optsim: every target sets itself up from the project's own files
# (PyPI packages pinned in requirements.lock, anvil from its npm package).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.optsim-installed
ANVIL  := node_modules/.bin/anvil

# the venv's tools (ape, vyper) and tools/anvil (anvil from node_modules) come first
export PATH := $(CURDIR)/tools:$(CURDIR)/$(BIN):$(PATH)

.PHONY: setup run test bench compile clean chromium

setup: $(STAMP) $(ANVIL)

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

$(ANVIL): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(ANVIL)

## Chromium from Debian's packages, for the dashboard's browser test (Playwright drives it;
## no browser is downloaded from anywhere else)
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

## ape 0.8 does not recompile a contract when only a module it imports (contracts/modules/)
## changed, may deploy a stale build of one of two changed contracts, and a plain
## `ape compile` was seen writing an older contract's ABI back into .build: every compile is
## a full one (about 20 s)
COMPILE := ape compile --force

compile: setup
	$(COMPILE)

## The main job: a default simulation on a local anvil chain that optsim starts and stops.
run: setup
	optsim run

## The tests (CI runs exactly this): contract unit tests and the pure-Python risk tests
## on ape's embedded chain, then the stateful property test and the end-to-end runs on anvil.
PY_DIRS := risk onchain agents sims keepers scripts benchmarks tests

test: setup chromium
	ruff check $(PY_DIRS)
	ruff format --check $(PY_DIRS)
	mypy
	$(COMPILE)
	ape test tests --ignore=tests/stateful --ignore=tests/e2e
	ape test tests/stateful tests/e2e --network ethereum:local:foundry

bench: setup
	python -m benchmarks

clean:
	rm -rf .build $(VENV) node_modules
