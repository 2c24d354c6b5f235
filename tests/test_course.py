"""The runner and receipts: errors that say what to do, and a full run of a tiny notebook."""
import json
import subprocess
import sys

import nbformat
import pytest

from helpers import course


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "helpers.course", *args], capture_output=True, text=True, cwd=cwd)


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
    assert "unknown profile 'fast'" in proc.stderr and "quick, paper" in proc.stderr


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
        "from helpers.course import record\nrecord('answer', 42.0)\nrecord('profile', PROFILE)"])
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
    monkeypatch.setenv(course.RECEIPT_ENV, str(path))
    course.record("a", torch.tensor(1.5))
    course.record("b", np.float32(2.0))
    course.record("c", [np.int64(3), True])
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
    course.strip_outputs(path)
    cells = nbformat.read(path, as_version=4).cells
    assert cells[0].outputs[0]["text"] == "2\n" and cells[0].execution_count == 1
    assert cells[1].outputs == [] and cells[1].execution_count is None


def test_student_version_stubs_solutions_and_keeps_the_rest():
    source = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\nprint('kept')"
    assert course.student_source(source) == (
        "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\nprint('kept')")
    with pytest.raises(ValueError, match="no matching"):
        course.student_source("### BEGIN SOLUTION\nx = 1")
