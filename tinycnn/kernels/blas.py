"""NumPy's matrix product, as dense.py, pointwise_blas.py and winograd.py call it.

They call `matmul`, which is `np.matmul` (NumPy's BLAS, on one thread as tinycnn keeps it:
runtime.py) except over an axis of length 1. There a (..., M, 1) @ b (..., 1, N) is an outer
product: each number of the result is one multiplication, a[..., i, 0] * b[..., 0, j], and
NumPy's matmul took several times longer over it than over an axis of length 2. The dense
layer's weight gradient for one sample (lesson 4's 2048 -> 128 layer at batch 1), xᵀ (2048, 1)
@ dout (1, 128), took 0.41 ms, against 0.06 ms for (2048, 2) @ (2, 128) and 0.10 ms as a
broadcast multiplication; (64, 1) @ (1, 2048) 0.20 against 0.05 ms (medians of 200 calls, 2-core
AMD EPYC Zen 2, CPU family 23, numpy 2.4.6). So `matmul` multiplies there.

The numbers are the same products. Only a zero's sign can differ: BLAS adds each product to a
zero, so a product of -0.0 comes out as 0.0, while the multiplication keeps -0.0.
"""

import numpy as np


def matmul(a, b, out=None):
    """np.matmul(a, b, out=out); over an axis of length 1, the same products by broadcasting,
    a (..., M, 1) * b (..., 1, N), which broadcasts the stacks of products and fills or refuses
    an out as np.matmul does. Anything else, a 1-d operand or axes that do not match included,
    goes to np.matmul, which raises its own ValueError where the shapes do not fit."""
    if a.ndim >= 2 and b.ndim >= 2 and a.shape[-1] == 1 == b.shape[-2]:
        return np.multiply(a, b, out=out)
    return np.matmul(a, b, out=out)
