"""Winograd's matrix products with their sums in registers, 8 rows x 32 columns at a time.

winograd.py turns a 3x3 convolution into one matrix product per plane ξ of its tiles (16 for
F(2x2, 3x3), 36 for F(4x4, 3x3)), M[ξ] (C_out, P) = U[ξ] (C_out, C_in) @ V[ξ] (C_in, P), and its
input gradient into as many more, dV[ξ] = U[ξ]ᵀ @ dM[ξ]. The products are skinny: 8 to 128
rows and as deep, and a few hundred columns (a chunk's tiles). Here they are in_registers.py's
loop again, with the input channels for taps and V's rows for the shifted runs:

    for each plane ξ, each 32 columns p0 <= p < p0 + 32, each 8 rows m <= r < m + 8:
        acc[r, :] = 0
        for k < K:  acc[r, :] += a[ξ, r, k] * b[ξ, k, p0 : p0 + 32]      (16 FMAs a k)
        out[ξ, r, p0 : p0 + 32] = acc[r, :]

16 AVX-512 registers of float32 hold the sums through all K; each k loads 2 vectors of b and
broadcasts 8 numbers of a. The sums are written to out from the same 16 views of acc they were
summed in, one vector store each: written out as a loop over the rows of acc, LLVM stored them
one number at a time, and 36 planes of 32 rows x 256 columns took 1.4x-2.1x as long, 8 to 32
deep.

**The edges in blocks too** (`_edges`): the columns after the last whole block of 32 and the
last rows (fewer than 8) are computed by 8 x 16 blocks, those that would run past them on
copies padded with zeros, their sums copied to out where they land in it. A plain loop over
each row of out summed them before, at a few GFLOP/s on those short runs. Medians of 300
calls, one core, two runs, the loop before's time over now's: 36 planes of (64, 32) @ (32,
72) 3.4x-4.0x, (128, 64) @ (64, 72) 3.4x-4.1x, (16, 128) @ (128, 4) 8.1x-9.6x, 12 and 3 rows
1.6x-1.8x and 1.1x-1.6x; products without edges 1.02x-1.10x (the plain loop ran over every
row even with no column left). Whole forward passes, one core, two packages taking turns call
by call, two runs: the detector's 4x4 layer (64 -> 128 channels) on one image 4.1x-5.3x
(0.11-0.17 against 0.58-0.70 ms), on 7 images 3.8x-4.1x; (50, 32, 8, 8) -> 64 2.3x; (30, 32,
6, 6) -> 64 1.9x-2.0x; 1x1 convolutions of (32, 128) to 16 and 20 channels on 2x2 and 6x6
maps 4.9x-7.7x and 3.9x-4.0x; bench_conv.py's shapes c, e and h 1.01x-1.10x (2-core AMD EPYC
Zen 5, CPU family 26). winograd.py's chunks take whole blocks where they can
(winograd._chunk_samples). The buffers come from multiply_planes: allocated in the function
that holds acc, they kept LLVM from holding acc in registers (2.3x slower). Compiling the
loop with an empty numba cache takes about 0.7 s longer than before (4.7-5.3 against 4.0-4.4 s).
Every number is the same sum in the same order whichever block computes it: fma after fma over
k, from 0 (the tests compare a product with its columns cut anywhere, bit for bit).

**Against NumPy's BLAS** (medians of 200 calls, one core, a chunk's products as winograd.py
makes them; 2-core AMD EPYC Zen 5, CPU family 26, numpy 2.4.6 with OpenBLAS 0.3.31). This
project's machines set OPENBLAS_CORETYPE=Haswell, so OpenBLAS runs its AVX2 kernel there.
Against it: bench_conv.py's shape c, (64, 16, 16, 16) -> 32, 36 planes of (32, 16) @ (16,
144), 40 against 63 µs (133 against 85 GFLOP/s), and its input gradient's (16, 32) @ (32, 144)
29 against 60 µs; the detector's (32, 64, 16, 16) -> 128, (128, 64) @ (64, 32), 112 against 191
µs (168 against 99 GFLOP/s), its input gradient's 88 against 187 µs; its 4x4 layer's 16 planes
of (128, 64) @ (64, 64) 83 against 159 µs: 1.5x-2.1x. Against OpenBLAS's own choice there,
SkylakeX (AVX-512; the variable unset), 0.58x-1.06x its speed on the same products. The whole
passes as Conv2D runs them (two threads, two packages taking turns call by call in one process,
medians of 100 calls, two processes): with Haswell's kernel, forward 1.11x/1.11x as fast on c,
1.20x/1.11x on (32, 32, 8, 8) -> 64, 1.15x/1.08x on (32, 32, 32, 32) -> 64, 1.20x/1.30x on the
detector's 64 -> 128, 1.23x/1.15x on its 4x4 layer, backward 0.99x-1.19x (the weight gradient
is NumPy's either way); with SkylakeX's, forward 0.91x-1.02x and backward 0.83x-0.96x. So
`chosen_for` takes this loop where numba compiles for AVX-512, in float32, and NumPy's BLAS
runs no AVX-512 kernel of its own (blas.avx512_kernel): the products' rounding follows the
BLAS kernel the environment chose, as it did before. Elsewhere NumPy's products: on AVX2 (a
Zen 2) the 16 sums would take all 16 registers and spill, as in_registers.py measured for its
own loop; in float64 they would take all 32. The weight gradient's products, dU[ξ] = dM[ξ] @
V[ξ]ᵀ, are long sums into a small matrix, another kind of loop: NumPy's.
"""

import numpy as np
from numba import carray, njit

from tinycnn.kernels import blas, layout
from tinycnn.kernels.in_registers import stack_buffer
from tinycnn.kernels.taps import FAST

ROWS = 8  # rows of a and out per block ...
COLUMNS = 32  # ... and columns of b and out: ROWS x COLUMNS float32 fill 16 AVX-512 registers
HALF = COLUMNS // 2  # each row of a block is summed as two runs of HALF: one register each
SUMS = ROWS * COLUMNS
CHUNKS_FIT = layout.CHUNKS_FIT  # AVX-512: 32 registers, 16 of them for the sums


def chosen_for(dtype):
    """True where winograd.py computes its products U @ V and Uᵀ @ dM, and pointwise_blas.py
    its W @ x[n] and Wᵀ @ dout[n], with multiply_planes: on a machine whose registers hold a
    block's sums (layout.CHUNKS_FIT: AVX-512), in float32, where NumPy's BLAS runs no AVX-512
    kernel of its own (blas.avx512_kernel). NumPy's products elsewhere (the module docstring
    says why)."""
    return CHUNKS_FIT and np.dtype(dtype) == np.float32 and not blas.avx512_kernel()


@njit(cache=True, nogil=True, fastmath=FAST)
def multiply_planes(a, b_rows, b_width, b_first, out_rows, out_width, columns):
    """out[ξ, m, q] = sum_k a[ξ, m, k] * b[ξ, k, b_first + q] for q < columns, for every plane ξ:
    a (count, M, K) C-contiguous, or (1, M, K), one matrix for every plane (pointwise_blas.py's
    weights); b and out as (count, plane stride) rows of planes, winograd.rows_of of
    winograd.planes or C-contiguous samples (N, K * P), each row of b b_width numbers long and
    each row of out out_width, b_first + columns <= b_width and columns <= out_width. float32
    (chosen_for). The sums in registers, the edges by _edges (the module docstring says how)."""
    n_rows = a.shape[1]
    acc = carray(stack_buffer(b_rows, SUMS), SUMS)
    whole_rows = n_rows - n_rows % ROWS
    whole = columns - columns % COLUMNS
    for plane in range(b_rows.shape[0]):
        weights = a[plane if a.shape[0] > 1 else 0]
        b, out = b_rows[plane], out_rows[plane]
        for p0 in range(0, whole, COLUMNS):
            for m in range(0, whole_rows, ROWS):
                out_start = m * out_width + p0
                _block(acc, weights, m, b, b_width, b_first + p0, out, out_start, out_width)
    if columns > whole or n_rows > whole_rows:
        edge_rows = np.zeros((ROWS, a.shape[2]), a.dtype)
        edge_columns = np.empty(a.shape[2] * HALF, b_rows.dtype)
        sums = np.empty(ROWS * HALF, out_rows.dtype)
        _edges(
            a, b_rows, b_width, b_first, out_rows, out_width, columns, edge_rows, edge_columns, sums
        )


@njit(cache=True, nogil=True, fastmath=FAST)
def _edges(
    a, b_rows, b_width, b_first, out_rows, out_width, columns, edge_rows, edge_columns, sums
):
    """multiply_planes' numbers outside its blocks of 8 x 32: its last columns (fewer than
    COLUMNS) and its last rows (fewer than ROWS), in 8 x 16 blocks. Where a block would run past
    them, it reads copies padded with zeros: a's last rows in edge_rows (ROWS, K) of zeros, b's
    last columns in edge_columns (K * HALF). Its sums go to out through `sums` (ROWS * HALF),
    where they land in it. The buffers come from multiply_planes: allocated here, they kept
    LLVM from holding acc in registers (2.3x slower)."""
    n_rows, depth = a.shape[1], a.shape[2]
    whole_rows = n_rows - n_rows % ROWS
    whole = columns - columns % COLUMNS
    acc = carray(stack_buffer(b_rows, SUMS), SUMS)
    for plane in range(b_rows.shape[0]):
        weights = a[plane if a.shape[0] > 1 else 0]
        b, out = b_rows[plane], out_rows[plane]
        for r in range(n_rows - whole_rows):
            for k in range(depth):
                edge_rows[r, k] = weights[whole_rows + r, k]
        for p0 in range(0 if whole_rows < n_rows else whole, columns, HALF):
            kept = min(HALF, columns - p0)
            if kept == HALF:
                columns_of_b, width, start = b, b_width, b_first + p0
            else:
                for k in range(depth):
                    for q in range(HALF):
                        edge_columns[k * HALF + q] = (
                            b[b_first + k * b_width + p0 + q] if q < kept else 0
                        )
                columns_of_b, width, start = edge_columns, HALF, 0
            for m in range(0 if p0 >= whole else whole_rows, n_rows, ROWS):
                edge = m == whole_rows
                rows_of_a, first_row = (edge_rows, 0) if edge else (weights, m)
                through_sums = edge or kept < HALF  # else a whole block: straight into out
                if through_sums:
                    sums_to, sums_start, sums_width = sums, 0, HALF
                else:
                    sums_to, sums_start, sums_width = out, m * out_width + p0, out_width
                _half_block(
                    acc,
                    rows_of_a,
                    first_row,
                    columns_of_b,
                    width,
                    start,
                    sums_to,
                    sums_start,
                    sums_width,
                )
                if through_sums:
                    for r in range(min(ROWS, n_rows - m)):
                        dest = out[(m + r) * out_width + p0 :]
                        for q in range(kept):
                            dest[q] = sums[r * HALF + q]


@njit(cache=True, fastmath=FAST, inline="always")
def _block(acc, a, m, b, b_width, b_start, out, out_start, out_width):
    """Rows m <= r < m + 8 of a (M, K) times b's K rows at b_start + k * b_width, 32 columns,
    into out's rows at out_start + r * out_width: 16 registers of sums, each half of each row of
    acc a view of 16 numbers that LLVM keeps in one (in_registers.py's way)."""
    top0, top1, top2, top3 = acc[0:16], acc[32:48], acc[64:80], acc[96:112]
    top4, top5, top6, top7 = acc[128:144], acc[160:176], acc[192:208], acc[224:240]
    low0, low1, low2, low3 = acc[16:32], acc[48:64], acc[80:96], acc[112:128]
    low4, low5, low6, low7 = acc[144:160], acc[176:192], acc[208:224], acc[240:256]
    for q in range(HALF):
        top0[q] = top1[q] = top2[q] = top3[q] = top4[q] = top5[q] = top6[q] = top7[q] = 0.0
        low0[q] = low1[q] = low2[q] = low3[q] = low4[q] = low5[q] = low6[q] = low7[q] = 0.0
    for k in range(a.shape[1]):
        start = b_start + k * b_width
        left, right = b[start : start + HALF], b[start + HALF : start + COLUMNS]
        w0, w1, w2, w3 = a[m, k], a[m + 1, k], a[m + 2, k], a[m + 3, k]
        w4, w5, w6, w7 = a[m + 4, k], a[m + 5, k], a[m + 6, k], a[m + 7, k]
        for q in range(HALF):
            v, u = left[q], right[q]
            top0[q] += w0 * v
            low0[q] += w0 * u
            top1[q] += w1 * v
            low1[q] += w1 * u
            top2[q] += w2 * v
            low2[q] += w2 * u
            top3[q] += w3 * v
            low3[q] += w3 * u
            top4[q] += w4 * v
            low4[q] += w4 * u
            top5[q] += w5 * v
            low5[q] += w5 * u
            top6[q] += w6 * v
            low6[q] += w6 * u
            top7[q] += w7 * v
            low7[q] += w7 * u
    _store(out, out_start, top0, low0)
    _store(out, out_start + out_width, top1, low1)
    _store(out, out_start + 2 * out_width, top2, low2)
    _store(out, out_start + 3 * out_width, top3, low3)
    _store(out, out_start + 4 * out_width, top4, low4)
    _store(out, out_start + 5 * out_width, top5, low5)
    _store(out, out_start + 6 * out_width, top6, low6)
    _store(out, out_start + 7 * out_width, top7, low7)


@njit(cache=True, fastmath=FAST, inline="always")
def _half_block(acc, a, m, b, b_width, b_start, out, out_start, out_width):
    """_block over 16 columns: 8 registers of sums."""
    row0, row1, row2, row3 = acc[0:16], acc[32:48], acc[64:80], acc[96:112]
    row4, row5, row6, row7 = acc[128:144], acc[160:176], acc[192:208], acc[224:240]
    for q in range(HALF):
        row0[q] = row1[q] = row2[q] = row3[q] = row4[q] = row5[q] = row6[q] = row7[q] = 0.0
    for k in range(a.shape[1]):
        start = b_start + k * b_width
        run = b[start : start + HALF]
        w0, w1, w2, w3 = a[m, k], a[m + 1, k], a[m + 2, k], a[m + 3, k]
        w4, w5, w6, w7 = a[m + 4, k], a[m + 5, k], a[m + 6, k], a[m + 7, k]
        for q in range(HALF):
            v = run[q]
            row0[q] += w0 * v
            row1[q] += w1 * v
            row2[q] += w2 * v
            row3[q] += w3 * v
            row4[q] += w4 * v
            row5[q] += w5 * v
            row6[q] += w6 * v
            row7[q] += w7 * v
    _store_half(out, out_start, row0)
    _store_half(out, out_start + out_width, row1)
    _store_half(out, out_start + 2 * out_width, row2)
    _store_half(out, out_start + 3 * out_width, row3)
    _store_half(out, out_start + 4 * out_width, row4)
    _store_half(out, out_start + 5 * out_width, row5)
    _store_half(out, out_start + 6 * out_width, row6)
    _store_half(out, out_start + 7 * out_width, row7)


@njit(cache=True, inline="always")
def _store(out, start, top, low):
    """One row of a block's sums, its two halves, to out[start : start + 32]."""
    dest = out[start : start + COLUMNS]
    for q in range(HALF):
        dest[q] = top[q]
        dest[q + HALF] = low[q]


@njit(cache=True, inline="always")
def _store_half(out, start, sums):
    """One row of a half block's sums to out[start : start + 16]."""
    dest = out[start : start + HALF]
    for q in range(HALF):
        dest[q] = sums[q]
