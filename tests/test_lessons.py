"""The lessons: each runs from start to end as a script, and each is a jupytext notebook.

Every numbered lesson in lessons/ is run as a learner would run it, in its own Python process,
on tiny data (`--quick`), from a working directory of its own. It must exit cleanly and leave its
files in `--out`: its figures, and for the training lessons the trained model.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

LESSONS = sorted((Path(__file__).resolve().parents[1] / "lessons").glob("[0-9][0-9]_*.py"))

EXPECTED_FILES = {
    "01": ["01_scenes.png", "01_box_anatomy.png", "01_faces.png"],
    "02": ["02_loss_terms.png", "02_why_cross_entropy.png"],
    "03": ["03_vertical_edge.png", "03_filters_on_a_scene.png"],
    "04": ["localizer.npz"],
    "05": ["landmarks.npz"],
    "06": ["06_speedup.png"],
}
"""Files each lesson must write into --out, by lesson number. Every lesson also writes a PNG."""

TIMEOUT = 120
"""Seconds a quick run may take before it counts as hung: generous, since a cold numba cache
compiles for a while, and other programs may share the cores."""

CELL_MARKER = re.compile(r"# %%(?: \[markdown\])?(?: .*)?")
"""A jupytext percent cell: `# %%` (code) or `# %% [markdown]`, perhaps followed by a title."""


def lesson_id(lesson):
    return lesson.stem


def test_the_lessons_are_found():
    numbers = {lesson.name[:2] for lesson in LESSONS}
    assert {"01", "02", "03", "06"} <= numbers, f"lessons found: {[p.name for p in LESSONS]}"


@pytest.mark.parametrize("lesson", LESSONS, ids=lesson_id)
def test_lesson_runs_quick_and_writes_its_files(lesson, tmp_path):
    out = tmp_path / "output"  # not there yet: the lesson must create it
    env = {**os.environ, "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, str(lesson), "--quick", "--out", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT,
    )
    assert result.returncode == 0, (
        f"{lesson.name} exited with {result.returncode}:\n{result.stdout[-2000:]}\n"
        f"{result.stderr[-4000:]}"
    )
    written = {path.name for path in out.iterdir()}
    missing = [name for name in EXPECTED_FILES.get(lesson.name[:2], []) if name not in written]
    assert not missing, f"{lesson.name} did not write {missing} (it wrote {sorted(written)})"
    pngs = sorted(out.glob("*.png"))
    assert pngs, f"{lesson.name} wrote no figure (it wrote {sorted(written)})"
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{png.name} is not a PNG file"


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
    for kind, cell in zip(kinds, cells):
        if kind == "markdown":
            # Jupytext reads a markdown cell from comment lines; code there would be lost.
            stray = [line for line in cell if line and not line.startswith("#")]
            assert not stray, f"{lesson.name}: markdown lines that are not comments: {stray}"
        else:
            assert any(line.strip() for line in cell), f"{lesson.name} has an empty code cell"
    compile(source, lesson.name, "exec")
