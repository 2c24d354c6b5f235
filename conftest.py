"""Test-wide settings (tests/ and the nbval run over notebooks/): quick profile, no progress bars."""
import os

# Set before any kernel starts (papermill and nbval kernels inherit the environment).
os.environ.setdefault("COURSE_PROFILE", "quick")
os.environ["COURSE_QUIET"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")
# The quick profile's small models run fastest on one thread: two threads on a 2-core machine
# fight each other (and anything else running) and were measured 3-10x slower here.
os.environ.setdefault("OMP_NUM_THREADS", "1")
