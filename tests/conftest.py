"""Test-wide settings: notebooks run in the quick profile, without progress bars."""
import os

# Set before any kernel starts (papermill and nbval kernels inherit the environment).
os.environ.setdefault("COURSE_PROFILE", "quick")
os.environ["COURSE_QUIET"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")
