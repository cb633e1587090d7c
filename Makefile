# Developer commands; `make help` lists them.
.DEFAULT_GOAL := help
VENV ?= .venv
BIN := $(VENV)/bin

help:  ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(BIN)/prodml:
	python3 -m venv $(VENV) && $(BIN)/pip install -q -e '.[dev]'

install: $(BIN)/prodml  ## create .venv with prodml and the dev tools

test: install  ## run the whole test suite
	$(BIN)/pytest

lint: install  ## ruff and mypy, as CI runs them
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

format: install  ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

demo: install  ## run the end-to-end demo on the NYC 2013 flights
	$(BIN)/prodml demo

.PHONY: help install test lint format demo
