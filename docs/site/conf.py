"""Sphinx settings of the course website (`make site`; coursetools/site.py writes the pages next to a copy of
this file in build/site-src/ and runs Sphinx on them).

Everything the pages load comes from the site itself: MathJax 3 from the `sphinx-mathjax-offline` package
(copied into _static/mathjax/), the theme's fonts and icons from sphinx-book-theme, the Colab badge from
_static/; no intersphinx, no ipywidgets scripts from a CDN, no remote fonts. tests/test_site.py opens every
page in headless Chromium and fails on any request to a host other than 127.0.0.1.
"""
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
# coursetools/site.py writes what the pages need to know about the repository into site.json.
SITE = json.loads((HERE / "site.json").read_text()) if (HERE / "site.json").exists() else {}

project = "Structured latent spaces"
author = "the course's authors"
copyright = "the course's authors, MIT licence"
extensions = [
    "myst_nb",                 # .md pages and the executed .ipynb notebooks (outputs, figures)
    "sphinx-mathjax-offline",  # MathJax 3 served from _static/mathjax/, never a CDN
]
# The executed notebooks come from `make course` (build/): Sphinx never runs them.
nb_execution_mode = "off"
# myst-nb would load require.js and the ipywidgets manager from CDNs on pages with widget state; the
# course's progress bars are plain text under papermill, so nothing needs them.
nb_ipywidgets_js = {}
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "html_image"]
myst_heading_anchors = 3
# The notebooks' prose uses $...$ with spaces next to the dollars in places.
myst_dmath_allow_space = True
myst_dmath_double_inline = True
mathjax3_config = {"tex": {"macros": {}}}

exclude_patterns = ["_build", "**.ipynb_checkpoints", "site.json"]
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header"]

html_theme = "sphinx_book_theme"
html_title = "Structured latent spaces in VAEs"
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_last_updated_fmt = None
html_copy_source = False  # the notebooks are offered for download beside the Colab button instead
# An explicit light mode: with none, pydata-sphinx-theme logs a console error ("invalid theme mode").
html_context = {"default_mode": "light"}
html_theme_options = {
    "repository_url": SITE.get("repository", ""),
    "use_repository_button": bool(SITE.get("repository")),  # a plain link, nothing fetched
    # The theme's download button links _sources/ (not copied); each notebook page has its own downloads.
    "use_download_button": False,
    "use_fullscreen_button": False,
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    # The landing page's course map is wide: no page contents column there.
    "secondary_sidebar_items": {"**": ["page-toc"], "index": []},
}
