"""blas.matmul against np.matmul: the same numbers, an outer product included."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinycnn.kernels import blas

SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-42, 3e38])


@given(
    batch=st.sampled_from([(), (1,), (3,), (2, 2)]),
    rows=st.integers(0, 7),
    depth=st.sampled_from([0, 1, 1, 2, 5]),
    columns=st.integers(0, 7),
    dtype=st.sampled_from([np.float32, np.float64]),
    specials=st.booleans(),
    into_out=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=150, deadline=None)
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning", "ignore:overflow:RuntimeWarning")
def test_the_same_numbers_as_numpys_matmul(
    batch, rows, depth, columns, dtype, specials, into_out, seed
):
    """Over an axis of length 1 (multiplied) or longer (np.matmul), with a batch of products
    or none, written into out or returned, NaN, infinities and subnormals included: equal to
    np.matmul's numbers (a zero's sign aside: assert_array_equal takes -0.0 == 0.0). Both warn
    of inf * 0 and overflows, np.matmul on some shapes only: the warnings are not compared."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((*batch, rows, depth)).astype(dtype)
    b = rng.standard_normal((*batch, depth, columns)).astype(dtype)
    if specials:
        a.reshape(-1)[: SPECIAL.size] = SPECIAL[: a.size].astype(dtype)
        b.reshape(-1)[::-1][: SPECIAL.size] = SPECIAL[: b.size].astype(dtype)
    expected = np.matmul(a, b)
    if into_out:
        out = np.full(expected.shape, 7.0, dtype)
        got = blas.matmul(a, b, out=out)
        assert got is out
    else:
        got = blas.matmul(a, b)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_an_outer_product_into_a_strided_out():
    """The dense layer's weight gradient at batch 1, half of its rows (xᵀ (in, 1) @ dout
    (1, out) into dweights[features]), and its input gradient's columns with one output
    feature (dout (N, 1) @ W[features]ᵀ into dx[:, features])."""
    rng = np.random.default_rng(0)
    x, dout = rng.standard_normal((1, 6)), rng.standard_normal((1, 4))
    dweights = np.zeros((6, 4))
    blas.matmul(x[:, 3:].T, dout, out=dweights[3:])
    np.testing.assert_array_equal(dweights[3:], x[0, 3:, None] * dout[0])
    assert not dweights[:3].any()
    dout_one, weights = rng.standard_normal((5, 1)), rng.standard_normal((6, 1))
    dx = np.zeros((5, 6))
    blas.matmul(dout_one, weights[:3].T, out=dx[:, :3])
    np.testing.assert_array_equal(dx[:, :3], np.matmul(dout_one, weights[:3].T))
    assert not dx[:, 3:].any()


def test_shapes_that_do_not_fit_raise_as_numpys_matmul_raises():
    """A length-1 axis on one side only is no outer product: np.matmul's ValueError, never a
    broadcast (2, 1) * (2, 3). A 1-d operand gets np.matmul's own answer; an out of more
    dimensions is filled as np.matmul fills it, and one that does not fit is refused."""
    with pytest.raises(ValueError, match="mismatch in its core dimension"):
        blas.matmul(np.ones((2, 1)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="mismatch in its core dimension"):
        blas.matmul(np.ones((3, 2)), np.ones((1, 3)))
    a, b = np.arange(1.0, 2.0), np.arange(3.0).reshape(1, 3)
    np.testing.assert_array_equal(blas.matmul(a, b), np.matmul(a, b))
    assert blas.matmul(a, b).shape == (3,)
    column, row = np.arange(2.0).reshape(2, 1), np.arange(3.0).reshape(1, 3)
    out, expected = np.zeros((4, 2, 3)), np.zeros((4, 2, 3))
    blas.matmul(column, row, out=out)
    np.matmul(column, row, out=expected)
    np.testing.assert_array_equal(out, expected)
    with pytest.raises(ValueError):
        blas.matmul(column, row, out=np.zeros((2, 1, 3)))
