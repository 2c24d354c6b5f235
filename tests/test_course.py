"""The runner and receipts: errors that say what to do, and a full run of a tiny notebook."""
import json
import subprocess
import sys

import nbformat
import pytest

from coursetools import notebooks
from helpers import receipts


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "coursetools", *args], capture_output=True, text=True, cwd=cwd)


def write_notebook(path, cells, with_parameters=True):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    first = nbformat.v4.new_code_cell("PROFILE = None")
    if with_parameters:
        first.metadata["tags"] = ["parameters"]
    nb.cells = [first, *[nbformat.v4.new_code_cell(c) for c in cells]]
    nbformat.write(nb, path)


def test_unknown_profile_is_an_error_listing_the_valid_ones():
    proc = run_cli("run", "--profile", "fast")
    assert proc.returncode == 2
    assert "unknown profile 'fast'" in proc.stderr and "quick, gpu, paper" in proc.stderr


def test_unknown_notebook_in_only_is_an_error_listing_the_notebooks(tmp_path):
    write_notebook(tmp_path / "00_intro.ipynb", ["print(1)"])
    proc = run_cli("run", "--only", "07", "--notebooks", str(tmp_path), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert "no notebook matches '07'" in proc.stderr and "00_intro" in proc.stderr


def test_notebook_without_parameters_cell_is_refused(tmp_path):
    write_notebook(tmp_path / "00_intro.ipynb", ["print(1)"], with_parameters=False)
    proc = run_cli("run", "--notebooks", str(tmp_path), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert "00_intro.ipynb has no cell tagged 'parameters'" in proc.stderr


def test_run_executes_records_and_tabulates(tmp_path):
    write_notebook(tmp_path / "00_ok.ipynb", [
        "from helpers.receipts import record\nrecord('answer', 42.0)\nrecord('profile', PROFILE)"])
    write_notebook(tmp_path / "01_broken.ipynb", ["raise RuntimeError('boom')"])
    out = tmp_path / "out"
    proc = run_cli("run", "--profile", "quick", "--notebooks", str(tmp_path), "--out", str(out))
    assert proc.returncode == 1  # one notebook failed
    receipts = json.loads((out / "receipts.json").read_text())
    assert receipts["00_ok"]["numbers"] == {"answer": 42.0, "profile": "quick"}
    assert receipts["00_ok"]["status"] == "ok" and receipts["01_broken"]["status"] == "failed"
    assert "boom" in receipts["01_broken"]["error"]
    assert (out / "00_ok.html").exists() and (out / "00_ok.ipynb").exists()
    table = proc.stdout
    assert "notebook" in table and "wall time" in table and "answer=42" in table and "failed" in table


def test_record_writes_plain_json(tmp_path, monkeypatch):
    import numpy as np
    import torch
    path = tmp_path / "r.json"
    monkeypatch.setenv(receipts.RECEIPT_ENV, str(path))
    receipts.record("a", torch.tensor(1.5))
    receipts.record("b", np.float32(2.0))
    receipts.record("c", [np.int64(3), True])
    assert json.loads(path.read_text()) == {"a": 1.5, "b": 2.0, "c": [3, True]}


def test_strip_keeps_only_reference_outputs(tmp_path):
    nb = nbformat.v4.new_notebook()
    keep = nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(2)", execution_count=3,
                                     outputs=[nbformat.v4.new_output("stream", name="stdout", text="2\n")])
    drop = nbformat.v4.new_code_cell("print(1)", execution_count=4,
                                     outputs=[nbformat.v4.new_output("stream", name="stdout", text="1\n")])
    nb.cells = [keep, drop]
    path = tmp_path / "00_x.ipynb"
    nbformat.write(nb, path)
    notebooks.strip_outputs(path)
    cells = nbformat.read(path, as_version=4).cells
    assert cells[0].outputs[0]["text"] == "2\n" and cells[0].execution_count == 1
    assert cells[1].outputs == [] and cells[1].execution_count is None


@pytest.mark.grading
def test_student_version_comes_from_nbgrader_with_the_course_stub(tmp_path):
    """`student` (assignments.student_version) goes through nbgrader generate_assignment: the solution becomes
    the no-op stub of nbgrader_config.py (an unanswered function returns None instead of raising), the
    rest of the cell stays."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    meta = {"grade": False, "grade_id": "f", "locked": False, "schema_version": 3, "solution": True, "task": False}
    nb.cells = [nbformat.v4.new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"
                                          "print('kept')", metadata={"nbgrader": meta})]
    nbformat.write(nb, tmp_path / "00_x.ipynb")
    result = run_cli("student", str(tmp_path / "00_x.ipynb"), "--out", str(tmp_path / "student"))
    assert result.returncode == 0, result.stderr
    student = nbformat.read(tmp_path / "student" / "00_x.ipynb", as_version=4)
    code = [c for c in student.cells if c.cell_type == "code"]
    assert code[0].source == "def f(x):\n    # YOUR CODE HERE\n    ...\nprint('kept')"
    # the note on how to run a student version comes first (no title in this notebook to sit under)
    assert student.cells[0].cell_type == "markdown" and "How to run" in student.cells[0].source


def test_parallel_run_gives_the_serial_results(tmp_path):
    for i in range(3):
        write_notebook(tmp_path / f"0{i}_nb.ipynb", [
            f"import random\nfrom helpers.receipts import record\nrandom.seed({i})\nrecord('draw', random.random())"])
    serial = run_cli("run", "--profile", "quick", "--jobs", "1", "--notebooks", str(tmp_path), "--out", str(tmp_path / "a"))
    parallel = run_cli("run", "--profile", "quick", "--jobs", "2", "--notebooks", str(tmp_path), "--out", str(tmp_path / "b"))
    assert serial.returncode == parallel.returncode == 0, parallel.stderr
    a, b = (json.loads((tmp_path / d / "receipts.json").read_text()) for d in "ab")
    assert list(a) == list(b) == ["00_nb", "01_nb", "02_nb"]
    assert all(a[k]["numbers"] == b[k]["numbers"] for k in a)
    # one line per notebook while it runs, no kernel or deprecation warnings
    assert sum("00_nb (quick)" in line for line in parallel.stdout.splitlines()) == 1
    assert "Warning" not in parallel.stdout + parallel.stderr and "encryption" not in parallel.stderr


def test_seed_sweep_writes_the_spread_of_every_number(tmp_path):
    write_notebook(tmp_path / "00_nb.ipynb", [
        "SEED = 0", "from helpers.receipts import record\nrecord('twice_seed', 2 * SEED)\nrecord('name', 'text')"])
    # papermill injects SEED after the parameters cell; the notebook's own 'SEED = 0' cell comes after it
    nb = nbformat.read(tmp_path / "00_nb.ipynb", as_version=4)
    nb.cells[0].source, nb.cells[1].source = "PROFILE = None\nSEED = 0", "pass"
    nbformat.write(nb, tmp_path / "00_nb.ipynb")
    proc = run_cli("seeds", "--only", "00", "--seeds", "1", "2", "4", "--jobs", "2", "--notebooks", str(tmp_path),
                   "--out", str(tmp_path / "runs"), "--results", str(tmp_path / "results"))
    assert proc.returncode == 0, proc.stderr
    lines = (tmp_path / "results" / "seeds" / "00_nb_quick.csv").read_text().splitlines()
    assert lines[0] == "key,n,mean,sd,min,max,seed_1,seed_2,seed_4"
    assert lines[1] == "twice_seed,3,4.66667,3.05505,2,8,2,4,8" and len(lines) == 2  # text entries are skipped
    assert "| twice_seed | 3 | 4.667 | 3.055 | 2 | 8 | 2 | 4 | 8 |" in (tmp_path / "results" / "seeds" / "00_nb_quick.md").read_text()
