"""The benchmark scripts run (--quick) and write the JSON and chart they promise."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def run_script(script, *arguments, timeout=60):
    """Run benchmarks/<script> with these arguments, charts drawn off-screen."""
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )


@pytest.mark.parametrize(
    "script, result",
    [
        ("bench_conv.py", "bench_conv"),
        ("bench_train_step.py", "bench_train_step"),
        ("bench_detector_step.py", "bench_detector_step"),
        ("bench_scaling.py", "bench_scaling"),
        ("bench_lesson.py", "bench_lesson"),
    ],
)
def test_benchmark_quick_run(script, result, tmp_path):
    completed = run_script(script, "--quick", "--out", str(tmp_path), timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    report = json.loads((tmp_path / f"{result}.json").read_text())
    assert report
    assert (tmp_path / f"{result}.png").stat().st_size > 0
    if result == "bench_train_step":
        assert [row["images"] for row in report["summary"]["predict"]] == [1, 8]
        assert all(row["tinycnn_ms"] > 0 for row in report["summary"]["predict"])
        assert all(times["numba_setup_s"] > 0 for times in report["startup"].values())
    if result == "bench_train_step" and sys.platform.startswith("linux"):
        assert report["summary"]["step_memory_mib"]["tinycnn"] > 0
    if result == "bench_lesson" and report["summary"]["pytorch"] is not None:
        # The PyTorch loop trained on fit's very batches, and its loss is tinycnn's.
        assert report["summary"]["comparison"]["same_batches"]
        assert report["summary"]["comparison"]["first_batch_losses_agree"]


SCRIPTS = sorted(path.name for path in BENCHMARKS.glob("bench_*.py"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_gives_the_whole_docstring_and_says_where_results_go(script):
    completed = run_script(script, "--help")
    assert completed.returncode == 0, completed.stderr
    help_text = " ".join(completed.stdout.split())
    docstring = (BENCHMARKS / script).read_text().split('"""')[1]
    last_line = docstring.strip().splitlines()[-1].strip()
    assert " ".join(last_line.split()) in help_text  # the docstring is not cut short
    name = script.removesuffix(".py")
    assert f"--out DIR folder for {name}.json and {name}.png" in help_text


COUNT_OPTIONS = [
    (script, option)
    for script in SCRIPTS
    for option in ("--rounds", "--repeats")
    if f'"{option}"' in (BENCHMARKS / script).read_text()
]


@pytest.mark.parametrize("script, option", COUNT_OPTIONS)
def test_a_count_below_one_is_refused_by_name(script, option):
    completed = run_script(script, option, "0")
    assert completed.returncode == 2
    assert f"{option} must be at least 1, got 0" in completed.stderr


def test_start_up_is_timed_with_another_python_when_asked(tmp_path):
    arguments = ["--quick", "--startup-python", sys.executable, "--out", str(tmp_path)]
    completed = run_script("bench_train_step.py", *arguments, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    report = json.loads((tmp_path / "bench_train_step.json").read_text())
    other = report["startup"]["warm, other Python"]
    assert other["ready_s"] > other["numba_setup_s"] > 0
    assert f"other Python: {sys.executable}" in completed.stdout
