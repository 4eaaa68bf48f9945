# The same targets for people and CI (.ci/run calls `make lint` and `make test`).
# Every target that needs the project installs it first: the stamp below is rebuilt when pyproject.toml changes.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv run test lint bench clean distclean

help:
	@echo "make run     migrate the SQLite file, load the demo data, serve on http://127.0.0.1:8000"
	@echo "make test    pytest (PYTEST_ARGS='-k name -x' to narrow)"
	@echo "make lint    ruff check, mypy (strict), import contracts"
	@echo "make bench   run every benchmarks/*.py (JSON results under benchmarks/results/)"
	@echo "make venv    create/refresh $(VENV) (also done on demand by the targets above)"
	@echo "make clean   remove build outputs and caches (distclean also removes $(VENV) and var/)"

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --progress-bar off -e '.[dev]'
	@touch $@

INSI_SIM_PORT ?= 8099

# The INSi simulator runs beside the server on loopback; the gateway points at it; it stops when serve exits.
run: $(STAMP)
	$(BIN)/aiguillage db upgrade && $(BIN)/aiguillage demo load && \
	{ $(BIN)/aiguillage insi-sim --port $(INSI_SIM_PORT) & sim=$$!; trap 'kill $$sim 2>/dev/null' EXIT INT TERM; \
	  AIGUILLAGE_INSI_URL=http://127.0.0.1:$(INSI_SIM_PORT)/insi $(BIN)/aiguillage serve; }

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Run as modules (python -m benchmarks.NAME) from the repository root, so a benchmark may import shared helpers
# from benchmarks/_*.py; files starting with "_" are helpers and are not run.
bench: $(STAMP)
	@set -e; found=0; \
	for f in benchmarks/*.py; do \
		[ -e "$$f" ] || continue; \
		name=$$(basename "$$f" .py); \
		case "$$name" in _*) continue ;; esac; \
		found=1; \
		echo "==> benchmarks/$$name.py"; \
		$(BIN)/python -m "benchmarks.$$name"; \
	done; \
	[ "$$found" = 1 ] || echo "no benchmark found in benchmarks/"

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .import_linter_cache .hypothesis test-artifacts
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) var
