"""correlate with its running sums in registers: a convolution's forward pass, 32 outputs at a
time.

taps.correlate keeps its running sums in the L1 cache, 4 output channels x 1024 outputs, and
reads and writes them back every 3 taps. Here the sums of 8 output channels x CHUNK (32)
consecutive outputs, 16 AVX-512 registers of float32, stay in registers through all the taps:

    for each chunk of 32 outputs q0 <= q < q0 + 32 (of one sample; or two rows of 16 below),
    each 8 output channels f:
        acc[r, :] = bias[f + r]
        for every tap t:  acc[r, :] += weights[f + r, t] * x[offsets[t] + q0 :][:32]   (r < 8)
        the chunk's kept outputs -> out[n, f + r, i, j]

Three taps at a time, each pass of the loop loads 6 vectors of inputs and 24 weights for 48
FMAs, and nothing goes back to memory until the chunk is done. The taps are summed as
taps._accumulate sums them, so both loops give the same numbers, bit for bit (the tests hold
them to it): a network's results do not depend on which ran. numba has no register type: the
sums live in a stack array (`stack_buffer`, LLVM's alloca) that is only ever indexed at
constant places once LLVM has unrolled the loops over its rows and vectorized those over its
columns, so LLVM's scalar replacement keeps it in registers (the machine code of the tap loop
touches the stack for none of them). Each row is read as two runs of HALF (16): one slice per
vector. A chunk either follows an output row (CHUNK outputs of row i from column j), or runs on
across rows as correlate's blocks do, whichever computes fewer thrown-away outputs, or takes
two rows of 16.

Measured against correlate on the same planes, medians of 100 calls, two rounds taking turns
in one process (2-core AMD EPYC Zen 4, CPU family 25, float32). One core:
(64, 8, 32, 32) -> 16 1.59-1.60 against 1.83-1.91 ms; (64, 3, 64, 64) -> 16, 5x5, 7.09-7.22
against 7.99-8.04 ms; lesson 8's (32, 8, 32, 32) -> 16 0.79 against 0.91 ms; stride 2, (64, 8,
32, 32) -> 16, 0.50-0.53 against 0.52 ms. Two threads: 0.81-0.88 against 0.94-0.96 ms (up to
185 GFLOP/s, the float32 matrix product's peak), 3.65-3.73 against 4.04-4.43 ms, 0.43-0.47
against 0.49-0.50 ms, 0.26-0.27 against 0.30-0.32 ms. Where it lost, `chosen_for` keeps
correlate:
- few taps: (64, 1, 64, 64) -> 8, 3x3 (9 taps), 1.08 against 0.74-0.85 ms on one core and 0.47
  against 0.40-0.41 ms on two, copying each chunk's sums out costing what summing them in
  registers saved; 18 taps about even (1.14 against 1.13 ms), 27 and more faster;
- a sample's outputs larger than a quarter of the L2 cache: (32, 3, 128, 128) -> 32 (2 MiB a
  sample) 21.8-22.1 against 15.7 ms, (32, 8, 128, 128) -> 16 (1 MiB) 16.3-16.6 against
  15.6-15.8 ms, (32, 4, 64, 64) -> 32 (512 KiB) 6.35-7.21 against 4.18-4.27 ms and (32, 8, 64,
  64) -> 32 9.18 against 7.57 ms, the chunks writing a row of every output plane at a time where
  correlate writes 4 (at 512 KiB and 8 channels, (32, 8, 128, 128) -> 8, 7.60-7.68 against
  7.86-7.89 ms; at 256 KiB, d above, and (32, 4, 64, 64) -> 16, 1.92 against 1.92 ms);
- float64 (chosen_for's docstring);
- a machine without AVX-512: its 16 registers of 8 float32 (AVX2) hold half the sums, LLVM
  keeps the others on the stack, and the loop lost by 1.7x-1.8x on a 2-core AMD EPYC Zen 2
  (CPU family 23): (64, 8, 32, 32) -> 16 3.66-3.77 against 2.11-2.14 ms on one core, 2.13-2.21
  against 1.06-1.11 ms on two; (32, 32, 32, 32) -> 64 25.9-26.0 against 14.5 ms on one core.

**Rows of 16 in pairs.** Where the output rows are HALF (16) long, a chunk is two of them: the
first half of acc's rows sums row i's 16 outputs, the second row i + 1's, a row's width further
on in x. Run on across rows, 32 outputs at a time, a chunk also summed the zeros after each row
(bench_conv.py's shape f, stride 2, (64, 8, 32, 32) -> 16: 288 sums for 256 outputs a sample).
The forward pass as Conv2D runs it, against the code before, two packages taking turns call by
call in one process (medians of 200 calls, 2-core AMD EPYC Zen 5, CPU family 26): on one core
0.589 against 0.688 ms and 0.336-0.362 against 0.398-0.427 (1.17x-1.19x), on two threads
1.06x-1.16x over five processes; the shapes not in pairs (b, d, lesson 8's 8 -> 16, rows of 20
and 31; the same loop) 0.99x-1.04x but for one reading of 0.85x (rows of 20, two threads).

**Laid out as it goes** (stride 1, the parts taking whole samples: conv.forward_pass), as
taps.correlate is: each sample's planes written just before its first chunk, by the thread that
computes it, not all of x's first (batch_planes, one more hand-over to the other core). The
forward pass as Conv2D runs it, against the code before, two packages taking turns call by call
in one process (medians of 200 calls, 2-core AMD EPYC Zen 5, CPU family 26), two threads:
(64, 8, 32, 32) -> 16 0.601-0.899 against 0.652-0.954 ms (1.06x-1.09x over five processes),
(64, 3, 64, 64) -> 16, 5x5, 1.01x-1.07x, lesson 8's (32, 8, 32, 32) -> 16 1.03x-1.15x; one core
1.01x-1.05x.

**Stride 2 as well**, where batch_planes deals a row's pixels in pairs (layout.in_pairs: float32,
even widths): each sample's four phase planes per channel written just before its first chunk
(layout.lay_out_pair_sample). Laid out first, the whole batch's planes (2.4 MB for (64, 8, 32,
32), 4.7 MB with 16 channels) were out of the L2 cache by the time the loop read them. One
core, the forward pass as Conv2D runs it against the code before, two packages taking turns
call by call in one process, medians of 120 calls, four runs (2-core AMD EPYC Zen 5, CPU family
26): bench_conv.py's f, (64, 8, 32, 32) -> 16, 1.06x-1.20x; (64, 16, 32, 32) -> 32 1.60x-1.86x;
(32, 32, 32, 32) -> 64 1.38x-1.49x; (64, 3, 64, 64) -> 16, 5x5, 1.06x-1.47x; stride 1
unchanged (0.99x-1.03x). Two threads' figures in one process were as wide as the host's noise
(f 0.99x-1.29x). Other strides, stride 3 (1.02x-1.03x) among them, are laid out first: their
general layout (layout._phase_planes) compiled in 1.8 s more. lay_out_pair_sample, inlined,
adds 0.5-0.8 s to compiling this loop with an empty numba cache (4.7-5.0 against 4.2 s, then
no more for stride 2, which took 0.7-0.8 s more before: its batch layout).

The forward pass only. Run on the input gradient of a stride-1 convolution too, it was faster
(lesson 4's second block's, (64, 16, 32, 32) -> 8, 0.81 against 0.88-1.00 ms on two threads), but
lesson 4, whose convolutions pool their sums in correlate (conv_pool.py), would then compile
this kernel too (1.2 s with an empty numba cache) for about 0.1 ms of its 12 ms step, and lesson
4's first run has 8 s to compile all it needs. Pooling its chunks as correlate pools its blocks
was slower on lesson 4's first block (1.14 against 0.85 ms, 9 taps), and the kernel with that
branch took 2.9-3.3 s to compile.
"""

from numba import carray, njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from tinycnn.kernels.layout import (
    CHUNK,
    CHUNK_CHANNELS,
    CHUNKS_FIT,
    MAX_CHUNKED_SAMPLE_BYTES,
    MIN_CHUNKED_TAPS,
    TAPS,
    ceil_div,
    lay_out_pair_sample,
    lay_out_sample,
    part_jobs,
)
from tinycnn.kernels.taps import FAST
from tinycnn.kernels.threads import parts_if_faster

SUMS = CHUNK_CHANNELS * CHUNK  # the numbers held in registers
HALF = CHUNK // 2  # each row of a chunk is read and summed as two runs of HALF outputs


def chosen_for(out_shape, itemsize, n_taps):
    """True where correlate_in_registers computes a correlation with n_taps taps into out_shape
    (N, F, H, W) of numbers of `itemsize` bytes: on a machine whose registers hold a chunk's
    sums (layout.CHUNKS_FIT: AVX-512), in float32 (8 x 32 float64 sums would need all 32
    registers, and took 0.73 against correlate's 0.44 ms on (8, 8, 32, 32) -> 16, one core),
    F a whole number of CHUNK_CHANNELS blocks, at least MIN_CHUNKED_TAPS taps, and a sample's
    outputs within MAX_CHUNKED_SAMPLE_BYTES (the module docstring has the measurements)."""
    _, n_out, height, width = out_shape
    sample_bytes = n_out * height * width * itemsize
    return (
        CHUNKS_FIT
        and itemsize == 4
        and n_out % CHUNK_CHANNELS == 0
        and n_taps >= MIN_CHUNKED_TAPS
        and sample_bytes <= MAX_CHUNKED_SAMPLE_BYTES
    )


@intrinsic
def stack_buffer(typingctx, like, size):
    """A pointer to `size` (a literal) numbers of like's dtype on the calling function's stack
    (LLVM's alloca), freed when it returns: never hand it out of that function."""
    if not isinstance(size, types.IntegerLiteral):
        return None
    count, dtype = size.literal_value, like.dtype

    def codegen(context, builder, signature, args):
        return cgutils.alloca_once(builder, context.get_value_type(dtype), size=count)

    return types.CPointer(dtype)(like, size), codegen


@njit(cache=True, fastmath=FAST, inline="always")
def _chunk_sums(acc, x, offsets, weights, bias, f, start, low_shift):
    """One chunk's running sums, each half of each row of acc a view that LLVM keeps in
    registers: for r < 8 and q < HALF,
        acc[r*CHUNK + q] = bias[f + r] + sum_t weights[f + r, t] * x[start + offsets[t] + q],
        acc[r*CHUNK + HALF + q] = ... x[start + low_shift + offsets[t] + q],
    low_shift HALF (32 outputs in a run) or a row's width (16 outputs of two rows), the taps
    summed three at a time as taps._accumulate sums them, so the same numbers bit for bit.
    Written out for CHUNK = 32 and CHUNK_CHANNELS = 8 (layout.py): the halves of the rows are
    acc[32 r :][:16] and acc[32 r + 16 :][:16]."""
    top0, top1, top2, top3 = acc[0:16], acc[32:48], acc[64:80], acc[96:112]
    top4, top5, top6, top7 = acc[128:144], acc[160:176], acc[192:208], acc[224:240]
    low0, low1, low2, low3 = acc[16:32], acc[48:64], acc[80:96], acc[112:128]
    low4, low5, low6, low7 = acc[144:160], acc[176:192], acc[208:224], acc[240:256]
    for q in range(HALF):
        top0[q] = low0[q] = bias[f]
        top1[q] = low1[q] = bias[f + 1]
        top2[q] = low2[q] = bias[f + 2]
        top3[q] = low3[q] = bias[f + 3]
        top4[q] = low4[q] = bias[f + 4]
        top5[q] = low5[q] = bias[f + 5]
        top6[q] = low6[q] = bias[f + 6]
        top7[q] = low7[q] = bias[f + 7]
    for t in range(0, offsets.shape[0], TAPS):
        o0, o1, o2 = start + offsets[t], start + offsets[t + 1], start + offsets[t + 2]
        x0, x1, x2 = x[o0 : o0 + HALF], x[o1 : o1 + HALF], x[o2 : o2 + HALF]
        o0, o1, o2 = o0 + low_shift, o1 + low_shift, o2 + low_shift
        y0, y1, y2 = x[o0 : o0 + HALF], x[o1 : o1 + HALF], x[o2 : o2 + HALF]
        w00, w01, w02 = weights[f, t], weights[f, t + 1], weights[f, t + 2]
        w10, w11, w12 = weights[f + 1, t], weights[f + 1, t + 1], weights[f + 1, t + 2]
        w20, w21, w22 = weights[f + 2, t], weights[f + 2, t + 1], weights[f + 2, t + 2]
        w30, w31, w32 = weights[f + 3, t], weights[f + 3, t + 1], weights[f + 3, t + 2]
        w40, w41, w42 = weights[f + 4, t], weights[f + 4, t + 1], weights[f + 4, t + 2]
        w50, w51, w52 = weights[f + 5, t], weights[f + 5, t + 1], weights[f + 5, t + 2]
        w60, w61, w62 = weights[f + 6, t], weights[f + 6, t + 1], weights[f + 6, t + 2]
        w70, w71, w72 = weights[f + 7, t], weights[f + 7, t + 1], weights[f + 7, t + 2]
        for q in range(HALF):
            v0, v1, v2 = x0[q], x1[q], x2[q]
            u0, u1, u2 = y0[q], y1[q], y2[q]
            top0[q] += w00 * v0 + w01 * v1 + w02 * v2
            low0[q] += w00 * u0 + w01 * u1 + w02 * u2
            top1[q] += w10 * v0 + w11 * v1 + w12 * v2
            low1[q] += w10 * u0 + w11 * u1 + w12 * u2
            top2[q] += w20 * v0 + w21 * v1 + w22 * v2
            low2[q] += w20 * u0 + w21 * u1 + w22 * u2
            top3[q] += w30 * v0 + w31 * v1 + w32 * v2
            low3[q] += w30 * u0 + w31 * u1 + w32 * u2
            top4[q] += w40 * v0 + w41 * v1 + w42 * v2
            low4[q] += w40 * u0 + w41 * u1 + w42 * u2
            top5[q] += w50 * v0 + w51 * v1 + w52 * v2
            low5[q] += w50 * u0 + w51 * u1 + w52 * u2
            top6[q] += w60 * v0 + w61 * v1 + w62 * v2
            low6[q] += w60 * u0 + w61 * u1 + w62 * u2
            top7[q] += w70 * v0 + w71 * v1 + w72 * v2
            low7[q] += w70 * u0 + w71 * u1 + w72 * u2


@parts_if_faster
@njit(cache=True, nogil=True, fastmath=FAST)
def correlate_in_registers(
    x, offsets, weights, bias, rows, width, out, images, image_shape, lead, stride, part, n_parts
):  # fmt: skip
    """out[n, f, i, j] = bias[f] + sum_t weights[f, t] * x[offsets[t] + q], q = n*rows*width +
    i*width + j: taps.correlate with one phase that fills all of out (N, F, H, W), its sums in
    registers. x flat batch planes with at least CHUNK numbers of slack after each plane's last
    sample (layout.plan_grid leaves them), offsets (T,), weights (F, T) and bias (F,), F a
    multiple of CHUNK_CHANNELS (chosen_for). A call computes part `part` of n_parts of the
    (sample, chunk) jobs (threads.parts_if_faster).

    images empty (conv.laid_out): x holds the planes already. Otherwise, stride 1, or stride
    2 in pairs (layout.in_pairs), x is empty_planes' (C * stride * stride planes) and each
    sample is laid out just before its first chunk, by the part that computes it, the parts
    taking whole samples: taps.correlate's way, whose docstring says why and what two parts
    share (the zeros before a part's first sample, which it writes itself). The module
    docstring has the times."""
    n_samples, n_out = out.shape[0], out.shape[1]
    acc = carray(stack_buffer(x, SUMS), SUMS)
    out_h, out_w = out.shape[2], out.shape[3]
    chunks_per_row = ceil_div(out_w, CHUNK)
    across = ceil_div(out_h * width, CHUNK)  # chunks running on across rows
    row_pairs = out_w == HALF
    along_rows = not row_pairs and chunks_per_row * out_h <= across
    if row_pairs:
        chunks = ceil_div(out_h, 2)
    else:
        chunks = out_h * chunks_per_row if along_rows else across
    laying_out = images.size > 0
    n_planes = image_shape[1] * stride * stride
    jobs = part_jobs(x, images, n_planes, lead, rows, width, n_samples, chunks, part, n_parts)
    for job in jobs:
        n = job // chunks
        chunk = job - n * chunks
        if laying_out and chunk == 0:
            if stride == 1:
                lay_out_sample(images, image_shape, n, rows, width, lead, x)
            else:
                lay_out_pair_sample(images, image_shape, n, rows, width, lead, x)
        low_shift = width if row_pairs else HALF
        if row_pairs:
            q0 = 2 * chunk * width
        elif along_rows:
            i = chunk // chunks_per_row
            q0 = i * width + (chunk - i * chunks_per_row) * CHUNK
        else:
            q0 = chunk * CHUNK
        start = n * rows * width + q0
        for f in range(0, n_out, CHUNK_CHANNELS):
            _chunk_sums(acc, x, offsets, weights, bias, f, start, low_shift)
            if row_pairs:
                _chunk_out(acc, 0, q0, width, HALF, out, n, f)
                _chunk_out(acc, HALF, q0 + width, width, HALF, out, n, f)
            else:
                _chunk_out(acc, 0, q0, width, CHUNK, out, n, f)


@njit(cache=True, inline="always")
def _chunk_out(acc, first, q0, width, count, out, n, f):
    """The `count` sums of each row of acc from its column `first` on, outputs q0 <= q < q0 +
    count of sample n, each row of acc an output channel f + r, to out (N, F, H, W), row by
    row: those that land on a row's outputs (j < W, i < H), not those on the zeros after a row
    or below the last. Element by element: a slice assignment first checks whether the two
    overlap, which costs more than these short rows."""
    out_h, out_w = out.shape[2], out.shape[3]
    i = q0 // width
    j = q0 - i * width
    done = 0
    while done < count and i < out_h:
        span = min(width - j, count - done)
        kept = min(out_w - j, span)
        if kept > 0:
            for r in range(CHUNK_CHANNELS):
                sums = acc[r * CHUNK + first + done : r * CHUNK + first + done + kept]
                dest = out[n, f + r, i, j : j + kept]
                for column in range(kept):
                    dest[column] = sums[column]
        done += span
        i += 1
        j = 0
