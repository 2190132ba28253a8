"""gradcheck itself: right on known gradients, and loud on a wrong backward pass."""

import numpy as np
import pytest

import tinycnn as tc
from tinycnn.gradcheck import check_gradients, numerical_gradient, rel_error


def test_numerical_gradient_of_a_known_function():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    numeric = numerical_gradient(lambda: np.sum(x**3), x)
    np.testing.assert_allclose(numeric, 3 * x**2, rtol=1e-8)
    np.testing.assert_array_equal(x, [[1.0, -2.0], [0.5, 3.0]])  # restored after nudging


def test_rel_error():
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert rel_error([1.0, 0.0], [0.0, 1.0]) == pytest.approx(np.sqrt(2) / 2)
    with pytest.raises(ValueError, match="same shape"):
        rel_error(np.zeros(2), np.zeros(3))


def test_float32_is_refused():
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(lambda: 0.0, np.zeros(3, dtype=np.float32))


class HalfGradientDense(tc.Dense):
    """A Dense layer with a deliberate bug in its weight gradient."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.grads["W"] = self.grads["W"] / 2
        return dx


def test_a_wrong_backward_is_caught():
    layer = HalfGradientDense(3, 2, dtype=np.float64, rng=0)
    errors = check_gradients(layer, np.random.default_rng(0).standard_normal((4, 3)))
    assert errors["x"] < 1e-7 and errors["HalfGradientDense[0].b"] < 1e-7
    assert errors["HalfGradientDense[0].W"] > 0.1
