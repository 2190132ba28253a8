"""tinycnn.functional: each function against its textbook formula where that formula is safe, and
finite where the textbook formula overflows."""

import numpy as np
import pytest
from hypothesis import assume, given
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


# --- arguments: the audit's K1 ------------------------------------------------------------------

ALONG_AXIS = (softmax, logsumexp, log_softmax)
ENTRYWISE = (sigmoid,)

not_float_arrays = st.sampled_from(
    [
        [1.0, 2.0],
        (1.0, 2.0),
        None,
        "abc",
        True,
        np.bool_(True),
        1 + 5j,
        np.array([1 + 5j, 2]),
        np.array([1, 2]),
        np.array([True, False]),
        np.array([1.0, "a"], dtype=object),
        np.array([1.0, 2.0], dtype=np.float16),
        np.array(["a", "b"]),
        {"z": 1.0},
    ]
)
"""Values z and logits refuse: not float32/float64 arrays, nor one real number."""


@given(not_float_arrays, st.sampled_from(ENTRYWISE + ALONG_AXIS))
def test_z_must_be_a_float_array(value, function):
    with pytest.raises(TypeError, match="^z must be"):
        function(value)


@given(not_float_arrays)
def test_logits_must_be_a_float_array(value):
    with pytest.raises(TypeError, match="^logits must be"):
        binary_cross_entropy(value, np.ones(2))
    with pytest.raises(TypeError, match="^logits must be"):
        softmax_cross_entropy(value, np.ones((1, 2)))


def test_the_messages_say_how_to_convert():
    with pytest.raises(TypeError, match=r"np.asarray\(z, dtype=np.float64\) converts it"):
        sigmoid([1.0, 2.0])
    with pytest.raises(TypeError, match=r"z.astype\(np.float64\) converts it"):
        softmax(np.arange(3))
    with pytest.raises(TypeError, match="got complex128$"):
        softmax(np.array([1 + 5j, 2]))


def test_one_real_number_is_a_logit():
    """lesson 2 asks σ(-6.0); a number is a 0-d float64 array's worth, a bool is not a number."""
    assert float(sigmoid(-6.0)) == pytest.approx(1 / (1 + np.exp(6.0)))
    assert float(sigmoid(0)) == 0.5
    assert float(sigmoid(np.float32(0))) == 0.5
    assert float(sigmoid(10**400)) == 1.0 and float(sigmoid(-(10**400))) == 0.0
    assert float(binary_cross_entropy(0.0, 1)) == pytest.approx(np.log(2))
    with pytest.raises(ValueError, match="^z must have at least one axis"):
        softmax(1.0)


@given(st.sampled_from(ALONG_AXIS), st.integers(1, 3), st.data())
def test_axis_must_be_an_int_within_the_dimensions(function, ndim, data):
    z = np.zeros((2,) * ndim)
    outside = data.draw(st.one_of(st.integers(max_value=-ndim - 1), st.integers(min_value=ndim)))
    with pytest.raises(ValueError, match=rf"^axis must be in \[-{ndim}, {ndim - 1}\]"):
        function(z, axis=outside)
    not_an_int = data.draw(st.sampled_from([1.5, "0", None, True, (0,), np.float64(0)]))
    with pytest.raises(TypeError, match="^axis must be an integer"):
        function(z, axis=not_an_int)
    inside = data.draw(st.integers(-ndim, ndim - 1))
    np.testing.assert_allclose(np.sum(softmax(z, axis=inside), axis=inside), 1.0)


def test_an_axis_without_entries_is_refused():
    with pytest.raises(ValueError, match=r"^z has no entries along axis 1 \(shape \(3, 0\)\)"):
        softmax(np.zeros((3, 0)))
    with pytest.raises(ValueError, match="^logits has no entries along axis 1"):
        softmax_cross_entropy(np.zeros((3, 0)), np.zeros((3, 0)))


def test_class_labels_instead_of_one_hot_are_refused_with_the_fix():
    """The audit's sample: labels broadcast against (3, 3) logits gave -0.90, a negative CE."""
    logits = np.array([[2.0, 0, -1], [0, 3, 0], [1, 1, 1]])
    labels = np.array([0, 1, 2])
    with pytest.raises(ValueError, match=r"np.eye\(3\)\[labels\]") as refused:
        softmax_cross_entropy(logits, labels)
    assert str(refused.value).startswith("one_hot must have the logits' shape (3, 3), got (3,)")
    np.testing.assert_allclose(
        softmax_cross_entropy(logits, np.eye(3)[labels]), [0.1698, 0.0949, 1.0986], atol=1e-4
    )


@given(
    st.integers(1, 4),
    st.integers(1, 4),
    st.sampled_from(["labels", "row", "column", "transposed", "extra axis"]),
)
def test_one_hot_and_targets_must_have_the_logits_exact_shape(n, k, mistake):
    logits = np.zeros((n, k))
    wrong = {
        "labels": np.zeros(n),
        "row": np.zeros((1, k)),
        "column": np.zeros((n, 1)),
        "transposed": np.zeros((k, n)),
        "extra axis": np.zeros((n, k, 1)),
    }[mistake]
    assume(wrong.shape != logits.shape)
    with pytest.raises(ValueError, match=r"^one_hot must have the logits' shape"):
        softmax_cross_entropy(logits, wrong)
    with pytest.raises(ValueError, match=r"^targets must have the logits' shape"):
        binary_cross_entropy(logits, wrong)


@given(
    arrays(np.float64, st.integers(1, 6), elements=st.floats(allow_nan=True)).filter(
        lambda p: not np.all((p >= 0) & (p <= 1))
    )
)
def test_targets_and_one_hot_must_be_in_0_1(p):
    with pytest.raises(ValueError, match=r"^targets must be in \[0, 1\], found"):
        binary_cross_entropy(np.zeros_like(p), p)
    with pytest.raises(ValueError, match=r"^one_hot must be in \[0, 1\], found"):
        softmax_cross_entropy(np.zeros((1, len(p))), p[None])


@pytest.mark.parametrize(
    "targets",
    [True, np.array([True, False]), np.array([1, 0], dtype=object), np.array([1j, 0]), [1, 0]],
)
def test_targets_must_be_numbers(targets):
    with pytest.raises(TypeError, match="^targets must be a numpy array of numbers in"):
        binary_cross_entropy(np.zeros(np.shape(targets)), targets)


def test_integer_targets_are_numbers():
    z = np.array([[0.5, -1.0, 2.0]])
    np.testing.assert_allclose(
        binary_cross_entropy(z, np.array([[1, 0, 1]])), [[0.474077, 0.313262, 0.126928]], rtol=1e-5
    )
    np.testing.assert_allclose(
        softmax_cross_entropy(z, np.array([[0, 0, 1]])),
        softmax_cross_entropy(z, np.array([[0.0, 0, 1]])),
    )


@given(small, st.data())
def test_the_cross_entropy_is_minus_c_log_softmax_for_any_c_in_0_1(z, data):
    """Σ_k c_k = 1 or not: a row of zeros (the losses' rows without an object) gives 0."""
    c = data.draw(arrays(np.float64, z.shape, elements=st.floats(0, 1)))
    textbook = -np.sum(c * log_softmax(z), axis=-1)
    np.testing.assert_allclose(softmax_cross_entropy(z, c), textbook, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(softmax_cross_entropy(z, np.zeros_like(z)), 0.0)
