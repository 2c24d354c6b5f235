"""The course notebooks as files: where they are, which a command selects, and their outputs stripped.

- `list_notebooks`, `select_notebooks`: the `NN_topic.ipynb` files of notebooks/, all or by number or name
- `has_parameters_cell`, `checked_notebooks`: what a papermill run needs (a valid profile, a cell tagged
  `parameters`), with an error that says what is wrong
- `strip_outputs`: clear outputs before a commit, keeping the reference outputs of `# NBVAL_CHECK_OUTPUT` cells
"""
from __future__ import annotations

import sys
from pathlib import Path

from helpers.runtime import resolve_profile

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NBVAL_MARK = "# NBVAL_CHECK_OUTPUT"


def list_notebooks(folder: Path = NOTEBOOK_DIR) -> list[Path]:
    """The course notebooks of `folder`, `NN_topic.ipynb`, in order."""
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


def checked_notebooks(profile: str | None, only: list[str] | None, folder: str | Path):
    """(profile, notebooks) ready for papermill, or (exit code, None) after printing what is wrong."""
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
