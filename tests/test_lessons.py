"""The lessons: each runs from start to end as a script and as a Jupyter notebook.

Every numbered lesson in lessons/ is run as a learner would run it, on tiny data (`--quick`, or
TINYCNN_DOCS_QUICK=1 as the docs build sets it):

- as a script in its own Python process, started from another working directory: its figures
  and files must land in `output/quick/` beside the lesson (a quick run's own folder), not in the
  working directory;
- as a notebook: converted with jupytext and executed with nbclient in a Jupyter kernel, where
  every figure it saves must also be shown inline, with no warning and a bounded number of
  progress-bar outputs.

Lessons that need an optional package (scikit-image) are skipped where it is missing.
"""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
LESSONS = sorted((REPOSITORY / "lessons").glob("[0-9][0-9]_*.py"))

EXPECTED_FILES = {
    "01": ["01_scenes.png", "01_box_anatomy.png", "01_faces.png"],
    "02": ["02_loss_terms.png", "02_why_cross_entropy.png"],
    "03": ["03_vertical_edge.png", "03_filters_on_a_scene.png"],
    "04": ["localizer.npz", "04_metrics.json", "04_training_curves.png", "04_squared_loss.png"],
    "05": ["landmarks.npz", "05_metrics.json", "05_training_curves.png"],
    "06": ["06_speedup.png"],
}
"""Files some lessons must write, by lesson number. Every lesson also writes a PNG."""

OPTIONAL_PACKAGES = {"skimage": "scikit-image"}
"""Import names of the optional packages a lesson may need, and what pip calls them. A lesson
needs one when its text names it either way (it may reach it through tinycnn, e.g. the real
photos of lesson 9 through `tinycnn.data`)."""

NEEDS = {"09": ["skimage"]}
"""Optional packages of lessons that may not name them, by lesson number."""

TIMEOUT = 300
"""Seconds a quick run may take before it counts as hung: generous, since a cold numba cache
compiles for a while, and other programs may share the cores."""

MAX_STREAM_OUTPUTS = 200
"""A notebook's text outputs, at most: progress bars that redraw too often would store
thousands (a notebook of hundreds of KB)."""

CELL_MARKER = re.compile(r"# %%(?: \[markdown\])?(?: .*)?")
"""A jupytext percent cell: `# %%` (code) or `# %% [markdown]`, perhaps followed by a title."""


def lesson_id(lesson):
    return lesson.stem


def skip_without_its_packages(lesson):
    source = lesson.read_text(encoding="utf-8")
    for module, package in OPTIONAL_PACKAGES.items():
        needed = module in source or package in source or module in NEEDS.get(lesson.name[:2], [])
        if needed and importlib.util.find_spec(module) is None:
            pytest.skip(f"{lesson.name} needs {package}, which is not installed")


def quick_environment():
    """The environment of a quick run: tinycnn importable from this checkout, no display."""
    python_path = os.pathsep.join(filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": python_path, "TINYCNN_DOCS_QUICK": "1"}


def check_written(lesson, out):
    written = {path.name for path in out.iterdir()} if out.is_dir() else set()
    missing = [name for name in EXPECTED_FILES.get(lesson.name[:2], []) if name not in written]
    assert not missing, f"{lesson.name} did not write {missing} (it wrote {sorted(written)})"
    pngs = sorted(out.glob("*.png"))
    assert pngs, f"{lesson.name} wrote no figure (it wrote {sorted(written)})"
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{png.name} is not a PNG file"
    return pngs


def test_the_lessons_are_found():
    numbers = {lesson.name[:2] for lesson in LESSONS}
    assert {"01", "02", "03", "04", "05", "06"} <= numbers, [path.name for path in LESSONS]


@pytest.mark.parametrize("lesson", LESSONS, ids=lesson_id)
def test_lesson_runs_as_a_script_from_any_folder(lesson, tmp_path):
    skip_without_its_packages(lesson)
    folder, elsewhere = tmp_path / "lessons", tmp_path / "elsewhere"
    folder.mkdir()
    elsewhere.mkdir()
    copy = folder / lesson.name
    shutil.copy(lesson, copy)
    result = subprocess.run(
        [sys.executable, str(copy)],
        cwd=elsewhere,
        env=quick_environment(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, (
        f"{lesson.name} exited with {result.returncode}:\n{result.stdout[-2000:]}\n"
        f"{result.stderr[-4000:]}"
    )
    check_written(lesson, folder / "output" / "quick")
    assert not list((folder / "output").glob("*.*")), "a quick run wrote beside a full run's files"
    assert not list(elsewhere.iterdir()), "the lesson wrote into the working directory"
    assert re.search(r"lesson \d+ took \d+ s", result.stdout), "the lesson did not say its time"


def test_out_chooses_the_folder(tmp_path):
    out = tmp_path / "figures" / "here"  # not there yet: the lesson must create it
    lesson = REPOSITORY / "lessons" / "01_output_vector.py"
    subprocess.run(
        [sys.executable, str(lesson), "--quick", "--out", str(out)],
        cwd=tmp_path,
        env=quick_environment(),
        check=True,
        capture_output=True,
        timeout=TIMEOUT,
    )
    check_written(lesson, out)


@pytest.mark.parametrize("lesson", LESSONS, ids=lesson_id)
def test_lesson_runs_as_a_notebook_with_its_figures_inline(lesson, tmp_path, monkeypatch):
    skip_without_its_packages(lesson)
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    for name, value in quick_environment().items():
        monkeypatch.setenv(name, value)  # the kernel inherits them
    notebook = jupytext.read(lesson)
    client = nbclient.NotebookClient(
        notebook,
        timeout=TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working directory
    )
    client.execute()
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    pngs = check_written(lesson, tmp_path / "output" / "quick")
    assert len(images) >= len(pngs), (
        f"{lesson.name} saved {len(pngs)} figures but showed {len(images)} inline"
    )
    stderr = [output["text"] for output in outputs if output.get("name") == "stderr"]
    assert not stderr, f"{lesson.name} wrote to stderr in the notebook: {stderr[:3]}"
    streams = [output for output in outputs if output["output_type"] == "stream"]
    assert len(streams) <= MAX_STREAM_OUTPUTS, f"{lesson.name}: {len(streams)} text outputs"
    texts = [
        output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
        for output in outputs
    ]
    assert not [text for text in texts if "Warning" in text], f"{lesson.name} warned"
    stray = [
        output["data"]["text/plain"]
        for output in outputs
        if output["output_type"] == "execute_result" and "image/png" not in output["data"]
    ]
    assert not stray, f"{lesson.name} leaves stray Out[] values: {stray}"


@pytest.mark.parametrize("lesson", LESSONS, ids=lesson_id)
def test_lesson_is_a_percent_notebook(lesson):
    source = lesson.read_text(encoding="utf-8")
    lines = source.splitlines()
    assert CELL_MARKER.fullmatch(lines[0]), f"{lesson.name} must start with a cell: `# %%`"
    cells, kinds = [], []
    for line in lines:
        if CELL_MARKER.fullmatch(line):
            kinds.append("markdown" if "[markdown]" in line else "code")
            cells.append([])
        else:
            cells[-1].append(line)
    assert "markdown" in kinds, f"{lesson.name} has no markdown cell to teach with"
    assert "code" in kinds, f"{lesson.name} has no code cell"
    for kind, cell in zip(kinds, cells, strict=True):
        if kind == "markdown":
            # Jupytext reads a markdown cell from comment lines; code there would be lost.
            stray = [line for line in cell if line and not line.startswith("#")]
            assert not stray, f"{lesson.name}: markdown lines that are not comments: {stray}"
        else:
            assert any(line.strip() for line in cell), f"{lesson.name} has an empty code cell"
    compile(source, lesson.name, "exec")
