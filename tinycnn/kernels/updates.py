"""The optimizers' updates (optim.py), each in one pass over a parameter's numbers.

optim.SGD and optim.Adam write their updates as NumPy lines, the lecture's formulas, and NumPy
runs each line as a pass over the whole array, most of them writing a temporary array: SGD's
three lines are four passes, Adam's eight lines a dozen. Here each update is one numba loop that
does the same operations in the same order, in the parameter's dtype, with each setting first
rounded to that dtype, as NumPy rounds a Python float that meets a float32 array: the same
numbers, bit for bit (tests/test_optim.py holds them equal). optim.py takes these loops where
`one_pass` says they fit, and its own NumPy lines elsewhere.

Compiled with error_model="numpy": by default numba checks every division for a zero divisor,
to raise Python's ZeroDivisionError, and that test kept LLVM from vectorizing Adam's loop: 1.07
ms against 0.13 ms for a loop of its divisions and square root over 262,144 float32 numbers
(lesson 4's largest parameter), where NumPy's lines take 0.42 ms. No check is lost: a zero
divisor gives inf or NaN, as in NumPy, and the optimizer refuses a step that leaves a weight
non-finite.

optimizer.step() within lesson 4's training step (its network, batch 64; the NumPy lines and
these loops taking turns 20 steps at a time, 20 rounds, two processes each; 2-core AMD EPYC
Zen 4, CPU family 25): Adam 0.61-0.64 ms against 1.19-1.23 ms, SGD with momentum 0.41-0.47 ms
against 0.48-0.52 ms. SGD's three lines were already close to what memory allows; the rest of
either step is checking every gradient and weight for NaN and inf, which `all_finite` does in
one pass each.
"""

import numpy as np
from numba import njit


def one_pass(param, *arrays):
    """True where the loops fit: param float32 or float64, and it and every other array
    (gradient, state) C-contiguous, of param's shape and dtype. (A gradient of another dtype
    takes NumPy's lines, which compute in the wider of the two dtypes; so does a weight of
    another dtype a learner put in a layer's params.)"""
    if not param.flags.c_contiguous or param.dtype not in (np.float32, np.float64):
        return False
    return all(
        array.flags.c_contiguous and array.dtype == param.dtype and array.shape == param.shape
        for array in arrays
    )


def all_finite(array):
    """Whether array holds no NaN and no infinity: np.isfinite(array).all(), in one pass without
    the array of bools np.isfinite writes first (float32 and float64; other dtypes by NumPy).
    The optimizer checks every gradient before a step and every weight after it with this:
    optimizer.step() within lesson 4's training step on two threads (SGD with momentum, 10
    parameters) took 0.324 against 0.382 ms at batch 16, 0.419 against 0.491 ms at batch 64,
    with np.isfinite (medians of 120 steps, eight processes each, taking turns; 2-core AMD EPYC
    Zen 2, CPU family 23). Compiling it adds about 0.1 s to a cold start."""
    if array.dtype not in (np.float32, np.float64):
        return bool(np.isfinite(array).all())
    return _all_finite(array.reshape(-1))


def sgd_update(param, grad, velocity, lr, momentum):
    """velocity = velocity * momentum - lr * grad; param += velocity, in place, as SGD.update's
    NumPy lines compute them (arrays as `one_pass` requires)."""
    number = param.dtype.type
    _sgd(param.reshape(-1), grad.reshape(-1), velocity.reshape(-1), number(lr), number(momentum))


def adam_update(param, grad, m, v, lr, beta1, beta2, eps, t):
    """Adam's step t (from 1) in place on param, m and v, as Adam.update's NumPy lines compute it
    (arrays as `one_pass` requires)."""
    number = param.dtype.type
    _adam(
        param.reshape(-1),
        grad.reshape(-1),
        m.reshape(-1),
        v.reshape(-1),
        number(lr),
        number(beta1),
        number(beta2),
        number(1 - beta1),
        number(1 - beta2),
        number(1 - beta1**t),
        number(1 - beta2**t),
        number(eps),
    )


@njit(cache=True, error_model="numpy")
def _sgd(param, grad, velocity, lr, momentum):
    for i in range(param.shape[0]):
        step = velocity[i] * momentum
        step = step - lr * grad[i]
        velocity[i] = step
        param[i] = param[i] + step


@njit(cache=True, error_model="numpy")
def _adam(param, grad, m, v, lr, beta1, beta2, one_less_beta1, one_less_beta2, bias1, bias2, eps):
    for i in range(param.shape[0]):
        g = grad[i]
        moment = m[i] * beta1 + one_less_beta1 * g
        square = v[i] * beta2 + one_less_beta2 * g * g
        m[i] = moment
        v[i] = square
        param[i] = param[i] - lr * (moment / bias1) / (np.sqrt(square / bias2) + eps)


@njit(cache=True, error_model="numpy")
def _all_finite(numbers):
    # x - x is 0 for every finite x and NaN for NaN and ±inf. An "or" of the tests, not an early
    # exit, so that LLVM vectorizes the loop.
    non_finite = False
    for i in range(numbers.shape[0]):
        non_finite |= numbers[i] - numbers[i] != 0
    return not non_finite
