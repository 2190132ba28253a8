"""One whole training step of lesson 4's network: tinycnn against the same network in PyTorch.

    python benchmarks/bench_train_step.py [--quick] [--cold] [--passive] [--rounds R]
                                          [--startup-python PYTHON] [--out DIR]

The step is the lecture's: forward, loss, backward, SGD update, on `tinycnn.networks.localizer()`
with a batch of 64 scenes of 1x64x64, float32, the lecture's squared loss and SGD with momentum.
PyTorch runs the same network (`tinycnn.interop.to_torch`, same initial weights), the same loss
written in torch, and torch.optim.SGD, on 2 threads.

Each framework runs in its own process (this script, started again with --worker), so that
their thread pools never spin against each other, and each keeps its own default setup. The two
processes take turns: a round is a few steps of one, then a few of the other, so that whatever
else loads the machine falls on both alike. Times are medians over all steps after a warm-up,
and each turn's steps after 0.3 s of untimed ones (turns.WARM_UP_S: an idle core comes back slow);
the result is tinycnn's speed as a multiple of PyTorch's ("x PyTorch's speed", PyTorch's time
over tinycnn's: higher is better), with the fastest and slowest round's ratio beside it.
Also measured: every layer alone, its forward and backward in both frameworks on the step's
own activations and gradients; inference on small batches (`model.predict` on 1 and 8 images,
against the PyTorch module in eval mode under no_grad, the two taking turns); the peak memory
of a training step of each, in fresh processes (Linux); and start-up: a fresh process that
imports tinycnn and runs a first training step with a warm numba cache (and bytecode cache, as
on a learner's machine, even where PYTHONDONTWRITEBYTECODE is set), and with --cold, with
an empty one (the compile time of what lesson 4 uses); with --startup-python, the warm
start-up once more with another interpreter, such as a venv made by the README's first command
(no SciPy, which numba's set-up imports where it is installed).

On a machine shared with other work, OpenMP threads that spin while they wait stall each other,
PyTorch's most (up to 20x slower steps were seen): note the load average printed with the
results, and compare with --passive, which sets OMP_WAIT_POLICY=PASSIVE for both frameworks.

Prints tables and writes bench_train_step.json and bench_train_step.png to DIR (default
benchmarks/output/), with the CPU model and the versions. Without PyTorch installed, its
column says "not installed".
"""

import argparse
import functools
import gc
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from turns import (  # noqa: E402
    WARM_UP_S,
    WIDE_SPREAD,
    Worker,
    at_least_one,
    blas_line,
    command_line,
    layer_rows,
    machine,
    median_step_parts,
    own_defaults,
    plot_layers,
    print_layers,
    pyplot,
    save_chart,
    save_results,
    second_core_again,
    second_core_line,
    tinycnn_layer_timer,
    tinycnn_step_timer,
    torch_layer_timer,
    warm_up,
)

# This parent process imports neither tinycnn nor torch: importing tinycnn sets thread variables
# that the PyTorch worker would inherit. Each worker imports what it measures.

THREADS = 2
NUM_CLASSES = 3
IMAGE_SIZE = 64
LEARNING_RATE = 0.01
MOMENTUM = 0.9
PAUSE_S = 0.05  # between turns: the idle worker's spinning threads go to sleep meanwhile
MEMORY_STEPS = 3  # training steps whose peak memory is measured, in each memory process
PREDICT_SIZES = (1, 8)  # images per inference call: the small batches of deployment
FULL = {
    "batch": 64,
    "warmup": 84,  # steps: tinycnn's kernels choose their ways and check them twice (SETTLED_CALLS)
    "warm_up_s": WARM_UP_S,  # of untimed steps at the start of each turn
    "rounds": 15,
    "steps_per_round": 10,
    "layer_repeats": 30,
    "starts": 3,
    "memory_runs": 3,  # fresh processes per framework measuring a step's memory
    "predict_rounds": 6,  # turns of each framework's inference on small batches ...
    "predict_repeats": 100,  # ... of this many calls per batch size
}
QUICK = {
    "batch": 8,
    "warmup": 2,
    "warm_up_s": 0.0,
    "rounds": 1,
    "steps_per_round": 3,
    "layer_repeats": 3,
    "starts": 1,
    "memory_runs": 1,
    "predict_rounds": 1,
    "predict_repeats": 5,
}


def batch(size):
    """`size` of lesson 4's scenes, the same in every process: images (N, 1, 64, 64), targets."""
    from tinycnn.data import localization_dataset

    return localization_dataset(size, IMAGE_SIZE, seed=0)


def timed(fn):
    """(fn's result, seconds it took)."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def median_ms(seconds):
    return float(np.median(seconds) * 1e3)


# Workers: each runs in its own process. A session sets up a framework and returns what it
# reports once, a step to time, and a per-layer timing; `serve` answers the parent's requests.


def tinycnn_session(settings):
    """tinycnn's training step, and its per-layer times."""
    import numba

    from tinycnn.losses import SquaredLocalizationLoss
    from tinycnn.networks import localizer
    from tinycnn.optim import SGD

    numba.set_num_threads(THREADS)
    images, targets = batch(settings["batch"])
    model = localizer(NUM_CLASSES, IMAGE_SIZE)
    loss = SquaredLocalizationLoss(NUM_CLASSES)
    optimizer = SGD(model, lr=LEARNING_RATE, momentum=MOMENTUM)

    def step():
        value = loss.forward(model.forward(images), targets)
        model.backward(loss.backward(), input_grad=False)  # as fit and PyTorch: no image gradient
        optimizer.step()
        return value

    # Set up at the first call: the activations it keeps would count in `memory`'s baseline.
    timer = functools.cache(lambda: tinycnn_layer_timer(model, loss, images, targets))
    time_step = tinycnn_step_timer(model, loss, optimizer, images, targets)

    def layer_times(repeats):
        """Each layer alone (turns.tinycnn_layer_timer): labels, and median ms over repeats;
        and as many steps taken apart (turns.tinycnn_step_timer): each part's median ms."""
        labels, time_layers = timer()
        times = np.median([time_layers() for _ in range(repeats)], axis=0)
        in_step = median_step_parts([time_step() for _ in range(repeats)])
        return {"layers": labels, "layer_ms": times.tolist(), "in_step": in_step}

    def predict_times(sizes, repeats):
        """model.predict on the batch's first n images, for each n in sizes: median ms over
        repeats calls, after the calls in which every kernel chooses its way on them and checks
        it twice (kernels/threads.py, SETTLED_CALLS)."""
        from tinycnn.kernels.threads import SETTLED_CALLS

        medians = {}
        for size in sizes:
            x = images[:size]
            for _ in range(SETTLED_CALLS):
                model.predict(x)
            medians[str(size)] = median_ms(
                [timed(lambda x=x: model.predict(x))[1] for _ in range(repeats)]
            )
        return {"predict_ms": medians}

    info = {
        "versions": {
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "numba": numba.__version__,
            "threading_layer": numba.threading_layer(),
        },
    }
    return info, step, layer_times, predict_times


def squared_localization_loss(torch, y_hat, y):
    """SquaredLocalizationLoss in torch: every entry where p_c = 1, only p_c where it is 0."""
    has_object = (y[:, :1] == 1).to(y.dtype)
    error = torch.cat((y_hat[:, :1] - y[:, :1], (y_hat[:, 1:] - y[:, 1:]) * has_object), dim=1)
    return (error**2).sum(dim=1).mean()


def pytorch_session(settings):
    """The same step in PyTorch, and its per-layer times; None if PyTorch is not installed."""
    try:
        import torch  # before tinycnn, so that tinycnn's thread settings do not reach PyTorch
    except ImportError:
        return None
    from tinycnn.interop import to_torch
    from tinycnn.networks import localizer

    torch.set_num_threads(THREADS)
    images, targets = (torch.from_numpy(a) for a in batch(settings["batch"]))
    model = to_torch(localizer(NUM_CLASSES, IMAGE_SIZE))
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)

    def step():
        optimizer.zero_grad(set_to_none=True)
        value = squared_localization_loss(torch, model(images), targets)
        value.backward()
        optimizer.step()
        return value.item()

    timer = functools.cache(  # set up at the first call, as tinycnn's
        lambda: torch_layer_timer(
            torch, model, images, lambda output: squared_localization_loss(torch, output, targets)
        )
    )

    def layer_times(repeats):
        """Each module alone, measured as tinycnn's layers: median ms over repeats."""
        times = np.median([timer()() for _ in range(repeats)], axis=0)
        return {"layer_ms": times.tolist()}

    def predict_times(sizes, repeats):
        """The module in eval mode under torch.no_grad() on the batch's first n images, for
        each n in sizes: median ms over repeats calls, after a few untimed ones."""
        model.eval()
        medians = {}
        with torch.no_grad():
            for size in sizes:
                x = images[:size]
                for _ in range(10):
                    model(x)
                medians[str(size)] = median_ms(
                    [timed(lambda x=x: model(x))[1] for _ in range(repeats)]
                )
        model.train()
        return {"predict_ms": medians}

    info = {"versions": {"torch": torch.__version__, "torch_threads": torch.get_num_threads()}}
    return info, step, layer_times, predict_times


SESSIONS = {
    "tinycnn": tinycnn_session,
    "pytorch": pytorch_session,
}


def serve(session, settings):
    """Set up, warm up, then answer one JSON line per request read from stdin:
    {"steps": n} -> {"step_ms": [...]},  {"layers": n} -> per-layer medians over n repeats,
    {"predict": sizes, "repeats": n} -> {"predict_ms": {size: median over n calls}}."""
    started = session(settings)
    if started is None:
        print(json.dumps({"installed": False}), flush=True)
        return
    info, step, layer_times, predict_times = started
    info["first_loss"] = step()
    for _ in range(settings["warmup"]):
        step()
    print(json.dumps({"installed": True, **info}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        if "steps" in request:
            warm_up(step, settings["warm_up_s"])
            answer = {"step_ms": [timed(step)[1] * 1e3 for _ in range(request["steps"])]}
        elif "predict" in request:
            answer = predict_times(request["predict"], request["repeats"])
        else:
            answer = layer_times(request["layers"])
        print(json.dumps(answer), flush=True)


def _smallest_kernel():
    """A numba kernel that does nothing: its first call in a process is numba's own set-up."""
    return 0


def startup(settings):
    """Seconds to import tinycnn, for numba's own one-time set-up at the first kernel of the
    process, to run a first training step, from the launch of this fresh process
    (settings["launched_at"], by the parent's clock) to the end of that step, and for the steps
    after it until every kernel has chosen to run in parts on both cores or whole on one
    (kernels/threads.py: a new shape first runs whole, which compiles the kernel; unless that is
    quicker than the other core can wake, both ways are then timed)."""
    _, import_seconds = timed(lambda: __import__("tinycnn"))
    from numba import njit

    from tinycnn.losses import SquaredLocalizationLoss
    from tinycnn.networks import localizer
    from tinycnn.optim import SGD

    # Any valid batch will do, and this one costs nothing to make: images with no object.
    images = np.random.default_rng(0).random(
        (settings["batch"], 1, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32
    )
    targets = np.zeros((settings["batch"], NUM_CLASSES + 5), dtype=np.float32)
    model = localizer(NUM_CLASSES, IMAGE_SIZE)
    loss = SquaredLocalizationLoss(NUM_CLASSES)
    optimizer = SGD(model, lr=LEARNING_RATE, momentum=MOMENTUM)

    def first_step():
        loss.forward(model.forward(images), targets)
        model.backward(loss.backward(), input_grad=False)
        optimizer.step()

    _, numba_setup_seconds = timed(njit(cache=True)(_smallest_kernel))
    _, first_step_seconds = timed(first_step)
    ready = time.time() - settings["launched_at"]
    from tinycnn.kernels.threads import CALLS_TO_CHOOSE

    _, trial_seconds = timed(lambda: [first_step() for _ in range(CALLS_TO_CHOOSE - 1)])
    print(
        json.dumps(
            {
                "import_s": import_seconds,
                "numba_setup_s": numba_setup_seconds,
                "first_step_s": first_step_seconds,
                "ready_s": ready,
                "trial_steps_s": trial_seconds,
            }
        )
    )


def memory(settings):
    """Peak memory of MEMORY_STEPS training steps of settings["framework"] at the batch size,
    above what the process held just before them (MiB): the activations kept for backward, the
    gradients, the optimizer's state and every temporary array. Read from Linux's /proc: the
    peak resident size (VmHWM), reset just before the steps, less the resident size (VmRSS).
    A step on a batch of 2 runs first, so that loading kernels and starting thread pools, which
    happen once per process, are not counted."""
    session = SESSIONS[settings["framework"]]
    started = session({**settings, "batch": 2})
    if started is None or not os.access("/proc/self/clear_refs", os.W_OK):
        print(json.dumps({"measured": False}))
        return
    started[1]()
    step = session(settings)[1]
    gc.collect()
    before = status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # 5: reset the peak resident size
    for _ in range(MEMORY_STEPS):
        step()
    print(json.dumps({"measured": True, "peak_mib": (status_kib("VmHWM") - before) / 1024}))


def status_kib(field):
    """A size from /proc/self/status, in KiB (VmRSS: resident now, VmHWM: resident at peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} is not in /proc/self/status")


# The parent: starts the workers, takes turns between them, gathers and reports.


def worker_command(name, settings, python=sys.executable):
    return [python, __file__, "--worker", name, "--settings", json.dumps(settings)]


def measure_steps(settings, env):
    """Both workers alive, taking turns (who goes first alternates); per-layer times at the end."""
    load = [os.getloadavg()[0]]
    workers = [
        Worker(__file__, name, settings, own_defaults(name, env)) for name in ("tinycnn", "pytorch")
    ]
    active = [worker for worker in workers if worker.info["installed"]]
    results = {worker.name: {**worker.info, "rounds": []} for worker in workers}
    try:
        for round_index in range(settings["rounds"]):
            for worker in active[:: 1 if round_index % 2 == 0 else -1]:
                time.sleep(PAUSE_S)
                answer = worker.ask({"steps": settings["steps_per_round"]})
                results[worker.name]["rounds"].append(answer["step_ms"])
            load.append(os.getloadavg()[0])
        for worker in active[:2]:
            time.sleep(PAUSE_S)
            results[worker.name].update(worker.ask({"layers": settings["layer_repeats"]}))
        compared = [worker for worker in active if worker.name in ("tinycnn", "pytorch")]
        request = {"predict": PREDICT_SIZES, "repeats": settings["predict_repeats"]}
        for round_index in range(settings["predict_rounds"]):
            for worker in compared[:: 1 if round_index % 2 == 0 else -1]:
                time.sleep(PAUSE_S)
                rounds = results[worker.name].setdefault("predict_rounds", [])
                rounds.append(worker.ask(request)["predict_ms"])
    finally:
        for worker in workers:
            worker.close()
    load.append(os.getloadavg()[0])
    return results, load


def run_startup(settings, env=None, python=sys.executable):
    """One fresh process of `python`: its own timings, and its wall and CPU seconds (user +
    system, less sensitive to other load on the machine) from launch to exit."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    command = worker_command("startup", {**settings, "launched_at": time.time()}, python)
    done, seconds = timed(lambda: subprocess.run(command, env=env, capture_output=True, text=True))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"the start-up process failed:\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {**json.loads(done.stdout), "process_s": seconds, "process_cpu_s": cpu}


def startup_environment(**settings):
    """This process's environment with `settings`, less PYTHONDONTWRITEBYTECODE: a learner's
    Python keeps the compiled bytecode of tinycnn's modules (__pycache__), so that a warm start
    compiles none of them. Where that variable is set (as in some containers), every start
    compiled tinycnn's sources again: 0.05 s of the 0.49 s start-up of a core install, measured
    on a 2-core AMD EPYC Zen 4 (CPU family 25)."""
    env = {**os.environ, **settings}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def measure_startup(settings, cold, other_python=None):
    """Warm: the median over fresh processes, after one that fills the caches (numba's and
    Python's bytecode) if it must; also with another Python (say, a core install), if asked.
    Cold: a process with an empty NUMBA_CACHE_DIR, so that every kernel lesson 4 uses is
    compiled."""

    def warm(env, python=sys.executable):
        run_startup(settings, env, python)
        starts = [run_startup(settings, env, python) for _ in range(settings["starts"])]
        return {key: float(np.median([start[key] for start in starts])) for key in starts[0]}

    report = {"warm": warm(startup_environment())}
    if other_python:
        report["warm, other Python"] = warm(startup_environment(), python=other_python)
    if cold:
        with tempfile.TemporaryDirectory() as cache:
            report["cold"] = run_startup(settings, env=startup_environment(NUMBA_CACHE_DIR=cache))
    return report


def interpreter(parser, python):
    """The path of `python`, a Python that imports tinycnn; otherwise the program stops with a
    message naming --startup-python."""
    path = shutil.which(python)
    if path is None:
        parser.error(f"--startup-python: no program {python!r} (give a Python's path)")
    done = subprocess.run([path, "-c", "import tinycnn"], capture_output=True, text=True)
    if done.returncode != 0:
        parser.error(
            f"--startup-python: {python} cannot import tinycnn (install it there: "
            f"{python} -m pip install -e .)"
        )
    return path


def has_scipy(python):
    """Whether `python` (an interpreter's path) can import SciPy."""
    code = "import importlib.util; print(importlib.util.find_spec('scipy') is not None)"
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip() == "True"


def scipy_import_seconds():
    """Seconds a fresh process takes to import SciPy's BLAS, which numba's set-up imports
    whenever SciPy is installed (for np.linalg in kernels); None where SciPy is not installed."""
    if not has_scipy(sys.executable):
        return None
    code = "import time; t = time.perf_counter(); import scipy.linalg.cython_blas; "
    code += "print(time.perf_counter() - t)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(done.stdout)


def measure_memory(settings):
    """Each framework's step memory (memory()), in fresh processes taking turns: the median of
    settings["memory_runs"] runs each, in MiB (None where not measured)."""
    runs = {"tinycnn": [], "pytorch": []}
    for _ in range(settings["memory_runs"]):
        for framework in runs:
            command = worker_command("memory", {**settings, "framework": framework})
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"the memory process failed:\n{done.stderr}")
            report = json.loads(done.stdout.splitlines()[-1])
            if report["measured"]:
                runs[framework].append(report["peak_mib"])
    return {name: float(np.median(mib)) if mib else None for name, mib in runs.items()}


def summarise(results):
    """Step medians over all rounds, their ratio, the spread of per-round ratios, per-layer ms."""
    ours, theirs = results["tinycnn"], results["pytorch"]
    summary = {
        "tinycnn_ms": float(np.median(np.concatenate(ours["rounds"]))),
        "pytorch_ms": None,
        "x_pytorch": None,
        "x_pytorch_rounds": None,
        "wide_spread": None,
        "first_loss": {"tinycnn": ours["first_loss"], "pytorch": None},
        "layers": layer_rows(
            ours["layers"],
            [ours["layer_ms"]],
            [theirs["layer_ms"]] if theirs["installed"] else None,
        ),
        "in_step": ours["in_step"],
    }
    if theirs["installed"]:
        summary["pytorch_ms"] = float(np.median(np.concatenate(theirs["rounds"])))
        # x PyTorch's speed: PyTorch's time over tinycnn's (higher is better).
        summary["x_pytorch"] = summary["pytorch_ms"] / summary["tinycnn_ms"]
        per_round = [
            np.median(b) / np.median(a)
            for a, b in zip(ours["rounds"], theirs["rounds"], strict=True)
        ]
        summary["x_pytorch_rounds"] = [float(min(per_round)), float(max(per_round))]
        summary["wide_spread"] = bool(max(per_round) > WIDE_SPREAD * min(per_round))
        summary["first_loss"]["pytorch"] = theirs["first_loss"]
    summary["predict"] = summarise_predict(ours, theirs if theirs["installed"] else None)
    return summary


def summarise_predict(ours, theirs):
    """Per batch size: each framework's median over the rounds' medians (ms per predict call),
    tinycnn's speed as a multiple of PyTorch's, and the spread of the per-round ratios."""
    rows = []
    for size in PREDICT_SIZES:
        mine = [round_ms[str(size)] for round_ms in ours["predict_rounds"]]
        row = {"images": size, "tinycnn_ms": float(np.median(mine)), "pytorch_ms": None}
        if theirs is not None:
            other = [round_ms[str(size)] for round_ms in theirs["predict_rounds"]]
            per_round = [b / a for a, b in zip(mine, other, strict=True)]
            row["pytorch_ms"] = float(np.median(other))
            row["x_pytorch"] = row["pytorch_ms"] / row["tinycnn_ms"]
            row["x_pytorch_rounds"] = [float(min(per_round)), float(max(per_round))]
        rows.append(row)
    return rows


def print_report(settings, summary, load, startup_times, scipy_seconds, machine_info, versions):
    print(
        f"\n{machine_info['cpu']}, {machine_info['cores']} cores; "
        + ", ".join(f"{name} {version}" for name, version in versions.items())
    )
    print(blas_line(machine_info))
    print(
        f"\nLesson 4's training step: localizer(), batch {settings['batch']} of 1x64x64 "
        f"float32, squared loss, SGD (momentum {MOMENTUM})"
    )
    steps = settings["rounds"] * settings["steps_per_round"]
    print(
        f"{THREADS} threads each, own processes taking turns; median of {steps} steps "
        f"({settings['rounds']} rounds) after {settings['warmup']} warm-up"
    )
    print(
        f"1-min load average {min(load):.1f} to {max(load):.1f} on {os.cpu_count()} cores; "
        f"OMP_WAIT_POLICY {settings['omp_wait_policy'] or 'unset'}"
    )
    print(second_core_line(machine_info))
    # This benchmark alone keeps the load average near 1.5 on 2 cores; more is someone else.
    if max(load) > os.cpu_count() and settings["omp_wait_policy"] != "PASSIVE":
        print(
            "The machine is busy: spinning thread pools stall each other, PyTorch's most; "
            "compare with --passive."
        )
    print(f"\n{'':16} {'ms/step':>8}")
    print(f"{'tinycnn':16} {summary['tinycnn_ms']:8.1f}")
    if summary["pytorch_ms"] is None:
        print(f"{'PyTorch':16} not installed")
    else:
        print(f"{'PyTorch':16} {summary['pytorch_ms']:8.1f}")
        low, high = summary["x_pytorch_rounds"]
        flag = "  ! wide spread: the machine was busy, rerun" if summary["wide_spread"] else ""
        print(
            f"{'tinycnn':16} {summary['x_pytorch']:7.2f}x PyTorch's speed (higher is better; "
            f"rounds {low:.2f} to {high:.2f}){flag}"
        )
    if summary["pytorch_ms"] is not None:
        first = summary["first_loss"]
        print(
            f"first-step loss, same weights and batch: tinycnn {first['tinycnn']:.6f}, "
            f"PyTorch {first['pytorch']:.6f}"
        )

    note = f"median of {settings['layer_repeats']} runs of each"
    steps = [summary["tinycnn_ms"], summary["pytorch_ms"]]
    print_layers(summary["layers"], steps, note, summary["in_step"])

    print(
        f"\nInference on small batches, ms per call: tinycnn's model.predict, PyTorch's module in "
        f"eval mode under no_grad; medians of {settings['predict_rounds']} rounds of "
        f"{settings['predict_repeats']} calls, taking turns"
    )
    head = f"{'images':>6} {'tinycnn':>8} {'PyTorch':>8}  x PyTorch's speed (rounds)"
    print(head + "\n" + "-" * len(head))
    for row in summary["predict"]:
        line = f"{row['images']:6d} {row['tinycnn_ms']:8.3f}"
        if row["pytorch_ms"] is None:
            line += f" {'not installed':>13}"
        else:
            low, high = row["x_pytorch_rounds"]
            line += f" {row['pytorch_ms']:8.3f}  {row['x_pytorch']:.2f}x ({low:.2f}-{high:.2f})"
        print(line)

    memory_mib = summary["step_memory_mib"]
    print(
        f"\nPeak memory of {MEMORY_STEPS} training steps at batch {settings['batch']}, above the "
        f"process's memory before them (MiB; median of {settings['memory_runs']} fresh "
        "processes each):"
    )
    for name, label in (("tinycnn", "tinycnn"), ("pytorch", "PyTorch")):
        mib = memory_mib[name]
        print(f"{label:16} {'not measured' if mib is None else f'{mib:8.1f}'}")

    print(
        "\nStart-up of a fresh process (warm: numba's cache and Python's bytecode cache both "
        "filled), seconds from launch: to the end of its first training step (of which import "
        "tinycnn, numba's own one-time set-up at the first kernel of a process, first step); the "
        "next steps until every kernel has chosen how it runs (trials); to exit, wall and CPU "
        "(user + system)"
    )
    print(
        f"{'':18} {'first step':>10} {'import':>7} {'numba':>7} {'step':>7} {'trials':>7} "
        f"{'exit':>7} {'CPU':>6}"
    )
    for name, times in startup_times.items():
        label = name if "," in name else f"{name} numba cache"
        print(
            f"{label:18} {times['ready_s']:10.2f} {times['import_s']:7.2f} "
            f"{times['numba_setup_s']:7.2f} {times['first_step_s']:7.2f} "
            f"{times['trial_steps_s']:7.2f} {times['process_s']:7.2f} {times['process_cpu_s']:6.2f}"
        )
    if "cold" in startup_times:
        print(
            "cold: every kernel compiled in the process itself, one after the other (each once: "
            "a kernel that runs in parts on both cores is the same compiled function)."
        )
    if scipy_seconds is not None:
        print(
            f"SciPy is installed here, and numba's set-up imports it ({scipy_seconds:.2f} s in a "
            "fresh process). The dev and docs extras bring it (through scikit-image); a core "
            "install (pip install -e .) has none, and starts that much sooner."
        )
    if settings.get("startup_python"):
        scipy_there = "with" if settings["startup_python_has_scipy"] else "without"
        print(f"other Python: {settings['startup_python']} ({scipy_there} SciPy)")


def plot(summary, path, cpu, batch_size):
    """Left: ms per step of each framework. Middle: ms per inference call on small batches.
    Right: tinycnn's (and PyTorch's) ms per layer. Above: the CPU they ran on."""
    plt = pyplot()

    fig, (steps, inference, layers) = plt.subplots(1, 3, figsize=(16, 5), width_ratios=(1, 1, 3))
    names = ["tinycnn"] + (["PyTorch"] if summary["pytorch_ms"] is not None else [])
    steps.bar(
        names,
        [summary["tinycnn_ms"], summary["pytorch_ms"]][: len(names)],
        color=["tab:blue", "tab:orange"][: len(names)],
    )
    steps.set_ylabel("ms per training step")
    if summary["x_pytorch"] is not None:
        steps.set_title(f"whole step\ntinycnn {summary['x_pytorch']:.2f}x PyTorch's speed")
    else:
        steps.set_title("whole step")

    frameworks = ["tinycnn"] + (["pytorch"] if summary["pytorch_ms"] is not None else [])
    sizes = np.arange(len(summary["predict"]))
    width = 0.8 / len(frameworks)
    for k, framework in enumerate(frameworks):
        inference.bar(
            sizes + (k - (len(frameworks) - 1) / 2) * width,
            [row[f"{framework}_ms"] for row in summary["predict"]],
            width,
            label=names[k],
            color=["tab:blue", "tab:orange"][k],
        )
    inference.set_xticks(
        sizes, [f"{row['images']} image{'s' * (row['images'] > 1)}" for row in summary["predict"]]
    )
    inference.set_ylabel("ms per predict call")
    inference.set_title("inference\non small batches")
    inference.legend(fontsize=8)

    plot_layers(layers, summary["layers"])
    fig.suptitle(f"lesson 4's training step, batch {batch_size}, float32, {THREADS} threads: {cpu}")
    save_chart(fig, path)


def main():
    parser = command_line(__doc__, "bench_train_step")
    parser.add_argument("--quick", action="store_true", help="a smoke run: small batch, few steps")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="also time a start-up with an empty numba cache (compiles everything)",
    )
    parser.add_argument("--rounds", type=int, help="turns of each framework (default 15, quick 1)")
    parser.add_argument(
        "--passive",
        action="store_true",
        help="OMP_WAIT_POLICY=PASSIVE for both: idle threads sleep at once "
        "instead of spinning, which helps on a machine shared with others",
    )
    parser.add_argument(
        "--startup-python",
        metavar="PYTHON",
        help="also time the warm start-up with this interpreter, for example one of a venv made "
        "by the README's first command, where tinycnn is installed without SciPy",
    )
    parser.add_argument(
        "--worker", choices=[*SESSIONS, "startup", "memory"], help=argparse.SUPPRESS
    )
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker in ("startup", "memory"):
        {"startup": startup, "memory": memory}[args.worker](json.loads(args.settings))
        return
    if args.worker:
        serve(SESSIONS[args.worker], json.loads(args.settings))
        return
    settings = dict(QUICK if args.quick else FULL)
    settings["rounds"] = at_least_one(parser, args.rounds, "rounds") or settings["rounds"]
    if args.startup_python:  # checked now, before minutes of measuring
        args.startup_python = interpreter(parser, args.startup_python)

    settings["omp_wait_policy"] = "PASSIVE" if args.passive else os.environ.get("OMP_WAIT_POLICY")
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"} if args.passive else None
    machine_info = machine(args.quick)
    results, load = measure_steps(settings, env)
    second_core_again(machine_info, args.quick)
    if args.startup_python:
        settings["startup_python"] = args.startup_python
        settings["startup_python_has_scipy"] = has_scipy(args.startup_python)
    startup_times = measure_startup(settings, args.cold, args.startup_python)
    scipy_seconds = scipy_import_seconds()
    summary = summarise(results)
    summary["step_memory_mib"] = measure_memory(settings)
    versions = {
        **results["tinycnn"]["versions"],
        **results["pytorch"].get("versions", {"torch": None}),
    }
    print_report(settings, summary, load, startup_times, scipy_seconds, machine_info, versions)

    report = {
        "machine": machine_info,
        "settings": settings,
        "threads": THREADS,
        "cpu_count": os.cpu_count(),
        "load_average": load,
        "versions": versions,
        "summary": summary,
        "startup": startup_times,
        "scipy_import_s": scipy_seconds,
        "steps_ms": {name: result.get("rounds") for name, result in results.items()},
    }
    save_results(
        args.out,
        "bench_train_step",
        report,
        lambda path: plot(summary, path, machine_info["cpu"], settings["batch"]),
    )


if __name__ == "__main__":
    main()
