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

`avx512_kernel` says whether NumPy's BLAS runs AVX-512 code: OpenBLAS picks a kernel for the
CPU it finds, unless the environment names one (OPENBLAS_CORETYPE; this project's machines set
Haswell, AVX2, on CPUs with AVX-512). winograd_products.py's loop takes over the products where
it does not.
"""

import functools

import numpy as np

AVX512_KERNELS = ("skylakex", "cooperlake", "sapphirerapids")
"""OpenBLAS's kernels for x86 CPUs with AVX-512 (its names, as threadpoolctl reports them). On
AMD's Zen 4 and Zen 5 OpenBLAS 0.3.31 chooses SkylakeX; its Zen kernel is AVX2."""


def matmul(a, b, out=None):
    """np.matmul(a, b, out=out); over an axis of length 1, the same products by broadcasting,
    a (..., M, 1) * b (..., 1, N), which broadcasts the stacks of products and fills or refuses
    an out as np.matmul does. Anything else, a 1-d operand or axes that do not match included,
    goes to np.matmul, which raises its own ValueError where the shapes do not fit."""
    if a.ndim >= 2 and b.ndim >= 2 and a.shape[-1] == 1 == b.shape[-2]:
        return np.multiply(a, b, out=out)
    return np.matmul(a, b, out=out)


@functools.cache
def avx512_kernel():
    """True where NumPy's BLAS is OpenBLAS running one of AVX512_KERNELS, or a BLAS that does
    not name its kernel to threadpoolctl (MKL, say: trusted to choose for its CPU); False for
    OpenBLAS running any other. Asked once (threadpoolctl's look at the loaded libraries, about
    1 ms), at the first float32 product that could take winograd_products.py's loop."""
    from threadpoolctl import threadpool_info

    for pool in threadpool_info():
        if pool["user_api"] == "blas" and pool["internal_api"] == "openblas":
            return str(pool.get("architecture", "")).lower() in AVX512_KERNELS
    return True
