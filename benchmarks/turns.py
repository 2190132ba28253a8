"""What the benchmarks share: the machine's description, worker processes that take turns,
medians with their spread, and the command line and files every benchmark has.

Each framework runs in its own process (a worker, started from the benchmark script with
`--worker NAME`), because thread pools of two frameworks in one process spin against each other
(measured: 0.92x instead of 8.6x on one shape). The parent imports neither tinycnn nor torch and
asks the workers, one JSON line at a time, to time something; they take turns, so that whatever
else loads the machine falls on all of them alike.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

WIDE_SPREAD = 1.3  # a figure whose slowest round is this much slower than its fastest is flagged
WARM_UP_S = 0.3
"""Seconds a worker runs what it is about to time, untimed, at the start of each turn. While a
worker waits for its turn, a core it does not use goes idle, and on these 2-core virtual
machines an idle core comes back slow: lesson 4's training step on two threads, after a second
idle, took 12.6-13.4 ms in its first 0.2 s and 10.5-10.9 ms from 0.3 s on (medians of five
pauses, every window); on one thread 17.5-18.0 ms throughout (AMD EPYC Zen 4, CPU family 25).
A training loop runs without such pauses, so its steady state is what the benchmarks time;
every framework is warmed up alike. Quick runs (tests) skip it: 0 seconds, one untimed call."""
OUTPUT = Path(__file__).resolve().parent / "output"  # where a benchmark writes unless told


def cpu_model():
    """ "AMD EPYC 9R14 (family 25)" from /proc/cpuinfo, else what platform knows."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        return platform.processor() or platform.machine()
    model = fields.get("model name", platform.machine())
    family = fields.get("cpu family")
    return f"{model} (family {family})" if family else model


def machine(quick=False):
    """The machine as the reports print it: CPU, cores, load, Python, and what its second core
    adds at the start (`second_core`, shorter when quick; `second_core_again` adds the end)."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "python": platform.python_version(),
        "blas": blas_kernel(),
        "second_core_x": {"start": second_core(quick)},
    }


CORE_TYPE_VARIABLE = "OPENBLAS_CORETYPE"


def blas_kernel():
    """NumPy's BLAS as this process (and every worker, started with its environment) runs it:
    "openblas 0.3.31.188.0, Haswell kernel (OPENBLAS_CORETYPE=Haswell set)". OpenBLAS picks a kernel
    for the CPU it finds unless OPENBLAS_CORETYPE names one; tinycnn's Winograd, 1x1 and dense
    products are NumPy's, so the kernel is part of the machine. On a Zen 5 (CPU family 26)
    whose environment set Haswell, one core's float32 products of lesson 4's Winograd layer ran
    at 60-79 GFLOP/s, and at 110-127 with OpenBLAS's own choice there, SkylakeX (AVX-512)."""
    from threadpoolctl import threadpool_info

    blas = next((pool for pool in threadpool_info() if pool["user_api"] == "blas"), None)
    if blas is None:
        return "unknown"
    described = f"{blas['internal_api']} {blas['version']}"
    if blas.get("architecture"):
        described += f", {blas['architecture']} kernel"
    chosen = os.environ.get(CORE_TYPE_VARIABLE)
    return described + (f" ({CORE_TYPE_VARIABLE}={chosen} set)" if chosen else "")


def blas_line(machine_info):
    """The report's line on NumPy's BLAS (`blas_kernel`)."""
    return f"NumPy's BLAS (tinycnn's matrix products): {machine_info['blas']}"


SECOND_CORE_SIZE = 256  # second_core's matrix products: about 0.4 ms each on one Zen 2 core
SECOND_CORE_TURNS = 5


def second_core(quick=False):
    """Two threads' float32 throughput as multiples of one thread's, now, one per turn
    (SECOND_CORE_TURNS): each thread runs NumPy matrix products of SECOND_CORE_SIZE^2 on one
    BLAS thread (30 of them, 5 when quick), alone and then both at once; about 0.03 s a turn.

    On these 2-core virtual machines it is not always near 2. On a Zen 2 (AMD EPYC, CPU family
    23), turns two seconds apart gave 0.99x to 1.91x, and three runs in a row 1.00x-1.04x, while
    two Python loops (or numba loops each waiting on its own chain of additions) ran side by
    side as fast as alone: as if the two virtual cores took turns on one core's floating-point
    units.
    A convolution's two threads then ran no faster than one: the forward pass of
    (64, 8, 32, 32) -> 16 took 3.08 ms on two threads and 2.94 ms on one, and two minutes later
    1.46 against 2.75 ms (medians of 100 calls, taking turns). Every two-thread figure of a run
    is to be read beside these."""
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).standard_normal((SECOND_CORE_SIZE,) * 2, dtype=np.float32)
    repeats = 5 if quick else 30

    def products():
        for _ in range(repeats):
            a @ a

    def seconds(n_threads):
        threads = [threading.Thread(target=products) for _ in range(n_threads - 1)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        products()
        for thread in threads:
            thread.join()
        return time.perf_counter() - start

    with threadpool_limits(limits=1, user_api="blas"):
        products()  # BLAS's first call sets up its buffers
        return [2 * seconds(1) / seconds(2) for _ in range(SECOND_CORE_TURNS)]


def second_core_again(machine_info, quick=False):
    """machine_info (from `machine`) with second_core measured again, at the end of a run."""
    machine_info["second_core_x"]["end"] = second_core(quick)
    return machine_info


def second_core_line(machine_info):
    """The report's line on the second core (`second_core`): the median and range of each
    measurement."""
    measured = machine_info["second_core_x"]
    return (
        "two threads' float32 matrix products, x one thread's: "
        + ", ".join(
            f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) at the {when}"
            for when, ratios in measured.items()
        )
        + f" ({SECOND_CORE_TURNS} turns each; near 1x, the second core added nothing, busy or"
        " sharing the first's floating-point units, and two-thread figures are one core's)"
    )


def median_spread(round_medians, all_times):
    """(median over every timed run, [fastest, slowest] round median, spread flag)."""
    low, high = float(min(round_medians)), float(max(round_medians))
    return float(np.median(all_times)), [low, high], high > WIDE_SPREAD * low


def warm_up(fn, seconds):
    """Call fn untimed, once and then again until `seconds` have passed (WARM_UP_S says why)."""
    started = time.perf_counter()
    fn()
    while time.perf_counter() - started < seconds:
        fn()


def timed_runs(fn, repeats, warm_up_s=0.0):
    """Seconds of `repeats` calls of fn, after warm_up(fn, warm_up_s)."""
    warm_up(fn, warm_up_s)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def own_defaults(name, env=None):
    """The environment for worker `name`: PyTorch's worker imports tinycnn (for to_torch), but
    keeps PyTorch's own defaults, without the process changes tinycnn's import makes
    (TINYCNN_NO_RUNTIME_TWEAKS=1: BLAS threads, malloc, numba's threads bound to cores)."""
    env = dict(os.environ if env is None else env)
    if name == "pytorch":
        env["TINYCNN_NO_RUNTIME_TWEAKS"] = "1"
    return env


class Worker:
    """A worker process running `script --worker name --settings JSON`, asked one JSON request
    at a time; it answers one JSON line (its errors go to our stderr)."""

    def __init__(self, script, name, settings, env=None):
        self.name = name
        command = [
            sys.executable,
            str(script),
            "--worker",
            name,
            "--settings",
            json.dumps(settings),
        ]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        self.info = self._answer()

    def ask(self, request):
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._answer()

    def _answer(self):
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.name} worker stopped (its error is printed above)")
        return json.loads(line)

    def close(self):
        self.process.stdin.close()
        self.process.wait()


def serve(handlers, info):
    """The worker's side: print `info`, then answer each request line with
    handlers[request["do"]](**request["args"])."""
    print(json.dumps(info), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        print(json.dumps(handlers[request["do"]](**request.get("args", {}))), flush=True)


# The command line and the files: the same in every benchmark.


def command_line(doc, name, **options):
    """A benchmark's argument parser: its whole docstring as --help, and --out DIR, the folder for
    NAME.json and NAME.png. options go to argparse.ArgumentParser (an epilog, say)."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter, **options
    )
    parser.add_argument(
        "--out",
        type=output_folder,
        metavar="DIR",
        default=OUTPUT,
        help=f"folder for {name}.json and {name}.png (default: benchmarks/output/, created if "
        "missing)",
    )
    return parser


def output_folder(value):
    """--out's value as a Path: a folder, or a place where one can be made, not a file (caught
    here, before the benchmark has run for minutes)."""
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} is a file, not a folder")
    return path


def at_least_one(parser, value, option):
    """value of a count such as --rounds, None if it was not given; 0 or less stops the program
    with a message naming the option."""
    if value is not None and value < 1:
        parser.error(f"--{option} must be at least 1, got {value}")
    return value


def pyplot():
    """matplotlib's pyplot on the Agg backend (it writes files and opens no window), imported only
    when a chart is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_chart(fig, path):
    """Lay the figure out, write it as a PNG, and close it (pyplot keeps every figure open)."""
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    pyplot().close(fig)


def plain_log_ticks(axis, suffix="", values=None):
    """Label a log axis as a newcomer reads numbers, 0.5, 2 or 16 (plus suffix, "x" say), not
    5x10^-1 or 2^4: ticks at `values`, or at 1, 2 and 5 times a power of ten within the axis'
    range (powers of ten alone on a wide range, the range's ends on one too narrow to hold two);
    no labels on the minor ticks. Call it after the data is drawn."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    if values is None:
        low, high = sorted(axis.get_view_interval())
        decades = range(int(np.floor(np.log10(low))), int(np.ceil(np.log10(high))) + 1)
        for steps in ((1, 2, 5), (1,)):  # powers of ten alone where 1, 2 and 5 would crowd
            values = [m * 10.0**e for e in decades for m in steps if low <= m * 10.0**e <= high]
            if len(values) <= 8:
                break
        if len(values) < 2:  # a narrow range: its two ends, to two digits
            values = sorted({*values, float(f"{low:.2g}"), float(f"{high:.2g}")})
    axis.set_ticks(values)
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}{suffix}"))
    axis.set_minor_formatter(NullFormatter())


def save_results(out, name, report, plot):
    """Write the report as out/NAME.json and the chart, plot(path), as out/NAME.png, making the
    folder if it is missing; then say where they are."""
    out.mkdir(parents=True, exist_ok=True)
    report_path, chart_path = out / f"{name}.json", out / f"{name}.png"
    report_path.write_text(json.dumps(report, indent=1))
    plot(chart_path)
    print(f"\nwrote {report_path} and {chart_path}")


# Layer by layer: every layer of a training step timed alone, the same way in both frameworks
# (the timers run in the workers; the rows, table and chart in the parent).


CONVOLUTIONS = ("Conv2D", "ConvReLUMaxPool2D")
"""The layers labelled by their kernel and channels, and summed by kernel size."""


def layer_label(layer, input_shape):
    """A tinycnn layer as the tables name it: its kind, channels and the size it works on
    ("Conv2D 3x3 32->64, 8x8", "ConvReLUMaxPool2D 3x3 1->8, 64x64", "BatchNorm2D 64, 8x8",
    "Dense 2048->128", "Flatten")."""
    name = type(layer).__name__
    size = "x".join(str(side) for side in input_shape[2:])
    if name in CONVOLUTIONS:
        k = layer.kernel_size
        return f"{name} {k}x{k} {layer.in_channels}->{layer.out_channels}, {size}"
    if name == "Dense":
        return f"{name} {layer.in_features}->{layer.out_features}"
    return f"{name} {input_shape[1]}, {size}" if len(input_shape) == 4 else name


def tinycnn_layer_timer(model, loss, images, targets):
    """(labels, time_layers) for a tinycnn Sequential: time_layers() runs each layer alone, its
    forward and then its backward (the input gradient too, except at the first layer, as in a
    training step), on one step's own activations and upstream gradients, and returns
    [[forward ms, backward ms], ...] in layer order."""
    layers, inputs, x = model.layers, [], images
    for layer in layers:
        inputs.append(x)
        x = layer.forward(x)
    loss.forward(x, targets)
    output_grads, grad = [None] * len(layers), loss.backward()
    for index in reversed(range(len(layers))):
        output_grads[index] = grad
        grad = layers[index].backward(grad, input_grad=index > 0)

    def time_layers():
        times = []
        for index, layer in enumerate(layers):
            start = time.perf_counter()
            layer.forward(inputs[index])
            middle = time.perf_counter()
            layer.backward(output_grads[index], input_grad=index > 0)
            times.append([(middle - start) * 1e3, (time.perf_counter() - middle) * 1e3])
        return times

    labels = [layer_label(layer, x.shape) for layer, x in zip(layers, inputs, strict=True)]
    return labels, time_layers


def tinycnn_step_timer(model, loss, optimizer, images, targets):
    """time_step() for a tinycnn Sequential: one training step, the work of model.forward, the
    loss, model.backward(input_grad=False) and optimizer.step(), with each part timed within
    it: every layer's forward in turn, the loss's forward and backward, every layer's backward
    in turn (the input gradient too, except at the first layer), the optimizer. Returns
    {"layer_ms": [[forward, backward], ...] in layer order, "loss_ms", "optimizer_ms"}."""
    layers = model.layers

    def time_step():
        clock = time.perf_counter
        layer_ms = [[0.0, 0.0] for _ in layers]
        x = images
        for index, layer in enumerate(layers):
            start = clock()
            x = layer.forward(x)
            layer_ms[index][0] = (clock() - start) * 1e3
        start = clock()
        loss.forward(x, targets)
        grad = loss.backward()
        loss_ms = (clock() - start) * 1e3
        for index in reversed(range(len(layers))):
            start = clock()
            grad = layers[index].backward(grad, input_grad=index > 0)
            layer_ms[index][1] = (clock() - start) * 1e3
        start = clock()
        optimizer.step()
        optimizer_ms = (clock() - start) * 1e3
        return {"layer_ms": layer_ms, "loss_ms": loss_ms, "optimizer_ms": optimizer_ms}

    return time_step


def median_step_parts(steps):
    """The median of each part over time_step() results (tinycnn_step_timer)."""
    return {
        "layer_ms": np.median([step["layer_ms"] for step in steps], axis=0).tolist(),
        "loss_ms": float(np.median([step["loss_ms"] for step in steps])),
        "optimizer_ms": float(np.median([step["optimizer_ms"] for step in steps])),
    }


def torch_layer_timer(torch, model, images, loss_of_output):
    """time_layers for a torch.nn.Sequential, measured as in tinycnn_layer_timer: each module's
    forward building its graph, then its backward from the step's own upstream gradient, to its
    input (not to the image) and its parameters. loss_of_output(output): the step's loss."""
    inputs, outputs, x = [], [], images
    for module in model:
        x = x.detach().requires_grad_(True)
        inputs.append(x)
        x = module(x)
        outputs.append(x)
    output_grads = [None] * len(outputs)
    grad = torch.autograd.grad(loss_of_output(outputs[-1]), outputs[-1])[0]
    for index in reversed(range(len(outputs))):
        output_grads[index] = grad
        grad = torch.autograd.grad(outputs[index], inputs[index], grad)[0]

    def time_layers():
        times = []
        for index, module in enumerate(model):
            x = inputs[index].detach().requires_grad_(index > 0)
            for param in module.parameters():
                param.grad = None  # as zero_grad(set_to_none=True) leaves them in a step
            start = time.perf_counter()
            y = module(x)
            middle = time.perf_counter()
            y.backward(output_grads[index])
            times.append([(middle - start) * 1e3, (time.perf_counter() - middle) * 1e3])
        return times

    return time_layers


def layer_rows(labels, our_rounds, their_rounds=None):
    """The layer table's rows: each layer's label and each framework's median [forward,
    backward] ms over the rounds (each round a time_layers() result, or a median of several);
    PyTorch's None where it is not installed."""
    ours = np.median(our_rounds, axis=0)
    theirs = None if their_rounds is None else np.median(their_rounds, axis=0)
    return [
        {
            "layer": label,
            "tinycnn_ms": ours[index].tolist(),
            "pytorch_ms": None if theirs is None else theirs[index].tolist(),
        }
        for index, label in enumerate(labels)
    ]


def layer_kind(label):
    """ "Conv2D 3x3" from "Conv2D 3x3 32->64, 8x8"; "ReLU" from "ReLU 8, 64x64"."""
    words = label.split()
    return " ".join(words[:2]) if words[0] in CONVOLUTIONS else words[0]


def print_layers(rows, step_ms, note, in_step=None):
    """The layer table, each layer's forward and backward in both frameworks with x PyTorch's
    speed, then their sums by kind of layer and what the layers leave of each step (step_ms:
    [tinycnn's, PyTorch's or None]); in_step (median_step_parts), tinycnn's layers, loss and
    optimizer timed within its own steps, a column beside the sums."""
    with_torch = rows[0]["pytorch_ms"] is not None
    width = max(28, *(len(row["layer"]) for row in rows))  # the label column
    print(f"\nLayer by layer, each alone on the step's activations ({note}); x PyTorch's speed")
    print(f"{'':{width}} {'forward ms':>24} {'backward ms':>24}")
    columns = f"{'tinycnn':>8}{'PyTorch':>8}{'x':>8}"
    print(f"{'layer':{width}} {columns} {columns}")
    kinds = {}
    for index, row in enumerate(rows):
        ours, theirs = row["tinycnn_ms"], row["pytorch_ms"]
        cells = []
        for part in (0, 1):
            if theirs is None:
                cells.append(f"{ours[part]:8.3f}{'-':>8}{'-':>8}")
            else:
                cells.append(
                    f"{ours[part]:8.3f}{theirs[part]:8.3f}{theirs[part] / ours[part]:7.2f}x"
                )
        print(f"{row['layer']:{width}} {cells[0]} {cells[1]}")
        total = kinds.setdefault(layer_kind(row["layer"]), [0.0, 0.0, 0.0])
        total[0] += sum(ours)
        total[1] += sum(theirs) if with_torch else 0.0
        total[2] += sum(in_step["layer_ms"][index]) if in_step else 0.0
    in_step_column = f"{'in step':>9}" if in_step else ""
    print(f"\n{'forward + backward, by kind':{width}} {columns}{in_step_column}")
    sums = [0.0, 0.0, 0.0]

    def print_row(label, ours, theirs, in_steps):
        cells = f"{theirs:8.2f}{theirs / ours:7.2f}x" if with_torch else f"{'-':>8}{'-':>8}"
        print(f"{label:{width}} {ours:8.2f}{cells}" + (f"{in_steps:9.2f}" if in_step else ""))

    for kind, total in kinds.items():
        print_row(kind, *total)
        sums = [a + b for a, b in zip(sums, total, strict=True)]
    print_row("layers together", *sums)
    rest = [
        f"{step - layers:8.2f}" if step is not None else f"{'-':>8}"
        for step, layers in zip(step_ms, sums[:2], strict=True)
    ]
    if not in_step:
        print(
            f"{'the step less its layers':{width}} {''.join(rest)}   (loss, optimizer, the "
            "model's loop, and the layers' colder caches in a step)"
        )
        return
    parts = in_step["loss_ms"] + in_step["optimizer_ms"]
    print(f"{'the step less its layers':{width}} {''.join(rest)}{'':8}{parts:9.2f}")
    print(
        "In step: tinycnn's steps taken apart, each part timed within a step (alone, each "
        "layer's backward\nruns right after its own forward). There the step less its layers is "
        "the loss and the optimizer;\nin the other columns it also holds whatever the machine "
        "did differently between the timed\nsteps and the layer timings."
    )


def plot_layers(ax, rows):
    """Each layer's forward and backward ms, stacked, the two frameworks' bars side by side."""
    frameworks = ["tinycnn"] + (["pytorch"] if rows[0]["pytorch_ms"] is not None else [])
    places = np.arange(len(rows))
    height = 0.8 / len(frameworks)
    for k, framework in enumerate(frameworks):
        forward = [row[f"{framework}_ms"][0] for row in rows]
        backward = [row[f"{framework}_ms"][1] for row in rows]
        offset = places + (k - (len(frameworks) - 1) / 2) * height
        name = ["tinycnn", "PyTorch"][k]
        ax.barh(
            offset, forward, height, label=f"{name} forward", color=["tab:blue", "tab:orange"][k]
        )
        ax.barh(
            offset,
            backward,
            height,
            left=forward,
            label=f"{name} backward",
            color=["lightsteelblue", "navajowhite"][k],
        )
    ax.set_yticks(places, [row["layer"] for row in rows], fontsize=8)
    ax.invert_yaxis()  # the first layer on top, as the data flows
    ax.set_xlabel("ms, each layer alone (median)")
    ax.set_title("layer by layer")
    ax.legend(fontsize=8)
