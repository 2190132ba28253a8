"""The hot loops of tinycnn, as a ladder: each rung computes the same numbers, faster.

1. `reference.py`: the lecture's loops, over images, filters and output pixels. Read these first;
   every other kernel is tested equal to them (tests/test_kernels.py).
2. `im2col.py`: the NumPy way (CS231n): copy every window into a column of one matrix, then one
   matrix product. Faster, but it copies the input k*k times. The benchmarks' NumPy peer.
3. The numba kernels the layers call, in the order a reader follows an image:
   `conv.py` (what each pass computes) -> `layout.py` (where every number lives: the batch
   planes, their geometry, the tuning constants) -> back in `conv.py`, the one return -> `taps.py`
   (the two loops that do the arithmetic; `in_registers.py`, the forward loop again, for the
   shapes where its sums stay in registers). `pool.py`, `activation.py` and `batchnorm.py` stand
   alone, and so do `dense.py` (the dense layer's products in NumPy's BLAS, called through
   `blas.py` as `winograd.py`'s and `pointwise_blas.py`'s are, except where
   `winograd_products.py` computes theirs: float32 on AVX-512, where NumPy's BLAS runs no
   AVX-512 kernel) and `updates.py` (the
   optimizers' updates, each in one pass). `threads.py` wraps every kernel that can use
   several cores (the convolution's loops in `taps.py`, `layout.py` and `conv_pool.py`, and
   those of `pool.py`, `activation.py`, `batchnorm.py` and `batchnorm_pool.py`): each computes
   one part of its work, and runs in parts on Python threads only where the first calls with
   that shape measured it faster than one core (a shape one core finishes in under 20 µs stays
   there untried).

`Conv2D.forward` calls `conv.conv2d_forward` (through `roads.conv2d_forward`), which asks
`layout.py` for the geometry and the planes, then hands them to `taps.correlate`, whose innermost
loop is `taps._accumulate` (or, on AVX-512, in float32 with whole blocks of 8 output channels and
18 taps or more, to `in_registers.correlate_in_registers`: the same sums, held in registers).
With stride 1, where the threads' parts can take whole samples, evenly or nearly, the two
steps are one pass: the loop (`taps.correlate` or `correlate_in_registers`) is handed the images
and lays out each sample just before it reads it.
`Conv2D.backward` takes the same path through `conv2d_backward`, which computes what
`conv2d_backward_input` (via `layout.phase_geometry` to `taps.correlate`) and
`conv2d_backward_params` (to `taps.tap_grads`) compute, laying dout out once for both where both
read it on the same grid (stride 1, output channels in whole blocks of 4). A 1x1 convolution with
stride 1 and no padding skips layout.py: NCHW memory is already its layout (`taps.pointwise`).
Conv2D takes two other roads where they are faster (`roads.py` chooses, by shapes alone). A
3x3 convolution with stride 1 and padding 1 (even sides) goes through `winograd.py` on maps of
8x8 or less, where the padding costs the tap loops a third of their work and more, and on larger
maps with many channels, where its 16 multiplications per 2x2 outputs instead of 36 outweigh its
transforms (on maps of 8x8 and up whose sides are multiples of 4, 36 per 4x4 outputs instead of
144: `winograd_f4.py`). A 1x1 convolution on a map of 8x8 or less goes through
`pointwise_blas.py`, one matrix product per sample: its runs of H*W numbers are too short
for the loops and their threads.
`ConvReLUMaxPool2D` (lesson 4's blocks) takes a fourth road wherever its convolution has stride
1 and its pooling is 2x2, Winograd's shapes included: `conv_pool.py`, the direct loops, with
`taps.correlate` pooling its sums (and applying the ReLU) as they leave the accumulators, and a
backward that unpools dout straight into the planes `conv.backward_from_planes` reads (in a
network's first layer, which needs no input gradient, into the weight gradient's own blocks).

How a tap offset works
----------------------
A 3x3 image, padding 1, a 3x3 kernel. `layout.batch_planes` writes the image into one flat
"plane", each row followed by one zero (width 4), with zeros before it (the lead) and a zero row
after it:

    image      index  0 1 2 3 4 | 5 6 7 8 | 9 10 11 12 | 13 14 15 16 | 17 18 19 20
    a b c      plane  0 0 0 0 0 | a b c 0 | d  e  f  0 | g  h  i  0  | 0  0  0  0
    d e f             lead      | row 0   | row 1      | row 2       | zero row
    g h i

Output pixel (i, j) gets the number q = 4*i + j (q = 0 ... 11; q = 3, 7, 11 land on the zero
column and are thrown away). Its window's tap (di, dj) reads plane[q + offset], with one fixed
offset per tap, the same for every output:

    offset(di, dj) = lead + (di - 1)*4 + (dj - 1):     0  1  2
                                                       4  5  6
                                                       8  9 10

    output (0, 0), q = 0: plane[0 1 2 | 4 5 6 | 8 9 10]    = 0 0 0 | 0 a b | 0 d e
    output (1, 2), q = 6: plane[6 7 8 | 10 11 12 | 14 15 16] = b c 0 | e f 0 | h i 0

So the whole convolution is: for every tap t, out[q] += w[t] * plane[q + offset[t]] for all q
at once, a long run of consecutive loads and multiply-adds, which the CPU's vector units eat.
The zero after each row is the right padding of its row and the left padding of the next; the
zero row is the bottom padding of one image and the top padding of the next, so a whole batch is
one run. Several channels: one plane per channel, and the offset adds the plane's start. Stride
s: each channel is first split into s*s phase planes (layout.py), so that every tap again reads a
run. Blocks of 4 output channels x 3 taps (taps.py) are padded with zero weights whose taps read
an all-zero plane, so an inf in the image stays inf and never meets a 0 (0 * inf = NaN).
"""
