"""Convolution and max-pool speed: tinycnn's numba kernels against PyTorch, NumPy im2col and the
lecture's loops, in GFLOP/s and as a share of the machine's float32 matrix-multiply peak.

    python benchmarks/bench_conv.py [--quick] [--out DIR]

Prints a table and writes bench_conv.json and bench_conv.png to DIR (default benchmarks/output/).
FLOPs: forward 2*N*C_out*H_out*W_out*C_in*k*k; forward+backward (input, weight and bias
gradients) 3 times that. Each time is the median of several repeats after a warm-up.
Implementations run one after the other, shape by shape (never side by side), each with its own
thread setup: tinycnn with numba's 2 threads and BLAS on 1, PyTorch with 2 threads, NumPy's BLAS
with 2.
"""

import argparse
import json
import math
import sys
import time
from functools import partial
from pathlib import Path

import tinycnn  # noqa: F401  (first: sets the thread pools before numba starts)
import numba
import numpy as np
from threadpoolctl import threadpool_limits

from tinycnn.kernels import conv, im2col, pool, reference  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

THREADS = 2
# (N, C_in, H, W, C_out, k, stride, padding)
SHAPES = {
    "a": (64, 1, 64, 64, 8, 3, 1, 1),
    "b": (64, 8, 32, 32, 16, 3, 1, 1),
    "c": (64, 16, 16, 16, 32, 3, 1, 1),
    "d": (64, 3, 64, 64, 16, 5, 1, 2),
    "e": (32, 32, 8, 8, 64, 3, 1, 1),
    "f": (64, 8, 32, 32, 16, 3, 2, 1),
}
QUICK_SHAPES = {
    "a": (4, 1, 16, 16, 8, 3, 1, 1),
    "b": (4, 8, 8, 8, 16, 3, 1, 1),
    "f": (4, 8, 8, 8, 16, 3, 2, 1),
}
REFERENCE_SHAPE = (2, 3, 16, 16, 4, 3, 1, 1)  # the pure-Python loops: small, and per FLOP
POOL_SHAPE, QUICK_POOL_SHAPE = (64, 8, 64, 64), (4, 8, 16, 16)
POOL_K = 2


def median_time(fn, repeats, budget=2.0):
    """Median seconds of fn() over `repeats` runs after a warm-up (at least 3 past `budget` s)."""
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < repeats and (len(times) < 3 or time.perf_counter() - start < budget):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def matmul_peak(size, repeats):
    """float32 GFLOP/s of one large np.matmul, BLAS on THREADS threads: the practical ceiling."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    with threadpool_limits(limits=THREADS, user_api="blas"):
        seconds = median_time(lambda: a @ b, repeats)
    return 2 * size**3 / seconds / 1e9


def conv_flops(shape):
    """Forward FLOPs: 2*N*C_out*H_out*W_out*C_in*k*k."""
    n, c_in, h, w, c_out, k, s, p = shape
    out_h, out_w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    return 2 * n * c_out * out_h * out_w * c_in * k * k


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


def kernel_steps(module, x, weights, bias, dout, s, p):
    """forward and forward+backward closures for a module with the kernel interface."""
    k = weights.shape[2]

    def forward():
        return module.conv2d_forward(x, weights, bias, s, p)

    def forward_backward():
        module.conv2d_forward(x, weights, bias, s, p)
        module.conv2d_backward_input(dout, weights, x.shape, s, p)
        module.conv2d_backward_params(x, dout, k, s, p)

    return forward, forward_backward


def im2col_steps(x, weights, bias, dout, s, p):
    def forward():
        return im2col.conv2d_forward(x, weights, bias, s, p)[0]

    def forward_backward():
        _, cols = im2col.conv2d_forward(x, weights, bias, s, p)
        im2col.conv2d_backward(dout, cols, x.shape, weights, s, p)

    return forward, forward_backward


def torch_steps(x, weights, bias, dout, s, p):
    xt, wt, bt = (torch.from_numpy(a).requires_grad_() for a in (x, weights, bias))
    dt = torch.from_numpy(dout)

    def forward():
        with torch.no_grad():
            return torch.nn.functional.conv2d(xt, wt, bt, stride=s, padding=p).numpy()

    def forward_backward():
        out = torch.nn.functional.conv2d(xt, wt, bt, stride=s, padding=p)
        torch.autograd.grad(out, (xt, wt, bt), dt)

    return forward, forward_backward


def measure_conv(steps, shape, repeats, blas_threads=1):
    """{"forward": GFLOP/s, "forward_backward": GFLOP/s} of one implementation on one shape."""
    x, weights, bias, dout = conv_problem(shape)
    forward, forward_backward = steps(x, weights, bias, dout, shape[6], shape[7])
    flops = conv_flops(shape)
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        return {
            "forward": flops / median_time(forward, repeats) / 1e9,
            "forward_backward": 3 * flops / median_time(forward_backward, repeats) / 1e9,
        }


def measure_convs(shapes, repeats):
    """{implementation: {shape name: GFLOP/s of both passes}}. Shape by shape, so that the
    implementations compared on a shape are measured close together in time."""
    implementations = {"tinycnn": (partial(kernel_steps, conv), 1)}
    if torch is not None:
        implementations["pytorch"] = (torch_steps, 1)
    implementations["im2col"] = (im2col_steps, THREADS)
    results = {name: {} for name in implementations}
    for shape_name, shape in shapes.items():
        for name, (steps, blas_threads) in implementations.items():
            results[name][shape_name] = measure_conv(steps, shape, repeats, blas_threads)
    return results


def check_agreement(shape):
    """The peers compute the same convolution as tinycnn: a benchmark of wrong code is worthless."""
    problem = conv_problem(shape)
    s, p = shape[6], shape[7]
    ours = kernel_steps(conv, *problem, s, p)[0]()
    peers = [im2col_steps] + ([torch_steps] if torch is not None else [])
    for steps in peers:
        np.testing.assert_allclose(steps(*problem, s, p)[0](), ours, rtol=1e-3, atol=1e-3)


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


def measure_pools(shape, repeats):
    """{implementation: {"forward": ms, "forward_backward": ms}}, max-pool k = s = POOL_K."""
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    k = POOL_K
    dout = np.ones_like(pool.maxpool2d_forward(x, k, k)[0])

    def ours_forward_backward():
        _, argmax = pool.maxpool2d_forward(x, k, k)
        pool.maxpool2d_backward(dout, argmax, x.shape)

    def peer_forward_backward():
        _, mask = numpy_pool_forward(x, k)
        numpy_pool_backward(dout, mask, x.shape, k)

    steps = {
        "tinycnn": (lambda: pool.maxpool2d_forward(x, k, k), ours_forward_backward),
        "numpy": (lambda: numpy_pool_forward(x, k), peer_forward_backward),
    }
    if torch is not None:
        xt, dt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(dout)

        def torch_forward():
            with torch.no_grad():
                torch.nn.functional.max_pool2d(xt, k, k)

        def torch_forward_backward():
            torch.autograd.grad(torch.nn.functional.max_pool2d(xt, k, k), xt, dt)

        steps["pytorch"] = (torch_forward, torch_forward_backward)
    results = {}
    for name, (forward, forward_backward) in steps.items():
        with threadpool_limits(limits=THREADS if name == "numpy" else 1, user_api="blas"):
            results[name] = {
                "forward": median_time(forward, repeats) * 1e3,
                "forward_backward": median_time(forward_backward, repeats) * 1e3,
            }
    return results


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


PASSES = (("forward", "fwd"), ("forward_backward", "fwd+bwd"))


def print_conv_table(shapes, results, peak):
    """GFLOP/s (share of peak) per shape and pass, the ratios, and their geometric means."""
    ours, peer, theirs = results["tinycnn"], results["im2col"], results.get("pytorch")

    def cell(gflops):
        return f"{gflops:7.1f} ({gflops / peak:4.0%})"

    print(f"\nfloat32 conv, {THREADS} threads: GFLOP/s (share of the {peak:.0f} GFLOP/s matmul)")
    head = (
        f"{'shape (N,Cin,H,W,Cout,k,s,p)':32} {'pass':8} {'tinycnn':>14} {'PyTorch':>14} "
        f"{'im2col':>14} {'/PyTorch':>9} {'/im2col':>8}"
    )
    print(head + "\n" + "-" * len(head))
    for name, shape in shapes.items():
        for key, label in PASSES:
            label_shape = f"{name} {shape}" if key == "forward" else ""
            torch_cell = cell(theirs[name][key]) if theirs else "not installed"
            vs_torch = f"{ours[name][key] / theirs[name][key]:8.2f}x" if theirs else f"{'-':>9}"
            vs_peer = f"{ours[name][key] / peer[name][key]:7.1f}x"
            print(
                f"{label_shape:32} {label:8} {cell(ours[name][key])} {torch_cell:>14} "
                f"{cell(peer[name][key])} {vs_torch} {vs_peer}"
            )
    for key, label in PASSES:
        vs_peer = geomean([ours[n][key] / peer[n][key] for n in shapes])
        line = f"geometric mean, {label}: tinycnn/im2col {vs_peer:.1f}x"
        if theirs:
            vs_torch = geomean([ours[n][key] / theirs[n][key] for n in shapes])
            line += f", tinycnn/PyTorch {vs_torch:.2f}x"
        print(line)
    if theirs is None:
        print("PyTorch: not installed")


def print_pool_table(shape, pools):
    megabytes = np.prod(shape) * 4 / 1e6
    print(f"\nmax-pool k=s={POOL_K} on {shape} float32 ({megabytes:.0f} MB in): ms (input GB/s)")
    for name in ("tinycnn", "pytorch", "numpy"):
        if name not in pools:
            print(f"  {name:8} not installed")
            continue
        line = f"  {name:8}"
        for key, label in PASSES:
            ms = pools[name][key]
            line += f"  {label} {ms:7.3f} ({megabytes / ms:5.1f})"
        print(line)


def plot(shapes, results, peak, path):
    """Bars of GFLOP/s per shape, forward and forward+backward side by side, and the peak."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    names = list(shapes)
    implementations = [i for i in ("tinycnn", "pytorch", "im2col") if i in results]
    bar = 0.8 / len(implementations)
    for ax, (key, label) in zip(axes, PASSES):
        for k, impl in enumerate(implementations):
            xs = [i + (k - (len(implementations) - 1) / 2) * bar for i in range(len(names))]
            ax.bar(xs, [results[impl][n][key] for n in names], bar, label=impl)
        ax.axhline(peak, color="gray", linestyle="--", linewidth=1, label="matmul peak")
        ax.set_xticks(range(len(names)), names)
        ax.set_title(f"float32 conv, {label}, {THREADS} threads")
        ax.set_xlabel("shape")
    axes[0].set_ylabel("GFLOP/s")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny shapes, few repeats")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "output")
    args = parser.parse_args()
    shapes = QUICK_SHAPES if args.quick else SHAPES
    pool_shape = QUICK_POOL_SHAPE if args.quick else POOL_SHAPE
    repeats = 3 if args.quick else 15
    numba.set_num_threads(THREADS)
    if torch is not None:
        torch.set_num_threads(THREADS)

    peak = matmul_peak(256 if args.quick else 2048, repeats)
    check_agreement(next(iter(shapes.values())))
    results = measure_convs(shapes, repeats)
    # The pure-Python loops are ~1000x slower: one small shape, reported per FLOP.
    reference_steps = partial(kernel_steps, reference)
    results["reference"] = {"small": measure_conv(reference_steps, REFERENCE_SHAPE, 1)}
    pools = measure_pools(pool_shape, repeats)

    print_conv_table(shapes, results, peak)
    ref = results["reference"]["small"]
    print(
        f"reference loops on {REFERENCE_SHAPE}: {ref['forward']:.3f} / "
        f"{ref['forward_backward']:.3f} GFLOP/s forward / forward+backward"
    )
    print_pool_table(pool_shape, pools)

    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "threads": THREADS,
        "matmul_peak_gflops": peak,
        "pytorch": torch.__version__ if torch is not None else None,
        "shapes": shapes,
        "conv_gflops": results,
        "reference_shape": REFERENCE_SHAPE,
        "pool_shape": pool_shape,
        "pool_ms": pools,
    }
    (args.out / "bench_conv.json").write_text(json.dumps(report, indent=2))
    plot(shapes, results, peak, args.out / "bench_conv.png")
    print(f"\nwrote {args.out / 'bench_conv.json'} and {args.out / 'bench_conv.png'}")


if __name__ == "__main__":
    main()
