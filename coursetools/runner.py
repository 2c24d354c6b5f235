"""Receipts and the notebook runner.

In a notebook, the last cell records its key numbers:

    from helpers.receipts import record
    record("nll_vae", 91.3)

The runner (`make course`, or `python -m coursetools run`) executes every notebook with
papermill, several at a time (`--jobs`, default one per core for CPU runs), writes the executed
notebooks, HTML renderings and `receipts.json` into `build/`, prints one line per notebook as it
finishes, then a table of notebook, profile, wall time, status and key numbers.

Other commands, for course authors:
    python -m coursetools seeds --only 00 --seeds 0 1 2 3 4 [--jobs J]
        run notebooks over seeds; write the spread of every receipt number to results/seeds/.
    python -m coursetools strip NOTEBOOK [--from EXECUTED]
        remove outputs, keeping (from EXECUTED, if given) those of `# NBVAL_CHECK_OUTPUT` cells.
    python -m coursetools assignments [--only 00 01] [--out build/assignments] [--validate]
        release the student versions through nbgrader (`make assignments`): an nbgrader course directory
        with source/, release/ and gradebook.db; --validate also runs `nbgrader validate` on each notebook.
    python -m coursetools grading NOTEBOOK [...] [--check]
        lock the cells that must not change and tag the exercise cells (coursetools.assignments.prepare), then
        list what keeps a notebook from being gradable; --check changes nothing.
    python -m coursetools student NOTEBOOK [--out FOLDER]
        write one notebook's student version (through nbgrader, like `assignments`).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from pathlib import Path

from helpers.runtime import PROFILES, resolve_profile

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
from helpers.receipts import RECEIPT_ENV
NBVAL_MARK = "# NBVAL_CHECK_OUTPUT"

# --- Colab ---------------------------------------------------------------------------------------
def repository_url() -> str:
    """The course repository, read from pyproject.toml's [project.urls]: the one place it is written."""
    text = (REPO_ROOT / "pyproject.toml").read_text()
    match = re.search(r'^Repository\s*=\s*"([^"]+)"', text, re.M)
    if not match:
        raise RuntimeError("pyproject.toml has no [project.urls] Repository entry")
    return match.group(1)


def colab_badge(notebook: str) -> str:
    """Markdown for the 'Open in Colab' badge of `notebook` (a file name in notebooks/)."""
    github = repository_url().replace("https://github.com/", "")
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{github}/blob/main/notebooks/{notebook})")


def colab_install_line() -> str:
    """The pip line the setup cell runs on Colab: the course without torch (Colab's own torch stays)."""
    return f'!pip install --quiet "git+{repository_url()}"'


# --- notebooks -----------------------------------------------------------------------------------
def list_notebooks(folder: Path = NOTEBOOK_DIR) -> list[Path]:
    return sorted(p for p in Path(folder).glob("[0-9][0-9]_*.ipynb"))


def select_notebooks(only: list[str] | None, folder: Path = NOTEBOOK_DIR) -> list[Path]:
    """Notebooks whose number or name matches an entry of `only` (all when `only` is empty)."""
    notebooks = list_notebooks(folder)
    if not only:
        return notebooks
    chosen = []
    for key in only:
        hits = [nb for nb in notebooks if nb.stem == key or nb.stem.split("_")[0] == key or nb.name == key]
        if not hits:
            names = ", ".join(nb.stem for nb in notebooks) or "(none)"
            raise SystemExit(f"error: no notebook matches {key!r}; available: {names}")
        chosen += [nb for nb in hits if nb not in chosen]
    return chosen


def has_parameters_cell(path: Path) -> bool:
    import nbformat
    nb = nbformat.read(path, as_version=4)
    return any("parameters" in cell.get("metadata", {}).get("tags", []) for cell in nb.cells)


def strip_outputs(path: Path, executed: Path | None = None) -> None:
    """Clear outputs and execution counts, except NBVAL reference cells (outputs taken from `executed`)."""
    import nbformat
    nb = nbformat.read(path, as_version=4)
    reference = {}
    if executed is not None:
        done = nbformat.read(executed, as_version=4)
        reference = {c.source: c for c in done.cells if c.cell_type == "code" and NBVAL_MARK in c.source}
    count = 0
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("papermill", None)
        if cell.cell_type != "code":
            continue
        if NBVAL_MARK in cell.source and cell.source in reference:
            count += 1
            cell.outputs = [o for o in reference[cell.source].outputs if o.get("output_type") != "display_data"]
            cell.execution_count = count
        elif NBVAL_MARK in cell.source and cell.outputs:
            count += 1
            cell.execution_count = count
        else:
            cell.outputs, cell.execution_count = [], None
    nb.metadata.pop("papermill", None)
    nbformat.write(nb, path)


def write_student_version(path: Path, out_dir: Path) -> Path:
    """The student version of a notebook, `out_dir/<name>`: made by `nbgrader generate_assignment`, the
    one way the course makes them (solutions replaced by the stub of nbgrader_config.py, hidden tests and
    outputs removed, cells locked). See coursetools.assignments and docs/instructors.md."""
    from . import assignments
    return assignments.student_version(Path(path), Path(out_dir))


def run_notebook(path: Path, out: Path, profile: str, *, seed: int | None = None, smoke: bool = False,
                 env: dict[str, str] | None = None, html: bool = True, threads: int | None = None) -> dict:
    """Execute one notebook with papermill (parameters PROFILE, SMOKE and, if given, SEED); return its
    row of the receipts table. `env` adds environment variables for the kernel (e.g. COURSE_DATA_DIR).
    `threads`: torch's CPU threads in the kernel (OMP_NUM_THREADS, read by runtime.use_cpu_threads);
    default: this process's OMP_NUM_THREADS, else 1, the right number when notebooks run side by side."""
    import papermill

    out.mkdir(parents=True, exist_ok=True)
    tag = ("" if seed is None else f".seed{seed}") + (f".{profile}-smoke" if smoke else "")
    executed = out / f"{path.stem}{tag}.ipynb"
    receipt_path = out / f"{path.stem}{tag}.receipt.json"
    receipt_path.unlink(missing_ok=True)
    settings = {RECEIPT_ENV: str(receipt_path.resolve()), "COURSE_QUIET": "1", "COURSE_PROFILE": profile,
                "COURSE_SMOKE": "1" if smoke else "0", **(env or {})}
    # Notebooks side by side get one core each: two threads each would fight over the cores (small
    # operations were measured 3-10x slower then); a notebook alone gets all of them (`threads`).
    settings.setdefault("OMP_NUM_THREADS", str(threads) if threads else os.environ.get("OMP_NUM_THREADS", "1"))
    env_before = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    parameters = {"PROFILE": profile, "SMOKE": bool(smoke)}
    if seed is not None:
        parameters["SEED"] = int(seed)
    start, status, error = time.perf_counter(), "ok", None
    km = _local_kernel_manager()
    try:
        with _quiet_kernel_warnings():
            papermill.execute_notebook(str(path), str(executed), parameters=parameters,
                                       cwd=str(path.parent), kernel_name="python3", progress_bar=False,
                                       log_output=False, km=km)
    except Exception as exc:  # a failed notebook is reported in the table; the run goes on
        status, error = "failed", f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
    finally:
        if km.has_kernel:  # a kernel manager we made is ours to shut down (papermill leaves it running)
            km.shutdown_kernel(now=True)
        for key, value in env_before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    seconds = time.perf_counter() - start
    if executed.exists() and html:
        _render_html(executed)
    numbers = json.loads(receipt_path.read_text()) if receipt_path.exists() else {}
    if status == "ok" and not numbers:
        status, error = "failed", "the notebook recorded no receipt (call helpers.receipts.record in its last cell)"
    return {"notebook": path.stem, "profile": profile, "seed": seed, "smoke": bool(smoke),
            "seconds": round(seconds, 1), "status": status, "error": error, "numbers": numbers,
            "executed": str(executed)}


def _local_kernel_manager():
    """A kernel that talks over local sockets (IPC) where the OS has them: a TCP kernel prints a warning
    about unencrypted traffic that only alarms a learner, since nothing leaves the machine."""
    from jupyter_client.manager import KernelManager
    if os.name != "posix":
        return KernelManager(kernel_name="python3")
    import tempfile
    folder = tempfile.mkdtemp(prefix="course-kernel-")
    return KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(folder, "ipc"))


class _quiet_kernel_warnings:
    """Silence the warnings a kernel start prints that say nothing to a learner (jupyter_client's
    "running over TCP without encryption" on a local kernel, and deprecation notices)."""

    def __enter__(self):
        import logging
        import warnings
        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*without encryption.*")
        self._loggers = {name: logging.getLogger(name).level for name in ("papermill", "traitlets", "nbclient")}
        for name in self._loggers:
            logging.getLogger(name).setLevel(logging.ERROR)
        return self

    def __exit__(self, *exc):
        import logging
        for name, level in self._loggers.items():
            logging.getLogger(name).setLevel(level)
        self._catch.__exit__(*exc)
        return False


def _render_html(executed: Path) -> None:
    from nbconvert import HTMLExporter
    body, _ = HTMLExporter().from_filename(str(executed))
    executed.with_suffix(".html").write_text(body, encoding="utf-8")


def format_table(rows: list[dict]) -> str:
    def numbers(row):
        items = [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row["numbers"].items()
                 if not isinstance(v, (dict, list))]
        return ", ".join(items) if items else (row["error"] or "")
    header = ("notebook", "profile", "wall time", "status", "key numbers")
    body = [(r["notebook"], r["profile"], f"{r['seconds']:.0f} s", r["status"], numbers(r)) for r in rows]
    widths = [max(len(str(line[i])) for line in [header, *body]) for i in range(4)]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(line[:4], widths)) + "  " + line[4]
             for line in [header, *body]]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def threads_per_notebook(jobs: int) -> int:
    """CPU threads for each of `jobs` notebooks run side by side: the cores shared out, at least one and at
    most runtime.MAX_CPU_THREADS."""
    from helpers.runtime import MAX_CPU_THREADS
    return max(1, min(MAX_CPU_THREADS, (os.cpu_count() or 1) // max(1, jobs)))


def _run_one(args) -> dict:
    path, out, profile, seed, smoke, threads = args
    return run_notebook(Path(path), Path(out), profile, seed=seed, smoke=smoke, threads=threads)


def run_many(jobs_list: list[tuple], jobs: int) -> list[dict]:
    """Run (path, out, profile, seed, smoke) tuples, `jobs` at a time, one line per finished notebook, each
    with its share of the CPU threads (`threads_per_notebook`). Rows come back in the order of
    `jobs_list`, whatever order they finished in."""
    rows: dict[int, dict] = {}
    threads = threads_per_notebook(min(jobs, len(jobs_list)))
    jobs_list = [(*job, threads) for job in jobs_list]

    def report(row):
        seed = "" if row["seed"] is None else f" seed {row['seed']}"
        print(f"  {row['notebook']} ({row['profile']}{seed}): {row['status']} in {row['seconds']:.0f} s"
              + (f" - {row['error']}" if row["error"] else ""), flush=True)

    if jobs <= 1 or len(jobs_list) <= 1:
        for i, job in enumerate(jobs_list):
            rows[i] = _run_one(job)
            report(rows[i])
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(_run_one, job): i for i, job in enumerate(jobs_list)}
            for future in as_completed(futures):
                rows[futures[future]] = future.result()
                report(rows[futures[future]])
    return [rows[i] for i in range(len(jobs_list))]


def _checked_notebooks(profile, only, folder):
    """(profile, notebooks) or an exit code after printing what is wrong."""
    try:
        profile = resolve_profile(profile)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2, None
    try:
        notebooks = select_notebooks(only, Path(folder))
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2, None
    if not notebooks:
        print(f"error: no notebooks found in {folder}", file=sys.stderr)
        return 2, None
    missing = [nb.name for nb in notebooks if not has_parameters_cell(nb)]
    if missing:
        print(f"error: {', '.join(missing)} has no cell tagged 'parameters' (papermill needs one to set PROFILE)",
              file=sys.stderr)
        return 2, None
    return profile, notebooks


def default_jobs() -> int:
    return max(1, os.cpu_count() or 1)


def run(profile: str | None = None, only: list[str] | None = None, out: str | Path = "build",
        folder: str | Path = NOTEBOOK_DIR, jobs: int | None = None, smoke: bool = False) -> int:
    """Run the selected notebooks, `jobs` at a time; print the table; return 0 when all passed."""
    profile, notebooks = _checked_notebooks(profile, only, folder)
    if notebooks is None:
        return profile
    out = Path(out)
    jobs = jobs or (default_jobs() if profile == "quick" or smoke else 1)  # one GPU: one notebook at a time
    print(f"running {len(notebooks)} notebook(s), profile {profile}{' (smoke)' if smoke else ''}, "
          f"{min(jobs, len(notebooks))} at a time ...", flush=True)
    rows = run_many([(str(nb), str(out), profile, None, smoke) for nb in notebooks], jobs)
    out.mkdir(parents=True, exist_ok=True)
    (out / "receipts.json").write_text(json.dumps({r["notebook"]: r for r in rows}, indent=2))
    print()
    print(format_table(rows))
    print(f"\nexecuted notebooks, HTML and receipts.json are in {out}/")
    return 0 if all(r["status"] == "ok" for r in rows) else 1


# --- seed sweeps ---------------------------------------------------------------------------------
def summarise_seeds(rows: list[dict]) -> list[dict]:
    """Per numeric receipt entry: mean, sd (n - 1), min, max over the seeds, and every seed's value."""
    import statistics
    keys = []
    for row in rows:
        keys += [k for k, v in row["numbers"].items() if isinstance(v, (int, float)) and k not in keys]
    summary = []
    for key in keys:
        values = {row["seed"]: float(row["numbers"][key]) for row in rows
                  if isinstance(row["numbers"].get(key), (int, float))}
        numbers = list(values.values())
        summary.append({"key": key, "n": len(numbers), "mean": statistics.fmean(numbers),
                        "sd": statistics.stdev(numbers) if len(numbers) > 1 else 0.0,
                        "min": min(numbers), "max": max(numbers), "values": values})
    return summary


def write_seed_summary(summary: list[dict], seeds: list[int], stem: Path, title: str) -> None:
    """`stem`.csv and `stem`.md: one row per receipt entry, its spread and each seed's value."""
    import csv
    stem.parent.mkdir(parents=True, exist_ok=True)
    header = ["key", "n", "mean", "sd", "min", "max", *[f"seed_{s}" for s in seeds]]
    with open(stem.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for r in summary:
            writer.writerow([r["key"], r["n"], *(f"{r[k]:.6g}" for k in ("mean", "sd", "min", "max")),
                             *(f"{r['values'][s]:.6g}" if s in r["values"] else "" for s in seeds)])
    lines = [f"# {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in summary:
        cells = [r["key"], str(r["n"]), *(f"{r[k]:.4g}" for k in ("mean", "sd", "min", "max")),
                 *(f"{r['values'][s]:.4g}" if s in r["values"] else "" for s in seeds)]
        lines.append("| " + " | ".join(cells) + " |")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")


def seeds(only: list[str] | None, seed_list: list[int], profile: str | None = "quick", jobs: int | None = None,
          out: str | Path = "build/seeds", results: str | Path = REPO_ROOT / "results",
          folder: str | Path = NOTEBOOK_DIR) -> int:
    """Run each selected notebook once per seed (papermill SEED) and write the receipts' spread to
    results/seeds/<notebook>_<profile>.csv and .md."""
    profile, notebooks = _checked_notebooks(profile, only, folder)
    if notebooks is None:
        return profile
    jobs = jobs or default_jobs()
    print(f"running {len(notebooks)} notebook(s) x {len(seed_list)} seeds, profile {profile}, {jobs} at a time ...",
          flush=True)
    job_list = [(str(nb), str(out), profile, s, False) for nb in notebooks for s in seed_list]
    rows = run_many(job_list, jobs)
    failed = [r for r in rows if r["status"] != "ok"]
    for nb in notebooks:
        mine = [r for r in rows if r["notebook"] == nb.stem and r["status"] == "ok"]
        if not mine:
            continue
        stem = Path(results) / "seeds" / f"{nb.stem}_{profile}"
        title = (f"{nb.stem}: {profile} profile over seeds {', '.join(map(str, seed_list))} "
                 f"(`python -m coursetools seeds --only {nb.stem.split('_')[0]} --seeds {' '.join(map(str, seed_list))}`)")
        write_seed_summary(summarise_seeds(mine), [r["seed"] for r in mine], stem, title)
        print(f"wrote {stem}.csv and .md")
    return 1 if failed else 0


# --- assignments (nbgrader) ----------------------------------------------------------------------
def prepare_for_grading(notebooks: list[Path], write: bool = True) -> int:
    """Lock and tag each notebook's cells for nbgrader (written back when `write`), print what changed
    and what is still out of form; 0 when every notebook is gradable."""
    import nbformat
    from . import assignments
    status = 0
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        changes = assignments.prepare(nb)
        if changes and write:
            nbformat.write(nb, path)
        problems = assignments.problems(nb)
        status |= bool(problems) or (bool(changes) and not write)
        verb = "changed" if write else "would change"
        print(f"{path.name}: " + (f"{verb} {len(changes)} cell(s)" if changes else "cells already locked and tagged")
              + (f"; {len(problems)} problem(s)" if problems else "; gradable"))
        for line in changes + problems:
            print(f"  {line}")
    return 1 if status else 0


def release_assignments(only: list[str] | None = None, out: str | Path = "build/assignments",
                        folder: str | Path = NOTEBOOK_DIR, validate: bool = False, smoke: bool = False,
                        colab: str | None = None, branch: str = "main") -> int:
    """`make assignments`: every selected notebook through `nbgrader generate_assignment` into the course
    directory `out`; a table of points per notebook; with `validate`, `nbgrader validate` on each; with
    `colab` (owner/repo), Colab badges and links for the released notebooks pushed to that repository."""
    import nbformat
    from . import assignments
    try:
        notebooks = select_notebooks(only, Path(folder))
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    bad = {nb.name: assignments.problems(nbformat.read(nb, as_version=4)) for nb in notebooks}
    bad = {name: found for name, found in bad.items() if found}
    for name, found in bad.items():
        print(f"error: {name} is not gradable yet (python -m coursetools grading notebooks/{name}):", file=sys.stderr)
        for line in found:
            print(f"  {line}", file=sys.stderr)
    if bad:
        return 1
    out = Path(out)
    print(f"releasing {len(notebooks)} notebook(s) through nbgrader into {out}/ ...", flush=True)
    released = assignments.generate(notebooks, out)
    if colab:
        readme = assignments.link_for_colab(released, out / "release", colab, branch)
        print(f"Colab links for {colab} ({branch}): {readme}")
    rows = []
    for path, student in zip(notebooks, released):
        points = assignments.points(nbformat.read(path, as_version=4))
        verdict = ""
        if validate:
            start = time.perf_counter()
            try:
                assignments.validate(path, "quick", smoke)
                verdict = f"validated in {time.perf_counter() - start:.0f} s"
            except RuntimeError as exc:
                verdict = "validate FAILED"
                print(exc, file=sys.stderr)
        rows.append((path.stem, points, student, verdict))
    width = max(len(r[0]) for r in rows)
    print(f"\n{'assignment'.ljust(width)}  exercises  autograded  by hand  total  released notebook")
    for stem, points, student, verdict in rows:
        print(f"{stem.ljust(width)}  {points['exercises']:9d}  {points['autograded']:10g}  {points['manual']:7g}  "
              f"{points['total']:5g}  {student.relative_to(out)}" + (f"  ({verdict})" if verdict else ""))
    print(f"\nnbgrader course directory: {out}/ (nbgrader_config.py, source/, release/, gradebook.db); "
          "see docs/instructors.md")
    return 1 if any(r[3] == "validate FAILED" for r in rows) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coursetools", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="execute the course notebooks with papermill")
    run_p.add_argument("--profile", default=None, help=f"one of {', '.join(PROFILES)} (default: COURSE_PROFILE, "
                                                       "else quick on CPU, gpu on GPU)")
    run_p.add_argument("--only", nargs="+", default=None, help="notebook numbers or names, e.g. 00 01")
    run_p.add_argument("--out", default="build", help="output folder (default build/)")
    run_p.add_argument("--notebooks", default=str(NOTEBOOK_DIR), help="folder of NN_*.ipynb notebooks")
    run_p.add_argument("--jobs", type=int, default=None, help="notebooks at a time (default: the number of cores "
                                                              "for quick and smoke runs, 1 on a GPU)")
    run_p.add_argument("--smoke", action="store_true", help="cap every size (SMOKE): the profile's code paths in seconds")
    seeds_p = sub.add_parser("seeds", help="run notebooks over several seeds; write the spread of their receipts")
    seeds_p.add_argument("--only", nargs="+", default=None, help="notebook numbers or names, e.g. 00 01")
    seeds_p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    seeds_p.add_argument("--profile", default="quick")
    seeds_p.add_argument("--jobs", type=int, default=None, help="runs at a time (default: the number of cores)")
    seeds_p.add_argument("--out", default="build/seeds", help="folder for the executed notebooks")
    seeds_p.add_argument("--results", default=str(REPO_ROOT / "results"), help="folder for the summaries")
    seeds_p.add_argument("--notebooks", default=str(NOTEBOOK_DIR))
    strip_p = sub.add_parser("strip", help="clear a notebook's outputs except its nbval reference cells")
    strip_p.add_argument("notebook")
    strip_p.add_argument("--from", dest="executed", default=None, help="an executed copy to take reference outputs from")
    assign_p = sub.add_parser("assignments", help="release the student versions through nbgrader")
    assign_p.add_argument("--only", nargs="+", default=None, help="notebook numbers or names, e.g. 00 01")
    assign_p.add_argument("--out", default="build/assignments", help="the nbgrader course directory to write")
    assign_p.add_argument("--notebooks", default=str(NOTEBOOK_DIR))
    assign_p.add_argument("--validate", action="store_true", help="also run nbgrader validate on every notebook "
                                                                  "(executes it, quick profile)")
    assign_p.add_argument("--smoke", action="store_true", help="validate with SMOKE on (seconds per notebook)")
    assign_p.add_argument("--colab", metavar="OWNER/REPO", default=None,
                          help="point the released notebooks' Colab badges at OWNER/REPO, where you will push "
                               "release/ as the repository root, and write release/README.md with the links")
    assign_p.add_argument("--branch", default="main", help="the branch of --colab (default main)")
    grading_p = sub.add_parser("grading", help="lock and tag a notebook's cells for nbgrader; list problems")
    grading_p.add_argument("notebooks", nargs="+")
    grading_p.add_argument("--check", action="store_true", help="only list the problems; change nothing")
    student_p = sub.add_parser("student", help="write one notebook's student version (through nbgrader)")
    student_p.add_argument("notebook")
    student_p.add_argument("--out", default="build/student")
    args = parser.parse_args(argv)
    if args.command == "assignments":
        return release_assignments(args.only, args.out, args.notebooks, args.validate, args.smoke, args.colab,
                                   args.branch)
    if args.command == "grading":
        return prepare_for_grading([Path(nb) for nb in args.notebooks], write=not args.check)
    if args.command == "run":
        return run(args.profile, args.only, args.out, args.notebooks, args.jobs, args.smoke)
    if args.command == "seeds":
        return seeds(args.only, args.seeds, args.profile, args.jobs, args.out, args.results, args.notebooks)
    if args.command == "student":
        print(write_student_version(Path(args.notebook), Path(args.out)))
        return 0
    strip_outputs(Path(args.notebook), Path(args.executed) if args.executed else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
