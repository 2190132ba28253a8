"""3x3 convolutions by Winograd's minimal filtering, F(2x2, 3x3) and F(4x4, 3x3): on small maps,
and on larger maps with many channels.

On a 4x4 or 8x8 map the direct loops (taps.py) spend their time on the edges: a sample's planes
hold its padding too, so a 4x4 map costs 25 outputs computed for 16 kept. On larger maps with
many channels they do 36 multiplications for every 2x2 block of outputs. Winograd's algorithm
(Lavin and Gray, 2016) computes each 2x2 block of outputs from the 4x4 block of inputs around it
with 16 multiplications instead of 36. Every 4x4 input tile d, every 3x3 kernel g and every
2x2 output tile y are changed into 4x4 arrays by fixed matrices of 0s, ±1 and ±1/2:

    V = Bᵀ d B  (input tile)      U = G g Gᵀ  (kernel)      y = Aᵀ M A + bias  (output tile)

    Bᵀ = [1  0 -1  0]      G = [ 1    0    0 ]      Aᵀ = [1  1  1  0]
         [0  1  1  0]          [1/2  1/2  1/2]           [0  1 -1 -1]
         [0 -1  1  0]          [1/2 -1/2  1/2]
         [0  1  0 -1]          [ 0    0    1 ]

and the convolution's sum over input channels becomes 16 matrix products, one per entry ξ of
the 4x4 arrays, with the P = N·(H/2)·(W/2) tiles of the batch as columns:

    M[ξ] (C_out, P) = U[ξ] (C_out, C_in) @ V[ξ] (C_in, P)

Backward is the same in reverse: each step's transpose (its adjoint), in the opposite order.

    dM = A dy Aᵀ   dU[ξ] = dM[ξ] @ V[ξ]ᵀ, dW = Gᵀ dU G   dV[ξ] = U[ξ]ᵀ @ dM[ξ], dx += B dV Bᵀ

What it takes: stride 1, padding 1, H and W even. The products cost C_in·C_out per pixel, the
transforms C_in + C_out, so the products' saving outweighs the transforms' cost where channels
are many: Conv2D takes this road on maps of at most MAX_PIXELS pixels, and on larger maps where
the channels' harmonic mean is at least MIN_CHANNELS (chosen_for). The products U @ V and
Uᵀ @ dM are winograd_products.py's numba loop, its sums in registers, in float32 on AVX-512, and
NumPy's elsewhere (blas.matmul: BLAS, on one thread as tinycnn keeps it); the weight gradient's
dM @ Vᵀ is NumPy's everywhere, and so is the kernels' transform, one more product
(_KERNEL_TRANSFORM); the input and output transforms are numba loops.
Results agree with the direct convolution to rounding (tests/test_winograd.py holds
them to the lecture's loops in reference.py, and the backward to central differences).

**Larger tiles where they fit.** The same algorithm with 4x4 output tiles, F(4x4, 3x3)
(winograd_f4.py has its matrices), computes each 4x4 block of outputs from the 6x6 block around
it with 36 multiplications, where F(2x2, 3x3) needs 64: 36 matrix products over a quarter of
the columns, and transforms that cost a little more per output. This module runs both the same
way (the planes, the chunks, the halves, the threads below); `transforms_for` takes F(4x4, 3x3)
on maps of at least 8x8 (LARGE_TILES_PIXELS) whose sides are multiples of 4, F(2x2, 3x3)
elsewhere. In float32 its results are further from the exact sums: within 2.0e-5 against 1.1e-6
on lesson 4's (64, 16, 16, 16) -> 32, whose outputs reach 6.3 (winograd_f4.py says why). The
two variants taking turns call by call in one process, F(2x2, 3x3)'s time over F(4x4, 3x3)'s,
medians of 40 pairs, forward / forward and backward, on one core, then on two threads (2-core
AMD EPYC Zen 2, CPU family 23, on a busy host): lesson 4's (64, 16, 16, 16) -> 32 1.23x / 1.25x,
1.12x / 1.20x; the detector's (32, 64, 16, 16) -> 128 1.21x / 1.20x, 1.17x / 1.15x; (32, 32,
32, 32) -> 64 1.22x / 1.25x, 1.20x / 1.25x; (32, 32, 8, 8) -> 64 1.18x / 1.18x, 1.14x / 1.16x
(F(4x4, 3x3) faster in 80-100% of the pairs); on the detector's 4x4 layer, one tile per map,
0.94x / 0.90x and 0.95x / 0.87x, so 4x4 maps keep F(2x2, 3x3).

Four tricks, the first three measured on a 2-core AMD EPYC Zen 4 (CPU family 25), the
detector's 4x4 layer (32, 64, 4, 4) -> 128 unless said:
- **The 16 planes of V and M are not 4 KiB apart.** Each transform writes (or reads) the 16
  planes of a tile together. Planes a multiple of 4 KiB apart fall into the same sets of the L1
  cache, whose 8 ways cannot hold 16 streams: the transforms took 0.39-0.73 ms each. With every
  plane 64 bytes further on (`planes`), 0.05-0.12 ms.
- **Each half of the batch on its own core**, from its input tiles to its outputs (backward:
  its share of dU, the two shares summed after), handed to the second thread once per pass
  (`threads.side_by_side`): a hand-over costs 50-60 µs, the wake-up of an idle core, so work
  under threads.SIDE_BY_SIDE_MULTIPLY_ADDS stays on one.
- **A few samples at a time** (CHUNK_BYTES of tiles): their input tiles, their products and
  their output tiles one after the other, so that each step reads what the one before wrote from
  the L2 cache, not from memory. Forward and backward of lesson 4's (64, 16, 16, 16) -> 32 took
  3.14 ms in chunks of 1 MiB, 4.57 ms with each half of the batch at once (3.94 ms by the direct
  loops); bench_conv.py's shapes g and h (32 -> 64 channels on 32x32 maps, 64 -> 128 on
  16x16) 17.0 and 13.8 ms, against 22.8 and 16.1 ms at once. Chunks of 256 KiB were slower
  again (4.27 ms): 16 more small products per chunk.
- **The output transforms vectorized** (2-core AMD EPYC Zen 2, CPU family 23): a loop over
  all of a chunk's tiles of one output channel, written so that LLVM vectorizes it. LLVM
  vectorizes a loop only over C-contiguous runs (`rows_of`: over the planes' own rows, whose
  strides numba reads at run time, it left the loop scalar) and only where it can check,
  before the loop, that no store overlaps another access: 16 planes written in one loop were
  "too many memory checks", 4 were not. So the forward's loop reads the 16 planes and writes
  each tile's 4 outputs to 4 arrays, and a scalar loop puts them in place (2 apart in out); the
  backward splits dout's tiles into 4 arrays and writes its 16 planes in 4 loops of 4. The
  same numbers, bit for bit. Per chunk, one core, medians of 300 calls: forward 63 against 30
  µs on lesson 4's (64, 16, 16, 16) -> 32, 107 against 43 on (32, 32, 32, 32) -> 64, 76
  against 64 on the detector's 4x4 layer; backward 59 against 38, 91 against 57 and 84
  against 62. Whole passes on two threads, each code in its own process, taking turns (four
  rounds, medians of 40 calls), forward / forward and backward: 1.10x / 1.07x as fast on
  (64, 16, 16, 16) -> 32, 1.09x / 1.00x on (32, 32, 8, 8) -> 64, 1.09x / 1.03x on (32, 32,
  32, 32) -> 64, 1.07x / 1.02x on (32, 64, 16, 16) -> 128, 1.02x / 1.01x on the 4x4 layer.
  The input transform written the same way gained 0-25% and lost 7% on 4x4 maps: not kept
  (benchmarks/README.md).
Forward and backward of the 4x4 layer took 1.29-1.30 ms (before the kernels' transform became
one matrix product), against 2.78-2.87 ms for the direct loops on two threads (three runs,
medians of 60 calls each; PyTorch's, in bench_detector_step.py: 1.3-1.5 ms); of the 8x8 layer
(32, 32, 8, 8) -> 64, 1.38-1.44 against 2.27-2.60 ms. The transforms copy between arrays
element by element: a slice assignment made numba compile its shape-mismatch error too, and took
the first-ever compile of these kernels from 2.6 to 5.6 s.
"""

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from tinycnn.kernels import arguments, blas, winograd_f4, winograd_products
from tinycnn.kernels.threads import side_by_side, worth_a_thread

MAX_PIXELS = 64
"""Maps of at most this many pixels (8x8) take this road whatever their channels: on the
detector's (32, 64, 4, 4) -> 128 and (32, 32, 8, 8) -> 64 forward and backward were 2.1x and
1.6x as fast as the direct loops (2-core AMD EPYC Zen 4, CPU family 25)."""

MIN_CHANNELS = 12
"""Larger maps take this road where the channels' harmonic mean, 2·C_in·C_out / (C_in + C_out),
is at least this. Forward and backward against the direct loops (Zen 4 as above, batch 32 or
64, best of three medians): 8 -> 16 channels (10.7) 0.81x-0.84x; 8 -> 64 (14.2) 1.22x; 16 -> 32
(21.3) 1.25x-1.27x; 32 -> 64 and 64 -> 128 1.4x and 1.8x."""

LARGE_TILES_PIXELS = 64
"""The smallest map (H * W, both sides multiples of 4) that takes F(4x4, 3x3) (transforms_for):
on 8x8 maps and larger it was the faster of the two, on 4x4 maps (one tile) the slower (the
module docstring has the times)."""

CHUNK_BYTES = 1 << 20
"""How many bytes of tiles (their columns of V and M together) one matrix product takes at a
time: a core's L2 cache (1 MiB on Zen 4 and Zen 5). The module docstring says why."""

PLANE_SHIFT_BYTES = 64
"""How far past a whole number of pages each of the 16 planes starts from the one before."""


def chosen_for(x_shape, weights_shape, stride, padding):
    """Whether Conv2D computes its convolution of images of x_shape (N, C, H, W) by weights of
    weights_shape (C_out, C, k, k) this way: 3x3 kernels, stride 1, padding 1, H and W even, a
    batch, and either a small map (H * W at most MAX_PIXELS) or many channels (their harmonic
    mean at least MIN_CHANNELS)."""
    n_samples, channels, height, width = x_shape
    n_out, kernel_size = weights_shape[0], weights_shape[2]
    small_map = height * width <= MAX_PIXELS
    many_channels = 2 * channels * n_out >= MIN_CHANNELS * (channels + n_out)
    return (
        (kernel_size, stride, padding) == (3, 1, 1)
        and height % 2 == 0
        and width % 2 == 0
        and n_samples > 0
        and (small_map or many_channels)
    )


class Tiles(NamedTuple):
    """What winograd_forward keeps for the backward pass: the transformed input V (16, C, P)
    and kernels U (16, C_out, C), 36 planes each for F(4x4, 3x3), and the input's shape (N, C,
    H, W)."""

    inputs: np.ndarray
    kernels: np.ndarray
    x_shape: tuple


def winograd_forward(x, weights, bias):
    """(out (N, C_out, H, W), tiles): a 3x3 convolution, stride 1, padding 1, of x (N, C, H, W)
    with H and W even, by the variant transforms_for(H, W) names; tiles are kept for
    winograd_backward."""
    x, weights, bias = arguments.winograd_forward(x, weights, bias)
    n_samples, channels, height, width = x.shape
    n_out = weights.shape[0]
    way = transforms_for(height, width)
    per_sample = way.tiles_per_sample(height, width)
    inputs = planes(channels, n_samples * per_sample, x.dtype, way.count)
    kernels = _kernel_tiles(weights, way.kernel_transform)
    out = np.empty((n_samples, n_out, height, width), x.dtype)
    chunk = _chunk_samples(per_sample, channels, n_out, x.dtype, way.count)

    def samples(first, last, _half):
        columns = min(chunk, last - first) * per_sample
        products = planes(n_out, columns, x.dtype, way.count)
        product_rows = rows_of(products)  # the output transform's view of them
        for start in range(first, last, chunk):
            stop = min(start + chunk, last)
            first, used = start * per_sample, (stop - start) * per_sample
            way.input_tiles(x, inputs[:, :, first : first + used], start, stop)
            _multiply(kernels, inputs, first, products, used)
            way.output_tiles(product_rows, columns, bias, out, start, stop)

    _each_half(samples, n_samples, way.count * n_out * channels * n_samples * per_sample)
    return out, Tiles(inputs, kernels, x.shape)


def winograd_backward(dout, tiles, input_grad=True):
    """(dx or None, dweights, dbias) from dout (N, C_out, H, W) and winograd_forward's tiles."""
    dout, tiles, input_grad = arguments.winograd_backward(dout, tiles, input_grad)
    inputs, kernels, x_shape = tiles
    n_samples, channels, height, width = x_shape
    way = transforms_for(height, width)  # the forward's: arguments.py checks the tiles' planes
    n_out, per_sample = kernels.shape[1], way.tiles_per_sample(height, width)
    dx = np.empty(x_shape, dout.dtype) if input_grad else None
    kernel_grads = np.zeros((2, way.count, n_out, channels), dout.dtype)
    bias_grads = np.zeros((2, n_out), np.float64)
    chunk = _chunk_samples(per_sample, channels, n_out, dout.dtype, way.count)
    kernels_transposed = _transposed(kernels)

    def samples(first, last, half):
        columns = min(chunk, last - first) * per_sample
        products = planes(n_out, columns, dout.dtype, way.count)
        product_rows = rows_of(products)  # the output transform's view of them
        input_grads = planes(channels, columns, dout.dtype, way.count) if input_grad else None
        chunk_kernel_grads = np.empty((way.count, n_out, channels), dout.dtype)
        chunk_bias_grads = np.empty(n_out, np.float64)
        for start in range(first, last, chunk):
            stop = min(start + chunk, last)
            chunk_inputs = inputs[:, :, start * per_sample : stop * per_sample]
            chunk_products = products[:, :, : (stop - start) * per_sample]
            way.output_tiles_backward(dout, product_rows, columns, chunk_bias_grads, start, stop)
            bias_grads[half] += chunk_bias_grads
            blas.matmul(chunk_products, chunk_inputs.transpose(0, 2, 1), out=chunk_kernel_grads)
            kernel_grads[half] += chunk_kernel_grads
            if input_grad:
                used = (stop - start) * per_sample
                _multiply(kernels_transposed, products, 0, input_grads, used)
                way.input_tiles_backward(input_grads[:, :, :used], dx, start, stop)

    _each_half(samples, n_samples, 2 * way.count * n_out * channels * n_samples * per_sample)
    dweights = _kernel_tiles_backward(kernel_grads[0] + kernel_grads[1], way.kernel_transform)
    return dx, dweights, bias_grads.sum(axis=0).astype(dout.dtype)


def _multiply(a, b, first, out, columns):
    """out[:, :, :columns] = a (K, R, C) @ b[:, :, first : first + columns], b (K, C, P) and out
    (K, R, Q) made by `planes`: winograd_products.py's loop, its sums in registers, where it is
    chosen (float32 on AVX-512: its docstring has the times), NumPy's products elsewhere."""
    if winograd_products.chosen_for(a.dtype):
        winograd_products.multiply_planes(
            a, rows_of(b), b.shape[2], first, rows_of(out), out.shape[2], columns
        )
    else:
        blas.matmul(a, b[:, :, first : first + columns], out=out[:, :, :columns])


def _transposed(kernels):
    """U[ξ]ᵀ for every plane: the (K, C, C_out) view of kernels (K, C_out, C), or a
    C-contiguous copy of it where _multiply's loop takes it, which indexes only those."""
    transposed = kernels.transpose(0, 2, 1)
    if winograd_products.chosen_for(kernels.dtype):
        return np.ascontiguousarray(transposed)
    return transposed


def _chunk_samples(per_sample, channels, n_out, dtype, count):
    """How many samples' tiles (their columns of V and M, in `count` planes) one matrix
    product takes: as many as fit in CHUNK_BYTES, at least one, and a multiple of the samples
    whose columns fill whole blocks of winograd_products.COLUMNS where as many fit (its blocks
    at the edges are slower)."""
    sample_bytes = count * per_sample * (channels + n_out) * np.dtype(dtype).itemsize
    chunk = max(1, CHUNK_BYTES // sample_bytes)
    whole_blocks = winograd_products.COLUMNS // math.gcd(per_sample, winograd_products.COLUMNS)
    return chunk - chunk % whole_blocks if chunk >= whole_blocks else chunk


def _each_half(samples, n_samples, multiply_adds):
    """samples(first, last, half) for half 0, samples 0 <= n < N // 2, and half 1, the rest:
    side by side on two threads where the work (the products' multiply-adds) pays for a thread's
    wake-up (threads.worth_a_thread), one after the other otherwise. The same halves either way, so
    the results do not depend on the number of threads."""
    middle = n_samples // 2
    if not worth_a_thread(multiply_adds):
        samples(0, middle, 0)
        samples(middle, n_samples, 1)
    else:
        side_by_side(lambda: samples(0, middle, 0), lambda: samples(middle, n_samples, 1))


def planes(rows, columns, dtype, count):
    """An uninitialised (count, rows, columns) array (a variant's Transforms.count: 16 planes for
    F(2x2, 3x3), 36 for F(4x4, 3x3)), each plane C-contiguous, the planes PLANE_SHIFT_BYTES past
    a whole number of 4 KiB pages apart (the module docstring says why). Made by np.ndarray over
    a flat buffer: 1 µs, where np.lib.stride_tricks.as_strided takes 4, and a one-image pass
    makes a few of these."""
    dtype = np.dtype(dtype)
    plane = rows * columns
    stride = plane + (-plane * dtype.itemsize % 4096 + PLANE_SHIFT_BYTES) // dtype.itemsize
    strides = (stride * dtype.itemsize, columns * dtype.itemsize, dtype.itemsize)
    return np.ndarray((count, rows, columns), dtype, np.empty(count * stride, dtype), 0, strides)


def rows_of(planes_array):
    """The numbers of planes_array (K, R, C), as `planes` makes it, as the transforms take them:
    a C-contiguous (K, plane stride) array whose row k holds plane k's R rows one after the
    other, row r from column r * C on. numba knows the strides of a C-contiguous array when it
    compiles, and LLVM vectorizes loops over its slices; over planes_array's own rows, whose
    strides numba reads at run time, it did not."""
    return planes_array.base.reshape(planes_array.shape[0], -1)


# --- the transforms, each a matrix of the module docstring applied along one axis -------------

_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
_KERNEL_TRANSFORM = np.kron(_G, _G)
"""(16, 9): (G g Gᵀ)[u, v] = Σ_ij G[u, i] G[v, j] g[i, j], so G ⊗ G times a kernel's 9 numbers
(row by row) gives its 16 (U[4 u + v]), and one matrix product transforms every kernel. Against
the numba loops over the kernels it replaced (2-core AMD EPYC Zen 4, CPU family 25; medians of
300 calls, three runs): on the detector's (128, 64, 3, 3) weights 106-111 against 66 µs
forward and 99-100 against 108 µs backward, on (64, 32, 3, 3) 27-28 against 18 µs and 27-31
against 27 µs; BLAS is slow on a product only 9 deep. The detector's step was no slower: 13.83
against 14.13 ms (medians of twelve processes each, taking turns). Kept for two numba kernels
fewer (0.6 s of a first-ever compile) and one line of algebra in place of two loops."""


@njit(cache=True, inline="always")
def _b_t(d0, d1, d2, d3):
    """Bᵀ times the column (d0, d1, d2, d3)."""
    return d0 - d2, d1 + d2, d2 - d1, d1 - d3


@njit(cache=True, inline="always")
def _b(v0, v1, v2, v3):
    """B times the column (v0, v1, v2, v3): the adjoint of _b_t."""
    return v0, v1 - v2 + v3, v2 + v1 - v0, -v3


@njit(cache=True, inline="always")
def _a_t(m0, m1, m2, m3):
    """Aᵀ times the column (m0, m1, m2, m3)."""
    return m0 + m1 + m2, m1 - m2 - m3


@njit(cache=True, inline="always")
def _a(y0, y1):
    """A times the column (y0, y1): the adjoint of _a_t."""
    return y0, y0 + y1, y0 - y1, -y1


@njit(cache=True, nogil=True)
def _input_tiles(x, inputs, first, last):
    """inputs[:, c, p] = Bᵀ d B for tile p of channel c, samples first <= n < last: d = the 4x4
    block at row 2 ti - 1, column 2 tj - 1 of x[n, c], zero outside it. The columns are these
    samples' only, p = ((n - first) H/2 + ti) W/2 + tj (so in the other transforms too). Channel
    by channel, so that each of the 16 planes is written in order.

    A tile's 16 numbers stay in registers, read straight from the four padded rows its row of
    tiles covers: against a 4x4 scratch array between the two steps and a view per column, one
    chunk's transform took 0.028-0.045 ms instead of 0.050-0.078 on the detector's and lesson 4's
    shapes (2-core AMD EPYC Zen 4, CPU family 25; medians of 300 calls). The same numbers. In
    Conv2D's forward pass, the two ways taking turns call by call (medians of 200, two
    processes): lesson 4's (64, 16, 16, 16) -> 32 1.04-1.47 ms against 1.17-1.60, the detector's
    (32, 64, 16, 16) -> 128 4.28-4.42 against 4.54-4.90 and (32, 32, 8, 8) -> 64 0.46-0.51
    against 0.49-0.55; its backward pass (with _input_tiles_backward's change) 1-4% faster."""
    _, channels, height, width = x.shape
    tile_rows, tile_cols = height // 2, width // 2
    padded = np.zeros((height + 2, width + 2), x.dtype)
    for c in range(channels):
        for n in range(first, last):
            for row in range(height):  # loops, not a slice copy: see the module docstring
                for column in range(width):
                    padded[row + 1, column + 1] = x[n, c, row, column]
            for ti in range(tile_rows):
                top = 2 * ti
                d0, d1, d2, d3 = padded[top], padded[top + 1], padded[top + 2], padded[top + 3]
                first_tile = ((n - first) * tile_rows + ti) * tile_cols
                for tj in range(tile_cols):
                    left = 2 * tj
                    # Bᵀ down each of the tile's four columns, then B along each row of the result
                    column0 = _b_t(d0[left], d1[left], d2[left], d3[left])
                    column1 = _b_t(d0[left + 1], d1[left + 1], d2[left + 1], d3[left + 1])
                    column2 = _b_t(d0[left + 2], d1[left + 2], d2[left + 2], d3[left + 2])
                    column3 = _b_t(d0[left + 3], d1[left + 3], d2[left + 3], d3[left + 3])
                    p = first_tile + tj
                    for u in range(4):
                        v0, v1, v2, v3 = _b_t(column0[u], column1[u], column2[u], column3[u])
                        inputs[4 * u, c, p] = v0
                        inputs[4 * u + 1, c, p] = v1
                        inputs[4 * u + 2, c, p] = v2
                        inputs[4 * u + 3, c, p] = v3
    return inputs


@njit(cache=True, nogil=True)
def _input_tiles_backward(input_grads, dx, first, last):
    """dx[n, c] for samples first <= n < last = the sum, over the tiles p of sample n, of B dv Bᵀ
    (dv = input_grads[:, c, p]) added onto the 4x4 block each tile read, less the padding: the
    adjoint of _input_tiles, its numbers likewise kept in registers (one chunk 0.039-0.061 ms
    instead of 0.050-0.080, measured as there). The same numbers."""
    _, channels, height, width = dx.shape
    tile_rows, tile_cols = height // 2, width // 2
    padded = np.zeros((height + 2, width + 2), dx.dtype)
    grads = input_grads
    for c in range(channels):
        for n in range(first, last):
            padded[:] = 0
            for ti in range(tile_rows):
                top = 2 * ti
                d0, d1, d2, d3 = padded[top], padded[top + 1], padded[top + 2], padded[top + 3]
                first_tile = ((n - first) * tile_rows + ti) * tile_cols
                for tj in range(tile_cols):
                    p = first_tile + tj
                    # B along each row u of dv, then down each column v onto the block
                    row0 = _b(grads[0, c, p], grads[1, c, p], grads[2, c, p], grads[3, c, p])
                    row1 = _b(grads[4, c, p], grads[5, c, p], grads[6, c, p], grads[7, c, p])
                    row2 = _b(grads[8, c, p], grads[9, c, p], grads[10, c, p], grads[11, c, p])
                    row3 = _b(grads[12, c, p], grads[13, c, p], grads[14, c, p], grads[15, c, p])
                    left = 2 * tj
                    for v in range(4):
                        e0, e1, e2, e3 = _b(row0[v], row1[v], row2[v], row3[v])
                        d0[left + v] += e0
                        d1[left + v] += e1
                        d2[left + v] += e2
                        d3[left + v] += e3
            for row in range(height):
                for column in range(width):
                    dx[n, c, row, column] = padded[row + 1, column + 1]
    return dx


def _kernel_tiles(weights, kernel_transform):
    """U (K, C_out, C): G g Gᵀ for every 3x3 kernel g = weights[f, c], as one matrix product of
    kernel_transform, G ⊗ G (K, 9), with the kernels as columns (K = 16 for _KERNEL_TRANSFORM,
    36 for F(4x4, 3x3)'s)."""
    n_out, channels = weights.shape[:2]
    transform = kernel_transform.astype(weights.dtype)
    kernels = transform @ weights.reshape(n_out * channels, 9).T
    return kernels.reshape(len(transform), n_out, channels)


def _kernel_tiles_backward(kernel_grads, kernel_transform):
    """dweights (C_out, C, 3, 3): Gᵀ du G for every du = kernel_grads[:, f, c], the adjoint of
    _kernel_tiles: the transposed product."""
    count, n_out, channels = kernel_grads.shape
    transform = kernel_transform.astype(kernel_grads.dtype)
    columns = kernel_grads.reshape(count, n_out * channels)
    return (columns.T @ transform).reshape(n_out, channels, 3, 3)


@njit(cache=True, nogil=True)
def _output_tiles(products, columns, bias, out, first, last):
    """out[n, f] at tile (ti, tj) = Aᵀ m A + bias[f], with m[u, v] = M[4 u + v, f, p] =
    products[4 u + v, f * columns + p] for tile p (n, ti, tj), samples first <= n < last
    (products is `rows_of` the planes of M).

    Channel by channel, in two loops (the module docstring says why): the first, over all the
    samples' tiles, reads the 16 planes and writes each tile's four outputs to four phases
    (even or odd row, even or odd column) in the order of the tiles; the second puts them in
    place."""
    _, n_out, height, width = out.shape
    tile_rows, tile_cols = height // 2, width // 2
    count = (last - first) * tile_rows * tile_cols
    phases = np.empty((4, count), out.dtype)
    y00, y01, y10, y11 = phases[0], phases[1], phases[2], phases[3]
    for f in range(n_out):
        m = _runs(products, f * columns)
        b = bias[f]
        for p in range(count):
            # Aᵀ down each column v of m, then A along the two rows that gives
            top0, bottom0 = _a_t(m[0][0][p], m[1][0][p], m[2][0][p], m[3][0][p])
            top1, bottom1 = _a_t(m[0][1][p], m[1][1][p], m[2][1][p], m[3][1][p])
            top2, bottom2 = _a_t(m[0][2][p], m[1][2][p], m[2][2][p], m[3][2][p])
            top3, bottom3 = _a_t(m[0][3][p], m[1][3][p], m[2][3][p], m[3][3][p])
            upper_left, upper_right = _a_t(top0, top1, top2, top3)
            lower_left, lower_right = _a_t(bottom0, bottom1, bottom2, bottom3)
            y00[p] = upper_left + b
            y01[p] = upper_right + b
            y10[p] = lower_left + b
            y11[p] = lower_right + b
        p = 0
        for n in range(first, last):
            for ti in range(tile_rows):
                for tj in range(tile_cols):
                    out[n, f, 2 * ti, 2 * tj] = y00[p]
                    out[n, f, 2 * ti, 2 * tj + 1] = y01[p]
                    out[n, f, 2 * ti + 1, 2 * tj] = y10[p]
                    out[n, f, 2 * ti + 1, 2 * tj + 1] = y11[p]
                    p += 1
    return out


@njit(cache=True, nogil=True)
def _output_tiles_backward(dout, products, columns, bias_grads, first, last):
    """products[4 u + v, f * columns + p] = (A dy Aᵀ)[u, v] for the 2x2 tile dy of dout[n, f]
    at tile p (n, ti, tj), samples first <= n < last: the adjoint of _output_tiles (products is
    `rows_of` the planes of dM); and bias_grads[f], the sum of those samples' dout[n, f], tile
    by tile.

    As _output_tiles, the other way round: channel by channel, dout's tiles split into four
    phases (with the bias's sum, in the order of the tiles), then a loop over all the tiles
    for each row u of A dy Aᵀ, each writing 4 planes."""
    _, n_out, height, width = dout.shape
    tile_rows, tile_cols = height // 2, width // 2
    count = (last - first) * tile_rows * tile_cols
    phases = np.empty((4, count), dout.dtype)
    y00, y01, y10, y11 = phases[0], phases[1], phases[2], phases[3]
    for f in range(n_out):
        bias_grad = 0.0
        p = 0
        for n in range(first, last):
            for ti in range(tile_rows):
                for tj in range(tile_cols):
                    y00[p] = dout[n, f, 2 * ti, 2 * tj]
                    y01[p] = dout[n, f, 2 * ti, 2 * tj + 1]
                    y10[p] = dout[n, f, 2 * ti + 1, 2 * tj]
                    y11[p] = dout[n, f, 2 * ti + 1, 2 * tj + 1]
                    bias_grad += (y00[p] + y01[p]) + (y10[p] + y11[p])
                    p += 1
        bias_grads[f] = bias_grad
        row0, row1, row2, row3 = _runs(products, f * columns)
        # A dy Aᵀ: row u is A along (left[u], right[u]), where left = A (y00, y10) and
        # right = A (y01, y11): (y00, y01), (y00 + y10, y01 + y11), (y00 - y10, y01 - y11),
        # (-y10, -y11). A loop per row u: 4 planes written each.
        for p in range(count):
            row0[0][p], row0[1][p], row0[2][p], row0[3][p] = _a(y00[p], y01[p])
        for p in range(count):
            row1[0][p], row1[1][p], row1[2][p], row1[3][p] = _a(y00[p] + y10[p], y01[p] + y11[p])
        for p in range(count):
            row2[0][p], row2[1][p], row2[2][p], row2[3][p] = _a(y00[p] - y10[p], y01[p] - y11[p])
        for p in range(count):
            row3[0][p], row3[1][p], row3[2][p], row3[3][p] = _a(-y10[p], -y11[p])
    return products


@njit(cache=True, inline="always")
def _runs(products, start):
    """The 16 planes' runs from column `start` of `rows_of` them, as a 4x4 tuple: runs[u][v] is
    products[4 u + v, start:], where the transforms find m[u, v] of each tile. Inlined by
    numba: called as a function, its 16 slices took the forward transform from 30 to 38 µs a
    chunk on (64, 16, 16, 16) -> 32, and from 64 to 90 µs on the detector's 4x4 layer (as
    measured in the module docstring)."""
    return (
        (products[0, start:], products[1, start:], products[2, start:], products[3, start:]),
        (products[4, start:], products[5, start:], products[6, start:], products[7, start:]),
        (products[8, start:], products[9, start:], products[10, start:], products[11, start:]),
        (products[12, start:], products[13, start:], products[14, start:], products[15, start:]),
    )


class Transforms(NamedTuple):
    """One variant of the algorithm: its output tiles' side, its four transforms and its kernels'
    transform."""

    tile: int
    input_tiles: object
    input_tiles_backward: object
    output_tiles: object
    output_tiles_backward: object
    kernel_transform: np.ndarray

    @property
    def count(self):
        """The planes, one matrix product each: (tile + 2)², an input tile's numbers."""
        return (self.tile + 2) ** 2

    def tiles_per_sample(self, height, width):
        """The tiles that cover one sample's H x W map."""
        return (height // self.tile) * (width // self.tile)


F2X2 = Transforms(
    tile=2,
    input_tiles=_input_tiles,
    input_tiles_backward=_input_tiles_backward,
    output_tiles=_output_tiles,
    output_tiles_backward=_output_tiles_backward,
    kernel_transform=_KERNEL_TRANSFORM,
)
F4X4 = Transforms(
    tile=winograd_f4.TILE,
    input_tiles=winograd_f4.input_tiles,
    input_tiles_backward=winograd_f4.input_tiles_backward,
    output_tiles=winograd_f4.output_tiles,
    output_tiles_backward=winograd_f4.output_tiles_backward,
    kernel_transform=winograd_f4.KERNEL_TRANSFORM,
)


def transforms_for(height, width):
    """F4X4 on maps of at least LARGE_TILES_PIXELS pixels that whole 4x4 tiles cover, F2X2
    elsewhere: the transforms of the variant winograd_forward runs on an H x W map."""
    if height * width >= LARGE_TILES_PIXELS and height % 4 == 0 and width % 4 == 0:
        return F4X4
    return F2X2
