"""The course installed as Colab installs it, and every notebook run from there (issue 24, item 4).

Colab is a Python whose torch is preinstalled, no repository beside the notebook, no editable install and no
`make`. This test builds that: a fresh virtual environment (not --system-site-packages) with the CPU torch
wheel `make setup` installs (`torch==2.13.0`, from the local wheel cache here), the course installed from a
wheel built from a copy of the checkout (non-editable: only what the package ships), Jupyter's kernel and
papermill, and a stub `google.colab` that the kernel imports at start, as Colab's does. Every notebook is
copied to a folder outside the repository and run there in `quick` with `SMOKE`; its setup cell takes the
Colab branch, whose `pip` is a stand-in on PATH that records the call (there is no network; the wheel is
already installed), while its `python -m coursetools.colab requirements` runs for real. A notebook that needs
a file the package does not ship (data, configs, `results/` tables) fails here.

Marker `colab_install` (in `make test`'s default run; deselect with `-m "not colab_install"`). Measured twice,
on the 2-core machine while seven other jobs shared it (load average 16-29): 192 and 196 CPU-seconds (the venv
and its packages 68-77, the eight notebooks 113-126, the wheel and the course 2-3) in 15-20 minutes of wall
time; it has not been timed alone, where its CPU-seconds suggest a few minutes (it prints both every run).
"""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coursetools import colab, notebooks

ROOT = Path(__file__).resolve().parent.parent
TORCH = "torch==2.13.0"   # the `torch` extra's pin, as `make setup` installs it
# Colab provides a Jupyter kernel and runs cells itself; papermill stands in for the person clicking.
KERNEL = ["ipykernel", "papermill"]

GOOGLE_COLAB_STUB = '''"""A stand-in for Colab's google.colab: the kernel imports it at start, so notebooks take their Colab branch."""
import os
from pathlib import Path


class _Drive:
    def mount(self, path, **kwargs):
        (Path(path) / "MyDrive").mkdir(parents=True, exist_ok=True)


drive = _Drive()
'''
PIP_STANDIN = '''#!/bin/sh
# Colab's `!pip install ...` in a setup cell: recorded, not run (no network; the course wheel is installed).
echo "$@" >> "{log}"
'''
DRIVER = r'''
import json, os, sys, time
from pathlib import Path
import papermill
work, names = Path(sys.argv[1]), sys.argv[2:]
rows = []
for name in names:
    path = work / name
    receipt = work / (path.stem + ".receipt.json")
    os.environ["COURSE_RECEIPT"] = str(receipt)
    start, error, checks = time.perf_counter(), None, []
    try:
        papermill.execute_notebook(str(path), str(work / ("out_" + name)), parameters={"PROFILE": "quick", "SMOKE": True},
                                   cwd=str(work), kernel_name="python3", progress_bar=False, log_output=False)
    except Exception as exc:
        error = type(exc).__name__ + ": " + str(exc).strip()[-1500:]
        # an exercise's check may fail on SMOKE's tiny models (an AssertionError in a cell tagged
        # raises-exception, after which the notebook runs on); any other error is the install's
        import nbformat
        errors = [(c, o) for c in nbformat.read(work / ("out_" + name), as_version=4).cells if c.cell_type == "code"
                  for o in c.get("outputs", []) if o.get("output_type") == "error"]
        if errors and all(o.get("ename") == "AssertionError" and "raises-exception" in c.metadata.get("tags", [])
                          for c, o in errors):
            error, checks = None, [o.get("evalue", "")[:200] for _, o in errors]
    rows.append({"notebook": path.stem, "seconds": round(time.perf_counter() - start, 1), "error": error,
                 "receipt": receipt.exists(), "failed_checks": checks})
print("ROWS " + json.dumps(rows))
'''


def run(command, **kwargs):
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, command))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def build_wheel(out: Path) -> Path:
    """A wheel of the course from a copy of the checkout's package sources (not editable, no repository)."""
    source = out / "source"
    for name in ("helpers", "coursetools"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(ROOT / name, source / name)
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(out),
         str(source)])
    [wheel] = out.glob("structured_latents_course-*.whl")
    return wheel


def core_requirements() -> list[str]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


class Clock:
    """Wall and CPU seconds (this process's children) of each phase: the machine is shared, so the CPU
    seconds are the comparable number."""

    def __init__(self):
        self.phases = {}

    def __call__(self, name):
        import contextlib
        import resource

        @contextlib.contextmanager
        def phase():
            wall, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
            yield
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            self.phases[name] = (time.perf_counter() - wall,
                                 after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime)
        return phase()

    def __str__(self):
        total = [sum(v[i] for v in self.phases.values()) for i in (0, 1)]
        return ", ".join(f"{k} {w:.0f} s ({c:.0f} CPU-s)" for k, (w, c) in self.phases.items()) + \
            f"; total {total[0]:.0f} s ({total[1]:.0f} CPU-s)"


@pytest.mark.colab_install
def test_every_notebook_runs_from_the_installed_wheel_outside_the_repository(tmp_path):
    clock = Clock()
    with clock("wheel"):
        wheel = build_wheel(tmp_path / "wheel")
    venv = tmp_path / "colab-venv"
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    with clock("image"):   # what a Colab runtime has before the notebook: torch, the scientific stack, Jupyter
        run([sys.executable, "-m", "venv", str(venv)])
        run([*pip, TORCH, *core_requirements(), *KERNEL])
    with clock("course"):  # what the stamped setup cell does (colab.colab_install_line), from the wheel
        run([*pip, "--no-deps", "--force-reinstall", str(wheel)])
        requirements = run([str(python), "-m", "coursetools.colab", "requirements"], cwd=tmp_path).stdout
    assert "course requirements: all present" in requirements, requirements
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    assert not any(site.glob("__editable__*")) and (site / "helpers" / "sweep_tables").is_dir()
    (site / "google" / "colab").mkdir(parents=True)
    (site / "google" / "colab" / "__init__.py").write_text(GOOGLE_COLAB_STUB)

    # the learner's side: notebooks in a folder of their own, a kernel that has imported google.colab
    work = tmp_path / "content"
    work.mkdir()
    # COURSE_COLAB_NOTEBOOKS=FOLDER runs the notebooks of another folder (e.g. copies stamped by
    # `python -m coursetools stamp --notebooks FOLDER`) against the same install
    paths = notebooks.list_notebooks(Path(os.environ.get("COURSE_COLAB_NOTEBOOKS") or ROOT / "notebooks"))
    for path in paths:
        shutil.copyfile(path, work / path.name)
    ipython = tmp_path / "ipython"
    (ipython / "profile_default" / "startup").mkdir(parents=True)
    (ipython / "profile_default" / "startup" / "00-colab.py").write_text("import google.colab\n")
    standin = tmp_path / "standin"
    standin.mkdir()
    log = tmp_path / "pip-calls.log"
    (standin / "pip").write_text(PIP_STANDIN.format(log=log))
    (standin / "pip").chmod(0o755)
    (tmp_path / "driver.py").write_text(DRIVER)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "VIRTUAL_ENV", "JUPYTER",
                                                                                   "IPYTHON", "COURSE_"))}
    env.update(PATH=os.pathsep.join([str(standin), str(venv / "bin"), env.get("PATH", "")]), IPYTHONDIR=str(ipython),
               VIRTUAL_ENV=str(venv), COURSE_DATA_DIR=str(tmp_path / "data"), COURSE_QUIET="1", MPLBACKEND="Agg",
               OMP_NUM_THREADS="1", HOME=str(tmp_path / "home"))
    names = [p.name for p in paths]
    halves = [names[0::2], names[1::2]]   # two kernels side by side, one core each
    rows, outputs = [], []
    with clock("notebooks"):
        procs = [subprocess.Popen([str(python), str(tmp_path / "driver.py"), str(work), *half], cwd=work, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for half in halves if half]
        for proc in procs:
            outputs.append(proc.communicate(timeout=1800))
    for out, err in outputs:
        line = next((l for l in out.splitlines() if l.startswith("ROWS ")), None)
        assert line is not None, f"the driver failed:\n{out[-2000:]}\n{err[-3000:]}"
        rows += json.loads(line[5:])
    print(f"colab-like install: {clock}; per notebook (wall s): " +
          ", ".join(f"{r['notebook'][:2]} {r['seconds']:.0f}" for r in sorted(rows, key=lambda r: r["notebook"])))
    for row in rows:
        if row["failed_checks"]:
            print(f"{row['notebook']}: exercise checks that failed under SMOKE (not the install's): {row['failed_checks']}")
    failed = {r["notebook"]: r["error"] for r in rows if r["error"] or not r["receipt"]}
    assert not failed, "notebooks that do not run from the installed package:\n" + "\n\n".join(
        f"{name}: {error or 'no receipt recorded'}" for name, error in failed.items())
    # each setup cell took its Colab branch and installed the course from the repository
    calls = log.read_text().splitlines() if log.exists() else []
    assert len([c for c in calls if f"git+{colab.repository_url()}" in c]) == len(paths), calls
    for row in rows:
        executed = (work / f"out_{row['notebook']}.ipynb").read_text()
        if "coursetools.colab requirements" in executed:   # stamped notebooks: only what is missing is installed
            assert "course requirements: all present" in executed, row["notebook"]
