# Every target creates the virtual environment itself, so a fresh clone needs only Python.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
N ?= 500

.PHONY: up test bench lint diagram clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[local,report,dev]'
	touch $(STAMP)

up: $(STAMP)
	$(BIN)/idri up

test: $(STAMP)
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench --cases $(N)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

diagram: $(STAMP)
	$(BIN)/python -m idri.diagram --write-readme

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
