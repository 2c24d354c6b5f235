"""Every course notebook: template checks (fast), then a papermill run in the quick profile whose
receipt must fall in the ranges of tests/expected_receipts/<notebook>.json.

nbval (`--nbval-lax`, configured in pyproject.toml) separately re-runs the committed notebooks and
compares the outputs of their `# NBVAL_CHECK_OUTPUT` reference cells. The student versions and their
autograding are tested in tests/test_assignments.py.
"""
import json
from pathlib import Path

import nbformat
import pytest

from coursetools import assignments, colab, notebooks, runner

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = notebooks.list_notebooks(ROOT / "notebooks")
EXPECTED = ROOT / "tests" / "expected_receipts"
# The quick profile's budget (3 minutes on a 2-core CPU) is measured in benchmarks/quick_budget.py, not
# here: machines of one kind differ by 2-3x, so a test at the budget fails correct work on a slow one.
# This guards only against a runaway (a hang, a loop that never ends): 4x the budget.
RUNAWAY_S = 4 * 180

ids = [nb.stem for nb in NOTEBOOKS]


def test_the_course_has_its_first_notebook():
    assert "00_vae_foundations" in ids


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_notebook_follows_the_template(path):
    nb = nbformat.read(path, as_version=4)
    cells, code = nb.cells, [c for c in nb.cells if c.cell_type == "code"]
    assert cells[0].cell_type == "markdown" and colab.colab_badge(path.name) in cells[0].source
    setup = code[0].source
    assert 'if "google.colab" in sys.modules:' in setup and colab.colab_install_line() in setup
    assert sum("parameters" in c.metadata.get("tags", []) for c in cells) == 1
    assert any(c.source.count("### BEGIN SOLUTION") for c in code), "no exercise with a solution"
    assert sum(c.source.count("### BEGIN SOLUTION") for c in cells) == sum(c.source.count("### END SOLUTION") for c in cells)
    # exercises in nbgrader's form: solution cells with metadata, locked autograded test cells with points
    # ending in print("Correct: ..."), locked template cells, no later cell using an exercise's names
    problems = assignments.problems(nb)
    assert not problems, "not gradable (python -m coursetools grading NOTEBOOK):\n" + "\n".join(problems)
    assert 2 <= assignments.points(nb)["exercises"] <= 3, "2-3 exercises per notebook"
    assert "record(" in code[-1].source, "the last code cell records the receipt"
    reference = [c for c in code if notebooks.NBVAL_MARK in c.source]
    assert len(reference) >= 2, "at least two nbval reference cells"
    for cell in code:
        if notebooks.NBVAL_MARK in cell.source:
            assert cell.outputs and cell.execution_count is not None, "reference cells keep outputs and counts"
        else:
            assert not cell.outputs, f"committed output in a non-reference cell: {cell.source[:60]!r}"
    assert (EXPECTED / f"{path.stem}.json").exists(), "expected receipt ranges are missing"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_notebook_quick_run_and_receipt(path, tmp_path):
    row = runner.run_notebook(path, tmp_path, "quick")
    assert row["status"] == "ok", row["error"]
    print(f"{path.stem}: {row['seconds']} s, receipt {row['numbers']}")
    assert row["seconds"] <= RUNAWAY_S, (f"quick profile took {row['seconds']} s, over 4x its 3-minute budget: "
                                         "a runaway (see benchmarks/quick_budget.py for the timings)")
    expected = json.loads((EXPECTED / f"{path.stem}.json").read_text())
    for key, (low, high) in expected.items():
        assert key in row["numbers"], f"receipt has no {key!r}"
        value = row["numbers"][key]
        value = float(value) if isinstance(value, (bool, int, float)) else value
        assert low <= value <= high, f"{key} = {value} outside the expected [{low}, {high}]"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_expected_ranges_contain_the_whole_seed_sweep(path):
    """The receipt ranges hold every seed of results/seeds/, not just seed 0 (README.md, "Seeds and results")."""
    import csv
    sweep = ROOT / "results" / "seeds" / f"{path.stem}_quick.csv"
    assert sweep.exists(), f"no seed sweep: run python -m coursetools seeds --only {path.stem[:2]}"
    rows = {row["key"]: row for row in csv.DictReader(sweep.open())}
    expected = json.loads((EXPECTED / f"{path.stem}.json").read_text())
    for key, (low, high) in expected.items():
        assert key in rows, f"the sweep has no {key!r}"
        assert int(rows[key]["n"]) >= 5, f"{key}: fewer than 5 seeds in the sweep"
        assert low <= float(rows[key]["min"]) and float(rows[key]["max"]) <= high, (
            f"{key}: the sweep spans [{rows[key]['min']}, {rows[key]['max']}], outside the expected [{low}, {high}]")
