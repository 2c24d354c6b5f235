"""The course website (`make site`, coursetools/site.py): its pages from data, and every page in a real browser.

The browser tests (marker `site`) serve the site on 127.0.0.1 and open every page in headless Chromium,
Debian's `chromium` driven by Playwright (`.ci/run` installs it; no browser download). They fail on a console
error, an image that does not load, maths left unrendered, a request to another host, an internal link that
does not resolve, a notebook page without its Colab button, or an offline search that finds nothing.

Which executed notebooks the suite's site build renders: `make test` does not run `make course`, and running
every notebook again would add minutes to a suite that already runs each one in its quick profile (in a
temporary folder that the site cannot rely on: pytest-xdist gives no order between workers). So the test uses
what exists within its budget:
- every notebook whose executed copy in build/ (`make course`) is up to date is rendered from it, with its
  figures, so on a developer's machine after `make course` the check covers the real site;
- the others are rendered as committed (their prose and maths, the nbval reference outputs, a note that the
  page has no outputs), and, so that CI still checks figures and outputs on a notebook page, notebook 00 is
  executed with SMOKE on (seconds) when build/ has no executed copy of it.
The results page's figures (drawn from the seed sweeps) and the Colab badges are images on every build.
"""
import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from coursetools import site
from coursetools.notebooks import NOTEBOOK_DIR, REPO_ROOT, list_notebooks

NOTEBOOKS = list_notebooks()


def browser_or_skip():
    """Chromium and Playwright, or a skip; under .ci/run (COURSE_REQUIRE_SITE=1) their absence fails."""
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install -e '.[site]')")
    try:
        import myst_nb  # noqa: F401
        import sphinx_book_theme  # noqa: F401
    except ImportError:
        missing.append("sphinx, myst-nb, sphinx-book-theme (pip install -e '.[site]')")
    if site.chromium_path() is None:
        missing.append("chromium (apt-get install -y chromium)")
    if missing:
        if os.environ.get("COURSE_REQUIRE_SITE") == "1":
            pytest.fail("the site test needs " + "; ".join(missing))
        pytest.skip("needs " + "; ".join(missing))


# ---------------------------------------------------------------------------------------------------------
# The pages from data (no browser)
# ---------------------------------------------------------------------------------------------------------

def test_display_maths_inside_a_paragraph_is_set_apart():
    text = ("the bound,\n$$\n\\log p(x) \\ge \\mathbb E[\\log p(x|z)]\n- \\mathrm{KL}(q\\,\\|\\,p)\n+ c,\n$$\n"
            "because the log-ratio splits.")
    fixed = site.separate_display_maths(text)
    assert fixed.split("\n")[:3] == ["the bound,", "", "$$"]
    assert "$$\n\nbecause" in fixed
    assert "- \\mathrm{KL}" in fixed  # the block itself is kept as it was
    markdown_it = pytest.importorskip("markdown_it", reason="the site extra (myst-parser's parser)")
    from mdit_py_plugins.dollarmath import dollarmath_plugin
    md = markdown_it.MarkdownIt().use(dollarmath_plugin)
    kinds = [t.type for t in md.parse(fixed)]
    assert "math_block" in kinds and "bullet_list_open" not in kinds
    broken = [t.type for t in md.parse(text)]
    assert "bullet_list_open" in broken  # what the unfixed text would have become
    assert site.separate_display_maths("```\n$$\nx\n$$\n```") == "```\n$$\nx\n$$\n```"  # code stays as is
    assert site.separate_display_maths("a $$x$$ b") == "a $$x$$ b"  # inline display maths stays inline


def test_links_point_at_the_site_or_the_repository():
    pages = site.site_pages(["00_vae_foundations"])
    repo, rev = site.repository_url(), site.revision()
    text = ("[guide](../docs/instructors.md) [nb](00_vae_foundations.ipynb#section) [code](../helpers/vae.py) "
            f"[![Open In Colab]({site.badge_image_url()})](https://colab.research.google.com/x) [web](https://a.b/c) "
            "[here](#top)")
    out = site.rewrite_links(text, "notebooks/00_vae_foundations.ipynb", "notebooks/00_vae_foundations.ipynb", pages)
    assert "[guide](../instructors.md)" in out
    assert "[nb](00_vae_foundations.ipynb#section)" in out
    assert f"[code]({repo}/blob/{rev}/helpers/vae.py)" in out
    assert "(../_static/colab-badge.svg)" in out and site.badge_image_url() not in out
    assert "[web](https://a.b/c)" in out and "[here](#top)" in out
    assert f"({repo}/tree/{rev}/results/seeds)" in site.rewrite_links("[s](seeds/)", "results/README.md",
                                                                        "results.md", pages)


def test_course_map_has_every_notebook_with_its_paper_and_times():
    table, runtimes = site.course_map({nb.stem: nb for nb in NOTEBOOKS})
    rows = [line for line in table.splitlines()[2:]]
    assert len(rows) == len(NOTEBOOKS)  # every notebook of notebooks/, the capstone too once it exists
    times = site.quick_times()
    readme = (REPO_ROOT / "README.md").read_text()
    syllabus = {r["nb"]: r for r in site.markdown_table(readme, "Syllabus")}
    assert syllabus, "README.md has no syllabus table"
    for nb, row in zip(NOTEBOOKS, rows):
        assert f"(notebooks/{nb.stem}.ipynb)" in row and "colab.research.google.com/github/" in row
        if nb.stem[:2] in syllabus:
            assert syllabus[nb.stem[:2]]["source paper"] in row
        if nb.stem in times:
            assert f"| {times[nb.stem]} s |" in row
    assert runtimes.count("**[") == sum(1 for nb in NOTEBOOKS if site.notebook_summary(nb)["runtime"])


def test_stale_notebooks_are_the_missing_and_the_older_ones(tmp_path):
    notebooks, executed = tmp_path / "nb", tmp_path / "build"
    notebooks.mkdir(), executed.mkdir()
    for name in ("00_a.ipynb", "01_b.ipynb", "02_c.ipynb"):
        (notebooks / name).write_text("{}")
    (executed / "00_a.ipynb").write_text("{}")
    (executed / "01_b.ipynb").write_text("{}")
    old = time.time() - 100
    os.utime(executed / "01_b.ipynb", (old, old))
    assert [p.name for p in site.stale_notebooks(executed, notebooks)] == ["01_b.ipynb", "02_c.ipynb"]
    chosen = site.executed_notebooks(executed, notebooks, run_stale=False)
    assert chosen["00_a"] == executed / "00_a.ipynb" and chosen["02_c"] == notebooks / "02_c.ipynb"


def test_results_page_puts_each_key_beside_its_range_and_sweep(tmp_path):
    stem = NOTEBOOKS[0].stem
    expected = json.loads((site.EXPECTED_DIR / f"{stem}.json").read_text())
    key, (low, high) = next((k, r) for k, r in expected.items() if r[1] > r[0])
    numbers = {k: (lo + hi) / 2 for k, (lo, hi) in expected.items()}
    numbers[key] = high + (high - low)  # one key outside its range
    receipts = {stem: {"seconds": 60.0, "profile": "quick", "seed": None, "status": "ok", "error": None,
                       "numbers": numbers}}
    text = site.results_page({stem: NOTEBOOKS[0]}, receipts, tmp_path)
    row = next(line for line in text.splitlines() if line.startswith(f"| `{key}` |"))
    assert "**no**" in row and f"[{site.fmt(low)}, {site.fmt(high)}]" in row
    sweep = site.load_sweep(stem)
    assert f"{site.fmt(sweep[key]['min'])} – {site.fmt(sweep[key]['max'])}" in row
    assert f"{len(expected) - 1} of {len(expected)} expected keys in range; **1 outside**" in text
    assert (tmp_path / "_static" / "results" / f"{stem}.png").stat().st_size > 1000


# ---------------------------------------------------------------------------------------------------------
# In the browser
# ---------------------------------------------------------------------------------------------------------

BROKEN_PAGE = """<!doctype html><html><head><title>broken</title>
<script>MathJax = {startup: {typeset: false}};</script></head><body>
<p><span class="math">\\(x^2\\)</span> and $\\alpha + \\beta$ left as text</p>
<img src="missing.png" alt="missing">
<img src="https://example.org/remote.png" alt="remote">
<a href="nowhere.html">a broken link</a> <a href="../index.html#no-such-anchor">a missing anchor</a>
<script>console.error("boom")</script>
</body></html>"""


@pytest.mark.site
def test_the_browser_check_catches_what_it_must(tmp_path):
    """A small site with one of each fault: the check reports every one (so the site test can fail)."""
    browser_or_skip()
    (tmp_path / "index.html").write_text('<!doctype html><html><head><title>ok</title></head><body id="top">'
                                         '<a href="notebooks/nb.html">nb</a></body></html>')
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "nb.html").write_text(BROKEN_PAGE)
    (tmp_path / "search.html").write_text("<html><body><ul id='search-results'></ul></body></html>")
    report = site.check_site(tmp_path, tmp_path / "shots", timeout_ms=5_000)
    problems = "\n".join(report["problems"])
    assert "console error: boom" in problems
    assert "image did not load (naturalWidth 0): missing.png" in problems
    assert "request to another host: https://example.org/remote.png" in problems
    assert re.search(r"maths left unrendered: '\\\\\(x\^2", problems), problems
    assert "maths left unrendered: '$\\\\alpha + \\\\beta$'" in problems
    assert "HTTP 404" in problems and "notebooks/nowhere.html" in problems
    assert "missing anchor: index.html#no-such-anchor" in problems
    assert "notebooks/nb.html: no Colab button" in problems
    assert "offline search" in problems
    assert (tmp_path / "shots" / "landing.png").exists() and (tmp_path / "shots" / "notebook.png").exists()


@pytest.fixture(scope="module")
def executed_for_site(tmp_path_factory):
    """The executed notebooks the site renders (see the module docstring): build/'s up-to-date copies,
    and notebook 00 run with SMOKE on when build/ has none of it."""
    build = REPO_ROOT / "build"
    folder = tmp_path_factory.mktemp("executed")
    stale = {p.stem for p in site.stale_notebooks(build)}
    for nb in NOTEBOOKS:
        if nb.stem not in stale:
            shutil.copy2(build / nb.name, folder / nb.name)
    receipts = site.load_receipts(build)
    receipts = {k: v for k, v in receipts.items() if k not in stale}
    first = NOTEBOOKS[0]
    if first.stem in stale:
        from coursetools import runner
        # The suite runs kernels with MPLBACKEND=Agg (conftest.py), under which plt.show() draws nothing:
        # the site's copy uses the inline backend, as `make course` does, so that its figures are outputs.
        row = runner.run_notebook(first, folder / "smoke", "quick", smoke=True, html=False,
                                  env={"MPLBACKEND": "module://matplotlib_inline.backend_inline"})
        assert row["status"] == "ok", row["error"]
        shutil.move(row["executed"], folder / first.name)
        receipts[first.stem] = row
    (folder / "receipts.json").write_text(json.dumps(receipts))
    return folder


@pytest.mark.site
@pytest.mark.notebook  # it runs notebook 00 (SMOKE) when build/ has no copy: conftest.py then starts it early
def test_site_builds_offline_and_every_page_passes_in_chromium(executed_for_site, tmp_path):
    """The site from the executed notebooks above, into a temporary folder (build/site stays what
    `make site` made); the screenshots of the landing page and a notebook page go to build/site-check/."""
    browser_or_skip()
    out = tmp_path / "site"
    shots = REPO_ROOT / "build" / "site-check"
    # The build must not reach the network: any attempt through a proxy-aware client fails at once.
    dead = "http://127.0.0.1:9"
    saved = {k: os.environ.get(k) for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")}
    os.environ.update({k: dead for k in saved})
    try:
        seconds = site.build(out, executed_for_site, run_stale=False)
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    print("site build:", {k: round(v, 1) for k, v in seconds.items()})
    warnings = (out.parent / "site-warnings.txt").read_text().strip()
    assert not warnings, f"Sphinx warnings:\n{warnings}"
    pages = {p.relative_to(out).as_posix() for p in out.rglob("*.html")}
    for nb in NOTEBOOKS:
        assert f"notebooks/{nb.stem}.html" in pages
    assert {"index.html", "results.html", "benchmarks.html", "instructors.html", "search.html"} <= pages
    assert (out / "_static" / "mathjax" / "tex-chtml.js").exists()
    assert not re.search(r"src=\"https?://", (out / "index.html").read_text())

    for old in shots.glob("*.png"):
        old.unlink()
    report = site.check_site(out, shots)
    print(f"browser check: {len(report['pages'])} pages in {report['seconds']:.1f} s")
    assert not report["problems"], "\n".join(report["problems"])
    assert {f"notebooks/{nb.stem}.html" for nb in NOTEBOOKS} <= set(report["pages"])
    assert (shots / "landing.png").exists() and (shots / "notebook.png").exists()
    # The notebook executed for this build shows its figures.
    executed = [nb for nb in NOTEBOOKS if (executed_for_site / nb.name).exists()]
    assert executed
    html = (out / "notebooks" / f"{executed[0].stem}.html").read_text()
    assert re.search(r"<img [^>]*src=\"\.\./_images/", html), "no figure on an executed notebook's page"
