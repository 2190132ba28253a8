"""The site: built once in quick mode, then checked page by page, as notebooks and in a browser.

The build is the README's command with `TINYCNN_DOCS_QUICK=1` (every lesson runs as `--quick`),
into `docs/_build/quick/`, where the browser test also leaves its screenshots to look at. The
tests skip, saying why, where the docs extra (`pip install -e ".[docs]"`) or Chromium is missing.
"""

import contextlib
import functools
import html
import http.server
import importlib
import inspect
import json
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BUILD = DOCS / "_build" / "quick"
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.py"))

BUILD_TIMEOUT = 600
"""Seconds the quick build may take: it runs every lesson, and other jobs may share the cores."""

NOTEBOOKS_TO_RUN = ["01", "04"]
"""The generated notebooks executed with nbclient: the first lesson and the main one (the lessons'
own tests run every lesson as a notebook through jupytext; these check the site's downloads)."""

DOCS_EXTRA = 'the site needs the docs extra: pip install -e ".[docs]"'
for module in ("sphinx", "sphinx_gallery", "pydata_sphinx_theme", "myst_parser", "jupytext"):
    pytest.importorskip(module, reason=DOCS_EXTRA)


class PageParser(HTMLParser):
    """The images, links and element ids of one HTML page."""

    def __init__(self):
        super().__init__()
        self.images, self.links, self.ids = [], [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        elif tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])


@functools.cache
def parse(page):
    parser = PageParser()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def local_target(page, url):
    """The file a relative URL on `page` points to, or None for external and data URLs."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not parts.path:
        return None
    return (page.parent / unquote(parts.path)).resolve()


@pytest.fixture(scope="module")
def site():
    """Build the site in quick mode, as the README says (with -W: a warning fails the build)."""
    shutil.rmtree(BUILD, ignore_errors=True)
    html_dir = BUILD / "html"
    env = {
        **os.environ,
        "TINYCNN_DOCS_QUICK": "1",
        "MPLBACKEND": "Agg",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "-b",
            "html",
            "-q",
            "-d",
            str(BUILD / "doctrees"),
            str(DOCS),
            str(html_dir),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    assert result.returncode == 0, (
        f"the quick build failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
        f"{result.stderr[-6000:]}"
    )
    return html_dir


def pages(site):
    return sorted(site.rglob("*.html"))


def lesson_page(site, lesson):
    return site / "auto_lessons" / f"{lesson.stem}.html"


def test_a_lesson_that_raises_fails_the_build_and_the_readme_says_how_to_build():
    import runpy

    gallery = runpy.run_path(str(DOCS / "conf.py"))["sphinx_gallery_conf"]
    assert gallery["abort_on_example_error"] and not gallery["only_warn_on_example_error"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "python -m sphinx -W -b html docs docs/_build/html" in readme, (
        "the README must give the command that builds the site, with -W (warnings fail it)"
    )


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.stem)
def test_every_lesson_has_a_page_and_its_downloads(site, lesson):
    page = lesson_page(site, lesson)
    assert page.exists(), f"no page for {lesson.name}"
    targets = {
        target.name: target
        for href in parse(page).links
        if (target := local_target(page, href)) is not None
    }
    script, notebook = targets.get(lesson.name), targets.get(f"{lesson.stem}.ipynb")
    assert script is not None and notebook is not None, (
        f"{page.name} must link to {lesson.name} and {lesson.stem}.ipynb; it links to "
        f"{sorted(targets)}"
    )
    assert script.read_text(encoding="utf-8") == lesson.read_text(encoding="utf-8"), (
        "the .py download must be the lesson itself"
    )
    import jupytext

    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    expected = jupytext.read(lesson, fmt="py:percent").cells
    assert "".join(cells[0]["source"]) == "%matplotlib inline", "figures inline in Jupyter"
    assert [(cell["cell_type"], "".join(cell["source"])) for cell in cells[1:]] == [
        (cell.cell_type, cell.source) for cell in expected
    ], f"{notebook.name} must hold the lesson's cells as jupytext reads them"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.stem)
def test_every_lesson_shows_its_figures_inline(site, lesson):
    """Every PNG a lesson saves is a figure it shows: the page holds at least that many."""
    saved = sorted((BUILD / "lesson_output").glob(f"{lesson.stem[:2]}_*.png"))
    shown = [src for src in parse(lesson_page(site, lesson)).images if "thumb" not in src]
    assert len(shown) >= len(saved), (
        f"{lesson.name} saved {len(saved)} figures ({[path.name for path in saved]}) but its "
        f"page shows {len(shown)}: end each figure cell with the Figure, as in Jupyter"
    )


def test_every_image_on_every_page_exists(site):
    checked = 0
    for page in pages(site):
        for src in parse(page).images:
            target = local_target(page, src)
            if target is None:
                assert src.startswith(("data:", "https:")), f"{page}: image {src!r}"
                continue
            assert target.is_file(), f"{page.relative_to(site)}: image {src} does not exist"
            assert target.stat().st_size > 0, f"{page.relative_to(site)}: image {src} is empty"
            checked += 1
    assert checked > 0, "no page holds an image"


def page_text(page):
    """A page's text as a reader sees it: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))


def test_the_landing_page_gives_the_commands(site):
    """The README's commands for a fresh machine (install and run, test, build this site)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    opening = readme.split("\n## ")[1]  # the first section: "On a fresh machine"
    commands = re.findall(r"```bash\n(.*?)\n```", opening, flags=re.S)
    assert len(commands) >= 3, f"the README's first section gives {len(commands)} commands"
    text = page_text(site / "index.html")
    for command in commands:
        assert command in text, f"the landing page lacks {command!r}"


def test_every_page_of_the_site_is_in_its_table_of_contents(site):
    """A source Sphinx builds but no toctree reaches is a stray page (a file meant only to be
    included, say): reachable from the landing page only by guessing its address."""
    import pickle

    with open(BUILD / "doctrees" / "environment.pickle", "rb") as file:
        environment = pickle.load(file)
    reachable, to_visit = set(), ["index"]
    while to_visit:
        document = to_visit.pop()
        if document not in reachable:
            reachable.add(document)
            to_visit += environment.toctree_includes.get(document, [])
    assert set(environment.found_docs) - reachable == set()


def test_the_benchmark_page_shows_every_chart(site):
    page = site / "_generated" / "benchmarks.html"
    shown = {Path(local_target(page, src)).read_bytes() for src in parse(page).images}
    charts = sorted((ROOT / "benchmarks" / "results").rglob("*.png"))  # zen2/ too
    assert charts, "benchmarks/results/ holds no chart"
    for chart in charts:
        assert chart.read_bytes() in shown, f"{chart.name} is not on the benchmarks page"


def test_architecture_is_on_the_site_when_it_exists(site):
    page = site / "_generated" / "architecture.html"
    assert page.exists() == (ROOT / "ARCHITECTURE.md").exists()


def documented_ids(site):
    ids = set()
    for page in (site / "api").glob("*.html"):
        ids |= parse(page).ids
    return ids


def test_the_api_reference_documents_every_public_name(site):
    import tinycnn

    ids = documented_ids(site)
    missing = []
    for name in tinycnn.__all__:
        value = getattr(tinycnn, name)
        anchor = (
            f"module-{value.__name__}"
            if inspect.ismodule(value)
            else f"{value.__module__}.{value.__qualname__}"
        )
        if anchor not in ids:
            missing.append(f"tinycnn.{name} ({anchor})")
    modules = ["tinycnn"] + [
        module.name for module in pkgutil.walk_packages(tinycnn.__path__, "tinycnn.")
    ]
    for module_name in modules:
        module = importlib.import_module(module_name)
        if f"module-{module_name}" not in ids:
            missing.append(module_name)
        for name, value in vars(module).items():
            function = getattr(value, "py_func", value)  # a numba dispatcher wraps a function
            defined_here = getattr(function, "__module__", None) == module_name
            if name.startswith("_") or not defined_here:
                continue
            if (inspect.isclass(value) or inspect.isfunction(function)) and (
                f"{module_name}.{name}" not in ids
            ):
                missing.append(f"{module_name}.{name}")
    assert not missing, f"not in the API reference: {missing}"


def test_formulas_render_as_math(site):
    """Math in Markdown ($...$, $$...$$) becomes MathJax markup, and MathJax is on the page."""
    landing = (site / "index.html").read_text(encoding="utf-8")
    assert 'class="math notranslate nohighlight"' in landing, "the landing page shows no math"
    assert r"\hat y" in landing and "\\begin{cases}" in landing
    for page in pages(site):
        text = page.read_text(encoding="utf-8")
        if 'class="math' in text:
            assert "mathjax" in text.lower(), f"{page.relative_to(site)}: math but no MathJax"


class LiteralBlocks(HTMLParser):
    """The text of every <pre> (a code block) on a page."""

    def __init__(self):
        super().__init__()
        self.blocks, self.depth = [], 0

    def handle_starttag(self, tag, attrs):
        if tag == "pre":
            self.depth += 1
            self.blocks.append("")

    def handle_endtag(self, tag):
        if tag == "pre":
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.blocks[-1] += data


FORMULA_SIGNS = re.compile(r"[Σ²≈∩∪]|\u0302|\bsum_|\bsqrt\(|\^\(")
"""What only a formula holds (a sum, a square, a root, a hat): never in a code block."""

TYPESET = {
    # page: LaTeX that its docstrings' formulas must have become
    "tinycnn.kernels.batchnorm": [
        r"=1/\sqrt{\mathrm{var}_{c}+\varepsilon}",
        r"d\gamma_{c}=\sum\mathrm{dout}\cdot\hat{x}",
    ],
    "tinycnn.losses": [r"=(\hat{y}_{1}-y_{1})^{2}", r"\sum_{k=1\ldots K+5}"],
    "tinycnn.kernels.reference": [
        r"\sum_{c,di,dj}w[f,c,di,dj]\cdot x_{\mathrm{pad}}[n,c,i\cdot s+di,j\cdot s+dj]"
    ],
    "tinycnn.functional": [r"=e^{z_{k}}/\sum_{j}e^{z_{j}}"],
    "tinycnn.boxes": [r"=b_{x}-b_{w}/2"],
    "tinycnn.optim": [r"=m/(1-\beta_{1}^{t})"],
}


def test_the_api_reference_shows_formulas_as_math(site, plain_math):
    """Every docstring formula is typeset (MathJax markup), none is left as a code block."""
    pages_with_math = 0
    for page in sorted((site / "api").glob("*.html")):
        text = page.read_text(encoding="utf-8")
        parser = LiteralBlocks()
        parser.feed(text)
        for block in parser.blocks:
            lines = html.unescape(block).splitlines()
            assert not FORMULA_SIGNS.search(block), f"{page.name}: a formula as code:\n{block}"
            assert plain_math.formula_kind(lines) != "formula", f"{page.name}: code\n{block}"
        maths = re.findall(r'<div class="math[^"]*">\s*(\\\[.*?\\\])\s*</div>', text, re.S)
        pages_with_math += bool(maths)
        for latex in maths:
            assert "\\text{`}" not in latex, f"{page.name}: code typeset as math: {latex}"
        for expected in TYPESET.get(page.stem, []):
            assert any(expected in latex for latex in maths), f"{page.name} lacks {expected}"
        inline = re.findall(r'<span class="math[^"]*">\\\((.*?)\\\)</span>', text, re.S)
        if page.stem == "tinycnn.losses":  # and in sentences: "ŷ_1 (p_c) ... are logits"
            assert {r"\hat{y}_{1}", "p_{c}", r"\mathrm{dBCE}/dz=\sigma(z)-p"} <= set(inline)
    assert pages_with_math >= 15, f"only {pages_with_math} API pages show math"


def test_an_attribute_docstring_is_not_read_as_a_type(site):
    """`Target columns holding an x coordinate in a localization target: b_x.` is a sentence:
    napoleon would show its first half as the attribute's type."""
    for page in sorted((site / "api").glob("*.html")):
        text = page.read_text(encoding="utf-8")
        types = re.findall(
            r'>Type<span class="colon">:</span></dt>\s*<dd[^>]*>(.*?)</dd>', text, re.S
        )
        for shown in types:
            words = re.sub(r"<[^>]+>", " ", shown).split()
            assert len(words) <= 4, f"{page.name}: a sentence shown as a type: {' '.join(words)}"
    augment = (site / "api" / "tinycnn.data.augment.html").read_text(encoding="utf-8")
    assert "Target columns holding an x coordinate in a localization target:" in augment


def test_no_page_holds_an_error(site):
    for page in pages(site):
        text = page.read_text(encoding="utf-8")
        assert "Traceback (most recent call last)" not in text, f"{page.relative_to(site)}"
        assert 'class="system-message"' not in text, f"{page.relative_to(site)}"
        assert "sphx-glr-script-err" not in text, f"{page.relative_to(site)}"


@pytest.mark.parametrize("number", NOTEBOOKS_TO_RUN)
def test_the_generated_notebook_runs_and_shows_its_figures(site, number, tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient", reason="nbclient comes with the docs extra")
    pytest.importorskip("ipykernel", reason="ipykernel comes with the docs extra")
    import nbformat

    (lesson,) = [path for path in LESSONS if path.name.startswith(f"{number}_")]
    # A notebook has no flags: the lesson must take its options from tc.course.start, which runs
    # it as --quick when TINYCNN_DOCS_QUICK=1 (tests/test_course.py).
    assert "tc.course.start(" in lesson.read_text(encoding="utf-8"), (
        f"{lesson.name} must read its options with tc.course.start"
    )
    notebook_path = site / "_downloads"
    (notebook_path,) = list(notebook_path.rglob(f"{lesson.stem}.ipynb"))
    notebook = nbformat.read(notebook_path, as_version=4)
    monkeypatch.setenv("TINYCNN_DOCS_QUICK", "1")
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    )
    client = nbclient.NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=300,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on an error
    figures = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    shown_on_page = [src for src in parse(lesson_page(site, lesson)).images if "thumb" not in src]
    assert figures, f"{lesson.name} as a notebook shows no figure inline"
    assert len(figures) >= len(shown_on_page), (
        f"the notebook shows {len(figures)} figures inline, the page {len(shown_on_page)}"
    )


BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served(site):
    """The built site on a local web server, 127.0.0.1 on a free port."""
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextlib.contextmanager
def browser_page(viewport_height):
    """A 1280 px wide page of the system Chromium, and the list its JavaScript errors go to."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright comes with docs extra")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=BROWSER_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": viewport_height})
            errors = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            yield page, errors
        finally:
            browser.close()


@pytest.mark.skipif(chromium() is None, reason="no system Chromium: apt-get install -y chromium")
@pytest.mark.parametrize("path", ["index.html", "auto_lessons/04_train_localizer.html"])
def test_pages_in_a_browser(served, path):
    screenshots = BUILD / "screenshots"
    screenshots.mkdir(parents=True, exist_ok=True)
    with browser_page(900) as (page, errors):
        response = page.goto(f"{served}/{path}", wait_until="load")
        assert response is not None and response.ok, f"{path}: {response and response.status}"
        images = page.evaluate(
            "Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, "
            "i.naturalWidth])"
        )
        # MathJax is served with the site (sphinx-mathjax-offline): the math must render.
        math_rendered = page.evaluate(
            "async () => { if (typeof MathJax === 'undefined' || !MathJax.startup) "
            "return null; await MathJax.startup.promise; "
            "return document.querySelectorAll('mjx-container').length; }"
        )
        name = re.sub(r"\W+", "_", Path(path).stem)
        page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)
        page.screenshot(path=str(screenshots / f"{name}_top.png"))
    not_loaded = [src for src, complete, width in images if not (complete and width > 0)]
    assert not not_loaded, f"{path}: images that did not load: {not_loaded}"
    if "auto_lessons" in path:
        assert images, f"{path} shows no figure"
    else:
        assert math_rendered, f"{path}: MathJax rendered no formula"
    assert not errors, f"{path}: JavaScript errors {errors}"


API_SCREENSHOT = DOCS / "_build" / "api_screenshot.png"


@pytest.mark.skipif(chromium() is None, reason="no system Chromium: apt-get install -y chromium")
def test_the_api_formulas_typeset_in_a_browser(served):
    """MathJax typesets every formula of every API page without an error; a screenshot of the
    batch-norm kernels' page (docs/_build/api_screenshot.png) shows how they read."""
    results = {}
    (BUILD / "screenshots").mkdir(parents=True, exist_ok=True)
    with browser_page(1000) as (page, errors):
        for path in sorted((BUILD / "html" / "api").glob("*.html")):
            response = page.goto(f"{served}/api/{path.name}", wait_until="load")
            assert response is not None and response.ok, path.name
            results[path.stem] = page.evaluate(
                "async () => { if (typeof MathJax !== 'undefined') "
                "await MathJax.startup.promise; return ["
                "document.querySelectorAll('div.math').length, "
                "document.querySelectorAll('mjx-container').length, "
                "Array.from(document.querySelectorAll('mjx-merror, merror, [data-mjx-error]'))"
                ".map(e => e.getAttribute('data-mjx-error') || e.textContent), "
                # a display formula wider than the column must scroll, not be cut off
                "Array.from(document.querySelectorAll('div.math mjx-container'))"
                ".filter(c => c.scrollWidth > c.clientWidth + 1 && "
                "!['auto', 'scroll'].includes(getComputedStyle(c).overflowX))"
                ".map(c => c.textContent.slice(0, 80))]; }"
            )
            if path.stem == "tinycnn.kernels.batchnorm":
                page.locator("div.math").first.scroll_into_view_if_needed()
                page.screenshot(path=str(API_SCREENSHOT))
                page.screenshot(
                    path=str(BUILD / "screenshots" / "api_batchnorm.png"), full_page=True
                )
            if path.stem == "tinycnn.losses":
                page.screenshot(path=str(BUILD / "screenshots" / "api_losses.png"), full_page=True)
    for name, (formulas, typeset, mathjax_errors, cut_off) in results.items():
        assert not mathjax_errors, f"{name}: MathJax could not typeset {mathjax_errors}"
        assert not cut_off, f"{name}: formulas cut off at the column's edge: {cut_off}"
        assert typeset >= formulas, f"{name}: {formulas} formulas, {typeset} typeset"
    assert results["tinycnn.kernels.batchnorm"][1] >= 2
    assert results["tinycnn.losses"][1] >= 5
    assert not errors, f"JavaScript errors {errors}"


# --- the site's machinery, piece by piece (no build needed) ----------------------------------


@pytest.fixture(scope="module")
def machinery():
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        yield importlib.import_module("tinycnn_docs")
    finally:
        sys.path.remove(str(DOCS / "_ext"))


LESSON = """# %% [markdown]
# # Lesson 0: a title
#
# The intro, with `code` and $\\hat y$.

# %%
# a comment that opens a code cell
x = 1

# %% [markdown]
# ## A section
#
# Prose *here*:
#
#     indented = "a code block"

# %%
print(x)
"""


def test_a_lesson_becomes_a_gallery_script(machinery):
    twin = machinery.convert_lesson(LESSON)
    import ast

    module = ast.parse(twin)
    docstring = ast.get_docstring(module)
    assert docstring.startswith("Lesson 0: a title\n=================")
    assert ".. markdown::\n\n   The intro, with `code` and $\\hat y$." in docstring
    # sphinx-gallery's own parser: code stays code (the comment too), prose becomes text.
    from sphinx_gallery.py_source_parser import split_code_and_text_blocks

    path = DOCS / "_build" / "twin_00_test.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(twin, encoding="utf-8")
    try:
        _, blocks = split_code_and_text_blocks(str(path))
    finally:
        path.unlink()
    kinds = [block.type for block in blocks]
    assert kinds == ["text", "code", "text", "code"], kinds
    assert "# a comment that opens a code cell\nx = 1" in blocks[1].content
    assert "A section\n---------" in blocks[2].content
    assert '      indented = "a code block"' in blocks[2].content  # still a Markdown code block
    assert blocks[3].content.strip() == "print(x)"


def test_a_lesson_must_open_with_its_title(machinery):
    with pytest.raises(ValueError, match="title"):
        machinery.convert_lesson("# %%\nx = 1\n")
    with pytest.raises(ValueError, match="title"):
        machinery.convert_lesson("# %% [markdown]\n# No title here.\n")


def test_a_figure_ending_a_cell_is_scraped(machinery, tmp_path):
    from matplotlib.figure import Figure
    from sphinx_gallery.py_source_parser import Block

    figure = Figure(figsize=(2, 1))
    figure.subplots().plot([0, 1], [1, 0])
    paths = iter(tmp_path / f"image_{i}.png" for i in range(3))
    block_vars = {"example_globals": {"___": figure}, "image_path_iterator": paths}
    conf = {"src_dir": str(tmp_path)}
    rest = machinery.figure_scraper(Block("code", "figure = make()\nfigure\n", 1), block_vars, conf)
    assert "image_0.png" in rest
    assert (tmp_path / "image_0.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A later cell that ends in an assignment leaves the last value in place: not shown again.
    assert machinery.figure_scraper(Block("code", "figure\nx = 1\n", 1), block_vars, conf) == ""
    block_vars["example_globals"]["___"] = "not a figure"
    assert machinery.figure_scraper(Block("code", "figure\n", 1), block_vars, conf) == ""


def test_a_progress_bar_shows_its_last_state(machinery):
    # As sphinx-gallery writes tqdm's output into the page: each redraw indented, the first
    # write opening with a carriage return.
    captured = "out:\n\r    epoch 1:  0%|\r    epoch 1: 50%|\r    epoch 1: 100%| loss=0.5\n    done"
    assert machinery.terminal_lines(captured) == "out:\n    epoch 1: 100%| loss=0.5\n    done"


def test_plain_text_docstrings_read_as_markdown(machinery):
    lines = [
        "The forward pass, with s*i the row:",
        "",
        "    out[i] = sum_u w[u] * x[s*i + u]",
        "",
        "backward: dw[u] = sum_i dout[i] * x[s*i + u]",
        "          dx[s*i + u] += w[u] * dout[i]",
        "",
        "Gradient, divided by N:",
        "    dL/dŷ_1 = σ(ŷ_1) - y_1",
        "",
        "x_min = b_x - b_w / 2    x_max = b_x + b_w / 2",
        "",
        '    lesson = tc.course.start(4, "training a localizer")',
        "",
        "    1. drop every box whose score is below score_threshold;",
        "    2. keep the best one.",
        "",
        "`code*with*stars` and 2*N*C.",
    ]
    markdown = machinery.plain_text_to_markdown(lines)
    text = "\n".join(markdown)
    assert markdown[0] == "The forward pass, with s\\*i the row:"
    # Formulas: display math, typeset (the indented block, the hanging paragraph, the formulas
    # under a sentence ending in `:`, a formula line of its own).
    blocks = re.findall(r"^\$\$\n(.*?)\n\$\$$", text, flags=re.S | re.M)
    assert blocks == [
        r"\mathrm{out}[i]=\sum_{u}w[u]\cdot x[s\cdot i+u]",
        "\\begin{aligned}\n"
        r"dw[u] &=\sum_{i}\mathrm{dout}[i]\cdot x[s\cdot i+u] \\"
        "\n"
        r"dx[s\cdot i+u] &\mathrel{+}=w[u]\cdot\mathrm{dout}[i]"
        "\n\\end{aligned}",
        r"dL/d\hat{y}_{1}=\sigma(\hat{y}_{1})-y_{1}",
        r"x_{\mathrm{min}}=b_{x}-b_{w}/2\qquad x_{\mathrm{max}}=b_{x}+b_{w}/2",
    ]
    assert "Gradient, divided by N:" in markdown
    assert "backward:" in markdown  # a block's label, as text above its formulas
    # Code stays a code block, as written; an indented list becomes a list.
    assert '    lesson = tc.course.start(4, "training a localizer")' in markdown
    assert "1. drop every box whose score is below score_threshold;" in markdown
    assert markdown[-1] == "`code*with*stars` and 2\\*N\\*C."


# --- formulas: the plain-text -> LaTeX translator ---------------------------------------------


@pytest.fixture(scope="module")
def plain_math(machinery):
    return importlib.import_module("plain_math")


REAL_FORMULAS = [
    # (a formula as a tinycnn docstring writes it, what MathJax gets)
    (
        "out[n, f, i, j] = bias[f] + sum_{c, di, dj} w[f, c, di, dj] * x_pad[n, c, i*s + di, "
        "j*s + dj]",
        r"\mathrm{out}[n,f,i,j]=\mathrm{bias}[f]+\sum_{c,di,dj}w[f,c,di,dj]\cdot "
        r"x_{\mathrm{pad}}[n,c,i\cdot s+di,j\cdot s+dj]",
    ),
    ("mean_c = (1/M) Σ x", r"\mathrm{mean}_{c}=(1/M)\sum x"),
    (
        "inv_std_c = 1 / sqrt(var_c + eps)",
        r"\mathrm{inv\_std}_{c}=1/\sqrt{\mathrm{var}_{c}+\varepsilon}",
    ),
    ("dγ_c = Σ dout * x̂", r"d\gamma_{c}=\sum\mathrm{dout}\cdot\hat{x}"),
    ("L = Σ_k (ŷ_k − y_k)²", r"L=\sum_{k}(\hat{y}_{k}-y_{k})^{2}"),
    ("b_h = a_h e^(t_h)", r"b_{h}=a_{h}\,e^{t_{h}}"),
    (
        "L(ŷ, y) = Σ_{k=1..K+5} (ŷ_k - y_k)²    if y_1 = 1",
        r"L(\hat{y},y)=\sum_{k=1\ldots K+5}(\hat{y}_{k}-y_{k})^{2}\qquad \mathrm{if}\ y_{1}=1",
    ),
    ("m_hat = m / (1 - beta1^t)", r"\hat{m}=m/(1-\beta_{1}^{t})"),
    (
        "dL/dŷ_2..5 = y_1 · 2 box_weight",
        r"dL/d\hat{y}_{2\ldots 5}=y_{1}\cdot2\ \mathrm{box\_weight}",
    ),
    (
        "df/dx_i  ≈  (f(x + h e_i) - f(x - h e_i)) / (2h)",
        r"df/dx_{i}\approx(f(x+h\,e_{i})-f(x-h\,e_{i}))/(2h)",
    ),
    (
        "IoU(A, B) = area(A ∩ B) / area(A ∪ B)",
        r"\mathrm{IoU}(A,B)=\mathrm{area}(A\cap B)/\mathrm{area}(A\cup B)",
    ),
    ("H_out = (H + 2p - k) // s + 1", r"H_{\mathrm{out}}=(H+2p-k)\mathbin{/\!/}s+1"),
    ("dW = x.T @ dout", r"dW=x^{\top}\mathbin{@}\mathrm{dout}"),
    (
        "v <- momentum * v - lr * grad",
        r"v\leftarrow\mathrm{momentum}\cdot v-\mathrm{lr}\cdot\mathrm{grad}",
    ),
    (
        "out[n, c, i, j] = max_{u, v < k} x[n, c, s*i + u, s*j + v]",
        r"\mathrm{out}[n,c,i,j]=\max_{u,v<k}x[n,c,s\cdot i+u,s\cdot j+v]",
    ),
    (
        "log_softmax(z)_k = z_k - logsumexp(z)",
        r"\mathrm{log\_softmax}(z)_{k}=z_{k}-\mathrm{logsumexp}(z)",
    ),
    (
        "NME = (1/L) Σ_l ||p̂_nl - p_nl||₂ / s_n",
        r"\mathrm{NME}=(1/L)\sum_{l}\|\hat{p}_{nl}-p_{nl}\|_{2}/s_{n}",
    ),
    (
        "out = max(0, x)   (a NaN stays NaN)",
        r"\mathrm{out}=\max(0,x)\qquad \text{(a NaN stays NaN)}",
    ),
]


@pytest.mark.parametrize(("plain", "latex"), REAL_FORMULAS, ids=lambda text: text[:30])
def test_a_docstring_formula_becomes_latex(plain_math, plain, latex):
    assert plain_math.to_latex(plain) == latex


def test_a_block_of_formulas_aligns_at_its_relations(plain_math):
    latex = plain_math.to_latex_block(
        [
            "L = BCE(t_o, 1) + box_weight · [(σ(t_x) - b_x)²",
            "                  + (t_h - log(b_h / a_h))²]",
            "(t_w likewise)",
        ]
    )
    assert latex.splitlines() == [
        r"\begin{aligned}",
        r"L &=\mathrm{BCE}(t_{o},1)+\mathrm{box\_weight}\cdot[(\sigma(t_{x})-b_{x})^{2} \\",
        r"& \quad {}+(t_{h}-\log(b_{h}/a_{h}))^{2}] \\",
        r"& \quad {}(t_{w}\ \mathrm{likewise})",
        r"\end{aligned}",
    ]


def test_a_wide_block_gives_each_formula_a_row(plain_math):
    """The batch-norm kernels' formulas, three to a line in plain text, one to a row on a page;
    a condition after a gap (`if y_1 = 1`) stays with its formula."""
    latex = plain_math.to_latex_block(
        [
            "mean_c = (1/M) Σ x        var_c = (1/M) Σ (x - mean_c)²        "
            "inv_std_c = 1 / sqrt(var_c + eps)",
            "x̂ = (x - mean_c) * inv_std_c                                  out = γ_c x̂ + β_c",
            "L = (ŷ_1 - y_1)²                 if y_1 = 0",
        ]
    )
    rows = latex.splitlines()[1:-1]
    assert [row.split(" &")[0] for row in rows] == [
        r"\mathrm{mean}_{c}",
        r"\mathrm{var}_{c}",
        r"\mathrm{inv\_std}_{c}",
        r"\hat{x}",
        r"\mathrm{out}",
        "L",
    ]
    assert rows[-1] == r"L &=(\hat{y}_{1}-y_{1})^{2}\qquad \mathrm{if}\ y_{1}=0"


@pytest.mark.parametrize(
    ("lines", "kind"),
    [
        (["mean_c = (1/M) Σ x        var_c = (1/M) Σ (x - mean_c)²"], "formula"),
        (["L = BCE(ŷ_1, y_1)", "    + y_1 · [box_weight · Σ_{j=2..5} (ŷ_j - y_j)²]"], "formula"),
        (["||analytic - numeric|| / (||analytic|| + ||numeric||)"], "formula"),
        (["torch_model = to_torch(model)"], "code"),
        (['lesson = tc.course.start(4, "training a localizer")'], "code"),
        (["python lessons/04_train_localizer.py --quick"], "code"),
        (["y_hat = model.forward(x_batch)           raw output"], "code"),
        (["plane  0 0 0 0 0 | a b c 0 | d  e  f  0", "offset = lead + 4"], "code"),
        (['{"boxes": (G, 4) float32,  "labels": (G,) int64}'], "code"),
        (["[b_x, b_y, b_h, b_w]     (note: height before width)"], "code"),
        (["4 x [conv 3x3 -> BatchNorm -> ReLU -> max-pool 2x2]"], "code"),
        (["1. match the detections to the truth;", "2. average p."], "list"),
    ],
)
def test_formulas_are_told_from_code(plain_math, lines, kind):
    assert plain_math.formula_kind(lines) == kind


@pytest.mark.parametrize(
    ("sentence", "formulas"),
    [
        (
            "any size, and their derivatives are short: dBCE/dz = σ(z) - p and dCE/dz = "
            "softmax(z) - c.",
            [r"\mathrm{dBCE}/dz=\sigma(z)-p", r"\mathrm{dCE}/dz=\mathrm{softmax}(z)-c"],
        ),
        (
            "same, whatever the batch holds). ŷ_1 (p_c) and ŷ_6..ŷ_{K+5} (classes) are logits;",
            [r"\hat{y}_{1}", "p_{c}", r"\hat{y}_{6}\ldots\hat{y}_{K+5}"],
        ),
        (
            "evaluation: out = γ_c (x - running_mean_c) / sqrt(running_var_c + eps) + β_c, an "
            "affine map",
            [
                r"\mathrm{out}=\gamma_{c}\,(x-\mathrm{running\_mean}_{c})/"
                r"\sqrt{\mathrm{running\_var}_{c}+\varepsilon}+\beta_{c}"
            ],
        ),
        ("Per channel c, over the M = N * H * W values of a batch", [r"M=N\cdot H\cdot W"]),
        ("(p_c = 0, all six entries 0) are photograph crops", ["p_{c}=0"]),
        ("- p_c = 1 and c_1..c_K is its class", ["p_{c}=1", r"c_{1}\ldots c_{K}"]),
        (
            "The landmark losses ... on y = [is_face, x_1, ..., y_L], with the",
            [r"y=[\mathrm{is\_face},x_{1},\ldots,y_{L}]"],
        ),
        ("(black = that channel's lowest value, white = its highest).", []),
        ("Max pooling over k x k windows with stride s (default s = k), no padding.", ["s=k"]),
        ("x: (N, in), W: (in, out) -> out: the layer", []),
    ],
)
def test_formulas_in_a_sentence_become_inline_math(plain_math, sentence, formulas):
    pieces = plain_math.inline_formulas(sentence)
    assert [text for kind, text in pieces if kind == "math"] == formulas
    position = 0
    for kind, text in pieces:  # the sentence around them is kept, in order
        if kind == "text":
            assert sentence.find(text, position) >= position, text
            position = sentence.find(text, position) + len(text)


def latex_is_well_formed(latex, aligned=True):
    """Balanced braces, `_`/`^` always with a braced script, specials escaped, known commands
    (and no `&` but the alignment points of a block)."""
    depth = 0
    unescaped = re.sub(r"\\(?:[a-zA-Z]+\*?|.)", "", latex)
    assert aligned or "&" not in unescaped, latex
    for character in unescaped:
        depth += {"{": 1, "}": -1}.get(character, 0)
        assert depth >= 0, latex
    assert depth == 0, latex
    assert not set(unescaped) & set("#$%~"), latex
    assert not re.search(r"[_^](?!\{)", unescaped), latex
    commands = set(re.findall(r"\\([a-zA-Z]+)", latex))
    allowed = {
        name.strip("\\").rstrip("*")
        for name in re.findall(r"\\[a-zA-Z]+\*?", " ".join(plain_math_commands()))
    }
    assert commands <= allowed, commands - allowed
    assert not latex.rstrip().endswith("$$"), latex


def plain_math_commands():
    """Every LaTeX command the translator may write (read from its source)."""
    return re.findall(r"\\[a-zA-Z]+\*?", (DOCS / "_ext" / "plain_math.py").read_text("utf-8")) + [
        "\\begin",
        "\\end",
        "\\aligned",
    ]


@given(st.text(max_size=80))
@settings(max_examples=300, deadline=None)
def test_any_text_gives_well_formed_latex(plain_math, text):
    latex_is_well_formed(plain_math.to_latex(text), aligned=False)


FORMULA_ALPHABET = st.sampled_from(
    list("xyzWbcdk0129 _^()[]{},.;:+-*/=<>|'\"#$%&~\\!?@`")
    + [
        "Σ",
        "σ",
        "γ",
        "β",
        "ŷ",
        "x̂",
        "²",
        "₂",
        "−",
        "·",
        "≈",
        "∩",
        "sum_",
        "sqrt(",
        "log ",
        "e^(",
        "..",
        "->",
        "<-",
        "  ",
        "mean_c",
        "x_pad",
        "eps",
        "(note this)",
        "é",
        "\t",
        "\x00",
    ]
)


DOCSTRING_LINES = st.lists(
    st.tuples(
        st.sampled_from(["", "    ", "  ", "- ", "1. "]), st.lists(FORMULA_ALPHABET, max_size=20)
    ).map(lambda line: line[0] + "".join(line[1])),
    max_size=8,
)


@given(DOCSTRING_LINES)
@example(lines=["$$"])  # a dollar sign in running text once opened a display that never closed
@example(lines=["costs $5, then $6"])
@settings(max_examples=300, deadline=None)
def test_any_docstring_gives_markdown_with_well_formed_math(machinery, lines):
    """Whatever a docstring holds, its Markdown opens and closes every display, and its math is
    well-formed LaTeX."""
    markdown = machinery.plain_text_to_markdown(lines)
    fences = [line.strip() for line in markdown if line.strip() == "$$"]
    assert len(fences) % 2 == 0, markdown
    text = "\n".join(markdown)
    for latex in re.findall(r"^ *\$\$\n(.*?)\n *\$\$$", text, flags=re.S | re.M):
        latex_is_well_formed(latex)


@given(st.lists(st.lists(FORMULA_ALPHABET, max_size=30).map("".join), min_size=1, max_size=4))
@settings(max_examples=300, deadline=None)
def test_formula_like_text_gives_well_formed_latex(plain_math, lines):
    """Notation mixed at random (brackets unbalanced, scripts dangling, specials everywhere)."""
    latex_is_well_formed(plain_math.to_latex_block(lines))
    for line in lines:
        latex_is_well_formed(plain_math.to_latex(line), aligned=False)
        plain_math.formula_kind([line])  # never raises
        plain_math.is_display_line(line)
        for kind, piece in plain_math.inline_formulas(line):
            if kind == "math":
                latex_is_well_formed(piece, aligned=False)


# The README's code, as a reader pastes it: every python block in order, in one namespace, on
# smaller data (each replacement must still find its text, so that this list follows the README).
SMALLER_README_DATA = {
    "(10_000,": "(64,",
    "(1_000,": "(16,",
    "(4_000,": "(32,",
    "(500,": "(8,",
    "epochs=5": "epochs=1",
    "epochs=10": "epochs=1",
}


def test_the_readmes_code_runs_as_written_on_smaller_data(tmp_path, monkeypatch):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)\n```", readme, flags=re.S)
    assert blocks, "the README shows no python code"
    for big in SMALLER_README_DATA:
        assert any(big in block for block in blocks), f"the README no longer says {big!r}"
    monkeypatch.chdir(tmp_path)  # it saves a model in the working directory
    namespace = {}
    for block in blocks:
        for big, small in SMALLER_README_DATA.items():
            block = block.replace(big, small)
        exec(compile(block, "README.md", "exec"), namespace)
    assert (tmp_path / "localizer.npz").exists()


@pytest.mark.parametrize("value", ["1", "true", "Yes", "0", "", "no", "on", "2"])
def test_the_site_and_the_lessons_read_the_quick_variable_alike(machinery, value, monkeypatch):
    """One rule for TINYCNN_DOCS_QUICK: a value the lessons refuse stops the build too, instead
    of the site running lessons as --quick that a reader's run would refuse."""
    from tinycnn.course import quick_from_environment

    monkeypatch.setenv("TINYCNN_DOCS_QUICK", value)
    try:
        expected = quick_from_environment()
    except ValueError:
        with pytest.raises(ValueError, match="TINYCNN_DOCS_QUICK must be 1"):
            machinery.quick_mode()
        return
    assert machinery.quick_mode() is expected
