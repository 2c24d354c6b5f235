"""`python -m coursetools stamp`: pin the notebooks to the course revision they were written against.

One command rewrites what every notebook's template carries about where it runs (issue 24), so that no
engineer edits a setup cell by hand:

- the **setup cell**: `COURSE_REVISION = "<rev>"`, and under `if "google.colab" in sys.modules:` the install
  lines of `colab.colab_install_line(rev)` (the course at that revision with --no-deps, then only the
  requirements Colab lacks); at its end `check_revision(COURSE_REVISION)`, which says how to fix an
  installed package of another revision;
- the **parameters cell**: `CHECKPOINT_TO_DRIVE = None` (on Colab, gpu/paper: checkpoints on Google Drive;
  None is on for paper), passed on as `checkpoint_dir(..., drive=CHECKPOINT_TO_DRIVE)`;
- the **Colab badge** and every absolute link into the repository at that revision; with
  `--absolute-links`, relative links (`../results/...`, `01_taming_vaes.ipynb`) become absolute ones at that
  revision too (on Colab a notebook has no repository beside it);
- pyproject.toml's `[tool.coursetools] revision`, which `colab.colab_badge` and `colab.colab_install_line`
  (and so tests/test_notebooks.py) read.

The revision is a tag or a commit (`--revision HEAD` takes the checkout's commit). A branch name, such as
the default "main", is the visible fallback: the install follows the branch and says so. Stamping is
idempotent: a second run with the same revision changes nothing.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from . import colab
from .colab import REPO_ROOT

COLAB_TEST = 'if "google.colab" in sys.modules:'
SETUP_COMMENT = ("# Setup: on Colab, install the course package at the revision this notebook was written against,\n"
                 "# with only the requirements Colab lacks (its torch, numpy, ... stay); elsewhere it is installed.")
REVISION_LINE = 'COURSE_REVISION = "{rev}"   # `python -m coursetools stamp` writes it; a branch name is a warned fallback'
CHECK_LINES = ("from helpers.runtime import check_revision\n"
               "check_revision(COURSE_REVISION)   # the installed helpers are this revision, or it says how to fix it")
DRIVE_PARAMETER = ("CHECKPOINT_TO_DRIVE = None  # on Colab, gpu/paper: keep checkpoints on Google Drive "
                   "(None: on for paper, off for gpu)")
_CHECKPOINT_CALL = re.compile(r"checkpoint_dir\(([^()]*)\)")
_RELATIVE_MD = re.compile(r"(\]\()(?!https?:|#|mailto:|attachment:|data:)([^)\s]+)(\))")
_RELATIVE_HREF = re.compile(r'((?:href|src)=")(?!https?:|#|mailto:|data:)([^"]+)(")')


def resolve_revision(revision: str | None) -> str:
    """`None`: the stamped revision (pyproject.toml); "HEAD" or any git name: the commit it names."""
    if not revision:
        return colab.stamped_revision()
    if revision == "HEAD" or revision.startswith("HEAD"):
        done = subprocess.run(["git", "rev-parse", revision], cwd=REPO_ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"error: git rev-parse {revision} failed: {done.stderr.strip()}")
        return done.stdout.strip()
    return revision


def _setup_source(source: str, revision: str) -> str:
    lines = source.splitlines()
    if COLAB_TEST in lines:
        at = lines.index(COLAB_TEST)
        end = at + 1
        while end < len(lines) and lines[end].startswith((" ", "\t")) and lines[end].strip():
            end += 1
    else:   # a setup cell without the Colab block: it goes after the leading comment
        at = end = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    # what comes before the install block: its comment, COURSE_REVISION and `import sys` are rewritten
    head = [line for line in lines[:at] if not (line.startswith("#") or line.startswith("COURSE_REVISION")
                                               or line.strip() in ("import sys", ""))]
    rest = [line for line in lines[end:] if line.strip() not in CHECK_LINES.splitlines()
            and not line.startswith("check_revision(")]
    while rest and not rest[-1].strip():
        rest.pop()
    rest = rest or [""]
    new = [*SETUP_COMMENT.splitlines(), REVISION_LINE.format(rev=revision), *head, "import sys", COLAB_TEST,
           *colab.colab_install_line(revision).splitlines(), *rest, "", *CHECK_LINES.splitlines()]
    return "\n".join(new)


def _absolute(path: str, revision: str) -> str | None:
    """The repository address at `revision` of a link relative to notebooks/, or None (not in the repo)."""
    target, _, anchor = path.partition("#")
    parts = []
    for part in ("notebooks/" + target).split("/"):
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    if not parts:
        return None
    return f"{colab.repository_url()}/blob/{revision}/{'/'.join(parts)}" + (f"#{anchor}" if anchor else "")


def _markdown_source(source: str, revision: str, absolute_links: bool) -> str:
    repo = re.escape(colab.repository_url())
    github = re.escape(colab.repository_url().replace("https://github.com/", ""))
    source = re.sub(rf"(https://colab\.research\.google\.com/github/{github}/blob/)[^/\s)]+/", rf"\g<1>{revision}/",
                    source)
    source = re.sub(rf"({repo}/(?:blob|tree)/)[^/\s)\"]+/", rf"\g<1>{revision}/", source)
    if absolute_links:
        def replace(match):
            url = _absolute(match.group(2), revision)
            return match.group(0) if url is None else f"{match.group(1)}{url}{match.group(3)}"
        source = _RELATIVE_HREF.sub(replace, _RELATIVE_MD.sub(replace, source))
    return source


def stamp_notebook(nb, revision: str, absolute_links: bool = False) -> list[str]:
    """Stamp one notebook (an nbformat node, changed in place); return what changed."""
    changes = []
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    if not code:
        raise ValueError("the notebook has no code cell")

    def update(i, new, what):
        if nb.cells[i].source != new:
            nb.cells[i].source = new
            changes.append(f"cell {i}: {what}")

    update(code[0], _setup_source(nb.cells[code[0]].source, revision), f"setup cell at revision {revision}")
    parameters = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    for i in parameters:
        source = nb.cells[i].source
        if not re.search(r"^CHECKPOINT_TO_DRIVE\s*=", source, re.M):
            update(i, source.rstrip("\n") + "\n" + DRIVE_PARAMETER, "parameter CHECKPOINT_TO_DRIVE")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and parameters and i > parameters[0]:
            new = _CHECKPOINT_CALL.sub(lambda m: m.group(0) if "drive=" in m.group(1) or not m.group(1).strip()
                                       else f"checkpoint_dir({m.group(1)}, drive=CHECKPOINT_TO_DRIVE)", cell.source)
            update(i, new, "checkpoint_dir(..., drive=CHECKPOINT_TO_DRIVE)")
        elif cell.cell_type == "markdown":
            update(i, _markdown_source(cell.source, revision, absolute_links), "links at the revision")
    return changes


def record_revision(revision: str, pyproject: Path = REPO_ROOT / "pyproject.toml") -> bool:
    """Write `[tool.coursetools] revision = "<revision>"` into pyproject.toml; True if it changed."""
    text = pyproject.read_text()
    line = f'revision = "{revision}"'
    section = re.search(r"^\[tool\.coursetools\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    if section is None:
        new = text.rstrip("\n") + ("\n\n# The revision the notebooks are stamped with (python -m coursetools stamp): "
                                   "their Colab install line and badge.\n[tool.coursetools]\n" + line + "\n")
    elif re.search(r"^revision\s*=.*$", section.group(1), re.M):
        body = re.sub(r"^revision\s*=.*$", line, section.group(1), count=1, flags=re.M)
        new = text[:section.start(1)] + body + text[section.end(1):]
    else:
        new = text[:section.start(1)] + "\n" + line + section.group(1) + text[section.end(1):]
    if new != text:
        pyproject.write_text(new)
    return new != text


def stamp(notebooks: list[Path], revision: str | None = None, absolute_links: bool = False, check: bool = False,
          record: bool = True) -> int:
    """`python -m coursetools stamp`: stamp each notebook (written back unless `check`) and record the
    revision in pyproject.toml (when `record`); with `check`, 1 when anything would change."""
    import nbformat
    revision = resolve_revision(revision)
    if not re.match(r"^[A-Za-z0-9._/-]+$", revision):
        raise SystemExit(f"error: {revision!r} is not a git revision name")
    from helpers.runtime import is_pinned
    if not is_pinned(revision):
        print(f"note: {revision!r} is a branch, not a tag or commit: the notebooks follow it (a warned fallback); "
              "pin a release with --revision TAG or --revision HEAD")
    changed_any = False
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        changes = stamp_notebook(nb, revision, absolute_links)
        changed_any |= bool(changes)
        if changes and not check:
            nbformat.write(nb, path)
        print(f"{Path(path).name}: " + (f"{'would change' if check else 'changed'} {len(changes)} cell(s)"
                                        if changes else f"stamped at {revision}"))
        for line in changes:
            print(f"  {line}")
    if record and not check and record_revision(revision):
        print(f"pyproject.toml: [tool.coursetools] revision = {revision!r}")
    return 1 if check and changed_any else 0
