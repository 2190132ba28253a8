"""Tests for tinycnn.course: a lesson's options, output folder and clock."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinycnn import course

REPOSITORY = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def no_quick_variable(monkeypatch):
    monkeypatch.delenv(course.QUICK_VARIABLE, raising=False)


def start_as(program, number=4, title="training a localizer"):
    """course.start called from code compiled as the file `program`, as Python, IPython's %run
    and sphinx-gallery compile a lesson (a notebook cell is compiled under a name of its own)."""
    namespace = {"course": course}
    exec(compile(f"lesson = course.start({number}, {title!r})", str(program), "exec"), namespace)
    return namespace["lesson"]


def test_out_defaults_to_output_beside_the_script(tmp_path, monkeypatch):
    script = tmp_path / "lessons" / "04_train_localizer.py"
    script.parent.mkdir()
    monkeypatch.setattr(sys, "argv", [str(script)])
    monkeypatch.chdir(tmp_path)
    lesson = start_as(script)
    assert lesson.out == script.parent / "output"
    assert lesson.out.is_dir()
    assert lesson.number == 4 and not lesson.quick


def test_in_a_notebook_out_is_beside_the_notebook(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/venv/lib/ipykernel_launcher.py", "-f", "kernel.json"])
    monkeypatch.chdir(tmp_path)
    lesson = course.start(1, "the output vector")
    assert lesson.out.resolve() == (tmp_path / "output").resolve()


def test_options_and_the_quick_variable(tmp_path, monkeypatch):
    out = tmp_path / "elsewhere"
    lesson = course.start(2, "the loss", ["--quick", "--out", str(out)])
    assert lesson.quick and lesson.out == out and out.is_dir()
    monkeypatch.setenv(course.QUICK_VARIABLE, "1")
    assert course.start(2, "the loss", ["--out", str(out)]).quick


def test_finish_says_the_time_and_the_folder(tmp_path, capsys):
    lesson = course.start(3, "layers", ["--out", str(tmp_path)])
    assert lesson.finish() is None  # a notebook cell ending with it shows no stray Out[]
    said = capsys.readouterr().out
    assert re.fullmatch(
        rf"lesson 3 took \d+ s; its files are in {re.escape(str(tmp_path))}\n", said
    )


@pytest.mark.parametrize(
    "number, title, error", [(0, "x", ValueError), (1.5, "x", TypeError), (1, None, TypeError)]
)
def test_bad_arguments_are_refused(number, title, error, tmp_path):
    with pytest.raises(error, match="number|title"):
        course.start(number, title, ["--out", str(tmp_path)])


@pytest.mark.parametrize(
    ("argv", "unknown"),
    [
        (["--output", "/tmp/x"], "--output /tmp/x"),
        (["--quik"], "--quik"),
        (["--out", "x", "extra"], "extra"),
        (["-f", "kernel.json"], "-f kernel.json"),
    ],
)
def test_unknown_options_are_refused_by_name(argv, unknown, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        course.start(4, "training a localizer", argv)
    assert exit_.value.code == 2
    said = capsys.readouterr().err
    assert f"error: unrecognized arguments: {unknown} (a lesson takes only --out DIR" in said
    assert not list(tmp_path.iterdir()), "a refused run created its output folder"


known_prefixes = ("--out", "--quick", "--help")


@given(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=8).filter(
        lambda name: not any(option.startswith(f"--{name}") for option in known_prefixes)
    )
)
def test_any_other_option_is_refused(name):
    with pytest.raises(SystemExit) as exit_:
        course.start(1, "the output vector", [f"--{name}"])
    assert exit_.value.code == 2


def test_argv_must_be_a_list_of_strings(tmp_path):
    with pytest.raises(TypeError, match="argv must be a list of strings"):
        course.start(1, "x", "--quick")
    with pytest.raises(TypeError, match="argv must be a list of strings"):
        course.start(1, "x", ["--out", tmp_path])


def test_a_quick_run_has_its_own_default_folder(tmp_path, monkeypatch):
    script = tmp_path / "lessons" / "04_train_localizer.py"
    script.parent.mkdir()
    monkeypatch.setattr(sys, "argv", [str(script), "--quick"])
    lesson = start_as(script)
    assert lesson.quick and lesson.out == script.parent / "output" / "quick"
    monkeypatch.setattr(sys, "argv", [str(script)])
    monkeypatch.setenv(course.QUICK_VARIABLE, "1")
    assert start_as(script).out == script.parent / "output" / "quick"
    monkeypatch.delenv(course.QUICK_VARIABLE)
    assert start_as(script).out == script.parent / "output"
    # --out is where the files go, quick or not
    assert course.start(4, "x", ["--quick", "--out", str(tmp_path)]).out == tmp_path


@pytest.mark.parametrize(
    "kernel_argv",
    [
        ["/venv/lib/python3.12/site-packages/ipykernel_launcher.py", "-f", "kernel.json"],
        ["/venv/lib/python3.12/site-packages/ipykernel/__main__.py", "-f", "kernel.json"],
        ["/venv/lib/python3.12/site-packages/spyder_kernels/console/__main__.py", "-f", "k.json"],
        ["/usr/local/lib/python3.10/dist-packages/colab_kernel_launcher.py", "-f", "k.json"],
        ["/opt/conda/lib/python3.12/site-packages/xpython_launcher.py", "--f=k.json"],
        [""],  # an interactive interpreter
        ["-c", "--quik"],  # python -c
    ],
)
@pytest.mark.parametrize("cell", ["<ipython-input-3-1f2e>", "/tmp/ipykernel_4242/1337.py"])
def test_a_kernels_own_command_line_is_not_read(kernel_argv, cell, tmp_path, monkeypatch):
    """A notebook cell (compiled under a name of its own by the kernel: IPython's, Colab's,
    xeus-python's) never reads the kernel's command line, whatever starts the kernel."""
    monkeypatch.setattr(sys, "argv", kernel_argv)
    monkeypatch.chdir(tmp_path)
    lesson = start_as(cell, 5, "landmarks")
    assert lesson.out.resolve() == (tmp_path / "output").resolve() and not lesson.quick
    monkeypatch.setenv(course.QUICK_VARIABLE, "1")
    lesson = start_as(cell, 5, "landmarks")
    assert lesson.quick and lesson.out.resolve() == (tmp_path / "output" / "quick").resolve()


def test_the_website_build_runs_a_lesson_with_its_own_options(tmp_path, monkeypatch):
    # sphinx-gallery sets sys.argv to the lesson's gallery twin and what docs/_ext's
    # lesson_arguments returns: --quick (with TINYCNN_DOCS_QUICK=1) and --out into the build.
    twin = tmp_path / "_lesson_sources" / "04_train_localizer.py"
    out = tmp_path / "lesson_output"
    monkeypatch.setattr(sys, "argv", [str(twin), "--quick", "--out", str(out)])
    lesson = start_as(twin)  # sphinx-gallery compiles the lesson's code as the twin's file
    assert lesson.quick and lesson.out == out and out.is_dir()


LESSON_SCRIPT = """
import tinycnn as tc
lesson = tc.course.start(4, "training a localizer")
(lesson.out / "04_metrics.json").write_text("{}")
lesson.finish()
"""


def run_script(script, *options):
    python_path = os.pathsep.join(filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")]))
    environment = {**os.environ, "PYTHONPATH": python_path}
    environment.pop(course.QUICK_VARIABLE, None)
    return subprocess.run(
        [sys.executable, str(script), *options],
        capture_output=True,
        text=True,
        env=environment,
        cwd=script.parent,
        timeout=120,
    )


def test_a_script_refuses_a_typo_and_a_smoke_run_leaves_the_full_runs_files(tmp_path):
    script = tmp_path / "lessons" / "04_train_localizer.py"
    script.parent.mkdir()
    script.write_text(LESSON_SCRIPT)
    refused = run_script(script, "--quik")
    assert refused.returncode == 2
    assert "04_train_localizer.py: error: unrecognized arguments: --quik" in refused.stderr
    refused = run_script(script, "--output", str(tmp_path / "x"))
    assert refused.returncode == 2 and "unrecognized arguments: --output" in refused.stderr
    assert not (script.parent / "output").exists() and not (tmp_path / "x").exists()
    full = script.parent / "output" / "04_metrics.json"
    assert run_script(script).returncode == 0 and full.exists()
    full.write_text('{"mean_iou": 0.9}')
    quick = run_script(script, "--quick")
    assert quick.returncode == 0, quick.stderr
    assert (script.parent / "output" / "quick" / "04_metrics.json").exists()
    assert full.read_text() == '{"mean_iou": 0.9}'  # the full run's numbers are still there


@pytest.mark.parametrize(
    ("value", "quick"), [("1", True), ("true", True), ("Yes", True), ("0", False), ("", False)]
)
def test_the_quick_variable_reads_as_the_website_build_reads_it(
    value, quick, tmp_path, monkeypatch
):
    monkeypatch.setenv(course.QUICK_VARIABLE, value)
    assert course.start(1, "x", ["--out", str(tmp_path)]).quick is quick


@pytest.mark.parametrize("value", ["2", "quick", "on?"])
def test_a_quick_variable_it_cannot_read_is_refused(value, tmp_path, monkeypatch):
    monkeypatch.setenv(course.QUICK_VARIABLE, value)
    with pytest.raises(
        ValueError, match=rf"{course.QUICK_VARIABLE} must be 1 .* got '{re.escape(value)}'"
    ):
        course.start(1, "x", ["--out", str(tmp_path)])


def test_out_must_be_a_folder(tmp_path, capsys):
    taken = tmp_path / "figures.png"
    taken.write_text("")
    with pytest.raises(SystemExit) as exit_:
        course.start(1, "x", ["--out", str(taken)])
    assert exit_.value.code == 2
    assert f"--out {taken} is a file, not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("folder", ["", "  "])
def test_out_must_name_a_folder(monkeypatch, tmp_path, capsys, folder):
    """`--out "$UNSET"` read as Path("") would write into the working folder, silently."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        course.start(1, "x", ["--out", folder])
    assert exit_.value.code == 2
    assert "argument --out: needs a folder, got an empty string" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
