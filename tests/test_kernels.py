"""The numba kernels (conv.py, pool.py) against the lecture's loops (reference.py)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinycnn.kernels import activation, batchnorm, conv, im2col, layout, pool, reference

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
        (lambda: conv.conv2d_forward(X[:, :, :2, :2], W, B, 1, 0), ValueError, "kernel is larger"),
        (
            lambda: conv.conv2d_backward_input(D[:, :4], W, X.shape, 1, 1),
            ValueError,
            r"dout must have the shape of the convolution's output, \(2, 5, 7, 7\)",
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
            r"dout must have the shape of the output, \(2, 3, 2, 2\)",
        ),
        (lambda: activation.relu_backward(X, X[:1]), ValueError, "dout must have the shape"),
        (
            lambda: batchnorm.batchnorm_forward(X, np.ones(2), np.zeros(3), 1e-5),
            ValueError,
            r"gamma must have the shape of the channels, \(3,\)",
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
