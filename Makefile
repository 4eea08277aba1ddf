# The README's two commands: `make demo` and `make test`. Both set up .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python
AS_OF ?= 2026-11-21

.PHONY: demo test check bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/unclaimed check policies/fsra-2024-001
	$(VENV)/bin/unclaimed evaluate --policy fsra-2024-001 --facts examples/members.json \
	    --as-of $(AS_OF) --format table

test: $(VENV)/.installed
	$(VENV)/bin/ruff check evaluator tests benchmarks
	$(VENV)/bin/mypy --strict evaluator
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest

bench: $(VENV)/.installed
	$(PY) benchmarks/bench_check.py
	$(PY) benchmarks/bench_scalar.py --members 10000

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis
