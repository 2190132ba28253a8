"""tinycnn.functional: each function against its textbook formula where that formula is safe, and
finite where the textbook formula overflows."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tinycnn.functional import (
    binary_cross_entropy,
    log_softmax,
    logsumexp,
    sigmoid,
    softmax,
    softmax_cross_entropy,
)

pytestmark = pytest.mark.filterwarnings("error")

moderate = arrays(
    np.float64, st.tuples(st.integers(1, 4), st.integers(1, 5)), elements=st.floats(-30, 30)
)


@given(moderate)
def test_sigmoid_is_the_formula(z):
    np.testing.assert_allclose(sigmoid(z), 1 / (1 + np.exp(-z)), rtol=1e-12)


@given(moderate)
def test_softmax_logsumexp_and_log_softmax_are_the_formulas(z):
    e = np.exp(z)
    np.testing.assert_allclose(softmax(z), e / e.sum(axis=-1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(logsumexp(z), np.log(e.sum(axis=-1)), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(log_softmax(z), np.log(softmax(z)), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(softmax(z, axis=0), e / e.sum(axis=0, keepdims=True), rtol=1e-12)


small = arrays(
    np.float64, st.tuples(st.integers(1, 4), st.integers(1, 5)), elements=st.floats(-15, 15)
)
"""Logits where the textbook BCE, which computes 1 - σ(z), has not yet lost its digits."""


@given(small, st.data())
def test_the_cross_entropies_are_the_formulas(z, data):
    p = data.draw(arrays(np.float64, z.shape, elements=st.sampled_from([0.0, 1.0])))
    textbook = -(p * np.log(sigmoid(z)) + (1 - p) * np.log(1 - sigmoid(z)))
    np.testing.assert_allclose(binary_cross_entropy(z, p), textbook, rtol=1e-7, atol=1e-10)
    one_hot = np.eye(z.shape[1])[data.draw(st.integers(0, z.shape[1] - 1))][None].repeat(len(z), 0)
    textbook = -np.sum(one_hot * np.log(softmax(z)), axis=1)
    np.testing.assert_allclose(softmax_cross_entropy(z, one_hot), textbook, rtol=1e-9, atol=1e-12)


def test_no_overflow_for_huge_logits():
    z = np.array([[-1e300, 0.0, 1e300], [1000.0, -1000.0, 0.0]])
    assert np.all(np.isfinite(sigmoid(z)))
    np.testing.assert_array_equal(sigmoid(z[0]), [0.0, 0.5, 1.0])
    np.testing.assert_allclose(softmax(z).sum(axis=1), 1.0)
    assert np.all(np.isfinite(logsumexp(z)))
    assert np.all(np.isfinite(binary_cross_entropy(z, np.ones_like(z))[1]))
    np.testing.assert_allclose(softmax_cross_entropy(z[1:], np.array([[0.0, 1.0, 0.0]])), 2000.0)
    np.testing.assert_allclose(log_softmax(np.array([0.0, -800.0])), [0.0, -800.0])


def test_float32_stays_float32():
    z = np.linspace(-5, 5, 12, dtype=np.float32).reshape(3, 4)
    for function in (sigmoid, softmax, logsumexp, log_softmax):
        assert function(z).dtype == np.float32


def test_empty_batches_give_empty_results():
    z = np.zeros((0, 3))
    assert softmax(z).shape == (0, 3)
    assert softmax_cross_entropy(z, z).shape == (0,)
    assert sigmoid(np.zeros(0)).shape == (0,)
