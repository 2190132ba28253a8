"""ReLU kernels: forward and backward in one parallel pass each.

Same names, signatures and results as reference.py:

    out = max(0, x)   (a NaN stays NaN, so a diverging network shows it)
    dx  = dout where out > 0, else 0

NumPy needs two passes on one thread for each (a mask, then the product); on lesson 4's first
activation (64 x 8 x 64 x 64) these single passes on both cores are several times faster.
"""

import numpy as np
from numba import njit, prange

from tinycnn.kernels import arguments
from tinycnn.kernels.threads import threads_if_faster
from tinycnn.runtime import one_at_a_time


@threads_if_faster
@njit(cache=True, parallel=True)
def _relu_forward(x, out):
    for index in prange(x.size):
        value = x[index]
        out[index] = 0 if value <= 0 else value  # "not > 0" would turn a NaN into 0


@threads_if_faster
@njit(cache=True, parallel=True)
def _relu_backward(dout, out, dx):
    for index in prange(dout.size):
        dx[index] = dout[index] if out[index] > 0 else 0


@one_at_a_time
def relu_forward(x):
    """x (any shape, float) -> max(0, x), a new array."""
    x = arguments.relu_forward(x)  # C order: a Fortran-order out would reshape into a copy
    out = np.empty_like(x)
    _relu_forward(x.reshape(-1), out.reshape(-1))
    return out


@one_at_a_time
def relu_backward(dout, out):
    """dL/dout and the forward output -> dL/dx = dout where out > 0, else 0; a new array."""
    dout, out = arguments.relu_backward(dout, out)
    dx = np.empty_like(dout)
    _relu_backward(dout.reshape(-1), out.reshape(-1), dx.reshape(-1))
    return dx
