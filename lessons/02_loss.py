# %% [markdown]
# # Lesson 2: the loss
#
# Training needs one number that says how wrong a prediction ŷ is for a target y, and that
# shrinks as ŷ moves towards y: the loss L(ŷ, y). The lecture's loss for localization is the
# squared error, with a twist for images without an object. With the entries numbered from 1, as
# on the slide (so y_1 is p_c):
#
#     L(ŷ, y) = (ŷ_1 - y_1)² + (ŷ_2 - y_2)² + ... + (ŷ_8 - y_8)²    if y_1 = 1
#     L(ŷ, y) = (ŷ_1 - y_1)²                                        if y_1 = 0
#
# If there is an object, every entry counts: p_c, the box and the class. If there is none, only
# p_c counts: the box and the class of an empty image are "don't care" (lesson 1), so no guess
# about them can be wrong.
#
# This lesson computes that loss by hand and with `tc.losses`, checks its gradient numerically,
# then shows the loss one uses in practice, and why. It shows its pictures and saves them in
# `output/` beside the lesson (`output/quick/` for a `--quick` run, so that it never overwrites a
# full run's; or `--out DIR`).

# %%
# %matplotlib inline

import numpy as np
from matplotlib.figure import Figure

import tinycnn as tc

lesson = tc.course.start(2, "the loss")  # --out, --quick: see tc.course
batch_size = 8 if lesson.quick else 64
np.set_printoptions(precision=4, suppress=True)
rng = np.random.default_rng(0)

# %% [markdown]
# ## A batch of four
#
# Two images with an object, two without. The network's guesses ŷ lie near the targets, as a
# half-trained network's would, except for the last image: there the network is sure of a box
# and a class that are not there. Everything is in float64 here, because the numerical
# gradients further down need its precision.

# %%
y = np.array(
    [
        [1, 0.50, 0.60, 0.30, 0.50, 0, 1, 0],  # a car
        [1, 0.40, 0.55, 0.70, 0.30, 1, 0, 0],  # a pedestrian
        [0, 0.00, 0.00, 0.00, 0.00, 0, 0, 0],  # nothing
        [0, 0.00, 0.00, 0.00, 0.00, 0, 0, 0],  # nothing
    ]
)
y_hat = y + rng.normal(0, 0.1, size=y.shape)
y_hat[3] = [0.2, 0.5, 0.5, 0.8, 0.8, 0.0, 0.0, 1.0]  # "a big motorcycle", in an empty image
print("y =\n", y)
print("y_hat =\n", y_hat)

# %% [markdown]
# ## The loss by hand
#
# One image at a time, the slide's two cases written as an `if`. Python counts from 0, so the
# slide's y_1 is `y_row[0]`. The loss of a batch is the mean over its images.


# %%
def lecture_loss(y_hat_row, y_row):
    """The lecture's L(ŷ, y) for one image."""
    if y_row[0] == 1:
        return np.sum((y_hat_row - y_row) ** 2)
    return (y_hat_row[0] - y_row[0]) ** 2


per_image = np.array([lecture_loss(a, b) for a, b in zip(y_hat, y, strict=True)])
print("L per image:", per_image)
print("mean:       ", per_image.mean())

# %% [markdown]
# ## The same loss from the library
#
# `tc.losses.SquaredLocalizationLoss` computes it for a whole batch at once, without a Python
# loop: it takes the error ŷ - y, sets the error of every "don't care" entry to zero, squares and
# sums. Like every loss in tinycnn, `forward(y_hat, y)` returns the mean over the batch, and
# `backward()` then returns the gradient of that mean with respect to ŷ.

# %%
loss = tc.losses.SquaredLocalizationLoss(num_classes=3)
value = loss.forward(y_hat, y)
print("library:", value)
print("by hand:", per_image.mean())
print("equal:  ", np.isclose(value, per_image.mean(), rtol=1e-12, atol=0))

# %% [markdown]
# The last image's confident motorcycle cost only (0.2 - 0)² for its p_c. Moving its box and
# class anywhere else changes nothing:

# %%
moved = y_hat.copy()
moved[3, 1:] = rng.uniform(-5, 5, size=7)
print("loss with the empty image's other guesses moved:", loss.forward(moved, y))

# %% [markdown]
# Where does the loss come from? The picture below shows every squared error (ŷ_k - y_k)² of the
# batch. The grey cells are the "don't care" entries: they add nothing.

# %%
squared_errors = (y_hat - y) ** 2
counted = np.ones_like(y, dtype=bool)
counted[y[:, 0] == 0, 1:] = False
entry_names = ["p_c", "b_x", "b_y", "b_h", "b_w"] + list(tc.data.CLASS_NAMES)

figure = Figure(figsize=(8, 3.2), layout="constrained")
ax = figure.subplots()
ax.set_facecolor("0.75")  # what a masked (NaN) cell shows: "don't care"
shown = ax.imshow(np.where(counted, squared_errors, np.nan), cmap="Reds", vmin=0)
dark = 0.6 * squared_errors[counted].max()
for (row, column), error in np.ndenumerate(squared_errors):
    text = f"{error:.3f}" if counted[row, column] else "don't\ncare"
    colour = "white" if counted[row, column] and error > dark else "black"
    ax.text(column, row, text, ha="center", va="center", fontsize=7, color=colour)
ax.set_xticks(range(len(entry_names)), entry_names)
ax.set_yticks(range(len(y)), [f"image {i}: L = {L:.3f}" for i, L in enumerate(per_image)])
ax.set_title("(ŷ_k - y_k)² for each image and entry; L is the sum of a row's red cells")
figure.colorbar(shown, ax=ax, label="squared error")
figure.savefig(lesson.out / "02_loss_terms.png", dpi=120)
figure

# %% [markdown]
# ## The gradient, and a check that it is right
#
# Backpropagation starts from dloss/dŷ. For the mean over N images of the squared loss:
#
#     dloss/dŷ_k = (2/N) (ŷ_k - y_k)    for every k, where y_1 = 1
#     dloss/dŷ_1 = (2/N) (ŷ_1 - y_1),   and 0 for the others, where y_1 = 0
#
# A "don't care" entry has gradient exactly zero: the network is never pushed to change it.
#
# How do we know `backward()` is right? We compare it with the slope measured numerically, one
# entry at a time, by central differences:
#
#     dloss/dŷ_i ≈ (loss(ŷ + h e_i) - loss(ŷ - h e_i)) / (2h)
#
# `tc.gradcheck.numerical_gradient(f, x)` does that: it nudges x in place and calls f.
# `tc.gradcheck.rel_error` compares two gradients: in float64, below 1e-7 means they agree;
# a mistake in a formula shows up as something near 1.

# %%
n = len(y)
by_hand = 2 / n * (y_hat - y)
by_hand[y[:, 0] == 0, 1:] = 0

loss.forward(y_hat, y)
analytic = loss.backward()
numeric = tc.gradcheck.numerical_gradient(lambda: loss.forward(y_hat, y), y_hat)
print("backward() =\n", analytic)
print(f"rel_error(backward, by hand)  : {tc.gradcheck.rel_error(analytic, by_hand):.1e}")
print(f"rel_error(backward, numerical): {tc.gradcheck.rel_error(analytic, numeric):.1e}")

# %% [markdown]
# ## On a real batch
#
# The same comparisons on a batch of the dataset, with guesses that scatter around the truth.

# %%
batch_rng = np.random.default_rng(1)  # its own generator: the other cells' numbers stay put
_, y_batch = tc.data.localization_dataset(batch_size, seed=1)
y_batch = y_batch.astype(np.float64)
y_hat_batch = y_batch + batch_rng.normal(0, 0.2, size=y_batch.shape)
by_hand_loss = np.mean([lecture_loss(a, b) for a, b in zip(y_hat_batch, y_batch, strict=True)])
library_loss = loss.forward(y_hat_batch, y_batch)
analytic = loss.backward()
numeric = tc.gradcheck.numerical_gradient(lambda: loss.forward(y_hat_batch, y_batch), y_hat_batch)
print(f"{batch_size} images: by hand {by_hand_loss:.6f}, library {library_loss:.6f}")
print(f"rel_error(backward, numerical): {tc.gradcheck.rel_error(analytic, numeric):.1e}")

# %% [markdown]
# ## The loss used in practice
#
# The lecture adds that in practice one would not use squared error everywhere: a logistic loss
# for p_c, a softmax log-likelihood for the classes, and squared error for the box only. Why?
# Three losses for p_c are easy to mix up, so here they are side by side, for an image with an
# object (y_1 = 1). Each is a function of the network's raw output for p_c; training follows its
# slope with respect to that raw output.
#
# 1. **The lecture's squared loss on the raw output**, the one above and
#    `tc.losses.SquaredLocalizationLoss`: p_c is the raw output ŷ_1 itself, and
#
#        L = (ŷ_1 - 1)²          dL/dŷ_1 = 2 (ŷ_1 - 1)
#
#    The slope is as large as the mistake: a network sure that the image is empty (ŷ_1 = 0) is
#    pushed with slope -2. Its weakness lies elsewhere: nothing keeps ŷ_1 between 0 and 1, nor
#    the class scores between 0 and 1 or summing to 1. They are scores, not probabilities: a
#    trained network happily outputs p_c = 1.08, or -0.1 (lesson 4 measures it).
# 2. **Squared error after a sigmoid.** To make p_c a probability, the raw output becomes a
#    *logit* z, any real number, and p_c = σ(z) = 1 / (1 + e^(-z)). Squared error on that
#    probability has the slope
#
#        L = (σ(z) - 1)²         dL/dz = 2 (σ(z) - 1) σ(z) (1 - σ(z))
#
#    The factor σ(z)(1 - σ(z)) vanishes when σ saturates: for a network sure that the image is
#    empty (z = -6, p_c = 0.0025) the slope is about -0.005. The more certain the mistake, the
#    less this loss corrects it.
# 3. **Cross-entropy after a sigmoid** (the logistic loss):
#
#        L = -log σ(z)           dL/dz = σ(z) - 1
#
#    p_c is a probability, and the slope is "prediction minus target", about -1 at z = -6: as
#    large as the mistake. The same holds for the classes with softmax and the cross-entropy
#    -Σ c_k log softmax(z)_k, whose slope is softmax(z) - c, and softmax makes the class scores
#    probabilities that sum to 1.
#
# Cross-entropy keeps the good of both: probabilities, like 2, and a strong slope, like 1.

# %%
raw_outputs = np.linspace(-8, 8, 401)
p_c = tc.functional.sigmoid(raw_outputs)
losses_for_p_c = {
    "1. lecture: (ŷ_1 - 1)², p_c = ŷ_1": ((raw_outputs - 1) ** 2, 2 * (raw_outputs - 1)),
    "2. squared error after σ: (σ(z) - 1)²": ((p_c - 1) ** 2, 2 * (p_c - 1) * p_c * (1 - p_c)),
    "3. cross-entropy after σ: -log σ(z)": (-np.log(p_c), p_c - 1),
}
z = -6.0
p_at_z = float(tc.functional.sigmoid(z))
print("slopes for an image with an object that the network is sure is empty:")
print(f"  1. lecture, at ŷ_1 = 0 (p_c = 0):      {2 * (0 - 1):.4f}")
print(
    f"  2. squared error after σ, at z = {z:g}: {2 * (p_at_z - 1) * p_at_z * (1 - p_at_z):.4f}"
    f"   (p_c = {p_at_z:.4f})"
)
print(f"  3. cross-entropy after σ, at z = {z:g}: {p_at_z - 1:.4f}")

figure = Figure(figsize=(10, 4.2), layout="constrained")
left, right = figure.subplots(1, 2)
for label, (values, slopes) in losses_for_p_c.items():
    left.plot(raw_outputs, values, label=label)
    right.plot(raw_outputs, slopes, label=label)
left.set_ylim(0, 5)
left.set_title("loss, for an image with an object (y_1 = 1)")
right.set_ylim(-2.5, 1)
right.set_title("its slope: what training follows")
for ax in (left, right):
    ax.axvline(z, color="0.5", linestyle=":")
    ax.set_xlabel("the raw output for p_c (ŷ_1 for loss 1, the logit z for 2 and 3)")
    ax.grid(alpha=0.3)
figure.legend(*left.get_legend_handles_labels(), loc="outside lower center", ncols=3, fontsize=8)
right.annotate(
    "z = -6, sure it is empty:\nthe squared error after σ\nbarely corrects it",
    (z, 0),
    xytext=(-5.6, 0.25),
    arrowprops={"arrowstyle": "->"},
    fontsize=8,
)
figure.savefig(lesson.out / "02_why_cross_entropy.png", dpi=120)
figure

# %% [markdown]
# ## The practical loss by hand
#
# So the network's raw output is read as: ŷ_1 a logit for p_c, ŷ_2..ŷ_5 the box as before, and
# ŷ_6..ŷ_8 logits for the classes. Per image:
#
#     L = BCE(ŷ_1, y_1) + y_1 · [5 · Σ_{j=2..5} (ŷ_j - y_j)²  +  CE(ŷ_6..8, y_6..8)]
#
#     BCE(z, p) = -[p log σ(z) + (1 - p) log(1 - σ(z))]      (binary cross-entropy)
#     CE(z, c)  = -Σ_k c_k log softmax(z)_k                    (softmax cross-entropy)
#
# The factor y_1 is the lecture's two cases again: without an object, only p_c counts. The box
# term is weighted by 5 (`box_weight`, as YOLO's λ_coord): a box error in image fractions is a
# small number (3 pixels off in 64 is 0.05, squared 0.0025) next to cross-entropies of order 1,
# and without the weight the box would get little of the gradient.
#
# By hand, one image at a time, straight from the formulas:


# %%
def practical_loss(raw_row, y_row, box_weight=5.0):
    """BCE on p_c, plus, if there is an object, weighted squared error on the box and
    softmax cross-entropy on the classes."""
    p_c = 1 / (1 + np.exp(-raw_row[0]))
    loss = -(y_row[0] * np.log(p_c) + (1 - y_row[0]) * np.log(1 - p_c))
    if y_row[0] == 1:
        loss += box_weight * np.sum((raw_row[1:5] - y_row[1:5]) ** 2)
        class_probabilities = np.exp(raw_row[5:]) / np.sum(np.exp(raw_row[5:]))
        loss += -np.sum(y_row[5:] * np.log(class_probabilities))
    return loss


# Raw outputs: logits for p_c and the classes, the box near the truth.
raw = rng.normal(0, 2, size=y.shape)
raw[:, 1:5] = y[:, 1:5] + rng.normal(0, 0.1, size=(len(y), 4))
by_hand = np.mean([practical_loss(a, b) for a, b in zip(raw, y, strict=True)])

practical = tc.losses.LocalizationLoss(num_classes=3)
library = practical.forward(raw, y)
print("by hand:", by_hand)
print("library:", library)
print("equal:  ", np.isclose(library, by_hand, rtol=1e-12, atol=0))
analytic = practical.backward()
numeric = tc.gradcheck.numerical_gradient(lambda: practical.forward(raw, y), raw)
print(f"rel_error(backward, numerical): {tc.gradcheck.rel_error(analytic, numeric):.1e}")
print("backward() =\n", analytic)

# %% [markdown]
# Look at the gradient's rows for the empty images (2 and 3): only the p_c column is non-zero,
# exactly as with the squared loss. And its p_c column is σ(ŷ_1) - y_1, divided by N = 4: the
# "prediction minus target" promised above.
#
# The library does not compute the loss the way `practical_loss` does. log σ(z) by way of
# σ(z) = 1 / (1 + e^(-z)) breaks for a large logit: e^800 overflows to inf, σ rounds to exactly
# 0, its log is -inf, and the softmax's inf / inf is nan. `tc.losses` uses forms that are equal
# on paper but never round to 0 first, from `tc.functional`: `binary_cross_entropy`,
# BCE(z, p) = log(1 + e^z) - p z computed with `np.logaddexp`, and `softmax_cross_entropy`,
# which subtracts the largest logit before exponentiating.

# %%
huge = np.array([[-800.0, 0.5, 0.6, 0.3, 0.5, 0.0, 800.0, 0.0]])  # "surely empty", but a car
with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
    print("by hand:", practical_loss(huge[0], y[0]))
print("library:", practical.forward(huge, y[:1]))

# %% [markdown]
# ## From raw output to the lecture's vector
#
# With this loss, the raw output holds logits, not probabilities. The loss carries the map back
# to the lecture's vector as `loss.output`: p_c = σ(ŷ_1), the box as it is, the classes through
# softmax. A model built with that map (`tc.Sequential(layers, output=loss.output)`, lesson 4)
# applies it in `model.predict`, so its predictions come out in the format of lesson 1, with p_c
# and the classes as probabilities; `tc.train.fit` refuses to train a model whose map is not its
# loss's. The squared loss's map is the identity: `predict` returns the raw output, whose p_c
# and class scores may stray outside [0, 1].

# %%
print("raw output of image 0:      ", raw[0])
print("the lecture's vector from it:", practical.output(raw)[0])

# %% [markdown]
# ## Landmarks: the same two losses
#
# For y = [is_face, x_1, y_1, x_2, y_2, x_3, y_3] the two ideas carry over, with the points where
# the box and the classes were:
#
# - `SquaredLandmarkLoss`: the lecture's form, Σ_k (ŷ_k - y_k)² if is_face = 1, else
#   (ŷ_1 - y_1)² alone;
# - `LandmarkLoss`: BCE on the is_face logit, plus 5 × the squared error of the points where
#   there is a face (`landmark_weight`, for the same reason as `box_weight`).
#
# Both pass the same gradient check.

# %%
_, y_faces = tc.data.landmark_dataset(batch_size, seed=1)
y_faces = y_faces.astype(np.float64)
raw_faces = y_faces + batch_rng.normal(0, 0.2, size=y_faces.shape)
for landmark_loss in (tc.losses.SquaredLandmarkLoss(), tc.losses.LandmarkLoss()):
    value = landmark_loss.forward(raw_faces, y_faces)
    analytic = landmark_loss.backward()
    numeric = tc.gradcheck.numerical_gradient(
        lambda landmark_loss=landmark_loss: landmark_loss.forward(raw_faces, y_faces), raw_faces
    )
    print(
        f"{type(landmark_loss).__name__:<20} loss {value:.4f}, "
        f"rel_error(backward, numerical) {tc.gradcheck.rel_error(analytic, numeric):.1e}"
    )

# %% [markdown]
# ## What to remember
#
# - The lecture's loss: squared error over the whole vector if there is an object, over p_c
#   alone if not. "Don't care" entries add nothing and get zero gradient.
# - A gradient is checked against central differences, in float64, with the relative error.
# - The lecture's squared loss on raw outputs has a slope as large as the mistake, but its p_c
#   and class scores are not probabilities. Squared error after a sigmoid gives probabilities,
#   but its slope vanishes on a confident mistake.
# - In practice: cross-entropy for what is a probability (p_c, the classes), squared error for
#   what is a position (the box, the landmarks). The cross-entropy's gradient stays large while a
#   confident prediction is wrong, and its outputs are probabilities.
#
# Next, lesson 3: the layers that produce ŷ, and how the gradient travels back through them.

# %%
lesson.finish()
