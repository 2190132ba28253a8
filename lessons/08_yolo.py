# %% [markdown]
# # Lesson 8: detection with a grid (YOLO)
#
# The localizer of lesson 4 answers for one object: is there one, where, what. A street holds
# several. The YOLO idea ("you only look once") keeps the localization vector of lesson 1 and
# asks for it many times at once: cut the image into an S x S grid and let every cell answer
# for the object whose midpoint lies in it,
#
#     y[row, column] = [p_c, b_x, b_y, b_h, b_w, c_1, c_2, c_3].
#
# One network, one pass, a vector per cell. This lesson goes through the lecture's steps in
# pictures:
#
# 1. the grid targets of a scene, and what one cell's vector holds;
# 2. anchor boxes, for a pedestrian standing in front of a car, both midpoints in one cell;
# 3. a small fully convolutional network, trained from scratch on the grid;
# 4. many boxes per object, and non-max suppression to keep one;
# 5. precision, recall and mean average precision (mAP) on held-out scenes;
# 6. saving the detector and loading it back.
#
# The full run takes under two minutes on two cores of an AMD EPYC (Zen 4: 90 s in the site's
# build, of which training 79 s), with AP@0.5 of 0.97-0.98 and AP@[.5:.95] of 0.64 on the test
# scenes (the kernels' rounding, which changes with their versions, moves the last digit);
# `--quick` runs the same code on a handful of images for one epoch, which checks that
# everything works but learns next to nothing. Figures, numbers and the model go to `output/`
# beside the lesson (`output/quick/` for a `--quick` run, so that it never overwrites a full
# run's; or `--out DIR`).

# %%
# %matplotlib inline
import time

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

import tinycnn as tc

lesson = tc.course.start(8, "detection with a grid (YOLO)")  # --out, --quick: see tc.course
np.set_printoptions(precision=3, suppress=True)

if lesson.quick:
    n_train, n_test, epochs = 128, 64, 1
else:
    n_train, n_test, epochs = 12_000, 1_000, 14

CLASS_NAMES = tc.data.CLASS_NAMES
COLOURS = np.array(["tab:red", "tab:green", "tab:blue"])  # pedestrian, car, motorcycle
IMAGE_SIZE, GRID_SIZE = 64, 4


def show_image(ax, image, title=None):
    """The image on axes measured in pixel edges: pixel (i, j) covers [j, j + 1) x [i, i + 1), so
    a point at fractions (x, y) of the image sits at (64 x, 64 y) and the grid lines at 16, 32
    and 48. `tc.viz.draw_boxes` reads this extent to place boxes."""
    ax.imshow(image[0], cmap="gray", vmin=0, vmax=1, extent=(0, IMAGE_SIZE, IMAGE_SIZE, 0))
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)


def draw_grid(ax):
    for line in np.arange(1, GRID_SIZE) * IMAGE_SIZE / GRID_SIZE:
        ax.axhline(line, color="yellow", linewidth=0.8)
        ax.axvline(line, color="yellow", linewidth=0.8)


# %% [markdown]
# ## Scenes with several objects
#
# `tc.data.detection_dataset` draws the pedestrians, cars and motorcycles of lesson 1, smaller
# and several to a scene, some in front of others. Each image comes with its truth: a list of
# boxes in the lecture's format `[b_x, b_y, b_h, b_w]` (fractions of the image) and a label per
# box. A box is the tight box of what can be seen of its object. We draw two sets from two
# seeds: the **training set** (seed 0) and the **test set** (seed 2), held out until the end.

# %%
x_train, truth_train = tc.data.detection_dataset(n_train, image_size=IMAGE_SIZE, seed=0)
x_test, truth_test = tc.data.detection_dataset(n_test, image_size=IMAGE_SIZE, seed=2)
labels_train = np.concatenate([scene["labels"] for scene in truth_train])
print(
    "training:",
    x_train.shape,
    f"{len(labels_train):,} objects:",
    ", ".join(f"{np.sum(labels_train == k):,} {name}s" for k, name in enumerate(CLASS_NAMES)),
)
print("the first scene's truth:", truth_train[0])

figure = Figure(figsize=(10, 2.8), layout="constrained")
for ax, image, scene in zip(figure.subplots(1, 6), x_train, truth_train, strict=False):
    show_image(ax, image)
    tc.viz.draw_boxes(ax, scene["boxes"], COLOURS[scene["labels"]])
figure.suptitle(
    "training scenes and their boxes: "
    + ", ".join(f"{name} {colour[4:]}" for name, colour in zip(CLASS_NAMES, COLOURS, strict=True))
)
figure.savefig(lesson.out / "08_scenes.png", dpi=120)
figure

# %% [markdown]
# ## The grid targets
#
# We cut the 64 x 64 image into a 4 x 4 grid of 16-pixel cells. An object belongs to the cell
# that holds its **midpoint**, and that cell's vector describes it, in the cell's own units:
#
# - b_x, b_y: where the midpoint lies *within the cell*, from (0, 0) at its top-left corner to
#   almost (1, 1) at its bottom-right corner;
# - b_h, b_w: the box's height and width *in cells*, which may well exceed 1: an object can be
#   larger than the cell that answers for it.
#
# Every other cell says p_c = 0, and the rest of its vector is "don't care", as in lesson 2.
# For now, one vector per cell (a single anchor, of any shape). Look at the scene below: three
# objects, but only two cells say p_c = 1. The pedestrian stands in front of a car, and both
# midpoints (the crosses) fall into the same cell, whose one vector can describe only one of
# them: `encode_grid` keeps the larger box, and the other is lost.

# %%
one_anchor = np.array([[0.3, 0.3]])
y_one = tc.detection.encode_grid(truth_train[:1], GRID_SIZE, one_anchor, len(CLASS_NAMES))
print("y has shape", y_one.shape, "= (images, rows, columns, anchors, 5 + K)")
first = truth_train[0]
for (x, y_centre, h, w), label in zip(first["boxes"], first["labels"], strict=True):
    row, column = int(y_centre * GRID_SIZE), int(x * GRID_SIZE)
    vector = y_one[0, row, column, 0]
    described = vector[5 + label] == 1 and np.isclose(vector[3], h * GRID_SIZE)
    print(
        f"a {CLASS_NAMES[label]} with its midpoint at ({x:.3f}, {y_centre:.3f}): cell row {row}, "
        f"column {column}, " + ("described there" if described else "LOST: its cell is taken")
    )
    if described:
        print(f"    y[0, {row}, {column}, 0] = {vector}")
        print(
            f"    b_x = {x:.3f} * 4 - {column} = {x * 4 - column:.3f}, "
            f"b_y = {y_centre:.3f} * 4 - {row} = {y_centre * 4 - row:.3f}, "
            f"b_h = {h:.3f} * 4 = {h * 4:.3f} cells, b_w = {w:.3f} * 4 = {w * 4:.3f} cells"
        )
print(
    "cells with p_c = 1 (row, column):",
    [tuple(map(int, cell)) for cell in np.argwhere(y_one[0, :, :, 0, 0] == 1)],
)

figure = Figure(figsize=(4.2, 4.2), layout="constrained")
ax = figure.subplots()
show_image(ax, x_train[0], "4 x 4 grid: each midpoint's cell answers")
draw_grid(ax)
tc.viz.draw_boxes(ax, first["boxes"], COLOURS[first["labels"]])
midpoints = first["boxes"][:, :2] * IMAGE_SIZE
ax.scatter(midpoints[:, 0], midpoints[:, 1], c=COLOURS[first["labels"]], s=30, marker="x")
for r, c in np.argwhere(y_one[0, :, :, 0, 0] == 1):
    ax.add_patch(Rectangle((c * 16, r * 16), 16, 16, color="yellow", alpha=0.25))
figure.savefig(lesson.out / "08_grid_targets.png", dpi=120)
figure

# %% [markdown]
# ## Two objects, one cell: anchor boxes
#
# The lecture's hard case: a pedestrian standing in front of a car. Their midpoints are close,
# so both fall into one cell, and one vector cannot describe two objects. Anchor boxes give each
# cell B vectors instead of one, each with a typical shape: here a **tall** one for pedestrians
# and a **wide** one for cars and motorcycles. An object goes to the anchor whose shape is most
# like its own (the highest IoU of the two boxes laid over each other, midpoints together).
#
# We take the anchors from the training boxes themselves: the mean shape of the pedestrians,
# and that of the other two classes.

# %%
boxes_train = np.concatenate([scene["boxes"] for scene in truth_train])
anchors = np.array(
    [
        boxes_train[labels_train == 0, 2:].mean(axis=0),
        boxes_train[labels_train != 0, 2:].mean(axis=0),
    ]
)
print("anchors (h, w) as fractions of the image:\n", anchors)
y_train = tc.detection.encode_grid(truth_train, GRID_SIZE, anchors, len(CLASS_NAMES))
y_test = tc.detection.encode_grid(truth_test, GRID_SIZE, anchors, len(CLASS_NAMES))
single = tc.detection.encode_grid(truth_train, GRID_SIZE, one_anchor, len(CLASS_NAMES))
lost = len(labels_train) - int(single[..., 0].sum())
kept = len(labels_train) - int(y_train[..., 0].sum())
print(
    f"objects that find no free vector: {lost} of {len(labels_train):,} with one anchor, "
    f"{kept} with two"
)

# The first training scene with a pedestrian and a car in one cell, on different anchors.
both = np.argwhere(
    (y_train[..., 0, 0] == 1)
    & (y_train[..., 1, 0] == 1)
    & (y_train[..., 0, 5] == 1)
    & (y_train[..., 1, 6] == 1)
)
n, row, column = both[0]
print(f"scene {n}, cell (row {row}, column {column}):")
print("  anchor 0 (tall):", y_train[n, row, column, 0])
print("  anchor 1 (wide):", y_train[n, row, column, 1])

figure = Figure(figsize=(8, 4), layout="constrained")
ax_scene, ax_anchors = figure.subplots(1, 2)
show_image(ax_scene, x_train[n], "pedestrian and car: one cell, two anchors")
draw_grid(ax_scene)
tc.viz.draw_boxes(ax_scene, truth_train[n]["boxes"], COLOURS[truth_train[n]["labels"]])
ax_scene.add_patch(Rectangle((column * 16, row * 16), 16, 16, color="yellow", alpha=0.3))
ax_anchors.set_title("the two anchors (h, w) over all training boxes", fontsize=9)
for k, name in enumerate(CLASS_NAMES):
    shapes = boxes_train[labels_train == k, 2:]
    ax_anchors.scatter(shapes[:, 1], shapes[:, 0], s=2, color=COLOURS[k], alpha=0.3, label=name)
ax_anchors.scatter(anchors[:, 1], anchors[:, 0], s=120, color="black", marker="*", label="anchors")
ax_anchors.set_xlabel("b_w")
ax_anchors.set_ylabel("b_h")
ax_anchors.legend(fontsize=8)
figure.savefig(lesson.out / "08_anchors.png", dpi=120)
figure

# %% [markdown]
# ## A fully convolutional detector
#
# `tc.networks.detector` stacks four blocks of convolution, batch normalization, ReLU and 2x2
# max-pooling: 64 pixels shrink to 4, one position per grid cell. A last 3x3 convolution lets
# each cell see past its borders (objects are larger than cells), and a 1x1 convolution turns
# each position's features into B (5 + K) = 16 numbers: the raw vectors of its two anchors.
# `GridLayout` only reorders them to (N, S, S, B, 5 + K). There is no dense layer: the same
# weights run at every cell, which is the convolutional sliding window of the previous lesson.
# (The 3x3 convolutions from 16 channels on run by Winograd's algorithm, which needs fewer
# multiplications where maps are small or channels many: lesson 6 says how.)
#
# **Batch normalization** (new here) rescales each channel to mean 0 and variance 1 over the
# batch, then lets the network choose its scale and offset (γ, β). It makes a deeper network
# train quickly and steadily. In evaluation it uses running averages of the training batches'
# statistics, which `model.eval()` switches on and `save` keeps.
#
# In the detector each batch normalization, the ReLU after it and the max-pooling after that are
# one layer, `BatchNormReLUMaxPool2D` (`BatchNormReLU2D` in the last block, which has no
# pooling), for speed: the next section shows how, and what it saves.
#
# The loss, `GridLoss`, is lesson 2's practical loss in every cell and anchor: cross-entropy on
# p_c, squared error on the box, cross-entropy on the class. Two changes come from YOLO. The
# box is compared in the network's own terms: b_x = σ(t_x) keeps the midpoint inside its cell,
# and b_h = anchor height × e^(t_h) keeps the size positive. And the many empty vectors count
# at half weight (`no_object_weight=0.5`), so that their "nothing here" does not drown the few
# that hold an object.

# %%
loss = tc.detection.GridLoss(anchors, len(CLASS_NAMES))
model = tc.networks.detector(
    num_classes=len(CLASS_NAMES),
    num_anchors=len(anchors),
    image_size=IMAGE_SIZE,
    output=loss.output,
    rng=0,
)
parameter_count = model.summary((1, IMAGE_SIZE, IMAGE_SIZE))

# %% [markdown]
# ### Three layers in one pass
#
# Batch normalization, ReLU and max-pooling each go over every number of a feature map, forward
# and backward, and the first block's maps hold 8 x 64 x 64 numbers per image. Two tricks let
# one layer do the work of the three with far fewer passes. Frameworks call this *fusing*
# layers.
#
# - **The ReLU as the values are written.** `BatchNormReLU2D` applies the ReLU as each
#   normalized value is written, and its backward pass, which reads x anyway, finds the values
#   the ReLU set to 0 again from x, γ and β instead of from a stored copy.
# - **Pool first.** In one channel, batch normalization then ReLU, max(0, γ x̂ + β), is a
#   function of one number that only grows as x grows (γ > 0) or only shrinks (γ < 0). So the
#   largest output of a 2x2 window comes from the window's largest x (its smallest where
#   γ < 0). `BatchNormReLUMaxPool2D` picks that x in each window, then normalizes and clamps
#   only the picked values, a quarter of them; backward, only those places get a gradient from
#   the pooling, and batch normalization's sums need them alone.
#
# Below, one batch of the first convolution's output goes through the three forms, forward and
# backward. They give the same outputs; their gradients may differ by rounding, the sums being
# added in another order. The first calls of each kernel choose between one core and two, and
# check that choice twice (`tc.kernels.threads.SETTLED_CALLS` calls), so they are run before the
# timing, and the forms take turns.

# %%
first_maps = model.layers[0].forward(x_train[:32])  # (32, 8, 64, 64)
forms = {
    "BatchNorm2D, ReLU, MaxPool2D": tc.Sequential([tc.BatchNorm2D(8), tc.ReLU(), tc.MaxPool2D(2)]),
    "BatchNormReLU2D, MaxPool2D": tc.Sequential([tc.BatchNormReLU2D(8), tc.MaxPool2D(2)]),
    "BatchNormReLUMaxPool2D": tc.Sequential([tc.BatchNormReLUMaxPool2D(8, 2)]),
}
pooled_shape = (*first_maps.shape[:2], first_maps.shape[2] // 2, first_maps.shape[3] // 2)
upstream = np.random.default_rng(1).standard_normal(pooled_shape).astype(np.float32)


def forward_and_backward(form):
    return form.forward(first_maps), form.backward(upstream)


(out_three, dx_three), *fused = map(forward_and_backward, forms.values())
for name, (out, dx) in zip(list(forms)[1:], fused, strict=True):
    print(
        f"{name}: largest difference from the three layers: outputs "
        f"{np.abs(out - out_three).max():.1e}, input gradients {np.abs(dx - dx_three).max():.1e} "
        f"(of values up to {np.abs(dx_three).max():.1f})"
    )
for _ in range(tc.kernels.threads.SETTLED_CALLS):
    for form in forms.values():
        forward_and_backward(form)
seconds = {name: [] for name in forms}
for _ in range(5 if lesson.quick else 40):
    for name, form in forms.items():
        started = time.perf_counter()
        forward_and_backward(form)
        seconds[name].append(time.perf_counter() - started)
fusion_ms = {name: 1e3 * float(np.median(times)) for name, times in seconds.items()}
for name, ms in fusion_ms.items():
    print(f"{name:30} {ms:.2f} ms forward and backward (median)")

figure = Figure(figsize=(6, 2.1), layout="constrained")
ax = figure.subplots()
ax.barh(list(fusion_ms), list(fusion_ms.values()), color=["tab:gray", "tab:cyan", "tab:blue"])
ax.invert_yaxis()
ax.set_xlabel("ms for one batch of 32, forward and backward")
figure.savefig(lesson.out / "08_fusion.png", dpi=120)
figure

# %% [markdown]
# ## Training from scratch
#
# Adam, batches of 32, the learning rate divided by 10 for the last quarter of the epochs.

# %%
LEARNING_RATE = 2e-3


def schedule(epoch):
    return LEARNING_RATE * (0.1 if epoch >= int(0.75 * epochs) else 1.0)


optimizer = tc.optim.Adam(model, lr=LEARNING_RATE)
train_started = time.perf_counter()
history = tc.train.fit(
    model,
    loss,
    optimizer,
    x_train,
    y_train,
    epochs=epochs,
    batch_size=32,
    lr_schedule=schedule,
    seed=0,
    progress=not lesson.quick,
)
training_seconds = time.perf_counter() - train_started
print(f"training took {training_seconds:.0f} s ({epochs} epochs of {n_train:,} scenes)")

figure = Figure(figsize=(5, 3), layout="constrained")
ax = figure.subplots()
ax.plot(np.arange(1, epochs + 1), history["loss"], marker="o")
ax.set_yscale("log")
ax.set_xlabel("epoch")
ax.set_ylabel("training loss (per image)")
figure.savefig(lesson.out / "08_training_loss.png", dpi=120)
figure

# %% [markdown]
# ## Many boxes per object, and non-max suppression
#
# `model.predict` returns every cell's and anchor's vector. Each is a box with a score,
# p_c × (probability of its most likely class): `decode_grid` turns the grid into those boxes,
# keeping the ones that score at least a threshold. Where a neighbouring cell, or the other
# anchor of the same cell, also sees an object, it answers for it too, with a lower score: one
# object, several boxes.
#
# Non-max suppression keeps one: take the box with the highest score, discard the others of its
# class that overlap it by IoU > 0.5, and repeat with the highest remaining. `tc.detection.detect`
# does all of it: predict, score, drop the boxes below the score threshold (the lecture's 0.6 by
# default) and suppress, once per class.
#
# A trained detector is sure of most objects and keeps most cells quiet, so duplicates are the
# exception. Below, with a low threshold (0.01) on both rows so that non-max suppression is the
# only difference, are the six test scenes where it removes the most boxes: before (top), after
# (bottom).

# %%
model.eval()
THRESHOLD = 0.01
candidates = tc.detection.decode_grid(model.predict(x_test), score_threshold=THRESHOLD)
found = tc.detection.detect(model, x_test, score_threshold=THRESHOLD, iou_threshold=0.5)
removed = np.array(
    [len(c["scores"]) - len(f["scores"]) for c, f in zip(candidates, found, strict=True)]
)
print(
    f"test set, boxes scoring >= {THRESHOLD}: {sum(len(c['scores']) for c in candidates):,} "
    f"before non-max suppression, {sum(len(f['scores']) for f in found):,} after; "
    f"{np.sum(removed > 0)} of {n_test:,} scenes had a box removed"
)
shown = np.argsort(-removed, kind="stable")[:6]
figure = Figure(figsize=(10, 3.8), layout="constrained")
axes = figure.subplots(2, len(shown))
for column, index in enumerate(shown):
    for row, boxes in enumerate((candidates[index], found[index])):
        title = f"{len(boxes['scores'])} " + ("boxes" if row == 0 else "after NMS")
        show_image(axes[row, column], x_test[index], title)
        tc.viz.draw_boxes(
            axes[row, column],
            boxes["boxes"],
            COLOURS[boxes["labels"]],
            texts=[f"{score:.2f}" for score in boxes["scores"]],
        )
figure.suptitle(
    f"test scenes, boxes scoring >= {THRESHOLD}: before (top) and after (bottom) "
    "non-max suppression"
)
figure.savefig(lesson.out / "08_nms.png", dpi=120)
figure

# %% [markdown]
# ## Precision, recall and mean average precision
#
# How good is a detector? Take the detections of one class over all test scenes, best score
# first. Each one is a **true positive** if it overlaps a true box of its class, not yet
# claimed by a better detection, with IoU >= 0.5; otherwise it is a false positive (a second
# box on one object counts as one). After the k best, **precision** is the share of them that
# were right and **recall** the share of the true boxes found. Lowering the score threshold
# walks along the curve below: more objects found, more mistakes made.
#
# **Average precision** (AP) is the area under that curve, computed as COCO does it (precision
# made monotone, averaged over the recall levels 0, 0.01, ..., 1), and **mAP** its mean over the
# classes. AP@0.5 asks for IoU >= 0.5; COCO's main number, AP@[.5:.95], averages the thresholds
# 0.5, 0.55, ..., 0.95, and so rewards tight boxes. `tc.metrics.mean_average_precision` gives the
# same numbers as pycocotools, the reference implementation.
#
# We measure on the test scenes (seed 2), which took part in no decision, with the detections
# above: their low score threshold (0.01) keeps the unsure ones, which the curve needs too.

# %%
ap50 = tc.metrics.mean_average_precision(found, truth_test, 0.5)
ap_coco = tc.metrics.mean_average_precision(found, truth_test, np.linspace(0.5, 0.95, 10))
per_class = {
    name: tc.metrics.average_precision(found, truth_test, k, 0.5)
    for k, name in enumerate(CLASS_NAMES)
}
print(
    f"test set: {n_test:,} scenes of seed 2, "
    f"{sum(len(scene['labels']) for scene in truth_test):,} objects"
)
print(f"AP@0.5        = {ap50:.3f}")
print(f"AP@[.5:.95]   = {ap_coco:.3f}")
for name, value in per_class.items():
    print(f"  AP@0.5 {name:<11} {value:.3f}")

figure = Figure(figsize=(5, 4), layout="constrained")
ax = figure.subplots()
for k, name in enumerate(CLASS_NAMES):
    recall, precision, _ = tc.metrics.precision_recall_curve(found, truth_test, k, 0.5)
    ax.plot(recall, precision, color=COLOURS[k], label=f"{name} (AP {per_class[name]:.2f})")
ax.set_xlabel("recall")
ax.set_ylabel("precision")
ax.set_xlim(0, 1.02)
ax.set_ylim(0, 1.02)
ax.set_title("precision-recall per class, IoU >= 0.5, test set", fontsize=9)
ax.legend(loc="lower left", fontsize=8)
figure.savefig(lesson.out / "08_precision_recall.png", dpi=120)
figure

# %% [markdown]
# ## Saving and loading
#
# `tc.save` writes the layers, their weights, batch normalization's running statistics and the
# output map (with its anchors) into one `.npz` file; `tc.load` rebuilds the detector from it.

# %%
path = lesson.out / "detector.npz"
tc.save(model, path)
loaded = tc.load(path)
y_saved, y_loaded = model.predict(x_test[:64]), loaded.predict(x_test[:64])
print(f"saved {path} ({path.stat().st_size / 1024:.0f} KiB)")
same_predictions = bool(np.array_equal(y_saved, y_loaded))
print("the loaded detector predicts the same grids:", same_predictions)

tc.train.write_results(
    lesson.out / "08_metrics.json",
    {
        "test_scenes": n_test,
        "test_seed": 2,
        "ap50": ap50,
        "ap50_95": ap_coco,
        **{f"ap50_{name}": value for name, value in per_class.items()},
        "training_scenes": n_train,
        "epochs": epochs,
        "parameters": parameter_count,
        "training_seconds": round(training_seconds, 1),
        "loaded_model_predicts_the_same": same_predictions,
    },
)

# %% [markdown]
# ## What to remember
#
# - YOLO is the localization vector in every grid cell: the cell holding an object's midpoint
#   answers for it, with its box in cell units.
# - Anchor boxes give a cell several vectors, one per typical shape, so that a pedestrian and
#   the car behind her can share a cell.
# - One fully convolutional pass gives every cell's answer; non-max suppression keeps one box
#   per object.
# - Detectors are judged by precision and recall over all score thresholds: AP per class, mAP
#   over classes, at IoU 0.5 or averaged over 0.5 to 0.95.

# %%
lesson.finish()
