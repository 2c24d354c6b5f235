"""The course on Colab (issue 24), tested without Colab:

- checkpoints on Google Drive: with a stubbed `google.colab` (a `drive.mount` that makes the folder under
  tmp), the gpu/paper checkpoint folder lands in MyDrive/<course>/checkpoints, and a run interrupted there
  resumes from its file after the runtime is "recycled" (state reset, Drive mounted again); off Colab and
  in quick nothing changes;
- the pinned install: `check_revision` against the PEP 610 record pip writes for `git+URL@REV`, the
  requirements step that installs only what Colab lacks, and `python -m coursetools stamp` on copies of
  the notebooks (the template test's install line and badge, idempotent, absolute links at the revision).

The install itself, as Colab does it, is tests/test_colab_install.py.
"""
import json
import shutil
import sys
import types
from pathlib import Path

import nbformat
import pytest
import torch

from coursetools import colab, notebooks, stamp
from helpers import runtime
from helpers.checkpoints import checkpoint_file
from helpers.train import load_checkpoint, train
from helpers.vae import VAE

ROOT = Path(__file__).resolve().parent.parent
X = torch.rand(120, 16, generator=torch.Generator().manual_seed(3))


# --- Google Drive ------------------------------------------------------------------------------------------
@pytest.fixture
def fake_colab(tmp_path, monkeypatch):
    """A `google.colab` whose drive.mount(path) makes path/MyDrive (as Colab's does) and counts the mounts."""
    mounts = []

    def mount(path, **kwargs):
        mounts.append(path)
        (Path(path) / "MyDrive").mkdir(parents=True, exist_ok=True)

    google, colab_module = types.ModuleType("google"), types.ModuleType("google.colab")
    colab_module.drive = types.SimpleNamespace(mount=mount)
    google.colab = colab_module
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab_module)
    monkeypatch.setattr(runtime, "DRIVE_MOUNT", str(tmp_path / "content" / "drive"))
    monkeypatch.setattr(runtime, "_drive_root", None)
    monkeypatch.delenv("COURSE_CHECKPOINT_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    return mounts


def drive_folder(tmp_path):
    return tmp_path / "content" / "drive" / "MyDrive" / runtime.DRIVE_FOLDER / "checkpoints"


def test_paper_on_colab_checkpoints_on_drive_by_default(fake_colab, tmp_path, capsys):
    folder = runtime.checkpoint_dir("00", "paper", smoke=True)
    assert folder == drive_folder(tmp_path) / "00-paper-smoke"
    assert fake_colab == [runtime.DRIVE_MOUNT] and drive_folder(tmp_path).is_dir()
    out = capsys.readouterr().out
    assert f"on Google Drive, {drive_folder(tmp_path)}" in out and "0 file(s), 0.0 MB" in out and "GB free" in out
    # a second call (another notebook, a rerun of the cell) neither mounts again nor prints again
    assert runtime.checkpoint_dir("01", "paper") == drive_folder(tmp_path) / "01-paper"
    assert len(fake_colab) == 1 and capsys.readouterr().out == ""


def test_gpu_on_colab_offers_drive_and_uses_it_when_asked(fake_colab, tmp_path, capsys):
    assert runtime.checkpoint_dir("03", "gpu") == Path("checkpoints") / "03-gpu"
    assert fake_colab == [] and "CHECKPOINT_TO_DRIVE = True" in capsys.readouterr().out
    assert runtime.checkpoint_dir("03", "gpu", drive=True) == drive_folder(tmp_path) / "03-gpu"
    assert len(fake_colab) == 1
    # paper with the parameter off stays off Drive... unless Drive is already where checkpoints go
    assert runtime.checkpoints_on_drive("paper", False) is None


def test_a_checkpoint_folder_the_learner_chose_is_kept(fake_colab, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path / "mine"))
    assert runtime.checkpoint_dir("02", "paper") == tmp_path / "mine" / "02-paper"
    assert fake_colab == [] and "set before the notebook" in capsys.readouterr().out


def test_off_colab_and_in_quick_nothing_changes(tmp_path, monkeypatch, capsys):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.delenv("COURSE_CHECKPOINT_DIR", raising=False)
    monkeypatch.setattr(runtime, "_drive_root", None)
    assert runtime.checkpoint_dir("00", "paper", drive=True) == Path("checkpoints") / "00-paper"
    assert runtime.checkpoints_on_drive("paper", True) is None
    assert "COURSE_CHECKPOINT_DIR" not in __import__("os").environ and capsys.readouterr().out == ""


def test_quick_on_colab_has_no_checkpoints_and_mounts_nothing(fake_colab):
    assert runtime.checkpoint_dir("00", "quick", drive=True) is None and fake_colab == []


def _train(folder, steps, calls, stop_at=None):
    torch.manual_seed(0)
    model = VAE.for_data((16,), latent_dim=2, hidden=(16,))

    def after_step(step, terms):
        calls.append(step)
        if stop_at is not None and step == stop_at:
            raise KeyboardInterrupt("the runtime was recycled")

    train(model, X, steps=steps, batch_size=24, lr=1e-2, seed=5, config={"profile": "paper", "beta": 1.0},
          checkpoint=checkpoint_file("vae", folder), checkpoint_every=4, after_step=after_step, progress=False)
    return model


def test_a_run_interrupted_on_drive_resumes_from_its_file_there(fake_colab, tmp_path, monkeypatch, capsys):
    folder = runtime.checkpoint_dir("00", "paper", drive=True)
    with pytest.raises(KeyboardInterrupt):
        _train(folder, 12, [], stop_at=6)
    saved = folder / "vae.pt"
    assert saved.is_file() and load_checkpoint(saved)["step"] > 0
    step = load_checkpoint(saved)["step"]
    # a recycled runtime: a new process (no module state, no COURSE_CHECKPOINT_DIR); Drive keeps its files
    monkeypatch.setattr(runtime, "_drive_root", None)
    monkeypatch.delenv("COURSE_CHECKPOINT_DIR")
    capsys.readouterr()
    again = runtime.checkpoint_dir("00", "paper", drive=True)
    assert again == folder and "1 file(s)" in capsys.readouterr().out
    calls = []
    resumed = _train(again, 12, calls)
    assert calls == list(range(step + 1, 13)), "the rerun continued from the file on Drive (after_step counts from 1)"
    uninterrupted = _train(tmp_path / "elsewhere", 12, [])
    assert all(torch.equal(a, b) for a, b in zip(resumed.parameters(), uninterrupted.parameters()))


# --- the installed revision --------------------------------------------------------------------------------
class FakeDistribution:
    def __init__(self, direct_url):
        self.direct_url, self._path = direct_url, Path("site-packages/structured_latents_course-0.1.0.dist-info")

    def read_text(self, name):
        return json.dumps(self.direct_url) if name == "direct_url.json" and self.direct_url else None

    def locate_file(self, name):
        return Path(runtime.__file__).parent  # the helpers this test imports


def installed_as(monkeypatch, direct_url):
    import importlib.metadata
    monkeypatch.setattr(importlib.metadata, "distribution", lambda name: FakeDistribution(direct_url))


VCS = {"url": "https://github.com/structured-latents/course",
       "vcs_info": {"vcs": "git", "commit_id": "0123456789abcdef0123456789abcdef01234567", "requested_revision": "v0.3"}}


def test_check_revision_reads_what_pip_recorded_for_a_git_install(monkeypatch, capsys):
    installed_as(monkeypatch, VCS)
    assert runtime.installed_revision()["commit"].startswith("0123456")
    assert runtime.course_revision() == "v0.3"
    assert runtime.check_revision("v0.3") == "match"
    assert runtime.check_revision("0123456789ab") == "match"   # a short commit
    assert capsys.readouterr().err == ""
    assert runtime.check_revision("v0.2") == "mismatch"
    err = capsys.readouterr().err
    assert "written against v0.2" in err and "Restart session" in err
    assert '!pip install --quiet --no-deps --force-reinstall "git+https://github.com/structured-latents/course@v0.2"' in err


def test_a_branch_stamp_is_the_fallback_and_a_checkout_is_not_checked(monkeypatch, capsys):
    installed_as(monkeypatch, {**VCS, "vcs_info": {**VCS["vcs_info"], "requested_revision": "main"}})
    assert runtime.check_revision("main") == "unpinned"
    assert runtime.course_revision() == VCS["vcs_info"]["commit_id"]
    installed_as(monkeypatch, {"url": "file:///work/course", "dir_info": {"editable": True}})
    assert runtime.check_revision("v0.3") == "checkout" and runtime.course_revision() is None
    installed_as(monkeypatch, {"url": "file:///tmp/structured_latents_course-0.1.0-py3-none-any.whl",
                               "archive_info": {}})
    assert runtime.check_revision("v0.3") == "unknown"
    assert [runtime.is_pinned(r) for r in ("main", "v0.3", "2026.1", "0123abc", "feature-x")] == \
        [False, True, True, True, False]


def test_the_requirements_step_installs_only_what_is_missing(monkeypatch, capsys):
    import importlib.metadata as md
    monkeypatch.setattr(md, "requires", lambda name: ["numpy>=2.0", "seaborn>=0.13", "tqdm>=4.65",
                                                      'torch==2.13.0; extra == "torch"'])
    versions = {"numpy": "2.0.2", "seaborn": "0.12.2"}

    def version(name):
        if name not in versions:
            raise md.PackageNotFoundError(name)
        return versions[name]
    monkeypatch.setattr(md, "version", version)
    assert colab.missing_requirements() == [("seaborn>=0.13", "0.12.2 installed, the course needs >=0.13"),
                                            ("tqdm>=4.65", "not installed")]
    assert colab.install_requirements("main", dry_run=True) == 0
    out = capsys.readouterr().out
    assert "installing seaborn>=0.13 (0.12.2 installed" in out and "tqdm>=4.65 (not installed)" in out
    assert "not pinned" in out and "numpy" not in out and "torch" not in out
    versions.update(seaborn="0.13.2", tqdm="4.67.1")
    assert colab.install_requirements("v0.3", dry_run=True) == 0
    assert capsys.readouterr().out.strip() == "course requirements: all present; Colab's own packages were kept as they are"


def test_the_install_line_is_the_course_at_a_revision_without_dependencies():
    line = colab.colab_install_line("v0.3")
    assert f'!pip install --quiet --no-deps --force-reinstall "git+{colab.repository_url()}@v0.3"' in line
    assert "!python -m coursetools.colab requirements --revision v0.3" in line
    if colab.recorded_revision():
        assert colab.colab_install_line() == colab.colab_install_line(colab.recorded_revision())
    else:   # before the notebooks were first stamped: the line they still carry
        assert colab.colab_install_line() == f'!pip install --quiet "git+{colab.repository_url()}"'


# --- python -m coursetools stamp ------------------------------------------------------------------------------
def template_check(path):
    """The install-line and badge checks of tests/test_notebooks.py's template test, at `revision`."""
    nb = nbformat.read(path, as_version=4)
    setup = next(c for c in nb.cells if c.cell_type == "code").source
    return colab.colab_badge(path.name) in nb.cells[0].source and colab.colab_install_line() in setup


def test_stamp_rewrites_copies_of_the_notebooks_so_the_template_test_passes(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", folder, ignore=shutil.ignore_patterns("checkpoints", ".ipynb_checkpoints"))
    paths = notebooks.list_notebooks(folder)
    revision = colab.stamped_revision()
    monkeypatch.setattr(colab, "recorded_revision", lambda: revision)   # what stamp records in pyproject.toml
    assert stamp.stamp(paths, revision, absolute_links=True, record=False) == 0
    assert all(template_check(p) for p in paths)
    assert stamp.stamp(paths, revision, absolute_links=True, check=True, record=False) == 0, "idempotent"
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        setup = next(c for c in nb.cells if c.cell_type == "code").source
        assert setup.count("COURSE_REVISION = ") == 1 and setup.rstrip().endswith(
            "check_revision(COURSE_REVISION)   # the installed helpers are this revision, or it says how to fix it")
        parameters = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", [])).source
        assert "CHECKPOINT_TO_DRIVE = None" in parameters
        text = "\n".join(c.source for c in nb.cells)
        assert "](../" not in text, "a relative link is left"
        assert "checkpoint_dir(" not in text or "drive=CHECKPOINT_TO_DRIVE)" in text
    # a release: another revision moves the install line, the badge and every repository link
    capsys.readouterr()
    monkeypatch.setattr(colab, "recorded_revision", lambda: "v9.9")
    assert stamp.stamp(paths, "v9.9", record=False) == 0 and all(template_check(p) for p in paths)
    text = "\n".join(c.source for p in paths for c in nbformat.read(p, as_version=4).cells)
    assert f"{colab.repository_url()}/blob/v9.9/results/seeds/" in text and f"/blob/{revision}/" not in text


def test_stamp_on_a_small_notebook_and_the_recorded_revision(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 99\n" + colab.colab_badge("99_toy.ipynb", "main")),
        nbformat.v4.new_code_cell('# Setup\nimport sys\nif "google.colab" in sys.modules:\n    !pip install x\n\n'
                                  "import numpy as np"),
        nbformat.v4.new_code_cell("PROFILE = None", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell('CHECKPOINTS = checkpoint_dir("99", PROFILE, SMOKE)'),
        nbformat.v4.new_markdown_cell("See [the sweep](../results/seeds/99_quick.md), [notebook 01](01_x.ipynb#top) "
                                      "and [outside](https://example.org/a)."),
    ]
    changes = stamp.stamp_notebook(nb, "0123abc", absolute_links=True)
    assert len(changes) == 5 and stamp.stamp_notebook(nb, "0123abc", absolute_links=True) == []
    repo = colab.repository_url()
    assert 'COURSE_REVISION = "0123abc"' in nb.cells[1].source and "!pip install x" not in nb.cells[1].source
    assert nb.cells[1].source.index("import numpy as np") < nb.cells[1].source.index("check_revision(")
    assert nb.cells[3].source == 'CHECKPOINTS = checkpoint_dir("99", PROFILE, SMOKE, drive=CHECKPOINT_TO_DRIVE)'
    assert f"]({repo}/blob/0123abc/results/seeds/99_quick.md)" in nb.cells[4].source
    assert f"]({repo}/blob/0123abc/notebooks/01_x.ipynb#top)" in nb.cells[4].source
    assert "](https://example.org/a)" in nb.cells[4].source and "/blob/0123abc/notebooks/99_toy.ipynb" in nb.cells[0].source
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\n\n[tool.pytest.ini_options]\naddopts = ""\n')
    assert stamp.record_revision("v1.0", pyproject) and not stamp.record_revision("v1.0", pyproject)
    assert stamp.record_revision("v1.1", pyproject)
    text = pyproject.read_text()
    assert text.count("[tool.coursetools]") == 1 and 'revision = "v1.1"' in text and "v1.0" not in text
    assert text.startswith('[project]\nname = "x"\n\n[tool.pytest.ini_options]\naddopts = ""\n')


def test_sweep_links_follow_the_installed_revision(monkeypatch):
    from helpers import sweeps
    installed_as(monkeypatch, VCS)
    assert "/blob/v0.3/results/seeds/04_regularised_autoencoders_quick.md" in sweeps.sweep_url("04_regularised_autoencoders")
    assert "/blob/main/" in sweeps.sweep_url("04_regularised_autoencoders", revision="main")
    installed_as(monkeypatch, {"url": "file:///work/course", "dir_info": {"editable": True}})
    assert "/blob/main/results/" in sweeps.sweep_url("04_regularised_autoencoders")
