# %% [markdown]
# # Lesson 1: the output vector
#
# An image classifier answers one question: *what is in the picture?* Classification with
# localization answers three: *is there an object at all, where is it, and what is it?* The
# network gives all three answers at once, as one vector of numbers. For K classes it holds
# K + 5 numbers, in this order:
#
#     y = [p_c, b_x, b_y, b_h, b_w, c_1, ..., c_K]
#
# - **p_c**: 1 if the image holds an object, 0 if not.
# - **b_x, b_y**: the centre of the object's bounding box.
# - **b_h, b_w**: the box's height and width. Height comes *before* width, as in the lecture;
#   mixing the two up is the classic bug of this chapter.
# - **c_1..c_K**: the class, one-hot: a 1 in the object's class and 0 elsewhere.
#
# All four box numbers are fractions of the image: (0, 0) is the top-left corner, (1, 1) the
# bottom-right one, and y grows *downwards*, as rows of pixels do. A fraction does not care how
# many pixels the image has, so the same network output means the same box at any resolution.
#
# Our classes are pedestrian, car and motorcycle, so K = 3 and y has 8 numbers.
#
# Run this lesson as a script (`python lessons/01_output_vector.py`) or as a notebook in Jupyter
# (see the README). It shows its pictures and also saves them in `output/` beside the lesson
# (`output/quick/` for a `--quick` run, so that it never overwrites a full run's; or `--out DIR`).

# %%
# %matplotlib inline

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

import tinycnn as tc

lesson = tc.course.start(1, "the output vector")  # --out, --quick: see tc.course
n_images = 8 if lesson.quick else 16
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## Encoding: from "a car, here" to the vector y
#
# `tc.targets.encode_localization` writes y for one image: the class index (0 = pedestrian,
# 1 = car, 2 = motorcycle) and the box (b_x, b_y, b_h, b_w). Here is a car centred at
# (0.5, 0.6), 0.3 of the image tall and 0.5 wide.

# %%
CLASS_NAMES = tc.data.CLASS_NAMES
NUM_CLASSES = len(CLASS_NAMES)
ENTRY_NAMES = ["p_c", "b_x", "b_y", "b_h", "b_w"] + [f"c_{name}" for name in CLASS_NAMES]


def print_vector(vector, names=ENTRY_NAMES):
    """One line per entry: its name and its value."""
    width = max(len(name) for name in names)
    for name, value in zip(names, vector, strict=True):
        print(f"  {name:<{width}}  {value:.4g}")


y_car = tc.targets.encode_localization(label=1, box=(0.5, 0.6, 0.3, 0.5), num_classes=NUM_CLASSES)
print("y for a car:", y_car)
print_vector(y_car)

# %% [markdown]
# The columns have names in `tc.targets`, so code never needs to remember that the box lives in
# columns 1 to 4: `P_C` is 0, `BOX` is the slice 1:5 and `CLASSES` the slice 5:.

# %%
print("p_c     =", y_car[tc.targets.P_C])
print("box     =", y_car[tc.targets.BOX], " (b_x, b_y, b_h, b_w)")
print("classes =", y_car[tc.targets.CLASSES], " one-hot:", CLASS_NAMES[1])

# %% [markdown]
# ## Decoding: from a network's output back to words
#
# A trained network does not output exact 0s and 1s. p_c comes out as a probability, the classes
# as probabilities that sum to 1, the box as four numbers near the truth.
# `tc.targets.decode_localization` reads such a vector: the object counts as present when
# p_c >= 0.5 (the threshold can be changed), and its class is the most probable one.

# %%
y_hat = np.array([0.93, 0.48, 0.61, 0.28, 0.52, 0.03, 0.91, 0.06])
decoded = tc.targets.decode_localization(y_hat, NUM_CLASSES)
print(decoded)
print(f"-> a {CLASS_NAMES[decoded.label]} (p_c = {decoded.p_c:.2f}) in the box {decoded.box}")

# %% [markdown]
# ## No object: p_c = 0, and the rest don't matter
#
# When the image holds no object there is no box to give and no class to name. The lecture
# writes the other entries as "?": *don't care*. Whatever they hold, they mean nothing, and the
# loss (lesson 2) will ignore them. `encode_localization` writes zeros there, because some
# number has to be stored.

# %%
y_empty = tc.targets.encode_localization(label=None, box=None, num_classes=NUM_CLASSES)
print("y for an empty image:", y_empty)

# A prediction with a low p_c decodes to "no object", whatever its box and classes say.
y_hat_empty = np.array([0.08, 0.5, 0.5, 0.9, 0.9, 0.1, 0.1, 0.8])
print(tc.targets.decode_localization(y_hat_empty, NUM_CLASSES))

# %% [markdown]
# The checks in `tc.targets` follow the same rule. A target row with p_c = 0 may hold anything
# after it; a row with p_c = 1 must hold a real box and a one-hot class.

# %%
junk = [0.0, 7.0, -3.0, 42.0, 0.5, 1.0, 1.0, 1.0]
tc.targets.check_localization_targets(np.array([junk]), NUM_CLASSES)
print("p_c = 0 followed by junk: accepted")
try:
    tc.targets.check_localization_targets(np.array([[1.0] + junk[1:]]), NUM_CLASSES)
except ValueError as error:
    print("p_c = 1 followed by junk: rejected:", error)

# %% [markdown]
# ## Two ways to write a box
#
# The lecture's format, centre and size, is what the network predicts. For drawing a box, or
# for intersecting two boxes, its corners are handier:
#
#     centre:  [b_x, b_y, b_h, b_w]
#     corners: [x_min, y_min, x_max, y_max]
#
#     x_min = b_x - b_w / 2,   x_max = b_x + b_w / 2
#     y_min = b_y - b_h / 2,   y_max = b_y + b_h / 2
#
# Mind the order again: the centre format has height before width, the corner format has x
# before y. Multiplying by the image size turns fractions into pixels.

# %%
box = y_car[tc.targets.BOX]
corners = tc.boxes.center_to_corners(box)
image_size = 64
print("centre  [b_x, b_y, b_h, b_w]         =", box)
print("corners [x_min, y_min, x_max, y_max] =", corners)
print(f"in pixels of a {image_size}x{image_size} image:", corners * image_size)
print("and back:", tc.boxes.corners_to_center(corners))

# %% [markdown]
# ## The dataset
#
# `tc.data.localization_dataset(n, seed=...)` draws n grayscale scenes of 64x64 pixels, each
# with one pedestrian, car or motorcycle, or with nothing, on a cluttered background. Nothing is
# downloaded: the scenes are drawn from the seed, so the same seed always gives the same scenes.
# Because the program drew every object, it knows each box exactly: the tightest box around the
# object's pixels. An object that runs past the border gets the box of its visible part. The
# targets come already encoded in the lecture's format.

# %%
images, y = tc.data.localization_dataset(n_images, seed=0)
print("images:", images.shape, images.dtype, f"values in [{images.min():.2f}, {images.max():.2f}]")
print("y:     ", y.shape, y.dtype)
print(f"{int(np.sum(y[:, tc.targets.P_C] == 0))} of {len(y)} images hold no object")
first_object = np.flatnonzero(y[:, tc.targets.P_C] == 1)[0]
print(f"the target of image {first_object}, the first with an object:")
print_vector(y[first_object])

# %% [markdown]
# `tc.viz.show_localization` draws each scene with its box in green and its class above it.
# Look for the empty scenes: some of them hold distractors (blobs, lines, rectangles) that are
# not objects, so the network will have to learn what an object looks like, not just that
# something is there.

# %%
tc.viz.show_localization(images, y_true=y, path=lesson.out / "01_scenes.png")

# %% [markdown]
# ## One box, taken apart
#
# The picture below shows the first car of the dataset on axes measured in image fractions,
# from 0 to 1 on both axes, with the four box numbers drawn where they are measured.

# %%
is_car = y[:, tc.targets.CLASSES][:, CLASS_NAMES.index("car")] == 1
car = np.flatnonzero(is_car)[0]
b_x, b_y, b_h, b_w = y[car, tc.targets.BOX]
x_min, y_min, x_max, y_max = tc.boxes.center_to_corners(y[car, tc.targets.BOX])

figure = Figure(figsize=(5.5, 5.5), layout="constrained")
ax = figure.subplots()
# extent=(left, right, bottom, top) puts the image on axes from 0 to 1, y growing downwards.
ax.imshow(images[car, 0], cmap="gray", vmin=0, vmax=1, extent=(0, 1, 1, 0))
ax.add_patch(Rectangle((x_min, y_min), b_w, b_h, fill=False, edgecolor="limegreen", lw=2))
# Labels on a pale background, to stay readable over the picture.
label = {"fontweight": "bold", "bbox": {"facecolor": "white", "alpha": 0.85, "edgecolor": "none"}}
ax.plot(b_x, b_y, "o", color="limegreen", mec="black")
ax.annotate(
    f"(b_x, b_y) = ({b_x:.2f}, {b_y:.2f})",
    (b_x, b_y),
    xytext=(0, -14),
    textcoords="offset points",
    ha="center",
    color="green",
    **label,
)
for corner_x, corner_y, name, va in ((x_min, y_min, "min", "bottom"), (x_max, y_max, "max", "top")):
    ax.plot(corner_x, corner_y, "s", color="tab:blue", ms=5)
    ax.text(
        corner_x,
        corner_y + (0.03 if va == "top" else -0.03),
        f"(x_{name}, y_{name})",
        ha="center",
        va=va,
        color="tab:blue",
        fontsize=8,
        **label,
    )
arrows = {"arrowstyle": "<->", "color": "tab:orange", "lw": 1.5}
# The width above the box if there is room there, else below it; the height likewise beside it.
above = y_min > 0.16
width_y = y_min - 0.08 if above else y_max + 0.08
ax.annotate("", xy=(x_min, width_y), xytext=(x_max, width_y), arrowprops=arrows)
ax.text(
    b_x,
    width_y + (-0.02 if above else 0.02),
    f"b_w = {b_w:.2f}",
    ha="center",
    va="bottom" if above else "top",
    color="tab:orange",
    **label,
)
right = x_max < 0.88
height_x = x_max + 0.04 if right else x_min - 0.04
ax.annotate("", xy=(height_x, y_min), xytext=(height_x, y_max), arrowprops=arrows)
ax.text(
    height_x + (0.02 if right else -0.02),
    b_y,
    f"b_h = {b_h:.2f}",
    ha="left" if right else "right",
    va="center",
    rotation=90,
    color="tab:orange",
    **label,
)
ax.set_xlim(0, 1)
ax.set_ylim(1, 0)  # top at the top: y grows downwards
ax.set_xlabel("x, as a fraction of the image width")
ax.set_ylabel("y, as a fraction of the image height (down)")
ax.set_title(f"y = [1, {b_x:.2f}, {b_y:.2f}, {b_h:.2f}, {b_w:.2f}, 0, 1, 0]  (a car)")
figure.savefig(lesson.out / "01_box_anatomy.png", dpi=120)
figure

# %% [markdown]
# On axes measured in fractions, the box is drawn just as it is written: a rectangle from its
# corner (x_min, y_min), b_w wide and b_h tall. On an image shown in pixels, `imshow` puts pixel
# column j between j - 0.5 and j + 0.5, so the same box starts at `x_min * W - 0.5` for an image
# W pixels wide: half a pixel is easy to lose. `tc.viz.draw_boxes(ax, boxes)` reads how the
# image was shown and puts the box on the pixels it covers, whatever the axes measure; the later
# lessons draw their boxes with it.

# %% [markdown]
# ## A whole batch at once
#
# For training we need one row of y per image. `encode_localization_batch` takes the class
# indices and boxes of N images, with `NO_OBJECT` (-1) as the label of an empty image. Encoding
# the dataset's own labels and boxes again gives back exactly the targets it came with.

# %%
labels = np.where(
    y[:, tc.targets.P_C] == 1, np.argmax(y[:, tc.targets.CLASSES], axis=1), tc.targets.NO_OBJECT
)
boxes = y[:, tc.targets.BOX]
print("labels:", labels)
y_again = tc.targets.encode_localization_batch(labels, boxes, NUM_CLASSES)
print("encoded again == the dataset's targets:", np.array_equal(y_again, y))

# %% [markdown]
# ## Landmarks: a different question, the same idea
#
# A landmark detector says whether there is a face and where a few named points of it are. With
# three points the vector has 1 + 2 * 3 = 7 numbers:
#
#     y = [is_face, x_1, y_1, x_2, y_2, x_3, y_3]
#
# The points are the left mouth corner, the right mouth corner and the tip of the chin, always in
# this order (`tc.targets.LANDMARK_NAMES`), in image fractions like the box. "Left" means the
# *image's* left, the corner with the smaller x, not the person's left: the network sees only the
# picture. Each slot must mean the same point in every image, or the network could not learn it.
#
# As before, is_face = 0 makes the other six entries "don't care", and they are stored as zeros.

# %%
LANDMARK_ENTRIES = ["is_face"] + [
    f"{axis}_{name}" for name in tc.targets.LANDMARK_NAMES for axis in "xy"
]
points = [(0.35, 0.70), (0.62, 0.70), (0.49, 0.88)]  # (x, y) of each landmark, in order
y_face = tc.targets.encode_landmarks(points)
print_vector(y_face, LANDMARK_ENTRIES)
print("no face:", tc.targets.encode_landmarks(None))

# A network's guess decodes to named points, or to None where is_face < 0.5.
y_hat_face = np.array([0.97, 0.36, 0.69, 0.61, 0.71, 0.50, 0.86])
print(tc.targets.decode_landmarks(y_hat_face))

# %% [markdown]
# `tc.data.landmark_dataset` draws portraits: a tilted face with eyes, nose and mouth, or no face
# (a blank head, or nothing). `tc.viz.show_landmarks` marks the true points: L and R for the
# mouth corners, and the chin.

# %%
faces, y_faces = tc.data.landmark_dataset(n_images, seed=0)
print("faces:", faces.shape, "targets:", y_faces.shape)
first_face = np.flatnonzero(y_faces[:, tc.targets.IS_FACE] == 1)[0]
print(f"the target of portrait {first_face}, the first with a face:")
print_vector(y_faces[first_face], LANDMARK_ENTRIES)
tc.viz.show_landmarks(faces, y_true=y_faces, path=lesson.out / "01_faces.png")

# %% [markdown]
# ## What to remember
#
# - Localization: y = [p_c, b_x, b_y, b_h, b_w, c_1..c_K], height before width, all in image
#   fractions, (0, 0) at the top-left.
# - Landmarks: y = [is_face, x_1, y_1, ..., x_L, y_L], the points always in the same order.
# - p_c = 0 (or is_face = 0) turns every other entry into "don't care".
#
# Next, lesson 2: the loss that measures how far a prediction ŷ is from y, and how it treats
# those "don't care" entries.

# %%
lesson.finish()
