"""Gradient checking: hold a hand-written backward pass against central finite differences.

The numerical gradient of a scalar function f at x, one entry at a time:

    df/dx_i  ≈  (f(x + h e_i) - f(x - h e_i)) / (2h)

Its error is O(h²), so in float64 with h = 1e-6 a correct backward pass agrees to about 1e-8
in relative error; a wrong one is off by order 1.
"""

import numpy as np


def numerical_gradient(f, x, h=1e-6):
    """Central-difference gradient of the scalar function `f()` with respect to the array `x`.

    `f` takes no arguments and reads `x` itself (usually through a layer's params or a closure),
    so `x` is nudged in place, one entry at a time, and restored afterwards.
    Returns an array shaped like `x`.
    """
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        raise TypeError(
            f"x must be a float64 numpy array (float32 is too coarse for h={h}), got "
            f"{type(x).__name__} of dtype {getattr(x, 'dtype', None)}"
        )
    grad = np.zeros_like(x)
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat_x, x):
        raise ValueError("x must be reshapeable without a copy, so that nudging it reaches f")
    for i in range(flat_x.size):
        original = flat_x[i]
        flat_x[i] = original + h
        f_plus = f()
        flat_x[i] = original - h
        f_minus = f()
        flat_x[i] = original
        flat_grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def rel_error(analytic, numeric):
    """Relative error of two gradients over the whole array, as in the course:

        ||analytic - numeric|| / (||analytic|| + ||numeric||)

    0 when both are zero. Below 1e-7 is right in float64; above 1e-3 something is wrong.
    """
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise ValueError(
            f"analytic and numeric must have the same shape, got {analytic.shape} "
            f"and {numeric.shape}"
        )
    scale = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    return float(np.linalg.norm(analytic - numeric) / scale) if scale > 0 else 0.0


def check_gradients(module, x, seed=0, h=1e-6):
    """Check a layer's (or a whole model's) backward pass against numerical gradients.

    The scalar checked is f = sum(forward(x) * R) for a fixed random R, so that dL/dout = R and
    every output entry counts. `module` is a layer or a Sequential in float64 (anything with
    forward, backward and parameters()). Returns {"x": error, "<Layer>[i].<name>": error, ...},
    the relative errors of dL/dx and of each parameter's gradient.
    """
    x = np.array(x, dtype=np.float64)
    out = module.forward(x)
    upstream = np.random.default_rng(seed).standard_normal(out.shape)
    analytic_dx = module.backward(upstream)

    def weighted_output():
        return np.sum(module.forward(x) * upstream)

    errors = {"x": rel_error(analytic_dx, numerical_gradient(weighted_output, x, h))}
    layers_seen = []
    for layer, name, param, grad in list(module.parameters()):
        if layer not in layers_seen:
            layers_seen.append(layer)
        label = f"{type(layer).__name__}[{len(layers_seen) - 1}].{name}"
        errors[label] = rel_error(grad, numerical_gradient(weighted_output, param, h))
    return errors
