"""Sphinx configuration of tinycnn's site: the lessons, the API reference, the benchmarks.

Build it (the README says the same):

    pip install -e ".[docs]" && python -m sphinx -W -b html docs docs/_build/html

`TINYCNN_DOCS_QUICK=1` runs every lesson as `--quick` (seconds instead of minutes). The moving
parts (lessons as gallery pages, generated pages, figure scraping) live in `_ext/tinycnn_docs.py`.
"""

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # tinycnn from this checkout, installed or not
sys.path.insert(0, str(DOCS / "_ext"))

os.environ.setdefault("MPLBACKEND", "Agg")

import tinycnn_docs  # noqa: E402

project = "tinycnn"
author = "the tinycnn authors"
copyright = "the tinycnn authors, MIT licence"  # noqa: A001 (Sphinx's name)
release = version = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax served with the site: math renders offline too
    "sphinx.ext.viewcode",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "tinycnn_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = [
    "_build",
    "_lesson_sources",
    "auto_lessons/*.ipynb",
    "auto_lessons/*.py",
    # included by index.md; not a page of its own
    "_generated/readme_opening.md",
    "Thumbs.db",
    ".DS_Store",
]
templates_path = []

# Single backticks, as the docstrings and the README use them, show as code.
default_role = "literal"

# MyST: the lessons' prose, the README, benchmarks/README.md and ARCHITECTURE.md.
# dollarmath: $...$ and $$...$$ render as math (in the lessons too, as Jupyter renders them).
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

# MathJax a little smaller than its default (which sets formulas larger than the text around
# them), so that the docstrings' formulas, written 100 characters wide, fit the page's column.
mathjax3_config = {"chtml": {"scale": 0.92}}

# autodoc + napoleon: the docstrings are free-form prose; napoleon reads Google and NumPy sections
# where a docstring has them. Members in source order, as the modules read.
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "description"
napoleon_google_docstring = True
napoleon_numpy_docstring = True
napoleon_use_rtype = False

html_theme = "pydata_sphinx_theme"
html_title = "tinycnn"
html_theme_options = {
    "navigation_depth": 2,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc", "sg_download_links", "sg_launcher_links"],
}
html_static_path = ["_static"]
html_css_files = ["tinycnn.css"]
# A lesson page gives all its width to the lesson: the lessons are listed in the top bar, and
# each page links to the previous and the next one.
html_sidebars = {"auto_lessons/[0-9]*": []}
html_show_sourcelink = False

# The lessons. sphinx-gallery runs each one in full (or as --quick, see above) and fails the build
# when one raises; `run_stale_examples` re-runs them every build, so a quick build's output never
# stands in for a full one.
sphinx_gallery_conf = {
    "examples_dirs": str(tinycnn_docs.LESSON_SOURCES),
    "gallery_dirs": str(tinycnn_docs.GALLERY),
    "filename_pattern": r"/[0-9][0-9]_",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",
    "reset_argv": "tinycnn_docs.lesson_arguments",
    "image_scrapers": ("matplotlib", "tinycnn_docs.figure_scraper"),
    "ignore_repr_types": r"matplotlib\.figure\.(Sub)?Figure",
    "capture_repr": ("_repr_html_", "__repr__"),
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "run_stale_examples": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "plot_gallery": "True",
    "line_numbers": False,
    "min_reported_time": 1e9,
    # no pages of execution times: no table of contents leads to them (the README has the
    # lessons' times)
    "write_computation_times": False,
}

# -W turns every warning into an error; nothing is suppressed.
suppress_warnings = []
