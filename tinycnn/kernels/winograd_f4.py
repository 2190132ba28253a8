"""Winograd's F(4x4, 3x3): the transforms of winograd.py for 4x4 output tiles.

The same algorithm as winograd.py's F(2x2, 3x3), with larger tiles. Each 4x4 block of outputs
comes from the 6x6 block of inputs around it, by 36 multiplications instead of 144 (F(2x2, 3x3)
needs 64 for the same 16 outputs), through these matrices (Lavin and Gray, 2016):

    Bᵀ = [4  0 -5  0  1  0]      G = [ 1/4     0     0 ]      Aᵀ = [1  1  1  1  1  0]
         [0 -4 -4  1  1  0]          [-1/6  -1/6  -1/6 ]           [0  1 -1  2 -2  0]
         [0  4 -4 -1  1  0]          [-1/6   1/6  -1/6 ]           [0  1  1  4  4  0]
         [0 -2 -1  2  1  0]          [1/24  1/12   1/6 ]           [0  1 -1  8 -8  1]
         [0  2 -1 -2  1  0]          [1/24 -1/12   1/6 ]
         [0  4  0 -5  0  1]          [ 0     0      1  ]

so the convolution's sum over input channels becomes 36 matrix products, one per entry ξ of
the 6x6 arrays: M[ξ] (C_out, P) = U[ξ] @ V[ξ], P = N·(H/4)·(W/4) tiles. winograd.py runs them,
a few samples at a time, each half of the batch on its own thread, as it runs F(2x2, 3x3)'s.

The larger numbers in these matrices cost accuracy: in float32 the outputs of lesson 4's (64,
16, 16, 16) -> 32 were within 2.0e-5 of the exact convolution's (outputs up to 6.3), against
1.1e-6 for F(2x2, 3x3). What they save is the products, on a Zen 2 the larger part of the
time. Per sample of that shape on one core, forward: the products 14.2 µs against 23.3, the
input transform 6.7-7.0 µs against 9.0-9.1, the output transform 7.3-7.5 µs against 6.0;
backward, the two transforms' adjoints 7.9-8.1 and 10.9-11.1 µs against 7.6-8.2 and 11.7-11.9
(2-core AMD EPYC Zen 2, CPU family 23, medians of 300 calls). winograd.transforms_for says
where each variant runs; winograd.py's docstring has the whole passes' times.

input_tiles and its adjoint take a row of tiles at a time, Bᵀ down all of its columns in one
vectorized loop, then B along each tile's rows (input_tiles says why and what it gained). The
output transforms work as their F(2x2, 3x3) twins do, in loops over all of a chunk's tiles that
LLVM vectorizes, each reading and writing few enough arrays for LLVM to check before the loop
that they do not overlap (winograd.py's docstring): each loop reads its planes through 1-D
slices of `rows_of` them, taken before the loop (indexed through a tuple of them by the loop's
column, as winograd._runs holds F(2x2, 3x3)'s, the first step stayed scalar: 64 against 27 µs a
chunk of 9 samples). The 16 phases go to and from out a row of tiles at a time, through a slice
of each phase: 8.1 against 10.7 µs a sample forward, 8.7 against 11.8 backward, where each tile
indexed the phases alone. Compiling them with an empty numba cache takes 1.3-1.5 s each (the
first run of a program that uses them).
"""

import numpy as np
from numba import njit

TILE = 4  # outputs per side of a tile
SIDE = 6  # inputs per side of a tile: TILE + 2

_G = np.array(
    [
        [1 / 4, 0, 0],
        [-1 / 6, -1 / 6, -1 / 6],
        [-1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6],
        [1 / 24, -1 / 12, 1 / 6],
        [0, 0, 1],
    ]
)
KERNEL_TRANSFORM = np.kron(_G, _G)
"""(36, 9): G ⊗ G, as winograd._KERNEL_TRANSFORM is for F(2x2, 3x3)."""

# float32 constants: a float32 times a Python int is a float64 to numba
_2, _4, _5, _8 = np.float32(2), np.float32(4), np.float32(5), np.float32(8)


@njit(cache=True, inline="always")
def _b_t(d0, d1, d2, d3, d4, d5):
    """Bᵀ times the column (d0, ..., d5)."""
    return (
        _4 * d0 - _5 * d2 + d4,
        (d3 + d4) - _4 * (d1 + d2),
        (d4 - d3) + _4 * (d1 - d2),
        (d4 - d2) - _2 * (d1 - d3),
        (d4 - d2) + _2 * (d1 - d3),
        _4 * d1 - _5 * d3 + d5,
    )


@njit(cache=True, inline="always")
def _b(v0, v1, v2, v3, v4, v5):
    """B times the column (v0, ..., v5): the adjoint of _b_t."""
    return (
        _4 * v0,
        _4 * (v2 - v1) + _2 * (v4 - v3) + _4 * v5,
        -_5 * v0 - _4 * (v1 + v2) - (v3 + v4),
        (v1 - v2) + _2 * (v3 - v4) - _5 * v5,
        v0 + v1 + v2 + v3 + v4,
        v5,
    )


@njit(cache=True, inline="always")
def _a_t(m0, m1, m2, m3, m4, m5):
    """Aᵀ times the column (m0, ..., m5)."""
    pair_sum, pair_difference = m1 + m2, m1 - m2
    far_sum, far_difference = m3 + m4, m3 - m4
    return (
        m0 + pair_sum + far_sum,
        pair_difference + _2 * far_difference,
        pair_sum + _4 * far_sum,
        pair_difference + _8 * far_difference + m5,
    )


@njit(cache=True, inline="always")
def _a(y0, y1, y2, y3):
    """A times the column (y0, y1, y2, y3): the adjoint of _a_t."""
    return (
        y0,
        y0 + y1 + y2 + y3,
        y0 - y1 + y2 - y3,
        y0 + _2 * y1 + _4 * y2 + _8 * y3,
        y0 - _2 * y1 + _4 * y2 - _8 * y3,
        y3,
    )


@njit(cache=True, nogil=True)
def input_tiles(x, inputs, first, last):
    """inputs[:, c, p] = Bᵀ d B for tile p of channel c, samples first <= n < last: d = the 6x6
    block at row 4 ti - 1, column 4 tj - 1 of x[n, c], zero outside it; p = ((n - first) H/4 +
    ti) W/4 + tj, as in winograd._input_tiles.

    A row of tiles at a time, in two steps. Bᵀ down every column of the six rows of x it covers,
    in one loop along the rows that LLVM vectorizes (`columns`, whose first and last columns
    stay zero: the padding's); then, tile by tile, B along each of its six rows of `columns`
    (Bᵀ times a row of 6). Tiles 4 apart share 2 of their 6 columns, which the first step
    transforms once; and it reads x's rows where they are, in place of a padded copy (a row
    outside x reads `zeros`). The same numbers. Per sample on one core, against Bᵀ down each
    tile's own six columns in registers from a padded copy: lesson 4's (64, 16, 16, 16) 6.6
    against 10.5 µs, (32, 32, 32, 32) 48-50 against 80-82, (32, 64, 16, 16) 26 against 42-43,
    (32, 32, 8, 8) 4.6-4.8 against 5.4-5.5 (medians of 100 calls, five rounds; 2-core AMD EPYC
    Zen 2, CPU family 23). F(2x2, 3x3)'s transforms, the same way, were slower on the small maps
    it runs on (3.3 against 2.7 µs a sample of (32, 64, 4, 4)): its Bᵀ only adds."""
    _, channels, height, width = x.shape
    tile_rows, tile_cols = height // TILE, width // TILE
    zeros = np.zeros(width, x.dtype)
    columns = np.zeros((SIDE, width + 2), x.dtype)  # columns[u, j]: (Bᵀ column j - 1)[u]
    e0, e1, e2 = columns[0, 1 : width + 1], columns[1, 1 : width + 1], columns[2, 1 : width + 1]
    e3, e4, e5 = columns[3, 1 : width + 1], columns[4, 1 : width + 1], columns[5, 1 : width + 1]
    for c in range(channels):
        for n in range(first, last):
            image = x[n, c]
            for ti in range(tile_rows):
                top = TILE * ti - 1
                d0 = image[top] if top >= 0 else zeros
                d1, d2, d3, d4 = image[top + 1], image[top + 2], image[top + 3], image[top + 4]
                d5 = image[top + 5] if top + 5 < height else zeros
                for j in range(width):
                    e0[j], e1[j], e2[j], e3[j], e4[j], e5[j] = _b_t(
                        d0[j], d1[j], d2[j], d3[j], d4[j], d5[j]
                    )
                first_tile = ((n - first) * tile_rows + ti) * tile_cols
                for tj in range(tile_cols):
                    left = TILE * tj
                    p = first_tile + tj
                    for u in range(SIDE):
                        row = columns[u]
                        v0, v1, v2, v3, v4, v5 = _b_t(
                            row[left], row[left + 1], row[left + 2],
                            row[left + 3], row[left + 4], row[left + 5],
                        )  # fmt: skip
                        inputs[SIDE * u, c, p] = v0
                        inputs[SIDE * u + 1, c, p] = v1
                        inputs[SIDE * u + 2, c, p] = v2
                        inputs[SIDE * u + 3, c, p] = v3
                        inputs[SIDE * u + 4, c, p] = v4
                        inputs[SIDE * u + 5, c, p] = v5
    return inputs


@njit(cache=True, inline="always")
def _b_row(grads, u, c, p):
    """B times row u of tile p's dv in channel c: grads[6 u : 6 u + 6, c, p]."""
    k = SIDE * u
    return _b(
        grads[k, c, p], grads[k + 1, c, p], grads[k + 2, c, p],
        grads[k + 3, c, p], grads[k + 4, c, p], grads[k + 5, c, p],
    )  # fmt: skip


@njit(cache=True, nogil=True)
def input_tiles_backward(input_grads, dx, first, last):
    """dx[n, c] for samples first <= n < last = the sum, over the tiles p of sample n, of
    B dv Bᵀ (dv = input_grads[:, c, p]) added onto the 6x6 block each tile read, less the
    padding: the adjoint of input_tiles.

    input_tiles' two steps the other way round, a row of tiles at a time: B along each row of
    each tile's dv, summed into `columns` where tiles share columns; then B down every column,
    in one loop along the rows that LLVM vectorizes, onto dx's six rows (the two the row of
    tiles above also reached summed into, the others written; a padding row's into `discard`).
    Per sample on one core, against B along each row and down each column of a tile in
    registers onto a padded copy: (64, 16, 16, 16) 10.7 against 13.5 µs, (32, 32, 32, 32) 83
    against 103, (32, 64, 16, 16) 42 against 54, (32, 32, 8, 8) 6.0 against 7.0 (measured as
    input_tiles'). The same numbers to rounding (sums in another order)."""
    _, channels, height, width = dx.shape
    tile_rows, tile_cols = height // TILE, width // TILE
    columns = np.empty((SIDE, width + 2), dx.dtype)  # columns[u, j]: (B dv rows u)[j - 1]
    discard = np.empty((2, width), dx.dtype)  # the padding rows' gradients
    e0, e1, e2 = columns[0, 1 : width + 1], columns[1, 1 : width + 1], columns[2, 1 : width + 1]
    e3, e4, e5 = columns[3, 1 : width + 1], columns[4, 1 : width + 1], columns[5, 1 : width + 1]
    for c in range(channels):
        for n in range(first, last):
            image = dx[n, c]
            for j in range(width):
                image[0, j] = 0  # dx's first row, g1 of the first row of tiles: summed into
            for ti in range(tile_rows):
                for u in range(SIDE):  # the first tile's first two columns are summed into
                    columns[u, 0] = 0
                    columns[u, 1] = 0
                first_tile = ((n - first) * tile_rows + ti) * tile_cols
                for tj in range(tile_cols):
                    left = TILE * tj
                    p = first_tile + tj
                    for u in range(SIDE):
                        r0, r1, r2, r3, r4, r5 = _b_row(input_grads, u, c, p)
                        row = columns[u]
                        row[left] += r0  # shared with the tile on the left
                        row[left + 1] += r1
                        row[left + 2] = r2
                        row[left + 3] = r3
                        row[left + 4] = r4
                        row[left + 5] = r5
                top = TILE * ti - 1
                g0 = image[top] if top >= 0 else discard[0]
                g1, g2, g3, g4 = image[top + 1], image[top + 2], image[top + 3], image[top + 4]
                g5 = image[top + 5] if top + 5 < height else discard[1]
                for j in range(width):
                    s0, s1, s2, s3, s4, s5 = _b(e0[j], e1[j], e2[j], e3[j], e4[j], e5[j])
                    g0[j] += s0  # rows shared with the row of tiles above
                    g1[j] += s1
                    g2[j] = s2
                    g3[j] = s3
                    g4[j] = s4
                    g5[j] = s5
    return dx


@njit(cache=True, nogil=True)
def output_tiles(products, columns, bias, out, first, last):
    """out[n, f] at tile (ti, tj) = Aᵀ m A + bias[f], with m[u, v] = products[6 u + v, f *
    columns + p] for tile p (n, ti, tj), samples first <= n < last (products is `rows_of` the
    planes of M).

    Channel by channel, in three steps: Aᵀ down each column v of every tile (a loop per column,
    reading 6 planes, writing 4 rows of `down`), A along each row a that gives (a loop per row,
    writing 4 of the 16 phases: row a, column b of the tile), then the phases put in place, a
    row of tiles at a time."""
    _, n_out, height, width = out.shape
    tile_rows, tile_cols = height // TILE, width // TILE
    count = (last - first) * tile_rows * tile_cols
    down = np.empty((SIDE * TILE, count), out.dtype)  # down[4 v + a]: (Aᵀ column v)[a]
    phases = np.empty((TILE * TILE, count), out.dtype)  # phases[4 a + b]
    for f in range(n_out):
        start = f * columns
        for v in range(SIDE):
            m0, m1, m2 = products[v, start:], products[v + 6, start:], products[v + 12, start:]
            m3, m4, m5 = (
                products[v + 18, start:],
                products[v + 24, start:],
                products[v + 30, start:],
            )
            s0, s1, s2, s3 = down[4 * v], down[4 * v + 1], down[4 * v + 2], down[4 * v + 3]
            for p in range(count):
                s0[p], s1[p], s2[p], s3[p] = _a_t(m0[p], m1[p], m2[p], m3[p], m4[p], m5[p])
        b = bias[f]
        for a in range(TILE):
            t0, t1, t2 = down[a], down[4 + a], down[8 + a]
            t3, t4, t5 = down[12 + a], down[16 + a], down[20 + a]
            y0, y1, y2, y3 = phases[4 * a], phases[4 * a + 1], phases[4 * a + 2], phases[4 * a + 3]
            for p in range(count):
                r0, r1, r2, r3 = _a_t(t0[p], t1[p], t2[p], t3[p], t4[p], t5[p])
                y0[p] = r0 + b
                y1[p] = r1 + b
                y2[p] = r2 + b
                y3[p] = r3 + b
        for n in range(first, last):
            for ti in range(tile_rows):
                p = ((n - first) * tile_rows + ti) * tile_cols  # the row of tiles' first
                end = p + tile_cols
                for a in range(TILE):
                    row = out[n, f, TILE * ti + a]
                    y0, y1 = phases[4 * a, p:end], phases[4 * a + 1, p:end]
                    y2, y3 = phases[4 * a + 2, p:end], phases[4 * a + 3, p:end]
                    for tj in range(tile_cols):
                        row[TILE * tj] = y0[tj]
                        row[TILE * tj + 1] = y1[tj]
                        row[TILE * tj + 2] = y2[tj]
                        row[TILE * tj + 3] = y3[tj]
    return out


@njit(cache=True, nogil=True)
def output_tiles_backward(dout, products, columns, bias_grads, first, last):
    """products[6 u + v, f * columns + p] = (A dy Aᵀ)[u, v] for the 4x4 tile dy of dout[n, f]
    at tile p (n, ti, tj), samples first <= n < last: the adjoint of output_tiles (products is
    `rows_of` the planes of dM); and bias_grads[f], the sum of those samples' dout[n, f], tile
    by tile.

    output_tiles the other way round: channel by channel, dout's tiles split into 16 phases
    (with the bias's sum), A down each column b of every tile (a loop per column, writing 6 rows
    of `down`), then A along each row u (a loop per row, writing its 6 planes)."""
    _, n_out, height, width = dout.shape
    tile_rows, tile_cols = height // TILE, width // TILE
    count = (last - first) * tile_rows * tile_cols
    phases = np.empty((TILE * TILE, count), dout.dtype)  # phases[4 a + b]
    down = np.empty((TILE * SIDE, count), dout.dtype)  # down[6 b + u]: (A column b)[u]
    for f in range(n_out):
        bias_grad = 0.0
        for n in range(first, last):
            for ti in range(tile_rows):
                p = ((n - first) * tile_rows + ti) * tile_cols  # the row of tiles' first
                end = p + tile_cols
                for a in range(TILE):
                    row = dout[n, f, TILE * ti + a]
                    y0, y1 = phases[4 * a, p:end], phases[4 * a + 1, p:end]
                    y2, y3 = phases[4 * a + 2, p:end], phases[4 * a + 3, p:end]
                    for tj in range(tile_cols):
                        y0[tj] = row[TILE * tj]
                        y1[tj] = row[TILE * tj + 1]
                        y2[tj] = row[TILE * tj + 2]
                        y3[tj] = row[TILE * tj + 3]
                        bias_grad += (y0[tj] + y1[tj]) + (y2[tj] + y3[tj])
        bias_grads[f] = bias_grad
        for b in range(TILE):
            y0, y1, y2, y3 = phases[b], phases[4 + b], phases[8 + b], phases[12 + b]
            s0, s1, s2 = down[6 * b], down[6 * b + 1], down[6 * b + 2]
            s3, s4, s5 = down[6 * b + 3], down[6 * b + 4], down[6 * b + 5]
            for p in range(count):
                s0[p], s1[p], s2[p], s3[p], s4[p], s5[p] = _a(y0[p], y1[p], y2[p], y3[p])
        start = f * columns
        for u in range(SIDE):
            y0, y1, y2, y3 = down[u], down[6 + u], down[12 + u], down[18 + u]
            k = SIDE * u
            s0, s1, s2 = products[k, start:], products[k + 1, start:], products[k + 2, start:]
            s3, s4, s5 = products[k + 3, start:], products[k + 4, start:], products[k + 5, start:]
            for p in range(count):
                s0[p], s1[p], s2[p], s3[p], s4[p], s5[p] = _a(y0[p], y1[p], y2[p], y3[p])
    return products
