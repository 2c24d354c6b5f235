"""Test-wide settings (tests/ and the nbval run over notebooks/): quick profile, no progress bars."""
import os

# Set before any kernel starts (papermill and nbval kernels inherit the environment).
os.environ.setdefault("COURSE_PROFILE", "quick")
os.environ["COURSE_QUIET"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")
# The quick profile's small models run fastest on one thread: two threads on a 2-core machine
# fight each other (and anything else running) and were measured 3-10x slower here.
os.environ.setdefault("OMP_NUM_THREADS", "1")


import pytest


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks
def pytest_collection_modifyitems(config, items):
    """For `pytest -n N --dist loadgroup` (make test): keep each notebook's nbval cells on one worker
    (they share one kernel), and start the long runs (notebooks) first so the cores stay busy."""
    for item in items:
        if str(item.fspath).endswith(".ipynb"):
            item.add_marker(pytest.mark.xdist_group(name=f"nbval-{item.fspath.basename}"))

    def slow(item):
        return str(item.fspath).endswith(".ipynb") or item.get_closest_marker("notebook") is not None
    items.sort(key=lambda item: not slow(item))  # stable: the order within each part is kept
