# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint format typecheck check docs clean

$(STAMP): requirements/base.txt requirements/dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt
	touch $(STAMP)

# Coding agents the tests run against the gateway (tests/agents), when npm is here; without it they are skipped.
AGENTS := tests/agents/node_modules/.installed
$(AGENTS): tests/agents/package.json tests/agents/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix tests/agents --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the coding-agent tests (tests/agents) will be skipped"; fi

run: $(STAMP)
	$(PY) -m hydite.devstack run

test: $(STAMP) $(AGENTS)
	$(PY) -m hydite.devstack test $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: $(STAMP)
	DATABASE_URL=postgres://localhost/unused REDIS_URL=redis://localhost DEBUG=1 $(VENV)/bin/mypy

check: lint typecheck

# The documentation site (docs/, mkdocs.yml) into site/; a broken link or anchor fails the build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

clean:
	rm -rf $(VENV) .hydite staticfiles site .pytest_cache .mypy_cache .ruff_cache
