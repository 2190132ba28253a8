"""The site's own Sphinx extension: lessons as gallery pages, generated pages, figure scraping.

sphinx-gallery renders a script of `# %%` cells as a page with its output and figures, which is
what the lessons need. Two things do not fit as they are, and this module bridges them:

- The lessons are jupytext percent notebooks: their prose cells (`# %% [markdown]`) hold
  Markdown, while sphinx-gallery reads the comments of a text cell as reStructuredText and wants
  the file to open with a docstring holding the title. So before the gallery runs,
  `convert_lesson` writes a gallery twin of every lesson into `docs/_lesson_sources/`: the code
  cells byte for byte, each Markdown heading as a reST title (so the page has real sections and
  a table of contents), and the rest of each prose cell inside a `.. markdown::` directive
  (`MarkdownDirective`) that hands it to MyST, the Markdown parser Sphinx already uses. Markdown
  is therefore rendered by a Markdown parser, never translated by hand, and `$...$` / `$$...$$`
  render as math. After the gallery has run, the downloads beside each page are put back to the
  learner's files: the lesson itself as the `.py`, and jupytext's notebook of it as the `.ipynb`
  (the same notebook Jupyter opens from the script, Markdown cells as written).
- The lessons draw on matplotlib `Figure` objects, not pyplot, and show a figure by ending a cell
  with it, as in Jupyter. sphinx-gallery's matplotlib scraper only sees pyplot's figures, so
  `FigureScraper` also saves a `Figure` that is a cell's last expression.

It also writes the generated pages (API reference, benchmarks, landing-page excerpt of the README,
ARCHITECTURE.md when it exists) into `docs/_generated/` and `docs/api/`, so that they follow the
repository as it is: a new module, lesson or benchmark chart appears without editing the docs.

The API reference shows the docstrings' formulas as math, while the docstrings stay written for
plain text (`help()`): `markdown_docstrings` reads each docstring as Markdown, and
`plain_text_to_markdown` turns every formula it finds (an indented block, a hanging-indent
paragraph, a line of its own, a statement inside a sentence) into MathJax math, translated by
`plain_math` (next to this file) from the plain-text notation into LaTeX; code, diagrams and
lists stay what they are. Why a translator of our own rather than MathJax's AsciiMath input,
which the offline MathJax bundle also holds: AsciiMath reads a name of several letters as a
product of italic letters (`mean` as m·e·a·n, `x_pad` as x_p·a·d), knows neither `eps` nor
`sum_{c,di,dj}` nor `mean_c` as the docstrings mean them, and would need a second input
processor and its own delimiters beside the TeX that Sphinx writes for the lessons' `$...$`. The
translator is short, knows the house notation (hats, Greek letters, `Σ_k`, indexing brackets,
`x̂`, `W.T`), is tested on the real formulas and, with hypothesis, on any text (it never raises
and always writes valid LaTeX), and the browser test checks that MathJax typesets every API
page without an error.
"""

import ast
import importlib
import inspect
import logging
import pkgutil
import re
import shutil
import textwrap
from pathlib import Path

import plain_math
from docutils import nodes
from docutils.utils import new_document
from sphinx.util.docutils import SphinxDirective

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
LESSONS = ROOT / "lessons"
LESSON_SOURCES = DOCS / "_lesson_sources"
"""The gallery twins of the lessons (generated, ignored by git)."""
GALLERY = DOCS / "auto_lessons"
"""Where sphinx-gallery writes the lesson pages, notebooks and images (generated, ignored)."""
GENERATED = DOCS / "_generated"
API = DOCS / "api"

LESSON_NAME = re.compile(r"[0-9][0-9]_\w+\.py")
CELL_MARKER = re.compile(r"# %%(?P<rest>.*)")
HEADING = re.compile(r"(?P<hashes>#{1,6}) +(?P<title>.+?) *#*$")
TITLE_UNDERLINES = {1: "=", 2: "-", 3: "^", 4: '"', 5: "'", 6: "~"}


def quick_mode():
    """True when TINYCNN_DOCS_QUICK asks for a quick build (lessons run as `--quick`), read by
    the rule the lessons read it with (`tinycnn.course.quick_from_environment`): one rule, so
    that the site and a lesson never disagree about a value (an unreadable one stops both)."""
    from tinycnn.course import quick_from_environment

    return quick_from_environment()


def lesson_files():
    """Every numbered lesson, in order: a new `lessons/NN_name.py` is picked up by itself."""
    return sorted(
        path for path in LESSONS.glob("[0-9][0-9]_*.py") if LESSON_NAME.fullmatch(path.name)
    )


# --- lessons: jupytext percent script -> sphinx-gallery script ---------------------------------


def split_cells(source):
    """Split a jupytext percent script into [(kind, lines)], kind "markdown" or "code"."""
    cells = []
    for line in source.splitlines():
        marker = CELL_MARKER.fullmatch(line)
        if marker:
            kind = "markdown" if "[markdown]" in marker.group("rest") else "code"
            cells.append((kind, []))
        elif cells:
            cells[-1][1].append(line)
        elif line.strip():
            cells.append(("code", [line]))  # code before the first marker
    return cells


def markdown_text(lines):
    """The Markdown of a jupytext markdown cell: its comment lines without the `# `."""
    text = []
    for line in lines:
        if line.startswith("# "):
            text.append(line[2:])
        elif line.startswith("#"):
            text.append(line[1:])
        else:
            text.append(line)
    while text and not text[-1].strip():
        text.pop()
    while text and not text[0].strip():
        text.pop(0)
    return text


def markdown_to_rest(lines):
    """reST for one Markdown cell: headings as reST titles, everything else handed to MyST.

    Headings become reST titles so the sections nest in the page (and its table of contents);
    the Markdown between them goes, unchanged, into a `.. markdown::` directive. A `#` inside a
    fenced code block is code, not a heading.
    """
    rest, chunk, fenced = [], [], False

    def flush():
        while chunk and not chunk[-1].strip():
            chunk.pop()
        while chunk and not chunk[0].strip():
            chunk.pop(0)
        if chunk:
            rest.extend([".. markdown::", ""])
            rest.extend(f"   {line}" if line.strip() else "" for line in chunk)
            rest.append("")
        chunk.clear()

    for line in lines:
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        heading = None if fenced else HEADING.fullmatch(line)
        if heading:
            flush()
            title = heading.group("title")
            underline = TITLE_UNDERLINES[len(heading.group("hashes"))]
            rest.extend([title, underline * max(len(title), 4), ""])
        else:
            chunk.append(line)
    flush()
    return rest


def convert_lesson(source):
    """The sphinx-gallery twin of a jupytext percent lesson (see the module docstring).

    The first Markdown cell becomes the docstring (sphinx-gallery takes the page title from it);
    every code cell is kept exactly, after a bare `# %%` and an empty line (so that a comment
    opening the cell stays code instead of becoming prose).
    """
    cells = split_cells(source)
    if not cells or cells[0][0] != "markdown":
        raise ValueError("a lesson must open with a Markdown cell holding its title (# Title)")
    text = markdown_text(cells[0][1])
    if not text or not text[0].startswith("# "):
        raise ValueError("a lesson's first Markdown cell must start with its title (# Title)")
    intro = markdown_to_rest(text)
    docstring = "\n".join(intro).rstrip() + "\n"
    if "'''" in docstring or docstring.endswith("\\"):
        raise ValueError("a lesson's first Markdown cell may not hold ''' or end in a backslash")
    parts = [f"r'''\n{docstring}'''\n"]
    for kind, lines in cells[1:]:
        if kind == "markdown":
            text = markdown_to_rest(markdown_text(lines))
            parts.append("# %%\n" + "".join(f"# {line}".rstrip() + "\n" for line in text))
        else:
            code = "\n".join(lines).strip("\n")
            if code:
                parts.append(f"# %%\n\n{code}\n")
    return "\n".join(parts)


def write_lesson_sources():
    """Write the gallery twins of all lessons into docs/_lesson_sources/, fresh every build."""
    shutil.rmtree(LESSON_SOURCES, ignore_errors=True)
    LESSON_SOURCES.mkdir(parents=True)
    (LESSON_SOURCES / "GALLERY_HEADER.rst").write_text(
        "The lessons\n===========\n\n"
        "The course, one lesson a page: the prose, the code and what it prints and draws. Each "
        "page ends with links to the lesson as a script (``.py``, what ``python lessons/...`` "
        "runs) and as a Jupyter notebook (``.ipynb``). In the repository they are "
        "``lessons/NN_name.py``, jupytext percent scripts that open as notebooks too.\n",
        encoding="utf-8",
    )
    for lesson in lesson_files():
        try:
            twin = convert_lesson(lesson.read_text(encoding="utf-8"))
        except ValueError as error:
            raise ValueError(f"{lesson}: {error}") from None
        (LESSON_SOURCES / lesson.name).write_text(twin, encoding="utf-8")


def terminal_lines(rest):
    """A progress bar redraws its line with carriage returns: keep what a terminal would show.

    Captured output holds every redraw of tqdm's bar on one line, separated by carriage returns;
    the page shows only the last one, as a terminal (or Jupyter) does.
    """
    lines = []
    for line in rest.split("\n"):
        if "\r" in line:
            # The block's indentation: sphinx-gallery indents each redraw, tqdm's first write
            # starts with a carriage return; the first redraw shows how deep the block sits.
            drawn = [part for part in line.split("\r") if part.strip()]
            indent = drawn[0][: len(drawn[0]) - len(drawn[0].lstrip(" "))] if drawn else ""
            line = indent + drawn[-1].lstrip(" ") if drawn else ""
        lines.append(line)
    return "\n".join(lines)


def after_the_gallery(app):
    """The learner's own files behind each page's download links, and tidy printed output."""
    import jupytext
    import nbformat
    from sphinx_gallery.gen_rst import zip_files

    if not GALLERY.is_dir():
        return
    for lesson in lesson_files():
        script = GALLERY / lesson.name
        if not script.exists():
            continue
        page = script.with_suffix(".rst")
        # Bytes, not text: reading text would already have turned each carriage return into a
        # line break.
        rest = terminal_lines(page.read_bytes().decode("utf-8"))
        page.write_bytes(rest.encode("utf-8"))
        shutil.copyfile(lesson, script)
        notebook = jupytext.read(lesson, fmt="py:percent")
        # As in every sphinx-gallery notebook: Jupyter shows a matplotlib Figure that ends a cell
        # as a picture once the inline backend is on; without pyplot, nothing else turns it on.
        notebook.cells.insert(0, nbformat.v4.new_code_cell("%matplotlib inline"))
        notebook.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        notebook.metadata.get("jupytext", {}).pop("text_representation", None)
        jupytext.write(notebook, script.with_suffix(".ipynb"), fmt="ipynb")
        zip_files(
            [str(script), str(script.with_suffix(".ipynb"))],
            str(script.with_suffix(".zip")),
            str(GALLERY),
        )


class MarkdownDirective(SphinxDirective):
    """`.. markdown::` parses its content as MyST Markdown (the lessons' prose cells)."""

    has_content = True

    def run(self):
        from myst_parser.parsers.sphinx_ import MystParser

        document = new_document(self.get_source_info()[0], self.state.document.settings)
        # Headings here become rubrics (below), so their levels do not matter: a docstring may
        # well open with an underlined heading that Markdown reads as H2, which MyST reports as
        # not starting at H1. Only that report is dropped, and only while this content is parsed
        # (Sphinx holds warnings back while it reads, so the filter sits on MyST's own logger).
        myst_logger = logging.getLogger("sphinx.myst_parser.warnings_")
        myst_logger.addFilter(drop_heading_levels)
        try:
            MystParser().parse("\n".join(self.content), document)
        finally:
            myst_logger.removeFilter(drop_heading_levels)
        for message in list(document.findall(nodes.system_message)):
            if "[myst.header]" in message.astext():
                message.parent.remove(message)
        return flatten_sections(document.children) or [nodes.comment()]


def drop_heading_levels(record):
    """False for MyST's heading-level warning (a `logging` filter)."""
    return not (
        getattr(record, "type", "") == "myst" and getattr(record, "subtype", "") == "header"
    )


def flatten_sections(children):
    """A heading inside the directive (a docstring's underlined line, say) becomes a rubric.

    Sections cannot sit inside a directive's output; the lessons' own headings never get here,
    `markdown_to_rest` makes them reST titles.
    """
    flat = []
    for child in children:
        if isinstance(child, nodes.section):
            title = child.next_node(nodes.title)
            flat.append(nodes.rubric(title.astext(), title.astext()))
            flat.extend(flatten_sections([c for c in child.children if c is not title]))
        else:
            flat.append(child)
    return flat


# --- figures: a Figure as a cell's last expression -------------------------------------------


def last_statement_is_expression(code):
    try:
        body = ast.parse(code).body
    except SyntaxError:
        return False
    return bool(body) and isinstance(body[-1], ast.Expr)


class FigureScraper:
    """Scrape a matplotlib `Figure` that ends a cell, as Jupyter shows it.

    sphinx-gallery evaluates a cell's last expression into `___`; when that is a Figure (made
    with `matplotlib.figure.Figure`, so pyplot does not know it), it is saved as the cell's image.
    Figures that pyplot manages are left to sphinx-gallery's own matplotlib scraper, which runs
    too, so a figure is never shown twice.
    """

    def __repr__(self):
        return "FigureScraper"  # a stable repr: Sphinx compares configurations by it

    def __call__(self, block, block_vars, gallery_conf):
        from matplotlib.figure import Figure
        from sphinx_gallery.scrapers import figure_rst

        if not last_statement_is_expression(block.content):
            return ""
        figure = block_vars["example_globals"].get("___")
        if not isinstance(figure, Figure) or figure.canvas.manager is not None:
            return ""
        path = next(block_vars["image_path_iterator"])
        figure.savefig(path, dpi=100)
        return figure_rst([path], gallery_conf["src_dir"])


figure_scraper = FigureScraper()


class LessonArguments:
    """The command line each lesson sees: `--out` into the build folder, `--quick` if asked."""

    out = None  # set when the build starts: <output folder>/../lesson_output

    def __repr__(self):
        return "LessonArguments"

    def __call__(self, gallery_conf, script_vars):
        arguments = ["--quick"] if quick_mode() else []
        return [*arguments, "--out", str(LessonArguments.out)]


lesson_arguments = LessonArguments()


# --- generated pages: README excerpt, benchmarks, architecture, API reference ----------------


def write_if_changed(path, text):
    """Write a generated page only when it changed, so Sphinx rebuilds only what changed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def readme_opening():
    """The README up to its second section: what tinycnn is and the commands of a fresh machine."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    sections = [i for i, line in enumerate(lines) if line.startswith("## ")]
    end = sections[1] if len(sections) > 1 else len(lines)
    return "\n".join(lines[:end]).rstrip() + "\n"


def write_generated_pages():
    GENERATED.mkdir(exist_ok=True)
    write_if_changed(GENERATED / "readme_opening.md", readme_opening())

    results = ROOT / "benchmarks" / "results"
    charts = sorted(chart.relative_to(results).as_posix() for chart in results.rglob("*.png"))
    page = [
        "# Benchmarks",
        "",
        "```{include} ../../benchmarks/README.md",
        ":relative-images:",
        ":relative-docs: ../",
        ":start-line: 1",
        "```",
        "",
    ]
    if charts:
        page += [
            "## The charts",
            "",
            "The charts of the last recorded runs, from `benchmarks/results/` (the Zen 4's; a "
            "Zen 2's in `zen2/`):",
            "",
        ]
        for chart in charts:
            page += [
                f"```{{figure}} ../../benchmarks/results/{chart}",
                f":alt: {chart}",
                "",
                f"`{chart}`",
                "```",
                "",
            ]
    write_if_changed(GENERATED / "benchmarks.md", "\n".join(page))

    architecture = GENERATED / "architecture.md"
    if (ROOT / "ARCHITECTURE.md").exists():
        write_if_changed(
            architecture,
            "```{include} ../../ARCHITECTURE.md\n:relative-images:\n:relative-docs: ../\n```\n",
        )
    elif architecture.exists():
        architecture.unlink()


def public_modules():
    """Every module of tinycnn, packages first: `tinycnn`, `tinycnn.boxes`, ..."""
    import tinycnn

    names = ["tinycnn"]
    for module in pkgutil.walk_packages(tinycnn.__path__, "tinycnn."):
        if not any(part.startswith("_") for part in module.name.split(".")):
            names.append(module.name)
    return sorted(names)


def public_members(module_name):
    """The public classes and functions a module defines itself (not those it imports).

    numba's `@njit` functions count: they are dispatchers around a Python function.
    """
    module = importlib.import_module(module_name)
    members = []
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        function = getattr(value, "py_func", value)
        if (inspect.isclass(value) or inspect.isfunction(function)) and getattr(
            function, "__module__", None
        ) == module_name:
            members.append(name)
    return members


def top_level_table():
    """The names `tinycnn` exports, each linked to where it is documented."""
    import tinycnn

    rows = [
        "",
        ".. list-table:: What ``import tinycnn as tc`` gives",
        "   :header-rows: 1",
        "",
        "   * - name",
        "     - what it is",
    ]
    for name in tinycnn.__all__:
        value = getattr(tinycnn, name)
        if inspect.ismodule(value):
            target, role = value.__name__, "mod"
        else:
            target = f"{value.__module__}.{value.__qualname__}"
            role = "class" if inspect.isclass(value) else "func"
        summary = (inspect.getdoc(value) or "").split("\n\n")[0].replace("\n", " ")
        rows += [f"   * - :py:{role}:`tc.{name} <{target}>`", f"     - {rest_summary(summary)}"]
    return rows


def rest_summary(summary):
    """A docstring's first paragraph as reST: `code` as literal, its formulas as math."""
    if not summary:
        return "-"
    parts = []
    for index, span in enumerate(summary.split("`")):
        if index % 2:
            parts.append(f"``{span}``")
            continue
        for kind, piece in plain_math.inline_formulas(span):
            if kind == "math" and "`" not in piece:
                parts.append(f"\\ :math:`{piece}`\\ ")  # `\ `: math may touch the text
            else:
                parts.append(piece)
    return "".join(parts)


def write_api_pages():
    """One page per module: its docstring, then every public class and function it defines."""
    API.mkdir(exist_ok=True)
    wanted = set()
    for module_name in public_modules():
        title = f"``{module_name}``"
        page = [
            title,
            "=" * len(title),
            "",
            f".. automodule:: {module_name}",
            "   :members:",
            "   :undoc-members:",
            "   :show-inheritance:",
            "   :ignore-module-all:",
            "   :member-order: bysource",
            "",
        ]
        if module_name == "tinycnn":
            page += top_level_table() + [""]
        wanted.add(f"{module_name}.rst")
        write_if_changed(API / f"{module_name}.rst", "\n".join(page))
    for stale in API.glob("*.rst"):
        if stale.name not in wanted:
            stale.unlink()


# --- docstrings: written as plain text, read as Markdown -----------------------------------


RESTRUCTUREDTEXT = re.compile(r"\s*(:\w[^:]*:|\.\. \S)")
"""A field or a directive: what napoleon makes of Google/NumPy sections, or reST by hand."""


def markdown_docstrings(app, what, name, obj, options, lines):
    """Read tinycnn's docstrings as Markdown, which is how they are written, formulas as math.

    They are written to be read in plain text (`help()`, an editor): `code` in single backticks,
    `- ` lists straight after a sentence, and formulas as indented blocks after a blank line,
    aligned by hand, or as lines of their own. Read as reST, those blocks would become block
    quotes or definition lists, and a `*` in them may open emphasis; read as Markdown (MyST),
    with `plain_text_to_markdown` turning each formula into display math (`$$`), they read as a
    textbook page. A docstring that holds reST fields or directives (NumPy or Google sections,
    which napoleon turns into fields first, or reST by intent) stays reST.
    """
    if what in ATTRIBUTES and name in WRITTEN:
        lines[:] = WRITTEN.pop(name)
    if not any(line.strip() for line in lines):
        return
    if any(RESTRUCTUREDTEXT.match(line) for line in lines):
        return
    lines[:] = [".. markdown::", ""] + [
        f"   {line}" if line.strip() else "" for line in plain_text_to_markdown(lines)
    ]


ATTRIBUTES = ("attribute", "data", "property")
WRITTEN = {}
"""An attribute's docstring as written, kept from napoleon (see `keep_attribute_docstring`)."""


def keep_attribute_docstring(app, what, name, obj, options, lines):
    """Keep an attribute's docstring from napoleon, which reads its first colon as a type.

    napoleon reads `Target columns holding an x coordinate: b_x.` as the type "Target
    columns holding an x coordinate" and the text "b_x."; tinycnn's attribute docstrings are
    sentences, so the docstring goes to `markdown_docstrings` as written (run before napoleon,
    this keeps it; run after, `markdown_docstrings` puts it back).
    """
    if what in ATTRIBUTES:
        WRITTEN[name] = list(lines)


INTRAWORD_STAR = re.compile(r"(?<=[\w)\]])\*(?=[\w(\[])")
"""`s*i`, `n*rows`: a product in plain text, which Markdown would read as emphasis."""

LABEL = re.compile(r"[a-z]+( \(.*\))?:")
"""`evaluation (...):`, `backward:`: a line that opens a statement of its own."""
LIST_ITEM = re.compile(r" *(?:[-*+]|\d+\.) ")
"""The start of a Markdown list item; what follows it is the item's margin."""


def indent_of(line):
    return len(line) - len(line.lstrip())


BLOCK_LABEL = re.compile(r"(?P<label>(?:[a-z]{3,}|[a-z]+ \([^()]*\)):) +(?=\S)")
"""`backward: dW = ...`: the label of a block of formulas, written before its first line."""


def display_math(lines):
    """Markdown display math ($$) for formula lines, typeset by `plain_math`.

    A label before the first line only (`backward: dW = ...`, the lines below aligned under
    `dW`) is set as text above the formulas, so that they align among themselves.
    """
    lines = textwrap.dedent("\n".join(lines)).split("\n")
    label = BLOCK_LABEL.match(lines[0])
    head = []
    if label and not any(BLOCK_LABEL.match(line.strip()) for line in lines[1:]):
        head = ["", label.group("label"), ""]
        lines = [lines[0][label.end() :], *(line.strip() for line in lines[1:])]
    remark = next((i for i, line in enumerate(lines) if plain_math.is_remark_line(line)), None)
    if remark is not None:  # a remark of a line's width reads as text, between the formulas
        before, after = lines[:remark], lines[remark + 1 :]
        return [
            *head,
            *(display_math(before) if before else []),
            "",
            *prose([lines[remark].strip()]),
            "",
            *(display_math(after) if after else []),
        ]
    latex = plain_math.to_latex_block(lines)
    return [*head, "", "$$", *latex.split("\n"), "$$", ""]


def prose(lines):
    """Running text: its formulas as inline math, `*` between two word characters as a product.

    `plain_math.inline_formulas` finds the formulas of a sentence (`p_c = 1`, `ŷ_1`,
    `dBCE/dz = σ(z) - p`); outside them and outside `code`, a `*` between two word characters
    (`s*i`) is escaped, as Markdown would read it as emphasis, and so is every `$`, which would
    open math (a line of `$$` alone, a display that never closes).
    """
    result = []
    for line in lines:
        spans = line.split("`")
        for index in range(0, len(spans), 2):
            spans[index] = "".join(
                f"${piece}$" if kind == "math" else plain_text(piece)
                for kind, piece in plain_math.inline_formulas(spans[index])
            )
        result.append("`".join(spans))
    return result


def plain_text(text):
    """Text outside math and code, with what Markdown would misread escaped: `*` between word
    characters, and `$`."""
    return INTRAWORD_STAR.sub(r"\\*", text).replace("$", r"\$")


def block(lines, margin=0):
    """An indented block: display math if it is a formula, a list if it is one, else code.

    `margin` is the indentation of the list item the block belongs to (it stays inside it).
    """
    kind = plain_math.formula_kind(lines)
    if kind == "formula":
        shown = display_math(lines)
    elif kind == "list":
        shown = ["", *prose(textwrap.dedent("\n".join(lines)).split("\n")), ""]
    else:
        code = textwrap.dedent("\n".join(lines)).split("\n")
        shown = ["", *(" " * 4 + line for line in code), ""]
    return [" " * margin + line if line.strip() else line for line in shown]


def text_paragraph(lines):
    """A paragraph of running text, its own formula lines (`x_min = b_x - b_w / 2`) as math.

    A run of formula lines becomes display math when it stands as statements of its own: at the
    start of the paragraph or after a line ending in `:` or `.`, and at its end or before a new
    statement (a capital, or a label such as `evaluation:`).
    """
    result, index = [], 0
    while index < len(lines):
        end = index
        while end < len(lines) and plain_math.is_display_line(lines[end]):
            end += 1
        opens = (
            index == 0
            or lines[index - 1].rstrip().endswith((":", "."))
            or LABEL.match(lines[index].lstrip())
        )
        closes = (
            end == len(lines)
            or lines[end - 1].rstrip().endswith((".", ";", ":"))
            or lines[end].lstrip()[:1].isupper()
            or LABEL.match(lines[end].lstrip())
        )
        if end > index and opens and closes:
            result.extend(display_math(lines[index:end]))
            index = end
        else:
            result.extend(prose([lines[index]]))
            index += 1
    return result


def plain_text_to_markdown(lines):
    """The habits of plain-text docstrings, made into the Markdown that shows them as meant.

    - An indented block after a blank line is display math when it is a formula (see
      `plain_math.formula_kind`), a list when it is one (`1. ...`), else code shown as written.
    - A paragraph of formulas with a hanging indent (`backward: dW = ...` and, aligned below it,
      `db = ...`), or a sentence ending in `:` with formulas indented below it, which Markdown
      would run together: the formulas become display math (code, if they are code).
    - A line of running text that is a formula of its own becomes display math.
    - `*` between two word characters is a product (`s*i`), not emphasis: it is escaped, except in
      code (backticks, indented or fenced blocks), where Markdown shows it as written anyway.
    """
    paragraphs, current = [], []
    for line in lines:
        if line.strip():
            current.append(line)
        else:
            paragraphs.append(current)
            paragraphs.append([line])
            current = []
    paragraphs.append(current)

    result, fenced, previous_blank, margin = [], False, True, 0
    for paragraph in paragraphs:
        if not paragraph:
            continue
        if not paragraph[0].strip():
            result.append("")
            previous_blank = True
            continue
        if fenced or paragraph[0].lstrip().startswith(("```", "~~~")):
            for line in paragraph:
                if line.lstrip().startswith(("```", "~~~")):
                    fenced = not fenced
                result.append(line)
            previous_blank = False
            continue
        base = indent_of(paragraph[0])
        text_indent = min((indent_of(line) for line in result if line.strip()), default=base)
        if previous_blank and result and base >= 4 + text_indent:
            result.extend(block(paragraph, margin if base >= margin + 4 else 0))
        else:
            item = LIST_ITEM.match(paragraph[0])
            if item:
                margin = len(item.group())
            elif base < max(margin, 1):
                margin = 0
            # A sentence ending in `:` (or a formula with a hanging indent) and deeper lines.
            head = next(
                (i for i, line in enumerate(paragraph[1:], 1) if indent_of(line) <= base), None
            )
            deeper = head is None and len(paragraph) > 1
            opener = paragraph[0].rstrip().endswith(":") or "=" in paragraph[0]
            if deeper and opener and paragraph[0].rstrip().endswith(":"):
                result.extend(text_paragraph(paragraph[:1]))
                result.extend(block(paragraph[1:]))
            elif deeper and opener and plain_math.formula_kind(paragraph) == "formula":
                result.extend(display_math(paragraph))
            elif deeper and all("=" in line for line in paragraph):
                result.extend(block(paragraph))
            else:
                result.extend(text_paragraph(paragraph))
        previous_blank = False
    while result and not result[-1].strip():
        result.pop()
    return result


# --- wiring ------------------------------------------------------------------------------------


def on_config_inited(app, config):
    """Before anything reads the sources: the gallery twins and the generated pages."""
    LessonArguments.out = Path(app.outdir).parent / "lesson_output"
    LessonArguments.out.mkdir(parents=True, exist_ok=True)
    write_lesson_sources()
    write_generated_pages()
    write_api_pages()


def on_source_read(app, docname, source):
    """List ARCHITECTURE.md in the landing page's contents only when it exists."""
    if docname == "index" and not (GENERATED / "architecture.md").exists():
        source[0] = source[0].replace("_generated/architecture\n", "")


def setup(app):
    app.add_directive("markdown", MarkdownDirective)
    app.connect("config-inited", on_config_inited)
    # After sphinx-gallery's builder-inited handler (priority 500) has written the pages.
    app.connect("builder-inited", after_the_gallery, priority=900)
    app.connect("source-read", on_source_read)
    app.connect("autodoc-process-docstring", keep_attribute_docstring, priority=100)
    app.connect("autodoc-process-docstring", markdown_docstrings, priority=900)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
