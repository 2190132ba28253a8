"""The dense layer's matrix products, on both cores.

Dense (layers.py) computes, with x (N, in), W (in, out), b (out,) and dout (N, out):

    forward:   out = x @ W + b
    backward:  dW = xᵀ @ dout,   db = Σ_n dout[n],   dx = dout @ Wᵀ

NumPy's BLAS runs on one thread in tinycnn (runtime.py: a spinning two-thread BLAS beside
numba's threads stalled both), so each product alone would use one core. Here each is cut in two
halves that share no output, run side by side (threads.side_by_side), BLAS on one thread in
each, where the work pays for waking the other thread (threads.worth_a_thread); smaller products
stay whole. Whether and where a product is cut depends on the shapes alone, so the numbers do
not depend on how many threads there are.

The forward pass is cut by samples (out's rows). Lesson 4's 2048 -> 128 layer at batch 64
(2-core AMD EPYC Zen 4, CPU family 25; medians of 400 calls, three runs): 0.265 ms against
0.353-0.373 ms whole.

The backward pass is cut by input features: dW's rows and dx's columns, so each half reads half
of W. The same layer at batch 64, cut against whole (Zen 4, as above): 0.550-0.576 ms against
0.830-0.850 ms, with dx cut by samples, each half reading all of W. Cut by features against
that (2-core AMD EPYC Zen 2, CPU family 23; seven processes each, taking turns, medians of 400
calls): 0.226 against 0.252 ms at batch 16, 0.474 against 0.503 ms at batch 64. At batch 1,
too little work to cut, dW is blas.matmul's outer product, and the backward pass took 0.136
against 0.449 ms.
"""

import numpy as np

from tinycnn.kernels import arguments, blas
from tinycnn.kernels.threads import side_by_side, worth_a_thread


def dense_forward(x, weights, bias):
    """out (N, out) = x @ weights + bias, for x (N, in), weights (in, out), bias (out,) of one
    float dtype."""
    x, weights, bias = arguments.dense_forward(x, weights, bias)
    n_samples = x.shape[0]
    out = np.empty((n_samples, weights.shape[1]), x.dtype)
    if worth_a_thread(x.size * weights.shape[1]):
        half = n_samples // 2
        side_by_side(
            lambda: blas.matmul(x[:half], weights, out=out[:half]),
            lambda: blas.matmul(x[half:], weights, out=out[half:]),
        )
    else:
        blas.matmul(x, weights, out=out)
    out += bias
    return out


def dense_backward(x, dout, weights, input_grad=True):
    """(dweights (in, out), dbias (out,), dx (N, in) or None if not input_grad) for the
    forward pass of x (N, in) by weights (in, out), from dout (N, out); one float dtype."""
    x, dout, weights, input_grad = arguments.dense_backward(x, dout, weights, input_grad)
    in_features = x.shape[1]
    dweights = np.empty_like(weights)
    dx = np.empty_like(x) if input_grad else None

    def products(features):  # dweights' rows and dx's columns for these input features
        blas.matmul(x[:, features].T, dout, out=dweights[features])
        if input_grad:
            blas.matmul(dout, weights[features].T, out=dx[:, features])

    if worth_a_thread(x.size * weights.shape[1] * (2 if input_grad else 1)):
        half = in_features // 2
        side_by_side(lambda: products(slice(0, half)), lambda: products(slice(half, None)))
    else:
        products(slice(None))
    return dweights, dout.sum(axis=0), dx
