"""How long `make test` takes, and where the time goes.

    python benchmarks/suite_time.py                            # the suite as `make test` runs it
    python benchmarks/suite_time.py --out results/benchmarks   # also write test_suite.md there
    python benchmarks/suite_time.py --junit report.xml         # only summarise an existing JUnit report

Runs `pytest -n JOBS --dist loadgroup` (the command of `make test`) with a JUnit report, then writes the
suite's wall time, its ten slowest tests, and the seconds spent on each notebook across the whole
suite (quick run, nbval cells, smoke runs, autograding): every test whose id names a notebook counts
for it. Each test runs on one core (one torch thread per worker), so a test's seconds are close to
its CPU seconds. Run it on a fresh clone for the README's figure.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.quick_budget import machine, publish, reference_workload  # noqa: E402


def test_times(junit: Path) -> list[tuple[float, str, str]]:
    """(seconds, test id, outcome) of every test case in a JUnit report."""
    rows = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        outcome = "failed" if case.find("failure") is not None or case.find("error") is not None else (
            "skipped" if case.find("skipped") is not None else "passed")
        rows.append((float(case.get("time", 0)), f"{case.get('classname')}::{case.get('name')}", outcome))
    return sorted(rows, reverse=True)


def per_notebook(rows) -> dict[str, float]:
    """Seconds of the tests that name a notebook (NN_topic), summed per notebook."""
    totals: dict[str, float] = defaultdict(float)
    for seconds, name, _ in rows:
        found = re.search(r"(?<![0-9A-Za-z])(0\d_[a-z_]+?)(?:\.ipynb|-gpu|-paper|\]|$|::)", name)
        if found:
            totals[found.group(1)] += seconds
    return dict(sorted(totals.items()))


def report(rows, wall: float | None, jobs: str) -> str:
    counts = defaultdict(int)
    for _, _, outcome in rows:
        counts[outcome] += 1
    total = sum(r[0] for r in rows)
    lines = ["# `make test`: time and where it goes", "",
             f"On {machine()}, {time.strftime('%Y-%m-%d')}; reference workload "
             f"(benchmarks/quick_budget.py) {reference_workload():.1f} s.", ""]
    if wall is not None:
        lines.append(f"Wall time: **{wall / 60:.1f} min** ({wall:.0f} s) with `-n {jobs}`; "
                     + ", ".join(f"{n} {k}" for k, n in counts.items()) + f". Sum of the test times: {total:.0f} s.")
    lines += ["", "Ten slowest tests:", "", "| seconds | test |", "|---|---|"]
    lines += [f"| {s:.0f} | `{name}` |" for s, name, _ in rows[:10]]
    lines += ["", "Seconds per notebook across the suite (its quick run, nbval cells, smoke runs and autograding):",
              "", "| notebook | seconds |", "|---|---|"]
    lines += [f"| {nb} | {s:.0f} |" for nb, s in per_notebook(rows).items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", default=os.environ.get("JOBS") or "auto")
    parser.add_argument("--junit", default=None, help="summarise this JUnit report instead of running the suite")
    parser.add_argument("--out", default=None, help="folder for test_suite.md")
    args = parser.parse_args(argv)
    wall = None
    if args.junit:
        junit = Path(args.junit)
    else:
        junit = Path(tempfile.mkdtemp(prefix="suite-time-")) / "report.xml"
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pytest", "-n", args.jobs, "--dist", "loadgroup", "-q",
                        f"--junitxml={junit}"], cwd=ROOT)
        wall = time.perf_counter() - start
    text = report(test_times(junit), wall, args.jobs)
    publish(text, args.out, "test_suite.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
