"""Convolution and max-pool speed: tinycnn's numba kernels against PyTorch, NumPy im2col and the
lecture's loops, in GFLOP/s and as a share of the machine's float32 matrix-multiply peak.

    python benchmarks/bench_conv.py [--quick] [--out DIR]

Prints a table and writes bench_conv.json and bench_conv.png to DIR (default benchmarks/output/).
FLOPs: forward 2*N*C_out*H_out*W_out*C_in*k*k; forward+backward (input, weight and bias
gradients) 3 times that. Each time is the median of several repeats after a warm-up.
Implementations run one after the other (never side by side), each with its own thread setup:
tinycnn with numba's 2 threads and BLAS on 1, PyTorch with 2 threads, NumPy's BLAS with 2.
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import tinycnn  # noqa: F401  (first: sets the thread pools before numba starts)
import numba
import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
import im2col  # noqa: E402  (the NumPy peer, beside this file)

from tinycnn.kernels import conv, pool, reference  # noqa: E402

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
    """Median seconds of fn() over `repeats` runs (fewer if they exceed `budget` s), after a warm-up."""
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < repeats and (len(times) < 3 or time.perf_counter() - start < budget):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def matmul_peak(size, repeats):
    """float32 GFLOP/s of one large np.matmul with BLAS on THREADS threads: the practical ceiling."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    with threadpool_limits(limits=THREADS, user_api="blas"):
        seconds = median_time(lambda: a @ b, repeats)
    return 2 * size**3 / seconds / 1e9


def conv_flops(shape):
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
        return im2col.conv2d_forward(x, weights, bias, s, p)

    def forward_backward():
        _, cols = im2col.conv2d_forward(x, weights, bias, s, p)
        im2col.conv2d_backward(dout, cols, x.shape, weights, s, p)

    return forward, forward_backward


def torch_steps(x, weights, bias, dout, s, p):
    xt, wt, bt = (torch.from_numpy(a).requires_grad_() for a in (x, weights, bias))
    dt = torch.from_numpy(dout)

    def forward():
        with torch.no_grad():
            return torch.nn.functional.conv2d(xt, wt, bt, stride=s, padding=p)

    def forward_backward():
        out = torch.nn.functional.conv2d(xt, wt, bt, stride=s, padding=p)
        torch.autograd.grad(out, (xt, wt, bt), dt)

    return forward, forward_backward


def measure_convs(implementation, shapes, repeats):
    """{shape name: (forward GFLOP/s, forward+backward GFLOP/s)} for one implementation."""
    results = {}
    for name, shape in shapes.items():
        x, weights, bias, dout = conv_problem(shape)
        s, p = shape[6], shape[7]
        forward, forward_backward = implementation(x, weights, bias, dout, s, p)
        flops = conv_flops(shape)
        results[name] = (
            flops / median_time(forward, repeats) / 1e9,
            3 * flops / median_time(forward_backward, repeats) / 1e9,
        )
    return results


def check_agreement(shape):
    """The peers compute the same convolution as tinycnn (a benchmark of wrong code is worthless)."""
    x, weights, bias, dout = conv_problem(shape)
    s, p = shape[6], shape[7]
    ours = conv.conv2d_forward(x, weights, bias, s, p)
    np.testing.assert_allclose(im2col.conv2d_forward(x, weights, bias, s, p)[0], ours, rtol=1e-3, atol=1e-3)
    if torch is not None:
        theirs = torch_steps(x, weights, bias, dout, s, p)[0]().numpy()
        np.testing.assert_allclose(theirs, ours, rtol=1e-3, atol=1e-3)


def numpy_pool_forward(x, k):
    """The common NumPy peer for k = s: reshape into windows, max over them, keep a mask."""
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
    """{implementation: (forward ms, forward+backward ms)} for max-pool k = s = POOL_K."""
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    k = POOL_K
    out, argmax = pool.maxpool2d_forward(x, k, k)
    dout = np.ones_like(out)

    def ours():
        _, where = pool.maxpool2d_forward(x, k, k)
        pool.maxpool2d_backward(dout, where, x.shape)

    def peer():
        _, mask = numpy_pool_forward(x, k)
        numpy_pool_backward(dout, mask, x.shape, k)

    results = {
        "tinycnn": (median_time(lambda: pool.maxpool2d_forward(x, k, k), repeats), median_time(ours, repeats)),
    }
    if torch is not None:
        xt = torch.from_numpy(x).requires_grad_()
        dt = torch.from_numpy(dout)

        def torch_forward():
            with torch.no_grad():
                torch.nn.functional.max_pool2d(xt, k, k)

        def torch_forward_backward():
            torch.autograd.grad(torch.nn.functional.max_pool2d(xt, k, k), xt, dt)

        results["pytorch"] = (median_time(torch_forward, repeats), median_time(torch_forward_backward, repeats))
    with threadpool_limits(limits=THREADS, user_api="blas"):
        results["numpy"] = (median_time(lambda: numpy_pool_forward(x, k), repeats), median_time(peer, repeats))
    return {name: (fwd * 1e3, fb * 1e3) for name, (fwd, fb) in results.items()}


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


def print_conv_table(shapes, results, peak):
    ours, peer, theirs = results["tinycnn"], results["im2col"], results.get("pytorch")
    print(f"\nfloat32 conv, {THREADS} threads, GFLOP/s (share of the {peak:.0f} GFLOP/s matmul peak)")
    head = f"{'shape (N,Cin,H,W,Cout,k,s,p)':32} {'pass':8} {'tinycnn':>14} {'PyTorch':>14} {'im2col':>14} {'/PyTorch':>9} {'/im2col':>8}"
    print(head)
    print("-" * len(head))
    for name, shape in shapes.items():
        for col, label in ((0, "fwd"), (1, "fwd+bwd")):
            t = f"{theirs[name][col]:7.1f} ({theirs[name][col] / peak:4.0%})" if theirs else "not installed"
            vs_torch = f"{ours[name][col] / theirs[name][col]:8.2f}x" if theirs else f"{'-':>9}"
            print(
                f"{name + ' ' + str(shape) if col == 0 else '':32} {label:8} "
                f"{ours[name][col]:7.1f} ({ours[name][col] / peak:4.0%}) {t:>14} "
                f"{peer[name][col]:7.1f} ({peer[name][col] / peak:4.0%}) {vs_torch} "
                f"{ours[name][col] / peer[name][col]:7.1f}x"
            )
    for col, label in ((0, "forward"), (1, "forward+backward")):
        line = f"geometric mean, {label}: tinycnn/im2col {geomean([ours[n][col] / peer[n][col] for n in shapes]):.1f}x"
        if theirs:
            line += f", tinycnn/PyTorch {geomean([ours[n][col] / theirs[n][col] for n in shapes]):.2f}x"
        print(line)


def plot(shapes, results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    names = list(shapes)
    implementations = [i for i in ("tinycnn", "pytorch", "im2col") if i in results]
    width = 0.8 / len(implementations)
    for ax, col, title in ((axes[0], 0, "forward"), (axes[1], 1, "forward + backward")):
        for k, impl in enumerate(implementations):
            xs = [i + (k - (len(implementations) - 1) / 2) * width for i in range(len(names))]
            ax.bar(xs, [results[impl][n][col] for n in names], width, label=impl)
        ax.set_xticks(range(len(names)), names)
        ax.set_title(f"float32 conv, {title}")
        ax.set_xlabel("shape")
    axes[0].set_ylabel("GFLOP/s")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny shapes, few repeats (a smoke test)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "output")
    args = parser.parse_args()
    shapes = QUICK_SHAPES if args.quick else SHAPES
    repeats = 3 if args.quick else 15
    numba.set_num_threads(THREADS)
    if torch is not None:
        torch.set_num_threads(THREADS)

    peak = matmul_peak(256 if args.quick else 2048, repeats)
    check_agreement(shapes[next(iter(shapes))])
    results = {"tinycnn": measure_convs(lambda *a: kernel_steps(conv, *a), shapes, repeats)}
    if torch is not None:
        results["pytorch"] = measure_convs(torch_steps, shapes, repeats)
    with threadpool_limits(limits=THREADS, user_api="blas"):
        results["im2col"] = measure_convs(im2col_steps, shapes, repeats)
    # The pure-Python loops are ~1000x slower: one small shape, reported per FLOP.
    results["reference"] = measure_convs(lambda *a: kernel_steps(reference, *a), {"small": REFERENCE_SHAPE}, 1)
    pools = measure_pools(QUICK_POOL_SHAPE if args.quick else POOL_SHAPE, repeats)

    print_conv_table(shapes, results, peak)
    ref_fwd, ref_fb = results["reference"]["small"]
    print(f"\nreference loops on {REFERENCE_SHAPE}: {ref_fwd:.3f} / {ref_fb:.3f} GFLOP/s forward / forward+backward")
    if torch is None:
        print("PyTorch: not installed")
    pool_shape = QUICK_POOL_SHAPE if args.quick else POOL_SHAPE
    mbytes = np.prod(pool_shape) * 4 / 1e6
    print(f"\nmax-pool k=s={POOL_K} on {pool_shape} float32 ({mbytes:.0f} MB in): ms (input GB/s)")
    for name in ("tinycnn", "pytorch", "numpy"):
        if name in pools:
            fwd, fb = pools[name]
            print(f"  {name:8} forward {fwd:7.3f} ({mbytes / fwd:5.1f})   forward+backward {fb:7.3f} ({mbytes / fb:5.1f})")
        else:
            print(f"  {name:8} not installed")

    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "threads": THREADS,
        "matmul_peak_gflops": peak,
        "shapes": {name: list(shape) for name, shape in shapes.items()},
        "conv_gflops": {impl: {n: {"forward": v[0], "forward_backward": v[1]} for n, v in r.items()} for impl, r in results.items()},
        "reference_shape": list(REFERENCE_SHAPE),
        "pool_shape": list(pool_shape),
        "pool_ms": {impl: {"forward": v[0], "forward_backward": v[1]} for impl, v in pools.items()},
        "pytorch": torch.__version__ if torch is not None else None,
    }
    (args.out / "bench_conv.json").write_text(json.dumps(report, indent=2))
    plot(shapes, {k: v for k, v in results.items() if k != "reference"}, args.out / "bench_conv.png")
    print(f"\nwrote {args.out / 'bench_conv.json'} and {args.out / 'bench_conv.png'}")


if __name__ == "__main__":
    main()
