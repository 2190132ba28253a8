"""Which road a convolution takes, by its shapes alone: the one choice Conv2D (and the
benchmarks, timing what Conv2D runs) makes between three kernels that compute the same function,
equal to rounding.

- 3x3 kernels, stride 1, padding 1, even sides, on maps of 8x8 or less or with many channels
  (their harmonic mean at least 12): Winograd's algorithm (winograd.py), F(4x4, 3x3) on maps
  of 8x8 and up whose sides are multiples of 4, F(2x2, 3x3) on the others;
- maps of 8x8 or less, 1x1 kernels, stride 1, no padding: one matrix product per sample
  (pointwise_blas.py);
- everything else: numba's direct loops over batch planes (conv.py).

Shapes alone, never a timing: the roads round differently, and a network's numbers must not
depend on how fast the machine ran its first calls (benchmarks/README.md, "Measured, and not
kept", has the measurements behind each road's bounds).
"""

from tinycnn.kernels import conv, pointwise_blas, winograd


def conv2d_forward(x, weights, bias, stride, padding):
    """(out, kept): out as conv.conv2d_forward computes it, by the road for these shapes, and
    what that road's backward reads (Winograd's tiles, the 1x1 products' input, or x's batch
    planes: None where the direct loops lay out none)."""
    road = (x.shape, weights.shape, stride, padding)
    if winograd.chosen_for(*road):
        return winograd.winograd_forward(x, weights, bias)
    if pointwise_blas.chosen_for(*road):
        return pointwise_blas.pointwise_forward(x, weights, bias)
    return conv.conv2d_forward(x, weights, bias, stride, padding, keep_planes=True)


def conv2d_backward(x, dout, weights, stride, padding, kept, input_grad=True):
    """(dx or None, dweights, dbias) by the road conv2d_forward took, kept being what it
    returned; x may be its shape alone where kept stands for it (not None)."""
    if isinstance(kept, winograd.Tiles):
        return winograd.winograd_backward(dout, kept, input_grad)
    if isinstance(kept, pointwise_blas.Inputs):
        return pointwise_blas.pointwise_backward(dout, kept, weights, input_grad)
    return conv.conv2d_backward(x, dout, weights, stride, padding, kept, input_grad)
