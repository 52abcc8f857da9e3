# The two user commands are `make demo` and `make test`; each creates or updates .venv from
# pyproject.toml + constraints.txt first (a no-op when neither changed).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench venv clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/breastbench demo

# TEST_JOBS pytest-xdist workers (one per core of the 2-core CI machines); the Ray tests share
# one worker (--dist loadgroup, their xdist_group "ray")
TEST_JOBS ?= 2

test: $(STAMP)
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadgroup

# The developer's quick loop: every test except the long end-to-end ones marked `slow`
# (CI and `make test` run them all).
test-fast: $(STAMP)
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadgroup -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

bench: $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) demo_output .pytest_cache
