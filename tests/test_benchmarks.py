"""The benchmark scripts run (--quick) and write the JSON and chart they promise."""

import importlib.util
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def run_script(script, *arguments, timeout=60, env=None):
    """Run benchmarks/<script> with these arguments, charts drawn off-screen."""
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**(env or os.environ), "MPLBACKEND": "Agg"},
    )


LAYERS = {
    # lesson 8's detector: 5 x (conv, batch norm and ReLU, 4 of them with the pooling in the same
    # layer), the 1x1 head, the layout
    "bench_detector_step": {
        "count": 12,
        "first, last": ["Conv2D 3x3 1->8, 64x64", "GridLayout 16, 4x4"],
    },
    # lesson 4's localizer: 3 x (conv, ReLU and pooling as one layer), Flatten, Dense, ReLU, Dense
    "bench_train_step": {
        "count": 7,
        "first, last": ["ConvReLUMaxPool2D 3x3 1->8, 64x64", "Dense 128->8"],
    },
}


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
    # What the second core added, at the start and at the end, five turns each, in the printout.
    second_core = report["machine"]["second_core_x"]
    assert list(second_core) == ["start", "end"]
    assert all(len(ratios) == 5 and min(ratios) > 0 for ratios in second_core.values())
    assert "two threads' float32 matrix products" in completed.stdout
    # NumPy's BLAS kernel is part of the machine: tinycnn's Winograd, 1x1 and dense products.
    assert report["machine"]["blas"] in completed.stdout
    if result == "bench_conv":
        # The peak is the faster of the two products, each printed.
        peaks = report["peaks_gflops"]
        assert report["peak_gflops"] == max(peaks.values())
        assert all(f"{name} {gflops:.0f}" in completed.stdout for name, gflops in peaks.items())
    if result == "bench_train_step":
        assert [row["images"] for row in report["summary"]["predict"]] == [1, 8]
        assert all(row["tinycnn_ms"] > 0 for row in report["summary"]["predict"])
        assert all(times["numba_setup_s"] > 0 for times in report["startup"].values())
    if result in LAYERS:
        # Every layer of the network timed alone, forward and backward, first layer first.
        rows = report["summary"]["layers"]
        assert [row["layer"] for row in rows][:: len(rows) - 1] == LAYERS[result]["first, last"]
        assert len(rows) == LAYERS[result]["count"]
        assert all(len(row["tinycnn_ms"]) == 2 and min(row["tinycnn_ms"]) > 0 for row in rows)
        assert "Layer by layer" in completed.stdout
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


def load_turns():
    """benchmarks/turns.py as a module (the benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("turns", BENCHMARKS / "turns.py")
    turns = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(turns)
    return turns


def test_the_blas_kernel_is_named_and_the_peak_takes_openblass_own_choice():
    """A process whose environment forces an OpenBLAS kernel names it, with the variable; the
    peak's product runs in a process with OpenBLAS's own choice for this CPU, as a fresh process
    without the variable reports it."""
    fresh = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    code = (
        f"import sys; sys.path.insert(0, {str(BENCHMARKS)!r}); import turns;"
        "print(turns.blas_kernel())"
    )

    def described(env):
        return subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()

    own_choice = described(fresh)
    if "openblas" not in own_choice or platform.machine() != "x86_64":
        pytest.skip(f"NumPy's BLAS here is not an x86-64 OpenBLAS: {own_choice}")
    assert "OPENBLAS_CORETYPE" not in own_choice
    forced = described({**fresh, "OPENBLAS_CORETYPE": "Haswell"})
    assert forced.endswith("Haswell kernel (OPENBLAS_CORETYPE=Haswell set)")
    spec = importlib.util.spec_from_file_location("bench_conv", BENCHMARKS / "bench_conv.py")
    bench_conv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_conv)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENBLAS_CORETYPE", "Haswell")
        kernel, gflops = bench_conv.numpy_peak(64)
    assert f", {kernel} kernel" in own_choice and gflops > 0


def test_a_turn_is_timed_after_its_warm_up():
    """timed_runs calls fn untimed until warm_up_s have passed (once at least), then times
    `repeats` calls: the timed runs are the steady state, not a core's slow return from idle."""
    turns = load_turns()
    clock = turns.time.perf_counter
    calls = []

    def fn():
        calls.append(clock())

    start = clock()
    times = turns.timed_runs(fn, 3, warm_up_s=0.05)
    assert len(times) == 3 and all(t >= 0 for t in times)
    assert len(calls) >= 5  # untimed calls, the first of them at once, then the three timed
    assert calls[-3] - start >= 0.05  # the first timed call
    calls.clear()
    assert len(turns.timed_runs(fn, 2)) == 2 and len(calls) == 3  # no warm-up: one untimed call


def test_the_layer_table_gives_medians_and_x_pytorch_speed_by_layer_and_kind(capsys):
    turns = load_turns()
    labels = ["Conv2D 3x3 1->8, 64x64", "ReLU 8, 64x64", "Conv2D 3x3 8->16, 32x32"]
    ours = [[[1, 2], [0.5, 0.5], [2, 4]], [[3, 2], [0.5, 0.5], [2, 4]]]  # two rounds, ms
    theirs = [[[2, 2], [1, 1], [1, 2]], [[4, 6], [1, 1], [1, 2]]]
    rows = turns.layer_rows(labels, ours, theirs)
    assert rows[0] == {"layer": labels[0], "tinycnn_ms": [2, 2], "pytorch_ms": [3, 4]}
    turns.print_layers(rows, [12.0, 20.0], "two rounds")
    lines = {line.split("  ")[0]: line.split() for line in capsys.readouterr().out.splitlines()}
    assert lines["Conv2D 3x3 1->8, 64x64"][-6:] == [
        "2.000",
        "3.000",
        "1.50x",
        "2.000",
        "4.000",
        "2.00x",
    ]
    assert lines["Conv2D 3x3"][-3:] == ["10.00", "10.00", "1.00x"]  # 2+2+2+4 ms, 3+4+1+2 ms
    assert lines["ReLU"][-3:] == ["1.00", "2.00", "2.00x"]
    assert lines["the step less its layers"][5:7] == ["1.00", "8.00"]  # 12 - 11, 20 - 12


def test_the_layer_table_sets_the_layers_in_a_step_beside_them_alone(capsys):
    """tinycnn's step taken apart: by kind, its layers' ms in the step beside their ms alone,
    and the step less its layers there is the loss and the optimizer, timed in the step."""
    turns = load_turns()
    labels = ["Conv2D 3x3 1->8, 64x64", "ReLU 8, 64x64", "Conv2D 3x3 8->16, 32x32"]
    rows = turns.layer_rows(labels, [[[2, 2], [0.5, 0.5], [2, 4]]], [[[3, 4], [1, 1], [1, 2]]])
    in_step = turns.median_step_parts(
        [
            {"layer_ms": [[3, 3], [1, 1], [3, 5]], "loss_ms": 0.5, "optimizer_ms": 1.0},
            {"layer_ms": [[5, 3], [1, 3], [3, 5]], "loss_ms": 0.5, "optimizer_ms": 2.0},
        ]
    )
    assert in_step == {"layer_ms": [[4, 3], [1, 2], [3, 5]], "loss_ms": 0.5, "optimizer_ms": 1.5}
    turns.print_layers(rows, [13.0, 20.0], "one round", in_step)
    lines = {line.split("  ")[0]: line.split() for line in capsys.readouterr().out.splitlines()}
    assert lines["Conv2D 3x3"][-4:] == ["10.00", "10.00", "1.00x", "15.00"]  # 4+3+3+5 in step
    assert lines["ReLU"][-4:] == ["1.00", "2.00", "2.00x", "3.00"]
    assert lines["layers together"][-4:] == ["11.00", "12.00", "1.09x", "18.00"]
    assert lines["the step less its layers"][-3:] == ["2.00", "8.00", "2.00"]  # 0.5 + 1.5


def test_a_step_taken_apart_is_the_step():
    """tinycnn_step_timer's step does what model.forward, the loss, model.backward and the
    optimizer do (the same weights after it, to the bit), and times every part of it."""
    import numpy as np

    from tinycnn.losses import SquaredLocalizationLoss
    from tinycnn.networks import localizer
    from tinycnn.optim import SGD

    turns = load_turns()
    rng = np.random.default_rng(0)
    images = rng.random((4, 1, 32, 32), dtype=np.float32)
    targets = np.zeros((4, 8), np.float32)
    targets[:2, :6] = [1, 0.5, 0.5, 0.2, 0.3, 1]
    models = [localizer(3, 32, rng=1) for _ in range(2)]
    loss = SquaredLocalizationLoss(3)
    optimizers = [SGD(model, lr=0.1, momentum=0.9) for model in models]
    time_step = turns.tinycnn_step_timer(models[0], loss, optimizers[0], images, targets)
    for _ in range(2):
        parts = time_step()
        loss.forward(models[1].forward(images), targets)
        models[1].backward(loss.backward(), input_grad=False)
        optimizers[1].step()
    for timed, plain in zip(models[0].parameters(), models[1].parameters(), strict=True):
        np.testing.assert_array_equal(timed[2], plain[2])
    assert len(parts["layer_ms"]) == len(models[0].layers)
    assert all(ms > 0 for pair in parts["layer_ms"] for ms in pair)
    assert parts["loss_ms"] > 0 and parts["optimizer_ms"] > 0


@pytest.mark.parametrize(
    "low, high, labels",
    [
        (0.3, 3.1, ["0.5x", "1x", "2x"]),  # 1, 2 and 5 times a power of ten
        (1e-3, 50, ["0.001x", "0.01x", "0.1x", "1x", "10x"]),  # powers of ten where those crowd
        (0.6, 0.9, ["0.6x", "0.9x"]),  # the ends of a range too narrow to hold two
    ],
)
def test_a_log_axis_reads_as_plain_numbers(low, high, labels):
    turns = load_turns()
    plt = turns.pyplot()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [low, high])
    ax.set_yscale("log")
    ax.set_ylim(low, high)
    turns.plain_log_ticks(ax.yaxis, "x")
    fig.canvas.draw()
    assert [label.get_text() for label in ax.get_yticklabels()] == labels
    assert not any(label.get_text() for label in ax.yaxis.get_minorticklabels())
    plt.close(fig)


def test_the_layer_table_without_pytorch_gives_tinycnn_alone(capsys):
    turns = load_turns()
    rows = turns.layer_rows(["ReLU 8, 64x64"], [[[0.5, 0.25]]])
    assert rows == [{"layer": "ReLU 8, 64x64", "tinycnn_ms": [0.5, 0.25], "pytorch_ms": None}]
    turns.print_layers(rows, [1.0, None], "one round")
    lines = {line.split("  ")[0]: line.split() for line in capsys.readouterr().out.splitlines()}
    assert lines["ReLU 8, 64x64"][-6:] == ["0.500", "-", "-", "0.250", "-", "-"]
    assert lines["the step less its layers"][5:8] == ["0.25", "-", "(loss,"]  # no PyTorch


@pytest.mark.parametrize("script", SCRIPTS)
def test_an_out_that_is_a_file_is_refused_before_measuring(script, tmp_path):
    a_file = tmp_path / "results.txt"
    a_file.write_text("kept")
    completed = run_script(script, "--quick", "--out", str(a_file))
    assert completed.returncode == 2
    assert f"argument --out: {a_file} is a file, not a folder" in completed.stderr
    assert a_file.read_text() == "kept"


def test_a_startup_python_that_is_not_there_is_refused_before_measuring(tmp_path):
    missing = tmp_path / "bin" / "python"
    completed = run_script("bench_train_step.py", "--quick", "--startup-python", str(missing))
    assert completed.returncode == 2
    assert f"--startup-python: no program '{missing}'" in completed.stderr
    broken = tmp_path / "broken-python"  # a program that runs, but no Python with tinycnn
    broken.write_text("#!/bin/sh\nexit 1\n")
    broken.chmod(0o755)
    completed = run_script("bench_train_step.py", "--quick", "--startup-python", str(broken))
    assert completed.returncode == 2
    assert f"--startup-python: {broken} cannot import tinycnn" in completed.stderr


@pytest.mark.parametrize("script", ["bench_train_step.py", "bench_detector_step.py"])
def test_without_pytorch_the_step_benchmarks_give_tinycnns_side(script, tmp_path):
    """PyTorch is an optional extra (CI has none): the benchmark says so and still prints and
    saves tinycnn's figures, its layer table included. A torch that cannot be imported is put
    first on the workers' path, so this runs the same with PyTorch installed or not."""
    hidden = tmp_path / "hidden" / "torch"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text('raise ImportError("hidden by the test")\n')
    path = os.pathsep.join(filter(None, [str(hidden.parent), os.environ.get("PYTHONPATH")]))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": path}
    completed = run_script(script, "--quick", "--out", str(out), timeout=300, env=env)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "not installed" in completed.stdout and "Layer by layer" in completed.stdout
    assert "In step: tinycnn's steps taken apart" in completed.stdout
    report = json.loads((out / f"{script.removesuffix('.py')}.json").read_text())
    assert all(row["pytorch_ms"] is None for row in report["summary"]["layers"])


@pytest.mark.parametrize("script", ["bench_train_step", "bench_detector_step"])
def test_a_full_run_warms_up_for_the_settled_calls(script):
    """The parent process does not import tinycnn (its import sets thread variables a PyTorch
    worker would inherit), so the warm-up is a number of its own: it must cover
    threads.SETTLED_CALLS, or the first timed steps include trials of the slower way."""
    from tinycnn.kernels.threads import SETTLED_CALLS

    spec = importlib.util.spec_from_file_location(script, BENCHMARKS / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.FULL["warmup"] >= SETTLED_CALLS
