# %% [markdown]
# # Lesson 7: sliding windows, and their convolutional form
#
# Lessons 1 to 6 found *one* object in an image. A street holds several. The lectures' first
# answer is **sliding windows**: train a classifier on small, closely cropped images ("is this a
# car, a pedestrian, a motorcycle, or nothing?"), then cut a window of that size out of the big
# image at every position, one after another, and ask the classifier about each.
#
# It works, but it is slow: neighbouring windows overlap almost entirely, and the classifier
# computes the same convolutions on the same pixels again for each of them. The lectures' second
# answer (from the OverFeat paper) removes the waste: rewrite the classifier's dense layers as
# convolutions, and **one pass over the big image gives the classifier's output for every window
# at once**.
#
# We will
#
# 1. train a classifier on 32x32 crops;
# 2. slide it over a scene window by window, and time it;
# 3. convolutionalize it with `tc.networks.convolutionalize` and check that one pass gives *exactly*
#    the same numbers for every window, much faster;
# 4. see why the windows still make poor boxes: they lie on a grid and have one fixed size.
#
# `--quick` runs the same code on a handful of crops for one epoch (the classifier then learns
# next to nothing); the figures go to `lessons/output/` (a quick run's to `lessons/output/quick/`,
# so that it never overwrites a full run's; or to `--out DIR`).

# %%
# %matplotlib inline
import json
import time

import numpy as np
from matplotlib.figure import Figure

import tinycnn as tc
from tinycnn.data.crops import crop_dataset, sliding_window_scene
from tinycnn.targets import CLASSES, P_C

lesson = tc.course.start(7, "sliding windows")  # --out, --quick: see tc.course
np.set_printoptions(precision=3, suppress=True)

CROP = 32
NUM_CLASSES = len(tc.data.CLASS_NAMES)
if lesson.quick:
    n_train, n_test, epochs = 256, 128, 1
else:
    n_train, n_test, epochs = 12_000, 2_000, 8

# %% [markdown]
# ## Closely cropped objects
#
# `crop_dataset` cuts 32x32 crops out of drawn scenes: half of them centred on a pedestrian, a
# car or a motorcycle that fills most of the crop, half of them background: windows centred on no
# object, though they may hold part of one. So the classifier learns to say "car" for a window
# *on* a car, not for every window that touches one. The crops come from the same kind of scenes
# we will slide over, so the backgrounds, distractors and neighbours at the edges look alike.
# Each crop's target is the lecture's vector; for a classifier only p_c and the class matter.

# %%
x_train, y_train = crop_dataset(n_train, crop_size=CROP, seed=0)
x_test, y_test = crop_dataset(n_test, crop_size=CROP, seed=1)
print("training crops:", x_train.shape, " test crops:", x_test.shape)
figure = tc.viz.show_localization(
    x_train[:16], y_true=y_train[:16], path=lesson.out / "07_crops.png"
)
figure

# %% [markdown]
# ## The classifier
#
# Two blocks of convolution, ReLU and max-pooling, then two dense layers, as in lesson 4 but
# smaller. One thing is new: the convolutions have **no padding**. Padding adds zeros around the
# crop; on the big image the same window has real pixels there instead, and the convolutional
# form would no longer match the classifier. Without padding each layer only ever sees pixels of
# its own window.
#
#     input 1x32x32
#     conv 3x3, 8 filters  -> ReLU -> max-pool 2x2      8x15x15   (30 -> 15)
#     conv 4x4, 16 filters -> ReLU -> max-pool 2x2     16x6x6    (12 -> 6)
#     flatten -> dense 64 -> ReLU -> dense 8           [p_c, b_x, b_y, b_h, b_w, c_1, c_2, c_3]

# %%
loss = tc.losses.LocalizationLoss(NUM_CLASSES)
rng = np.random.default_rng(0)
classifier = tc.Sequential(
    [
        tc.Conv2D(1, 8, 3, rng=rng),
        tc.ReLU(),
        tc.MaxPool2D(2),
        tc.Conv2D(8, 16, 4, rng=rng),
        tc.ReLU(),
        tc.MaxPool2D(2),
        tc.Flatten(),
        tc.Dense(16 * 6 * 6, 64, rng=rng),
        tc.ReLU(),
        tc.Dense(64, 8, rng=rng),
    ],
    output=loss.output,
)
parameters = classifier.summary((1, CROP, CROP))

# %% [markdown]
# Training is lesson 4's: the practical loss, Adam, a halving learning rate, and flips.

# %%
optimizer = tc.optim.Adam(classifier, lr=2e-3)
start = time.perf_counter()
history = tc.train.fit(
    classifier,
    loss,
    optimizer,
    x_train,
    y_train,
    epochs=epochs,
    batch_size=32,
    augment=tc.data.augment.random_augment,
    lr_schedule=tc.train.step_decay(2e-3, every=3),
    seed=0,
    progress=False,
)
training_seconds = time.perf_counter() - start
report = tc.metrics.localization_report(classifier.predict(x_test), y_test)
print(f"training: {training_seconds:.0f} s for {epochs} epochs of {n_train:,} crops")
print(
    f"held-out crops: p_c accuracy {report['pc_accuracy']:.1%}, "
    f"class accuracy {report['class_accuracy']:.1%}"
)

# %% [markdown]
# ## A scene with several objects
#
# The scene is 96x160 pixels. It holds a pedestrian, a car and a motorcycle of about the crop's
# size, a second pedestrian, and one car twice as large.

# %%
scene, truth = sliding_window_scene(height=96, width=160, crop_size=CROP, seed=3)
_, _, HEIGHT, WIDTH = scene.shape
print(
    "scene:",
    scene.shape,
    " objects:",
    ", ".join(tc.data.CLASS_NAMES[label] for label in truth["labels"]),
)


def scene_axes(title):
    """A figure with the scene in grey and its true boxes in green."""
    figure = Figure(figsize=(8, 5))
    ax = figure.add_subplot()
    ax.imshow(scene[0, 0], cmap="gray", vmin=0, vmax=1)
    tc.viz.draw_boxes(ax, truth["boxes"], tc.viz.TRUE_COLOUR)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return figure, ax


figure, _ = scene_axes("the scene and its objects' true boxes")
figure.savefig(lesson.out / "07_scene.png", dpi=120)
figure

# %% [markdown]
# ## Sliding the window, one window at a time
#
# The window is 32x32, the classifier's input. We move it by STRIDE = 4 pixels at a time, right
# and then down, and run the classifier on each crop. Why 4 will become clear below. That makes
# (96 - 32) / 4 + 1 = 17 rows and (160 - 32) / 4 + 1 = 33 columns of windows: 561 crops, each
# sent through the whole network on its own.

# %%
STRIDE = 4
rows, cols = (HEIGHT - CROP) // STRIDE + 1, (WIDTH - CROP) // STRIDE + 1
classifier.eval()


def timed(run, repeats=5):
    """run() and the median of its wall-clock times over `repeats` runs, in seconds."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - start)
    return result, float(np.median(seconds))


def window_by_window():
    outputs = np.empty((8, rows, cols), dtype=np.float32)
    for i in range(rows):
        for j in range(cols):
            window = scene[:, :, i * STRIDE : i * STRIDE + CROP, j * STRIDE : j * STRIDE + CROP]
            outputs[:, i, j] = classifier.forward(window)[0]
    return outputs


one_by_one, one_by_one_seconds = timed(window_by_window, repeats=3)
print(f"{rows} x {cols} = {rows * cols} windows, one by one: {one_by_one_seconds * 1000:.0f} ms")

# %% [markdown]
# Part of that time is Python calling 10 layers 561 times. Stacking all windows into one batch
# removes the calls, but the network still computes every window from scratch:

# %%
windows = np.stack(
    [
        scene[0, :, i * STRIDE : i * STRIDE + CROP, j * STRIDE : j * STRIDE + CROP]
        for i in range(rows)
        for j in range(cols)
    ]
)
batched, batched_seconds = timed(lambda: classifier.forward(windows))
batched = batched.reshape(rows, cols, 8).transpose(2, 0, 1)
print(f"the same {len(windows)} windows as one batch: {batched_seconds * 1000:.0f} ms")

# %% [markdown]
# ## The convolutional form
#
# Look at what the classifier does to a 32x32 crop. The convolutions and poolings turn it into a
# 16x6x6 feature map. Flatten lines those 576 numbers up, and the first dense layer computes
# 64 weighted sums of them. A 6x6 convolution with 64 filters over the 16x6x6 map computes
# *exactly* those 64 sums: filter f holds the weights of output f, rearranged from a row of 576
# into 16x6x6 (Flatten's order: channel, row, column). The second dense layer is then a 1x1
# convolution. `tc.networks.convolutionalize` does this rewriting; no weight is retrained.
#
# On a 32x32 crop the result outputs a 1x1 map of 8 numbers: the classifier's output. On the
# 96x160 scene the convolutions simply run on, over the whole image: the last map is 17x33, and
# each of its positions holds the 8 numbers of one window. Every 2x2 pooling halves the map, so
# one step on the last map is 2 x 2 = 4 pixels on the scene: the windows' stride is the product
# of the poolings' strides (`tc.networks.window_stride`). That is why we slid by 4 above.

# %%
sliding = tc.networks.convolutionalize(classifier, (1, CROP, CROP))
_ = sliding.summary((1, HEIGHT, WIDTH))
print("window stride:", tc.networks.window_stride(classifier))

# %%
one_pass, one_pass_seconds = timed(lambda: sliding.forward(scene)[0], repeats=21)
difference = np.abs(one_pass - one_by_one).max()
print(f"one pass: output {one_pass.shape}, {one_pass_seconds * 1000:.1f} ms")
print(
    f"largest difference from the window-by-window outputs: {difference:.2e}, "
    f"{difference / np.abs(one_by_one).max():.1e} of the largest output"
)
print(
    f"one pass is {one_by_one_seconds / one_pass_seconds:.0f}x faster than one window at a "
    f"time, {batched_seconds / one_pass_seconds:.1f}x faster than all windows in one batch "
    "(medians of repeated runs, on a machine other programs may share)"
)

# %% [markdown]
# The largest difference is a few units in the last place of a float32 (float32 keeps about 7
# digits): the same sums, added in another order. The numbers *are* the classifier's.
#
# Where does the speed come from? Two windows 4 pixels apart share 28 of their 32 columns, and the
# one-pass network computes the shared part once. Counting the first convolution alone, the 561
# windows need 561 x 30 x 30 = 504,900 positions, the scene 94 x 158 = 14,852: 34x fewer. The
# later layers gain less, the head nothing, but that first layer does the most work.
#
# The class probabilities and p_c for every window come from the classifier's output map,
# which `convolutionalize` keeps: `sliding.predict(scene)` returns the lecture's vectors as
# (N, 8, rows, cols).

# %%
vectors = sliding.predict(scene)[0]
p_c = vectors[P_C]
figure = Figure(figsize=(8, 4))
ax = figure.add_subplot()
# Each window's p_c is drawn at the window's centre: position (i, j) covers rows 4i..4i+31.
extent = (
    CROP / 2 - STRIDE / 2 - 0.5,
    CROP / 2 + (cols - 0.5) * STRIDE - 0.5,
    CROP / 2 + (rows - 0.5) * STRIDE - 0.5,
    CROP / 2 - STRIDE / 2 - 0.5,
)
ax.imshow(scene[0, 0], cmap="gray", vmin=0, vmax=1)
shown = ax.imshow(p_c, cmap="magma", vmin=0, vmax=1, alpha=0.6, extent=extent)
ax.set_xlim(-0.5, WIDTH - 0.5)
ax.set_ylim(HEIGHT - 0.5, -0.5)
figure.colorbar(shown, ax=ax, label="p_c of the window centred here")
ax.set_title("p_c of every 32x32 window, at the window's centre")
figure.savefig(lesson.out / "07_p_c_map.png", dpi=120)
figure

# %% [markdown]
# p_c is high where a window holds an object, and it stays high for the windows a few pixels
# around it: they hold the object too. Many windows fire for each object. Keeping one per object
# is the job of non-max suppression, a later lecture.
#
# ## Why the windows make poor boxes
#
# Say we take each window with p_c >= 0.5 as a detection, with its class, and its box is the
# window itself. Compare with the true boxes:

# %%
window_boxes = np.array(
    [
        [
            (j * STRIDE + CROP / 2) / WIDTH,
            (i * STRIDE + CROP / 2) / HEIGHT,
            CROP / HEIGHT,
            CROP / WIDTH,
        ]
        for i in range(rows)
        for j in range(cols)
    ]
)
scores = p_c.reshape(-1)
logits = one_pass[P_C].reshape(-1)  # ranks like p_c, without p_c's rounding to 1.0 at the top
labels = vectors[CLASSES].reshape(NUM_CLASSES, -1).argmax(axis=0)
figure, ax = scene_axes("windows with p_c >= 0.5 (red), true boxes (green)")
tc.viz.draw_boxes(
    ax, window_boxes[scores >= 0.5], tc.viz.PREDICTED_COLOUR, linestyle="--", linewidth=0.5
)
figure.savefig(lesson.out / "07_windows.png", dpi=120)
print(f"{np.sum(scores >= 0.5)} of {len(scores)} windows have p_c >= 0.5")
figure

# %% [markdown]
# Two things keep a window's box from fitting an object, however good the classifier:
#
# - **The grid.** Windows start every 4 pixels, so a box edge can be up to 2 pixels off even for
#   an object of exactly the window's size. A larger stride, as a bigger network with more
#   poolings has, makes it worse.
# - **The fixed size.** Every window is a 32x32 square. A pedestrian is tall and narrow; the big
#   car does not fit in any window at all. The best window for an object is limited by its shape,
#   whatever the classifier says.
#
# For each object we compare the *best window there is* (the highest IoU with the true box, a
# ceiling no classifier can beat), and the window the classifier picks: the highest p_c among
# the windows of the right class whose centre lies on the object.

# %%
overlaps = tc.boxes.iou_matrix(window_boxes, truth["boxes"])  # (windows, objects)
rows_out = []
for index, (box, label) in enumerate(zip(truth["boxes"], truth["labels"], strict=True)):
    ceiling = overlaps[:, index].max()
    x_min, y_min, x_max, y_max = tc.boxes.center_to_corners(box)
    on_object = (
        (window_boxes[:, 0] >= x_min)
        & (window_boxes[:, 0] <= x_max)
        & (window_boxes[:, 1] >= y_min)
        & (window_boxes[:, 1] <= y_max)
    )
    candidates = np.flatnonzero(on_object & (labels == label))
    picked = candidates[np.argmax(logits[candidates])] if len(candidates) else None
    picked_iou = overlaps[picked, index] if picked is not None else 0.0
    size = f"{box[2] * HEIGHT:.0f}x{box[3] * WIDTH:.0f}"
    rows_out.append(
        (
            tc.data.CLASS_NAMES[label],
            size,
            ceiling,
            picked_iou,
            scores[picked] if picked is not None else 0.0,
        )
    )
print(f"{'object':<12}{'h x w':>8}{'best window IoU':>17}{'picked IoU':>12}{'its p_c':>9}")
for name, size, ceiling, picked_iou, score in rows_out:
    print(f"{name:<12}{size:>8}{ceiling:>17.2f}{picked_iou:>12.2f}{score:>9.2f}")

# %% [markdown]
# A tall pedestrian cannot reach an IoU much above its width over the window's (about 12/32),
# and the big car, twice the window's area, not much above a half. Smaller or larger windows
# (running the classifier on shrunk copies of the image, an *image pyramid*) help the size, at
# more cost, but never the shape.
#
# The fix is in the classifier's other numbers. Trained as a localizer, each window also
# predicts a box [b_x, b_y, b_h, b_w] *relative to itself*, of any shape, and even reaching past
# its edges. That is the YOLO idea of the next lesson: a grid of cells, each outputting the
# localization vector of lesson 1 for the object whose centre it holds.

# %%
results = {
    "crop_size": CROP,
    "window_stride": STRIDE,
    "windows": int(rows * cols),
    "training_crops": n_train,
    "epochs": epochs,
    "training_seconds": round(training_seconds, 1),
    "test_crops": n_test,
    "test_pc_accuracy": report["pc_accuracy"],
    "test_class_accuracy": report["class_accuracy"],
    "one_by_one_ms": round(one_by_one_seconds * 1000, 1),
    "batched_ms": round(batched_seconds * 1000, 1),
    "one_pass_ms": round(one_pass_seconds * 1000, 2),
    "largest_difference": float(difference),
    "best_window_iou": {
        f"{name} {size}": round(float(ceiling), 3) for name, size, ceiling, _, _ in rows_out
    },
}
path = lesson.out / "07_metrics.json"
path.write_text(json.dumps(results, indent=2) + "\n")
print("saved", path)

# %% [markdown]
# ## What to remember
#
# - Sliding windows: a classifier of crops, asked about every window of a big image. Simple, and
#   slow, because overlapping windows repeat the same work.
# - The convolutional form: a dense layer over a k x k x C map is a k x k convolution, and later
#   dense layers are 1x1 convolutions. One pass over the big image gives every window's output,
#   the same numbers, at the stride of the poolings.
# - Valid convolutions (no padding) keep each window's numbers its own.
# - A window is a poor box: it sits on a grid and has one size and shape. Predicting the box
#   inside each grid position fixes that: YOLO, next.

# %%
lesson.finish()
