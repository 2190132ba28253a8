# %% [markdown]
# # Lesson 9: real faces in real photographs
#
# Every image so far was drawn by tinycnn's own code. That is right for teaching: the targets are
# exact and there is no end of data. But does any of it work on a real photo?
#
# This lesson trains the localizer of lesson 4, with K = 1 class (a face), on real pixels:
#
# 1. real faces from *Labeled Faces in the Wild*, pasted into crops of real photographs, with
#    the faces and the photographs of the test set never seen in training;
# 2. a face localizer trained with the practical loss and augmentation, measured on the held-out
#    faces and photographs, with its best and worst predictions;
# 3. the whole astronaut photograph searched with convolutional sliding windows (lesson 7) over an
#    image pyramid, the best box after non-max suppression, and a classical face detector, the
#    LBP cascade, on the same photo and on the same held-out scenes.
#
# All pixels come from scikit-image, which ships them inside its wheel: nothing is downloaded.
# scikit-image is an optional extra of tinycnn: `pip install -e ".[real]"`.
#
# `--quick` runs the same code on a handful of images for one epoch (the network then learns next
# to nothing); the figures, the model and the metrics go to `lessons/output/` (a quick run's to
# `lessons/output/quick/`, so that it never overwrites a full run's; or to `--out DIR`).

# %%
# %matplotlib inline
import json
import time

import numpy as np
from matplotlib.figure import Figure

import tinycnn as tc
from tinycnn.data import real_faces
from tinycnn.targets import BOX, P_C

try:
    import skimage
    from skimage.feature import Cascade
    from skimage.transform import rescale
except ModuleNotFoundError as error:
    raise ModuleNotFoundError(
        'Lesson 9 needs scikit-image, the optional extra "real": pip install -e ".[real]"'
    ) from error

lesson = tc.course.start(9, "real faces in real photographs")  # --out, --quick: see tc.course
np.set_printoptions(precision=3, suppress=True)
print("scikit-image", skimage.__version__)

SIZE = 64
if lesson.quick:
    n_per_epoch, n_validation, n_test, n_cascade, epochs = 256, 64, 128, 16, 1
else:
    n_per_epoch, n_validation, n_test, n_cascade, epochs = 12_000, 1_000, 2_000, 400, 8

# %% [markdown]
# ## Real faces, real photographs
#
# `tc.data.real_face_dataset` builds each 64x64 image from two real sources:
#
# - a random crop of a real photograph, at a random scale: a cat, coins, the moon, galaxies,
#   bricks, grass, printed text and a clock for training; a kitchen table, a rocket on its launch
#   pad, a printed page and gravel for testing;
# - in half of the images, one of the 100 face crops of `skimage.data.lfw_subset()` (25x25, grey),
#   resized to 30-70% of the image, with random contrast, its border blended into the photograph.
#   The box is exactly that square: eyebrows to chin, cheek to cheek, as LFW frames its faces.
#
# The other half have no face. Half of those hold one of LFW's *non*-face patches, pasted in the
# same way, so that "something was pasted here" is no clue. The target vector is lesson 1's with
# one class: [p_c, b_x, b_y, b_h, b_w, c_face].
#
# **An honest split.** The test set uses 30 faces, 30 non-face patches and 4 photographs that
# training never sees. LFW's subset carries no names, so faces are split by index; some people
# appear in LFW more than once, so a test face may show someone whose other photo is a training
# face, but never the same photo. The validation set, watched during training, comes from the
# *training* faces and photographs (other placements): every choice made while watching it stays
# away from the test set, which is measured once, at the end.

# %%
x_validation, y_validation = tc.data.real_face_dataset(n_validation, SIZE, "train", seed=100)
x_test, y_test = tc.data.real_face_dataset(n_test, SIZE, "test", seed=0)
print("training photographs:", ", ".join(real_faces.TRAIN_PHOTOS))
print("test photographs:    ", ", ".join(real_faces.TEST_PHOTOS))
print("validation:", x_validation.shape, " test:", x_test.shape)
figure = tc.viz.show_localization(
    x_test[:16], y_true=y_test[:16], class_names=("face",), path=lesson.out / "09_test_scenes.png"
)
figure

# %% [markdown]
# ## The network
#
# The localizer of lesson 4, with two changes. Its convolutions have no padding, so that lesson 7's
# `convolutionalize` can turn it into sliding windows later without changing a number. And it
# outputs 6 numbers, the vector for one class. As in lesson 4, the last layer starts small, with
# the box's bias in the middle: the untrained network says p_c = 0.5 and a centred box.

# %%
loss = tc.losses.LocalizationLoss(num_classes=1, box_weight=20.0)
rng = np.random.default_rng(0)
output_layer = tc.Dense(128, 6, rng=rng)
output_layer.params["W"] *= 0.1
output_layer.params["b"][BOX] = 0.5
model = tc.Sequential(
    [
        tc.Conv2D(1, 8, 3, rng=rng),
        tc.ReLU(),
        tc.MaxPool2D(2),  # 62 -> 31
        tc.Conv2D(8, 16, 3, rng=rng),
        tc.ReLU(),
        tc.MaxPool2D(2),  # 29 -> 14
        tc.Conv2D(16, 32, 3, rng=rng),
        tc.ReLU(),
        tc.MaxPool2D(2),  # 12 -> 6
        tc.Flatten(),
        tc.Dense(32 * 6 * 6, 128, rng=rng),
        tc.ReLU(),
        output_layer,
    ],
    output=loss.output,
)
parameters = model.summary((1, SIZE, SIZE))

# %% [markdown]
# ## Training with augmentation
#
# 70 faces are few. A network that sees the same 70 pictures again and again learns them by
# heart; we want it to learn what a face looks like. So every training image is a new variant:
#
# - **scale and place**: each epoch draws a fresh training set (another seed of the *training*
#   split): every face lands at a new size (30-70% of the image), a new place, on a new crop of a
#   photograph at a new scale;
# - **flips, brightness, contrast, noise**: `tc.data.augment.random_augment` changes every batch
#   before the network sees it, and mirrors the box with the picture.
#
# The practical loss of lesson 2 with K = 1, box_weight 20 as in lesson 4, Adam, and a learning
# rate halved for the last epochs.

# %%
optimizer = tc.optim.Adam(model, lr=1e-3)
history = {"val_pc_accuracy": [], "val_mean_iou": []}
start = time.perf_counter()
for epoch in range(epochs):
    x_train, y_train = tc.data.real_face_dataset(n_per_epoch, SIZE, "train", seed=epoch)
    optimizer.lr = 1e-3 if epoch < epochs - 3 else 1e-3 / 2 ** (epoch - epochs + 4)
    tc.train.fit(
        model,
        loss,
        optimizer,
        x_train,
        y_train,
        epochs=1,
        batch_size=32,
        augment=tc.data.augment.random_augment,
        seed=epoch,
        progress=False,
    )
    report = tc.metrics.localization_report(model.predict(x_validation), y_validation)
    history["val_pc_accuracy"].append(report["pc_accuracy"])
    history["val_mean_iou"].append(report["mean_iou"])
    print(
        f"epoch {epoch + 1}/{epochs}: validation p_c accuracy {report['pc_accuracy']:.1%}, "
        f"mean IoU {report['mean_iou']:.3f}  ({time.perf_counter() - start:.0f} s)"
    )
training_seconds = time.perf_counter() - start
path = lesson.out / "real_face_localizer.npz"
tc.save(model, path)
print("saved", path)

# %% [markdown]
# ## On held-out faces in held-out photographs
#
# Now, once, the test set: 30 faces and 4 photographs the network has never seen. The numbers of
# lesson 4: p_c accuracy over all images; mean IoU and the correct-localization rate (p_c >= 0.5
# and IoU >= 0.5) over the images with a face.

# %%
y_pred = model.predict(x_test)
report = tc.metrics.localization_report(y_pred, y_test)
TARGETS = {"pc_accuracy": 0.95, "mean_iou": 0.70, "correct_localization_rate": 0.90}
for name, target in TARGETS.items():
    verdict = "reached" if report[name] >= target else "NOT reached"
    print(f"{name:<27} {report[name]:.3f}   (target {target:.2f}: {verdict})")

# %% [markdown]
# The best and the worst: the eight test faces boxed best, then the eight boxed worst (lowest
# IoU, whatever p_c said). Green is the truth, dashed red the prediction with its p_c.

# %%
with_face = np.flatnonzero(y_test[:, P_C] == 1)
overlaps = tc.boxes.iou(tc.boxes.clip_sizes(y_pred[with_face][:, BOX]), y_test[with_face][:, BOX])
order = with_face[np.argsort(overlaps)]
best, worst = order[::-1][:8], order[:8]
figure = tc.viz.show_localization(
    x_test[best],
    y_true=y_test[best],
    y_pred=y_pred[best],
    class_names=("face",),
    path=lesson.out / "09_best.png",
)
figure

# %%
figure = tc.viz.show_localization(
    x_test[worst],
    y_true=y_test[worst],
    y_pred=y_pred[worst],
    class_names=("face",),
    path=lesson.out / "09_worst.png",
)
figure

# %% [markdown]
# And the images without a face that the network called a face (if any), highest p_c first:

# %%
false_alarms = np.flatnonzero((y_test[:, P_C] == 0) & (y_pred[:, P_C] >= 0.5))
false_alarms = false_alarms[np.argsort(-y_pred[false_alarms, P_C])][:8]
print(
    f"{np.sum((y_test[:, P_C] == 0) & (y_pred[:, P_C] >= 0.5))} of "
    f"{np.sum(y_test[:, P_C] == 0)} images without a face called a face"
)
shown = false_alarms if len(false_alarms) else np.flatnonzero(y_test[:, P_C] == 0)[:8]
figure = tc.viz.show_localization(
    x_test[shown],
    y_true=y_test[shown],
    y_pred=y_pred[shown],
    class_names=("face",),
    path=lesson.out / "09_false_alarms.png",
)
figure

# %% [markdown]
# **What the full run showed** (8 epochs of 12,000 fresh images, on the machine of 2026-11-29):
# the validation set, the training faces and photographs in new placements, reached 96.0% p_c
# accuracy and a mean IoU of 0.73; the test set, other faces in other photographs, 82.4%, 0.61,
# and 71.8% correct localizations. The targets (95%, 0.70, 90%) are not reached. Most of the
# gap is false alarms: 307 of the 1,000 test images without a face were called a face. Split by
# test photograph (the same saved model and test images, each image's photograph noted):
#
#     photograph   false alarms   faces found   mean IoU   correct localization
#     coffee            5.2%          91.3%        0.70            85.7%
#     rocket            2.5%          99.6%        0.76            96.2%
#     page             80.8%          96.8%        0.42            40.0%
#     gravel           29.5%          93.6%        0.61            71.3%
#
# On the kitchen table and the launch pad the localizer is close to the targets. The printed
# page, a texture unlike any training photograph (the training photograph of text is small,
# blurred print), fools it most of the time, and coarse gravel often. The network learned
# "not a face" only for the kinds of background it saw: on the training photographs it tells
# faces from non-faces 96% of the time. More, and more varied, training photographs (or mining
# the backgrounds it gets wrong) is where the limit lies, more than the 70 faces: faces it never
# saw, on the test photographs that resemble training ones, it finds 91-99.6% of the time.
#
# We do not change the training set after seeing this: the test set would then have taken part
# in a decision, and its numbers would no longer be an honest estimate.

# %% [markdown]
# ## The classical baseline: an LBP cascade
#
# Before CNNs, faces were found by cascades of simple features (Viola and Jones; here the local
# binary patterns variant). scikit-image ships OpenCV's frontal-face cascade and runs it with
# `skimage.feature.Cascade`. It is what a user would reach for first, so it is our baseline.
#
# The cascade looks for faces of at least 24x24 pixels, so each 64x64 test image is enlarged
# twice first; its boxes are scaled back. It answers with any number of boxes: a face counts as
# found when one of them has IoU >= 0.5 with the true box, and every other box is a false
# positive. Our localizer gives one box per image (p_c >= 0.5), judged the same way. The
# cascade is slow in Python's loop over images, so both are compared on the first
# `n_cascade` test images.

# %%
cascade = Cascade(skimage.data.lbp_frontal_face_cascade_filename())


def cascade_boxes(image, min_size=24, max_size=None):
    """The cascade's detections in a grey image, as centre boxes in pixels (M, 4)."""
    max_size = max_size or min(image.shape)
    found = cascade.detect_multi_scale(
        img=image,
        scale_factor=1.2,
        step_ratio=1,
        min_size=(min_size, min_size),
        max_size=(max_size, max_size),
    )
    return np.array(
        [
            [d["c"] + d["width"] / 2, d["r"] + d["height"] / 2, d["height"], d["width"]]
            for d in found
        ],
        dtype=float,
    ).reshape(-1, 4)


def judge(boxes_per_image, truth):
    """Found faces and false positives for per-image box lists (fractions) against targets."""
    found = false_positives = 0
    for boxes, target in zip(boxes_per_image, truth, strict=True):
        matched = np.zeros(len(boxes), dtype=bool)
        if target[P_C] == 1 and len(boxes):
            overlaps = tc.boxes.iou(boxes, target[BOX])
            if overlaps.max() >= 0.5:
                found += 1
                matched[np.argmax(overlaps)] = True
        false_positives += int(np.sum(~matched))
    faces = int(np.sum(truth[:, P_C] == 1))
    return {
        "detection_rate": found / max(faces, 1),
        "false_positives": false_positives,
        "images": len(truth),
        "faces": faces,
    }


start = time.perf_counter()
cascade_found = [
    cascade_boxes(rescale(image[0], 2, order=1)) / (2 * SIZE) for image in x_test[:n_cascade]
]
cascade_seconds = time.perf_counter() - start
ours = [
    tc.boxes.clip_sizes(y[BOX][None]) if y[P_C] >= 0.5 else np.zeros((0, 4))
    for y in y_pred[:n_cascade]
]
comparison = {
    "cnn": judge(ours, y_test[:n_cascade]),
    "cascade": judge(cascade_found, y_test[:n_cascade]),
}
print(f"the first {n_cascade} test images ({comparison['cnn']['faces']} with a face):")
for name, scores in comparison.items():
    print(
        f"  {name:<8} finds {scores['detection_rate']:.1%} of the faces, "
        f"{scores['false_positives']} false positives"
    )
print(f"(the cascade took {cascade_seconds:.0f} s)")

# %% [markdown]
# ## The astronaut
#
# `skimage.data.astronaut()` is a 512x512 portrait of Eileen Collins (NASA, public domain): one
# real face, in a real scene the network has never seen in any form. We look at it in grey, as
# the network does.
#
# **Her face box, by hand.** To judge a box we need the true one, framed as LFW frames faces.
# In LFW's crops the eyes sit about 0.36 of the way down and 0.36 of the width apart. Her eyes
# are at about (213, 104) and (253, 104) (column, row), 40 pixels apart, so her face box is a
# square of 40 / 0.36 = 110 pixels centred at column 233, from row 66 to row 176: corners
# (178, 66) and (288, 176).

# %%
photo = real_faces.load_photo("astronaut")
HEIGHT, WIDTH = photo.shape
PIXELS = np.array([WIDTH, HEIGHT, WIDTH, HEIGHT])
FACE = tc.boxes.corners_to_center(np.array([178, 66, 288, 176]) / PIXELS)
print("photo:", photo.shape, " face box [b_x, b_y, b_h, b_w]:", FACE)

# %% [markdown]
# ### Convolutional sliding windows over an image pyramid
#
# The network takes 64x64 windows, and in training a face filled 30-70% of the window: 19 to 45
# pixels. Her face is 110 pixels. So we shrink the photograph until her face would fit, and since
# in general we do not know the faces' sizes, we try a few scales: an *image pyramid*. At each
# scale, `convolutionalize` runs the classifier over every 64x64 window at once, one window
# every 8 pixels (three 2x2 poolings).
#
# Each window gives the lecture's vector: p_c, and a box *relative to the window*. A window at
# row i, column j of the output map starts at (8j, 8i) in the shrunk photo; its box in the
# photograph is
#
#     centre = ((8j + 64 b_x) / s, (8i + 64 b_y) / s),   size = (64 b_h / s, 64 b_w / s)
#
# for the scale s. Each window thus predicts a box of its own shape and size: not the window's
# grid and fixed size that lesson 7's classifier was stuck with.

# %%
sliding = tc.networks.convolutionalize(model, (1, SIZE, SIZE))
stride = tc.networks.window_stride(model)
SCALES = (0.42, 0.34, 0.27, 0.22, 0.17)
maps, all_boxes, all_scores = [], [], []
start = time.perf_counter()
for scale in SCALES:
    shrunk = np.asarray(rescale(photo, scale, anti_aliasing=True), dtype=np.float32)
    vectors = sliding.predict(shrunk[None, None])[0]  # (6, rows, cols)
    rows, cols = vectors.shape[1:]
    i, j = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    b_x, b_y, b_h, b_w = vectors[BOX]
    boxes = np.stack(
        [
            (stride * j + SIZE * b_x) / scale / WIDTH,
            (stride * i + SIZE * b_y) / scale / HEIGHT,
            SIZE * b_h / scale / HEIGHT,
            SIZE * b_w / scale / WIDTH,
        ],
        axis=-1,
    )
    maps.append(vectors[P_C])
    all_boxes.append(boxes.reshape(-1, 4))
    all_scores.append(vectors[P_C].reshape(-1))
    print(
        f"scale {scale:.2f}: {shrunk.shape[0]}x{shrunk.shape[1]} pixels, {rows}x{cols} windows, "
        f"highest p_c {vectors[P_C].max():.3f}"
    )
# Each window's box is a regression: a negative size is read as a box without area.
all_boxes = tc.boxes.clip_sizes(np.concatenate(all_boxes))
all_scores = np.concatenate(all_scores)
sliding_seconds = time.perf_counter() - start
print(f"{len(all_scores)} windows at {len(SCALES)} scales in {sliding_seconds:.2f} s")

# %% [markdown]
# The heat maps show p_c for every window at each scale, drawn at the window's centre in the
# photograph. Where the face fits the window's range of sizes, the windows on it light up.

# %%
figure = Figure(figsize=(2.6 * len(SCALES) + 1, 3.1), layout="constrained")
for index, (scale, p_c) in enumerate(zip(SCALES, maps, strict=True)):
    ax = figure.add_subplot(1, len(SCALES), index + 1)
    # On pixel-edge axes (pixel (i, j) covers [j, j + 1) x [i, i + 1)) a window's centre in
    # pixels is its place on the axes.
    ax.imshow(photo, cmap="gray", vmin=0, vmax=1, extent=(0, WIDTH, HEIGHT, 0))
    rows, cols = p_c.shape
    half = stride / 2 / scale
    first = SIZE / 2 / scale
    extent = (
        first - half,
        first + (cols - 0.5) * stride / scale,
        first + (rows - 0.5) * stride / scale,
        first - half,
    )
    shown = ax.imshow(p_c, cmap="magma", vmin=0, vmax=1, alpha=0.6, extent=extent)
    ax.set_xlim(0, WIDTH)
    ax.set_ylim(HEIGHT, 0)
    ax.set_title(f"scale {scale}: windows of {SIZE / scale:.0f} px", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
figure.colorbar(shown, ax=figure.axes, shrink=0.8, label="p_c")
figure.savefig(lesson.out / "09_astronaut_heatmaps.png", dpi=100)
figure

# %% [markdown]
# ### Non-max suppression, and the cascade on the same photo
#
# Many windows, at several scales, fire on one face. Non-max suppression (a later lecture) keeps
# the most confident box and drops every other box that overlaps it by IoU > 0.5, then repeats
# with what is left. We keep boxes with p_c >= 0.6.

# %%
kept = tc.boxes.non_max_suppression(all_boxes, all_scores, iou_threshold=0.5, score_threshold=0.6)
best_box = all_boxes[kept[0]] if len(kept) else all_boxes[np.argmax(all_scores)]
best_score = all_scores[kept[0]] if len(kept) else all_scores.max()
cascade_on_photo = cascade_boxes(photo) / PIXELS
print(
    f"boxes kept after NMS: {len(kept)}; the best, p_c {best_score:.3f}:",
    np.round(best_box * PIXELS).astype(int),
    "(b_x, b_y, b_h, b_w in pixels)",
)
print("the cascade's boxes:", np.round(cascade_on_photo * PIXELS).astype(int).tolist())


figure = Figure(figsize=(7, 7))
ax = figure.add_subplot()
ax.imshow(photo, cmap="gray", vmin=0, vmax=1)
tc.viz.draw_boxes(ax, FACE, tc.viz.TRUE_COLOUR, linewidth=2)
tc.viz.draw_boxes(ax, cascade_on_photo, "deepskyblue", linestyle=":", linewidth=2)
tc.viz.draw_boxes(ax, all_boxes[kept[1:]], tc.viz.PREDICTED_COLOUR, linestyle="--", linewidth=0.8)
tc.viz.draw_boxes(ax, best_box, tc.viz.PREDICTED_COLOUR, linestyle="--", linewidth=2.5)
ax.set_title(
    "her face by hand (green), the CNN's best box (thick red) and other boxes kept\n"
    "after NMS (thin red), the LBP cascade (blue, dotted)",
    fontsize=9,
)
ax.set_xticks([])
ax.set_yticks([])
figure.savefig(lesson.out / "09_astronaut.png", dpi=100)
figure

# %%
face_corners = tc.boxes.center_to_corners(FACE)
centre_on_face = bool(
    face_corners[0] <= best_box[0] <= face_corners[2]
    and face_corners[1] <= best_box[1] <= face_corners[3]
)
size_ratio = float(np.sqrt(best_box[2] * best_box[3] / (FACE[2] * FACE[3])))
astronaut = {
    "best_box_pixels": np.round(best_box * PIXELS, 1).tolist(),
    "best_p_c": float(best_score),
    "iou_with_face": float(tc.boxes.iou(best_box, FACE)),
    "centre_on_face": centre_on_face,
    "size_ratio": size_ratio,
    "boxes_after_nms": int(len(kept)),
    "cascade_boxes": len(cascade_on_photo),
    "cascade_best_iou": float(tc.boxes.iou(cascade_on_photo, FACE).max())
    if len(cascade_on_photo)
    else 0.0,
}
print(
    f"the best box: centre on her face: {centre_on_face}; size {size_ratio:.2f} x the face's "
    f"(target: within 1/1.5 .. 1.5); IoU with the face {astronaut['iou_with_face']:.2f}"
)
print(
    f"the cascade: {len(cascade_on_photo)} boxes, best IoU with the face "
    f"{astronaut['cascade_best_iou']:.2f}"
)

# %% [markdown]
# In the full run the best box lies on her face (centre inside the hand-made box, size 0.96 of
# it, IoU 0.55, p_c 1.00): found, at the right scale, by windows that never saw her. But about a
# hundred other boxes survive NMS at p_c >= 0.6, on the suit, the flag and the shuttle: the
# false alarms of the test set again, on backgrounds unlike the training photographs. The
# cascade, built from thousands of faces and a far larger set of negatives, reports her face
# and one false box. On the held-out scenes too it finds more faces with fewer false positives.
# Sliding windows did their part: one pass per scale over the whole photograph, each window
# with its own box. What a classifier learns from 70 faces on 8 photographs is the weak part.

# %% [markdown]
# ## What transfers from drawn to real data, and what does not
#
# **What transfers unchanged**: all of the code. The vector y = [p_c, b_x, b_y, b_h, b_w, c], the
# practical loss, the layers and their backward passes, Adam, the metrics, `save`/`load`, and the
# convolutional sliding windows of lesson 7 run on real pixels exactly as on drawn ones. So do
# the habits: a held-out test set that took part in no decision, and pictures of the worst cases.
#
# **What does not**: the trained weights, and the easy numbers. A network trained on drawn
# faces has learned drawn edges and flat tones; real faces have texture, shading, glasses, hair,
# and backgrounds with their own faces-like blobs (the cat's face, coins, a clock's dial). With
# drawn data every new seed is a new face; here there are 70 training faces, and everything the
# network learns about faces comes from them. Augmentation (new sizes, places, backgrounds,
# flips, tones) multiplies the *views* of those 70 faces, not the faces. The held-out numbers
# above, on 30 other faces in 4 other photographs, show how far that goes.
#
# **The box is a convention.** With drawn data the box was the object's exact pixels. A real
# face has no edge where the box should go: here the box is LFW's framing (eyebrows to chin,
# cheek to cheek), pasted as a square. On the astronaut we had to define her box by that same
# framing, by hand; the cascade frames faces its own way, so its boxes are smaller and placed a
# little differently, which lowers its IoU with our box without making it wrong.
#
# **Pasted is not photographed.** A pasted face is blended into a photograph that did not hold
# it: the light, the blur and the grain differ from its surroundings. The non-face patches pasted
# the same way keep "pasted" from meaning "face", but the astronaut is the real test of whether
# the network learned faces or pastes.

# %%
results = {
    "image_size": SIZE,
    "training_images_per_epoch": n_per_epoch,
    "epochs": epochs,
    "training_seconds": round(training_seconds, 1),
    "test_images": n_test,
    "test_faces": int(np.sum(y_test[:, P_C] == 1)),
    **report,
    "targets": TARGETS,
    "targets_reached": {name: bool(report[name] >= target) for name, target in TARGETS.items()},
    "cascade_comparison_images": n_cascade,
    "comparison": comparison,
    "astronaut_face_box_pixels": [178, 66, 288, 176],
    "astronaut": astronaut,
    "validation_history": history,
    "train_photos": list(real_faces.TRAIN_PHOTOS),
    "test_photos": list(real_faces.TEST_PHOTOS),
    "scikit_image": skimage.__version__,
}
path = lesson.out / "09_metrics.json"
path.write_text(json.dumps(results, indent=2) + "\n")
print("saved", path)
lesson.finish()
