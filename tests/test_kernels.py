"""The numba kernels (conv.py, pool.py) against the lecture's loops (reference.py)."""

import inspect
import os
from pathlib import Path

import numba
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tinycnn.kernels import (
    activation,
    arguments,
    batchnorm,
    batchnorm_pool,
    conv,
    im2col,
    in_registers,
    layout,
    pool,
    reference,
    taps,
    threads,
)

from strategies import conv_geometries

DTYPES = [np.float32, np.float64]


def tolerance(dtype):
    """float32 sums of up to a few hundred terms of size ~1; float64 to ~1e-10."""
    return {"rtol": 1e-4, "atol": 1e-4} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-10}


def strided_view(rng, shape, dtype, layout):
    """Random normal values of `shape`, laid out contiguous, transposed or strided in memory."""
    if layout == "transposed":  # the last two axes swapped in memory
        swapped = shape[:-2] + (shape[-1], shape[-2])
        return rng.standard_normal(swapped).astype(dtype).swapaxes(-1, -2)
    if layout == "strided":  # every other element of a wider array
        return rng.standard_normal(shape[:-1] + (2 * shape[-1],)).astype(dtype)[..., ::2]
    return rng.standard_normal(shape).astype(dtype)


@st.composite
def conv_cases(draw):
    """Small random problems: non-square images, k 1-5, stride 1-3, padding 0..k-1, and
    1-6 output channels (blocks of 4, whole and padded)."""
    return {
        **draw(conv_geometries()),
        "dtype": draw(st.sampled_from(DTYPES)),
        "layout": draw(st.sampled_from(["contiguous", "transposed", "strided"])),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


def make_conv_problem(n, c_in, c_out, hw, k, stride, padding, dtype, layout, seed):
    """x, weights, bias and an upstream gradient dout of the output's shape."""
    rng = np.random.default_rng(seed)
    x = strided_view(rng, (n, c_in) + hw, dtype, layout)
    weights = strided_view(rng, (c_out, c_in, k, k), dtype, layout)
    bias = rng.standard_normal(c_out).astype(dtype)
    out_h = (hw[0] + 2 * padding - k) // stride + 1
    out_w = (hw[1] + 2 * padding - k) // stride + 1
    dout = strided_view(rng, (n, c_out, out_h, out_w), dtype, layout)
    return x, weights, bias, dout


def check_conv_against_reference(x, weights, bias, dout, stride, padding):
    """All three numba convolution kernels equal their reference twins, inputs unchanged."""
    k = weights.shape[2]
    tol = tolerance(x.dtype)
    before = [a.copy() for a in (x, weights, bias, dout)]

    out = conv.conv2d_forward(x, weights, bias, stride, padding)
    assert out.dtype == x.dtype
    expected = reference.conv2d_forward(x, weights, bias, stride, padding)
    np.testing.assert_allclose(out, expected, **tol)

    dx = conv.conv2d_backward_input(dout, weights, x.shape, stride, padding)
    assert dx.shape == x.shape and dx.dtype == x.dtype
    expected_dx = reference.conv2d_backward_input(dout, weights, x.shape, stride, padding)
    np.testing.assert_allclose(dx, expected_dx, **tol)

    dweights, dbias = conv.conv2d_backward_params(x, dout, k, stride, padding)
    expected_dw, expected_db = reference.conv2d_backward_params(x, dout, k, stride, padding)
    assert dweights.dtype == x.dtype and dbias.dtype == x.dtype
    np.testing.assert_allclose(dweights, expected_dw, **tol)
    np.testing.assert_allclose(dbias, expected_db, **tol)

    # The forward's batch planes, kept and handed back, give the same gradients exactly.
    kept_out, planes = conv.conv2d_forward(x, weights, bias, stride, padding, keep_planes=True)
    np.testing.assert_array_equal(kept_out, out)
    # Where there are planes (not for 1x1), they stand for x: its shape alone will do.
    kept = [(x, planes)] + ([(x.shape, planes)] if planes is not None else [])
    for x_or_shape, kept_planes in kept:
        reused = conv.conv2d_backward_params(x_or_shape, dout, k, stride, padding, kept_planes)
        np.testing.assert_array_equal(reused[0], dweights)
        np.testing.assert_array_equal(reused[1], dbias)
    # The layer's backward, both passes at once (dout laid out once where it can), likewise.
    for x_or_shape, kept_planes in [(x, None), *kept]:
        both = conv.conv2d_backward(x_or_shape, dout, weights, stride, padding, kept_planes)
        for got, want in zip(both, (dx, dweights, dbias), strict=True):
            np.testing.assert_array_equal(got, want)
    no_dx = conv.conv2d_backward(x, dout, weights, stride, padding, planes, input_grad=False)
    assert no_dx[0] is None
    np.testing.assert_array_equal(no_dx[1], dweights)

    for original, now in zip(before, (x, weights, bias, dout), strict=True):
        np.testing.assert_array_equal(original, now)


@given(conv_cases())
def test_conv_matches_reference(case):
    x, weights, bias, dout = make_conv_problem(**case)
    check_conv_against_reference(x, weights, bias, dout, case["stride"], case["padding"])


@given(conv_cases(), st.integers(0, 2**31 - 1))
def test_a_stride_past_the_last_window_gives_the_reference_at_no_cost(case, extra):
    """A stride beyond the image leaves one window per row and column: the kernels give the
    lecture's answer with no plane per stride phase (stride 2**31 on a 1x1 output would need
    about 2**62 of them), in all three passes and the layer's backward."""
    x, weights, bias, _ = make_conv_problem(**case)
    k, padding = case["k"], case["padding"]
    stride = max(x.shape[2], x.shape[3]) + 2 * padding - k + 1 + extra
    dout = np.random.default_rng(case["seed"]).standard_normal((x.shape[0], weights.shape[0], 1, 1))
    check_conv_against_reference(x, weights, bias, dout.astype(x.dtype), stride, padding)


@given(conv_cases())
def test_im2col_matches_reference(case):
    """The NumPy im2col rung of the ladder: forward and all three gradients."""
    x, weights, bias, dout = make_conv_problem(**case)
    s, p, tol = case["stride"], case["padding"], tolerance(case["dtype"])
    out, cols = im2col.conv2d_forward(x, weights, bias, s, p)
    np.testing.assert_allclose(out, reference.conv2d_forward(x, weights, bias, s, p), **tol)
    dx, dweights, dbias = im2col.conv2d_backward(dout, cols, x.shape, weights, s, p)
    expected_dw, expected_db = reference.conv2d_backward_params(x, dout, case["k"], s, p)
    np.testing.assert_allclose(
        dx, reference.conv2d_backward_input(dout, weights, x.shape, s, p), **tol
    )
    np.testing.assert_allclose(dweights, expected_dw, **tol)
    np.testing.assert_allclose(dbias, expected_db, **tol)


# Small versions of the benchmark shapes (N, C_in, H, W, C_out, k, stride, padding) and some odd
# corners, so that every path is taken: whole and padded blocks of channels (C_in 1 and 3 in the
# input gradient, C_out 5) and of taps (k 1 and 2), one or several stride phases, and phases that
# no window covers.
CONV_KINDS = {
    "a: one input channel": (2, 1, 12, 12, 8, 3, 1, 1),
    "b: 3x3 same": (2, 8, 8, 8, 16, 3, 1, 1),
    "c: more channels": (2, 16, 6, 6, 32, 3, 1, 1),
    "d: 5x5, padding 2": (2, 3, 10, 10, 16, 5, 1, 2),
    "e: many channels, 8x8": (2, 32, 8, 8, 64, 3, 1, 1),
    "f: stride 2": (2, 8, 10, 10, 16, 3, 2, 1),
    "stride 2, odd size": (2, 3, 9, 11, 5, 3, 2, 1),
    "stride 3 > k": (1, 2, 10, 8, 3, 2, 3, 0),
    "1x1": (2, 5, 6, 7, 6, 1, 1, 0),
    "1x1, several blocks per image": (2, 7, 40, 40, 5, 1, 1, 0),
    "1x1, stride 2": (2, 4, 7, 6, 3, 1, 2, 0),
    "padding >= k": (2, 2, 3, 4, 5, 2, 1, 3),
    "stride 2, no pixel under a window": (1, 2, 1, 1, 3, 1, 2, 1),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", CONV_KINDS.values(), ids=CONV_KINDS.keys())
def test_conv_kinds(shape, dtype):
    n, c_in, h, w, c_out, k, stride, padding = shape
    problem = make_conv_problem(n, c_in, c_out, (h, w), k, stride, padding, dtype, "contiguous", 0)
    x, weights, bias, dout = problem
    check_conv_against_reference(x, weights, bias, dout, stride, padding)


@given(
    geometry=conv_geometries(max_kernel=5, max_size=36, max_batch=2).filter(lambda g: g["k"] > 1),
    c_in=st.integers(5, 8),
    c_out=st.sampled_from([8, 16]),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=30, deadline=None)
def test_sums_in_registers_match_reference(geometry, c_in, c_out, seed):
    """The forward pass of whole blocks of 8 output channels in float32 takes in_registers.py's
    loop: rows of outputs shorter and longer than its chunks of 32, chunks along rows and across
    them (whichever computes fewer thrown-away outputs), strides 1-3, kernels 2-5."""
    geometry = {**geometry, "c_in": c_in, "c_out": c_out}
    problem = make_conv_problem(**geometry, dtype=np.float32, layout="contiguous", seed=seed)
    x, weights, bias, dout = problem
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(in_registers, "CHUNKS_FIT", True)  # taken on every machine, for the test
        assert in_registers.chosen_for(dout.shape, dout.itemsize, c_in * geometry["k"] ** 2)
        stride, padding = geometry["stride"], geometry["padding"]
        check_conv_against_reference(x, weights, bias, dout, stride, padding)


@pytest.mark.parametrize("way", threads.WAYS)
@pytest.mark.parametrize(
    "shape",
    [
        (2, 8, 32, 32, 16, 3, 1, 1),
        (2, 3, 9, 31, 8, 5, 1, 2),
        (3, 3, 17, 9, 8, 5, 1, 2),
        (2, 8, 20, 20, 8, 3, 2, 1),
        (2, 8, 32, 32, 16, 3, 2, 1),
        (3, 4, 15, 16, 8, 5, 1, 2),
    ],
    ids=["rows of 32", "rows of 31", "short rows", "stride 2", "rows of 16", "15 rows of 16"],
)
def test_sums_in_registers_are_correlates_sums_to_the_last_bit(shape, way):
    """correlate_in_registers adds the products in taps.correlate's order, so a network's
    numbers do not depend on which of the two ran: the same sums bit for bit, on one core and in
    parts, an inf and a NaN among the inputs included. Its chunks along rows (32 and 31: whole
    chunks and a last one cut short), across them (short rows), and on two rows of 16 at a time
    (an odd number of rows: the last alone)."""
    n, c_in, h, w, c_out, k, stride, padding = shape
    dtype = np.float32
    x, weights, bias, _ = make_conv_problem(
        n, c_in, c_out, (h, w), k, stride, padding, dtype, "contiguous", 1
    )
    x[0, 0, 1, 2], x[-1, -1, -1, -1] = np.inf, np.nan
    out_h, out_w = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
    grid, offsets = layout.forward_geometry(x.shape, k, stride, padding, out_h, out_w)
    planes = layout.batch_planes(x, stride, *grid)
    flat_weights, bias = layout.whole_blocks(weights.reshape(c_out, -1), bias)
    by_correlate = np.empty((n, c_out, out_h, out_w), dtype)
    phase = np.array([(0, len(offsets), out_h, out_w, 0, 0, 1)], np.int64)
    args = (planes, offsets, flat_weights, bias, grid.rows, grid.width)
    taps.correlate(*args, by_correlate, phase, conv.NOT_POOLED, *conv.laid_out(dtype), 2)
    in_sums = np.full_like(by_correlate, np.nan)
    with threads.always(way):
        in_registers.correlate_in_registers(*args, in_sums, *conv.laid_out(dtype), stride)
    np.testing.assert_array_equal(in_sums, by_correlate)


@given(
    geometry=conv_geometries(max_kernel=4, max_size=12, max_out=9, max_batch=9),
    pooled=st.booleans(),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=40, deadline=None)
@pytest.mark.parametrize("way", threads.WAYS)
def test_laying_out_as_it_goes_gives_batch_planes_then_correlate_bit_for_bit(
    geometry, pooled, dtype, seed, way
):
    """taps.correlate handed the images (batch_planes and correlate in one pass, each part
    laying out its own samples; stride 1) gives what it gives handed their planes: the outputs
    (pooled into argmax or not) and the same planes, bit for bit, on one core and in parts, an
    inf and a NaN among the inputs. The planes' blocks start as NaN, so a part's first sample
    that read the previous sample's zeros before the part laying it out wrote them (the
    kernel's docstring) would show it: the caller's part starts first, the helper's sample
    comes before it."""
    g = geometry
    k, padding = g["k"], g["padding"]
    problem = {**g, "stride": 1, "dtype": dtype, "layout": "contiguous", "seed": seed}
    x, weights, bias, _ = make_conv_problem(**problem)
    x[0, 0, 0, 0], x[-1, -1, -1, -1] = np.inf, np.nan
    out_h, out_w = (size + 2 * padding - k + 1 for size in g["hw"])
    if pooled and min(out_h, out_w) < 2:
        pooled = False
    shape = (g["n"], g["c_out"], *((out_h // 2, out_w // 2) if pooled else (out_h, out_w)))
    argmax = np.zeros(shape if pooled else (0, 0, 0, 0), np.uint8)
    grid, offsets = layout.forward_geometry(x.shape, k, 1, padding, out_h, out_w)
    flat_weights, bias = layout.whole_blocks(weights.reshape(g["c_out"], -1), bias)
    phase = np.array([(0, len(offsets), out_h, out_w, 0, 0, 1)], np.int64)
    planes = layout.batch_planes(x, 1, *grid)
    by_correlate, argmax_by_correlate = np.empty(shape, dtype), argmax.copy()
    args = (offsets, flat_weights, bias, grid.rows, grid.width)
    taps.correlate(
        planes, *args, by_correlate, phase, argmax_by_correlate, *conv.laid_out(dtype), 2
    )
    numba.set_num_threads(2)
    fresh = layout.empty_planes(g["c_in"], g["n"], *grid, dtype)
    body = g["n"] * grid.rows * grid.width
    for plane in range(g["c_in"]):
        fresh[plane * grid.length + grid.lead :][:body] = np.nan
    as_it_goes = np.full(shape, np.nan, dtype)
    images = (x.reshape(-1), x.shape, grid.lead)
    with threads.always(way):
        taps.correlate(fresh, *args, as_it_goes, phase, argmax, *images, 2)
    assert fresh.tobytes() == planes.tobytes()
    assert as_it_goes.tobytes() == by_correlate.tobytes()
    np.testing.assert_array_equal(argmax, argmax_by_correlate)


@given(
    geometry=conv_geometries(max_kernel=4, max_size=20, max_batch=9).filter(lambda g: g["k"] > 1),
    c_out=st.sampled_from([8, 16]),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=40, deadline=None)
@pytest.mark.parametrize("way", threads.WAYS)
def test_sums_in_registers_laying_out_as_they_go_give_batch_planes_then_the_loop_bit_for_bit(
    geometry, c_out, seed, way
):
    """correlate_in_registers handed the images (each part laying out its own samples just
    before their first chunk: stride 1, or stride 2 in pairs, its phase planes) gives what it
    gives handed their planes: the same outputs and the same planes, bit for bit, on one core
    and in parts, an inf and a NaN among the inputs. The planes' blocks start as NaN, so a
    part's first sample that read the previous sample's zeros before the part laying it out
    wrote them would show it."""
    g = {**geometry, "c_out": c_out}
    k, stride, padding = g["k"], g["stride"], g["padding"]
    problem = {**g, "dtype": np.float32, "layout": "contiguous", "seed": seed}
    x, weights, bias, _ = make_conv_problem(**problem)
    assume(stride == 1 or layout.in_pairs(x, stride))  # what conv.forward_pass hands it images for
    x[0, 0, 0, 0], x[-1, -1, -1, -1] = np.inf, np.nan
    out_h, out_w = ((size + 2 * padding - k) // stride + 1 for size in g["hw"])
    grid, offsets = layout.forward_geometry(x.shape, k, stride, padding, out_h, out_w)
    flat_weights, bias = layout.whole_blocks(weights.reshape(c_out, -1), bias)
    planes = layout.batch_planes(x, stride, *grid)
    args = (offsets, flat_weights, bias, grid.rows, grid.width)
    from_planes = np.empty((g["n"], c_out, out_h, out_w), np.float32)
    laid_out = conv.laid_out(np.float32)
    in_registers.correlate_in_registers(planes, *args, from_planes, *laid_out, stride)
    numba.set_num_threads(2)
    n_planes = g["c_in"] * stride * stride
    fresh = layout.empty_planes(n_planes, g["n"], *grid, np.float32)
    body = g["n"] * grid.rows * grid.width
    for plane in range(n_planes):
        fresh[plane * grid.length + grid.lead :][:body] = np.nan
    as_they_go = np.full_like(from_planes, np.nan)
    with threads.always(way):
        in_registers.correlate_in_registers(
            fresh, *args, as_they_go, x.reshape(-1), x.shape, grid.lead, stride
        )
    assert fresh.tobytes() == planes.tobytes()
    assert as_they_go.tobytes() == from_planes.tobytes()


def test_sums_in_registers_are_chosen_by_shape(monkeypatch):
    """float32, whole blocks of 8 output channels, 18 taps or more, a sample's outputs within a
    quarter of L2, on a machine whose registers hold a chunk's sums."""
    monkeypatch.setattr(in_registers, "CHUNKS_FIT", True)
    assert in_registers.chosen_for((64, 16, 32, 32), 4, 72)
    assert in_registers.chosen_for((1, 8, 1, 1), 4, 18)
    assert not in_registers.chosen_for((1, 8, 1, 1), 4, 9)  # a 3x3 kernel on one channel
    assert not in_registers.chosen_for((1, 8, 1, 1), 8, 72)
    assert not in_registers.chosen_for((64, 12, 32, 32), 4, 72)
    assert not in_registers.chosen_for((64, 4, 32, 32), 4, 72)
    assert not in_registers.chosen_for((32, 32, 128, 128), 4, 72)  # 2 MiB a sample
    assert in_registers.chosen_for((64, 16, 64, 64), 4, 75)  # 256 KiB
    assert not in_registers.chosen_for((32, 32, 64, 64), 4, 72)  # 512 KiB
    assert not in_registers.chosen_for((32, 16, 128, 128), 4, 72)  # 1 MiB
    monkeypatch.setattr(in_registers, "CHUNKS_FIT", False)
    assert not in_registers.chosen_for((64, 16, 32, 32), 4, 72)


@pytest.mark.skipif(
    not Path("/proc/cpuinfo").exists() or "NUMBA_CPU_FEATURES" in os.environ,
    reason="reads the host's CPU flags from Linux's /proc/cpuinfo",
)
def test_chunks_fit_where_the_cpu_has_avx512():
    """The register loop's sums fit where numba compiles for AVX-512: the CPU's own flags say
    whether it has it."""
    flags = next(
        line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")
    )
    assert layout.CHUNKS_FIT == ("avx512f" in flags.split())


@given(run=st.integers(1, 300).map(lambda vectors: vectors * layout.VECTOR))
@pytest.mark.parametrize("itemsize", [4, 8])
def test_accumulator_rows_start_apart_within_a_page(run, itemsize):
    """Every two of the CHANNELS accumulator rows start >= ROW_GAP_BYTES apart modulo 4 KiB
    (taps.py: closer rows made the forward pass up to 2.3x slower), and no shorter stride of
    whole vectors would do."""
    stride = layout.accumulator_stride(run, itemsize)
    assert stride >= run and stride % layout.VECTOR == 0

    def rows_apart(stride):
        starts = [r * stride * itemsize for r in range(layout.CHANNELS)]
        gaps = [(a - b) % layout.PAGE_BYTES for a in starts for b in starts if a != b]
        return min(gaps) >= layout.ROW_GAP_BYTES

    assert rows_apart(stride)
    assert not any(rows_apart(shorter) for shorter in range(run, stride, layout.VECTOR))


def planes_by_formula(a, stride, grid):
    """batch_planes' result built as its docstring says, with NumPy: zeros, then each phase
    (ya, xa) of channel c as plane (c*s + ya)*s + xa, pixel (n, y, x) at
    lead + n*rows*width + (y // s)*width + x // s; the last plane all zeros."""
    n_samples, channels, height, width = a.shape
    s = stride
    planes = np.zeros((channels * s * s + 1, grid.length), a.dtype)
    body = planes[:, grid.lead : grid.lead + n_samples * grid.rows * grid.width]
    body = body.reshape(-1, n_samples, grid.rows, grid.width)
    for c in range(channels):
        for ya in range(s):
            for xa in range(s):
                phase = a[:, c, ya::s, xa::s]
                body[(c * s + ya) * s + xa, :, : phase.shape[1], : phase.shape[2]] = phase
    return planes.reshape(-1)


@given(geometry=conv_geometries(max_size=12, max_batch=3), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=40, deadline=None)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("way", threads.WAYS)
def test_batch_planes_by_formula(geometry, seed, dtype, way):
    """The layout of every convolution, both ways (each kernel on threads and as its serial
    twin), against planes_by_formula: every number in place and every other one zero, even
    where the memory it gets held NaN before (its zeroing loops are written for speed:
    layout.zero says how). batch_planes takes stride 1 to its own kernel, and stride 2 in
    float32 with even widths to another (in_pairs); the general one, which has a branch of its
    own for stride 1, is held to the formula at every stride too."""
    n, c_in, (height, width) = geometry["n"], geometry["c_in"], geometry["hw"]
    k, stride, padding = geometry["k"], geometry["stride"], geometry["padding"]
    a = np.random.default_rng(seed).standard_normal((n, c_in, height, width)).astype(dtype)
    out_h, out_w = (height + 2 * padding - k) // stride + 1, (width + 2 * padding - k) // stride + 1
    grid, _ = layout.forward_geometry(a.shape, k, stride, padding, out_h, out_w)
    expected = planes_by_formula(a, stride, grid)
    poison = np.full(expected.size, np.nan)  # memory of the planes' size, full of NaN, freed
    del poison
    with threads.always(way):
        planes = layout.batch_planes(a, stride, *grid)
        general = layout.empty_planes(c_in * stride * stride, n, *grid, a.dtype)
        layout._phase_planes(a.reshape(-1), a.shape, stride, *grid, general)
    np.testing.assert_array_equal(planes, expected)
    np.testing.assert_array_equal(general, expected)


@pytest.mark.parametrize("way", threads.WAYS)
def test_pair_planes_keep_every_bit(way):
    """_pair_planes moves bits, not numbers: NaNs with payloads, infinities, negative zero and
    subnormals land in the planes bit for bit, as the general kernel puts them (stride 2,
    float32, even and odd heights, a width of 2 and of 6), and a float32 image that is not
    C-contiguous is laid out as its contiguous copy."""
    special = np.array([np.nan, -np.inf, np.inf, -0.0, 1e-45, -3e-39, 1.0, 2.5], np.float32).view(
        np.uint32
    )
    special[0] |= 0x12345  # a NaN with a payload
    for shape in [(2, 3, 5, 6), (3, 2, 4, 2)]:
        count = int(np.prod(shape))
        a = np.resize(special, count).view(np.float32).reshape(shape)
        assert layout.in_pairs(a, 2)
        grid, _ = layout.forward_geometry(shape, 3, 2, 1, (shape[2] + 1) // 2, shape[3] // 2)
        with threads.always(way):
            planes = layout.batch_planes(a, 2, *grid)
            general = layout.empty_planes(shape[1] * 4, shape[0], *grid, a.dtype)
            layout._phase_planes(a.reshape(-1), a.shape, 2, *grid, general)
            strided = layout.batch_planes(np.asfortranarray(a), 2, *grid)
        np.testing.assert_array_equal(planes.view(np.uint32), general.view(np.uint32))
        np.testing.assert_array_equal(strided.view(np.uint32), general.view(np.uint32))
    assert not layout.in_pairs(np.zeros((1, 1, 4, 5), np.float32), 2)
    assert not layout.in_pairs(np.zeros((1, 1, 4, 4), np.float64), 2)
    assert not layout.in_pairs(np.zeros((1, 1, 4, 4), np.float32), 3)


def test_conv_forward_by_hand():
    """A 3x3 image, a 2x2 kernel, no flip: every output is a sum we can check with a pencil."""
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # 1 2 3 / 4 5 6 / 7 8 9
    weights = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])  # top-left minus bottom-right
    bias = np.array([0.5])
    out = conv.conv2d_forward(x, weights, bias, 1, 0)
    np.testing.assert_array_equal(out, [[[[1 - 5 + 0.5, 2 - 6 + 0.5], [4 - 8 + 0.5, 5 - 9 + 0.5]]]])
    # Padding 1, stride 2: windows at padded (0, 0), (0, 2), (2, 0), (2, 2); only the last
    # has an image pixel, not a padding zero, at its top-left.
    padded = conv.conv2d_forward(x, weights, bias, 2, 1)
    np.testing.assert_array_equal(padded, [[[[-1 + 0.5, -3 + 0.5], [-7 + 0.5, 5 - 9 + 0.5]]]])


def test_conv_nan_propagates():
    """A NaN in the input reaches exactly the outputs whose windows cover it, and the gradients."""
    x = np.zeros((1, 2, 6, 6), np.float32)
    x[0, 1, 2, 3] = np.nan
    weights = np.ones((5, 2, 3, 3), np.float32)
    out = conv.conv2d_forward(x, weights, np.zeros(5, np.float32), 1, 1)
    covered = np.zeros(out.shape, bool)
    covered[:, :, 1:4, 2:5] = True
    np.testing.assert_array_equal(np.isnan(out), covered)
    dweights, dbias = conv.conv2d_backward_params(x, np.ones_like(out), 3, 1, 1)
    assert np.isnan(dweights[:, 1]).all() and not np.isnan(dweights[:, 0]).any()
    assert not np.isnan(dbias).any()
    dx = conv.conv2d_backward_input(np.full_like(out, np.nan), weights, x.shape, 1, 1)
    assert np.isnan(dx).all()


NON_FINITE = {
    "inf": [np.inf],
    "-inf": [-np.inf],
    "nan": [np.nan],
    "mixed": [np.inf, -np.inf, np.nan],
}


def plant(rng, a, kind, share):
    """A copy of a with about `share` of its entries (at least one) set to the values of kind."""
    a = a.copy()
    where = rng.random(a.shape) < share
    where.flat[rng.integers(a.size)] = True
    a[where] = rng.choice(NON_FINITE[kind], size=int(where.sum()))
    return a


@given(
    conv_geometries(max_kernel=6, max_in=5, max_out=5),
    st.sampled_from(list(NON_FINITE)),
    st.sampled_from([0.0, 0.05, 0.3]),
    st.sampled_from(DTYPES),
    st.integers(0, 2**32 - 1),
)
@np.errstate(invalid="ignore")
def test_conv_keeps_inf_and_nan(geometry, kind, share, dtype, seed):
    """inf stays inf and NaN stays NaN, in the outputs and gradients the reference makes them, for
    every kernel size and channel count (C*k*k a multiple of the tap block or not): no padding
    tap or thrown-away output multiplies a planted inf by 0."""
    rng = np.random.default_rng(seed)
    g = geometry
    x, weights, bias, dout = make_conv_problem(
        g["n"],
        g["c_in"],
        g["c_out"],
        g["hw"],
        g["k"],
        g["stride"],
        g["padding"],
        dtype,
        "contiguous",
        seed,
    )
    s, p, k = g["stride"], g["padding"], g["k"]
    x = plant(rng, x, kind, share)
    tol = tolerance(dtype)
    np.testing.assert_allclose(
        conv.conv2d_forward(x, weights, bias, s, p),
        reference.conv2d_forward(x, weights, bias, s, p),
        **tol,
    )
    for dw, expected in zip(
        conv.conv2d_backward_params(x, dout, k, s, p),
        reference.conv2d_backward_params(x, dout, k, s, p),
        strict=True,
    ):
        np.testing.assert_allclose(dw, expected, **tol)
    dout = plant(rng, dout, kind, share)
    np.testing.assert_allclose(
        conv.conv2d_backward_input(dout, weights, x.shape, s, p),
        reference.conv2d_backward_input(dout, weights, x.shape, s, p),
        **tol,
    )
    for dw, expected in zip(
        conv.conv2d_backward_params(x, dout, k, s, p),
        reference.conv2d_backward_params(x, dout, k, s, p),
        strict=True,
    ):
        np.testing.assert_allclose(dw, expected, **tol)


@given(
    st.sampled_from(list(NON_FINITE)),
    st.sampled_from(DTYPES),
    st.integers(0, 2**32 - 1),
    st.integers(1, 3),
    st.integers(1, 3),
)
@np.errstate(invalid="ignore")
def test_pool_and_relu_keep_inf_and_nan(kind, dtype, seed, k, stride):
    rng = np.random.default_rng(seed)
    x = plant(rng, rng.standard_normal((2, 3, 7, 8)).astype(dtype), kind, 0.2)
    out, argmax = pool.maxpool2d_forward(x, k, stride)
    expected_out, expected_argmax = reference.maxpool2d_forward(x, k, stride)
    np.testing.assert_array_equal(out, expected_out)
    np.testing.assert_array_equal(argmax, expected_argmax)
    dout = plant(rng, rng.standard_normal(out.shape).astype(dtype), kind, 0.2)
    np.testing.assert_array_equal(
        pool.maxpool2d_backward(dout, argmax, x.shape, k, stride),
        reference.maxpool2d_backward(dout, argmax, x.shape, k, stride),
    )
    relu_out = activation.relu_forward(x)
    np.testing.assert_array_equal(relu_out, reference.relu_forward(x))
    dout = plant(rng, rng.standard_normal(x.shape).astype(dtype), kind, 0.2)
    np.testing.assert_array_equal(
        activation.relu_backward(dout, relu_out), reference.relu_backward(dout, relu_out)
    )


@st.composite
def pool_cases(draw):
    """Small planes with many ties (values from {0, 1, 2}, like activations after a ReLU)."""
    k = draw(st.integers(1, 4))
    return {
        "shape": (
            draw(st.integers(1, 2)),
            draw(st.integers(1, 3)),
            draw(st.integers(k, 10)),
            draw(st.integers(k, 10)),
        ),
        "k": k,
        "stride": draw(st.integers(1, 4)),  # stride < k: overlapping windows
        "dtype": draw(st.sampled_from(DTYPES)),
        "layout": draw(st.sampled_from(["contiguous", "transposed", "strided"])),
        "seed": draw(st.integers(0, 2**32 - 1)),
        "values": draw(st.sampled_from(["ties", "zeros", "nans", "normal"])),
    }


def make_pool_input(shape, dtype, layout, seed, values):
    rng = np.random.default_rng(seed)
    x = strided_view(rng, shape, dtype, layout)
    if values == "ties":
        x[...] = rng.integers(0, 3, shape)
    elif values == "zeros":
        x[...] = 0
    elif values == "nans":  # NaN wins its window, the first one if several
        x[...] = np.where(rng.random(shape) < 0.2, np.nan, rng.integers(0, 3, shape))
    return x


@given(pool_cases())
def test_maxpool_matches_reference(case):
    x = make_pool_input(case["shape"], case["dtype"], case["layout"], case["seed"], case["values"])
    k, s = case["k"], case["stride"]
    before = x.copy()
    out, argmax = pool.maxpool2d_forward(x, k, s)
    expected_out, expected_argmax = reference.maxpool2d_forward(x, k, s)
    assert out.dtype == x.dtype
    np.testing.assert_array_equal(out, expected_out)
    np.testing.assert_array_equal(argmax, expected_argmax)

    dout = strided_view(np.random.default_rng(case["seed"] + 1), out.shape, x.dtype, case["layout"])
    dx = pool.maxpool2d_backward(dout, argmax, x.shape, k, s)
    assert dx.dtype == x.dtype
    expected_dx = reference.maxpool2d_backward(dout, argmax, x.shape, k, s)
    np.testing.assert_allclose(dx, expected_dx, **tolerance(x.dtype))
    np.testing.assert_array_equal(x, before)


# Every code path of the max-pool (k, s, H, W): k = s = 2 (its own loop, even and odd sizes) and
# the general scan.
POOL_KINDS = {
    "2x2 even": (2, 2, 8, 6),
    "2x2 odd": (2, 2, 7, 9),
    "3x3 stride 2": (3, 2, 9, 8),
    "2x2 stride 1": (2, 1, 5, 6),
    # rows of 2 * VECTOR + 5 windows: whole vectors in pool_rows_2x2's vectorized loop, the rest
    # in its branch-free one (short rows take the second alone)
    "2x2 long rows": (2, 2, 4, 2 * (2 * layout.VECTOR + 5)),
    "3x3 stride 2 long rows": (3, 2, 5, 2 * (2 * layout.VECTOR + 5) + 1),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("values", ["ties", "nans", "normal"])
@pytest.mark.parametrize("kind", POOL_KINDS.values(), ids=POOL_KINDS.keys())
def test_maxpool_kinds(kind, values, dtype):
    k, s, h, w = kind
    x = make_pool_input((2, 3, h, w), dtype, "contiguous", 0, values)
    out, argmax = pool.maxpool2d_forward(x, k, s)
    expected_out, expected_argmax = reference.maxpool2d_forward(x, k, s)
    np.testing.assert_array_equal(out, expected_out)
    np.testing.assert_array_equal(argmax, expected_argmax)
    dout = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
    expected_dx = reference.maxpool2d_backward(dout, argmax, x.shape, k, s)
    dx = pool.maxpool2d_backward(dout, argmax, x.shape, k, s)
    np.testing.assert_allclose(dx, expected_dx, **tolerance(dtype))


@pytest.mark.parametrize("lowest", [False, True], ids=["maximum", "minimum"])
def test_both_loops_of_a_2x2_row_find_the_first_extreme(lowest):
    """pool_rows_2x2 sends a row's whole vectors (from 2 x VECTOR windows up) through one loop
    and the rest through another: for every row length up to 5 vectors, with ties, infinities,
    signed zeros and NaNs, both give the lecture's first maximum (or minimum, batchnorm_pool's
    for a negative scale: the first maximum of -x) and its place, bit for bit."""
    rng = np.random.default_rng(0)
    values = np.array([0.0, -0.0, 1.0, -1.0, 2.5, np.inf, -np.inf, np.nan], np.float32)
    for n_out in range(1, 5 * layout.VECTOR + 2):
        rows = rng.choice(
            values, size=(2, 2 * n_out), p=[0.2, 0.1, 0.2, 0.2, 0.1, 0.07, 0.07, 0.06]
        )
        out, places = np.empty(n_out, np.float32), np.empty(n_out, np.uint8)
        pool.pool_rows_2x2(rows[0], rows[1], out, places, lowest)
        sign = -1 if lowest else 1
        expected, expected_places = reference.maxpool2d_forward(sign * rows[None, None], 2, 2)
        np.testing.assert_array_equal(out.view(np.int32), (sign * expected[0, 0, 0]).view(np.int32))
        np.testing.assert_array_equal(places, expected_places[0, 0, 0])


def test_maxpool_first_maximum_and_overlap():
    """All-zero windows pick their top-left pixel; overlapping windows add their gradients.
    argmax is the place in the window, di * k + dj."""
    x = np.zeros((1, 1, 3, 3))
    out, argmax = pool.maxpool2d_forward(x, 2, 1)
    np.testing.assert_array_equal(argmax, [[[[0, 0], [0, 0]]]])
    x[0, 0, 1, 1] = 1.0  # the centre is in all four windows, at a different place in each
    out, argmax = pool.maxpool2d_forward(x, 2, 1)
    np.testing.assert_array_equal(argmax, [[[[3, 2], [1, 0]]]])
    dx = pool.maxpool2d_backward(np.ones_like(out), argmax, x.shape, 2, 1)
    np.testing.assert_array_equal(dx[0, 0], [[0, 0, 0], [0, 4, 0], [0, 0, 0]])


@pytest.mark.parametrize(
    "k, dtype", [(1, np.uint8), (2, np.uint8), (16, np.uint8), (17, np.uint16)]
)
def test_maxpool_argmax_takes_the_smallest_unsigned_dtype(k, dtype):
    """One byte per output up to 16x16 windows (places 0..255); two beyond, where the last place
    of a 17x17 window, 288, must not wrap around."""
    x = np.zeros((1, 2, k + 1, k), np.float32)
    x[0, 1, k, k - 1] = 1.0  # the last place of the second window down (stride 1)
    out, argmax = pool.maxpool2d_forward(x, k, 1)
    assert argmax.dtype == dtype == reference.maxpool2d_forward(x, k, 1)[1].dtype
    np.testing.assert_array_equal(argmax[0, 1, :, 0], [0, k * k - 1])
    dout = np.ones_like(out)
    dx = pool.maxpool2d_backward(dout, argmax, x.shape, k, 1)
    np.testing.assert_array_equal(dx, reference.maxpool2d_backward(dout, argmax, x.shape, k, 1))
    assert dx[0, 1, k, k - 1] == 1


@given(
    shape=st.lists(st.integers(1, 6), min_size=1, max_size=4),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_relu_matches_reference(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[::3] = 0.0  # the kink itself: 0 is not positive, its gradient is 0
    dout = rng.standard_normal(shape).astype(dtype)
    out = activation.relu_forward(x)
    np.testing.assert_array_equal(out, reference.relu_forward(x))
    np.testing.assert_array_equal(
        activation.relu_backward(dout, out),
        reference.relu_backward(dout, reference.relu_forward(x)),
    )
    assert out.dtype == dtype


def test_relu_keeps_nan_and_inf():
    x = np.array([-np.inf, -1.0, -0.0, 0.0, 2.0, np.inf, np.nan], dtype=np.float32)
    out = activation.relu_forward(x)
    np.testing.assert_array_equal(out, [0, 0, 0, 0, 2, np.inf, np.nan])
    np.testing.assert_array_equal(
        activation.relu_backward(np.ones_like(x), out), [0, 0, 0, 0, 1, 1, 0]
    )


# The public kernels check their arguments by name (kernels/arguments.py): numba does not check
# bounds, so a mismatch would read or write past an array's end, or crash the process.
X = np.random.default_rng(0).standard_normal((2, 3, 7, 7)).astype(np.float32)
W = np.random.default_rng(1).standard_normal((5, 3, 3, 3)).astype(np.float32)
B = np.zeros(5, np.float32)
D = np.ones((2, 5, 7, 7), np.float32)
POOLED, PLACES = pool.maxpool2d_forward(np.ascontiguousarray(X[:, :, :6, :6]), 2, 2)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: conv.conv2d_forward(X, W[:, :2], B, 1, 1), ValueError, "weights take 2 input"),
        (lambda: conv.conv2d_forward(X, W, B, 0, 1), ValueError, "stride must be a positive"),
        (lambda: conv.conv2d_forward(X, W, B, -1, 1), ValueError, "stride must be a positive"),
        (lambda: conv.conv2d_forward(X, W, B[:4], 1, 1), ValueError, "bias must have the shape"),
        (lambda: conv.conv2d_forward(X.astype(np.float16), W, B, 1, 1), TypeError, "x must be"),
        (lambda: conv.conv2d_forward(X, W, B, 1, -1), ValueError, "padding must be a non-neg"),
        (
            lambda: conv.conv2d_forward(X[:, :, :2, :2], W, B, 1, 0),
            ValueError,
            "kernel .* is larger",
        ),
        (
            lambda: conv.conv2d_backward_input(D[:, :4], W, X.shape, 1, 1),
            ValueError,
            r"dout must have the shape of the convolution's output .*: \(2, 5, 7, 7\)",
        ),
        (lambda: conv.conv2d_backward_input(D, W, (2, 3, 7), 1, 1), TypeError, "input_shape"),
        (lambda: conv.conv2d_backward(X, D[:, :, :5], W, 1, 1), ValueError, "dout must have"),
        (lambda: conv.conv2d_backward_params(X, D, 0, 1, 1), ValueError, "kernel_size must be"),
        (lambda: pool.maxpool2d_forward(X, 0, 1), ValueError, "kernel_size must be a positive"),
        (lambda: pool.maxpool2d_forward(X, 8, 1), ValueError, "kernel_size 8 is larger"),
        (  # the places of a 3x3 pooling read as a 2x2 one's: this crashed the process
            lambda: pool.maxpool2d_backward(
                np.ones((2, 3, 3, 3), np.float32),
                pool.maxpool2d_forward(X, 3, 2)[1],
                X.shape,
                2,
                2,
            ),
            ValueError,
            r"argmax must hold places in a 2x2 window \(0..3\), found 0..8: was it pooled",
        ),
        (
            lambda: pool.maxpool2d_backward(np.ones_like(POOLED), PLACES * 3, (2, 3, 6, 6), 2, 2),
            ValueError,
            r"argmax must hold places in a 2x2 window \(0..3\), found 0..9",
        ),
        (
            lambda: pool.maxpool2d_backward(np.ones_like(POOLED), PLACES, (2, 3, 5, 5), 2, 2),
            ValueError,
            r"dout must have the shape of the output .*: \(2, 3, 2, 2\)",
        ),
        (lambda: activation.relu_backward(X, X[:1]), ValueError, "dout must have the shape"),
        (
            lambda: batchnorm.batchnorm_forward(X, np.ones(2), np.zeros(3), 1e-5),
            ValueError,
            r"gamma must have the shape of the channels of x: \(3,\)",
        ),
        (lambda: batchnorm.batchnorm_forward(X, np.ones(3), np.zeros(3), 0), ValueError, "eps"),
    ],
)
def test_public_kernels_refuse_mismatched_arguments_by_name(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_public_kernels_read_any_memory_order_and_an_empty_batch():
    """A Fortran-order or transposed input gives the answer of its C-order copy (the output
    used to be uninitialised memory), and N = 0 gives empty results."""
    fortran = np.asfortranarray(X)
    np.testing.assert_array_equal(activation.relu_forward(fortran), np.maximum(X, 0))
    gamma, beta = np.ones(3, np.float32), np.zeros(3, np.float32)
    for got, want in zip(
        batchnorm.batchnorm_forward(fortran, gamma, beta, 1e-5),
        batchnorm.batchnorm_forward(X, gamma, beta, 1e-5),
        strict=True,
    ):
        np.testing.assert_array_equal(got, want)
    empty = X[:0]
    assert conv.conv2d_forward(empty, W, B, 1, 1).shape == (0, 5, 7, 7)
    dx, dw, db = conv.conv2d_backward(empty, D[:0], W, 1, 1)
    assert dx.shape == empty.shape and not dw.any() and not db.any() and dw.shape == W.shape
    assert conv.conv2d_backward_input(D[:0], W, empty.shape, 1, 1).shape == empty.shape


def test_no_bias_means_zeros_in_every_rung():
    """bias=None (as in PyTorch's conv2d) is a bias of zeros: the numba kernel, the lecture's
    loops and im2col agree (the kernel used to fail inside numba)."""
    expected = reference.conv2d_forward(X, W, B, 2, 1)
    np.testing.assert_array_equal(reference.conv2d_forward(X, W, None, 2, 1), expected)
    tol = tolerance(X.dtype)
    np.testing.assert_allclose(conv.conv2d_forward(X, W, None, 2, 1), expected, **tol)
    np.testing.assert_allclose(im2col.conv2d_forward(X, W, None, 2, 1)[0], expected, rtol=1e-5)


OUT, PLANES = conv.conv2d_forward(X, W, B, 1, 1, keep_planes=True)


@pytest.mark.parametrize(
    "planes, error",
    [
        ("abc", TypeError),
        (True, TypeError),
        (0, TypeError),
        (1.5, TypeError),
        ([1], TypeError),
        (PLANES[:-1], ValueError),  # one number short: numba would read past the end
        (PLANES.astype(np.float64), TypeError),  # another dtype than x's
        (PLANES.astype(np.int32), TypeError),
        (PLANES.astype(bool), TypeError),
        (np.zeros((2, PLANES.size // 2), np.float32), ValueError),
        (np.zeros(3, np.float32), ValueError),
        (conv.conv2d_forward(X, W, B, 2, 1, keep_planes=True)[1], ValueError),  # another stride
    ],
)
def test_planes_are_what_the_forward_kept_or_refused_by_name(planes, error):
    """conv2d_backward(_params) read x's planes without bounds checks: anything but None or
    the planes keep_planes=True returned for this x is refused by name (it was a numba typing
    error, or a silent read of whatever lay there)."""
    for x in (X, X.shape):
        with pytest.raises(error, match="planes must be"):
            conv.conv2d_backward(x, np.ones_like(OUT), W, 1, 1, planes)
        with pytest.raises(error, match="planes must be"):
            conv.conv2d_backward_params(x, np.ones_like(OUT), 3, 1, 1, planes)


def test_a_1x1_convolution_keeps_no_planes_and_takes_none():
    w = np.ones((2, 3, 1, 1), np.float32)
    out, planes = conv.conv2d_forward(X, w, None, 1, 0, keep_planes=True)
    assert planes is None
    with pytest.raises(ValueError, match="planes must be None here"):
        conv.conv2d_backward(X.shape, np.ones_like(out), w, 1, 0, PLANES)


@pytest.mark.parametrize("value", ["abc", float("nan"), -1, [1], 1.5, 1, None])
def test_input_grad_and_keep_planes_must_be_true_or_false(value):
    """A string such as "no" used to count as True, as the layers already refuse."""
    with pytest.raises(TypeError, match="input_grad must be True or False"):
        conv.conv2d_backward(X, D, W, 1, 1, input_grad=value)
    with pytest.raises(TypeError, match="keep_planes must be True or False"):
        conv.conv2d_forward(X, W, B, 1, 1, keep_planes=value)


def test_huge_arguments_are_refused_by_name_before_anything_is_allocated(monkeypatch):
    """The padded images and the output are counted first: a padding of 10**4 allocated
    11.9 GiB and then raised numpy's MemoryError; 10**9 and 2**63 gave numpy's messages."""
    for padding in (10**9, 2**63):
        for call in (conv.conv2d_forward, reference.conv2d_forward, im2col.conv2d_forward):
            with pytest.raises(ValueError, match=f"padding={padding} .* machine's memory"):
                call(X, W, B, 1, padding)
        with pytest.raises(ValueError, match=f"padding={padding} .* machine's memory"):
            conv.conv2d_backward_params(X, D[:, :, :1, :1], 3, 2**70, padding)
        with pytest.raises(ValueError, match=f"padding={padding} .* machine's memory"):
            im2col.im2col(X, 3, 2**70, padding)
    # A small dout can stand for a huge input_shape (a stride past the image): dx is counted.
    huge = (1, 3, 10**6, 10**6)
    with pytest.raises(ValueError, match=r"input_shape=\(1, 3, 1000000, 1000000\)"):
        conv.conv2d_backward_input(D[:1, :, :1, :1], W, huge, 10**6, 0)
    with pytest.raises(ValueError, match=r"input_shape=\(1, 3, 1000000, 1000000\)"):
        pool.maxpool2d_backward(D[:1, :3, :1, :1], PLACES[:1, :, :1, :1], huge, 2, 10**6)
    # The bound is the machine's memory: with 100 MB, padding 1000 (260 MB) is refused too.
    monkeypatch.setattr(arguments, "memory_bytes", lambda: 10**8)
    with pytest.raises(ValueError, match=r"padding=1000 .* \(0.1 GB\)"):
        conv.conv2d_forward(X, W, B, 1, 1000)


def test_a_stride_beyond_int64_pools_as_a_stride_past_the_image():
    """numba takes no integer beyond int64: a stride of 2**63 was an OverflowError."""
    for stride in (2**31, 2**63, 10**30):
        out, argmax = pool.maxpool2d_forward(X, 2, stride)
        expected_out, expected_argmax = reference.maxpool2d_forward(X, 2, stride)
        np.testing.assert_array_equal(out, expected_out)
        np.testing.assert_array_equal(argmax, expected_argmax)
        dx = pool.maxpool2d_backward(np.ones_like(out), argmax, X.shape, 2, stride)
        np.testing.assert_array_equal(
            dx, reference.maxpool2d_backward(np.ones_like(out), argmax, X.shape, 2, stride)
        )


def test_relu_keeps_a_0d_array_0d():
    for x in (np.array(-1.5), np.array(2.0, np.float32)):
        out = activation.relu_forward(x)
        assert out.shape == () and out.dtype == x.dtype
        assert out == reference.relu_forward(x)
        assert activation.relu_backward(np.ones_like(x), out).shape == ()


@pytest.mark.parametrize(
    "arguments_, error, message",
    [
        (((2, 3, 8, 8), 3, 1.5, 1), TypeError, "stride must be a positive integer"),
        (((2, 3, 8, 8), 3, "abc", 1), TypeError, "stride must be a positive integer"),
        (((2, 3, 8, 8), 3, 0, 1), ValueError, "stride must be a positive integer"),
        (((2, 3, 8, 8), 3, 2, -1), ValueError, "padding must be"),
        (((2, 3, 8, 8), 20, 2, 0), ValueError, "kernel .* is larger"),
        (((2, 3, 8), 3, 2, 0), TypeError, "input_shape must be a batch's shape"),
        ((None, 3, 2, 0), TypeError, "input_shape must be a batch's shape"),
    ],
)
def test_useful_stride_checks_its_arguments(arguments_, error, message):
    with pytest.raises(error, match=message):
        conv.useful_stride(*arguments_)


def test_useful_stride():
    assert conv.useful_stride((2, 3, 8, 8), 3, 2, 1) == 2
    assert conv.useful_stride((2, 3, 8, 8), 3, 2**63, 1) == 8


X64, D64 = X.astype(np.float64), D.astype(np.float64)
MIXED_DTYPES = [
    ("conv2d_forward", (X, W.astype(np.float64), B, 1, 1), "weights must have the dtype of x"),
    ("conv2d_forward", (X, W, B.astype(np.float64), 1, 1), "bias must have the dtype of x"),
    ("conv2d_backward_input", (D64, W, X.shape, 1, 1), "weights must have the dtype of dout"),
    ("conv2d_backward_params", (X, D64, 3, 1, 1), "dout must have the dtype of x"),
    ("relu_backward", (X64, X), "dout must have the dtype of out"),
]


@pytest.mark.parametrize("name, args, message", MIXED_DTYPES)
def test_one_dtype_per_call(name, args, message):
    """A mix of float32 and float64 is refused by name, by the kernel and its twin alike (numba
    compiled the kernel again for each mix, for seconds; PyTorch refuses a mix too)."""
    kernel = getattr(activation if name.startswith("relu") else conv, name)
    for function in (kernel, getattr(reference, name)):
        with pytest.raises(TypeError, match=f"{message}.*astype"):
            function(*args)
    with pytest.raises(TypeError, match="dout must have the dtype of x, float32"):
        conv.conv2d_backward(X, D64, W, 1, 1)
    with pytest.raises(TypeError, match="dout must have the dtype of x, float32"):
        batchnorm.batchnorm_backward(X, X64, np.zeros(3), np.ones(3), np.ones(3))


# Hostile arguments: each replaces one argument of a valid call.
HOSTILE = [
    None,
    "abc",
    [1],
    True,
    0,
    -1,
    1.5,
    float("nan"),
    float("inf"),
    1 + 2j,
    10**9,
    2**63,
    np.int64(2),
    np.array(1.0),
    (2, 3, 7),
    (2, 3, 7, 7.5),
    X.tolist(),
    X.astype(np.complex64),
    X.astype(bool),
    X.astype(object),
    X.astype(np.float16),
    X64,
    X[0],
    X[:, :2],
    X[:, :, ::2],
    W[:, :, :2],
    B[:4],
    np.zeros(6, np.float32),
    B.astype(np.int32),
    np.full(3, np.nan),
]
COLUMNS = im2col.im2col(X, 3, 1, 1)
BATCH_MEAN, BATCH_INV_STD = np.zeros(3), np.ones(3)
GAMMA, BETA = np.ones(3, np.float32), np.zeros(3, np.float32)
# (numba kernel, its twin, a valid call's arguments): the twin must accept and refuse what the
# kernel does, with the same message.
TWINS = [
    (conv.conv2d_forward, reference.conv2d_forward, (X, W, B, 1, 1)),
    (conv.conv2d_forward, lambda *a: im2col.conv2d_forward(*a)[0], (X, W, B, 1, 1)),
    (conv.conv2d_backward_input, reference.conv2d_backward_input, (D, W, X.shape, 1, 1)),
    (conv.conv2d_backward_params, reference.conv2d_backward_params, (X, D, 3, 1, 1)),
    (pool.maxpool2d_forward, reference.maxpool2d_forward, (X, 2, 2)),
    (
        pool.maxpool2d_backward,
        reference.maxpool2d_backward,
        (np.ones_like(POOLED), PLACES, (2, 3, 6, 6), 2, 2),
    ),
    (activation.relu_forward, reference.relu_forward, (X,)),
    (activation.relu_backward, reference.relu_backward, (X, X)),
    (
        batchnorm.batchnorm_forward,
        batchnorm.reference_batchnorm_forward,
        (X, GAMMA, BETA, 1e-5),
    ),
    (
        batchnorm.batchnorm_backward,
        batchnorm.reference_batchnorm_backward,
        (X, X, BATCH_MEAN, BATCH_INV_STD, GAMMA),
    ),
    (
        batchnorm.batchnorm_forward,
        batchnorm.reference_batchnorm_forward,
        (X, GAMMA, BETA, 1e-5, True),
    ),
    (
        batchnorm.batchnorm_backward,
        batchnorm.reference_batchnorm_backward,
        (X, X, BATCH_MEAN, BATCH_INV_STD, GAMMA, True, BETA),
    ),
    (
        batchnorm_pool.batchnorm_relu_maxpool_forward,
        batchnorm_pool.reference_batchnorm_relu_maxpool_forward,
        (X, GAMMA, BETA, 1e-5, 2, 2),
    ),
    (
        batchnorm_pool.batchnorm_relu_maxpool_inference,
        batchnorm_pool.reference_batchnorm_relu_maxpool_inference,
        (X, GAMMA, BETA, BATCH_MEAN, BATCH_INV_STD, 2, 2),
    ),
    (
        batchnorm_pool.batchnorm_relu_maxpool_backward,
        batchnorm_pool.reference_batchnorm_relu_maxpool_backward,
        (X, np.ones_like(POOLED), PLACES, BATCH_MEAN, BATCH_INV_STD, GAMMA, BETA, 2, 2, True),
    ),
]
# The plain functions without a numba twin: a result or a TypeError/ValueError, nothing else.
PLAIN = [
    (reference.output_size, (7, 3, 1, 1)),
    (reference.pad_spatial, (X, 1)),
    (im2col.im2col_indices, (X.shape, 3, 1, 1)),
    (im2col.im2col, (X, 3, 1, 1)),
    (im2col.col2im, (COLUMNS, X.shape, 3, 1, 1)),
    (im2col.conv2d_backward, (D, COLUMNS, X.shape, W, 1, 1)),
]


@pytest.mark.parametrize(
    "function, args, array_checks",
    [
        (im2col.im2col, (X, 3, 1, 1), 1),
        (im2col.col2im, (COLUMNS, X.shape, 3, 1, 1), 1),
        (im2col.conv2d_forward, (X, W, B, 1, 1), 3),
        (im2col.conv2d_backward, (D, COLUMNS, X.shape, W, 1, 1), 3),
        (conv.conv2d_forward, (X, W, B, 1, 1), 3),
        (conv.conv2d_backward_input, (D, W, X.shape, 1, 1), 2),
        (conv.conv2d_backward_params, (X, D, 3, 1, 1), 2),
    ],
)
def test_a_kernel_checks_each_array_once(monkeypatch, function, args, array_checks):
    """One argument check at the top of each public function (im2col's work below it calls no
    public function, which would check the same arrays again)."""
    calls = []
    float_array = arguments.float_array

    def counted(*a, **k):
        calls.append(a[1])
        return float_array(*a, **k)

    monkeypatch.setattr(arguments, "float_array", counted)
    function(*args)
    assert len(calls) == array_checks, calls
    assert len(set(calls)) == len(calls), calls


def outcome(function, args):
    """(the results as a list of arrays, None), or (None, the TypeError or ValueError); any
    other exception fails the test."""
    try:
        result = function(*args)
    except (TypeError, ValueError) as error:
        return None, error
    return [np.asarray(a) for a in (result if isinstance(result, tuple) else (result,))], None


@given(st.sampled_from(TWINS), st.data())
@settings(deadline=None)
def test_a_twin_refuses_what_its_kernel_refuses_in_the_same_words(twins, data):
    kernel, twin, valid = twins
    where = data.draw(st.integers(0, len(valid) - 1), label="argument")
    hostile = data.draw(st.sampled_from(HOSTILE), label="value")
    args = (*valid[:where], hostile, *valid[where + 1 :])
    got, refused = outcome(kernel, args)
    expected, twin_refused = outcome(twin, args)
    assert type(refused) is type(twin_refused)
    if refused is not None:
        assert str(refused) == str(twin_refused)
        assert list(inspect.signature(kernel).parameters)[where] in str(refused)
    else:
        for got_array, expected_array in zip(got, expected, strict=True):
            np.testing.assert_allclose(got_array, expected_array, rtol=1e-4, atol=1e-4)


@given(st.sampled_from(PLAIN), st.data())
@settings(deadline=None)
def test_the_plain_rungs_refuse_hostile_arguments_by_name(plain, data):
    function, valid = plain
    where = data.draw(st.integers(0, len(valid) - 1), label="argument")
    hostile = data.draw(st.sampled_from(HOSTILE), label="value")
    _, refused = outcome(function, (*valid[:where], hostile, *valid[where + 1 :]))
    if refused is not None:
        assert list(inspect.signature(function).parameters)[where] in str(refused)
