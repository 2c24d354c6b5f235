"""Colab: the badge and install line of every course notebook, and links for released student notebooks.

- `repository_url`      the course repository, read from pyproject.toml (the one place it is written)
- `stamped_revision`    the revision the notebooks are stamped with (pyproject.toml's [tool.coursetools]
                        revision, written by `python -m coursetools stamp`)
- `colab_badge`, `colab_install_line`   what each notebook's first cell and setup cell carry
                        (tests/test_notebooks.py checks them)
- `colab_url`, `link_for_colab`         point released notebooks' badges at their own copies in another
                        repository (`python -m coursetools assignments --colab OWNER/REPO`)
- `missing_requirements`, `install_requirements`: what the setup cell runs on Colab after installing the
                        course with --no-deps, `python -m coursetools.colab requirements`: only the course's
                        requirements that Colab lacks, or has below the minimum, are installed, and it says which

This module imports only the standard library (and `packaging`, which pip vendors), so that it runs on
Colab before the course's requirements are in place.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
DISTRIBUTION = "structured-latents-course"
#: The revision a notebook follows when it has no stamp: the default branch, a warned fallback.
DEFAULT_BRANCH = "main"


def repository_url() -> str:
    """The course repository, read from pyproject.toml's [project.urls]: the one place it is written
    (from the installed package's metadata when there is no pyproject.toml beside the package)."""
    pyproject = REPO_ROOT / "pyproject.toml"
    if pyproject.exists():
        match = re.search(r'^Repository\s*=\s*"([^"]+)"', pyproject.read_text(), re.M)
        if not match:
            raise RuntimeError("pyproject.toml has no [project.urls] Repository entry")
        return match.group(1)
    from importlib.metadata import metadata
    for entry in metadata(DISTRIBUTION).get_all("Project-URL") or []:
        label, _, url = entry.partition(",")
        if label.strip().lower() == "repository":
            return url.strip()
    raise RuntimeError("the installed package names no Repository URL")


def recorded_revision() -> str | None:
    """pyproject.toml's `[tool.coursetools] revision`, written by `python -m coursetools stamp`, or None
    before the notebooks were first stamped."""
    pyproject = REPO_ROOT / "pyproject.toml"
    text = pyproject.read_text() if pyproject.exists() else ""
    section = re.search(r"^\[tool\.coursetools\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    match = section and re.search(r'^revision\s*=\s*"([^"]+)"', section.group(1), re.M)
    return match.group(1) if match else None


def stamped_revision() -> str:
    """The revision the course notebooks are stamped with (`recorded_revision`), else the default branch."""
    return recorded_revision() or DEFAULT_BRANCH


def colab_url(repository: str, path: str, branch: str = "main") -> str:
    """Colab's address of a notebook at `path` in the GitHub repository `owner/name`."""
    return f"https://colab.research.google.com/github/{repository}/blob/{branch}/{path}"


def colab_badge(notebook: str, revision: str | None = None) -> str:
    """Markdown for the 'Open in Colab' badge of `notebook` (a file name in notebooks/) at `revision`
    (default: the stamped one), so the notebook Colab opens is the one its install line matches."""
    github = repository_url().replace("https://github.com/", "")
    revision = revision or stamped_revision()
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(github, f'notebooks/{notebook}', revision)})"


#: The install line of a notebook that was never stamped (the default branch, dependencies upgraded).
UNSTAMPED_LINE = '!pip install --quiet "git+{url}"'


def colab_install_line(revision: str | None = None) -> str:
    """The lines the setup cell runs on Colab, indented under its `if "google.colab" in sys.modules:`: the
    course package at `revision` (default: the stamped one) without its dependencies, then only the
    requirements Colab lacks or has below the course's minimum (Colab's torch, numpy, matplotlib,
    ipywidgets, seaborn, scikit-learn stay as they are unless a minimum needs more, and then it says so).
    --force-reinstall: a runtime that has another revision installed gets this one.

    Before `python -m coursetools stamp` first ran (no recorded revision) the notebooks still carry the
    unstamped line, the default branch with its dependencies, `UNSTAMPED_LINE`, and this returns it."""
    revision = revision or recorded_revision()
    if revision is None:
        return UNSTAMPED_LINE.format(url=repository_url())
    return (f'    !pip install --quiet --no-deps --force-reinstall "git+{repository_url()}@{revision}"\n'
            f"    !python -m coursetools.colab requirements --revision {revision}")


def _requirement_class():
    try:
        from packaging.requirements import Requirement
    except ImportError:  # pip vendors packaging
        from pip._vendor.packaging.requirements import Requirement
    return Requirement


def missing_requirements(distribution: str = DISTRIBUTION) -> list[tuple[str, str]]:
    """(requirement, why) for every core requirement of the installed course package that is not
    installed, or installed below its minimum. Extras (torch, test, ...) are not core requirements."""
    from importlib.metadata import PackageNotFoundError, requires, version
    Requirement = _requirement_class()
    missing = []
    for line in requires(distribution) or []:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        try:
            have = version(req.name)
        except PackageNotFoundError:
            missing.append((str(req), "not installed"))
            continue
        if req.specifier and not req.specifier.contains(have, prereleases=True):
            missing.append((str(req), f"{have} installed, the course needs {req.specifier}"))
    return missing


def install_requirements(revision: str | None = None, dry_run: bool = False) -> int:
    """`python -m coursetools.colab requirements`: install only the requirements Colab lacks (or has below
    the minimum), saying which; warn when `revision` is a branch rather than a fixed revision."""
    missing = missing_requirements()
    if not missing:
        print("course requirements: all present; Colab's own packages were kept as they are")
    else:
        print("course requirements: installing " + "; ".join(f"{req} ({why})" for req, why in missing))
        if not dry_run:
            done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *(r for r, _ in missing)])
            if done.returncode != 0:
                return done.returncode
    if revision and not re.match(r"^(?:[0-9a-f]{7,40}|v?\d+(?:\.\d+)*(?:[-.+][0-9A-Za-z.]+)?)$", revision):
        print(f"warning: this notebook is not pinned: it installed the course's branch {revision!r}, which may be "
              f"newer than the notebook. Notebooks from a release or an assignment name an exact revision.")
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse
    parser = argparse.ArgumentParser(prog="python -m coursetools.colab",
                                     description="On Colab, after the course's --no-deps install: install "
                                                 "only the requirements Colab lacks or has below the minimum.")
    sub = parser.add_subparsers(dest="command", required=True)
    req = sub.add_parser("requirements", help="install the course's missing requirements, saying which")
    req.add_argument("--revision", default=None, help="the revision the notebook installed (a branch is warned)")
    req.add_argument("--dry-run", action="store_true", help="only say what would be installed")
    args = parser.parse_args(argv)
    return install_requirements(args.revision, args.dry_run)


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
        # the course's badge at whatever revision the notebook is stamped with
        github = re.escape(repository_url().replace("https://github.com/", ""))
        course_url = re.compile(rf"https://colab\.research\.google\.com/github/{github}/blob/[^/\s)]+/"
                                rf"notebooks/{re.escape(Path(path).name)}")
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = course_url.sub(url, cell.source)
        nbformat.write(nb, path)
        rows.append(f"| {Path(path).stem} | [![Open In Colab]({BADGE_IMAGE})]({url}) |")
    readme = Path(release_root) / "README.md"
    readme.write_text("\n".join(rows) + "\n")
    return readme


if __name__ == "__main__":
    sys.exit(main())
