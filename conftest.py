"""Test-wide settings (tests/ and the nbval run over notebooks/): quick profile (SMOKE for nbval), no progress bars."""
import os

# Set before any kernel starts (papermill and nbval kernels inherit the environment).
os.environ.setdefault("COURSE_PROFILE", "quick")
# nbval re-runs the committed notebooks only to compare their `# NBVAL_CHECK_OUTPUT` reference cells, which
# are closed-form checks that do not depend on the sizes: SMOKE runs them in seconds instead of a whole
# quick run each (the quick runs themselves are tests/test_notebooks.py). COURSE_SMOKE=0 runs nbval on
# the full quick profile. Every other notebook run of the tests sets COURSE_SMOKE itself.
os.environ.setdefault("COURSE_SMOKE", "1")
os.environ["COURSE_QUIET"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")
# The quick profile's small models run fastest on one thread: two threads on a 2-core machine
# fight each other (and anything else running) and were measured 3-10x slower here.
os.environ.setdefault("OMP_NUM_THREADS", "1")


import pytest


@pytest.hookimpl(wrapper=True)  # a wrapper runs before every plain hook, pytest-xdist's included
def pytest_collection_modifyitems(config, items):
    """For `pytest -n N --dist loadgroup` (make test): keep each notebook's nbval cells on one worker
    (they share one kernel), and start the long runs first so the cores stay busy to the end."""
    for item in items:
        if str(item.fspath).endswith(".ipynb"):
            item.add_marker(pytest.mark.xdist_group(name=f"nbval-{item.fspath.basename}"))

    def cost(item):
        """Longest first, so the two workers finish together: the quick runs (a minute or more each),
        then the other notebook runs (smoke, autograding: seconds to a minute), then nbval's reference
        cells (SMOKE: seconds per notebook), then the unit tests."""
        if item.get_closest_marker("notebook") is not None:
            return 0 if "quick_run" in item.name else 1
        return 2 if str(item.fspath).endswith(".ipynb") else 3
    items.sort(key=cost)  # stable: the order within each part is kept
    result = yield
    grouped = [item for item in items if item.get_closest_marker("xdist_group") is not None]
    if getattr(config.option, "loadgroup", False) and grouped and "@" not in grouped[0].nodeid:
        raise pytest.UsageError(
            "pytest-xdist could not group the nbval cells of a notebook onto one worker (this pytest stores "
            "node ids where pytest-xdist's --dist loadgroup does not tag them). Install the pinned versions "
            "(pip install -e '.[test]') or run serially: JOBS=1 make test.")
    return result
