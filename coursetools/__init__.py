"""`coursetools`: the tooling that builds, runs and grades the course (not part of what a learner reads).

- `runner`       execute notebooks with papermill, check receipts, sweep seeds, strip outputs, HTML export
- `assignments`  the exercises as nbgrader cells: prepare, check, release and autograde (docs/instructors.md)

Run as `python -m coursetools <command>` (`python -m coursetools --help`).
"""
