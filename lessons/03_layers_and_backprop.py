# %% [markdown]
# # Lesson 3: layers and backpropagation
#
# A CNN is a chain of layers. Each layer is a pair of functions:
#
# - `forward(x) -> out`: compute the output, and remember what the backward pass will need;
# - `backward(dout) -> dx`: given dL/dout, the gradient of the loss with respect to the output,
#   return dL/dx for the layer below, and store dL/dW for each parameter in `layer.grads`.
#
# Backpropagation is nothing more than calling `backward` on every layer, last layer first: the
# chain rule, one link at a time. This lesson opens the three layers that matter (convolution,
# max-pooling, fully connected), checks each one's backward pass numerically, and then runs a
# tiny network forward and backward. It shows its pictures and saves them in `output/` beside the
# lesson (`output/quick/` for a `--quick` run, so that it never overwrites a full run's; or
# `--out DIR`).
#
# The first time you run it, most of its time goes to numba compiling tinycnn's kernels, for
# float32 and, for the gradient checks, float64: a first `--quick` run took 12-13 seconds on a
# 2-core AMD EPYC (Zen 4). The machine code is kept on disk, so later runs take about 2 seconds
# (lesson 6 says how).

# %%
# %matplotlib inline

import numpy as np
from matplotlib.figure import Figure

import tinycnn as tc
from tinycnn.kernels import reference  # the lecture's loops, written to be read

lesson = tc.course.start(3, "layers and backpropagation")  # --out, --quick: see tc.course
batch_size = 1 if lesson.quick else 4
np.set_printoptions(precision=4, suppress=True, linewidth=100)
rng = np.random.default_rng(0)

# %% [markdown]
# ## A convolution by hand
#
# The lecture's example: a 6x6 image, bright (10) on the left half and dark (0) on the right,
# and a 3x3 vertical edge detector. The filter slides over every 3x3 window of the image; at each
# position the nine products of filter and pixels are summed into one output number. A 6x6 image
# has 4x4 such positions.

# %%
image = np.array([[10, 10, 10, 0, 0, 0]] * 6, dtype=np.float32)
vertical_edge = np.array([[1, 0, -1]] * 3, dtype=np.float32)


def convolve_by_hand(image, kernel):
    """The lecture's loops: one output per window position, the sum of the products."""
    k = kernel.shape[0]
    out_h, out_w = image.shape[0] - k + 1, image.shape[1] - k + 1
    out = np.zeros((out_h, out_w), dtype=image.dtype)
    for i in range(out_h):
        for j in range(out_w):
            total = 0.0
            for di in range(k):
                for dj in range(k):
                    total += image[i + di, j + dj] * kernel[di, dj]
            out[i, j] = total
    return out


edges = convolve_by_hand(image, vertical_edge)
print("image:\n", image)
print("filter:\n", vertical_edge)
print("output:\n", edges)

# %% [markdown]
# The output is 30 where the window straddles the edge and 0 where the window sees a flat
# region: the filter found the vertical edge in the middle of the image.
#
# (What deep learning calls "convolution" is, strictly, cross-correlation: the filter is not
# flipped before sliding. Since the filters are learned, the difference does not matter.)

# %%
figure = Figure(figsize=(9, 3.2), layout="constrained")
panels = figure.subplots(1, 3, width_ratios=[6, 3, 4])
for ax, values, title in zip(
    panels,
    (image, vertical_edge, edges),
    ("image (6x6)", "* filter (3x3)", "= output (4x4)"),
    strict=True,
):
    ax.imshow(values, cmap="gray")
    for (row, column), value in np.ndenumerate(values):
        ax.text(column, row, f"{value:g}", ha="center", va="center", color="tab:red")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
figure.savefig(lesson.out / "03_vertical_edge.png", dpi=120)
figure

# %% [markdown]
# ## The same convolution three ways
#
# Real layers work on a batch of N images with C channels each, and hold F filters:
# x is (N, C, H, W), the weights W are (F, C, k, k) and the output is (N, F, H_out, W_out):
#
#     out[n, f, i, j] = b[f] + Σ_{c, di, dj} W[f, c, di, dj] · x[n, c, i + di, j + dj]
#
# (That is for stride 1 without padding; the next section adds both.)
# `tinycnn.kernels.reference.conv2d_forward` is exactly these loops, over n, f, i and j, with the
# sum over one window written as `np.sum(window * weights[f])`. The layer `tc.Conv2D` runs the
# fast numba kernel instead (lesson 6 says how it is made fast). All three must agree.

# %%
x = image[None, None]  # one image with one channel: (N, C, H, W) = (1, 1, 6, 6)
weights = vertical_edge[None, None]  # one filter over one channel: (F, C, k, k) = (1, 1, 3, 3)
bias = np.zeros(1, dtype=np.float32)

layer = tc.Conv2D(in_channels=1, out_channels=1, kernel_size=3)
layer.params["W"][...] = weights
layer.params["b"][...] = bias

from_reference = reference.conv2d_forward(x, weights, bias, stride=1, padding=0)
from_layer = layer.forward(x)
print(
    "by hand, reference and layer agree:",
    np.array_equal(edges, from_reference[0, 0]),
    np.array_equal(edges, from_layer[0, 0]),
)

# %% [markdown]
# ## Padding and stride
#
# Two settings change the output's size. Padding p surrounds the image with p rings of zeros, so
# that the filter can also sit over the border. Stride s moves the filter s pixels at a time.
# For an n x n input and a k x k filter:
#
#     n_out = floor((n + 2p - k) / s) + 1
#
# With k = 3, padding 1 keeps the size ("same" convolution); stride 2 halves it.

# %%
print("input 6x6, filter 3x3:")
for padding, stride in ((0, 1), (1, 1), (0, 2), (1, 2)):
    layer = tc.Conv2D(1, 1, 3, stride=stride, padding=padding)
    out = layer.forward(x)
    formula = reference.output_size(6, kernel_size=3, stride=stride, padding=padding)
    print(
        f"  padding {padding}, stride {stride}: output {out.shape[2]}x{out.shape[3]}  "
        f"(formula: {formula})"
    )

# %% [markdown]
# Now a case with everything at once (2 images of 3 channels, 4 filters, stride 2, padding 1)
# and random numbers. The reference and the numba kernel agree to float32's precision, not
# bit for bit: they add the same products in a different order, and float32 rounds every sum.

# %%
x = rng.random((2, 3, 10, 10), dtype=np.float32)
layer = tc.Conv2D(3, 4, 3, stride=2, padding=1, rng=0)
from_layer = layer.forward(x)
from_reference = reference.conv2d_forward(x, layer.params["W"], layer.params["b"], 2, 1)
print("output shape:", from_layer.shape)
print("largest difference:", np.max(np.abs(from_layer - from_reference)))

# %% [markdown]
# ## What a filter sees in a scene
#
# The same hand-made filters on a scene without clutter: vertical edges, horizontal edges (the
# vertical filter turned on its side) and a 3x3 average that blurs. In the edge maps, mid-grey is
# 0, white is an edge from bright to dark (left to right, or top to bottom), black the opposite.
# A trained CNN's first layer learns filters much like these, because edges outline objects.

# %%
scenes, y_scenes = tc.data.localization_dataset(8, seed=0, clutter=False)
is_car = y_scenes[:, tc.targets.CLASSES][:, tc.data.CLASS_NAMES.index("car")] == 1
first_car = np.flatnonzero(is_car)[0]
scene = scenes[first_car : first_car + 1]  # a batch of one: (1, 1, 64, 64)
filters = np.stack([vertical_edge, vertical_edge.T, np.full((3, 3), 1 / 9, np.float32)])
layer = tc.Conv2D(1, 3, 3)
layer.params["W"][...] = filters[:, None]
layer.params["b"][...] = 0
maps = layer.forward(scene)[0]

figure = Figure(figsize=(10, 2.9), layout="constrained")
panels = figure.subplots(1, 4)
titles = ("the scene", "vertical edges", "horizontal edges", "blurred (3x3 average)")
largest_edges = [np.abs(edge_map).max() for edge_map in maps[:2]]
value_ranges = [(0, 1), *[(-largest, largest) for largest in largest_edges], (0, 1)]
for ax, values, title, (low, high) in zip(
    panels, (scene[0, 0], *maps), titles, value_ranges, strict=True
):
    ax.imshow(values, cmap="gray", vmin=low, vmax=high)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)
figure.savefig(lesson.out / "03_filters_on_a_scene.png", dpi=120)
figure

# %% [markdown]
# ## The backward pass of a convolution
#
# Each output is a sum of products W · x. The derivative of a product by one factor is the
# other factor, so by the chain rule each product hands dout, times its other factor, back to
# each of its factors. With dout = dL/dout (for stride 1 without padding, as above):
#
#     dW[f, c, di, dj] = Σ_{n, i, j} dout[n, f, i, j] · x[n, c, i + di, j + dj]
#     db[f]            = Σ_{n, i, j} dout[n, f, i, j]
#     dx[n, c, i + di, j + dj] += W[f, c, di, dj] · dout[n, f, i, j]   (all n, f, c, i, j, di, dj)
#
# A weight is used at every position, so its gradient sums over all of them; a pixel is seen
# by several windows, so its gradient collects from all of them. With stride s and padding p,
# i + di becomes s·i + di on the padded x, and the padding's share of dx is dropped. The
# reference module writes these loops out too, and again the layer agrees with them.

# %%
x = rng.random((2, 3, 10, 10), dtype=np.float32)
layer = tc.Conv2D(3, 4, 3, stride=2, padding=1, rng=0)
out = layer.forward(x)
dout = rng.standard_normal(out.shape, dtype=np.float32)
dx = layer.backward(dout)
reference_dx = reference.conv2d_backward_input(dout, layer.params["W"], x.shape, 2, 1)
reference_dw, reference_db = reference.conv2d_backward_params(x, dout, 3, 2, 1)
print("dx:", dx.shape, " largest difference from the reference:", np.max(np.abs(dx - reference_dx)))
print(
    "dW:",
    layer.grads["W"].shape,
    " largest difference from the reference:",
    np.max(np.abs(layer.grads["W"] - reference_dw)),
)
print(
    "db:",
    layer.grads["b"].shape,
    " largest difference from the reference:",
    np.max(np.abs(layer.grads["b"] - reference_db)),
)

# %% [markdown]
# ## Max-pooling
#
# Max-pooling keeps the largest value of each k x k window (here 2x2, stride 2), halving the
# image. Its backward pass is a router: the gradient of a window's output goes to the one input
# that was the maximum, and the other three inputs get 0, since nudging them changes nothing.

# %%
x = np.array([[1, 3, 2, 1], [4, 2, 0, 1], [5, 6, 1, 2], [0, 7, 3, 8]], dtype=np.float32)[None, None]
pool = tc.MaxPool2D(2)
out = pool.forward(x)
dx = pool.backward(np.array([[10, 20], [30, 40]], dtype=np.float32)[None, None])
print("x:\n", x[0, 0])
print("max of each 2x2 window:\n", out[0, 0])
print("dx for dout = [[10, 20], [30, 40]]:\n", dx[0, 0])
print("reference agrees:", np.array_equal(out, reference.maxpool2d_forward(x, 2, 2)[0]))

# %% [markdown]
# ## Checking every layer's gradients
#
# A backward pass can be wrong in ways no error message reveals: the network would still train,
# only worse. So each one is checked against numerical derivatives, as the loss was in lesson 2.
# `tc.gradcheck.check_gradients(layer, x)` takes the scalar f = Σ forward(x) · R for a fixed
# random R (so that dout = R), and compares dx and every parameter's gradient with central
# differences. It needs float64 (`dtype=np.float64`), because the differences of float32 sums
# are mostly rounding noise. It returns the relative error of each gradient: below 1e-7 is right.

# %%
layers_and_input_shapes = [
    (tc.Conv2D(3, 4, 3, stride=2, padding=1, dtype=np.float64, rng=0), (2, 3, 7, 7)),
    (tc.MaxPool2D(2), (2, 3, 6, 6)),
    (tc.Dense(12, 5, dtype=np.float64, rng=0), (2, 12)),
    (tc.ReLU(), (2, 12)),
]
for layer, input_shape in layers_and_input_shapes:
    errors = tc.gradcheck.check_gradients(layer, rng.standard_normal(input_shape))
    print(f"{layer!r:<52}", "  ".join(f"{name} {error:.1e}" for name, error in errors.items()))

# %% [markdown]
# ## A tiny network, forward and backward
#
# `tc.Sequential` chains layers: `forward` runs them first to last, `backward` last to first.
# Here is a small CNN for 16x16 scenes: two blocks of convolution, ReLU and pooling, then one
# fully connected layer with the 8 numbers of the lecture's vector. `summary` prints each
# layer's output shape and its number of parameters, and returns their total.

# %%
model = tc.Sequential(
    [
        tc.Conv2D(1, 4, 3, padding=1, dtype=np.float64, rng=0),
        tc.ReLU(),
        tc.MaxPool2D(2),
        tc.Conv2D(4, 8, 3, padding=1, dtype=np.float64, rng=1),
        tc.ReLU(),
        tc.MaxPool2D(2),
        tc.Flatten(),
        tc.Dense(8 * 4 * 4, 8, dtype=np.float64, rng=2),
    ]
)
parameter_count = model.summary((1, 16, 16))

# %% [markdown]
# The work of one training step, short of updating the weights, layer by layer and with the
# shapes printed. Forward, the data shrinks in space and grows in channels; backward, each layer
# hands back a gradient of exactly its input's shape, and fills the gradients of its own
# parameters.

# %%
images, y = tc.data.localization_dataset(batch_size, image_size=16, seed=0)
images, y = images.astype(np.float64), y.astype(np.float64)

width = max(len(repr(layer)) for layer in model.layers)
print("forward:")
activation = images
print(f"  {'input':<{width}}  {activation.shape}")
for layer in model.layers:
    activation = layer.forward(activation)
    print(f"  {layer!r:<{width}}  {activation.shape}")

loss = tc.losses.SquaredLocalizationLoss(num_classes=3)
print(f"loss: {loss.forward(activation, y):.4f}")

print("backward:")
gradient = loss.backward()
print(f"  {'dL/dy_hat':<{width}}  {gradient.shape}")
for layer in reversed(model.layers):
    gradient = layer.backward(gradient)
    grads = "".join(f", d{name} {grad.shape}" for name, grad in layer.grads.items())
    print(f"  {layer!r:<{width}}  dx {gradient.shape}{grads}")

# %% [markdown]
# `model.forward` and `model.backward` do the same two loops. And the whole chain passes the
# same numerical check as its parts: backpropagation through eight layers gives the same
# gradients as nudging every input pixel and every one of the model's weights (1,368, as
# `summary` counted) one at a time. Each parameter is named below by its layer's place in
# `model.layers`.

# %%
errors = tc.gradcheck.check_gradients(model, images)
names = ["x (the images)"] + [
    f"layers[{model.layers.index(layer)}].{name}  {type(layer).__name__}"
    for layer, name, _, _ in model.parameters()
]
for name, error in zip(names, errors.values(), strict=True):
    print(f"  {name:<24} {error:.1e}")
print(f"{parameter_count:,} weights; largest relative error: {max(errors.values()):.1e}")

# %% [markdown]
# ## What to remember
#
# - A convolution slides each filter over every window and sums products; padding and stride set
#   the output size, floor((n + 2p - k) / s) + 1.
# - Backward, a convolution sends each gradient back along the products it was made of;
#   max-pooling routes it to each window's maximum.
# - Every backward pass is checked against central differences in float64, layer by layer and
#   for the whole network.
#
# Next, lesson 4 trains a network like this one on the localization scenes. Lesson 6 looks
# under the hood of the numba kernels and measures what they buy.

# %%
lesson.finish()
