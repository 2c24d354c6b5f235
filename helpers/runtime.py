"""Profiles, devices and seeds: the three things every notebook sets up first."""
from __future__ import annotations

import os
import random

import numpy as np
import torch

#: The two run profiles of the course (see COURSE.md, "Profiles").
PROFILES = ("quick", "paper")


def resolve_profile(profile: str | None = None) -> str:
    """Return the profile to run: the argument, else `COURSE_PROFILE`, else quick on CPU / paper on GPU."""
    if profile is None or profile == "":
        profile = os.environ.get("COURSE_PROFILE") or ("paper" if torch.cuda.is_available() else "quick")
    profile = str(profile).strip().lower()
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)} "
                         "(set it with PROFILE=... or the COURSE_PROFILE environment variable)")
    return profile


def pick_device(prefer: str | None = None) -> torch.device:
    """CUDA if there is one, else Apple's MPS, else the CPU; `prefer` (or `COURSE_DEVICE`) overrides."""
    prefer = prefer or os.environ.get("COURSE_DEVICE")
    if prefer:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a torch.Generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def pick_profile_values(table: dict, profile: str) -> dict:
    """Select one column of a notebook's profile table: {name: {"quick": a, "paper": b}} -> {name: value}."""
    profile = resolve_profile(profile)
    return {name: values[profile] for name, values in table.items()}


def describe(profile: str, device: torch.device) -> str:
    """One line of versions for a notebook's setup cell, so a receipt says what it ran on."""
    import platform
    return (f"profile={profile} device={device} python={platform.python_version()} "
            f"torch={torch.__version__} numpy={np.__version__}")
