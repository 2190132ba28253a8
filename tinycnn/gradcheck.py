"""Gradient checking: hold a hand-written backward pass against central finite differences.

The numerical gradient of a scalar function f at x, one entry at a time:

    df/dx_i  ≈  (f(x + h e_i) - f(x - h e_i)) / (2h)

Its error is O(h²), so in float64 with h = 1e-6 a correct backward pass agrees to about 1e-8
in relative error; a wrong one is off by order 1. A gradient holding NaN or an infinity is wrong
whatever the other one says: its relative error is inf, so it never passes a tolerance.
"""

import math

import numpy as np

from tinycnn.checks import non_negative_int, one_number, real_array, real_number


def numerical_gradient(f, x, h=1e-6):
    """Central-difference gradient of the scalar function `f()` with respect to the array `x`.

    `f` takes no arguments and reads `x` itself (usually through a layer's params or a closure),
    so `x` (float64, finite) is nudged in place, one entry at a time, and restored afterwards. `h`
    is the step, a finite number > 0. Returns an array shaped like `x`.
    """
    if not callable(f):
        raise TypeError(f"f must be a function of no arguments returning a number, got {f!r}")
    h = real_number(h, "h", low=0.0, low_open=True)
    _check_float64(x, "x")
    if not np.isfinite(x).all():
        raise ValueError("x must be finite: a difference quotient at NaN or infinity means nothing")
    grad = np.zeros_like(x)
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)
    if x.size and not np.shares_memory(flat_x, x):  # an empty array shares no memory at all
        raise ValueError("x must be reshapeable without a copy, so that nudging it reaches f")
    for i in range(flat_x.size):
        original = flat_x[i]
        try:
            flat_x[i] = original + h
            f_plus = _scalar(f())
            flat_x[i] = original - h
            f_minus = _scalar(f())
        finally:
            flat_x[i] = original
        flat_grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def rel_error(analytic, numeric):
    """Relative error of two gradients over the whole array, as in the course:

        ||analytic - numeric|| / (||analytic|| + ||numeric||)

    0 when both are zero. Below 1e-7 is right in float64; above 1e-3 something is wrong. inf when
    either holds a NaN or an infinity: a non-finite gradient never passes a tolerance.
    """
    analytic = real_array(analytic, "analytic")
    numeric = real_array(numeric, "numeric")
    if analytic.shape != numeric.shape:
        raise ValueError(
            f"analytic and numeric must have the same shape, got {analytic.shape} "
            f"and {numeric.shape}"
        )
    if not (np.isfinite(analytic).all() and np.isfinite(numeric).all()):
        return math.inf
    scale = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    if scale == 0:
        return 0.0
    error = float(np.linalg.norm(analytic - numeric) / scale)
    return error if math.isfinite(error) else math.inf  # norms beyond float64's range


def check_gradients(module, x, seed=0, h=1e-6):
    """Check a layer's (or a whole model's) backward pass against numerical gradients.

    The scalar checked is f = sum(forward(x) * R) for a fixed random R (drawn from `seed`, an
    int >= 0), so that dL/dout = R and every output entry counts. `module` is a layer or a
    Sequential whose parameters are float64 (anything with forward, backward and parameters());
    x (finite, not empty) is converted to float64. Returns {"x": error, "<Layer>[i].<name>": error,
    ...}, the relative errors of dL/dx and of each parameter's gradient; inf for a gradient that
    is not finite.

    Random layers: the numerical gradient runs forward twice per entry, and a Dropout layer in
    training mode draws a new mask each time, so the differences would compare different
    functions and call a right backward wrong (an error near 1). The check therefore freezes
    the module's randomness: before every forward it puts each layer's random generator (its
    `rng`) back in the state it had, so every forward drops the same units, and the training
    backward (the mask, the 1 / (1 - p) scaling) is what gets checked. The generators are left
    as they were found. A forward that still gives two answers for one x (randomness from
    elsewhere, e.g. np.random's global functions) is refused with a ValueError: put the module
    in evaluation mode (model.eval()) or check its layers without the random ones.

    Kinks: where the function is not differentiable, the two sides of a central difference see
    different slopes, and a large error there is no bug. A ReLU (or LeakyReLU) input at exactly 0
    (or within h of it) and a max-pool window whose maximum is tied are such points: a ReLU of
    zeros gives 1.0, a 2x2 window of equal values 0.5, [0, 1, -1] through ReLU 0.23. Random
    inputs (standard normal) meet a kink with probability 0; inputs of round numbers (zeros,
    integers, repeated values) hit them, so check with random x.
    """
    for method in ("forward", "backward", "parameters"):
        if not callable(getattr(module, method, None)):
            raise TypeError(
                f"module must be a tinycnn layer or Sequential (with forward, backward and "
                f"parameters), got {type(module).__name__}"
            )
    x = real_array(x, "x")
    if not np.isfinite(x).all():
        raise ValueError("x must be finite: a gradient at NaN or infinity cannot be checked")
    if x.size == 0:
        raise ValueError(
            f"x must hold at least one number, got shape {x.shape}: an empty batch checks nothing"
        )
    seed = non_negative_int(seed, "seed")
    h = real_number(h, "h", low=0.0, low_open=True)
    for label, param, _ in _labelled_parameters(module):
        _check_float64(
            param,
            label,
            hint="build the layer (or tinycnn.networks' network) with dtype=np.float64",
        )

    generators = _random_generators(module)
    states = [generator.bit_generator.state for generator in generators]

    def forward():
        """module.forward(x), every random generator of the module back at its first state."""
        for generator, state in zip(generators, states, strict=True):
            generator.bit_generator.state = state
        return module.forward(x)

    try:
        out = forward()
        if not np.array_equal(out, forward(), equal_nan=True):
            raise ValueError(
                f"module ({type(module).__name__}) gives a different output at each forward of "
                "the same x, so central differences would compare different functions: put it "
                "in evaluation mode (model.eval(), or layer.training = False) or check the "
                "layers without the random ones (Dropout)"
            )
        upstream = np.random.default_rng(seed).standard_normal(np.shape(out))
        analytic_dx = module.backward(upstream)
        _check_gradient_shape(analytic_dx, x, "module.backward(dout)", "x")
        parameters = _labelled_parameters(module)  # with the grads backward just left

        def weighted_output():
            return np.sum(forward() * upstream)

        errors = {"x": rel_error(analytic_dx, numerical_gradient(weighted_output, x, h))}
        for label, param, grad in parameters:
            _check_gradient_shape(grad, param, f"{label}'s gradient", label)
            errors[label] = rel_error(grad, numerical_gradient(weighted_output, param, h))
    finally:
        for generator, state in zip(generators, states, strict=True):
            generator.bit_generator.state = state
    return errors


def _random_generators(module):
    """The numpy Generators held by module or its layers (a Dropout's `rng`), each once."""
    generators = []
    for owner in [module, *getattr(module, "layers", [])]:
        for value in getattr(owner, "__dict__", {}).values():
            if isinstance(value, np.random.Generator) and all(value is not g for g in generators):
                generators.append(value)
    return generators


def _labelled_parameters(module):
    """[("<Layer>[i].<name>", param, grad), ...]: i counts the layers that have parameters."""
    labelled, layers_seen = [], []
    for layer, name, param, grad in list(module.parameters()):
        if not any(layer is seen for seen in layers_seen):
            layers_seen.append(layer)
        labelled.append((f"{type(layer).__name__}[{len(layers_seen) - 1}].{name}", param, grad))
    return labelled


def _check_float64(array, name, hint=None):
    if not isinstance(array, np.ndarray) or array.dtype != np.float64:
        hint = f"; {hint}" if hint else ""
        raise TypeError(
            f"{name} must be a float64 numpy array (float32 is too coarse for central "
            f"differences), got {type(array).__name__} of dtype "
            f"{getattr(array, 'dtype', None)}{hint}"
        )


def _check_gradient_shape(grad, like, what, name):
    if not isinstance(grad, np.ndarray):
        raise TypeError(
            f"{what} must be an array shaped like {name}, {like.shape}, got {type(grad).__name__}"
        )
    if grad.shape != like.shape:
        raise ValueError(
            f"{what} must be an array shaped like {name}, {like.shape}, got {grad.shape}"
        )


def _scalar(value):
    """f's result as a float: f must return one real number (a size-1 array will do)."""
    number = one_number(value)
    if number is None:
        raise TypeError(
            f"f must return one real number (the scalar being differentiated), got "
            f"{type(value).__name__}"
            + (f" of shape {value.shape}" if hasattr(value, "shape") else "")
        )
    return number
