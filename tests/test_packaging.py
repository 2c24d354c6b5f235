"""environment.yml mirrors pyproject.toml; the README names the two commands; CI calls the test command."""
import re
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import pytest
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent


def pyproject_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    return sorted(set(r.replace(" ", "") for r in reqs))


def environment_requirements():
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"\s*-\s*pip:\s*$", line))
    reqs = [line.strip()[2:].replace(" ", "") for line in lines[start + 1:] if line.strip().startswith("- ")]
    return sorted(r for r in reqs if r != "-e.")


def test_environment_yml_is_in_sync_with_pyproject():
    assert environment_requirements() == pyproject_requirements()


def test_torch_is_pinned_but_not_a_core_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(r.startswith("torch") for r in project["dependencies"])  # Colab keeps its own torch
    assert project["optional-dependencies"]["torch"] == ["torch==2.13.0"]


def test_readme_and_ci_use_the_same_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make course" in readme and "make test" in readme and "PROFILE=paper make course" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_make_lab_opens_jupyterlab_from_the_lab_extra():
    import subprocess
    dry = subprocess.run(["make", "-n", "lab"], cwd=ROOT, capture_output=True, text=True)
    assert dry.returncode == 0 and "jupyter lab notebooks/" in dry.stdout and ".[torch,test,lab]" in dry.stdout
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(r.startswith("jupyterlab") for r in project["optional-dependencies"]["lab"])
    assert "make lab" in (ROOT / "README.md").read_text()


def test_seaborn_is_a_dependency_and_make_test_spreads_over_cores():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(r.startswith("seaborn") for r in project["dependencies"])
    assert isinstance(project["license"], str)  # an SPDX string: the TOML-table form is deprecated
    assert "--dist loadgroup" in (ROOT / "Makefile").read_text()
