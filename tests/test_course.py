"""Tests for tinycnn.course: a lesson's options, output folder and clock."""

import re
import sys

import pytest

from tinycnn import course


@pytest.fixture(autouse=True)
def no_quick_variable(monkeypatch):
    monkeypatch.delenv(course.QUICK_VARIABLE, raising=False)


def test_out_defaults_to_output_beside_the_script(tmp_path, monkeypatch):
    script = tmp_path / "lessons" / "04_train_localizer.py"
    script.parent.mkdir()
    monkeypatch.setattr(sys, "argv", [str(script)])
    monkeypatch.chdir(tmp_path)
    lesson = course.start(4, "training a localizer")
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
    lesson = course.start(2, "the loss", ["--quick", "--out", str(out), "--kernel-option"])
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
