"""gradcheck itself: right on known gradients, and loud on a wrong backward pass."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

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


finite_gradients = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
    elements=st.floats(-1e3, 1e3),
)


@given(finite_gradients, st.data())
def test_a_non_finite_gradient_never_passes(gradient, data):
    """NaN or an infinity anywhere, on either side, gives an infinite error, not 0."""
    broken = gradient.copy()
    index = data.draw(st.integers(0, broken.size - 1))
    broken.reshape(-1)[index] = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    assert rel_error(broken, gradient) == np.inf
    assert rel_error(gradient, broken) == np.inf
    assert rel_error(broken, broken) == np.inf


@given(finite_gradients)
def test_rel_error_of_a_gradient_with_itself_is_zero(gradient):
    assert rel_error(gradient, gradient.copy()) == 0.0  # exactly zero on both sides included
    assert rel_error(gradient, gradient + 1.0) > 0.0


def test_rel_error_refuses_what_is_not_an_array_of_numbers():
    with pytest.raises(TypeError, match="analytic must be an array of real numbers, got None$"):
        rel_error(None, np.zeros(1))
    with pytest.raises(
        TypeError, match="numeric must be an array of real numbers, got '0' \\(str\\)"
    ):
        rel_error(np.zeros(1), "0")


class NaNBackwardReLU(tc.ReLU):
    """A ReLU whose backward pass returns NaN."""

    def backward(self, dout, input_grad=True):
        return super().backward(dout, input_grad) * np.nan


class NaNWeightGradientDense(tc.Dense):
    """A Dense layer whose weight gradient is NaN."""

    def backward(self, dout, input_grad=True):
        dx = super().backward(dout, input_grad)
        self.grads["W"] = np.full_like(self.grads["W"], np.nan)
        return dx


def test_a_nan_backward_is_caught():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4))
    assert check_gradients(NaNBackwardReLU(), x) == {"x": np.inf}
    errors = check_gradients(NaNWeightGradientDense(4, 2, dtype=np.float64, rng=0), x[:, 0, 0])
    assert errors["NaNWeightGradientDense[0].W"] == np.inf
    assert errors["x"] < 1e-7 and errors["NaNWeightGradientDense[0].b"] < 1e-7


class WrongShapeBackwardReLU(tc.ReLU):
    def backward(self, dout, input_grad=True):
        return super().backward(dout, input_grad)[:1]


def test_a_backward_of_the_wrong_shape_is_named():
    with pytest.raises(ValueError, match=r"module.backward\(dout\) must be an array shaped like x"):
        check_gradients(WrongShapeBackwardReLU(), np.ones((2, 3)))


class ListBackwardReLU(tc.ReLU):
    def backward(self, dout, input_grad=True):
        return super().backward(dout, input_grad).tolist()


def test_a_backward_that_returns_no_array_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match=r"module.backward\(dout\) must be an array .* got list"):
        check_gradients(ListBackwardReLU(), np.ones((2, 3)))


@pytest.mark.parametrize(
    "h, error",
    [
        (0.0, ValueError),
        (-1e-6, ValueError),
        (np.nan, ValueError),
        (np.inf, ValueError),
        ("1e-6", TypeError),
        (None, TypeError),
    ],
)
def test_the_step_must_be_a_finite_number_above_zero(h, error):
    x = np.array([1.0, 2.0])
    with pytest.raises(error, match="h must be"):
        numerical_gradient(lambda: np.sum(x**2), x, h=h)
    with pytest.raises(error, match="h must be"):
        check_gradients(tc.ReLU(), np.ones((2, 3)), h=h)


def test_a_float32_layer_is_named_not_x():
    layer = tc.Dense(3, 2, dtype=np.float32, rng=0)
    with pytest.raises(TypeError, match=r"Dense\[0\].W must be a float64 .*dtype=np.float64"):
        check_gradients(layer, np.ones((2, 3)))
    with pytest.raises(TypeError, match=r"Dense\[0\].W must be a float64"):
        check_gradients(tc.Sequential([tc.ReLU(), layer]), np.ones((2, 3)))


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: check_gradients(None, np.ones(2)), TypeError, r"module must be a tinycnn layer"),
        (lambda: check_gradients("ReLU", np.ones(2)), TypeError, r"module must be.*got str"),
        (lambda: check_gradients(tc.ReLU(), "x"), TypeError, r"x must be an array of real"),
        (lambda: check_gradients(tc.ReLU(), np.ones(2), seed=-1), ValueError, r"seed must be"),
        (lambda: check_gradients(tc.ReLU(), np.ones(2), seed=0.5), TypeError, r"seed must be"),
        (lambda: numerical_gradient(None, np.ones(2)), TypeError, r"f must be a function"),
        (lambda: numerical_gradient(lambda: 0.0, np.array([np.nan])), ValueError, r"x must be fin"),
        (lambda: check_gradients(tc.ReLU(), [1.0, np.inf]), ValueError, r"x must be finite"),
        (
            lambda: numerical_gradient(lambda: np.ones(2), np.ones(2)),
            TypeError,
            r"f must return one real number.*shape \(2,\)",
        ),
    ],
)
def test_bad_arguments_are_named(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_x_is_restored_when_f_raises():
    x = np.array([1.0, 2.0])

    def f():
        raise RuntimeError("f failed")

    with pytest.raises(RuntimeError):
        numerical_gradient(f, x)
    np.testing.assert_array_equal(x, [1.0, 2.0])


def test_an_empty_array_has_an_empty_gradient():
    x = np.zeros((0, 3))
    assert numerical_gradient(lambda: 0.0, x).shape == (0, 3)
    np.testing.assert_array_equal(
        numerical_gradient(lambda: 0.0, np.zeros((4, 3))[:, ::2][:0]), np.zeros((0, 2))
    )


# --- random layers and kinks: the audit's K15 ---------------------------------------------------


@given(st.floats(0.05, 0.95), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_a_dropout_layer_in_training_is_checked_with_one_mask(p, layer_seed, x_seed):
    """Each forward used to draw a new mask: a right backward scored an error of about 1."""
    layer = tc.Dropout(p, rng=layer_seed)
    state = layer.rng.bit_generator.state
    x = np.random.default_rng(x_seed).standard_normal((2, 3, 4, 4))
    assert check_gradients(layer, x)["x"] < 1e-7
    assert layer.rng.bit_generator.state == state  # the check draws nothing from the layer


class HalfGradientDropout(tc.Dropout):
    """A Dropout whose backward forgets the 1 / (1 - p) scaling: must still be caught."""

    def backward(self, dout, input_grad=True):
        return super().backward(dout, input_grad) * (1 - self.p)


def test_a_wrong_dropout_backward_is_still_caught():
    x = np.random.default_rng(0).standard_normal((4, 6))
    assert check_gradients(HalfGradientDropout(0.5, rng=0), x)["x"] > 0.1


def test_a_model_holding_dropout_is_checked_in_training_mode():
    model = tc.Sequential(
        [
            tc.Dense(5, 4, dtype=np.float64, rng=0),
            tc.ReLU(),
            tc.Dropout(0.3, rng=1),
            tc.Dense(4, 2, dtype=np.float64, rng=2),
        ]
    )
    errors = check_gradients(model, np.random.default_rng(0).standard_normal((3, 5)))
    assert max(errors.values()) < 1e-7
    model.eval()
    assert (
        max(check_gradients(model, np.random.default_rng(0).standard_normal((3, 5))).values())
        < 1e-7
    )


class GlobalRandomDropout(tc.Dropout):
    """Draws its mask from a generator the check cannot see (a new one at each forward)."""

    def forward(self, x):
        self.rng = np.random.default_rng()
        return super().forward(x)


def test_randomness_the_check_cannot_freeze_is_refused_with_what_to_do():
    x = np.random.default_rng(0).standard_normal((4, 6))
    with pytest.raises(ValueError, match=r"different output at each forward.*model\.eval\(\)"):
        check_gradients(GlobalRandomDropout(0.5), x)
    layer = GlobalRandomDropout(0.5)
    layer.training = False
    assert check_gradients(layer, x)["x"] < 1e-7


def test_an_empty_batch_is_refused_not_passed():
    """It used to return {'x': 0.0}: a pass for a check that compared nothing."""
    with pytest.raises(ValueError, match=r"x must hold at least one number, got shape \(0, 3\)"):
        check_gradients(tc.Dense(3, 2, dtype=np.float64, rng=0), np.zeros((0, 3)))


@pytest.mark.parametrize(
    "layer, x, error",
    [
        (tc.ReLU(), np.zeros((1, 3)), 1.0),
        (tc.MaxPool2D(2), np.ones((1, 1, 2, 2)), 0.5),
    ],
)
def test_kinks_give_large_errors_as_the_docstring_says(layer, x, error):
    """Not a bug: ReLU at exactly 0 and tied maxima are points without a derivative."""
    assert check_gradients(layer, x)["x"] == pytest.approx(error, rel=1e-6)
    random_x = np.random.default_rng(0).standard_normal(x.shape)
    assert check_gradients(layer, random_x)["x"] < 1e-7


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: rel_error([[1.0], [1.0, 2.0]], np.ones(2)), "analytic"),
        (lambda: rel_error(np.ones(2), [[1.0], [1.0, 2.0]]), "numeric"),
        (lambda: check_gradients(tc.Dense(2, 2, dtype=np.float64), [[1.0], [1.0, 2.0]]), "x"),
    ],
)
def test_a_ragged_list_is_a_type_error_naming_the_argument(call, name):
    """numpy's ValueError ("inhomogeneous shape") named no argument."""
    with pytest.raises(TypeError, match=rf"^{name} must be an array of numbers, got a list"):
        call()
