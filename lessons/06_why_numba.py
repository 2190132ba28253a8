# %% [markdown]
# # Lesson 6: why numba
#
# Lesson 3 wrote a convolution as the lecture's loops and checked that `tc.Conv2D` computes the
# same numbers. `tc.Conv2D` does not run those loops, though: it runs kernels compiled with
# numba, in `tinycnn/kernels/conv.py` and `pool.py`. This lesson times the two side by side and
# explains where the difference comes from.
#
# The two versions have the same names, arguments and results:
#
# - `tinycnn.kernels.reference`: plain Python loops over images, filters and output positions,
#   with NumPy for the sum over one window. Written to be read.
# - `tinycnn.kernels.conv` and `tinycnn.kernels.pool`: the numba kernels the layers call.
#
# Between the two rungs of this ladder stands a third, `tinycnn.kernels.im2col`: the NumPy way
# other courses teach (every window copied into a column of one matrix, then one matrix
# product), which the benchmarks in `benchmarks/` time against both.
#
# Both are public: `tinycnn.kernels` is the part of tinycnn's API that exposes the machinery, for
# lessons like this one and for the benchmarks. The lesson shows its chart and saves it in
# `output/` beside the lesson (`output/quick/` for a `--quick` run, so that it never overwrites a
# full run's; or `--out DIR`).

# %%
# %matplotlib inline
import os
import time

import numba
import numpy as np
from matplotlib.figure import Figure

import tinycnn as tc
from tinycnn.kernels import conv, pool, reference

lesson = tc.course.start(6, "why numba")  # --out, --quick: see tc.course

# %% [markdown]
# ## The shape
#
# A layer like the second convolution of lesson 4's network, on a smaller batch: N images of
# C channels, H x W pixels, F filters of 3x3, stride 1, padding 1 (the output keeps the size),
# then a 2x2 max-pool. Small, so that the slow loops finish in seconds.

# %%
if lesson.quick:
    n_images, channels, size, filters = 2, 4, 16, 8
    seconds_per_timing = 0.02
else:
    n_images, channels, size, filters = 8, 8, 32, 16
    seconds_per_timing = 0.3
kernel_size, stride, padding = 3, 1, 1

rng = np.random.default_rng(0)
x = rng.standard_normal((n_images, channels, size, size), dtype=np.float32)
weights = rng.standard_normal((filters, channels, kernel_size, kernel_size), dtype=np.float32)
bias = rng.standard_normal(filters, dtype=np.float32)
dout = rng.standard_normal((n_images, filters, size, size), dtype=np.float32)
features = rng.standard_normal((n_images, filters, size, size), dtype=np.float32)
_, argmax = pool.maxpool2d_forward(features, 2, 2)
pooled_dout = rng.standard_normal(argmax.shape, dtype=np.float32)

print(f"x (N, C, H, W) = {x.shape}, weights (F, C, k, k) = {weights.shape}, float32")
print(f"{os.cpu_count()} cores; the kernels run in up to {numba.get_num_threads()} parts at once")

# %% [markdown]
# Five jobs make up what a training step asks of these two layers: the convolution's forward
# pass, its two backward passes (the gradient for the input, and the gradients for the weights
# and the bias), and the max-pool's forward and backward passes. Each job is a pair of calls
# with the same arguments, the reference function and its numba twin, and the names of what
# they return: two of the jobs return two arrays.

# %%
jobs = {
    "conv forward": (
        lambda: reference.conv2d_forward(x, weights, bias, stride, padding),
        lambda: conv.conv2d_forward(x, weights, bias, stride, padding),
        ["output"],
    ),
    "conv input gradient": (
        lambda: reference.conv2d_backward_input(dout, weights, x.shape, stride, padding),
        lambda: conv.conv2d_backward_input(dout, weights, x.shape, stride, padding),
        ["dx"],
    ),
    "conv param gradients": (
        lambda: reference.conv2d_backward_params(x, dout, kernel_size, stride, padding),
        lambda: conv.conv2d_backward_params(x, dout, kernel_size, stride, padding),
        ["dW (weights)", "db (bias)"],
    ),
    "max-pool forward": (
        lambda: reference.maxpool2d_forward(features, 2, 2),
        lambda: pool.maxpool2d_forward(features, 2, 2),
        ["pooled values", "argmax positions"],
    ),
    "max-pool backward": (
        lambda: reference.maxpool2d_backward(pooled_dout, argmax, features.shape, 2, 2),
        lambda: pool.maxpool2d_backward(pooled_dout, argmax, features.shape, 2, 2),
        ["dx"],
    ),
}

# %% [markdown]
# Before timing anything: both sides must compute the same thing. The sums agree to float32
# precision; they are not equal bit for bit, because they add the products in a different order
# and every float32 sum rounds. The max-pool involves no sums, so its values and the positions
# of its maxima must be exactly equal.


# %%
def as_tuple(result):
    """A kernel's result as a tuple of arrays, whether it returned one array or two."""
    return result if isinstance(result, tuple) else (result,)


for name, (run_reference, run_numba, results) in jobs.items():
    pairs = zip(results, as_tuple(run_reference()), as_tuple(run_numba()), strict=True)
    for result, slow, fast in pairs:
        if name.startswith("max-pool"):
            agreement = "equal" if np.array_equal(slow, fast) else "DIFFERENT"
        else:
            # The difference relative to the largest value: sums of many products are large.
            difference = np.max(np.abs(slow - fast)) / np.max(np.abs(slow))
            agreement = f"relative difference {difference:.1e}"
        print(f"{name:<21} {result:<17} {str(slow.shape):<18} {agreement}")

# %% [markdown]
# ## Timing fairly
#
# Three rules for honest timings:
#
# 1. **Warm up first.** A numba function is compiled for its argument types on its first call,
#    which takes seconds; tinycnn keeps the compiled code in a cache on disk (`cache=True`), so
#    later runs only load it. Neither belongs in the timing, so every job runs once untimed.
# 2. **Repeat, and take the median.** Other programs share the machine; one slow run says little
#    about the code, and the median ignores the outliers that a mean would absorb. Each call
#    is repeated at least 3 times and until `seconds_per_timing` have passed, so that a pause
#    of a few milliseconds (another program taking a core) cannot cover all of a fast call's
#    runs.
# 3. **Use a clock made for it.** `time.perf_counter()` is the finest clock Python offers.
#
# Besides the times, the table gives the convolutions' speed in GFLOP/s: billions of
# floating-point operations (a multiply-add counts as two) per second.


# %%
def median_seconds(function, min_repeats=3, min_seconds=0.0):
    """The median run time of function(), after one warm-up call, over at least `min_repeats`
    calls and at least `min_seconds` of calls."""
    function()
    times = []
    while len(times) < min_repeats or sum(times) < min_seconds:
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


timings = {}
for name, (run_reference, run_numba, _) in jobs.items():
    timings[name] = (
        median_seconds(run_reference, min_seconds=seconds_per_timing),
        median_seconds(run_numba, min_seconds=seconds_per_timing),
    )

# Every conv job does N * F * H_out * W_out * C * k * k multiply-adds, 2 floating-point
# operations each (here H_out = H and W_out = W).
flops = 2 * n_images * filters * size * size * channels * kernel_size**2
print(f"{'job':<22} {'reference':>11} {'numba':>10} {'speedup':>8}   GFLOP/s, reference -> numba")
for name, (slow, fast) in timings.items():
    rates = ""
    if name.startswith("conv"):
        rates = f"{flops / slow / 1e9:9.3f} -> {flops / fast / 1e9:.1f}"
    print(f"{name:<22} {slow * 1e3:8.2f} ms {fast * 1e3:7.3f} ms {slow / fast:7.0f}x {rates}")
total_reference = sum(slow for slow, _ in timings.values())
total_numba = sum(fast for _, fast in timings.values())
print(
    f"{'all five':<22} {total_reference * 1e3:8.2f} ms {total_numba * 1e3:7.3f} ms "
    f"{total_reference / total_numba:7.0f}x"
)

# %%
figure = Figure(figsize=(9, 4.2), layout="constrained")
ax = figure.subplots()
positions = np.arange(len(timings))
slow_ms = np.array([slow for slow, _ in timings.values()]) * 1e3
fast_ms = np.array([fast for _, fast in timings.values()]) * 1e3
ax.bar(
    positions - 0.2, slow_ms, width=0.4, label="reference (Python loops + NumPy)", color="tab:gray"
)
ax.bar(positions + 0.2, fast_ms, width=0.4, label="numba kernels", color="tab:orange")
for position, slow, fast in zip(positions, slow_ms, fast_ms, strict=True):
    ax.annotate(
        f"{slow / fast:.0f}x faster",
        (position, slow),
        xytext=(0, 4),
        textcoords="offset points",
        ha="center",
        fontweight="bold",
        fontsize=9,
    )
ax.set_yscale("log")
ax.set_xticks(positions, list(timings), fontsize=8)
ax.set_ylabel("median time per call (ms, log scale)")
ax.set_title(f"x {x.shape} float32, {filters} filters of 3x3: numba against the lecture's loops")
ax.set_ylim(top=slow_ms.max() * 10)  # room for the labels
ax.legend(loc="upper right", fontsize=8)
figure.savefig(lesson.out / "06_speedup.png", dpi=120)
figure

# %% [markdown]
# The numbers change from run to run, by up to 2x on a machine shared with other programs, but
# the picture does not: on this shape the numba convolution is thousands of times faster than
# the lecture's loops (less on the tiny `--quick` shape, where the fixed cost of each call weighs
# more). The rest of the lesson explains why.
#
# ## Where the reference loses its time
#
# Look at the innermost loop of `reference.conv2d_forward`:
#
#     window = x_pad[n, :, i * s : i * s + k, j * s : j * s + k]
#     out[n, f, i, j] = np.sum(window * weights[f]) + bias[f]
#
# Each pass makes a new array view, multiplies into a new temporary array, calls `np.sum`, and
# stores one number. The Python interpreter and NumPy's machinery for arrays of any shape and
# type take about a microsecond for each of these steps. The arithmetic itself, C·k·k
# multiply-adds, would take a processor core a few nanoseconds. The reference spends its time on
# bookkeeping, not on arithmetic:

# %%
reference_forward, _ = timings["conv forward"]
passes = n_images * filters * size * size  # one pass of the loop body per output number
print(
    f"{passes:,} passes in {reference_forward * 1e3:.0f} ms: "
    f"{reference_forward / passes * 1e6:.1f} microseconds each, "
    f"for {channels * kernel_size**2} multiply-adds"
)

# %% [markdown]
# ## What makes the numba kernels fast
#
# The kernels are Python too, but compiled, and arranged so that the processor's fastest
# instructions do the work. In the order they matter (read `tinycnn/kernels/` alongside):
#
# **1. Compilation** (`@njit`). numba compiles a Python function to machine code with LLVM, for
# the argument types of its first call. Loops become machine loops, `x[i]` becomes an address
# computation and a load, and nothing is allocated inside a loop. That step alone takes the
# lecture's loops from microseconds per output to nanoseconds. Written naively, as nested loops
# over n, f, i, j, c, di, dj, compiled loops still reach only a few GFLOP/s: 3 to 4 in float32
# on both cores of a 2-core AMD EPYC (Zen 4 or Zen 5, with AVX-512), measured while these
# kernels were written. The same machine multiplies float32 matrices at about 200 GFLOP/s on
# both cores, the practical ceiling for any convolution. The next steps fit the work to the
# hardware.
#
# **2. A layout of long runs** (`layout.py`, `batch_planes`; `tinycnn/kernels/__init__.py`
# draws it for a 3x3 image). Each input channel of the whole
# batch is copied into one flat vector: row after row, image after image, with zeros after every
# row and every image that serve as the padding. In that layout, the output number q under the
# filter tap (c, di, dj) always reads the input at q plus a fixed offset. The whole convolution
# becomes: for each tap, add (its weight) x (the input run starting at its offset) to the run of
# outputs. (The outputs that land on the zeros after each row are computed too, and thrown away.)
#
# **3. Vector instructions** (`taps.py`, `_accumulate`). Its innermost loop runs over consecutive
# outputs q and reads consecutive inputs, through slices cut *before* the loop
# (`x0 = x[o0 : o0 + length]`). LLVM turns such a loop into SIMD instructions: with AVX-512, one
# fused multiply-add instruction does 16 float32 multiply-adds. Cutting the slices outside the
# loop matters: an index computed inside it made numba check for negative indices (Python's
# `x[-1]`), and LLVM then used slow gather instructions instead, about 3x slower (3.9 against
# 12.6 GFLOP/s in a small test on the same machine; a whole kernel went from about 8 to about
# 55 GFLOP/s when the slices moved out of the loop). The same check hid a plain zeroing loop
# from LLVM, which turns a loop of zeros from index 0 into one `memset`, but not a loop over
# `out[i]` from a start that might be negative: `batch_planes` zeroes through views from index 0
# (`layout.zero`), and lays out a batch of 64 one-channel 64x64 images in 0.04 ms instead of
# 0.15.
#
# **4. Every load used four times.** Each pass of `_accumulate` keeps 12 weights in registers
# (4 output channels x 3 taps) and uses each of the 3 input values it loads for 4 output
# channels: 12 multiply-adds for 3 input loads, so the multiply-add units, not the memory loads,
# set the pace. The problem is padded with zero weights to whole blocks of 4 channels and 3 taps
# (`whole_blocks`, `whole_taps`), so one loop body handles every case.
#
# **5. Cache-sized blocks.** `correlate` works through the outputs in blocks of about 1024
# (`BLOCK`, in `layout.py` with the other tuning constants): the accumulators of 4 channels and
# the input runs they read stay in the L1 cache, the fastest memory next to the core. For the
# same reason a forward pass with stride 1 lays out each sample just before its blocks read it,
# where the cores can take whole samples each, rather than the whole batch first: a sample's
# planes are then still in the cache (`conv.forward_pass`). Closer
# still are the registers: for a forward pass in float32 with whole blocks of 8 output channels
# (and 18 taps or more), `in_registers.py` keeps the sums of 8 channels x 32 outputs in 16 of
# them through all the taps, and writes each sum to memory once, not after every 3 taps. The
# same sums in the same order, so the same numbers to the last bit. On the shape of this page's
# convolution at batch 64, (64, 8, 32, 32) -> 16, that loop took 6-17% less time than
# `correlate`'s, on one core and on two (2-core AMD EPYC Zen 4). It needs AVX-512's 32
# registers of 16 numbers: with AVX2's 16 registers of 8, as on a Zen 2, half the sums go back
# to memory and the loop took 1.7x `correlate`'s time, so there `correlate` runs instead
# (`layout.CHUNKS_FIT`, read from the processor numba compiles for).
#
# **6. Both cores, where they pay.** `correlate` takes two more arguments, `part` and
# `n_parts`, and computes only that part of its blocks; their number is a multiple of the thread
# count, so each part gets the same share. The numba function lets go of Python's lock
# (`nogil=True`), so two Python threads can each run a part at the same time, one of them the
# thread that called (`in_parts` in `tinycnn/kernels/threads.py`). Handing a part to the other
# thread has a price: waking an idle core took about 60 µs on a 2-core AMD EPYC, as long as one
# core needs for a ReLU over half a million numbers. numba's own parallel loops (`prange`) pay
# it twice per loop on numba's `workqueue` threads, the ones that are safe after a fork; the
# hand-over pays it once, while the calling core is already at work, and the calling thread, its
# own part done, watches for the other part to finish rather than going to sleep and waiting to
# be woken (`Helper` in the same file). So no tinycnn kernel uses `prange`: every one that can use
# both cores runs in parts this way, ReLU and max-pooling too. And every such kernel also runs on
# one core: the first calls with each new shape run there; a shape it finishes in under 20 µs stays
# there, and for the others the next calls time both ways and keep the faster
# (`tinycnn/kernels/threads.py`): the convolutions of a batch run on both cores, a ReLU on a
# small feature map runs on one. Both ways compute the same numbers. Importing tinycnn also
# limits NumPy's BLAS to one thread, because a BLAS thread pool busy-waiting beside tinycnn's
# threads on the same two cores stalls both; calls from several threads take turns
# (`tinycnn/runtime.py` says what import changes, and how to turn it off).
#
# **7. Permission to reorder sums, and no more.** The kernels are compiled with
# `fastmath={"reassoc", "contract"}`: LLVM may add in a different order (so that a sum can be
# split across the lanes of a vector) and fuse a multiply and an add into one instruction. That
# is why the results differ from the reference in the last digits. The other fast-math
# liberties stay off, so a NaN or an inf in a diverging network still shows up as one.
#
# **8. The gradients reuse the same two loops.** The input gradient is a forward correlation of
# dout with the flipped, transposed filters (`conv2d_backward_input`; with stride s, one per
# stride phase, all in one call of `correlate`). The weight gradient (`tap_grads`) is, for each
# filter and tap, one long dot product between dout and the input run under that tap, over the
# whole batch; each part sums its share of the outputs, and NumPy adds the shares. The max-pool
# kernels (`pool.py`) run over the (image, channel) planes in parts, with the common 2x2 window
# written out tap by tap, which vectorizes.
#
# **9. Compiled once.** The kernels are compiled with `cache=True`: the machine code is stored
# next to the source (in `__pycache__`) and loaded by the next process in a fraction of a
# second, instead of being compiled again, which takes up to seconds per kernel. The very first
# run compiles everything. A numba parallel loop would cost several times the same loop without
# `parallel` to compile, and would need that serial version as well, for the shapes one core
# does faster; a kernel run in parts (point 6) is one function, compiled once. A fresh process
# that runs lesson 4's training step with an empty cache, compiling all it needs, exits after
# 6.5-8.0 s (`benchmarks/bench_train_step.py --cold`, 2-core AMD EPYC Zen 4).
#
# **10. Another algorithm where the layout runs out.** On a 4x4 map the batch planes hold as
# many padding zeros, nearly, as pixels: the loops compute 25 outputs per image to keep 16. For
# 3x3 kernels on maps of 8x8 or less, and on larger maps where channels are many, `tc.Conv2D`
# therefore takes another road, `tinycnn/kernels/winograd.py`: Winograd's F(2x2, 3x3) computes
# each 2x2 block of outputs with 16 multiplications instead of 36, as 16 matrix products that
# NumPy's BLAS runs, each half of the batch on its own core (and F(4x4, 3x3), on maps of 8x8 and
# up whose sides are multiples of 4, each 4x4 block with 36 instead of 144). Its transforms of
# the inputs and outputs cost work of their own, in proportion to the channels, where the
# products' saving grows with their product: so on larger maps it pays from about 12 channels in
# and out (their harmonic mean). The same numbers to rounding, and on lesson 8's detector (whose
# last three 3x3 convolutions take this road) a training step about a tenth faster.
#
# ## What to remember
#
# - Time honestly: warm up, repeat, take the median, and compare ratios from one run.
# - The reference loops are slow because of interpreter and call overhead on every output,
#   not because of arithmetic.
# - The numba kernels are fast because they are compiled, and because their memory layout
#   turns a convolution into long contiguous runs that vector instructions, registers, caches
#   and both cores can work on.

# %%
lesson.finish()
