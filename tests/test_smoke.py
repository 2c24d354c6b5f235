"""Every notebook's `gpu` and `paper` paths, run with SMOKE on the CPU over stand-in files in the real
data formats (README.md, "Commands", on `make test`): the papers' loaders, architectures and code paths,
with every size capped so that a run takes seconds.

Each test runs a notebook with its own checkpoint folder: the run must finish, record every key of
its expected receipt and write checkpoints (*.pt). The gpu test then runs the notebook a second time
over the same folder: it must resume from the checkpoints, finish and record the same keys (the paper
profile resumes through the same code, so it is not run twice: CI time is better spent elsewhere).
The numbers are not compared: smoke sizes are too small to mean anything.

    pytest -m smoke                           # all of them
    pytest -m smoke -n 2 --dist loadgroup     # spread over two workers
"""
import json
from pathlib import Path

import nbformat
import pytest

from coursetools import notebooks, runner

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = notebooks.list_notebooks(ROOT / "notebooks")
EXPECTED = ROOT / "tests" / "expected_receipts"
SMOKE_PROFILES = ("gpu", "paper")


@pytest.fixture(scope="session")
def real_format_data(tmp_path_factory):
    """Small files in the real data formats, written once per test session (per xdist worker)."""
    from tests.real_format_files import write_real_format_files

    return write_real_format_files(tmp_path_factory.mktemp("real-format-data"))


def is_quick_only(notebook: str, key: str, expected: Path = EXPECTED) -> bool:
    """Whether `key` exists only on the quick profile's embedded data (tests/expected_receipts/quick_only.json
    names such keys, or prefixes ending in '.', with the reason)."""
    listed = expected / "quick_only.json"
    entries = json.loads(listed.read_text()).get(notebook, {}) if listed.exists() else {}
    return any(key == entry or (entry.endswith(".") and key.startswith(entry)) for entry in entries)


def run_smoke(path: Path, profile: str, out: Path, data_env: dict, expected: Path = EXPECTED,
              resume: bool = True) -> dict:
    """Run `path` in `profile` with SMOKE (twice over one checkpoint folder when `resume`); check the runs.

    Returns both rows of run_notebook, {"first": ..., "resumed": ...}; fails with the notebook's
    error, the missing receipt keys or the missing checkpoints otherwise.
    """
    checkpoints = out / "checkpoints"
    env = {**data_env, "COURSE_OFFLINE": "1", "COURSE_CHECKPOINT_DIR": str(checkpoints)}
    wanted = set(json.loads((expected / f"{path.stem}.json").read_text()))  # the keys; ranges are for quick
    wanted -= {key for key in wanted if is_quick_only(path.stem, key, expected)}
    rows = {}
    for attempt in ("first", "resumed") if resume else ("first",):
        row = runner.run_notebook(path, out / attempt, profile, smoke=True, html=False, env=env)
        rows[attempt] = row
        print(f"{path.stem} {profile} smoke ({attempt} run): {row['status']} in {row['seconds']:.1f} s")
        assert row["status"] == "ok", (f"{path.stem} ({profile}, SMOKE, {attempt} run) failed: {row['error']}\n"
                                       f"executed notebook: {row['executed']}")
        missing = sorted(wanted - set(row["numbers"]))
        assert not missing, f"{path.stem} ({profile}, SMOKE, {attempt} run) did not record {missing}"
        if attempt == "first":
            saved = sorted(checkpoints.rglob("*.pt"))
            assert saved, f"{path.stem} ({profile}, SMOKE) wrote no checkpoint (*.pt) under {checkpoints}"
    if resume:
        assert set(rows["resumed"]["numbers"]) == set(rows["first"]["numbers"]), \
            f"{path.stem} ({profile}, SMOKE): the resumed run recorded other receipt keys than the first"
    return rows


@pytest.mark.notebook
@pytest.mark.smoke
@pytest.mark.parametrize("path, profile", [
    pytest.param(nb, profile, id=f"{nb.stem}-{profile}") for nb in NOTEBOOKS for profile in SMOKE_PROFILES
])
def test_notebook_smoke(path, profile, tmp_path, real_format_data):
    run_smoke(path, profile, tmp_path, real_format_data, resume=profile == "gpu")


# --- the harness itself, on tiny notebooks ---------------------------------------------------------

TINY_SETUP = """\
import torch
from helpers import data
from helpers.receipts import record
from helpers.runtime import checkpoint_dir, resolve_profile, resolve_smoke
PROFILE, SMOKE = resolve_profile(PROFILE), resolve_smoke(SMOKE)
images = data.load("mnist", n=8).images  # through the real loader and the checksum override
"""
TINY_TRAIN = """\
folder = checkpoint_dir("99", PROFILE, SMOKE)
resumed = (folder / "model.pt").exists()
if not resumed:
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"mean": images.mean()}, folder / "model.pt")
record("mean", float(torch.load(folder / "model.pt")["mean"]))
record("profile", PROFILE)
record("smoke", SMOKE)
record("resumed", resumed)
"""


def write_tiny_notebook(path: Path, cells: list[str]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    parameters = nbformat.v4.new_code_cell("PROFILE = None\nSMOKE = None")
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [parameters, *(nbformat.v4.new_code_cell(c) for c in cells)]
    nbformat.write(nb, path)


def test_smoke_harness_runs_resumes_and_checks_a_tiny_notebook(tmp_path, real_format_data):
    path = tmp_path / "99_tiny.ipynb"
    write_tiny_notebook(path, [TINY_SETUP, TINY_TRAIN])
    (tmp_path / "expected").mkdir()
    (tmp_path / "expected" / "99_tiny.json").write_text(json.dumps({"mean": [0, 1], "profile": ["gpu", "gpu"]}))
    rows = run_smoke(path, "gpu", tmp_path / "out", real_format_data, expected=tmp_path / "expected")
    assert rows["first"]["numbers"]["smoke"] is True and rows["first"]["numbers"]["profile"] == "gpu"
    assert rows["first"]["numbers"]["resumed"] is False and rows["resumed"]["numbers"]["resumed"] is True
    assert (tmp_path / "out" / "checkpoints" / "99-gpu-smoke" / "model.pt").exists()


def test_smoke_harness_fails_without_checkpoints_or_receipt_keys(tmp_path, real_format_data):
    path = tmp_path / "99_tiny.ipynb"
    write_tiny_notebook(path, [TINY_SETUP, "record('mean', float(images.mean()))"])
    (tmp_path / "expected").mkdir()
    (tmp_path / "expected" / "99_tiny.json").write_text(json.dumps({"mean": [0, 1], "nll": [0, 1]}))
    with pytest.raises(AssertionError, match=r"did not record \['nll'\]"):
        run_smoke(path, "paper", tmp_path / "out", real_format_data, expected=tmp_path / "expected")
    (tmp_path / "expected" / "99_tiny.json").write_text(json.dumps({"mean": [0, 1]}))
    with pytest.raises(AssertionError, match="wrote no checkpoint"):
        run_smoke(path, "paper", tmp_path / "out2", real_format_data, expected=tmp_path / "expected")
