"""Winograd's products with their sums in registers (kernels/winograd_products.py): NumPy's
products to rounding, the same bits whichever block computes a number, nothing written outside
the columns asked for, and Winograd's and the 1x1 convolutions the same either way."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinycnn.kernels import blas, pointwise_blas, reference, roads, winograd, winograd_products

EPS32 = np.finfo(np.float32).eps


@st.composite
def products(draw):
    """(a, b planes, first, out planes, columns): 1-3 planes, 1-20 rows, 1-40 deep, up to 100
    columns from column `first` of b's rows, into out's rows of at least that many."""
    count, n_rows, depth = (
        draw(st.integers(1, 3)),
        draw(st.integers(1, 20)),
        draw(st.integers(1, 40)),
    )
    columns, first = draw(st.integers(0, 100)), draw(st.integers(0, 40))
    b_width = first + columns + draw(st.integers(0, 20))
    out_width = columns + draw(st.integers(0, 20))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    a = rng.standard_normal((count, n_rows, depth)).astype(np.float32)
    b = winograd.planes(depth, b_width, np.float32, count)
    b[...] = rng.standard_normal(b.shape)
    out = winograd.planes(n_rows, out_width, np.float32, count)
    out.base[...] = np.nan  # every number, the gaps between planes included
    return a, b, first, out, columns


def multiply(a, b, first, out, columns):
    winograd_products.multiply_planes(
        a, winograd.rows_of(b), b.shape[2], first, winograd.rows_of(out), out.shape[2], columns
    )


@given(problem=products())
@settings(max_examples=150, deadline=None)
def test_numpys_products_to_rounding_and_nothing_else_written(problem):
    """Each sum within 2·K·eps of Σ|a||b| of the exact one (float64), and every number of out
    outside its first `columns` columns, the gaps between its planes included, left as it was."""
    a, b, first, out, columns = problem
    multiply(a, b, first, out, columns)
    b_used = b[:, :, first : first + columns].astype(np.float64)
    exact = a.astype(np.float64) @ b_used
    bound = 2 * a.shape[2] * EPS32 * (np.abs(a.astype(np.float64)) @ np.abs(b_used))
    assert np.all(np.abs(out[:, :, :columns] - exact) <= bound)
    written = np.zeros(out.base.shape, bool)
    strides = tuple(stride // out.itemsize for stride in out.strides)  # in numbers: bools
    np.ndarray(out.shape, bool, written, 0, strides)[:, :, :columns] = True
    assert np.isnan(out.base[~written]).all()


@given(problem=products(), cut=st.integers(0, 100))
@settings(max_examples=100, deadline=None)
def test_the_same_bits_whichever_block_computes_a_number(problem, cut):
    """A column computed in a block of 32, of 16 or at the edge, and a row in a block of 8 or
    at the edge, gives the same number: the columns cut in two calls, and the rows put
    below rows of zeros, as many as make every row fall in a block of 8."""
    a, b, first, out, columns = problem
    multiply(a, b, first, out, columns)
    cut = min(cut, columns)
    left = winograd.planes(a.shape[1], max(cut, 1), np.float32, a.shape[0])
    right = winograd.planes(a.shape[1], max(columns - cut, 1), np.float32, a.shape[0])
    multiply(a, b, first, left, cut)
    multiply(a, b, first + cut, right, columns - cut)
    np.testing.assert_array_equal(left[:, :, :cut], out[:, :, :cut])
    np.testing.assert_array_equal(right[:, :, : columns - cut], out[:, :, cut:columns])
    zeros = np.zeros((a.shape[0], -a.shape[1] % 8, a.shape[2]), np.float32)
    stacked_a = np.concatenate([zeros, a], axis=1)
    stacked = winograd.planes(stacked_a.shape[1], max(columns, 1), np.float32, a.shape[0])
    multiply(stacked_a, b, first, stacked, columns)
    np.testing.assert_array_equal(stacked[:, -a.shape[1] :, :columns], out[:, :, :columns])


def test_chosen_in_float32_where_the_sums_fit_and_blas_has_no_avx512_kernel(
    monkeypatch, products_road
):
    products_road(True)
    assert winograd_products.chosen_for(np.float32)
    assert not winograd_products.chosen_for(np.float64)
    monkeypatch.setattr(blas, "avx512_kernel", lambda: True)
    assert not winograd_products.chosen_for(np.float32)
    products_road(False)
    assert not winograd_products.chosen_for(np.float32)


@pytest.mark.parametrize(
    "pools, avx512",
    [
        ([{"user_api": "blas", "internal_api": "openblas", "architecture": "SkylakeX"}], True),
        ([{"user_api": "blas", "internal_api": "openblas", "architecture": "Haswell"}], False),
        ([{"user_api": "blas", "internal_api": "openblas", "architecture": "Zen"}], False),
        ([{"user_api": "openmp", "internal_api": "openmp"}], True),  # no BLAS found
        ([{"user_api": "blas", "internal_api": "mkl"}], True),  # no kernel named
    ],
)
def test_blas_kernel_read_from_threadpoolctl(monkeypatch, pools, avx512):
    import threadpoolctl

    monkeypatch.setattr(threadpoolctl, "threadpool_info", lambda: pools)
    assert blas.avx512_kernel.__wrapped__() is avx512


@pytest.mark.parametrize("in_registers", [True, False])
@pytest.mark.parametrize(
    "x_shape, n_out, k, road",
    [
        ((4, 16, 16, 16), 24, 3, winograd.Tiles),
        ((5, 9, 6, 10), 17, 3, winograd.Tiles),
        ((3, 20, 8, 8), 16, 1, pointwise_blas.Inputs),
        ((2, 9, 7, 7), 17, 1, pointwise_blas.Inputs),
    ],
)
def test_the_convolution_either_way(products_road, in_registers, x_shape, n_out, k, road):
    """The two roads whose products the loop takes, forward and backward in float32, the
    products in registers (on every machine, for the test) or NumPy's: the lecture's loops to
    rounding. winograd.py: F(4x4, 3x3), halves of 2 samples of 16 tiles (a block of 32
    columns) and 24 output channels (blocks of 8 rows); F(2x2, 3x3), halves of 2 and 3 samples
    of 15 tiles (30 and 45 columns: blocks of 32 and 16 and the edge), 9 and 17 channels
    (rows left over in both products). pointwise_blas.py: 64 pixels and 16 output channels
    (blocks of 32 columns and 8 rows, and 20 rows of the input gradient's); 49 pixels (32 + 16
    + 1) and 17 and 9 rows (rows left over)."""
    products_road(in_registers)
    rng = np.random.default_rng(0)
    padding = k // 2
    x = rng.standard_normal(x_shape).astype(np.float32)
    weights = rng.standard_normal((n_out, x_shape[1], k, k)).astype(np.float32)
    bias = rng.standard_normal(n_out).astype(np.float32)
    out, kept = roads.conv2d_forward(x, weights, bias, 1, padding)
    assert isinstance(kept, road)
    x64, weights64 = x.astype(np.float64), weights.astype(np.float64)
    want = reference.conv2d_forward(x64, weights64, bias.astype(np.float64), 1, padding)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx, dweights, _ = roads.conv2d_backward(x, dout, weights, 1, padding, kept)
    dout64 = dout.astype(np.float64)
    want_dx = reference.conv2d_backward_input(dout64, weights64, x.shape, 1, padding)
    want_dw, _ = reference.conv2d_backward_params(x64, dout64, k, 1, padding)
    for got, expected in [(out, want), (dx, want_dx), (dweights, want_dw)]:
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5 * np.abs(expected).max())
