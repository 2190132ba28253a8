"""Batch planes: the memory layout that turns a convolution into long contiguous runs.

Each input channel of the whole batch becomes one flat vector: sample after sample, row after
row, every row `width` long and every sample `rows` rows tall, the pixels followed by zeros.
A pixel (n, y, x) sits at  lead + n*rows*width + y*width + x,  so output (n, i, j) at
q = n*rows*width + i*width + j reads tap (di, dj) at  q + di*width + dj + (a fixed shift):
one offset per tap, and consecutive outputs read consecutive inputs. The zeros after a row
serve as its right padding and as the next row's left padding; the zero rows after a sample
serve as its bottom padding and as the next sample's top padding. Outputs that land on the
zeros after a row are computed too, and thrown away; those on a sample's zero rows are skipped
by the forward loop (taps.correlate), and masked in the weight gradient's (taps.tap_grads).

Stride s: every channel is first split into s*s phases, phase (a, b) holding the pixels
y = Y*s + a, x = X*s + b at (Y, X) ("space to depth"). Output (i, j) under tap (di, dj) reads
pixel (i*s + di - top, j*s + dj - left): phase ((di - top) % s, (dj - left) % s) at
(i + (di - top) // s, j + (dj - left) // s), a stride-1 correlation over s*s times the channels.

Geometry (which tap reads where) lives here with the layout it describes; taps.py holds the
loops that run over it, and conv.py puts the two together.
"""

import sys
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from numba import njit
from numba.core import codegen, config

from tinycnn.kernels.threads import part_range, parts_if_faster

# ---------------------------------------------------------------------------------------------
# Tuning: the machine-dependent numbers of the kernels, all here (measured on AMD EPYC Zen 4 and
# Zen 5, 2 cores, AVX-512; CHUNKS_FIT on a Zen 2 too, AVX2; benchmarks/README.md has the numbers).
VECTOR = 16  # float32 lanes of an AVX-512 register (two AVX2 registers): runs are rounded up
#              to whole vectors, so no loop needs a scalar tail; the planes end in slack for
#              that (and for CHUNK)
BLOCK = 1024  # outputs per pass: 4 accumulator runs + 3 input runs of this length (28 KiB in
#               float32) stay in the 32 KiB L1 data cache of Zen 4 and Zen 5
CHANNELS = 4  # output channels that share each loaded input ...
TAPS = 3  # ... and taps summed per pass: 12 FMAs per 3 loads. Of 2x8 ... 4x8 channels x taps,
#           4x3 measured best on Zen 5; on Zen 4 (512-bit FMAs split in two) 4x6 was 0-5%
#           faster on some shapes and even on others, 8x3, 4x9, 2x9 and 8x2 no faster
CHUNK = 32  # outputs whose sums in_registers.py holds in registers, for CHUNK_CHANNELS output
#            channels at a time: 8 x 32 float32 fill 16 of the 32 AVX-512 registers (its loop
#            is written out for these two numbers) ...
CHUNK_CHANNELS = 8
CHUNKS_FIT = "+avx512f" in (config.CPU_FEATURES or codegen.get_host_cpu_features()).split(",")
#            ... so only where numba compiles for AVX-512 (the host's CPU features unless
#            NUMBA_CPU_FEATURES says otherwise): AVX2 has 16 registers of 8 float32, half the
#            sums go to the stack, and the loop lost to taps.correlate by 1.7x (AMD EPYC Zen 2,
#            CPU family 23; in_registers.py has the numbers)
MIN_CHUNKED_TAPS = 18  # ... for this many taps or more (a 3x3 kernel on 2 input channels):
#                        with fewer, copying a chunk's sums out costs about what summing them
#                        saves (in_registers.py has the measurements)
MAX_CHUNKED_SAMPLE_BYTES = 256 * 1024  # a sample's outputs past this, a quarter of Zen 4's L2
#                                        cache, go to taps.correlate (in_registers.py measured why)
PAGE_BYTES = 4096  # the span of the address bits a load is first matched on against the
#                   stores in flight (4 KiB) ...
ROW_GAP_BYTES = 256  # ... and how far apart within it the accumulator rows start
#                      (accumulator_stride; taps.py has the measurement)
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def ceil_div(a, b):
    """The smallest integer >= a / b (b > 0)."""
    return -(-a // b)


@njit(cache=True)
def whole_vectors(n):
    """n rounded up to a multiple of VECTOR."""
    return ceil_div(n, VECTOR) * VECTOR


@njit(cache=True)
def accumulator_stride(run, itemsize):
    """The distance, in numbers of `itemsize` bytes, between the CHANNELS accumulator rows of
    `run` numbers (a whole number of vectors): the smallest whole number of vectors >= run that
    starts every two rows at least ROW_GAP_BYTES apart within a 4 KiB page (taps.py says why).
    It always exists: rows 256 bytes apart qualify."""
    stride = run
    while not _rows_apart(stride * itemsize):
        stride += VECTOR
    return stride


@njit(cache=True)
def _rows_apart(stride_bytes):
    """True if rows stride_bytes apart start >= ROW_GAP_BYTES apart modulo PAGE_BYTES, each
    pair of the CHANNELS rows, both ways round."""
    for rows_between in range(1, CHANNELS):
        gap = rows_between * stride_bytes % PAGE_BYTES
        if gap < ROW_GAP_BYTES or gap > PAGE_BYTES - ROW_GAP_BYTES:
            return False
    return True


class Grid(NamedTuple):
    """Where a batch of planes lives: plane p, sample n, row y, column x at
    p*length + lead + n*rows*width + y*width + x."""

    rows: int
    width: int
    lead: int
    length: int


def plan_grid(shape, stride, row_shifts, col_shifts, out_h, out_w):
    """The grid for input `shape` (N, C, H, W) split into stride phases, and outputs (out_h, out_w)
    whose taps read phase rows i + row_shifts (columns j + col_shifts), zero outside the input."""
    n_samples, _, height, width = shape
    s = stride
    row_lo, row_hi = min(row_shifts), max(row_shifts)
    col_lo, col_hi = min(col_shifts), max(col_shifts)
    # Room for every output, and for the zero rows (columns) a window reads above (left of) the
    # first pixel, which are the previous sample's (row's) trailing zeros, and below (right).
    rows = max(ceil_div(height, s) + max(-row_lo, 0), out_h + max(row_hi, 0))
    row_width = max(ceil_div(width, s) + max(-col_lo, 0), out_w + max(col_hi, 0))
    lead = max(0, -(row_lo * row_width + col_lo))
    reach = max(0, row_hi * row_width + col_hi)
    # and slack at the end: the loops read whole chunks of outputs' inputs (in_registers.py)
    length = lead + n_samples * rows * row_width + reach + CHUNK
    return Grid(int(rows), int(row_width), int(lead), int(length))


def tap_offsets(grid, taps, stride, top, left):
    """Offset of each tap (c, di, dj) into the planes: output (i, j) reads input pixel
    (i*s + di - top, j*s + dj - left), which is phase plane ((c*s + (di - top) % s)*s + ...)
    at row i + (di - top) // s, column j + (dj - left) // s."""
    c, di, dj = taps
    s = stride
    phase = (c * s + (di - top) % s) * s + (dj - left) % s
    row_shift, col_shift = (di - top) // s, (dj - left) // s
    return (phase * grid.length + grid.lead + row_shift * grid.width + col_shift).astype(np.int64)


def kernel_taps(channels, kernel_h, kernel_w):
    """Every tap (c, di, dj) of a kernel, in the order of weights.reshape(C_out, -1)."""
    c, di, dj = np.indices((channels, kernel_h, kernel_w))
    return c.ravel(), di.ravel(), dj.ravel()


# Grids and tap offsets depend on shapes only: each is worked out once per shape, then reused.
@lru_cache(maxsize=256)
def forward_geometry(x_shape, kernel_size, stride, padding, out_h, out_w):
    """The grid of x's planes for a forward pass, and the offset of every tap (c, di, dj)."""
    shifts = (np.arange(kernel_size) - padding) // stride
    grid = plan_grid(x_shape, stride, shifts, shifts, out_h, out_w)
    taps = kernel_taps(x_shape[1], kernel_size, kernel_size)
    zero_plane = x_shape[1] * stride * stride * grid.length
    return grid, whole_taps(tap_offsets(grid, taps, stride, padding, padding), zero_plane)


@lru_cache(maxsize=256)
def phase_geometry(dout_shape, kernel_size, input_shape, stride, padding):
    """The grid of dout's planes for the input gradient, and each stride phase (a, b) of dx as
    (a, b, tap offsets or None if no window covers the phase, placement).

    Phase pixel (i, j) lands in dx at (y0 + i*s, x0 + j*s); placement = (out_h, out_w, y0, x0, s).
    Its taps (f, m, n) of the sub-kernel w[:, :, a::s, b::s], flipped, read dout at
    (i + m - top, j + n - left).
    """
    n_filters = dout_shape[1]
    _, _, height, width = input_shape
    k, s, p = kernel_size, stride, padding
    phases, row_shifts, col_shifts, out_hs, out_ws = [], [], [], [], []
    for a in range(s):
        for b in range(s):
            u0, v0 = -((a - p) // s), -((b - p) // s)  # first phase row and column inside dx
            y0, x0 = u0 * s + a - p, v0 * s + b - p  # where they land in dx
            out_h, out_w = len(range(y0, height, s)), len(range(x0, width, s))
            taps_h, taps_w = len(range(a, k, s)), len(range(b, k, s))
            if out_h == 0 or out_w == 0:
                continue
            top, left = taps_h - 1 - u0, taps_w - 1 - v0
            phases.append((a, b, (taps_h, taps_w, top, left), (out_h, out_w, y0, x0, s)))
            if taps_h > 0 and taps_w > 0:
                row_shifts += [-top, taps_h - 1 - top]
                col_shifts += [-left, taps_w - 1 - left]
                out_hs.append(out_h)
                out_ws.append(out_w)
    if not out_hs:  # padding >= k can leave every pixel of dx outside every window
        return None, [(a, b, None, placement) for a, b, _, placement in phases]
    # One layout of dout serves every phase: its grid has room for all their taps and outputs.
    grid = plan_grid(dout_shape, 1, row_shifts, col_shifts, max(out_hs), max(out_ws))
    geometry = []
    for a, b, (taps_h, taps_w, top, left), placement in phases:
        offsets = None
        if taps_h > 0 and taps_w > 0:
            taps = kernel_taps(n_filters, taps_h, taps_w)
            offsets = whole_taps(tap_offsets(grid, taps, 1, top, left), n_filters * grid.length)
        geometry.append((a, b, offsets, placement))
    return grid, geometry


def whole_taps(offsets, zero_offset):
    """offsets (T,) padded to a multiple of TAPS: the extra taps read the planes' zero plane,
    which starts at zero_offset (a padding tap that re-read a real input would turn an inf
    there into 0 * inf = NaN)."""
    if len(offsets) % TAPS == 0:
        return offsets
    return np.concatenate((offsets, np.full(-len(offsets) % TAPS, zero_offset, offsets.dtype)))


def whole_blocks(weights, bias):
    """weights (F, T), bias (F,) padded with zeros to F a multiple of CHANNELS, T of TAPS."""
    n_out, n_taps = weights.shape
    if n_out % CHANNELS == 0 and n_taps % TAPS == 0:
        return np.ascontiguousarray(weights), bias
    padded_weights = np.zeros((n_out + -n_out % CHANNELS, n_taps + -n_taps % TAPS), weights.dtype)
    padded_weights[:n_out, :n_taps] = weights
    padded_bias = np.zeros(len(padded_weights), bias.dtype)
    padded_bias[:n_out] = bias
    return padded_weights, padded_bias


@njit(cache=True)
def zero(run):
    """run[:] = 0, as a loop from index 0.

    From index 0 over a view, not over a range of indices into the whole array: an index that
    may be negative is wrapped around (numba's negative indexing), and LLVM vectorized that
    check number by number, a compare and a choice of address for each, instead of making the
    loop one memset: zeroing 1 MiB took 0.150 ms
    against 0.013 ms from index 0. batch_planes zeroed its last plane that way, which took most
    of the layout of a single channel. One core, medians of 300 calls, two runs: (64, 1, 64, 64)
    0.149 ms before, 0.042 ms now; (32, 3, 128, 128) 0.55-0.59 against 0.27 ms; (64, 8, 64, 64)
    0.72 against 0.40 ms (2-core AMD EPYC Zen 4, CPU family 25).
    """
    for i in range(run.size):
        run[i] = 0


def batch_planes(a, stride, rows, width, lead, length):
    """a (N, C, H, W) -> flat ((C*s*s + 1)*length,): phase (ya, xa) of channel c is the plane
    (c*s + ya)*s + xa, pixel (n, y, x) at its lead + n*rows*width + (y // s)*width + x // s;
    zeros everywhere else. The last plane is all zeros: the padding taps read it (taps.py).

    Each sample's block of a plane (rows*width numbers) is zeroed and then filled while it is
    still in the cache, rather than zeroing all planes first and coming back: 1.6x as fast on
    the detector's inputs (serial, 2-core AMD EPYC Zen 4), with a vectorized copy for stride 1.
    Each input row is read once and dealt to its s phase planes, and rows are counted, not
    divided by s: an integer division per row cost more than the row's copy. Against a pass per
    phase plane with a division per row, one core, medians of 250 calls taking turns call by
    call, (64, 8, 32, 32): stride 1 0.118-0.120 ms against 0.139-0.142, stride 2 0.227-0.231
    against 0.302-0.305; (64, 8, 33, 33) stride 3 0.326-0.357 against 0.432-0.468; (64, 16, 16,
    16) 0.074 against 0.094-0.096 (2-core AMD EPYC Zen 4, CPU family 25; two runs). A loop
    that dealt a row's even and odd pixels at once for stride 2, reading them as numbers at 2X
    and 2X + 1 (vectorized with shuffles), was no faster on the Zen 4 and cost 0.5 s more to
    compile; on a Zen 2 (CPU family 23) it was slower, 0.48 against 0.32 ms on (64, 8, 32, 32).
    Read as 64-bit words, two pixels each, the same row is dealt in about half the time
    (`_pair_planes`).

    Three kernels: `_stride_one_planes` for stride 1, `_pair_planes` for stride 2 on float32
    images of even width, and `_phase_planes` for any stride. A program whose convolutions all
    have stride 1 (lesson 4's) never compiles the strided loops; with an empty numba cache,
    `_pair_planes` compiled in 0.49 s, `_phase_planes` in 0.72 s (two processes each; Zen 2).
    Compiled with an empty numba cache for stride 1, four processes each taking turns, when both
    were numba parallel loops: the parallel kernel 0.54-0.57 s against 1.43-1.50 s for the
    general one alone, the serial twin 0.52-0.55 s against 0.61-0.63 s (2-core AMD EPYC Zen 4,
    CPU family 25); the layouts take the same time as with the general kernel alone. Each is
    now one serial loop, run in parts (threads.parts_if_faster).
    """
    n_samples, channels = a.shape[:2]
    out = empty_planes(channels * stride * stride, n_samples, rows, width, lead, length, a.dtype)
    flat = np.ascontiguousarray(a).reshape(-1)  # the kernels read each image as one run
    if stride == 1:
        _stride_one_planes(flat, a.shape, rows, width, lead, length, out)
    elif in_pairs(a, stride):
        _pair_planes(flat.view(np.uint64), a.shape, rows, width, lead, length, out.view(np.uint32))
    else:
        _phase_planes(flat, a.shape, stride, rows, width, lead, length, out)
    return out


def in_pairs(a, stride):
    """Whether batch_planes deals a's rows two pixels at a time (_pair_planes): stride 2,
    float32, an even width (so that every row starts on a whole pair), on a little-endian
    machine (the first pixel of a pair in the low 32 bits of its 64-bit word)."""
    return (
        stride == 2 and a.dtype == np.float32 and a.shape[3] % 2 == 0 and sys.byteorder == "little"
    )


def empty_planes(n_planes, n_samples, rows, width, lead, length, dtype):
    """n_planes + 1 flat planes of `length` for n_samples' blocks of rows*width numbers from
    `lead` on, zeros already in their margins (each plane's lead and tail, and all of the last
    plane): the samples' blocks are left to the kernels that fill them (batch_planes',
    the forward loops' as they go, conv_pool.py's unpooling), which zero and fill each block
    while it is in the cache."""
    out = np.empty((n_planes + 1) * length, dtype)
    zero_margins(out, n_planes, lead, n_samples * rows * width, length)
    return out


@njit(cache=True)
def zero_margins(out, n_planes, lead, body, length):
    """Zero each plane's lead and tail around the samples' blocks (body numbers from lead on) in
    the flat planes out ((n_planes + 1)*length,), and all of the last plane: the part of the
    layout both kernels share."""
    for plane in range(n_planes):
        zero(out[plane * length : plane * length + lead])
        zero(out[plane * length + lead + body : (plane + 1) * length])
    zero(out[n_planes * length :])


@njit(cache=True, inline="always")
def _copy_rows(image, block, height, in_width, width):
    """Row y of image (H*W numbers, one channel's run of a flat batch) to block[y*width :][:W].

    Every index an unsigned number, and no slice per row: numba adds a test to each signed
    index (a negative one counts from the end), and making a slice costs about what copying a
    row of 16 numbers does. batch_planes for stride 1 against a slice per row (the source row
    and its destination), one core, medians of 150 calls taking turns call by call: (64, 8, 32,
    32) 0.105 against 0.117 ms, (64, 16, 16, 16) 0.092 against 0.112, (32, 32, 8, 8) 0.040
    against 0.062, (32, 32, 32, 32) 0.261 against 0.291, (32, 64, 16, 16) 0.181 against 0.227
    (2-core AMD EPYC Zen 2, CPU family 23)."""
    row_width = np.uint64(width)
    for y in range(np.uint64(height)):
        start, row = y * np.uint64(in_width), y * row_width
        for x in range(np.uint64(in_width)):
            block[row + x] = image[start + x]


@parts_if_faster
@njit(cache=True, nogil=True)
def _stride_one_planes(flat, shape, rows, width, lead, length, out, part, n_parts):
    """batch_planes for stride 1, into empty_planes' out: a sample's channel c, of the images
    (N, C, H, W) as one flat run, is the rows of its block of plane c. A call fills part `part`
    of n_parts of the (channel, sample) blocks (threads.parts_if_faster)."""
    n_samples, channels = shape[:2]
    for job in part_range(channels * n_samples, part, n_parts):
        _stride_one_block(
            flat, shape, job // n_samples, job % n_samples, rows, width, lead, length, out
        )


@njit(cache=True, inline="always")
def _stride_one_block(flat, shape, c, n, rows, width, lead, length, out):
    """_stride_one_planes' job (c, n): sample n's block of plane c, zeroed, then its rows."""
    channels, height, in_width = shape[1:]
    first = c * length + lead + n * rows * width
    block = out[first : first + rows * width]
    zero(block)
    image = flat[(n * channels + c) * height * in_width :][: height * in_width]
    _copy_rows(image, block, height, in_width, width)


LOW_HALF = np.uint64(0xFFFFFFFF)  # the first pixel of a pair (_pair_planes)
HIGH_SHIFT = np.uint64(32)  # ... and how far down the second one comes


@parts_if_faster
@njit(cache=True, nogil=True)
def _pair_planes(pairs, shape, rows, width, lead, length, words, part, n_parts):
    """batch_planes for stride 2 (in_pairs), into empty_planes' out seen as 32-bit words
    (`words`): the images, of shape (N, C, H, W), as `pairs`, their float32 numbers two by two
    in 64-bit words. Pixels 2X and 2X + 1 of a row share word X, the first in its low 32 bits,
    so dealing a row to its two phase planes is a mask and a shift per word, which LLVM turns
    into vector instructions; _phase_planes reads every other number of a row for each of the
    two planes, one number at a time. The same bits in the same places. A call fills part
    `part` of n_parts of the (channel, sample) jobs (threads.parts_if_faster).

    Against _phase_planes, medians of 300 calls, the two taking turns call by call (2-core AMD
    EPYC Zen 2, CPU family 23), one core / two threads: (64, 8, 32, 32) 0.18 / 0.13 against
    0.32 / 0.19 ms, (64, 16, 64, 64) 2.9 / 1.6 against 3.7-3.8 / 2.0 ms, (32, 3, 128, 128) 0.80-0.92
    / 0.40 against 1.1-1.4 / 0.56 ms. The forward pass of (64, 8, 32, 32) -> 16, stride 2, on two
    threads as Conv2D runs it: 0.541 against 0.595 ms (medians of 100 calls, ten processes
    each, taking turns). With each row's pairs taken as a view of that row (`.view(np.uint64)`
    inside the loop, once per row), the layout took 0.64 ms on one core: slower than the
    numbers one at a time. Its indices unsigned and no slice per row, as in _copy_rows: (64, 8,
    32, 32) 0.130 against 0.186 ms on one core, 0.113 against 0.136 on two threads (medians of
    150 calls, taking turns call by call; the same Zen 2)."""
    n_samples, channels = shape[:2]
    for job in part_range(channels * n_samples, part, n_parts):
        c, n = job // n_samples, job % n_samples
        _pair_block(pairs, shape, c, n, rows, width, lead, length, words)


@njit(cache=True, inline="always")
def _pair_block(pairs, shape, c, n, rows, width, lead, length, words):
    """_pair_planes' job (c, n): sample n's blocks of channel c's 4 phase planes, zeroed, then
    each row of x[n, c] dealt to its two planes, a pair of pixels at a time."""
    channels, height, in_width = shape[1:]
    half = in_width // 2
    row_width = np.uint64(width)
    image = pairs[(n * channels + c) * height * half :][: height * half]
    for ya in range(2):  # the rows y = ya, ya + 2, ...: phase planes (ya, 0) and (ya, 1)
        first = (c * 2 + ya) * 2 * length + lead + n * rows * width
        even = words[first : first + rows * width]
        odd = words[first + length : first + length + rows * width]
        zero(even)
        zero(odd)
        for phase_row in range((height - ya + 1) // 2):
            start = np.uint64(2 * phase_row + ya) * np.uint64(half)
            row = np.uint64(phase_row) * row_width
            for x in range(np.uint64(half)):
                pair = image[start + x]
                even[row + x] = np.uint32(pair & LOW_HALF)
                odd[row + x] = np.uint32(pair >> HIGH_SHIFT)


@parts_if_faster
@njit(cache=True, nogil=True)
def _phase_planes(flat, shape, stride, rows, width, lead, length, out, part, n_parts):
    """batch_planes for any stride s, into empty_planes' out: each input row (of the images
    (N, C, H, W) as one flat run) read once, dealt to its s phase planes; a call fills part
    `part` of n_parts of the (channel, sample) jobs.

    Its own branch for stride 1, though batch_planes sends stride 1 to _stride_one_planes:
    without it, LLVM does not know that s is not 1 in the strided copy, and gives each row's
    copy a vector version for a stride of 1, and a test to choose it. With the branch, the
    strided layout of (64, 8, 32, 32) took 0.206-0.233 ms against 0.244-0.267 ms on one core
    (stride 3: 0.275-0.280 against 0.317-0.320 ms; 2-core AMD EPYC Zen 4, CPU family 25)."""
    n_samples, channels, height, in_width = shape
    s = stride
    n_jobs = channels * n_samples
    for job in part_range(n_jobs, part, n_parts):
        c, n = job // n_samples, job % n_samples
        image = flat[(n * channels + c) * height * in_width :][: height * in_width]
        for ya in range(s):  # the rows y = ya, ya + s, ...: phase planes (ya, 0 ... s - 1)
            first = (c * s + ya) * s * length + lead + n * rows * width
            for xa in range(s):
                block = out[first + xa * length : first + xa * length + rows * width]
                zero(block)
            if s == 1:
                _copy_rows(image, block, height, in_width, width)
                continue
            for phase_row in range((height - ya + s - 1) // s):
                src = image[(phase_row * s + ya) * in_width :][:in_width]
                row = first + phase_row * width  # in plane (ya, 0); plane (ya, xa) is xa lengths on
                for xa in range(s):
                    dest = out[row + xa * length : row + xa * length + width]
                    for x in range((in_width - xa + s - 1) // s):
                        dest[x] = src[x * s + xa]


@njit(cache=True, inline="always")
def part_jobs(planes, images, n_planes, lead, rows, width, n_samples, per_sample, part, n_parts):
    """The jobs of part `part` of n_parts, per_sample jobs a sample, for a kernel that may lay
    out its own samples as it goes (taps.correlate, in_registers.correlate_in_registers). images
    empty: part_range over all n_samples * per_sample jobs. Otherwise the parts take whole
    samples, and each first zeroes the `lead` numbers before its first sample's block in every
    plane of the flat planes ((n_planes + 1)*length,): C*s*s for images (N, C, H, W) laid out
    with stride s. Those zeros end the previous sample's block, which another part lays out;
    taps.correlate's docstring says why both parts write them."""
    if images.size == 0:
        return part_range(n_samples * per_sample, part, n_parts)
    samples = part_range(n_samples, part, n_parts)
    if len(samples) > 0 and samples.start > 0:
        length = planes.size // (n_planes + 1)
        for plane in range(n_planes):
            block_start = plane * length + lead + samples.start * rows * width
            zero(planes[block_start - lead : block_start])
    return range(samples.start * per_sample, samples.stop * per_sample)


@njit(cache=True)
def lay_out_sample(flat, shape, n, rows, width, lead, out):
    """Sample n of the images (N, C, H, W), as the flat run batch_planes reads, into its blocks
    of every plane of empty_planes' out ((C + 1) planes), as batch_planes lays it out for stride
    1: for a kernel that lays out each sample just before it reads it (taps.correlate and
    in_registers.correlate_in_registers, handed the images).

    A call, not inlined: inlined into correlate, it made correlate's other passes slower, those
    handed planes laid out already. On one core, against correlate before it took images (two
    packages taking turns call by call, medians of 200 calls, two processes; 2-core AMD EPYC Zen
    2, CPU family 23): inlined, f's input gradient (stride 2) 1.020-1.031 against 0.998-1.013 ms
    and its forward 0.830-0.837 against 0.807-0.824 ms; called, 1.013-1.017 against 1.001-1.006
    ms and 0.812-0.816 against 0.814-0.818 ms. The price: compiling lesson 4's first step took
    8.12-8.18 s against 7.98-8.08 s inlined, 7.80-7.82 s before (three processes each, taking
    turns)."""
    length = out.size // (shape[1] + 1)
    for c in range(shape[1]):
        _stride_one_block(flat, shape, c, n, rows, width, lead, length, out)


@njit(cache=True, inline="always")
def lay_out_pair_sample(flat, shape, n, rows, width, lead, out):
    """lay_out_sample for stride 2 where batch_planes deals rows in pairs (in_pairs): sample n
    of the images, float32, into its blocks of every phase plane of empty_planes' out ((4 C +
    1) planes), as _pair_planes lays it out: in_registers.correlate_in_registers's, inlined
    there (as a call of its own it compiled in about 1 s more). taps.correlate lays out stride 1
    only, and never compiles it."""
    length = out.size // (4 * shape[1] + 1)
    pairs, words = flat.view(np.uint64), out.view(np.uint32)
    for c in range(shape[1]):
        _pair_block(pairs, shape, c, n, rows, width, lead, length, words)
