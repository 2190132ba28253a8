# %% [markdown]
# # Lesson 5: landmark detection
#
# Lesson 4 trained a network to say where an object is with four numbers, a box. A landmark
# detector says where a few *named points* are: here, on a drawn face, the left mouth corner, the
# right mouth corner and the tip of the chin. The output vector (lesson 1) is
#
#     y = [is_face, x_1, y_1, x_2, y_2, x_3, y_3]
#
# with the points always in that order, as fractions of the image. "Left" is the image's left:
# the corner with the smaller x. Without a face, is_face = 0 and the rest is "don't care".
#
# The network is the one of lesson 4 with a different last layer: 7 outputs instead of 8. Only
# the meaning of the numbers changes, and with it the loss and the metrics. As in lesson 4, the
# full run takes a few minutes on two cores (the lesson prints its time at the end), `--quick`
# runs the same code on a handful of images, and the pictures are shown here and saved, with
# the model and the metrics, in `output/` beside the lesson (`output/quick/` for a `--quick` run,
# so that it never overwrites a full run's; or `--out DIR`).

# %%
# %matplotlib inline
import functools
import time

import numpy as np

import tinycnn as tc

lesson = tc.course.start(5, "landmark detection")  # --out, --quick: see tc.course
np.set_printoptions(precision=3, suppress=True)

if lesson.quick:
    n_train, n_validation, n_test, epochs = 256, 64, 128, 1
else:
    n_train, n_validation, n_test, epochs = 32_000, 1_000, 2_000, 20

# %% [markdown]
# ## The portraits
#
# `tc.data.landmark_dataset` draws a face (a head ellipse with eyes, a nose and a mouth, tilted
# up to 15 degrees) or none, on a cluttered background. Half of the images without a face hold a
# *blank head*: an ellipse of a face's size and tone, with no eyes, nose or mouth. So the network
# cannot answer "is there a face?" by spotting a large ellipse; it has to find the features.
#
# With `return_face_sizes=True` it also returns each face's size s: the square root of the width
# times the height of the head's bounding box, as a fraction of the image. We need it to measure
# the errors fairly (below). As in lesson 4, three seeds give a training, a validation and a
# held-out test set.

# %%
x_train, y_train = tc.data.landmark_dataset(n_train, seed=0)
x_validation, y_validation, sizes_validation = tc.data.landmark_dataset(
    n_validation, seed=1, return_face_sizes=True
)
x_test, y_test, sizes_test = tc.data.landmark_dataset(n_test, seed=2, return_face_sizes=True)
print("training:  ", x_train.shape, y_train.shape)
print("validation:", x_validation.shape, y_validation.shape)
print("test:      ", x_test.shape, y_test.shape)
faces_in_test = y_test[:, tc.targets.IS_FACE] == 1
print(
    f"test faces: {np.sum(faces_in_test)}, sizes from {sizes_test[faces_in_test].min():.2f} to "
    f"{sizes_test[faces_in_test].max():.2f} of the image "
    f"({64 * sizes_test[faces_in_test].min():.0f} to {64 * sizes_test[faces_in_test].max():.0f} "
    "pixels)"
)
tc.viz.show_landmarks(x_train[:16], y_true=y_train[:16], path=lesson.out / "05_portraits.png")

# %% [markdown]
# ## The network and the loss
#
# `tc.networks.landmark_detector()` is lesson 4's network with 1 + 2 x 3 = 7 outputs. The
# convolutions do not need to change: finding a mouth corner is finding a small pattern, the
# kind of thing filters are good at, and the dense layers turn *where* it fired into
# coordinates, as they turned the features of a car into its box.
#
# The loss follows lesson 2's practical recipe: a logistic loss (binary cross-entropy) for the
# is_face logit, and squared error for the six coordinates, counted only where there is a face:
#
#     L = BCE(ŷ_1, y_1) + y_1 · landmark_weight · Σ_j (ŷ_j - y_j)²
#
# `landmark_weight` plays the part of lesson 4's `box_weight`: a point 1 pixel off is 0.016 of
# the image, 0.0002 squared, a whisper next to a cross-entropy, and the points need every last
# pixel of precision. We use 20, as for the box.
#
# Like the localizer, the untrained network says "I don't know": is_face = 0.5, and every point
# in the middle of the image. Starting there instead of at random confident guesses is worth a
# lot here: in our trials the same training ended with points about a quarter closer. As in
# lesson 4, the model is built with the loss's output map (is_face = σ(ŷ_1), the points as they
# are), so that `predict` reads the raw output as the loss does.

# %%
LANDMARK_WEIGHT = 20.0
loss = tc.losses.LandmarkLoss(landmark_weight=LANDMARK_WEIGHT)
model = tc.networks.landmark_detector(output=loss.output)
parameter_count = model.summary((1, 64, 64))

# %% [markdown]
# ## Training
#
# The same recipe as lesson 4: mini-batches of 32, Adam, a learning rate halved every few
# epochs, and flips. The points need more practice than the box did: NME asks for errors of
# about a pixel, so we train on 32,000 portraits for 20 epochs, halving the rate every 5.
#
# A flip has one more thing to get right here. Mirroring a face turns its left mouth corner into the
# right one, so besides x -> 1 - x the two corners must *swap slots*: the point in slot 1 must
# still be the one with the smaller x. `tc.data.augment.horizontal_flip` with
# `kind="landmarks"` does both, and so does `random_augment` with `kind="landmarks"`, which we
# use to flip each image of a batch with probability 1/2 (its brightness, contrast and noise
# changes set to 0, as in lesson 4).

# %%
first_face = np.flatnonzero(y_train[:, tc.targets.IS_FACE] == 1)[0]
_, flipped = tc.data.augment.horizontal_flip(
    x_train[[first_face]], y_train[[first_face]], kind="landmarks"
)
print("a face's target:   ", y_train[first_face])
print("after a flip:      ", flipped[0])
flip_half = functools.partial(
    tc.data.augment.random_augment, kind="landmarks", max_brightness=0, max_contrast=0, max_noise=0
)


# %% [markdown]
# `fit` calls `metrics(y_pred, y_validation)` after every epoch (and once before the first
# step, to check it), but NME also needs the faces' sizes, which `fit` knows nothing about. A
# small function hands them over. After each epoch's progress bar, a line gives the validation
# loss, is_face accuracy and NME.


# %%
def validation_report(y_pred, y_true):
    """tc.metrics.landmark_report needs the face sizes too: those of the validation set."""
    return tc.metrics.landmark_report(y_pred, y_true, sizes_validation)


LEARNING_RATE = 1e-3
optimizer = tc.optim.Adam(model, lr=LEARNING_RATE)
training_started = time.perf_counter()
history = tc.train.fit(
    model,
    loss,
    optimizer,
    x_train,
    y_train,
    epochs=epochs,
    batch_size=32,
    validation=(x_validation, y_validation),
    metrics=validation_report,
    augment=flip_half,
    lr_schedule=tc.train.step_decay(LEARNING_RATE, drop=0.5, every=5),
    seed=0,
)
training_seconds = time.perf_counter() - training_started
print(f"training took {training_seconds:.0f} s ({epochs} epochs of {n_train:,} images each)")

# %% [markdown]
# is_face is the easy half: its validation accuracy is near 100% after an epoch or two. The
# points take the whole run. Each quantity has its own panel, so the NME, a few hundredths, does
# not look flat next to an accuracy of 1.

# %%
print("validation is_face accuracy per epoch:", np.round(history["val_is_face_accuracy"], 4))
tc.viz.plot_history(history, path=lesson.out / "05_training_curves.png")

# %% [markdown]
# ## Results on the test set
#
# Two numbers:
#
# - **is_face accuracy**: the share of all test images where "face or not" is called right
#   (predicted is_face >= 0.5 exactly when there is a face);
# - **NME**, the *normalised mean error*: for each face, the mean distance between predicted and
#   true point, divided by the face's size s, then averaged over the faces:
#
#       NME = mean over faces of  (1/3) Σ_l ||p̂_l - p_l|| / s
#
#   Dividing by the size makes the number fair across faces: 1 pixel off on a small face is as
#   bad as 2 pixels off on a face twice as large. An NME of 0.04 means the points are off by 4%
#   of the face's size on average: about 1.4 pixels on a face of 35 pixels, the middle of our
#   range (24 to 47 pixels).

# %%
y_pred = model.predict(x_test)
report = tc.metrics.landmark_report(y_pred, y_test, sizes_test)
faces = np.flatnonzero(faces_in_test)
errors = y_pred[faces, tc.targets.POINTS] - y_test[faces, tc.targets.POINTS]
pixel_errors = 64 * np.sqrt(np.sum(errors.reshape(-1, 3, 2) ** 2, axis=2))
print(f"test set: {n_test:,} portraits of seed 2, {len(faces):,} with a face\n")
print(f"{'metric':<32}{'measured on':<14}{'value':>8}")
print(f"{'is_face accuracy':<32}{'all images':<14}{report['is_face_accuracy']:>8.2%}")
print(f"{'NME':<32}{'faces':<14}{report['nme']:>8.2%}")
for name, errors_of_point in zip(tc.targets.LANDMARK_NAMES, pixel_errors.T, strict=True):
    print(
        f"{'mean error, ' + name.replace('_', ' '):<32}{'faces':<14}"
        f"{errors_of_point.mean():>5.2f} px"
    )

tc.train.write_results(
    lesson.out / "05_metrics.json",
    {
        "test_images": n_test,
        **report,
        "training_images": n_train,
        "epochs": epochs,
        "training_seconds": round(training_seconds, 1),
    },
)

# %% [markdown]
# ## Looking at the predictions
#
# Green dots are the true points, red crosses the predicted ones, with a thin line from each
# prediction to its truth; the true answer stands above each portrait, the predicted is_face
# below it. First the first 16 test portraits:

# %%
tc.viz.show_landmarks(
    x_test[:16], y_true=y_test[:16], y_pred=y_pred[:16], path=lesson.out / "05_predictions.png"
)

# %% [markdown]
# Then the eight faces with the largest errors relative to their size (each face's own NME,
# written above it by `tc.viz.show_worst`). Look for what they share: small faces, where one
# pixel is a larger share of the size, and faces far from the centre, where the training set
# holds fewer faces than in the middle.

# %%
face_errors = np.full(n_test, np.nan)  # NaN: no face, no points to judge
face_errors[faces] = pixel_errors.mean(axis=1) / (64 * sizes_test[faces])
figure = tc.viz.show_worst(
    x_test,
    y_test,
    y_pred,
    face_errors,
    kind="landmarks",
    count=8,
    path=lesson.out / "05_worst_predictions.png",
)
print("NME of the worst eight:", face_errors[figure.worst])
figure

# %% [markdown]
# ## Saving and loading
#
# As in lesson 4: one `.npz` file with the architecture and the weights, and a loaded model that
# predicts exactly what the trained one does.

# %%
path = lesson.out / "landmarks.npz"
tc.save(model, path)
loaded = tc.load(path)
print(
    f"saved {path.name}; the loaded model predicts the same vectors:",
    np.array_equal(loaded.predict(x_test), y_pred),
)

# %% [markdown]
# ## What to remember
#
# - Landmarks are the localizer's idea with named points instead of a box: the same network, a
#   different last layer, a loss with cross-entropy for is_face and squared error for the points.
# - Each slot of y must mean the same point in every image, and augmentation must keep it so: a
#   flip mirrors x *and* swaps the left and right points.
# - Point errors are judged relative to the face's size (NME), so that small and large faces
#   count alike.

# %%
lesson.finish()
