# Two commands on a fresh machine: `make demo` (sync the sandbox company into SQLite) and `make test`.
# python3.11 when the machine has it (the version the project is tested on), else python3 (>= 3.11).
PYTHON ?= $(shell command -v python3.11 >/dev/null 2>&1 && echo python3.11 || echo python3)
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install demo test dev validate clean

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
	$(BIN)/pytest -q

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
