"""Executing the course notebooks: papermill, several at a time, an HTML rendering each, the receipts table.

`make course` (`python -m coursetools run`) executes every notebook with papermill (`run`), several at a
time (`run_many`; `--jobs`, default one per core for CPU runs, each with its share of the threads:
`threads_per_notebook`), writes the executed notebooks, their HTML renderings and `receipts.json` into
`build/`, prints one line per notebook as it finishes, then a table of notebook, profile, wall time, status
and key numbers (`format_table`). The key numbers are the notebook's receipt: what its last cell records
with `helpers.receipts.record`, which the runner collects through `$COURSE_RECEIPT`.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from helpers.receipts import RECEIPT_ENV
from helpers.runtime import MAX_CPU_THREADS

from .notebooks import NOTEBOOK_DIR, checked_notebooks


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


def default_jobs() -> int:
    return max(1, os.cpu_count() or 1)


def run(profile: str | None = None, only: list[str] | None = None, out: str | Path = "build",
        folder: str | Path = NOTEBOOK_DIR, jobs: int | None = None, smoke: bool = False) -> int:
    """Run the selected notebooks, `jobs` at a time; print the table; return 0 when all passed."""
    profile, notebooks = checked_notebooks(profile, only, folder)
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
