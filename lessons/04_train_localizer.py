# %% [markdown]
# # Lesson 4: training a localizer
#
# Lessons 1 to 3 took the pieces apart: the output vector y = [p_c, b_x, b_y, b_h, b_w, c_1, c_2,
# c_3], the loss that compares a prediction ŷ with it, and the layers with their backward passes.
# This lesson puts them together and trains a network that looks at a 64x64 scene and answers
# the three questions of classification with localization at once: *is there an object, where
# is it, and what is it?*
#
# We will
#
# 1. draw a training set, a validation set and a held-out test set of scenes;
# 2. build a small CNN: three blocks of convolution, ReLU and max-pooling, then two dense layers;
# 3. train it with the practical loss of lesson 2 and the Adam optimizer;
# 4. measure it on the test set, in numbers and in pictures;
# 5. save it to a file, load it back, and look inside at what its first layer learned;
# 6. train the lecture's squared loss side by side with the practical one, and compare.
#
# The full run takes a few minutes on two cores (the README gives times measured on two
# machines; the lesson prints its own at the end). `--quick` runs the same code on a handful of
# images for one epoch: it checks that everything works, but the network learns next to nothing.
# The pictures are shown here and saved, with the model and the metrics, in `output/` beside the
# lesson (`output/quick/` for a `--quick` run, so that it never overwrites a full run's model and
# metrics; or `--out DIR`).

# %%
# %matplotlib inline
import functools
import time

import numpy as np
from matplotlib.figure import Figure

import tinycnn as tc

lesson = tc.course.start(4, "training a localizer")  # --out, --quick: see tc.course
np.set_printoptions(precision=3, suppress=True)

if lesson.quick:
    n_train, n_validation, n_test, epochs = 256, 64, 128, 1
else:
    n_train, n_validation, n_test, epochs = 24_000, 1_000, 2_000, 16

# %% [markdown]
# ## Three datasets from three seeds
#
# The scenes are drawn from a seed (lesson 1), so a new seed gives new scenes that the network
# has never seen. We use three:
#
# - the **training set** (seed 0): the network learns from it;
# - the **validation set** (seed 1): measured after every epoch, to watch training as it goes;
# - the **test set** (seed 2): held out until the very end, and measured once.
#
# Why a test set besides the validation set? Every choice made while watching the validation
# numbers (the learning rate, the number of epochs) fits the network a little to the validation
# set. The test set has taken part in no decision, so its numbers are an honest estimate of how
# the network does on scenes it has never seen.

# %%
NUM_CLASSES = len(tc.data.CLASS_NAMES)
x_train, y_train = tc.data.localization_dataset(n_train, seed=0)
x_validation, y_validation = tc.data.localization_dataset(n_validation, seed=1)
x_test, y_test = tc.data.localization_dataset(n_test, seed=2)
print("training:  ", x_train.shape, y_train.shape)
print("validation:", x_validation.shape, y_validation.shape)
print("test:      ", x_test.shape, y_test.shape)
has_object = y_train[:, tc.targets.P_C] == 1
counts = np.sum(y_train[has_object][:, tc.targets.CLASSES], axis=0).astype(int)
print(
    f"training images without an object: {np.sum(~has_object)}; with one:",
    ", ".join(f"{count} {name}s" for name, count in zip(tc.data.CLASS_NAMES, counts, strict=True)),
)

# %% [markdown]
# ## The network
#
# `tc.networks.localizer()` builds the classic small CNN:
#
#     input 1x64x64
#     conv 3x3, 8 filters  -> ReLU -> max-pool 2x2      8x32x32
#     conv 3x3, 16 filters -> ReLU -> max-pool 2x2     16x16x16
#     conv 3x3, 32 filters -> ReLU -> max-pool 2x2     32x8x8
#     flatten -> dense 128 -> ReLU -> dense 8          [p_c, b_x, b_y, b_h, b_w, c_1, c_2, c_3]
#
# Each block keeps the size through its convolution (padding 1) and halves it by pooling, while
# the number of channels doubles: less *where*, more *what*. A pixel of the last block's maps
# sees a 22x22 window of the input (its *receptive field*), about half an object. No single
# feature sees a whole car, and that is where the dense layer comes in: it has a separate weight
# for every channel *at every one of the 8x8 positions*, so it knows where in the image each
# feature fired, and it can combine "a wheel here, a roof there" into a box.
#
# In the summary below, each block is one layer, `ConvReLUMaxPool2D`: the convolution, its ReLU
# and its max-pool computed together. A ReLU never changes which value of a window is the largest,
# so pooling first and applying the ReLU to what is left gives the same numbers, forward and
# backward, with the ReLU on a quarter of them; and the convolution pools its sums while they are
# still in the processor's cache, so its full-size output is never written to memory only to be
# read back. Frameworks call this *fusing* layers; `tc.Conv2D(...)`, `tc.ReLU()` and
# `tc.MaxPool2D(2)` in a row compute the same function, a little more slowly.
#
# The last layer has no activation: it outputs 8 raw numbers. How they become the lecture's
# vector depends on the loss that trains them (next section), so we choose the loss first and
# give its *output map* to the model where we build it: `model.predict` then reads the raw
# output the way the loss does, and `tc.train.fit` refuses a model whose map is not its loss's.

# %%
BOX_WEIGHT = 20.0
loss = tc.losses.LocalizationLoss(NUM_CLASSES, box_weight=BOX_WEIGHT)
# The loss's map: p_c = σ(ŷ_1), the box as it is, softmax on the classes.
model = tc.networks.localizer(num_classes=NUM_CLASSES, output=loss.output)
parameter_count = model.summary((1, 64, 64))

# %% [markdown]
# Most of the parameters sit in the first dense layer (32 x 8 x 8 = 2,048 inputs times 128
# outputs). The convolutions have few, because a filter is shared by every position of the
# image; that sharing is what makes a CNN cheap in parameters and good at finding the same
# pattern anywhere.
#
# ## The loss
#
# Lesson 2 compared the lecture's squared-error loss with the one used in practice, which reads
# the raw output ŷ as
#
# - ŷ_1: a logit for p_c, so p_c = σ(ŷ_1), with the logistic loss (binary cross-entropy);
# - ŷ_2..ŷ_5: the box itself, with squared error;
# - ŷ_6..ŷ_8: logits for the classes, so c = softmax(ŷ_6..ŷ_8), with the softmax cross-entropy.
#
# The box and the classes count only where there is an object, as in the lecture:
#
#     L = BCE(ŷ_1, y_1) + y_1 · [box_weight · Σ_j (ŷ_j - y_j)² + CE(ŷ_6..8, y_6..8)]
#
# The lecture's squared loss (`tc.losses.SquaredLocalizationLoss`) trains too, and its gradient
# 2(ŷ - y) is as large as the mistake (lesson 2). What it does worse is what it returns: nothing
# keeps its p_c between 0 and 1, nor makes its class scores probabilities that sum to 1. The
# practical loss's p_c and classes come out of a sigmoid and a softmax, so they are
# probabilities, and the cross-entropy's gradient stays as large as the mistake. At the end of
# the lesson the two are trained side by side and compared.
#
# **box_weight.** A box error is measured in fractions of the image: 2 pixels off in 64 is 0.03,
# squared 0.001. Once p_c and the class are learned their cross-entropies are small too, but
# the box still needs its last pixels, and the weight keeps its share of the gradient large
# enough for them. The library's default is 5; we use 20, which in a shorter trial run ended
# about 0.02 higher in mean IoU.
#
# **A check before training.** A network that has learned nothing should lose about what
# guessing loses: p_c = 0.5 costs ln 2 = 0.69 per image, and three equally likely classes cost
# ln 3 = 1.10 per image with an object. Our network is built to start that way: its last layer
# starts with small weights, so every raw output starts near its bias, 0 for p_c and the
# classes and 0.5 for the box (a box in the middle, half the image in size). Switching the
# loss's parts off with `box_weight=0` and `class_weight=0` shows each one. The box part has no
# such fixed value: it depends on how far the true boxes lie from that middle box. A p_c or
# class part far from guessing would point at a bug before any time is spent training.

# %%
raw = model.forward(x_train[:512])
y_sample = y_train[:512]
p_c_part = tc.losses.LocalizationLoss(NUM_CLASSES, box_weight=0, class_weight=0).forward(
    raw, y_sample
)
with_classes = tc.losses.LocalizationLoss(NUM_CLASSES, box_weight=0).forward(raw, y_sample)
whole = loss.forward(raw, y_sample)
share_with_object = np.mean(y_sample[:, tc.targets.P_C])
print(f"p_c part:   {p_c_part:.3f}   (guessing: ln 2 = {np.log(2):.3f})")
print(
    f"class part: {with_classes - p_c_part:.3f}   (guessing: {share_with_object:.2f} x ln 3 "
    f"= {share_with_object * np.log(3):.3f})"
)
print(f"box part:   {whole - with_classes:.3f}")
print(f"the whole loss before training: {whole:.3f}")

# %% [markdown]
# ## Training
#
# `tc.train.fit` runs the loop of lesson 3 over mini-batches: forward, loss, backward, and an
# optimizer step, again and again. One pass over the training set is an *epoch*. The choices:
#
# - **Mini-batches of 32.** Each step follows the gradient of 32 images: noisy, but cheap, so
#   there are many steps per epoch. Per image a step of 32 costs about what a step of 64 does,
#   and in our trials twice the steps bought a better box in the same time.
# - **Adam** keeps a running mean of each weight's gradient and of its square, and steps by their
#   ratio: each weight gets a step size suited to its own gradients, which matters here because
#   the box, p_c and the classes pull on the shared weights with very different strengths.
# - **A learning-rate schedule.** A large step learns fast but then jitters around the minimum;
#   the box, which needs the finest adjustment, suffers most. `tc.train.step_decay` halves the
#   learning rate every 4 epochs: big steps first, fine ones at the end. Watch the losses drop
#   each time the rate halves.
# - **Flips.** `augment` changes every training batch a little before the network sees it. A
#   scene mirrored left to right is as good a scene as the original, *if* its target is mirrored
#   too: the box centre b_x becomes 1 - b_x, while b_y, b_h, b_w and the class stay.
#   `tc.data.augment.horizontal_flip` does both. Our scenes are drawn fresh from a seed, so
#   there is no shortage of them; with photographs, flips are the cheapest way to get more.
#   `tc.data.augment.random_augment` mirrors each image of a batch with probability 1/2, and can
#   also change its brightness, contrast and noise; our drawn scenes need only the flips, so we
#   set those three to 0.

# %%
first_object = np.flatnonzero(has_object)[:1]
_, flipped = tc.data.augment.horizontal_flip(x_train[first_object], y_train[first_object])
print("a target:    ", y_train[first_object][0])
print("after a flip:", flipped[0])
flip_half = functools.partial(
    tc.data.augment.random_augment, max_brightness=0, max_contrast=0, max_noise=0
)

# %% [markdown]
# `fit` measures the validation set after every epoch with `tc.metrics.localization_report`,
# whose four numbers are explained with the results below. Each epoch's progress bar shows the
# running training loss; when the epoch ends, a line below it gives the validation loss and the
# four numbers. Before the first step `fit` checks everything it was given (the output map, the
# data, the validation set, the metrics, every learning rate of the schedule), so that a mistake
# stops it at once rather than after an epoch.

# %%
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
    metrics=tc.metrics.localization_report,
    augment=flip_half,
    lr_schedule=tc.train.step_decay(LEARNING_RATE, drop=0.5, every=4),
    seed=0,
)
training_seconds = time.perf_counter() - training_started
print(f"training took {training_seconds:.0f} s ({epochs} epochs of {n_train:,} images each)")

# %% [markdown]
# ## Training curves
#
# The first panel shows the losses, training and validation (on a log scale when they span
# more than a factor of 10); each other panel one validation metric. The training loss is the
# mean over an epoch's batches, taken while the weights were still moving; the validation loss
# is measured after the epoch. So the two differ a little; what matters is that they fall
# together. A validation loss that rose while the training loss kept falling would mean
# *overfitting*: the network learning its training images by heart instead of what objects look
# like. The steps in the curves, every 4 epochs, are the learning rate halving.

# %%
tc.viz.plot_history(history, path=lesson.out / "04_training_curves.png")

# %% [markdown]
# ## Results on the test set
#
# Now, once, the held-out test set. `model.predict` returns the lecture's vector: the model
# carries the loss's output map, so p_c and the classes come out as probabilities. The four
# numbers:
#
# - **p_c accuracy**: the share of all test images where "object or not" is called right
#   (predicted p_c >= 0.5 exactly when there is an object);
# - **class accuracy**: among the images with an object, the share whose most probable class is
#   the true one;
# - **mean IoU**: among the images with an object, the mean *intersection over union* of the
#   predicted and the true box: the area they share divided by the area they cover together.
#   1 is a perfect box; 0.5 is already a box that a person would call "about right";
# - **correct-localization rate**: among the images with an object, the share that are found
#   (p_c >= 0.5), named right *and* boxed with IoU >= 0.5, all three at once.

# %%
y_pred = model.predict(x_test)
report = tc.metrics.localization_report(y_pred, y_test)
rows = [
    ("p_c accuracy", "all images", f"{report['pc_accuracy']:.2%}"),
    ("class accuracy", "images with an object", f"{report['class_accuracy']:.2%}"),
    ("mean IoU", "images with an object", f"{report['mean_iou']:.3f}"),
    ("correct localization", "images with an object", f"{report['correct_localization_rate']:.2%}"),
]
n_objects = int(np.sum(y_test[:, tc.targets.P_C]))
print(f"test set: {n_test:,} scenes of seed 2, {n_objects:,} with an object\n")
print(f"{'metric':<22}{'measured on':<24}{'value':>8}")
for metric, subset, value in rows:
    print(f"{metric:<22}{subset:<24}{value:>8}")

tc.train.write_results(
    lesson.out / "04_metrics.json",
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
# Numbers can hide a lot, so look at the pictures too. In each scene the true box is green, with
# the true class above; the predicted box is dashed red, with the predicted class and p_c below.
# First the first 16 test scenes as they come:

# %%
tc.viz.show_localization(
    x_test[:16], y_true=y_test[:16], y_pred=y_pred[:16], path=lesson.out / "04_predictions.png"
)

# %% [markdown]
# Then the eight scenes whose boxes the network got most wrong: the largest error 1 - IoU, among
# the scenes with an object (`tc.viz.show_worst` picks them and writes each one's error above
# it). Look for what they share: objects cut by the border, a dark object on a dark background,
# a distractor touching the object. Where an object is cut, p_c is often less sure too. These
# are the cases a bigger network or more training would work on next. The box is a regression, so
# a predicted size can come out negative; `tc.boxes.clip_sizes` reads such a box as one without
# area (IoU 0), as `tc.metrics.mean_iou` does.

# %%
with_object = np.flatnonzero(y_test[:, tc.targets.P_C] == 1)
box_errors = np.full(n_test, np.nan)  # NaN: no object, no box to judge
box_errors[with_object] = 1 - tc.boxes.iou(
    tc.boxes.clip_sizes(y_pred[with_object, tc.targets.BOX]), y_test[with_object, tc.targets.BOX]
)
figure = tc.viz.show_worst(
    x_test, y_test, y_pred, box_errors, count=8, path=lesson.out / "04_worst_predictions.png"
)
print("IoU of the worst eight:", 1 - box_errors[figure.worst])
figure

# %% [markdown]
# ## Saving and loading
#
# `tc.save` writes the architecture (as text) and every weight into one `.npz` file; `tc.load`
# builds the same layers again and fills in the weights, with the output map, so the loaded
# model's `predict` speaks the lecture's language too. The file holds only arrays and text, no
# pickled Python objects, so loading a file cannot run code hidden in it.

# %%
path = lesson.out / "localizer.npz"
tc.save(model, path)
loaded = tc.load(path)
y_loaded = loaded.predict(x_test)
print(f"saved {path.name} ({path.stat().st_size / 1024:.0f} KiB)")
print("the loaded model predicts the same vectors:", np.array_equal(y_loaded, y_pred))
print("first test image, saved model: ", y_pred[0])
print("first test image, loaded model:", y_loaded[0])

# %% [markdown]
# ## Inside the network
#
# The first layer's 8 filters are 3x3 weights learned from the data; red is positive, blue
# negative. Learned filters rarely look as tidy as the lecture's hand-made edge filters, but the
# same two kinds show up: filters mostly of one sign, which pass the brightness on, and filters
# positive on one side and negative on the other, which respond where the brightness changes in
# one direction: edges.

# %%
first_conv, first_relu = model.layers[0].convolution(), tc.ReLU()  # the block's own, unpooled
tc.viz.show_filters(first_conv.params["W"], path=lesson.out / "04_filters.png")

# %% [markdown]
# Running one scene (the first test scene with an object, also the first with a box in
# `04_predictions.png`) through the first convolution and its ReLU shows what each filter picks
# out: its *feature map*, bright where the filter responds. The brightness filters give
# something close to the scene itself; the edge filters light up on the object's outline, and on
# the outlines of the distractors too: telling the two apart is the later layers' job.
#
# A channel that is black everywhere belongs to a filter that comes out negative on every pixel.
# If that is so on every scene, its ReLU passes nothing forward and no gradient backward: a
# *dead* filter. Training can no longer change its weights (their gradient is 0), and the
# layers above receive only zeros from it, so the network goes on with one filter fewer; it
# loses that filter's share of the work, nothing more, and the results above were reached with
# what was left. A filter usually dies early, when a large step pushes its bias so far negative
# that no pixel lifts it back above 0. The usual remedies: a smaller first learning rate, a bias
# that starts slightly positive, or `tc.LeakyReLU`, whose small slope for negative inputs
# keeps a gradient flowing. We check on 200 test scenes.

# %%
scene = x_test[with_object[:1]]
feature_maps = first_relu.forward(first_conv.forward(scene))
print(
    "channels that are zero everywhere on this scene:",
    np.flatnonzero(feature_maps[0].max(axis=(1, 2)) == 0),
)
test_maps = first_relu.forward(first_conv.forward(x_test[:200]))
dead = np.flatnonzero(test_maps.max(axis=(0, 2, 3)) == 0)
print("channels that are zero everywhere on 200 test scenes:", dead)
print(f"dead first-layer filters: {len(dead)} of {first_conv.params['W'].shape[0]}")
tc.viz.show_feature_maps(feature_maps[0], path=lesson.out / "04_feature_maps.png")

# %% [markdown]
# ## The lecture's squared loss, side by side
#
# How much worse is the lecture's squared loss, really? To see it without a second full run,
# we train two fresh copies of the same network (same initial weights, same data, same order,
# same flips, same Adam and learning rate) on a smaller training run: the first 4,000 training
# scenes for 3 epochs. One copy is trained with the practical loss as above, the other with
# `tc.losses.SquaredLocalizationLoss`, whose output map is the identity: its `predict` returns
# the raw output. Both are measured on the same test set. (This shorter run is for the
# comparison only; its numbers are lower than the full run's above.)
#
# `localization_report` measures the squared model's vectors as they are: p_c >= 0.5 decides
# whether there is an object and the largest class score names it, whatever the numbers' range
# (a negative predicted size is a box without area). The last four rows show what the numbers
# themselves are.

# %%
n_side, side_epochs = (128, 1) if lesson.quick else (4_000, 3)
side_losses = {
    "practical (BCE + box + CE)": tc.losses.LocalizationLoss(NUM_CLASSES, box_weight=BOX_WEIGHT),
    "lecture's squared loss": tc.losses.SquaredLocalizationLoss(NUM_CLASSES),
}
side_predictions = {}
for name, side_loss in side_losses.items():
    side_model = tc.networks.localizer(num_classes=NUM_CLASSES, output=side_loss.output)
    print(name)
    tc.train.fit(
        side_model,
        side_loss,
        tc.optim.Adam(side_model, lr=LEARNING_RATE),
        x_train[:n_side],
        y_train[:n_side],
        epochs=side_epochs,
        batch_size=32,
        augment=flip_half,
        seed=0,
    )
    side_predictions[name] = side_model.predict(x_test)


objects = y_test[:, tc.targets.P_C] == 1


def side_measures(y_hat):
    """The four metrics, and what the numbers are: p_c's range, the class scores' signs and sums."""
    report = tc.metrics.localization_report(y_hat, y_test)
    p_c = y_hat[:, tc.targets.P_C]
    class_scores = y_hat[objects][:, tc.targets.CLASSES]
    sums = class_scores.sum(axis=1)
    return {
        "p_c accuracy": f"{report['pc_accuracy']:.2%}",
        "class accuracy": f"{report['class_accuracy']:.2%}",
        "mean IoU": f"{report['mean_iou']:.3f}",
        "correct localization": f"{report['correct_localization_rate']:.2%}",
        "p_c from .. to": f"{p_c.min():.2f} .. {p_c.max():.2f}",
        "p_c outside [0, 1]": f"{np.mean((p_c < 0) | (p_c > 1)):.1%}",
        "objects with a class score < 0": f"{np.mean(np.any(class_scores < 0, axis=1)):.1%}",
        "objects: class scores sum to": f"{sums.min():.2f} .. {sums.max():.2f}",
    }


columns = {name: side_measures(y_hat) for name, y_hat in side_predictions.items()}
print(f"\n{n_side:,} training scenes, {side_epochs} epochs; measured on {n_test:,} test scenes")
print(f"{'':<32}" + "".join(f"{name:>28}" for name in columns))
for row in next(iter(columns.values())):
    print(f"{row:<32}" + "".join(f"{column[row]:>28}" for column in columns.values()))

# %% [markdown]
# The decisions of the two can be close: on this data the squared loss finds and names the
# objects about as well (p_c and class accuracy), though its boxes came out a little worse in
# our runs (mean IoU 0.69 against 0.73). What differs most is what its numbers mean. Its p_c
# strays below 0 and above 1, and its class scores can be negative or sum to more or less than
# 1, so a "p_c" of 0.7 is not a 70% chance of an object, and `tc.viz` labels such as "car 1.06"
# are not probabilities. The practical loss's p_c and classes are probabilities by construction.


# %%
def shared_bins(arrays, count=60):
    """Histogram bins that cover every array, so that the two models' bars line up."""
    low = min(values.min() for values in arrays) - 0.05
    high = max(values.max() for values in arrays) + 0.05
    return np.linspace(low, high, count + 1)


p_c_values = {name: y_hat[:, tc.targets.P_C] for name, y_hat in side_predictions.items()}
class_sums = {
    name: np.sum(y_hat[objects][:, tc.targets.CLASSES], axis=1)
    for name, y_hat in side_predictions.items()
}
figure = Figure(figsize=(10, 3.6), layout="constrained")
left, right = figure.subplots(1, 2)
for name in side_predictions:
    left.hist(p_c_values[name], bins=shared_bins(p_c_values.values()), alpha=0.6, label=name)
    right.hist(class_sums[name], bins=shared_bins(class_sums.values()), alpha=0.6, label=name)
left.axvspan(0, 1, color="0.9", zorder=0, label="[0, 1]: a probability")
left.set_title("predicted p_c, all test scenes")
left.set_xlabel("p_c")
right.axvline(1, color="0.4", linestyle=":", label="sum = 1")
right.set_title("sum of the class scores, scenes with an object")
right.set_xlabel("c_1 + c_2 + c_3")
for ax in (left, right):
    ax.set_yscale("log")  # the few scenes far from the peaks stay visible
    ax.set_ylabel("scenes (log scale)")
    ax.legend(fontsize=8)
figure.savefig(lesson.out / "04_squared_loss.png", dpi=120)
figure

# %% [markdown]
# ## What to remember
#
# - One network answers "is there an object, where, what" with one vector: three blocks of
#   conv-ReLU-pool find features, two dense layers turn them into p_c, a box and the class.
# - The practical loss: cross-entropy for p_c and the class, squared error for the box, with a
#   weight that keeps the box's small numbers heard. Its p_c and classes are probabilities; the
#   lecture's squared loss gives scores that are not.
# - Adam with a decaying learning rate; flips that move the box with the picture.
# - Judge on a held-out test set, in numbers (p_c and class accuracy, IoU, correct
#   localization) and in pictures.
#
# Next, lesson 5 trains the same network on faces, to find three landmarks instead of a box.

# %%
lesson.finish()
