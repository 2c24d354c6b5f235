"""Colab: the badge and install line of every course notebook, and links for released student notebooks.

- `repository_url`      the course repository, read from pyproject.toml (the one place it is written)
- `colab_badge`, `colab_install_line`   what each notebook's first cell and setup cell carry
                        (tests/test_notebooks.py checks them)
- `colab_url`, `link_for_colab`         point released notebooks' badges at their own copies in another
                        repository (`python -m coursetools assignments --colab OWNER/REPO`)
"""
from __future__ import annotations

import re
from pathlib import Path

from .notebooks import REPO_ROOT

BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"


def repository_url() -> str:
    """The course repository, read from pyproject.toml's [project.urls]: the one place it is written."""
    text = (REPO_ROOT / "pyproject.toml").read_text()
    match = re.search(r'^Repository\s*=\s*"([^"]+)"', text, re.M)
    if not match:
        raise RuntimeError("pyproject.toml has no [project.urls] Repository entry")
    return match.group(1)


def colab_url(repository: str, path: str, branch: str = "main") -> str:
    """Colab's address of a notebook at `path` in the GitHub repository `owner/name`."""
    return f"https://colab.research.google.com/github/{repository}/blob/{branch}/{path}"


def colab_badge(notebook: str) -> str:
    """Markdown for the 'Open in Colab' badge of `notebook` (a file name in notebooks/)."""
    github = repository_url().replace("https://github.com/", "")
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(github, f'notebooks/{notebook}')})"


def colab_install_line() -> str:
    """The pip line the setup cell runs on Colab: the course without torch (Colab's own torch stays)."""
    return f'!pip install --quiet "git+{repository_url()}"'


def link_for_colab(released: list[Path], release_root: Path, repository: str, branch: str = "main") -> Path:
    """For plain student notebooks on Colab: point each released notebook's Colab badge at its own copy
    once `release_root` is pushed as the root of the GitHub repository `owner/name` (the badge of the
    course's notebooks opens the solutions), and write `release_root/README.md`, a table of the links."""
    import nbformat
    rows = ["# Assignments", "", "| assignment | open in Colab |", "| --- | --- |"]
    for path in released:
        relative = Path(path).relative_to(release_root).as_posix()
        url = colab_url(repository, relative, branch)
        nb = nbformat.read(path, as_version=4)
        course_badge = colab_badge(Path(path).name)
        course_url = course_badge[course_badge.rindex("(") + 1:-1]
        for cell in nb.cells:
            if cell.cell_type == "markdown" and course_url in cell.source:
                cell.source = cell.source.replace(course_url, url)
        nbformat.write(nb, path)
        rows.append(f"| {Path(path).stem} | [![Open In Colab]({BADGE_IMAGE})]({url}) |")
    readme = Path(release_root) / "README.md"
    readme.write_text("\n".join(rows) + "\n")
    return readme
