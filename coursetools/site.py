"""The course as a website: `make site` (`python -m coursetools.site`) builds build/site/ with Sphinx.

The pages that come from data are written here, into a staging folder (`build/site-src/`) beside a copy of
the hand-written sources in docs/site/ (conf.py, the landing page's and the results page's prose, _static/):

- `executed_notebooks`  the executed notebooks of `make course` (build/<notebook>.ipynb), running those that
                        are missing or older than their notebook first (quick profile)
- `course_map`          the landing page's table: each notebook's title (its own first heading), what it
                        teaches, its paper and data (README's syllabus table), its quick time alone
                        (results/benchmarks/quick_budget.md) and its runtime paragraph per profile (the
                        notebook's own first cell)
- `stage_notebook`      an executed notebook as a page: its Colab badge (coursetools.colab) drawn from the
                        site, a download of the notebook and of the executed copy; relative links pointed at
                        pages of the site or at the repository
- `results_page`        every receipt key of this build beside its expected range (tests/expected_receipts/)
                        and its 5-seed sweep (helpers.sweeps), with one figure per notebook
- `benchmarks_page`     results/benchmarks/ and results/gpu/
- `build`               all of it, then `sphinx-build`; nothing is fetched from the network

Every notebook in notebooks/ gets a page (the capstone included, once it exists). tests/test_site.py opens
each page in headless Chromium (Debian's `chromium`, driven by Playwright).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .notebooks import NOTEBOOK_DIR, REPO_ROOT, list_notebooks

SITE_SOURCES = REPO_ROOT / "docs" / "site"
EXPECTED_DIR = REPO_ROOT / "tests" / "expected_receipts"
BENCHMARK_DIR = REPO_ROOT / "results" / "benchmarks"
COLAB_BADGE_FILE = "_static/colab-badge.svg"
MARKER = re.compile(r"<!--\s*site:([a-z-]+)\s*-->")


# ---------------------------------------------------------------------------------------------------------
# The executed notebooks
# ---------------------------------------------------------------------------------------------------------

def stale_notebooks(executed_dir: Path, folder: Path = NOTEBOOK_DIR) -> list[Path]:
    """Notebooks of `folder` whose executed copy in `executed_dir` is missing or older than the notebook."""
    stale = []
    for nb in list_notebooks(folder):
        executed = Path(executed_dir) / nb.name
        if not executed.exists() or executed.stat().st_mtime < nb.stat().st_mtime:
            stale.append(nb)
    return stale


def executed_notebooks(executed_dir: Path, folder: Path = NOTEBOOK_DIR, run_stale: bool = True,
                       profile: str = "quick", jobs: int | None = None) -> dict[str, Path]:
    """{notebook stem: the notebook to render}: the executed copy in `executed_dir` (`make course`'s build/);
    with `run_stale`, the missing or out-of-date ones are run first (and their rows merged into
    receipts.json). Without it, a notebook with no executed copy is rendered as committed (no outputs)."""
    executed_dir = Path(executed_dir)
    stale = stale_notebooks(executed_dir, folder)
    if stale and run_stale:
        from . import runner
        names = ", ".join(nb.stem for nb in stale)
        print(f"running {len(stale)} notebook(s) first (missing or older than the notebook): {names}", flush=True)
        jobs = jobs or runner.default_jobs()
        rows = runner.run_many([(str(nb), str(executed_dir), profile, None, False) for nb in stale], jobs)
        receipts_path = executed_dir / "receipts.json"
        receipts = json.loads(receipts_path.read_text()) if receipts_path.exists() else {}
        receipts.update({row["notebook"]: row for row in rows})
        receipts_path.write_text(json.dumps(receipts, indent=2))
    chosen = {}
    for nb in list_notebooks(folder):
        executed = executed_dir / nb.name
        chosen[nb.stem] = executed if executed.exists() else nb
    return chosen


def load_receipts(executed_dir: Path) -> dict[str, dict]:
    path = Path(executed_dir) / "receipts.json"
    return json.loads(path.read_text()) if path.exists() else {}


# ---------------------------------------------------------------------------------------------------------
# Links: relative links of the repository's markdown point at a page of the site, or at the repository
# ---------------------------------------------------------------------------------------------------------

def repository_url() -> str:
    from .colab import repository_url as url
    return url()


def revision() -> str:
    """The revision the notebooks' Colab badges pin (coursetools.colab's stamp), else the default branch."""
    from . import colab
    stamped = getattr(colab, "stamped_revision", None)
    return stamped() if stamped else "main"


def colab_link(notebook_name: str) -> str:
    """The address the notebook's Colab badge opens (coursetools.colab, at whatever revision it pins)."""
    from .colab import colab_badge
    badge = colab_badge(notebook_name)
    return badge[badge.rindex("(") + 1:-1]


def badge_image_url() -> str:
    from .colab import BADGE_IMAGE
    return BADGE_IMAGE


LINK = re.compile(r"(!?\[(?:[^\[\]]|\[[^\]]*\])*\]\()([^)\s]+)((?:\s+\"[^\"]*\")?\))")


def site_pages(notebooks: list[str]) -> dict[str, str]:
    """Repository path -> page of the site (source path inside the staging folder)."""
    pages = {"README.md": "index.md", "docs/instructors.md": "instructors.md",
             "results/README.md": "results.md", "results/benchmarks": "benchmarks.md",
             "results/benchmarks/": "benchmarks.md", "results/gpu/README.md": "benchmarks.md"}
    pages.update({f"notebooks/{stem}.ipynb": f"notebooks/{stem}.ipynb" for stem in notebooks})
    return pages


def rewrite_links(text: str, source: str, page: str, pages: dict[str, str], rev: str | None = None) -> str:
    """Point the relative links of `text` (from the repository file `source`, shown as the page `page`) at
    the page of the site that shows the target, or else at the file in the repository on GitHub. Colab
    badge images are drawn from the site. Repository links point at `rev` (default: the pinned revision)."""
    repo = repository_url()
    rev = rev or revision()
    page_dir = Path(page).parent

    def fix(match):
        before, target, after = match.groups()
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            return match.group(0)
        path, _, anchor = target.partition("#")
        resolved = os.path.normpath(os.path.join(os.path.dirname(source), path)).replace(os.sep, "/")
        if resolved.startswith(".."):
            return match.group(0)
        if resolved in pages:
            relative = os.path.relpath(pages[resolved], page_dir).replace(os.sep, "/")
            return before + relative + (f"#{anchor}" if anchor else "") + after
        kind = "tree" if (REPO_ROOT / resolved).is_dir() else "blob"
        return before + f"{repo}/{kind}/{rev}/{resolved}" + (f"#{anchor}" if anchor else "") + after

    text = text.replace(badge_image_url(), os.path.relpath(COLAB_BADGE_FILE, page_dir).replace(os.sep, "/"))
    return LINK.sub(fix, text)


# ---------------------------------------------------------------------------------------------------------
# The course map (landing page)
# ---------------------------------------------------------------------------------------------------------

def markdown_table(text: str, heading: str) -> list[dict[str, str]]:
    """The first pipe table under the `## heading` of a markdown text, as dicts keyed by its header."""
    section = re.search(rf"^##\s+{re.escape(heading)}\s*$(.*?)(?=^##\s|\Z)", text, re.M | re.S)
    if not section:
        return []
    lines = [line.strip() for line in section.group(1).splitlines() if line.strip().startswith("|")]
    if len(lines) < 2:
        return []

    def cells(line):
        return [c.strip() for c in line.strip().strip("|").split("|")]
    header = cells(lines[0])
    return [dict(zip(header, cells(line))) for line in lines[2:]]


def quick_times(path: Path = BENCHMARK_DIR / "quick_budget.md") -> dict[str, str]:
    """Notebook stem -> its quick run alone, seconds (the benchmark's median column)."""
    if not path.exists():
        return {}
    times = {}
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 2 and re.match(r"^\d\d_", cells[0]) and re.match(r"^[\d.]+$", cells[2]):
            times[cells[0]] = cells[2]
    return times


def notebook_summary(path: Path) -> dict[str, str]:
    """The title (first heading), first paragraph and runtime paragraph of a notebook's first cell."""
    import nbformat
    nb = nbformat.read(path, as_version=4)
    first = next((c.source for c in nb.cells if c.cell_type == "markdown"), "")
    title = next((line.lstrip("#").strip() for line in first.splitlines() if line.startswith("# ")), path.stem)
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", first) if p.strip()]
    body = [p for p in paragraphs if not p.startswith("#") and "Open In Colab" not in p]
    runtime = next((p for p in paragraphs if p.startswith("**Runtime")), "")
    return {"title": title, "aim": body[0] if body else "", "runtime": runtime}


def one_line(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def course_map(notebooks: dict[str, Path]) -> tuple[str, str]:
    """The landing page's course map: one row per notebook of notebooks/, from README's syllabus table, the
    notebooks' own first cells and the quick-budget benchmark (this build's own times: the results page)."""
    readme = (REPO_ROOT / "README.md").read_text()
    syllabus = {row.get("nb", ""): row for row in markdown_table(readme, "Syllabus")}
    times = quick_times()
    lines = ["| nb | notebook | what it teaches | source paper | data by profile | quick run alone | |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    runtimes = []
    for stem, path in notebooks.items():
        number = stem[:2]
        summary = notebook_summary(NOTEBOOK_DIR / f"{stem}.ipynb")
        row = syllabus.get(number, {})
        teaches = row.get("title") or one_line(summary["aim"])[:300]
        paper = row.get("source paper", "—")
        data = "; ".join(f"`{name}`: {row[column]}" for name, column in
                         (("quick", "quick data"), ("gpu, paper", "gpu / paper data")) if row.get(column)) or "—"
        alone = f"{times[stem]} s" if stem in times else "—"
        title = summary["title"].split("·", 1)[-1].strip()
        colab = f"[![Open In Colab]({COLAB_BADGE_FILE})]({colab_link(f'{stem}.ipynb')})"
        lines.append(f"| {number} | [{one_line(title)}](notebooks/{stem}.ipynb) | {teaches} | {paper} | {data} | "
                     f"{alone} | {colab} |")
        if summary["runtime"]:
            runtimes.append((stem, f"**[{number} · {one_line(title)}](notebooks/{stem}.ipynb).** "
                                   f"{summary['runtime']}\n"))
    text = "\n".join(lines)
    text = rewrite_links(text, "README.md", "index.md", site_pages(list(notebooks)))
    runtime_text = "\n".join(rewrite_links(r, f"notebooks/{stem}.ipynb", "index.md", site_pages(list(notebooks)))
                             for stem, r in runtimes)
    return text, runtime_text


# ---------------------------------------------------------------------------------------------------------
# Notebook pages
# ---------------------------------------------------------------------------------------------------------

def buttons_html(stem: str, page_dir: str, executed: bool) -> str:
    """The Colab button and the downloads of a notebook page (raw HTML, relative to the page)."""
    up = os.path.relpath(".", page_dir).replace(os.sep, "/")
    parts = [f'<a class="colab-button" href="{colab_link(f"{stem}.ipynb")}">'
             f'<img src="{up}/{COLAB_BADGE_FILE}" alt="Open In Colab" width="117" height="20"></a>',
             f'<a class="download" href="{up}/_static/notebooks/{stem}.ipynb" download>download the notebook</a>']
    if executed:
        parts.append(f'<a class="download" href="{up}/_static/notebooks/{stem}.executed.ipynb" download>'
                     "download it with this page's outputs</a>")
    return '<div class="course-buttons">\n' + "\n".join(parts) + "\n</div>"


def separate_display_maths(text: str) -> str:
    """Put blank lines around `$$ ... $$` blocks that sit inside a paragraph. Jupyter reads maths before
    markdown, so a display block may start mid-paragraph and hold lines that begin with `+` or `-`;
    myst-parser reads markdown first, where those lines would become list items and the `$$` plain text."""
    out, inside, fence = [], False, False
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")) and not inside:
            fence = not fence
        if fence:
            out.append(line)
            continue
        if not inside and stripped.startswith("$$"):
            if out and out[-1].strip():
                out.append("")
            out.append(line)
            if len(stripped) > 2 and stripped.endswith("$$") and stripped != "$$$$":
                out.append("")  # a one-line block
            else:
                inside = True
            continue
        if inside:
            out.append(line)
            if stripped.endswith("$$"):
                inside = False
                out.append("")
            continue
        if out and out[-1] == "" and len(out) > 1 and out[-2].strip().endswith("$$") and not stripped:
            continue  # no double blank line after a block
        out.append(line)
    return "\n".join(out)


def stage_notebook(stem: str, source: Path, staging: Path, pages: dict[str, str]) -> Path:
    """Write notebook `stem` (executed copy or, failing that, the committed one) as the page
    notebooks/<stem>.ipynb of the staging folder, with its buttons; copy both versions for download."""
    import nbformat
    page = f"notebooks/{stem}.ipynb"
    nb = nbformat.read(source, as_version=4)
    executed = Path(source).resolve() != (NOTEBOOK_DIR / f"{stem}.ipynb").resolve()
    buttons = buttons_html(stem, "notebooks", executed)
    badge = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = separate_display_maths(rewrite_links(badge.sub("", cell.source),
                                                               f"notebooks/{stem}.ipynb", page, pages))
    # The buttons go right under the notebook's title (the badge's place in the notebook is further down).
    first = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    if first is not None and first.source.lstrip().startswith("# "):
        title, _, rest = first.source.lstrip().partition("\n")
        first.source = f"{title}\n\n{buttons}\n\n{rest}"
    else:
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(f"# {stem}\n\n{buttons}"))
    if not executed:
        note = ("```{note}\nThis page shows the notebook as committed, without outputs: it was not executed "
                "for this build (`make course` writes the executed copies that `make site` renders).\n```")
        nb.cells.insert(1, nbformat.v4.new_markdown_cell(note))
    # The lexer of the code cells: IPython's (it knows `!pip`); the committed notebooks carry no language_info.
    nb.metadata["language_info"] = {**nb.metadata.get("language_info", {}), "name": "python",
                                    "pygments_lexer": "ipython3"}
    nb.metadata.pop("widgets", None)  # widget state: nothing on the page draws it (no widget manager loaded)
    target = staging / page
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    downloads = staging / "_static" / "notebooks"
    downloads.mkdir(parents=True, exist_ok=True)
    shutil.copy2(NOTEBOOK_DIR / f"{stem}.ipynb", downloads / f"{stem}.ipynb")
    if executed:
        shutil.copy2(source, downloads / f"{stem}.executed.ipynb")
    return target


# ---------------------------------------------------------------------------------------------------------
# Results page: receipts beside expected ranges and seed sweeps
# ---------------------------------------------------------------------------------------------------------

def load_sweep(stem: str) -> dict[str, dict]:
    """The 5-seed sweep of a notebook (helpers.sweeps, the copy shipped with the package), {} if none."""
    from helpers import sweeps
    try:
        return sweeps.load(stem)
    except FileNotFoundError:
        return {}


def fmt(value) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        value = float(value)
        if value != value:
            return "nan"
        if value == int(value) and abs(value) < 1e6:
            return str(int(value))
        return f"{value:.4g}"
    return one_line(str(value))[:60]


def as_number(value):
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    return None


def position(value: float, low: float, high: float) -> float:
    """Where `value` sits in [low, high], 0 at the low end and 1 at the high end (0.5 for a point range)."""
    return 0.5 if high == low else (value - low) / (high - low)


def sweep_figure(stem: str, expected: dict, sweep: dict, numbers: dict, path: Path) -> bool:
    """For every key with a range wider than a point: each seed of the sweep (dots) and this build's value
    (red cross), placed within the key's expected range (0 = its low end, 1 = its high end). Plain
    matplotlib: one small figure per notebook, drawn once."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    keys = [k for k, (lo, hi) in expected.items() if hi > lo and k in sweep]
    if not keys:
        return False
    height = 0.7 + 0.2 * len(keys)
    fig, ax = plt.subplots(figsize=(7.5, height))
    fig.subplots_adjust(left=0.36, right=0.98, top=1 - 0.1 / height, bottom=0.55 / height)
    ax.axvspan(0, 1, color="tab:green", alpha=0.12, label="expected range")
    rng = np.random.default_rng(0)
    xs, ys = [], []
    for i, key in enumerate(keys):
        for value in sweep[key]["values"].values():
            xs.append(position(value, *expected[key]))
            ys.append(i + rng.uniform(-0.15, 0.15))
    n = max(len(sweep[k]["values"]) for k in keys)
    ax.scatter(xs, ys, s=9, color="black", label=f"the sweep's {n} seeds", zorder=3)
    run = [(position(as_number(numbers[k]), *expected[k]), i) for i, k in enumerate(keys)
           if as_number(numbers.get(k)) is not None]
    if run:
        ax.scatter(*zip(*run), marker="x", color="red", s=36, zorder=4, label="this build")
    ax.set_yticks(range(len(keys)), keys, fontsize=7)
    ax.set_ylim(len(keys) - 0.5, -0.5)
    ax.set_xlabel("position within the expected range (0 = low end, 1 = high end)", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.legend(fontsize=7, loc="lower right", framealpha=0.9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def results_page(notebooks: dict[str, Path], receipts: dict[str, dict], staging: Path) -> str:
    """Per notebook: one row per expected key (this build's value, the expected range, in it or not, the
    sweep's mean, sd and min–max over its seeds) and the sweep figure."""
    from helpers.sweeps import sweep_url
    parts = []
    for stem in notebooks:
        expected_path = EXPECTED_DIR / f"{stem}.json"
        expected = json.loads(expected_path.read_text()) if expected_path.exists() else {}
        receipt = receipts.get(stem, {})
        numbers = receipt.get("numbers", {})
        sweep = load_sweep(stem)
        title = notebook_summary(NOTEBOOK_DIR / f"{stem}.ipynb")["title"]
        parts.append(f"## {one_line(title)}\n")
        if receipt:
            smoke = " with SMOKE on (sizes capped: the numbers are not the quick profile's)" if receipt.get("smoke") else ""
            parts.append(f"This build: [{stem}](notebooks/{stem}.ipynb), profile `{receipt.get('profile')}`{smoke}, "
                         f"seed {receipt.get('seed') if receipt.get('seed') is not None else 'default'}, "
                         f"{receipt.get('seconds', 0):.0f} s, status **{receipt.get('status')}**"
                         + (f" ({one_line(receipt['error'])})" if receipt.get("error") else "") + ".\n")
        else:
            parts.append(f"[{stem}](notebooks/{stem}.ipynb) was not executed for this build: no receipt.\n")
        if sweep:
            n = max(int(row["n"]) for row in sweep.values())
            parts.append(f"The sweep: {n} seeds, quick profile ([table in the repository]"
                         f"({sweep_url(stem, revision=revision())})).\n")
        else:
            parts.append("No seed sweep yet (`python -m coursetools seeds --only "
                         f"{stem[:2]} --seeds 0 1 2 3 4`).\n")
        if not expected:
            parts.append("No expected ranges (`tests/expected_receipts/`) for this notebook yet.\n")
            continue
        figure = Path("_static") / "results" / f"{stem}.png"
        if sweep and sweep_figure(stem, expected, sweep, numbers, staging / figure):
            parts.append(f"```{{figure}} {figure.as_posix()}\n:alt: {stem}: every seed of the sweep and this "
                         "build within the expected ranges\n\nEach key's expected range scaled to [0, 1]: the "
                         "sweep's seeds (dots) and this build (red cross). Keys whose range is one point "
                         "(booleans, fixed counts) are in the table only.\n```\n")
        rows = ["| key | this build | expected range | in range | sweep mean ± sd | sweep min – max |",
                "| --- | --- | --- | --- | --- | --- |"]
        outside = 0
        for key, (low, high) in expected.items():
            value = numbers.get(key)
            number = as_number(value)
            if number is None:
                verdict = "—" if not numbers else "missing"
            elif low <= number <= high:
                verdict = "yes"
            else:
                verdict, outside = "**no**", outside + 1
            spread = sweep.get(key)
            mean = f"{fmt(spread['mean'])} ± {fmt(spread['sd'])}" if spread else "—"
            span = f"{fmt(spread['min'])} – {fmt(spread['max'])}" if spread else "—"
            rows.append(f"| `{key}` | {fmt(value) if value is not None else '—'} | [{fmt(low)}, {fmt(high)}] | "
                        f"{verdict} | {mean} | {span} |")
        if numbers:
            parts.append(f"{len(expected) - outside} of {len(expected)} expected keys in range"
                         + (f"; **{outside} outside**" if outside else "") + ".\n")
        parts.append("\n".join(rows) + "\n")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------------------
# Benchmarks page
# ---------------------------------------------------------------------------------------------------------

def demote_headings(text: str, levels: int = 1) -> str:
    out, fence = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
        out.append("#" * levels + line if not fence and re.match(r"^#+\s", line) else line)
    return "\n".join(out)


def benchmarks_page(pages: dict[str, str]) -> str:
    parts = []
    files = sorted(BENCHMARK_DIR.glob("*.md")) + [REPO_ROOT / "results" / "gpu" / "README.md"]
    for path in files:
        if not path.exists():
            continue
        relative = path.relative_to(REPO_ROOT).as_posix()
        text = path.read_text()
        if not text.lstrip().startswith("#"):
            text = f"# {relative}\n\n{text}"
        text = demote_headings(rewrite_links(text, relative, "benchmarks.md", pages))
        parts.append(text.rstrip() + f"\n\n*From [`{relative}`]({repository_url()}/blob/{revision()}/{relative}).*\n")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------------------
# The build
# ---------------------------------------------------------------------------------------------------------

def fill(template: str, sections: dict[str, str]) -> str:
    """Replace each `<!-- site:name -->` marker of a hand-written page with the generated section."""
    def sub(match):
        name = match.group(1)
        if name not in sections:
            raise KeyError(f"docs/site has a marker <!-- site:{name} --> that coursetools/site.py does not fill")
        return sections[name]
    return MARKER.sub(sub, template)


def stage(staging: Path, notebooks: dict[str, Path], receipts: dict[str, dict]) -> None:
    """Write the Sphinx sources of the site into `staging`: docs/site/ plus the pages from data."""
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(SITE_SOURCES, staging, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    pages = site_pages(list(notebooks))
    (staging / "site.json").write_text(json.dumps({"repository": repository_url()}))
    for stem, source in notebooks.items():
        stage_notebook(stem, source, staging, pages)
    table, runtimes = course_map(notebooks)
    readme = (REPO_ROOT / "README.md").read_text()
    intro = next(p for p in re.split(r"\n\s*\n", readme) if p.strip() and not p.startswith("#"))
    toctree = "\n".join(f"notebooks/{stem}" for stem in notebooks)
    instructors = (REPO_ROOT / "docs" / "instructors.md").read_text()
    instructors = rewrite_links(instructors, "docs/instructors.md", "instructors.md", pages)
    (staging / "instructors.md").write_text(instructors)
    sections = {"intro": rewrite_links(intro, "README.md", "index.md", pages), "course-map": table,
                "runtimes": runtimes, "notebook-toctree": toctree,
                "results": results_page(notebooks, receipts, staging),
                "results-readme": demote_headings(rewrite_links(
                    re.sub(r"^#\s.*\n", "", (REPO_ROOT / "results" / "README.md").read_text()),
                    "results/README.md", "results.md", pages)),
                "benchmarks": benchmarks_page(pages)}
    for page in staging.glob("*.md"):
        page.write_text(fill(page.read_text(), sections))


def build(out: Path = REPO_ROOT / "build" / "site", executed_dir: Path = REPO_ROOT / "build",
          run_stale: bool = True, profile: str = "quick", jobs: int | None = None, quiet: bool = True) -> dict:
    """Build the site into `out` from the executed notebooks of `executed_dir`; return the seconds of each
    stage. Raises if Sphinx fails."""
    out, executed_dir = Path(out), Path(executed_dir)
    seconds = {}
    start = time.perf_counter()
    notebooks = executed_notebooks(executed_dir, run_stale=run_stale, profile=profile, jobs=jobs)
    seconds["notebooks"] = time.perf_counter() - start
    start = time.perf_counter()
    staging = out.parent / f"{out.name}-src"
    stage(staging, notebooks, load_receipts(executed_dir))
    seconds["pages"] = time.perf_counter() - start
    start = time.perf_counter()
    if out.exists():
        shutil.rmtree(out)
    doctrees = out.parent / f"{out.name}-doctrees"
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-E", "-d", str(doctrees), "--keep-going",
               "-w", str(out.parent / f"{out.name}-warnings.txt")] + (["-q"] if quiet else []) + [
               str(staging), str(out)]
    # No network: nothing in conf.py fetches (no intersphinx); MPLBACKEND for any figure code Sphinx imports.
    env = {**os.environ, "MPLBACKEND": "Agg"}
    result = subprocess.run(command, env=env)
    seconds["sphinx"] = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"sphinx-build failed ({result.returncode}); warnings in "
                           f"{out.parent / f'{out.name}-warnings.txt'}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coursetools.site", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO_ROOT / "build" / "site"), help="the site (default build/site)")
    parser.add_argument("--executed", default=str(REPO_ROOT / "build"),
                        help="the executed notebooks and receipts.json of `make course` (default build/)")
    parser.add_argument("--no-run", action="store_true",
                        help="do not run missing or stale notebooks: render those as committed")
    parser.add_argument("--profile", default="quick", help="profile of the notebooks run first (default quick)")
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--check", action="store_true", help="then open every page in headless Chromium "
                                                             "(screenshots in build/site-check/)")
    parser.add_argument("--check-only", action="store_true", help="only the browser check of --out")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if not args.check_only:
        seconds = build(out, Path(args.executed), run_stale=not args.no_run, profile=args.profile, jobs=args.jobs)
        print("site built in " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items())
              + f": {out}/index.html (open it: python -m http.server -d {out})")
    if args.check or args.check_only:
        report = check_site(out, out.parent / "site-check")
        print(f"browser check: {len(report['pages'])} pages in {report['seconds']:.1f} s, search hits "
              f"{report['search_hits']}, {len(report['problems'])} problem(s)")
        for problem in report["problems"]:
            print("  " + problem)
        return 1 if report["problems"] else 0
    return 0




# ---------------------------------------------------------------------------------------------------------
# The browser check: every page in headless Chromium (tests/test_site.py, `python -m coursetools.site --check`)
# ---------------------------------------------------------------------------------------------------------

def chromium_path() -> str | None:
    """Debian's chromium (`apt-get install -y chromium`; .ci/run installs it), or $COURSE_CHROMIUM."""
    for candidate in (os.environ.get("COURSE_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


class _Server:
    """build/site served on 127.0.0.1 (a free port) from a thread, silently."""

    def __init__(self, root: Path):
        import functools
        import http.server
        import threading

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # the browser closing a connection early is not a problem of the site

        handler = functools.partial(Quiet, directory=str(root))
        self.httpd = Server(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        return False


# Run in each page once MathJax has typeset it: what is wrong with the page, as data.
PAGE_PROBE = r"""
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  await Promise.all(Array.from(document.images).map(img => img.complete ? null :
      new Promise(done => { img.addEventListener('load', done); img.addEventListener('error', done); })));
  const mathNodes = Array.from(document.querySelectorAll('.math'));
  const unrendered = mathNodes.filter(node => !node.querySelector('mjx-container'))
                              .map(node => node.textContent.trim().slice(0, 80));
  const errors = Array.from(document.querySelectorAll('mjx-merror')).map(node => node.textContent.slice(0, 80));
  const body = document.body.cloneNode(true);
  body.querySelectorAll('pre, code, script, style, textarea, mjx-container, .math, .highlight')
      .forEach(node => node.remove());
  const text = body.textContent;
  const rawTex = text.match(/\\\(|\\\[|\$\$|\$[^$\n]{0,200}?\\[a-zA-Z]+[^$\n]*?\$/g) || [];
  return {
    brokenImages: Array.from(document.images).filter(img => img.naturalWidth === 0)
                       .map(img => img.getAttribute('src')),
    unrenderedMath: unrendered.concat(errors.map(e => 'MathJax error: ' + e), rawTex.slice(0, 5)),
    mathCount: mathNodes.length,
    colab: Array.from(document.querySelectorAll('a.colab-button'))
                .filter(a => a.href.startsWith('https://colab.research.google.com/github/'))
                .filter(a => { const img = a.querySelector('img'); return img && img.naturalWidth > 0; }).length,
    links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
    ids: Array.from(document.querySelectorAll('[id]')).map(node => node.id),
    title: document.title,
  };
}
"""


def check_site(site: Path, screenshots: Path | None = None, search_term: str = "ELBO",
               notebook_pages: str = "notebooks/", timeout_ms: int = 60_000) -> dict:
    """Open every page of `site` (followed from index.html through every internal <a href>) in headless
    Chromium, served on 127.0.0.1. Returns {"pages": [...], "problems": [...], "seconds": s}; a problem is
    a console error, a page error, an image with naturalWidth == 0, maths left unrendered, a request to a
    host other than 127.0.0.1, an internal link (file or #anchor) that does not resolve, a notebook page
    (under `notebook_pages`) without its Colab button, or an offline search that finds nothing.
    Screenshots of the landing page and the first notebook page go to `screenshots`."""
    from urllib.parse import urldefrag, urlsplit
    from urllib.request import urlopen
    from urllib.error import HTTPError, URLError

    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("no chromium: apt-get install -y chromium (or set COURSE_CHROMIUM)")
    start = time.perf_counter()
    problems: list[str] = []
    visited: dict[str, dict] = {}
    anchors: list[tuple[str, str, str]] = []  # (page that links, target page, fragment)
    files: dict[str, str] = {}                # internal non-HTML targets -> the page that links them
    with _Server(Path(site)) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        context = browser.new_context(viewport={"width": 1280, "height": 860}, service_workers="block")
        current = {"page": ""}

        def route(route_obj):
            host = urlsplit(route_obj.request.url).hostname
            if host != "127.0.0.1" and not route_obj.request.url.startswith(("data:", "blob:", "about:")):
                problems.append(f"{current['page']}: request to another host: {route_obj.request.url}")
                return route_obj.abort()
            return route_obj.continue_()
        context.route("**/*", route)
        page = context.new_page()
        page.on("console", lambda msg: problems.append(f"{current['page']}: console {msg.type}: {msg.text}")
                if msg.type == "error" else None)
        page.on("pageerror", lambda exc: problems.append(f"{current['page']}: page error: {exc}"))
        page.on("response", lambda r: problems.append(f"{current['page']}: HTTP {r.status} for {r.url}")
                if r.status >= 400 and r.url.startswith(server.url) else None)
        queue = [server.url + "index.html"]
        shots = {}
        while queue:
            url = queue.pop(0)
            if url in visited:
                continue
            relative = url[len(server.url):]
            current["page"] = relative
            response = page.goto(url, wait_until="load", timeout=timeout_ms)
            if response is None or response.status != 200:
                problems.append(f"{relative}: HTTP {response.status if response else 'no response'}")
                visited[url] = {"ids": []}
                continue
            found = page.evaluate(PAGE_PROBE)
            visited[url] = found
            for src in found["brokenImages"]:
                problems.append(f"{relative}: image did not load (naturalWidth 0): {src}")
            for tex in found["unrenderedMath"]:
                problems.append(f"{relative}: maths left unrendered: {tex!r}")
            if relative.startswith(notebook_pages) and relative.endswith(".html") and found["colab"] == 0:
                problems.append(f"{relative}: no Colab button (a.colab-button to colab.research.google.com "
                                "with its badge drawn)")
            for link in found["links"]:
                target, fragment = urldefrag(link)
                if not target.startswith(server.url):
                    continue
                path = target[len(server.url):].split("?")[0]
                if path == "" or path.endswith("/"):
                    target, path = target + "index.html", path + "index.html"
                if path.endswith(".html"):
                    if target not in visited and target not in queue:
                        queue.append(target)
                    if fragment:
                        anchors.append((relative, target, fragment))
                else:
                    files.setdefault(target, relative)
            if screenshots is not None:
                if relative == "index.html":
                    shots["landing"] = True
                    Path(screenshots).mkdir(parents=True, exist_ok=True)
                    page.set_viewport_size({"width": 1440, "height": 1200})  # the course map in view
                    page.screenshot(path=str(Path(screenshots) / "landing.png"))
                    page.set_viewport_size({"width": 1280, "height": 860})
                elif relative.startswith(notebook_pages) and "notebook" not in shots:
                    shots["notebook"] = relative
                    figure = page.locator(".cell_output img").first
                    if figure.count():  # the first figure of the page, where there is one
                        figure.scroll_into_view_if_needed()
                    page.screenshot(path=str(Path(screenshots) / "notebook.png"))
        for source, target, fragment in anchors:
            from urllib.parse import unquote
            if unquote(fragment) not in visited.get(target, {}).get("ids", []):
                problems.append(f"{source}: link to a missing anchor: {target[len(server.url):]}#{fragment}")
        for target, source in files.items():
            try:
                with urlopen(target, timeout=30) as reply:
                    if reply.status != 200:
                        problems.append(f"{source}: link to {target[len(server.url):]}: HTTP {reply.status}")
            except (HTTPError, URLError) as exc:
                problems.append(f"{source}: link to {target[len(server.url):]} does not resolve: {exc}")
        # Sphinx's own search, offline: the search page finds the term.
        current["page"] = "search.html"
        page.goto(server.url + f"search.html?q={search_term}", wait_until="load", timeout=timeout_ms)
        try:
            page.wait_for_selector("#search-results li", timeout=timeout_ms)
            hits = page.locator("#search-results li").count()
        except Exception:  # noqa: BLE001 - no results within the time is the failure reported
            hits = 0
        if hits == 0:
            problems.append(f"search.html: the offline search for {search_term!r} found nothing")
        browser.close()
    return {"pages": [u[len(server.url):] for u in visited], "problems": list(dict.fromkeys(problems)),
            "search_hits": hits, "seconds": time.perf_counter() - start}


if __name__ == "__main__":
    sys.exit(main())
