"""Test-wide settings (tests/ and the nbval run over notebooks/): quick profile, no progress bars."""
import os

# Set before any kernel starts (papermill and nbval kernels inherit the environment).
os.environ.setdefault("COURSE_PROFILE", "quick")
os.environ["COURSE_QUIET"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")
