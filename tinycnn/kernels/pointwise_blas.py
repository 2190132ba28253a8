"""1x1 convolutions on small maps as matrix products (NumPy's BLAS, or winograd_products.py's).

In NCHW memory each sample already holds its channels as a matrix x[n] (C_in, H*W), so a 1x1
convolution (stride 1, no padding) is one matrix product per sample, and so are its gradients:

    out[n] = W (C_out, C_in) @ x[n] + b      dx[n] = Wᵀ @ dout[n]
    dW = Σ_n dout[n] @ x[n]ᵀ                 db = Σ_{n, q} dout[n, :, q]

`blas.matmul` runs the products sample by sample through NumPy's BLAS, on one thread as tinycnn
keeps it (runtime.py). numba's pointwise loops (`taps.pointwise`) do the same sums over runs of
H*W numbers, on two threads; on a small map those runs are short, and waking the second thread
costs more than it saves. Measured on a 2-core AMD EPYC Zen 4 (CPU family 25), medians of 200
calls, the loops against these products: the detector's head (32, 128, 4, 4) -> 16 forward 0.108
against 0.028 ms, backward 0.319 against 0.090 ms; (32, 128, 8, 8) -> 16: 0.158 against 0.086 ms
and 0.439 against 0.331 ms; (64, 64, 17, 17) -> 8 (lesson 7's convolutionalized head): 0.246
against 0.247 ms and 0.836 against 0.826 ms. So Conv2D takes these products for maps of at most
MAX_PIXELS pixels, the loops above that. tests/test_pointwise_blas.py holds both to the
lecture's loops (reference.py).

In float32 on AVX-512, where NumPy's BLAS runs no AVX-512 kernel (winograd_products.chosen_for),
the products out[n] and dx[n] are winograd_products.py's loop instead, its sums in registers,
all samples in one call, the weights shared. This project's machines hold NumPy's OpenBLAS to
its AVX2 kernel (OPENBLAS_CORETYPE=Haswell); there the forward of (32, 128, 8, 8) -> 16 took
0.057 against 0.105 ms, of the 4x4 head 0.022 against 0.035 ms (1.53x and 1.43x in a second,
busier process), the backward 0.193 against 0.223 ms and 0.072 against 0.078 (two threads, two
packages taking turns call by call in one process, medians of 100 calls; 2-core AMD EPYC Zen
5, CPU family 26). Against OpenBLAS's SkylakeX kernel the loop's forward was 0.77x-1.04x as
fast. The weight gradient stays NumPy's.
"""

from typing import NamedTuple

import numpy as np

from tinycnn.kernels import arguments, blas, winograd_products

MAX_PIXELS = 64
"""The largest map (H * W) Conv2D computes a 1x1 convolution of this way: 8x8."""


def chosen_for(x_shape, weights_shape, stride, padding):
    """Whether Conv2D computes its convolution of images of x_shape (N, C, H, W) by weights of
    weights_shape (C_out, C, k, k) this way: a 1x1 kernel, stride 1, no padding, H * W at most
    MAX_PIXELS, and a batch."""
    _, _, height, width = x_shape
    return (
        (weights_shape[2], stride, padding) == (1, 1, 0)
        and height * width <= MAX_PIXELS
        and x_shape[0] > 0
    )


class Inputs(NamedTuple):
    """What pointwise_forward keeps for the backward pass: the input x (N, C_in, H, W)."""

    x: np.ndarray


def pointwise_forward(x, weights, bias):
    """(out (N, C_out, H, W), Inputs(x)): the 1x1 convolution of x (N, C_in, H, W) with
    weights (C_out, C_in, 1, 1) and bias (C_out,)."""
    x, weights, bias = arguments.pointwise_forward(x, weights, bias)
    n_samples, channels, height, width = x.shape
    n_out = weights.shape[0]
    out = np.empty((n_samples, n_out, height * width), x.dtype)
    _multiply(weights.reshape(n_out, channels), x.reshape(n_samples, channels, -1), out)
    out += bias[:, None]
    return out.reshape(n_samples, n_out, height, width), Inputs(x)


def pointwise_backward(dout, kept, weights, input_grad=True):
    """(dx or None, dweights, dbias) from dout (N, C_out, H, W), pointwise_forward's Inputs and
    the weights."""
    dout, x, weights, input_grad = arguments.pointwise_backward(dout, kept, weights, input_grad)
    n_samples, channels = x.shape[:2]
    n_out = weights.shape[0]
    dout_rows = dout.reshape(n_samples, n_out, -1)
    x_rows = x.reshape(n_samples, channels, -1)
    dweights = blas.matmul(dout_rows, x_rows.transpose(0, 2, 1)).sum(axis=0)
    dx = None
    if input_grad:
        dx = np.empty(x.shape, x.dtype)
        _multiply(weights.reshape(n_out, channels).T, dout_rows, dx.reshape(x_rows.shape))
    return dx, dweights.reshape(weights.shape), dout_rows.sum(axis=(0, 2))


def _multiply(matrix, samples, out):
    """out[n] = matrix (M, K) @ samples[n] (K, P) for every sample n, samples and out
    C-contiguous (N, K, P) and (N, M, P): winograd_products.py's loop, its sums in registers,
    where it is chosen (float32 on AVX-512), one NumPy product per sample elsewhere."""
    if winograd_products.chosen_for(matrix.dtype):
        winograd_products.multiply_planes(
            np.ascontiguousarray(matrix)[None],
            samples.reshape(len(samples), -1),
            samples.shape[2],
            0,
            out.reshape(len(out), -1),
            out.shape[2],
            out.shape[2],
        )
    else:
        blas.matmul(matrix, samples, out=out)
