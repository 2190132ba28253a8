"""Convolution and max-pool speed: tinycnn's numba kernels against PyTorch and NumPy's im2col.

    python benchmarks/bench_conv.py [--quick] [--rounds R] [--repeats K] [--passive] [--out DIR]

Every figure is float32 on 2 threads. Each framework runs in its own process and they take
turns, R rounds (default 3) of K timed runs (default 7) per shape and pass, after a warm-up
(tinycnn's lasts until every kernel has chosen threads or one core on each shape and checked
that choice twice: kernels/threads.py, SETTLED_CALLS, as in a long training loop), and each
series after 0.3 s of untimed runs (turns.WARM_UP_S: an idle core comes back slow). A figure is
the median of all its runs; beside it, the spread: its fastest and slowest round's median,
flagged "!" when the slowest is over 1.3x the fastest (the machine was busy: rerun).

Printed: GFLOP/s of each framework, forward and forward+backward (input, weight and bias gradients),
tinycnn's speed as a multiple of PyTorch's ("x PyTorch's speed": higher is better, 2.0x = twice as
fast), and tinycnn's share of the machine's float32 peak: the faster of two large matrix products,
PyTorch's and NumPy's with the OpenBLAS kernel made for this CPU (either can miss the FMA units'
limit on some CPU: `numpy_peak`). FLOPs: forward 2*N*C_out*H_out*W_out*C_in*k*k, forward+backward 3
times that. Also: max-pooling (k = s = 2) in ms, and the lecture's loops on one small shape.

On a machine shared with other work, OpenMP threads that spin while they wait (PyTorch's) lose
far more than threads that sleep (tinycnn's numba workqueue): --passive sets
OMP_WAIT_POLICY=PASSIVE for every worker, for a fairer comparison on a busy machine.

The output names the CPU and the versions; --out DIR (default benchmarks/output/) receives
bench_conv.json (every figure, spread and setting) and bench_conv.png (the chart).
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from turns import (  # noqa: E402
    CORE_TYPE_VARIABLE,
    WARM_UP_S,
    Worker,
    at_least_one,
    blas_line,
    command_line,
    machine,
    median_spread,
    own_defaults,
    plain_log_ticks,
    pyplot,
    save_chart,
    save_results,
    second_core_again,
    second_core_line,
    serve,
    timed_runs,
)

THREADS = 2
# (N, C_in, H, W, C_out, k, stride, padding)
SHAPES = {
    "a": (64, 1, 64, 64, 8, 3, 1, 1),
    "b": (64, 8, 32, 32, 16, 3, 1, 1),
    "c": (64, 16, 16, 16, 32, 3, 1, 1),
    "d": (64, 3, 64, 64, 16, 5, 1, 2),
    "e": (32, 32, 8, 8, 64, 3, 1, 1),
    "f": (64, 8, 32, 32, 16, 3, 2, 1),
    # The detector's (batch 32): its 32 -> 64 and 64 -> 128 convolutions as on a 256x256 input,
    # its 1x1 head as on a 128x128 one (lesson 8's own 64x64 scenes: bench_detector_step.py).
    "g": (32, 32, 32, 32, 64, 3, 1, 1),
    "h": (32, 64, 16, 16, 128, 3, 1, 1),
    "i": (32, 128, 8, 8, 16, 1, 1, 0),
}
QUICK_SHAPES = {
    "a": (4, 1, 16, 16, 8, 3, 1, 1),
    "b": (4, 8, 8, 8, 16, 3, 1, 1),
    "i": (4, 16, 4, 4, 8, 1, 1, 0),
}
REFERENCE_SHAPE = (2, 3, 16, 16, 4, 3, 1, 1)  # the pure-Python loops: small, and per FLOP
POOL_SHAPE, QUICK_POOL_SHAPE = (64, 8, 64, 64), (4, 8, 16, 16)
POOL_K = 2
FRAMEWORKS = ("tinycnn", "pytorch", "im2col")
PASSES = (("forward", "fwd"), ("forward_backward", "fwd+bwd"))
PEAK_SIZE, QUICK_PEAK_SIZE = 2048, 256
PEAK_REPEATS = 10


def conv_flops(shape):
    """Forward FLOPs: 2*N*C_out*H_out*W_out*C_in*k*k."""
    n, c_in, h, w, c_out, k, s, p = shape
    out_h, out_w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    return 2 * n * c_out * out_h * out_w * c_in * k * k


def by_winograd(shape):
    """Whether Conv2D computes this (N, C_in, H, W, C_out, k, s, p) shape by Winograd's algorithm
    (tinycnn/kernels/winograd.py), which does fewer multiplications than conv_flops counts."""
    from tinycnn.kernels import winograd

    n, c_in, h, w, c_out, k, s, p = shape
    return winograd.chosen_for((n, c_in, h, w), (c_out, c_in, k, k), s, p)


def conv_problem(shape, seed=0):
    """float32 x, weights, bias and an upstream gradient for one shape."""
    n, c_in, h, w, c_out, k, s, p = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c_in, h, w), dtype=np.float32)
    weights = rng.standard_normal((c_out, c_in, k, k), dtype=np.float32) * 0.1
    bias = rng.standard_normal(c_out, dtype=np.float32)
    out_h, out_w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    dout = rng.standard_normal((n, c_out, out_h, out_w), dtype=np.float32)
    return x, weights, bias, dout


# ---- The workers: one process per framework, each with its own thread setup -----------------


def kernel_steps(module, x, weights, bias, dout, s, p):
    """forward and forward+backward closures for a module with tinycnn's kernel interface."""
    k = weights.shape[2]

    def forward():
        return module.conv2d_forward(x, weights, bias, s, p)

    def forward_backward():
        module.conv2d_forward(x, weights, bias, s, p)
        module.conv2d_backward_input(dout, weights, x.shape, s, p)
        module.conv2d_backward_params(x, dout, k, s, p)

    return forward, forward_backward


def tinycnn_steps(x, weights, bias, dout, s, p):
    """tinycnn's passes as Conv2D runs them, by the road it takes for these shapes
    (tinycnn/kernels/roads.py: the forward keeps x's planes, or on small maps Winograd's tiles or
    the 1x1 products' input, for the backward, which takes both gradients at once), run first
    until every kernel has chosen its way (in parts on both cores, or whole on one) on these
    shapes and checked it twice (tinycnn/kernels/threads.py, SETTLED_CALLS): the runs timed then
    are a training loop's, none of them a trial of the slower way."""
    from tinycnn.kernels import roads
    from tinycnn.kernels.threads import SETTLED_CALLS

    def forward():
        out, _ = roads.conv2d_forward(x, weights, bias, s, p)
        return out

    def forward_backward():
        _, kept = roads.conv2d_forward(x, weights, bias, s, p)
        roads.conv2d_backward(x, dout, weights, s, p, kept)

    for _ in range(SETTLED_CALLS):
        forward_backward()
    return forward, forward_backward


def tinycnn_worker():
    """numba's 2 threads, BLAS on 1 (tinycnn's own setup, made by importing it)."""
    import numba

    from tinycnn.kernels import pool, reference
    from tinycnn.kernels.threads import SETTLED_CALLS

    numba.set_num_threads(THREADS)
    pool.maxpool2d_forward(np.zeros((1, 1, 2, 2), np.float32), 2, 2)  # the threading layer starts

    def pool_steps(x, dout, k):
        def forward_backward():
            _, argmax = pool.maxpool2d_forward(x, k, k)
            pool.maxpool2d_backward(dout, argmax, x.shape, k, k)

        for _ in range(SETTLED_CALLS):  # every kernel's way chosen and checked twice
            forward_backward()
        return (lambda: pool.maxpool2d_forward(x, k, k)[0]), forward_backward

    def reference_gflops():
        """The lecture's loops on REFERENCE_SHAPE, GFLOP/s of both passes (one run each)."""
        x, weights, bias, dout = conv_problem(REFERENCE_SHAPE)
        steps = kernel_steps(reference, x, weights, bias, dout, *REFERENCE_SHAPE[6:])
        flops = conv_flops(REFERENCE_SHAPE)
        return {
            key: factor * flops / min(timed_runs(step, 1)) / 1e9
            for (key, _), step, factor in zip(PASSES, steps, (1, 3), strict=True)
        }

    info = {
        "versions": {
            "tinycnn numba": numba.__version__,
            "numpy": np.__version__,
            "threading_layer": numba.threading_layer(),
        }
    }
    return (
        info,
        tinycnn_steps,
        pool_steps,
        {"reference": reference_gflops},
    )


def pytorch_worker():
    """torch.set_num_threads(2), its own OpenMP pool; also measures the float32 peak."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(THREADS)
    functional = torch.nn.functional

    def conv_steps(x, weights, bias, dout, s, p):
        xt, wt, bt = (torch.from_numpy(a).requires_grad_() for a in (x, weights, bias))
        dt = torch.from_numpy(dout)

        def forward():
            with torch.no_grad():
                return functional.conv2d(xt, wt, bt, stride=s, padding=p).numpy()

        def forward_backward():
            out = functional.conv2d(xt, wt, bt, stride=s, padding=p)
            torch.autograd.grad(out, (xt, wt, bt), dt)

        return forward, forward_backward

    def pool_steps(x, dout, k):
        xt, dt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(dout)

        def forward():
            with torch.no_grad():
                return functional.max_pool2d(xt, k, k).numpy()

        def forward_backward():
            torch.autograd.grad(functional.max_pool2d(xt, k, k), xt, dt)

        return forward, forward_backward

    def peak_gflops(size, repeats):
        """float32 GFLOP/s of a size x size matrix product (MKL): the fastest of repeats,
        as every peak here (`fastest_gflops`)."""
        a, b = torch.randn(size, size), torch.randn(size, size)
        return fastest_gflops(size, timed_runs(lambda: a @ b, repeats))

    info = {"versions": {"torch": torch.__version__}}
    return info, conv_steps, pool_steps, {"peak": peak_gflops}


def numpy_pool_forward(x, k):
    """The usual NumPy peer for k = s: reshape into windows, max over them, keep a mask."""
    n, c, h, w = x.shape
    windows = x[:, :, : h // k * k, : w // k * k].reshape(n, c, h // k, k, w // k, k)
    out = windows.max(axis=(3, 5))
    mask = windows == out[:, :, :, None, :, None]
    return out, mask


def numpy_pool_backward(dout, mask, x_shape, k):
    """Gradient to every position equal to its window's maximum (ties share it, as in the peer)."""
    n, c, h, w = x_shape
    dx = np.zeros(x_shape, dout.dtype)
    windows = dx[:, :, : h // k * k, : w // k * k].reshape(n, c, h // k, k, w // k, k)
    windows[...] = mask * dout[:, :, :, None, :, None]
    return dx


def im2col_worker():
    """NumPy's im2col (tinycnn/kernels/im2col.py), BLAS on 2 threads; NumPy's max-pool peer."""
    from threadpoolctl import threadpool_limits

    from tinycnn.kernels import im2col

    threadpool_limits(limits=THREADS, user_api="blas")  # after tinycnn's import set it to 1

    def conv_steps(x, weights, bias, dout, s, p):
        def forward():
            return im2col.conv2d_forward(x, weights, bias, s, p)[0]

        def forward_backward():
            _, cols = im2col.conv2d_forward(x, weights, bias, s, p)
            im2col.conv2d_backward(dout, cols, x.shape, weights, s, p)

        return forward, forward_backward

    def pool_steps(x, dout, k):
        def forward_backward():
            _, mask = numpy_pool_forward(x, k)
            numpy_pool_backward(dout, mask, x.shape, k)

        return (lambda: numpy_pool_forward(x, k)[0]), forward_backward

    return {"versions": {"numpy": np.__version__}}, conv_steps, pool_steps, {}


WORKERS = {"tinycnn": tinycnn_worker, "pytorch": pytorch_worker, "im2col": im2col_worker}


def run_worker(name, settings):
    """Answer the parent's requests: time a conv or pool pass, save a forward output, extras."""
    started = WORKERS[name]()
    if started is None:
        serve({}, {"installed": False})
        return
    info, conv_steps, pool_steps, extras = started
    problems = {shape_name: conv_problem(shape) for shape_name, shape in settings["shapes"].items()}
    steps = {
        shape_name: dict(
            zip(
                [key for key, _ in PASSES],
                conv_steps(*problem, *settings["shapes"][shape_name][6:]),
                strict=True,
            )
        )
        for shape_name, problem in problems.items()
    }
    pool_x = np.random.default_rng(0).standard_normal(settings["pool_shape"], dtype=np.float32)
    pool_dout = np.ones_like(numpy_pool_forward(pool_x, POOL_K)[0])
    pool_passes = dict(
        zip([key for key, _ in PASSES], pool_steps(pool_x, pool_dout, POOL_K), strict=True)
    )

    def conv(shape, kind, repeats):
        return timed_runs(steps[shape][kind], repeats, settings["warm_up_s"])

    def pool(kind, repeats):
        return timed_runs(pool_passes[kind], repeats, settings["warm_up_s"])

    def forward_output(shape, path):
        np.save(path, steps[shape]["forward"]())
        return path

    serve(
        {"conv": conv, "pool": pool, "forward_output": forward_output, **extras},
        {"installed": True, **info},
    )


# ---- The parent: takes turns between the workers, reports --------------------------------


def measure(settings, script, env=None):
    """{framework: {"conv": {shape: {pass: seconds...}}, "pool": ...}} with rounds, one framework
    at a time (who goes first alternates), each in its own process."""
    workers = [Worker(script, name, settings, own_defaults(name, env)) for name in FRAMEWORKS]
    active = [worker for worker in workers if worker.info["installed"]]
    rounds = {w.name: {"conv": {}, "pool": {}} for w in active}
    extras = {}
    try:
        for shape in settings["shapes"]:  # each shape: Conv2D's roads differ by shape
            check_agreement(active, shape)
        for round_index in range(settings["rounds"]):
            for worker in active[:: 1 if round_index % 2 == 0 else -1]:
                for shape in settings["shapes"]:
                    for key, _ in PASSES:
                        times = worker.ask(
                            {
                                "do": "conv",
                                "args": {
                                    "shape": shape,
                                    "kind": key,
                                    "repeats": settings["repeats"],
                                },
                            }
                        )
                        rounds[worker.name]["conv"].setdefault(shape, {}).setdefault(
                            key, []
                        ).append(times)
                for key, _ in PASSES:
                    times = worker.ask(
                        {"do": "pool", "args": {"kind": key, "repeats": settings["repeats"]}}
                    )
                    rounds[worker.name]["pool"].setdefault(key, []).append(times)
        by_name = {w.name: w for w in active}
        peaks = {}
        if "pytorch" in by_name:
            peaks["PyTorch's"] = by_name["pytorch"].ask(
                {"do": "peak", "args": {"size": settings["peak_size"], "repeats": PEAK_REPEATS}}
            )
        extras["reference_gflops"] = by_name["tinycnn"].ask({"do": "reference"})
    finally:
        for worker in workers:
            worker.close()
    kernel, peaks[f"NumPy's with OpenBLAS's own {kernel} kernel"] = numpy_peak(
        settings["peak_size"]
    )
    extras["peaks_gflops"] = peaks
    extras["peak_gflops"] = max(peaks.values())
    extras["peak_source"] = (
        f"float32 matmul {settings['peak_size']}^2 on {THREADS} threads, fastest of "
        f"{PEAK_REPEATS}: " + ", ".join(f"{name} {gflops:.0f}" for name, gflops in peaks.items())
    )
    infos = {w.name: w.info for w in workers}
    return rounds, extras, infos


NUMPY_PEAK = """
import json, sys
sys.path.insert(0, sys.argv[4])
import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits
from turns import timed_runs
size, repeats, threads = map(int, sys.argv[1:4])
a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
with threadpool_limits(limits=threads, user_api="blas"):
    seconds = timed_runs(lambda: a @ a, repeats)
kernel = next(p for p in threadpool_info() if p["user_api"] == "blas").get("architecture")
print(json.dumps([kernel or "unnamed", seconds]))
"""


def numpy_peak(size):
    """(kernel, GFLOP/s): NumPy's float32 matrix product on THREADS threads, in a fresh process
    where OpenBLAS picks its kernel for this CPU (OPENBLAS_CORETYPE unset). It is a measure of the
    machine, not of how tinycnn's products run here (`turns.blas_kernel` says that): on a Zen 5
    (CPU family 26) whose environment set OPENBLAS_CORETYPE=Haswell, 2048^2 ran at 399-404
    GFLOP/s with OpenBLAS's own SkylakeX kernel (AVX-512), at 200-212 with Haswell's, and
    PyTorch's matmul (MKL, at about an AVX2 kernel's speed) at 178-181, while PyTorch's own
    convolutions reached 420 GFLOP/s."""
    env = {k: v for k, v in os.environ.items() if k != CORE_TYPE_VARIABLE}
    here = str(Path(__file__).resolve().parent)
    command = [sys.executable, "-c", NUMPY_PEAK, str(size), str(PEAK_REPEATS), str(THREADS), here]
    answer = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    kernel, seconds = json.loads(answer.stdout)
    return kernel, fastest_gflops(size, seconds)


def fastest_gflops(size, seconds):
    """GFLOP/s of the fastest of a size x size matrix product's timed runs. A peak is what the
    machine reaches; a busy moment on the host only slows a run: one run's median measured
    100 GFLOP/s where the runs before and after measured 174-191 (AMD EPYC Zen 4, CPU family
    25), and every shape's share of it came out above 100%."""
    return 2 * size**3 / min(seconds) / 1e9


def check_agreement(workers, shape):
    """Every framework computes the same convolution: a benchmark of wrong code is worthless."""
    with tempfile.TemporaryDirectory() as folder:
        outputs = {
            w.name: np.load(
                w.ask(
                    {
                        "do": "forward_output",
                        "args": {"shape": shape, "path": os.path.join(folder, f"{w.name}.npy")},
                    }
                )
            )
            for w in workers
        }
    for name, out in outputs.items():
        np.testing.assert_allclose(out, outputs["tinycnn"], rtol=1e-3, atol=1e-3, err_msg=name)


def summarise(settings, rounds, peak):
    """Per framework, shape and pass: median seconds, GFLOP/s, round spread, flag; the ratios."""
    summary = {"conv": {}, "pool": {}}
    for name, result in rounds.items():
        for shape, passes in result["conv"].items():
            for key, runs in passes.items():
                seconds, spread, wide = median_spread(
                    [np.median(r) for r in runs], np.concatenate(runs)
                )
                flops = conv_flops(settings["shapes"][shape]) * (3 if key != "forward" else 1)
                summary["conv"].setdefault(shape, {}).setdefault(key, {})[name] = {
                    "ms": seconds * 1e3,
                    "gflops": flops / seconds / 1e9,
                    "share_of_peak": flops / seconds / 1e9 / peak,
                    "round_ms": [s * 1e3 for s in spread],
                    "wide_spread": wide,
                }
        for key, runs in result["pool"].items():
            seconds, spread, wide = median_spread(
                [np.median(r) for r in runs], np.concatenate(runs)
            )
            summary["pool"].setdefault(key, {})[name] = {
                "ms": seconds * 1e3,
                "round_ms": [s * 1e3 for s in spread],
                "wide_spread": wide,
            }
    for passes in summary["conv"].values():
        for by_framework in passes.values():
            if "pytorch" in by_framework:
                by_framework["tinycnn"]["x_pytorch"] = (
                    by_framework["pytorch"]["ms"] / by_framework["tinycnn"]["ms"]
                )
    for key, _ in PASSES:
        ratios = [p[key]["tinycnn"].get("x_pytorch") for p in summary["conv"].values()]
        if all(ratio is not None for ratio in ratios):
            summary.setdefault("geomean_x_pytorch", {})[key] = math.exp(
                sum(math.log(r) for r in ratios) / len(ratios)
            )
    return summary


def gflops_cell(row, name, width):
    """GFLOP/s of one framework, "!" after it if its spread is wide, "-" if it did not run."""
    if name not in row:
        return f"{'-':>{width}}"
    flag = "!" if row[name]["wide_spread"] else " "
    return f"{row[name]['gflops']:{width - 1}.1f}{flag}"


def print_report(settings, summary, extras, infos, machine_info):
    versions = {k: v for info in infos.values() for k, v in info.get("versions", {}).items()}
    print(
        f"\n{machine_info['cpu']}, {machine_info['cores']} cores, 1-min load average "
        f"{machine_info['load_average_1min']:.1f} at the start"
    )
    print(blas_line(machine_info))
    print(second_core_line(machine_info))
    print(
        ", ".join(f"{k} {v}" for k, v in versions.items())
        + ("" if infos["pytorch"]["installed"] else ", PyTorch not installed")
    )
    peak = extras["peak_gflops"]
    print(f"float32 peak: {peak:.0f} GFLOP/s ({extras['peak_source']})")
    print(
        f"float32 convolutions, {THREADS} threads; each framework in its own process, "
        f"{settings['rounds']} rounds of {settings['repeats']} runs; medians, "
        f"'!' = slowest round over 1.3x the fastest; OMP_WAIT_POLICY "
        f"{settings['omp_wait_policy'] or 'unset'}"
    )
    head = (
        f"{'shape (N,Cin,H,W,Cout,k,s,p)':31} {'pass':7} {'tinycnn GFLOP/s':>16} "
        f"{'% peak':>6} {'PyTorch GFLOP/s':>16} {'im2col GFLOP/s':>15} "
        f"{'x PyTorch speed':>15}"
    )
    print("\n" + head + "\n" + "-" * len(head))
    for shape, passes in summary["conv"].items():
        for key, label in PASSES:
            row = passes[key]
            ours = row["tinycnn"]
            ratio = f"{ours['x_pytorch']:14.2f}x" if "x_pytorch" in ours else f"{'-':>15}"
            mark = "*" if by_winograd(settings["shapes"][shape]) else ""
            name = f"{shape}{mark} {tuple(settings['shapes'][shape])}" if key == "forward" else ""
            share = f"{ours['share_of_peak']:6.0%}"
            print(
                f"{name:31} {label:7} {gflops_cell(row, 'tinycnn', 16)} {share} "
                f"{gflops_cell(row, 'pytorch', 16)} {gflops_cell(row, 'im2col', 15)} {ratio}"
            )
    if any(map(by_winograd, settings["shapes"].values())):
        print(
            "* Winograd's algorithm, as Conv2D computes this shape: GFLOP/s and % peak count the "
            "direct sum's FLOPs (144 multiplications per 4x4 outputs; F(4x4, 3x3) needs 36, "
            "F(2x2, 3x3) 64)"
        )
    for key, label in PASSES:
        if key in summary.get("geomean_x_pytorch", {}):
            print(
                f"geometric mean, {label}: {summary['geomean_x_pytorch'][key]:.2f}x PyTorch's speed"
            )
    ref = extras["reference_gflops"]
    print(
        f"\nthe lecture's loops on {REFERENCE_SHAPE}: {ref['forward']:.3f} GFLOP/s forward, "
        f"{ref['forward_backward']:.3f} forward+backward"
    )
    print(
        f"\nmax-pool k=s={POOL_K} on {tuple(settings['pool_shape'])} float32, ms (fastest-"
        "slowest round), and x PyTorch's speed"
    )
    for key, label in PASSES:
        row = summary["pool"][key]
        cells = []
        for name in ("tinycnn", "pytorch", "im2col"):
            if name in row:
                low, high = row[name]["round_ms"]
                flag = "!" if row[name]["wide_spread"] else ""
                peer = "numpy" if name == "im2col" else name
                cells.append(f"{peer} {row[name]['ms']:.3f} ({low:.3f}-{high:.3f}){flag}")
        ratio = ""
        if "pytorch" in row:
            ratio = f"; tinycnn {row['pytorch']['ms'] / row['tinycnn']['ms']:.1f}x PyTorch's speed"
        print(f"  {label:8} " + ", ".join(cells) + ratio)


def plot(settings, summary, peak, path, cpu):
    """Bars: x PyTorch's speed per shape (left); GFLOP/s with the peak line (right)."""
    plt = pyplot()

    shapes = list(summary["conv"])
    fig, (ratio_ax, gflops_ax) = plt.subplots(1, 2, figsize=(13, 4.5))
    bar = 0.4
    for k, (key, label) in enumerate(PASSES):
        xs = [i + (k - 0.5) * bar for i in range(len(shapes))]
        ratios = [summary["conv"][s][key]["tinycnn"].get("x_pytorch", 0) for s in shapes]
        ratio_ax.bar(xs, ratios, bar, label=label)
        gflops_ax.bar(
            xs,
            [summary["conv"][s][key]["tinycnn"]["gflops"] for s in shapes],
            bar,
            label=f"tinycnn {label}",
        )
    ratio_ax.axhline(1, color="gray", linestyle="--", linewidth=1)
    ratio_ax.set_yscale("log")  # 2x faster and 2x slower as far from 1x
    ratio_ax.set_ylabel("x PyTorch's speed (higher is better)")
    ratio_ax.set_title("tinycnn's speed as a multiple of PyTorch's")
    gflops_ax.axhline(peak, color="gray", linestyle="--", linewidth=1, label="float32 peak")
    gflops_ax.set_ylabel("GFLOP/s")
    gflops_ax.set_title(f"tinycnn, float32, {THREADS} threads, {cpu}")
    plain_log_ticks(ratio_ax.yaxis, "x")
    marked = [s + ("*" if by_winograd(settings["shapes"][s]) else "") for s in shapes]
    for ax in (ratio_ax, gflops_ax):
        ax.set_xticks(range(len(shapes)), marked)
        ax.set_xlabel("shape (* Winograd's road: GFLOP/s count the direct sum's FLOPs)")
        ax.legend()
    save_chart(fig, path)


def main():
    parser = command_line(
        __doc__,
        "bench_conv",
        epilog="Shapes (N, C_in, H, W, C_out, k, stride, padding): "
        + "; ".join(f"{n} {s}" for n, s in SHAPES.items()),
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: three tiny shapes, one round of 2 runs"
    )
    parser.add_argument(
        "--rounds", type=int, default=None, help="turns of each framework (default 3; quick 1)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed runs per shape, pass and round (default 7; quick 2)",
    )
    parser.add_argument(
        "--passive",
        action="store_true",
        help="OMP_WAIT_POLICY=PASSIVE for every worker: idle OpenMP threads sleep instead of "
        "spinning (fairer on a machine shared with others)",
    )
    parser.add_argument("--worker", choices=list(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker(args.worker, json.loads(args.settings))
        return
    settings = {
        "shapes": QUICK_SHAPES if args.quick else SHAPES,
        "pool_shape": QUICK_POOL_SHAPE if args.quick else POOL_SHAPE,
        "rounds": at_least_one(parser, args.rounds, "rounds") or (1 if args.quick else 3),
        "repeats": at_least_one(parser, args.repeats, "repeats") or (2 if args.quick else 7),
        "peak_size": QUICK_PEAK_SIZE if args.quick else PEAK_SIZE,
        "warm_up_s": 0.0 if args.quick else WARM_UP_S,
        "threads": THREADS,
        "omp_wait_policy": "PASSIVE" if args.passive else os.environ.get("OMP_WAIT_POLICY"),
    }
    machine_info = machine(args.quick)
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"} if args.passive else None
    rounds, extras, infos = measure(settings, Path(__file__).resolve(), env)
    second_core_again(machine_info, args.quick)
    summary = summarise(settings, rounds, extras["peak_gflops"])
    print_report(settings, summary, extras, infos, machine_info)
    report = {
        "machine": machine_info,
        "settings": settings,
        "workers": infos,
        **extras,
        "summary": summary,
        "runs_s": rounds,
    }
    save_results(
        args.out,
        "bench_conv",
        report,
        lambda path: plot(settings, summary, extras["peak_gflops"], path, machine_info["cpu"]),
    )


if __name__ == "__main__":
    main()
