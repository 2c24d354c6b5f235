# Two commands: `make course` runs every notebook, `make test` runs the test suite.
# Each sets up its own virtual environment on first use (Python 3.10+ needed as `python3`).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.course-installed
PROFILE ?=
ONLY   ?=
OUT    ?= build

.PHONY: course test setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[torch,test]"
	touch $(STAMP)

course: $(STAMP)
	$(PY) -m helpers.course run $(if $(PROFILE),--profile $(PROFILE)) $(if $(ONLY),--only $(ONLY)) --out $(OUT)

test: $(STAMP)
	$(PY) -m pytest

clean:
	rm -rf $(OUT) .pytest_cache
