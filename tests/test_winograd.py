"""Winograd's F(2x2, 3x3) and F(4x4, 3x3) convolutions (kernels/winograd.py, winograd_f4.py):
equal to the lecture's loops to rounding, each backward the exact transpose of its forward,
central differences through Conv2D, and the same results on one thread or two."""

import math

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinycnn as tc
from tinycnn.gradcheck import check_gradients
from tinycnn.kernels import reference, threads, winograd, winograd_products

TOLERANCE = {np.float32: 2e-5, np.float64: 1e-12}  # relative to the largest |value|
_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])  # the docstring's G
_G_F4 = np.array(  # winograd_f4's docstring's G
    [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
     [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]
)  # fmt: skip


@st.composite
def problems(draw, dtype):
    """(x, weights, bias): N 1-3, C_in and C_out 1-5, H and W even, 2 to 16 (F(4x4, 3x3) where
    both are multiples of 4 and the map has at least 64 pixels, F(2x2, 3x3) elsewhere)."""
    n = draw(st.integers(1, 3))
    channels, n_out = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    height, width = 2 * draw(st.integers(1, 8)), 2 * draw(st.integers(1, 8))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, channels, height, width)).astype(dtype)
    weights = rng.standard_normal((n_out, channels, 3, 3)).astype(dtype)
    return x, weights, rng.standard_normal(n_out).astype(dtype)


def assert_close(got, want, dtype):
    scale = max(np.abs(want).max(), 1.0)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=TOLERANCE[dtype] * scale)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(data=st.data())
@settings(max_examples=60, deadline=None)
def test_forward_and_backward_equal_the_lectures_loops(dtype, data):
    x, weights, bias = data.draw(problems(dtype))
    out, tiles = winograd.winograd_forward(x, weights, bias)
    assert len(tiles.kernels) == winograd.transforms_for(*x.shape[2:]).count
    assert_close(out, reference.conv2d_forward(x, weights, bias, 1, 1), dtype)
    dout = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
    dx, dweights, dbias = winograd.winograd_backward(dout, tiles)
    assert_close(dx, reference.conv2d_backward_input(dout, weights, x.shape, 1, 1), dtype)
    expected_dweights, expected_dbias = reference.conv2d_backward_params(x, dout, 3, 1, 1)
    assert_close(dweights, expected_dweights, dtype)
    assert_close(dbias, expected_dbias, dtype)
    assert winograd.winograd_backward(dout, tiles, input_grad=False)[0] is None


@pytest.mark.parametrize("way, g", [(winograd.F2X2, _G), (winograd.F4X4, _G_F4)])
def test_each_transform_and_its_backward_are_transposes(way, g):
    """<T a, b> = <a, Tᵀ b> for the input, kernel and output transforms, in float64: a wrong
    sign or index in a backward loop breaks it by far more than rounding."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 8, 12))
    count, side = way.count, way.tile + 2
    tiles_count = 2 * way.tiles_per_sample(8, 12)
    inputs = way.input_tiles(x, winograd.planes(3, tiles_count, np.float64, count), 0, 2)
    input_grads = rng.standard_normal((count, 3, tiles_count))
    dx = way.input_tiles_backward(input_grads, np.empty_like(x), 0, 2)
    assert np.vdot(inputs, input_grads) == pytest.approx(np.vdot(x, dx), rel=1e-12)

    weights = rng.standard_normal((4, 3, 3, 3))
    kernels = winograd._kernel_tiles(weights, way.kernel_transform)
    kernel_grads = rng.standard_normal((count, 4, 3))
    dweights = winograd._kernel_tiles_backward(kernel_grads, way.kernel_transform)
    assert np.vdot(kernels, kernel_grads) == pytest.approx(np.vdot(weights, dweights), rel=1e-12)
    np.testing.assert_allclose(kernels[:, 1, 2].reshape(side, side), g @ weights[1, 2] @ g.T)

    products = winograd.planes(4, tiles_count, np.float64, count)
    products[:] = rng.standard_normal((count, 4, tiles_count))
    out = np.empty((2, 4, 8, 12))
    way.output_tiles(winograd.rows_of(products), tiles_count, np.zeros(4), out, 0, 2)
    dout = rng.standard_normal(out.shape)
    bias_grads = np.empty(4)
    product_grads = winograd.planes(4, tiles_count, np.float64, count)
    way.output_tiles_backward(dout, winograd.rows_of(product_grads), tiles_count, bias_grads, 0, 2)
    assert np.vdot(out, dout) == pytest.approx(np.vdot(products, product_grads), rel=1e-12)
    np.testing.assert_allclose(bias_grads, dout.sum(axis=(0, 2, 3)), rtol=1e-12)


@pytest.mark.parametrize(
    "x_shape, n_out, count",
    [((2, 2, 4, 6), 3, 16), ((1, 12, 8, 12), 12, 36)],  # a small map; many channels, 4x4 tiles
)
def test_a_conv2d_passes_central_differences(x_shape, n_out, count):
    layer = tc.Conv2D(x_shape[1], n_out, 3, padding=1, dtype=np.float64, rng=0)
    x = np.random.default_rng(1).standard_normal(x_shape)
    layer.forward(x)
    tiles = layer._cache[1]
    assert isinstance(tiles, winograd.Tiles)  # this layer does run Winograd's way
    assert len(tiles.kernels) == count
    errors = check_gradients(layer, x)
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize(
    "x_shape, weights_shape, stride, padding, chosen",
    [
        ((32, 64, 4, 4), (128, 64, 3, 3), 1, 1, True),
        ((32, 32, 8, 8), (64, 32, 3, 3), 1, 1, True),
        ((1, 1, 2, 2), (1, 1, 3, 3), 1, 1, True),  # small maps, whatever the channels
        ((32, 16, 16, 16), (32, 16, 3, 3), 1, 1, True),  # harmonic mean 21.3: many channels
        ((32, 32, 32, 32), (64, 32, 3, 3), 1, 1, True),
        ((32, 8, 32, 32), (64, 8, 3, 3), 1, 1, True),  # 14.2
        ((32, 12, 64, 64), (12, 12, 3, 3), 1, 1, True),  # 12: just enough
        ((32, 8, 32, 32), (16, 8, 3, 3), 1, 1, False),  # 10.7: the direct loops
        ((32, 11, 16, 16), (12, 11, 3, 3), 1, 1, False),  # 11.5
        ((32, 1, 10, 10), (8, 1, 3, 3), 1, 1, False),
        ((32, 16, 8, 10), (32, 16, 3, 3), 1, 1, True),
        ((32, 16, 7, 8), (32, 16, 3, 3), 1, 1, False),  # odd: no whole 2x2 tiles
        ((32, 16, 8, 8), (32, 16, 3, 3), 2, 1, False),
        ((32, 16, 8, 8), (32, 16, 3, 3), 1, 0, False),
        ((32, 16, 8, 8), (32, 16, 5, 5), 1, 1, False),
        ((0, 16, 8, 8), (32, 16, 3, 3), 1, 1, False),  # an empty batch
    ],
)
def test_conv2d_takes_winograd_for_3x3_same_convolutions_on_small_maps_or_many_channels(
    x_shape, weights_shape, stride, padding, chosen
):
    assert winograd.chosen_for(x_shape, weights_shape, stride, padding) is chosen


@given(
    per_sample=st.integers(1, 300),
    channels=st.integers(1, 512),
    n_out=st.integers(1, 512),
    count=st.sampled_from([16, 36]),
)
@settings(max_examples=200, deadline=None)
def test_a_chunks_columns_fill_whole_blocks_where_enough_samples_fit(
    per_sample, channels, n_out, count
):
    """At least one sample, no more than fit in CHUNK_BYTES, and where the samples whose tiles
    fill whole blocks of the products' columns fit, a multiple of them (the most that fit)."""
    chunk = winograd._chunk_samples(per_sample, channels, n_out, np.float32, count)
    fit = max(1, winograd.CHUNK_BYTES // (count * per_sample * (channels + n_out) * 4))
    columns = winograd_products.COLUMNS
    whole = columns // math.gcd(per_sample, columns)  # samples whose tiles fill whole blocks
    assert 1 <= chunk <= fit
    if fit >= whole:
        assert chunk * per_sample % columns == 0 and chunk > fit - whole
    else:
        assert chunk == fit


@pytest.mark.parametrize("height, width, count", [(6, 4, 16), (8, 12, 36)])
def test_samples_taken_a_few_at_a_time_give_the_lectures_answer(monkeypatch, height, width, count):
    """Each half of the batch (3 and 4 samples) in chunks of 2 samples, the last one short."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((7, 3, height, width))
    weights, bias = rng.standard_normal((5, 3, 3, 3)), rng.standard_normal(5)
    dout = rng.standard_normal((7, 5, height, width))
    assert winograd.transforms_for(height, width).count == count
    tiles = 6  # a sample's: 3 x 2 tiles of 2x2 outputs, or 2 x 3 of 4x4
    sample_bytes = count * tiles * (3 + 5) * 8  # planes x tiles x 8 channels x float64
    monkeypatch.setattr(winograd, "CHUNK_BYTES", 2 * sample_bytes + sample_bytes // 2)
    assert winograd._chunk_samples(tiles, 3, 5, np.float64, count) == 2
    out, tiles = winograd.winograd_forward(x, weights, bias)
    dx, dweights, dbias = winograd.winograd_backward(dout, tiles)
    np.testing.assert_allclose(out, reference.conv2d_forward(x, weights, bias, 1, 1), atol=1e-12)
    expected_dx = reference.conv2d_backward_input(dout, weights, x.shape, 1, 1)
    expected_dweights, expected_dbias = reference.conv2d_backward_params(x, dout, 3, 1, 1)
    np.testing.assert_allclose(dx, expected_dx, atol=1e-12)
    np.testing.assert_allclose(dweights, expected_dweights, atol=1e-11)
    np.testing.assert_allclose(dbias, expected_dbias, atol=1e-12)


@pytest.mark.parametrize(
    "x_shape, n_out",
    [((1, 3, 4, 4), 4), ((5, 3, 8, 2), 4), ((0, 3, 4, 4), 4), ((2, 12, 12, 8), 12)],
)
def test_conv2d_gives_the_lectures_answer_either_way(x_shape, n_out):
    layer = tc.Conv2D(x_shape[1], n_out, 3, padding=1, dtype=np.float64, rng=0)
    x = np.random.default_rng(2).standard_normal(x_shape)
    out = layer.forward(x)
    W, b = layer.params["W"], layer.params["b"]
    np.testing.assert_allclose(out, reference.conv2d_forward(x, W, b, 1, 1), atol=1e-12)
    dout = np.ones_like(out)
    dx = layer.backward(dout)
    np.testing.assert_allclose(
        dx, reference.conv2d_backward_input(dout, W, x.shape, 1, 1), atol=1e-12
    )


@pytest.mark.parametrize("side", [8, 16])  # 2x2 tiles, 4x4 tiles
def test_one_thread_or_two_and_split_or_not_give_the_same_bits(monkeypatch, side):
    """The batch is always cut into the same two halves; threads only decide where they run."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 16, side, side)).astype(np.float32)
    weights = rng.standard_normal((32, 16, 3, 3)).astype(np.float32)
    bias = rng.standard_normal(32).astype(np.float32)
    dout = rng.standard_normal((8, 32, side, side)).astype(np.float32)

    def run():
        out, tiles = winograd.winograd_forward(x, weights, bias)
        return (out, *winograd.winograd_backward(dout, tiles))

    monkeypatch.setattr(threads, "SIDE_BY_SIDE_MULTIPLY_ADDS", 0)  # always side by side
    side_by_side = run()
    monkeypatch.setattr(threads, "SIDE_BY_SIDE_MULTIPLY_ADDS", 10**18)  # never
    one_after_the_other = run()
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        monkeypatch.setattr(threads, "SIDE_BY_SIDE_MULTIPLY_ADDS", 0)
        one_thread = run()
    finally:
        numba.set_num_threads(before)
    for a, b, c in zip(side_by_side, one_after_the_other, one_thread, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


X = np.zeros((2, 3, 4, 4), np.float32)
W = np.zeros((5, 3, 3, 3), np.float32)
B = np.zeros(5, np.float32)


@pytest.mark.parametrize(
    "args, error, match",
    [
        ((X, np.zeros((5, 3, 5, 5), np.float32), B), ValueError, r"weights must be 3x3 kernels"),
        ((X[:, :, :3], W, B), ValueError, r"x must have an even height and width"),
        ((X, W.astype(np.float64), B), TypeError, r"weights must have the dtype of x"),
        ((X, W[:, :2], B), ValueError, r"weights take 2 input channels"),
        ((X.astype(int), W, B), TypeError, r"^x must be"),
    ],
)
def test_forward_names_what_it_cannot_take(args, error, match):
    with pytest.raises(error, match=match):
        winograd.winograd_forward(*args)


def test_backward_names_what_it_cannot_take():
    out, tiles = winograd.winograd_forward(X, W, B)
    with pytest.raises(TypeError, match=r"^tiles must be the Tiles winograd_forward returned"):
        winograd.winograd_backward(out, tuple(tiles))
    with pytest.raises(ValueError, match=r"^dout must have the shape of the convolution's"):
        winograd.winograd_backward(out[:1], tiles)
    with pytest.raises(TypeError, match=r"^dout must have the dtype of the tiles"):
        winograd.winograd_backward(out.astype(np.float64), tiles)
    with pytest.raises(TypeError, match=r"^input_grad must be True or False"):
        winograd.winograd_backward(out, tiles, input_grad="no")
    # planes that are not those of the variant for x's shape: numba would read past them
    x_8 = np.zeros((2, 3, 8, 8), np.float32)
    out_8, tiles_8 = winograd.winograd_forward(x_8, W, B)
    assert len(tiles_8.kernels) == 36
    for wrong in (
        tiles_8._replace(x_shape=(2, 3, 8, 6)),  # F(2x2, 3x3)'s shape, F(4x4, 3x3)'s planes
        tiles_8._replace(inputs=tiles_8.inputs[:, :, :-1]),
        tiles_8._replace(kernels=tiles_8.kernels[:16]),
        tiles_8._replace(kernels=tiles_8.kernels[:, :, :2]),
    ):
        with pytest.raises(ValueError, match=r"^tiles must be the Tiles winograd_forward returned"):
            winograd.winograd_backward(np.zeros((2, 5, *wrong.x_shape[2:]), np.float32), wrong)


@pytest.mark.parametrize("count", [winograd.F2X2.count, winograd.F4X4.count])
@pytest.mark.parametrize("rows, columns", [(1, 1), (64, 128), (128, 8), (3, 5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_planes_start_off_the_4_kib_grid(rows, columns, dtype, count):
    planes = winograd.planes(rows, columns, dtype, count)
    assert planes.shape == (count, rows, columns) and planes.dtype == dtype
    assert planes[0].flags.c_contiguous
    assert planes.strides[0] % 4096 == winograd.PLANE_SHIFT_BYTES
    assert planes.strides[0] >= rows * columns * np.dtype(dtype).itemsize


@pytest.mark.parametrize("count", [winograd.F2X2.count, winograd.F4X4.count])
def test_rows_of_planes_are_their_numbers_row_after_row(count):
    planes = winograd.planes(3, 5, np.float32, count)
    planes[:] = np.arange(count * 3 * 5).reshape(count, 3, 5)
    rows = winograd.rows_of(planes)
    assert rows.flags.c_contiguous and rows.shape[0] == count and np.shares_memory(rows, planes)
    np.testing.assert_array_equal(rows[:, : 3 * 5].reshape(count, 3, 5), planes)
