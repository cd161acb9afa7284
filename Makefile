# govapp — two commands for a fresh machine:
#   make run    the portal at http://127.0.0.1:8000 on a local chain with demo data
#   make test   ruff + the whole test suite against PostgreSQL, Redis and anvil
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/govapp
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15
PYTEST_ARGS ?= -n 2

.PHONY: run test lint deps fmt artifacts check-artifacts bench bench-report clean

deps: $(VENV)/.installed node_modules/.installed
	@$(PY) chain/native/build.py

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: deps
	$(PY) manage.py devportal

lint: deps
	$(VENV)/bin/ruff check .

test: deps lint
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) \
		$(PY) -m pytest $(PYTEST_ARGS)

# API fuzzing, long run: ten times the cases of the bounded run inside `make test`, a random seed.
FUZZ_EXAMPLES ?= 200
FUZZ_SEED ?= random
.PHONY: fuzz
fuzz: deps
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) \
		FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_SEED=$(FUZZ_SEED) FUZZ_MIN_CASES=10000 \
		$(PY) -m pytest -p no:cacheprovider -s tests/govapp/test_api_fuzz.py

fmt: deps
	$(VENV)/bin/ruff check --fix .

artifacts: node_modules/.installed
	node contracts/build.mjs

check-artifacts: node_modules/.installed
	node contracts/build.mjs --check

# Every bench/*/run.py (BENCH_SCALE=full: their default sizes; quick: a few minutes), figures under var/bench/,
# then docs/benchmarks.md rewritten from them (bench/report.py). bench-report: only the rewrite.
BENCH_SCALE ?= full
bench: deps
	$(PY) bench/report.py run --scale $(BENCH_SCALE)

bench-report: deps
	$(PY) bench/report.py render

clean:
	rm -rf var/
