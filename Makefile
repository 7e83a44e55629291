# Two commands on a fresh machine: `make demo` (sync the sandbox company into SQLite) and `make test`.
# python3.11 when the machine has it (the version the project is tested on), else python3 (>= 3.11).
PYTHON ?= $(shell command -v python3.11 >/dev/null 2>&1 && echo python3.11 || echo python3)
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

# pytest-xdist workers for `make test` and `make check` (both cores of the 2-core machine). Each
# worker takes a whole test file at a time (--dist loadfile), so a module's shared sandbox or
# PostgreSQL database stays in one process; files go out in collection order, the files with slow
# tests first (personio_pipeline_tests/support/ordering.py), not xdist's most-tests-first.
PYTEST_WORKERS ?= 2
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

.PHONY: install demo test check dev validate clean

$(BIN)/personio-pipeline: pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/personio-pipeline

demo: install
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/personio-pipeline demo

test: install
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/dg check defs
	$(BIN)/pytest -q $(PYTEST_PARALLEL)

# The edit loop, under 2 minutes: everything but the tests marked slow (daemons, brokers, backlogs,
# 100k-row runs) and those needing PostgreSQL. `make test` runs them all.
check: install
	$(BIN)/pytest -q $(PYTEST_PARALLEL) -m "not slow and not postgres"

dev: install
	$(BIN)/personio-pipeline dev

clean:
	rm -rf $(VENV) data .dagster_home

# The production profile on this machine: deploy/dagster.yaml on the PostgreSQL at 127.0.0.1:5432,
# dagster-daemon + dagster-webserver (http://127.0.0.1:3001) and the Apideck sandbox; Ctrl-C stops
# all of them. See deploy/README.md.
.PHONY: prod-local
prod-local: install
	bash deploy/prod_local.sh
