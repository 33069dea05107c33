# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools
POETRY := $(TOOLS)/bin/poetry
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help install run test images lint format bench clean

help:
	@echo "make run    install, create and migrate the database, serve on http://$(HOST):$(PORT)"
	@echo "make test   install, lint and run the whole suite with coverage"
	@echo "make images build the images and run both compose stacks end to end (Docker)"
	@echo "make bench  benchmarks: spot search, bookings, end-of-reservation workers, live map, push at scale, mixed load, pricing, enforcement lookups, scale-out behind nginx"

# Poetry (isolated in .tools) owns the dependency set; the locked set is exported and
# installed with pip, which needs only the simple index API of the package registry.
$(POETRY):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "poetry>=2.1,<3" "poetry-plugin-export>=1.9"

$(BIN)/.installed: pyproject.toml poetry.lock | $(POETRY)
	$(POETRY) check --lock
	$(POETRY) export --with dev --format requirements.txt --output $(TOOLS)/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r $(TOOLS)/requirements.txt
	touch $@

install: $(BIN)/.installed

run: install
	DEBUG=$${DEBUG:-true} bin/run-dev

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest $(PYTEST_ARGS)
	$(BIN)/coverage report

# Starts a Docker engine if none answers (Debian's docker.io, host network), makes any missing
# base image from Debian packages, builds both images and runs tests/containers.
images: install
	bin/containers

# Loopback only, bounded; each script's docstring says what it measures. Needs wrk (Debian).
bench: install
	rm -f var/bench-results.jsonl
	$(BIN)/python bench/run.py
	$(BIN)/python bench/bookings.py
	$(BIN)/python bench/workers.py
# A million spots for issue 18's memory targets; 20 requests a mode: a cold one takes seconds.
	$(BIN)/python bench/live.py --sizes 100000 1000000 --requests 20
	$(BIN)/python bench/push.py
	$(BIN)/python bench/mixed.py
	$(BIN)/python bench/quote.py
	$(BIN)/python bench/quote.py --route
	$(BIN)/python bench/enforcement.py
	$(BIN)/python bench/scaleout.py
	$(BIN)/python bench/report.py

clean:
	rm -rf $(VENV) $(TOOLS) .coverage .pytest_cache .ruff_cache staticfiles
