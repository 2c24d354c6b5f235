# `make course` runs every notebook, `make test` runs the test suite (autograding included), `make lab`
# opens JupyterLab, `make assignments` releases the student versions through nbgrader into
# build/assignments/ (an nbgrader course directory: docs/instructors.md). Each sets up its own virtual
# environment on first use (Python 3.10+ needed as `python3`).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.course-installed
PROFILE ?=
ONLY   ?=
OUT    ?= build
JOBS   ?=
COLAB  ?=
# pip -qq: errors only (no notices about pip versions or index locations). editable_mode=compat: the
# repository on sys.path, so new helpers modules are found without reinstalling (and no setuptools
# notice about editable installs).
PIP    := $(PY) -m pip install -qq --disable-pip-version-check

.PHONY: course test lab assignments setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) -e ".[torch,test,grading]" --config-settings editable_mode=compat
	touch $(STAMP)

course: $(STAMP)
	$(PY) -m coursetools run $(if $(PROFILE),--profile $(PROFILE)) $(if $(ONLY),--only $(ONLY)) $(if $(JOBS),--jobs $(JOBS)) --out $(OUT)

# Notebook runs spread over the cores (pytest-xdist); a notebook's nbval cells stay on one worker.
test: $(STAMP)
	$(PY) -m pytest -n $(if $(JOBS),$(JOBS),auto) --dist loadgroup

lab: $(STAMP)
	$(PIP) -e ".[torch,test,lab]" --config-settings editable_mode=compat
	$(PY) -m jupyter lab notebooks/

# nbgrader (the `grading` extra) writes one assignment per notebook: build/assignments/source/<nb>/ (the
# solution notebooks), release/<nb>/ (the student versions), gradebook.db and nbgrader_config.py.
# COLAB=owner/repo: Colab badges and release/README.md for release/ pushed to that GitHub repository.
assignments: $(STAMP)
	$(PIP) -e ".[torch,test,grading]" --config-settings editable_mode=compat
	$(PY) -m coursetools assignments $(if $(ONLY),--only $(ONLY)) $(if $(COLAB),--colab $(COLAB)) --out $(OUT)/assignments

clean:
	rm -rf $(OUT) .pytest_cache
