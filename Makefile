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

.PHONY: run test test-fast lint bench bench-scale clean system-tools

run: $(call stamp,run)
	$(BIN)/atmptrack load
	$(BIN)/atmptrack list initiatives --format table
	$(BIN)/atmptrack report funding --format table

# Tests run in one worker process per core (pytest-xdist); a worker that runs out of tests takes
# some of another's, so that the long process tests do not end up queued on one core.
XDIST := -n auto --dist worksteal

# Everything, real processes included (about 3 to 3.5 minutes on 2 cores).
test: $(call stamp,test) system-tools
	$(BIN)/python -m pytest $(XDIST)

# The inner loop: everything but the tests marked slow and the PostgreSQL half (`make test` runs
# them all), on SQLite.
test-fast: $(call stamp,test)
	$(BIN)/python -m pytest $(XDIST) -m "not slow and not postgresql"

lint: $(call stamp,lint)
	$(BIN)/ruff check atmptrack tests bench
	$(BIN)/ruff format --check atmptrack tests bench
	$(BIN)/mypy

bench: $(call stamp,bench)
	$(BIN)/python bench/bench.py

# Generated data of 100 and 1,000 initiatives (ARGS="--sizes S,M,L" adds 10,000: many minutes).
bench-scale: $(call stamp,bench)
	$(BIN)/python bench/scale.py $(ARGS)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-%-$(HASH): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.$(EXTRAS_$*)'
	rm -f $(VENV)/.installed-$*-*
	touch $@

# System tools the tests drive: a headless browser prints the HTML reports to PDF, pdftotext
# reads the pages back, and a throwaway PostgreSQL server (tests/pgserver.py starts it as an
# unprivileged user and stops it at the end) runs the PostgreSQL half. Installed from Debian's
# packages where this machine allows it (root with apt-get), in one apt-get call; elsewhere those
# tests say what is missing (and fail in CI). Debian puts PostgreSQL's initdb and pg_ctl in
# /usr/lib/postgresql/<version>/bin, off PATH.
system-tools:
	@packages=""; \
	command -v chromium >/dev/null 2>&1 || packages="$$packages chromium"; \
	command -v pdftotext >/dev/null 2>&1 || packages="$$packages poppler-utils"; \
	{ command -v pg_ctl || ls /usr/lib/postgresql/*/bin/pg_ctl; } >/dev/null 2>&1 \
	  || packages="$$packages postgresql"; \
	if [ -n "$$packages" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing$$packages from Debian's packages"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends $$packages >/dev/null; } \
	  || echo "could not install$$packages: the tests that need them will say so"; \
	elif [ -n "$$packages" ]; then \
	  echo "missing$$packages (installed only as root with apt-get): the tests that need them will say so"; \
	fi

clean:
	rm -rf $(VENV) dist build .pytest_cache .mypy_cache .ruff_cache
