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

.PHONY: course test lab assignments setup clean site site-setup site-check

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

# `make site`: the course as a website in build/site/ (docs/site/, coursetools/site.py), built with Sphinx and no
# network from the executed notebooks of `make course` in build/ (those missing or older than their notebook are
# run first, quick profile). Open it with `python -m http.server -d build/site`. `make site-check` then opens every
# page in headless Chromium (Debian's chromium; screenshots in build/site-check/), as tests/test_site.py does.
SITE_STAMP := $(VENV)/.site-installed

$(SITE_STAMP): $(STAMP)
	$(PIP) -e ".[torch,test,grading,site]" --config-settings editable_mode=compat
	touch $(SITE_STAMP)

site-setup: $(SITE_STAMP)

site: $(SITE_STAMP)
	$(PY) -m coursetools.site --executed $(OUT) --out $(OUT)/site $(if $(JOBS),--jobs $(JOBS))

site-check: site
	$(PY) -m coursetools.site --check-only --out $(OUT)/site

clean:
	rm -rf $(OUT) .pytest_cache
