"""Classroom assignments through nbgrader (docs/instructors.md).

- fast checks of coursetools.assignments on small notebooks (no nbgrader needed);
- `grading`: a small notebook released by `nbgrader generate_assignment`: no solutions, no hidden tests, no
  outputs, the course's stub in every solution cell;
- `grading` and `notebook`: every course notebook released (the same checks, on the release the grading
  needs anyway: one `generate_assignment` per notebook, not two) and autograded end to end. In a temporary nbgrader course directory the solution
  notebook, submitted as a student's work, autogrades to full marks on every autograded test cell, and
  the released, unanswered notebook to zero on them, with no error in any other cell (it runs to its
  end). The notebooks run in the quick profile with SMOKE on (the quick profile's data, models and code
  paths at capped sizes: seconds per notebook); COURSE_AUTOGRADE_SMOKE=0 grades the full quick profile
  (the quick runs of tests/test_notebooks.py already execute every test cell of the solutions there).

Deselect with `-m "not grading"`; nbgrader comes with the `grading` extra (`make test` installs it).
"""
import os
import time
from pathlib import Path

import nbformat
import pytest

from coursetools import assignments, colab, notebooks

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = notebooks.list_notebooks(ROOT / "notebooks")
ids = [nb.stem for nb in NOTEBOOKS]
AUTOGRADE_SMOKE = os.environ.get("COURSE_AUTOGRADE_SMOKE", "1").strip().lower() not in {"0", "false", "no", "off"}


# --- coursetools.assignments on small notebooks --------------------------------------------------------
def toy_notebook(later_source="print('the rest of the notebook')"):
    meta = assignments.cell_metadata
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 99 · toy"),
        nbformat.v4.new_code_cell("import numpy as np"),
        nbformat.v4.new_code_cell("PROFILE = None", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_markdown_cell("**Exercise 1.** Write `double(x)`."),
        nbformat.v4.new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
                                  metadata={"nbgrader": meta("ex1", solution=True)}),
        nbformat.v4.new_code_cell("assert double(2) == 4, 'double(2) should be 4'\n### BEGIN HIDDEN TESTS\n"
                                  "assert double(-1) == -2\n### END HIDDEN TESTS\nprint('Correct: double doubles.')",
                                  metadata={"nbgrader": meta("ex1_test", grade=True, locked=True, points=2)}),
        nbformat.v4.new_markdown_cell("Because.", metadata={"nbgrader": meta("ex1_answer", solution=True, grade=True,
                                                                             points=1)}),
        nbformat.v4.new_code_cell(later_source),
        nbformat.v4.new_code_cell("from helpers.receipts import record\nrecord('x', 1)"),
    ]
    return nb


def test_prepare_locks_the_template_cells_and_tags_the_exercise_cells():
    nb = toy_notebook()
    changes = assignments.prepare(nb)
    locked = {assignments.nbgrader_metadata(c)["grade_id"] for c in nb.cells
              if assignments.nbgrader_metadata(c).get("locked") and not assignments.is_exercise(c)}
    assert locked == {"setup", "parameters", "ex1_task", "receipt"}
    assert all(assignments.RUN_ON_TAG in nb.cells[i].metadata["tags"] for i in (4, 5))
    assert assignments.prepare(nb) == [] and changes  # idempotent
    assert assignments.problems(nb) == []
    assert assignments.points(nb) == {"autograded": 2.0, "manual": 1.0, "total": 3.0, "exercises": 1}


def test_problems_finds_a_later_cell_that_uses_an_exercise():
    nb = toy_notebook(later_source="print(double(3))")
    assignments.prepare(nb)
    assert assignments.later_uses_of_exercise_names(nb) == [(7, "double", 4)]
    assert any("uses 'double'" in p for p in assignments.problems(nb))
    # a later cell that binds the name itself before reading it is independent of the exercise
    nb.cells[7].source = "def double(x):\n    return x + x\nprint(double(3))"
    assert assignments.later_uses_of_exercise_names(nb) == []


def test_problems_finds_an_exercise_that_rebinds_a_name_other_cells_use():
    """Notebook 03's old exercise 3 in small: the setup imports a helper, an earlier cell calls it, and the
    exercise rebinds its name (`transfer_accuracy = {}`), so rerunning the earlier cell raises TypeError."""
    nb = toy_notebook()
    nb.cells[1].source = "import numpy as np\nfrom math import fsum as transfer_accuracy"
    nb.cells.insert(3, nbformat.v4.new_code_cell("def summary(xs):\n    return transfer_accuracy(xs)\n"
                                                 "print(summary([0.5, 0.25]))"))
    solution = nb.cells[5]
    solution.source = ("transfer_accuracy = {}   # name -> accuracy\n" + solution.source)
    assignments.prepare(nb)
    assert assignments.exercise_rebindings(nb) == [(5, "transfer_accuracy", 1, [3])]
    found = "\n".join(assignments.problems(nb))
    assert "cell 5 (exercise 'ex1') rebinds 'transfer_accuracy', which cell 1 binds and cell(s) 3 use" in found
    # the same exercise with its own name for the result is gradable
    solution.source = solution.source.replace("transfer_accuracy = {}", "my_transfer = {}")
    assert assignments.exercise_rebindings(nb) == [] and assignments.problems(nb) == []
    # re-importing a module the notebook uses changes nothing, and a name no other cell reads is free
    solution.source = "import numpy as np\nscratch = 1\n" + solution.source
    nb.cells[1].source += "\nscratch = 0"
    assert assignments.exercise_rebindings(nb) == []
    # a test cell that rebinds a notebook name is caught too
    nb.cells[6].source = "transfer_accuracy = None\n" + nb.cells[6].source
    assert [(i, name) for i, name, _, _ in assignments.exercise_rebindings(nb)] == [(6, "transfer_accuracy")]


def test_problems_finds_cells_out_of_form():
    nb = toy_notebook()
    assignments.prepare(nb)
    nb.cells[5].source = nb.cells[5].source.replace("print('Correct: double doubles.')", "print(True)")
    nb.cells[5].metadata["nbgrader"]["locked"] = False
    nb.cells[6].metadata["nbgrader"]["grade_id"] = "ex1"
    nb.cells[7].source = "### BEGIN SOLUTION\nx = 1\n### END SOLUTION"
    found = "\n".join(assignments.problems(nb))
    for expected in ("does not end with a print(\"Correct", "is not locked", "'ex1' is also cell 4",
                     "cell 7: has '### BEGIN SOLUTION' but no nbgrader metadata"):
        assert expected in found, found
    del nb.cells[5]
    assert "is not followed by an autograded test cell" in "\n".join(assignments.problems(nb))


def test_student_versions_say_how_to_run_them_and_install_their_revision(tmp_path):
    nb = toy_notebook()
    nb.cells[1].source = 'import sys\nif "google.colab" in sys.modules:\n    !pip install x\n\nimport numpy as np'
    assignments.prepare(nb)
    path = tmp_path / "99_toy.ipynb"
    nbformat.write(nb, path)
    root = assignments.course_directory([path], tmp_path / "course", revision="v1.2")
    copy = nbformat.read(root / "source" / "99_toy" / "99_toy.ipynb", as_version=4)
    note = copy.cells[0].source
    assert note.startswith("# 99 · toy") and assignments.STUDENT_NOTE_MARK in note
    for words in ("# YOUR CODE HERE", "Correct: ...", "raises-exception", "On Colab", "Runtime → Run after"):
        assert words in note, words
    assert len(copy.cells) == len(nb.cells) and not assignments.add_student_note(copy)
    assert colab.colab_install_line("v1.2") in copy.cells[1].source and 'COURSE_REVISION = "v1.2"' in copy.cells[1].source
    assert assignments.problems(copy) == []
    # without a revision the notebook is copied as it is, with the note
    root = assignments.course_directory([path], tmp_path / "plain")
    assert nbformat.read(root / "source" / "99_toy" / "99_toy.ipynb", as_version=4).cells[1].source == nb.cells[1].source


def test_colab_links_point_released_notebooks_at_their_own_copies(tmp_path):
    nb = toy_notebook()
    nb.cells[0].source += "\n\n" + colab.colab_badge("99_toy.ipynb")
    path = tmp_path / "release" / "99_toy" / "99_toy.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    readme = colab.link_for_colab([path], tmp_path / "release", "someone/homework", "spring")
    url = "https://colab.research.google.com/github/someone/homework/blob/spring/99_toy/99_toy.ipynb"
    assert f"]({url})" in nbformat.read(path, as_version=4).cells[0].source
    assert colab.repository_url().replace("https://github.com/", "") not in nbformat.read(path, as_version=4).cells[0].source
    assert url in readme.read_text()


def test_make_assignments_installs_the_grading_extra_and_runs_nbgrader_into_build():
    import subprocess
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    dry = subprocess.run(["make", "-n", "assignments"], cwd=ROOT, capture_output=True, text=True)
    assert dry.returncode == 0 and ".[torch,test,grading]" in dry.stdout
    assert "-m coursetools assignments" in dry.stdout and "--out build/assignments" in dry.stdout
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(r.startswith("nbgrader") for r in project["optional-dependencies"]["grading"])
    assert "make assignments" in (ROOT / "README.md").read_text() and "docs/instructors.md" in (ROOT / "README.md").read_text()


# --- released notebooks -------------------------------------------------------------------------
def check_released(source_path: Path, released_path: Path) -> None:
    """A released notebook has no solutions, hidden tests or outputs, the course's stub in every solution
    cell, the written answers blanked, the locked cells locked, and the same points as the source."""
    import ast
    from IPython.core.inputtransformer2 import TransformerManager
    source = nbformat.read(source_path, as_version=4)
    released = nbformat.read(released_path, as_version=4)
    assert len(released.cells) == len(source.cells)
    for before, after in zip(source.cells, released.cells):
        assert "BEGIN SOLUTION" not in after.source and "BEGIN HIDDEN TESTS" not in after.source
        if after.cell_type == "code":
            assert not after.outputs and after.execution_count is None
            ast.parse(TransformerManager().transform_cell(after.source))
        if assignments.is_solution(before) and before.cell_type == "code":
            assert "# YOUR CODE HERE" in after.source and "NotImplementedError" not in after.source
            assert assignments.RUN_ON_TAG in after.metadata.get("tags", [])
        if assignments.is_written_answer(before):
            assert after.source == "YOUR ANSWER HERE"
        if assignments.nbgrader_metadata(before).get("locked"):
            assert after.metadata.get("editable") is False and after.metadata.get("deletable") is False
    assert assignments.points(released) == assignments.points(source)
    assert assignments.STUDENT_NOTE_MARK in released.cells[0].source, "the student version says how to run it"


@pytest.mark.grading
def test_released_toy_notebook_has_no_solutions_hidden_tests_or_outputs(tmp_path):
    """The release checks on a small notebook (every course notebook is released and checked by the
    autograding test below, from the one `nbgrader generate_assignment` it needs anyway)."""
    path = tmp_path / "99_toy.ipynb"
    nb = toy_notebook()
    assignments.prepare(nb)
    nbformat.write(nb, path)
    check_released(path, assignments.student_version(path, tmp_path / "release"))


# --- autograding end to end ---------------------------------------------------------------------
def error_cells(notebook_path: Path) -> list[tuple[int, str, str]]:
    """(index, grade_id or '', error name) of every code cell with an error output."""
    nb = nbformat.read(notebook_path, as_version=4)
    return [(i, assignments.nbgrader_metadata(c).get("grade_id", ""), o.get("ename", ""))
            for i, c in enumerate(nb.cells) if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]


@pytest.mark.grading
@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_autograding_gives_solutions_full_marks_and_unanswered_versions_zero(path, tmp_path):
    start = time.perf_counter()
    root = tmp_path / "course"
    [released] = assignments.generate([path], root)
    check_released(path, released)   # no solutions, hidden tests or outputs; stubs; locked cells; points
    scores = assignments.autograde(root, path.stem, {"solution": path, "unanswered": released}, "quick",
                                   smoke=AUTOGRADE_SMOKE)
    source = nbformat.read(path, as_version=4)
    tests = {assignments.nbgrader_metadata(c)["grade_id"]: assignments.nbgrader_metadata(c)["points"]
             for c in source.cells if assignments.is_autograded_test(c)}
    for grade_id, points in tests.items():
        assert scores["solution"][grade_id] == (points, points), f"the solution lost points on {grade_id}"
        assert scores["unanswered"][grade_id] == (0.0, points), f"the unanswered version scored on {grade_id}"
    autograded = root / "autograded"
    assert error_cells(autograded / "solution" / path.stem / path.name) == [], "the solution raised errors"
    errors = error_cells(autograded / "unanswered" / path.stem / path.name)
    outside = [e for e in errors if e[1] not in tests]
    assert not outside, f"the unanswered version failed outside its test cells (cell, grade_id, error): {outside}"
    assert {e[1] for e in errors} == set(tests), "every test cell of the unanswered version should fail"
    # Jupyter's "Run all" goes on past an error only in a cell tagged raises-exception: every cell that
    # failed is tagged, so a learner's "Run all" of the unanswered notebook also reaches its end
    cells = nbformat.read(released, as_version=4).cells
    assert all(assignments.RUN_ON_TAG in cells[i].metadata.get("tags", []) for i, _, _ in errors)
    points = assignments.points(source)
    print(f"{path.stem}: {len(tests)} test cells, {points['autograded']:g} autograded + {points['manual']:g} "
          f"manual points; autograded two submissions ({'quick, smoke' if AUTOGRADE_SMOKE else 'quick'}) in "
          f"{time.perf_counter() - start:.0f} s")
