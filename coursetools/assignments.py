"""Classroom assignments through nbgrader: the course's graded exercises, released student versions and
autograding.

Every exercise of a course notebook is in nbgrader's cell form (schema version 3):

- a **solution cell** (`solution: true`): code between `### BEGIN SOLUTION` / `### END SOLUTION`, which
  `nbgrader generate_assignment` replaces by the stub of `nbgrader_config.py`;
- one or more **autograded test cells** (`grade: true`, `locked: true`, `points`): plain asserts with a
  message that helps, optional checks between `### BEGIN HIDDEN TESTS` / `### END HIDDEN TESTS`, and a
  last line `print("Correct: ...")`, the feedback a learner alone gets;
- optionally a **written answer** (`solution: true, grade: true`, `points`) in a Markdown cell, graded by
  hand.

The course's choice (docs/instructors.md): an unanswered notebook still runs to its end. The code stub is
a no-op (`...`), not nbgrader's default `raise NotImplementedError()`, so an unanswered function returns
None and only its test cell fails; solution and test cells carry the `raises-exception` tag, so Jupyter's
"Run all" (and nbclient) goes on past them; and no later cell uses a name an exercise defines.
`nbgrader autograde` executes with errors allowed whatever the tags say.

In order below: the cell roles; `prepare` (locks and tags); `problems` (what keeps a notebook from being
gradable); nbgrader itself (`generate`, `student_version`, `validate`, `autograde`); and the commands
`python -m coursetools grading` (`prepare_for_grading`), `assignments` (`release_assignments`) and `student`.

nbgrader: J. B. Hamrick and the Jupyter Development Team, *nbgrader: A tool for creating and grading
assignments in the Jupyter notebook*, The Journal of Open Source Education 2(16), 2019,
https://doi.org/10.21105/jose.00032; documentation at https://nbgrader.readthedocs.io.
"""
from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .colab import link_for_colab
from .notebooks import NOTEBOOK_DIR, REPO_ROOT, select_notebooks

CONFIG_FILE = REPO_ROOT / "nbgrader_config.py"
SCHEMA_VERSION = 3
RUN_ON_TAG = "raises-exception"  # Jupyter's "Run all" and nbclient go on past an error in such a cell
_GRADE_ID = re.compile(r"^[A-Za-z0-9_-]+$")


# --- cell roles ----------------------------------------------------------------------------------
def nbgrader_metadata(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_solution(cell) -> bool:
    return bool(nbgrader_metadata(cell).get("solution"))


def is_autograded_test(cell) -> bool:
    meta = nbgrader_metadata(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def is_written_answer(cell) -> bool:
    meta = nbgrader_metadata(cell)
    return cell.cell_type == "markdown" and bool(meta.get("grade")) and bool(meta.get("solution"))


def is_exercise(cell) -> bool:
    """A solution, test or written-answer cell: what a student writes or what grades it."""
    meta = nbgrader_metadata(cell)
    return bool(meta.get("solution") or meta.get("grade"))


def cell_metadata(grade_id: str, *, solution=False, grade=False, locked=False, points=None) -> dict:
    """nbgrader's metadata for one cell, in the key order nbgrader writes."""
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked}
    if points is not None:
        meta["points"] = points
    meta.update({"schema_version": SCHEMA_VERSION, "solution": solution, "task": False})
    return meta


def points(nb) -> dict:
    """Points of a notebook: autograded (test cells), by hand (written answers), and the exercise count."""
    auto = sum(float(nbgrader_metadata(c).get("points", 0)) for c in nb.cells if is_autograded_test(c))
    manual = sum(float(nbgrader_metadata(c).get("points", 0)) for c in nb.cells if is_written_answer(c))
    exercises = sum(1 for c in nb.cells if c.cell_type == "code" and is_solution(c))
    return {"autograded": auto, "manual": manual, "total": auto + manual, "exercises": exercises}


# --- preparing a notebook: locks and tags --------------------------------------------------------
def _template_cells(nb) -> dict[str, int]:
    """grade_id -> index of the template cells locked in every notebook: the setup cell, the parameters
    cell and the profile table after it (so autograding runs the profile the grader chooses), and the
    receipt cell."""
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    cells = {"setup": code[0], "receipt": code[-1]}
    for i, cell in enumerate(nb.cells):
        if "parameters" in cell.metadata.get("tags", []):
            cells["parameters"] = i
            if i + 1 < len(nb.cells) and "pick_profile_values" in nb.cells[i + 1].source:
                cells["profile_table"] = i + 1
    return cells


def _task_cells(nb) -> dict[str, int]:
    """grade_id -> index of each exercise's task: the plain Markdown cell just before a solution code cell."""
    tasks = {}
    for i, cell in enumerate(nb.cells[1:], start=1):
        before = nb.cells[i - 1]
        if cell.cell_type == "code" and is_solution(cell) and before.cell_type == "markdown" \
                and not nbgrader_metadata(before):
            tasks[f"{nbgrader_metadata(cell)['grade_id']}_task"] = i - 1
    return tasks


def prepare(nb) -> list[str]:
    """Lock the cells that must not change and tag the exercise cells so "Run all" goes on past them.
    Changes `nb` in place; returns what it changed (empty when the notebook was ready)."""
    changes = []
    for grade_id, i in {**_template_cells(nb), **_task_cells(nb)}.items():
        cell = nb.cells[i]
        meta = nbgrader_metadata(cell)
        if meta and (meta.get("solution") or meta.get("grade")):
            continue  # an exercise cell already; leave it as its author set it
        if meta.get("locked") and meta.get("schema_version") == SCHEMA_VERSION:
            continue
        cell.metadata["nbgrader"] = cell_metadata(meta.get("grade_id", grade_id), locked=True)
        changes.append(f"locked cell {i} ({grade_id})")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and is_exercise(cell):
            tags = cell.metadata.setdefault("tags", [])
            if RUN_ON_TAG not in tags:
                tags.append(RUN_ON_TAG)
                changes.append(f"tagged cell {i} ({nbgrader_metadata(cell).get('grade_id')}) {RUN_ON_TAG}")
    return changes


# --- checking a notebook -------------------------------------------------------------------------
def problems(nb) -> list[str]:
    """What keeps `nb` from being a gradable course notebook (empty when it is one)."""
    found, seen = [], {}
    for i, cell in enumerate(nb.cells):
        meta = nbgrader_metadata(cell)
        where = f"cell {i}"
        if "BEGIN SOLUTION" in cell.source and not meta.get("solution"):
            found.append(f"{where}: has '### BEGIN SOLUTION' but no nbgrader metadata with solution: true")
        if not meta:
            continue
        grade_id = meta.get("grade_id")
        if not isinstance(grade_id, str) or not _GRADE_ID.match(grade_id):
            found.append(f"{where}: grade_id {grade_id!r} is not letters, digits, '_' or '-'")
        elif grade_id in seen:
            found.append(f"{where}: grade_id {grade_id!r} is also cell {seen[grade_id]}'s")
        else:
            seen[grade_id] = i
        if meta.get("schema_version") != SCHEMA_VERSION:
            found.append(f"{where}: nbgrader schema_version is {meta.get('schema_version')!r}, not {SCHEMA_VERSION}")
        if any(not isinstance(meta.get(k), bool) for k in ("grade", "solution", "locked", "task")):
            found.append(f"{where}: grade, solution, locked and task must all be true or false")
        if meta.get("grade") and not (isinstance(meta.get("points"), (int, float)) and meta["points"] > 0):
            found.append(f"{where}: a graded cell needs points > 0")
        if cell.cell_type == "code" and meta.get("solution") and not meta.get("grade"):
            if "### BEGIN SOLUTION" not in cell.source:
                found.append(f"{where}: a solution cell keeps its solution between ### BEGIN/END SOLUTION")
            following = next((c for c in nb.cells[i + 1:] if c.cell_type == "code" and not is_solution(c)), None)
            if following is None or not is_autograded_test(following):
                found.append(f"{where}: the solution cell {grade_id!r} is not followed by an autograded test cell")
        if is_autograded_test(cell):
            lines = [line for line in cell.source.strip().splitlines() if line.strip()]
            if not meta.get("locked"):
                found.append(f"{where}: the test cell {grade_id!r} is not locked")
            if "assert" not in cell.source:
                found.append(f"{where}: the test cell {grade_id!r} asserts nothing")
            if not lines or not (lines[-1].startswith("print(") and "Correct" in lines[-1]):
                found.append(f"{where}: the test cell {grade_id!r} does not end with a print(\"Correct: ...\") line")
            if "BEGIN SOLUTION" in cell.source:
                found.append(f"{where}: the test cell {grade_id!r} holds a solution")
        if cell.cell_type == "code" and is_exercise(cell) and RUN_ON_TAG not in cell.metadata.get("tags", []):
            found.append(f"{where}: exercise cell {grade_id!r} lacks the {RUN_ON_TAG!r} tag "
                         "(python -m coursetools grading NOTEBOOK adds it)")
    if not any(is_autograded_test(c) for c in nb.cells):
        found.append("no autograded test cell")
    for grade_id, i in _template_cells(nb).items():
        if not nbgrader_metadata(nb.cells[i]).get("locked"):
            found.append(f"cell {i} ({grade_id}) is not locked (python -m coursetools grading NOTEBOOK locks it)")
    found += [f"cell {i} uses {name!r}, which an exercise defines (cell {j}): an unanswered exercise would break it"
              for i, name, j in later_uses_of_exercise_names(nb)]
    found += [f"cell {i} (exercise {nbgrader_metadata(nb.cells[i]).get('grade_id')!r}) rebinds {name!r}, which cell "
              f"{j} binds and cell(s) {', '.join(map(str, readers))} use: rerunning them after the exercise would "
              f"see the exercise's value (give the exercise's result its own name)"
              for i, name, j, readers in exercise_rebindings(nb)]
    return found


def _code(source: str) -> ast.Module | None:
    from IPython.core.inputtransformer2 import TransformerManager
    try:
        return ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError:
        return None


def _bound_names(target) -> set[str]:
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}


def defined_names(tree: ast.Module) -> set[str]:
    """Names a cell binds at the notebook's top level (not inside its functions or classes)."""
    names, todo = set(), list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            for target in getattr(node, "targets", None) or [node.target]:
                names |= _bound_names(target)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            names |= _bound_names(node.target)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            names |= {n for item in node.items if item.optional_vars for n in _bound_names(item.optional_vars)}
        names |= {n.target.id for n in ast.walk(node) if isinstance(n, ast.NamedExpr)}
        for field in ("body", "orelse", "finalbody", "handlers"):
            todo += getattr(node, field, [])
    return names


def free_names(tree: ast.Module) -> set[str]:
    """Names a cell reads that it does not bind anywhere itself (an over-estimate of what it needs)."""
    loads = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    stores = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    stores |= {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)}
    stores |= {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    stores |= {(a.asname or a.name).split(".")[0] for n in ast.walk(tree)
               if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    return loads - stores


def later_uses_of_exercise_names(nb) -> list[tuple[int, str, int]]:
    """(cell, name, exercise cell) for every later non-exercise cell that reads a name an exercise cell
    binds: such a cell breaks, or silently changes, when the exercise is left unanswered."""
    defined: dict[str, int] = {}
    uses = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        tree = _code(cell.source)
        if tree is None:
            continue
        if is_exercise(cell):
            defined.update({name: i for name in defined_names(tree)})
        else:
            uses += [(i, name, defined[name]) for name in sorted(free_names(tree) & set(defined))]
            for name in defined_names(tree):  # rebound by a non-exercise cell: later reads see that value
                defined.pop(name, None)
    return uses


def _imported_names(tree: ast.Module) -> set[str]:
    """Names a cell binds by an import statement at its top level (re-importing a module changes nothing)."""
    return {(a.asname or a.name).split(".")[0] for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
            for a in node.names}


def exercise_rebindings(nb) -> list[tuple[int, str, int, list[int]]]:
    """(exercise cell, name, binding cell, reading cells) for every name an exercise cell rebinds that a
    non-exercise cell binds and other non-exercise cells read, before or after the exercise: once the
    exercise has run, rerunning such a reader (or "Run all" from an earlier cell) sees the exercise's value.
    Notebook 03 once had `transfer_accuracy = {}` in an exercise, the helper an earlier cell calls, so that
    cell raised TypeError when rerun. Names an exercise binds only by an import are left out."""
    trees = {i: _code(c.source) for i, c in enumerate(nb.cells) if c.cell_type == "code"}
    trees = {i: t for i, t in trees.items() if t is not None}
    bound_by, read_by = {}, {}
    for i, tree in trees.items():
        if is_exercise(nb.cells[i]):
            continue
        for name in defined_names(tree):
            bound_by.setdefault(name, i)
        for name in free_names(tree):
            read_by.setdefault(name, []).append(i)
    found = []
    for i, tree in trees.items():
        if not is_exercise(nb.cells[i]):
            continue
        for name in sorted(defined_names(tree) - _imported_names(tree)):
            if name in bound_by and read_by.get(name):
                found.append((i, name, bound_by[name], read_by[name]))
    return found


# --- nbgrader itself -----------------------------------------------------------------------------
def nbgrader(args: list[str], root: Path, env: dict[str, str] | None = None) -> str:
    """Run `nbgrader ARGS` in the course directory `root`; return its log; raise with the log on failure."""
    # nbgrader calls the `alembic` script of its environment by name: put that environment's scripts
    # first on PATH, so it works from a virtual environment that is not activated (make targets).
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, capture_output=True, text=True,
                            env={**os.environ, "PATH": path, **(env or {})})
    log = result.stdout + result.stderr
    if result.returncode != 0 or "[ERROR]" in log:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed (exit {result.returncode}):\n{log}")
    return log


#: What a student version says at its top: how to run it, also on Colab (which ignores the tag).
STUDENT_NOTE_MARK = "**How to run this assignment.**"
STUDENT_NOTE = f"""{STUDENT_NOTE_MARK} This is the student version: each exercise is a code cell that reads
`# YOUR CODE HERE`, followed by a locked test cell. Write your answer, then run the test cell: it prints
`Correct: ...` when your answer passes (some checks are hidden until grading). Written answers go where a
cell reads `YOUR ANSWER HERE`. To skip an exercise, leave it as it is: its cells carry the
`{RUN_ON_TAG}` tag, so "Run all" in JupyterLab or Jupyter Notebook goes on past its failing test cell,
and no later cell uses what an exercise defines.

**On Colab**, "Run all" stops at the first cell that raises (Colab ignores the tag, as far as we know):
solve the exercise, or skip it by selecting its failing test cell and choosing *Runtime → Run after*, which
runs every cell below it.
"""


def add_student_note(nb) -> bool:
    """Put the note on how to run a student version at the top of the notebook: under the title line of
    its first Markdown cell (or as a first cell of its own); False when it is already there."""
    if any(STUDENT_NOTE_MARK in cell.source for cell in nb.cells if cell.cell_type == "markdown"):
        return False
    if nb.cells and nb.cells[0].cell_type == "markdown":
        title, _, rest = nb.cells[0].source.partition("\n")
        nb.cells[0].source = f"{title}\n\n{STUDENT_NOTE}\n---\n\n{rest.lstrip(chr(10))}"
    else:
        import nbformat
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(STUDENT_NOTE))
    return True


def course_directory(notebooks: list[Path], root: Path, revision: str | None = None) -> Path:
    """nbgrader's course layout: `root/nbgrader_config.py` and `root/source/<name>/<name>.ipynb`, one
    assignment per notebook, named by the notebook's stem. Each copy carries the note on how to run the
    student version (`add_student_note`); with `revision`, its Colab install line and links are stamped at
    that revision (coursetools.stamp), so a released notebook installs the helpers it was written with."""
    import nbformat
    root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(CONFIG_FILE, root / "nbgrader_config.py")
    for path in notebooks:
        for stale in (root / "source" / path.stem, root / "release" / path.stem):
            shutil.rmtree(stale, ignore_errors=True)  # a regenerated assignment starts from the notebook as it is
        folder = root / "source" / path.stem
        folder.mkdir(parents=True)
        nb = nbformat.read(path, as_version=4)
        add_student_note(nb)
        if revision:
            from .stamp import stamp_notebook
            stamp_notebook(nb, revision, absolute_links=True)
        nbformat.write(nb, folder / path.name)
    return root


def generate(notebooks: list[Path], root: Path, revision: str | None = None) -> list[Path]:
    """Write the course directory and run `nbgrader generate_assignment` for every notebook; return the
    released notebooks, `root/release/<name>/<name>.ipynb` (stamped at `revision` when given)."""
    course_directory(notebooks, root, revision)
    released = []
    for path in notebooks:
        nbgrader(["generate_assignment", path.stem, "--force"], root)
        released.append(root / "release" / path.stem / path.name)
    return released


def student_version(path: Path, out_dir: Path) -> Path:
    """The released (student) version of one notebook, made by nbgrader, as `out_dir/<name>`."""
    with tempfile.TemporaryDirectory(prefix="course-release-") as tmp:
        [released] = generate([Path(path)], Path(tmp))
        out_dir.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copyfile(released, Path(out_dir) / Path(path).name))


def kernel_env(profile: str = "quick", smoke: bool = False) -> dict[str, str]:
    """Environment for the kernels nbgrader starts: the profile to grade in (the notebooks read
    COURSE_PROFILE and COURSE_SMOKE when their parameters are None), no progress bars, one thread."""
    return {"COURSE_PROFILE": profile, "COURSE_SMOKE": "1" if smoke else "0", "COURSE_QUIET": "1",
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "MPLBACKEND": "Agg"}


def validate(path: Path, profile: str = "quick", smoke: bool = False) -> str:
    """`nbgrader validate` on a solution notebook (it executes it); return nbgrader's verdict."""
    log = nbgrader(["validate", str(Path(path).resolve())], REPO_ROOT, kernel_env(profile, smoke))
    if "Success!" not in log:
        raise RuntimeError(f"nbgrader validate did not accept {path}:\n{log}")
    return log


def autograde(root: Path, assignment: str, submissions: dict[str, Path], profile: str = "quick",
              smoke: bool = False) -> dict[str, dict[str, tuple[float | None, float]]]:
    """Submit each student's notebook into the course directory `root` (already generated), run
    `nbgrader autograde`, and return {student: {grade_id: (score, max_score)}} from the gradebook."""
    from nbgrader.api import Gradebook
    for student, notebook in submissions.items():
        folder = root / "submitted" / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(notebook, folder / f"{assignment}.ipynb")
    nbgrader(["autograde", assignment, "--create", "--force"], root, kernel_env(profile, smoke))
    scores = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        for student in submissions:
            notebook = gradebook.find_submission_notebook(assignment, assignment, student)
            scores[student] = {g.name: (g.auto_score, g.max_score) for g in notebook.grades}
    return scores


# --- the commands: grading, assignments, student ---------------------------------------------------
def prepare_for_grading(notebooks: list[Path], write: bool = True) -> int:
    """Lock and tag each notebook's cells for nbgrader (written back when `write`), print what changed
    and what is still out of form; 0 when every notebook is gradable."""
    import nbformat
    status = 0
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        changes = prepare(nb)
        if changes and write:
            nbformat.write(nb, path)
        found = problems(nb)
        status |= bool(found) or (bool(changes) and not write)
        verb = "changed" if write else "would change"
        print(f"{path.name}: " + (f"{verb} {len(changes)} cell(s)" if changes else "cells already locked and tagged")
              + (f"; {len(found)} problem(s)" if found else "; gradable"))
        for line in changes + found:
            print(f"  {line}")
    return 1 if status else 0


def release_assignments(only: list[str] | None = None, out: str | Path = "build/assignments",
                        folder: str | Path = NOTEBOOK_DIR, validate_each: bool = False, smoke: bool = False,
                        colab: str | None = None, branch: str = "main", revision: str | None = "HEAD") -> int:
    """`make assignments`: every selected notebook through `nbgrader generate_assignment` into the course
    directory `out`; a table of points per notebook; with `validate_each`, `nbgrader validate` on each; with
    `colab` (owner/repo), Colab badges and links for the released notebooks pushed to that repository.
    The released notebooks install the course at `revision` on Colab (default: the checkout's commit)."""
    import nbformat
    from .stamp import resolve_revision
    try:
        revision = resolve_revision(revision)
    except SystemExit as exc:   # not a git checkout: the stamped revision
        revision = resolve_revision(None)
        print(f"{exc}; the released notebooks install the course at {revision!r}", file=sys.stderr)
    try:
        notebooks = select_notebooks(only, Path(folder))
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    bad = {nb.name: problems(nbformat.read(nb, as_version=4)) for nb in notebooks}
    bad = {name: found for name, found in bad.items() if found}
    for name, found in bad.items():
        print(f"error: {name} is not gradable yet (python -m coursetools grading notebooks/{name}):", file=sys.stderr)
        for line in found:
            print(f"  {line}", file=sys.stderr)
    if bad:
        return 1
    out = Path(out)
    print(f"releasing {len(notebooks)} notebook(s) through nbgrader into {out}/ ...", flush=True)
    released = generate(notebooks, out, revision)
    print(f"on Colab the released notebooks install the course at {revision}: push that revision to "
          f"the course repository (or pass --revision TAG)")
    if colab:
        readme = link_for_colab(released, out / "release", colab, branch)
        print(f"Colab links for {colab} ({branch}): {readme}")
    rows = []
    for path, student in zip(notebooks, released):
        score = points(nbformat.read(path, as_version=4))
        verdict = ""
        if validate_each:
            start = time.perf_counter()
            try:
                validate(path, "quick", smoke)
                verdict = f"validated in {time.perf_counter() - start:.0f} s"
            except RuntimeError as exc:
                verdict = "validate FAILED"
                print(exc, file=sys.stderr)
        rows.append((path.stem, score, student, verdict))
    width = max(len(r[0]) for r in rows)
    print(f"\n{'assignment'.ljust(width)}  exercises  autograded  by hand  total  released notebook")
    for stem, score, student, verdict in rows:
        print(f"{stem.ljust(width)}  {score['exercises']:9d}  {score['autograded']:10g}  {score['manual']:7g}  "
              f"{score['total']:5g}  {student.relative_to(out)}" + (f"  ({verdict})" if verdict else ""))
    print(f"\nnbgrader course directory: {out}/ (nbgrader_config.py, source/, release/, gradebook.db); "
          "see docs/instructors.md")
    return 1 if any(r[3] == "validate FAILED" for r in rows) else 0
