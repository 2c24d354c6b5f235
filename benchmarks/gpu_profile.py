"""Run notebooks in the `gpu` profile on this machine's GPU and write their wall times and receipts.

    python benchmarks/gpu_profile.py --only 00 01 03 [--jobs 3] [--note "..."] --out results/gpu

Writes `<out>/<device>.md` (a table: notebook, wall time, status, receipt) and `<out>/<device>.json`.
The `gpu` profile's budget is 20 minutes per notebook on a free Colab T4; a faster card's times are
reported as measured, with the card named, never scaled.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from coursetools import runner
from coursetools.notebooks import select_notebooks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", default=None)
    parser.add_argument("--jobs", type=int, default=1, help="notebooks at a time on the one GPU")
    parser.add_argument("--profile", default="gpu")
    parser.add_argument("--note", default="", help="what the run's data were (printed under the table)")
    parser.add_argument("--out", default="results/gpu")
    parser.add_argument("--executed", default="build/gpu", help="folder for the executed notebooks")
    args = parser.parse_args()
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    notebooks = select_notebooks(args.only)
    start = time.perf_counter()
    rows = runner.run_many([(str(nb), args.executed, args.profile, None, False) for nb in notebooks], args.jobs)
    total = time.perf_counter() - start
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = device.replace(" ", "_").replace("/", "_")
    (out / f"{tag}.json").write_text(json.dumps({"device": device, "torch": torch.__version__, "jobs": args.jobs,
                                                 "total_seconds": total, "note": args.note, "rows": rows}, indent=2))
    lines = [f"# `{args.profile}` profile on {device}", "",
             f"torch {torch.__version__}, Python {platform.python_version()}, {args.jobs} notebook(s) at a time on "
             f"the one GPU, {total:.0f} s in all. {args.note}", "",
             "| notebook | wall time | status | receipt |", "|---|---|---|---|"]
    for r in rows:
        numbers = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r["numbers"].items()
                            if not isinstance(v, (dict, list)))
        lines.append(f"| {r['notebook']} | {r['seconds']:.0f} s | {r['status']}{': ' + r['error'] if r['error'] else ''} "
                     f"| {numbers} |")
    (out / f"{tag}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
