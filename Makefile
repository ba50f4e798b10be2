# Every target creates .venv and installs what it needs into it: no set-up by hand.
# `make run` installs only what running needs; tests, lint and benchmarks add their own tools.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HASH   := $(shell cksum pyproject.toml | cut -d' ' -f1)
stamp   = $(VENV)/.installed-$(1)-$(HASH)

# The extras each target installs (pyproject.toml's optional-dependencies).
EXTRAS_run   :=
EXTRAS_test  := [test]
EXTRAS_lint  := [test,lint]
EXTRAS_bench := [bench]

.PHONY: run test test-fast lint bench clean

run: $(call stamp,run)
	$(BIN)/atmptrack load
	$(BIN)/atmptrack list initiatives --format table
	$(BIN)/atmptrack report funding --format table

# Everything, real processes included (about 1.5 minutes on 2 cores).
test: $(call stamp,test)
	$(BIN)/python -m pytest

# The inner loop: everything but the tests marked slow (about 45 seconds).
test-fast: $(call stamp,test)
	$(BIN)/python -m pytest -m "not slow"

lint: $(call stamp,lint)
	$(BIN)/ruff check atmptrack tests bench
	$(BIN)/ruff format --check atmptrack tests bench
	$(BIN)/mypy

bench: $(call stamp,bench)
	$(BIN)/python bench/bench.py

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-%-$(HASH): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.$(EXTRAS_$*)'
	rm -f $(VENV)/.installed-$*-*
	touch $@

clean:
	rm -rf $(VENV) dist build .pytest_cache .mypy_cache .ruff_cache
