"""Optimizers: one step by the formula, and convergence on a least-squares problem."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinycnn as tc
from tinycnn.kernels import updates


def dense_with_grads(weights, grads):
    layer = tc.Dense(*weights.shape, dtype=np.float64)
    layer.params["W"][:] = weights
    layer.grads = {"W": grads.copy(), "b": np.ones(weights.shape[1])}
    return tc.Sequential([layer])


def test_sgd_step_with_momentum():
    weights, grads = np.array([[1.0, 2.0]]), np.array([[0.5, -1.0]])
    model = dense_with_grads(weights, grads)
    optimizer = tc.optim.SGD(model, lr=0.1, momentum=0.9)
    optimizer.step()
    np.testing.assert_allclose(model.layers[0].params["W"], weights - 0.1 * grads)
    optimizer.step()  # v = 0.9 * (-0.1 g) - 0.1 g
    np.testing.assert_allclose(model.layers[0].params["W"], weights - 0.1 * grads - 0.19 * grads)


def test_adam_first_step_is_lr_times_sign():
    weights, grads = np.array([[1.0, 2.0, 3.0]]), np.array([[0.5, -1e-3, 20.0]])
    model = dense_with_grads(weights, grads)
    tc.optim.Adam(model, lr=0.01).step()
    np.testing.assert_allclose(
        model.layers[0].params["W"], weights - 0.01 * np.sign(grads), rtol=1e-6
    )


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda model: tc.optim.SGD(model, lr=0.1, momentum=0.9),
        lambda model: tc.optim.Adam(model, lr=0.05),
    ],
    ids=["sgd", "adam"],
)
def test_optimizers_fit_a_linear_map(make_optimizer):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    true_weights = np.array([[1.0], [-2.0], [0.5]], dtype=np.float32)
    y = x @ true_weights + 0.3
    model = tc.Sequential([tc.Dense(3, 1, rng=0)])
    optimizer = make_optimizer(model)
    for _ in range(300):
        error = model.forward(x) - y
        model.backward(2 * error / len(x))
        optimizer.step()
    np.testing.assert_allclose(model.layers[0].params["W"], true_weights, atol=1e-2)
    np.testing.assert_allclose(model.layers[0].params["b"], [0.3], atol=1e-2)
    assert model.layers[0].params["W"].dtype == np.float32


def test_bad_arguments():
    model = tc.Sequential([tc.Dense(2, 2)])
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        tc.optim.SGD(model, lr=0)
    with pytest.raises(ValueError, match=r"momentum must be a number in \[0, 1\)"):
        tc.optim.SGD(model, momentum=1.0)
    with pytest.raises(ValueError, match=r"call model.backward before optimizer.step"):
        tc.optim.Adam(model).step()


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda model: tc.optim.Adam(model, eps=0), ValueError, r"eps must be a finite number > 0"),
        (
            lambda model: tc.optim.Adam(model, eps=-1e-8),
            ValueError,
            r"eps must be a finite number > 0",
        ),
        (
            lambda model: tc.optim.Adam(model, lr=np.inf),
            ValueError,
            r"lr must be a finite number > 0",
        ),
        (lambda model: tc.optim.Adam(model, lr=np.nan), ValueError, r"lr must be a finite number"),
        (lambda model: tc.optim.Adam(model, beta1=1.0), ValueError, r"beta1 must be a number in"),
        (lambda model: tc.optim.Adam(model, beta2=-0.1), ValueError, r"beta2 must be a number in"),
        (
            lambda model: tc.optim.SGD(model, momentum=np.nan),
            ValueError,
            r"momentum must be a number",
        ),
        (lambda model: tc.optim.SGD(model, lr="0.1"), TypeError, r"lr must be a real number"),
        (lambda model: tc.optim.SGD(model, lr=None), TypeError, r"lr must be a real number"),
        (
            lambda model: tc.optim.Adam(model, eps=np.array([1e-8])),
            TypeError,
            r"eps must be a real",
        ),
        (lambda model: tc.optim.SGD(None), TypeError, r"model must be a tinycnn Sequential"),
    ],
)
def test_every_setting_is_checked_at_construction(make, error, match):
    with pytest.raises(error, match=match):
        make(tc.Sequential([tc.Dense(2, 2)]))


@pytest.mark.parametrize(
    "value, error",
    [
        (np.nan, ValueError),
        (-0.1, ValueError),
        (0.0, ValueError),
        (np.inf, ValueError),
        ("fast", TypeError),
        (None, TypeError),
    ],
)
def test_lr_can_only_be_set_to_a_finite_positive_number(value, error):
    optimizer = tc.optim.SGD(tc.Sequential([tc.Dense(2, 2)]), lr=0.1)
    with pytest.raises(error, match="lr must be"):
        optimizer.lr = value
    assert optimizer.lr == 0.1
    optimizer.lr = np.float32(0.5)
    assert optimizer.lr == 0.5 and type(optimizer.lr) is float


def test_adam_keeps_params_finite_on_a_zero_gradient():
    model = tc.Sequential([tc.Dense(2, 2, rng=0)])
    model.layers[0].grads = {"W": np.zeros((2, 2), np.float32), "b": np.zeros(2, np.float32)}
    tc.optim.Adam(model).step()
    assert all(np.isfinite(param).all() for _, _, param, _ in model.parameters())


@pytest.mark.parametrize("grad", [[[0.0, 0.0], [0.0, 0.0]], "0", 0.0])
def test_a_gradient_that_is_no_array_is_a_type_error(grad):
    model = tc.Sequential([tc.Dense(2, 2, rng=0)])
    model.layers[0].grads = {"W": grad, "b": np.zeros(2, np.float32)}
    with pytest.raises(TypeError, match=r"grads\['W'\] must be an array of the param's shape"):
        tc.optim.SGD(model).step()


def test_a_gradient_of_the_wrong_shape_is_refused():
    model = tc.Sequential([tc.Dense(2, 2, rng=0)])
    model.layers[0].grads = {"W": np.zeros((3, 2), np.float32), "b": np.zeros(2, np.float32)}
    with pytest.raises(ValueError, match=r"grads\['W'\] must be an array of the param's shape"):
        tc.optim.SGD(model).step()


@given(
    index=st.integers(0, 5),  # W's 4 entries, then b's 2
    value=st.sampled_from([np.nan, np.inf, -np.inf]),
    make=st.sampled_from([tc.optim.SGD, tc.optim.Adam]),
)
def test_a_non_finite_gradient_is_refused_before_any_weight_changes(index, value, make):
    model = tc.Sequential([tc.Dense(2, 2, rng=0)])
    layer = model.layers[0]
    layer.grads = {"W": np.ones((2, 2), np.float32), "b": np.ones(2, np.float32)}
    name, position = ("W", index) if index < 4 else ("b", index - 4)
    layer.grads[name].reshape(-1)[position] = value
    before = {name: param.copy() for name, param in layer.params.items()}
    with pytest.raises(FloatingPointError, match=rf"grads\['{name}'\] holds NaN or infinity"):
        make(model).step()
    for name, param in layer.params.items():
        np.testing.assert_array_equal(param, before[name])


@given(
    size=st.integers(0, 70),
    dtype=st.sampled_from([np.float32, np.float64, np.float16, np.int32]),
    places=st.lists(st.tuples(st.integers(0, 69), st.sampled_from([np.nan, np.inf, -np.inf]))),
    other=st.sampled_from([0.0, -0.0, 1e-42, 3e38, -1.0]),
    layout=st.sampled_from(["C", "F", "every other"]),
)
@settings(max_examples=200, deadline=None)
def test_all_finite_is_numpys_isfinite_all(size, dtype, places, other, layout):
    """NaN or ±inf anywhere (first, last, in a vector loop's tail), among zeros of either sign,
    subnormals and the largest float32s; float16 and integers by NumPy; strided arrays too."""
    numbers = np.full(2 * size, other)
    for place, value in places:
        if place < size:
            numbers[2 * place if layout == "every other" else place] = value
    if dtype == np.int32:
        numbers = np.nan_to_num(numbers, nan=0.0, posinf=0.0, neginf=0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        array = numbers.astype(dtype)
    if layout == "every other":
        array = array[::2]
    else:
        array = array[:size]
        if layout == "F" and size % 5 == 0:
            array = np.asfortranarray(array.reshape(5, -1))
    assert updates.all_finite(array) == np.isfinite(array).all()


def test_a_step_that_overflows_the_weights_says_so():
    model = dense_with_grads(np.array([[1.0, 2.0]]), np.array([[1e300, 1.0]]))
    with pytest.raises(FloatingPointError, match=r"params\['W'\] non-finite: lower the learning"):
        with np.errstate(over="ignore"):
            tc.optim.SGD(model, lr=1e10).step()


def test_a_reassigned_param_starts_with_a_fresh_state():
    """The momentum of an array that left the model is never applied to its replacement."""
    weights, grads = np.array([[1.0, 2.0]]), np.array([[0.5, -1.0]])
    model = dense_with_grads(weights, grads)
    optimizer = tc.optim.SGD(model, lr=0.1, momentum=0.9)
    optimizer.step()
    layer = model.layers[0]
    layer.params["W"] = weights.copy()  # e.g. weights put back from elsewhere, a new array
    optimizer.step()
    np.testing.assert_allclose(layer.params["W"], weights - 0.1 * grads)  # no old velocity
    assert len(optimizer.state) == 2  # W and b: the old W's state was dropped


def test_a_replaced_layer_starts_fresh_and_the_old_state_is_dropped():
    weights, grads = np.array([[1.0, 2.0]]), np.array([[0.5, -1.0]])
    model = dense_with_grads(weights, grads)
    optimizer = tc.optim.Adam(model, lr=0.01)
    for _ in range(3):
        optimizer.step()
    model.layers[0] = dense_with_grads(weights, grads).layers[0]
    optimizer.step()  # a first Adam step again: lr times the sign of the gradient
    np.testing.assert_allclose(
        model.layers[0].params["W"], weights - 0.01 * np.sign(grads), rtol=1e-6
    )
    assert {id(param) for param, _ in optimizer.state.values()} == {
        id(param) for _, _, param, _ in model.parameters()
    }


def test_a_model_class_is_refused():
    with pytest.raises(TypeError, match="model must be a tinycnn Sequential.*the class Sequential"):
        tc.optim.SGD(tc.Sequential)


@given(
    setting=st.sampled_from(
        [(tc.optim.SGD, "momentum"), (tc.optim.Adam, "beta1"), (tc.optim.Adam, "beta2")]
    ),
    value=st.one_of(
        st.floats(allow_nan=True).filter(lambda value: not 0 <= value < 1),
        st.sampled_from(["0.9", None, True, [0.5]]),
    ),
)
def test_a_setting_changed_after_construction_is_checked_too(setting, value):
    make, name = setting
    optimizer = make(tc.Sequential([tc.Dense(2, 2)]))
    before = getattr(optimizer, name)
    with pytest.raises((TypeError, ValueError), match=rf"{name} must be a (real )?number"):
        setattr(optimizer, name, value)
    assert getattr(optimizer, name) == before
    setattr(optimizer, name, np.float32(0.5))
    assert getattr(optimizer, name) == 0.5 and type(getattr(optimizer, name)) is float


@pytest.mark.parametrize("value", [0.0, -1e-8, np.inf, np.nan])
def test_eps_changed_after_construction_is_checked_too(value):
    optimizer = tc.optim.Adam(tc.Sequential([tc.Dense(2, 2)]))
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        optimizer.eps = value
    assert optimizer.eps == 1e-8


def test_a_setting_never_set_is_missing_as_any_attribute_is():
    """A subclass that skips Optimizer.__init__ has no lr: AttributeError (so hasattr works),
    not a KeyError from inside the descriptor."""

    class Forgetful(tc.optim.SGD):
        def __init__(self, model):
            self.model = model

    optimizer = Forgetful(tc.Sequential([tc.Dense(2, 1)]))
    assert not hasattr(optimizer, "lr")
    with pytest.raises(AttributeError, match="Forgetful has no lr set"):
        optimizer.lr  # noqa: B018


def test_step_after_backward_on_another_model_says_which_model_it_steps():
    """backward ran, but on a copy of the model: "call model.backward" alone misled."""
    rng = np.random.default_rng(0)
    built_for = tc.Sequential([tc.layers.Dense(4, 2, dtype=np.float64, rng=0)])
    other = tc.Sequential([tc.layers.Dense(4, 2, dtype=np.float64, rng=0)])
    optimizer = tc.optim.SGD(built_for, lr=0.1)
    other.backward(np.ones_like(other.forward(rng.standard_normal((3, 4)))))
    with pytest.raises(ValueError, match=r"on the model this optimizer was built for"):
        optimizer.step()


def magnitudes(rng, shape, dtype):
    """Numbers of both signs over many orders of magnitude (a float32 one stays finite)."""
    decades = 12 if dtype == np.float32 else 60
    return (rng.standard_normal(shape) * 10.0 ** rng.uniform(-decades, decades / 4, shape)).astype(
        dtype
    )


one_pass_cases = {
    "dtype": st.sampled_from([np.float32, np.float64]),
    "shape": st.tuples(st.integers(2, 9), st.integers(2, 9)),
    "seed": st.integers(0, 2**16),
    "lr": st.floats(1e-6, 10.0),
    "steps": st.integers(1, 4),
}


@settings(max_examples=60, deadline=None)
@given(momentum=st.floats(0.0, 0.999), **one_pass_cases)
def test_sgd_in_one_pass_is_its_numpy_lines_to_the_last_bit(
    momentum, dtype, shape, seed, lr, steps
):
    """C-contiguous arrays take kernels/updates.py's loop, Fortran-ordered ones the NumPy lines."""
    rng = np.random.default_rng(seed)
    optimizer = tc.optim.SGD(tc.Sequential([tc.Dense(2, 2)]), lr=lr, momentum=momentum)
    one_pass = magnitudes(rng, shape, dtype)
    lines = np.asfortranarray(one_pass)
    assert updates.one_pass(one_pass, one_pass) and not updates.one_pass(lines, lines)
    one_pass_state, lines_state = {}, {}
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            grad = magnitudes(rng, shape, dtype)
            optimizer.update(one_pass, grad, one_pass_state)
            optimizer.update(lines, np.asfortranarray(grad), lines_state)
    np.testing.assert_array_equal(one_pass, lines)
    np.testing.assert_array_equal(one_pass_state["velocity"], lines_state["velocity"])


@settings(max_examples=60, deadline=None)
@given(
    beta1=st.floats(0.0, 0.999),
    beta2=st.floats(0.0, 0.9999),
    eps=st.sampled_from([1e-8, 1e-4, 1.0]),
    **one_pass_cases,
)
def test_adam_in_one_pass_is_its_numpy_lines_to_the_last_bit(
    beta1, beta2, eps, dtype, shape, seed, lr, steps
):
    rng = np.random.default_rng(seed)
    model = tc.Sequential([tc.Dense(2, 2)])
    optimizer = tc.optim.Adam(model, lr=lr, beta1=beta1, beta2=beta2, eps=eps)
    one_pass = magnitudes(rng, shape, dtype)
    lines = np.asfortranarray(one_pass)
    one_pass_state, lines_state = {}, {}
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for _ in range(steps):
            grad = magnitudes(rng, shape, dtype)
            optimizer.update(one_pass, grad, one_pass_state)
            optimizer.update(lines, np.asfortranarray(grad), lines_state)
    np.testing.assert_array_equal(one_pass, lines)
    for moment in ("m", "v"):
        np.testing.assert_array_equal(one_pass_state[moment], lines_state[moment])


def test_only_contiguous_arrays_of_the_params_dtype_and_shape_take_one_pass():
    param = np.ones((3, 2), np.float32)
    assert updates.one_pass(param, np.ones((3, 2), np.float32), np.zeros_like(param))
    assert not updates.one_pass(param, np.ones((3, 2)))  # NumPy computes this one in float64
    assert not updates.one_pass(param, np.ones((2, 3), np.float32).T)
    assert not updates.one_pass(param, np.ones(6, np.float32))
    assert not updates.one_pass(np.ones((3, 2), np.int64), np.ones((3, 2), np.int64))
    assert not updates.one_pass(np.ones((3, 2), np.float16), np.ones((3, 2), np.float16))


def test_a_float16_weight_put_in_by_hand_steps_as_numpy_steps_it():
    model = tc.Sequential([tc.Dense(2, 2, rng=0)])
    layer = model.layers[0]
    layer.params["W"] = layer.params["W"].astype(np.float16)
    layer.grads = {"W": np.ones((2, 2), np.float16), "b": np.ones(2, np.float32)}
    expected = layer.params["W"] - np.float16(0.1)
    tc.optim.SGD(model, lr=0.1).step()
    np.testing.assert_array_equal(layer.params["W"], expected)
