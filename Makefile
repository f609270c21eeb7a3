# optsim: every target sets itself up from the project's own files
# (PyPI packages pinned in requirements.lock, anvil from its npm package).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.optsim-installed
ANVIL  := node_modules/.bin/anvil

.PHONY: setup run test bench compile clean

setup: $(STAMP) $(ANVIL)

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

$(ANVIL): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(ANVIL)

compile: setup
	$(BIN)/ape compile

## The main job: a default simulation on a local anvil chain that optsim starts and stops.
run: setup
	$(BIN)/optsim run

## The tests (CI runs exactly this).
test: setup
	$(BIN)/ape compile
	$(BIN)/ape test tests

bench: setup
	$(BIN)/python -m benchmarks

clean:
	rm -rf .build $(VENV) node_modules
