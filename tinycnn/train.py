"""Training: mini-batch gradient descent, one epoch after another.

One step, as in the lecture:

    y_hat = model.forward(x_batch)           raw output
    L     = loss.forward(y_hat, y_batch)     a number
    model.backward(loss.backward())          every layer's grads
    optimizer.step()                         params updated in place

`fit` repeats it over shuffled batches, watches that L stays finite, and after each epoch measures
the model on held-out data with `model.predict`, which speaks the lecture's language. Everything
it is given is checked before the first step, so that a mistake costs seconds, not an epoch: the
model, the loss and the optimizer built for that model, the data, and every setting. Training that
diverges stops with a FloatingPointError naming the epoch and batch, whether the loss, a gradient
or the weights stopped being finite; `fit` never returns a model with non-finite weights.
"""

import math
import sys

import numpy as np
from tqdm import tqdm

from tinycnn.checks import (
    flag,
    float_array,
    non_negative_int,
    one_number,
    positive_int,
    real_number,
)
from tinycnn.io import write_json
from tinycnn.losses import Loss
from tinycnn.model import Sequential
from tinycnn.optim import Optimizer

PROGRESS_UPDATES = 20
"""At most this many redraws of an epoch's progress bar (and at most two a second): the bar
updates in place in a terminal and in Jupyter, and a stored notebook stays small."""

SCHEDULE_CHECKED_AHEAD = 10_000
"""The epochs whose learning rate fit checks before the first step (a NaN at epoch 20 should not
wait for 19 epochs of training); later epochs' rates are checked as each starts, so that a huge
`epochs` does not spend minutes calling lr_schedule before any training."""


def fit(
    model,
    loss,
    optimizer,
    x,
    y,
    epochs,
    batch_size=64,
    *,
    validation=None,
    metrics=None,
    augment=None,
    lr_schedule=None,
    seed=0,
    progress=True,
):
    """Train `model` on images x (N, C, H, W) and targets y (N, ...); return the history.

    model: a Sequential with parameters to train, its weights finite. loss: a loss instance, e.g.
    `LocalizationLoss(3)`. optimizer: an optimizer built for this model, e.g. `Adam(model)`.
    validation: (x_val, y_val), evaluated after every epoch: its loss, and `metrics(y_pred, y_val)`
        (numbers by name, "loss" excepted, e.g. `tinycnn.metrics.localization_report`) on
        `model.predict(x_val)`.
    augment: `augment(images, targets, rng) -> (images, targets)`, applied to each training batch;
        it must return arrays shaped like the ones it was given.
    lr_schedule: `lr_schedule(epoch) -> lr` for epochs 0, 1, ...; None keeps the optimizer's lr.
    seed: the shuffling (and augmentation) seed, an int >= 0, so that a run can be repeated
        exactly.
    progress: True or False; True shows one progress bar per epoch with the running training
        loss, and after each epoch a line with the validation loss and metrics.

    The model's output map must be the loss's (`model.output` equal to `loss.output`): build the
    model with it, e.g. `Sequential(layers, output=loss.output)`, so that `model.predict` reads the
    raw output the way the loss trained it to. `fit` checks the output map, the data (every image
    finite, the first one as the model takes it, every target as the loss reads it), validation,
    metrics (called once on the validation set) and the schedule's learning rates (those of the
    first SCHEDULE_CHECKED_AHEAD epochs: all of any real training) before the first step; what
    augment returns is checked on every batch (shapes, finite images), the first before the first
    step.
    Returns a dict of per-epoch lists: "loss" (the mean training loss), and with validation
    "val_loss" and "val_<name>" per metric. Raises FloatingPointError naming the epoch and batch
    where the loss, a gradient or the weights stop being finite (the weights are checked after
    every step and at the end of every epoch, before validation).
    """
    _check_model_and_loss(model, loss, "fit(model, loss, optimizer, x, y, epochs)")
    _check_optimizer(optimizer, model)
    _check_output_map(model, loss)
    _check_weights(model)
    epochs = positive_int(epochs, "epochs")
    batch_size = positive_int(batch_size, "batch_size")
    seed = non_negative_int(seed, "seed")
    progress = flag(progress, "progress")
    if augment is not None and not callable(augment):
        raise TypeError(
            f"augment must be a function (images, targets, rng) -> (images, targets), "
            f"got {type(augment).__name__}"
        )
    learning_rates = _learning_rates(lr_schedule, epochs)
    _check_training_data(x, y, loss, lambda: model.raw_output(x[:1]))
    if metrics is not None and validation is None:
        raise ValueError(
            "metrics are measured on the validation set: pass validation=(x_val, y_val) too"
        )
    if validation is not None:
        validation = _check_validation(validation, x, y)
        _check_evaluation(model, loss, validation, metrics, batch_size)
    rng = np.random.default_rng(seed)
    history = {"loss": []}
    batches_per_epoch = math.ceil(len(x) / batch_size)
    for epoch in range(epochs):
        if learning_rates is not None:
            optimizer.lr = learning_rates(epoch)
        model.train()
        order = rng.permutation(len(x))
        # A bar updated by hand, not by iterating over it: iterating closes the bar at the last
        # batch, before the epoch's validation numbers could be shown.
        bar = tqdm(
            total=batches_per_epoch,
            desc=f"epoch {epoch + 1}/{epochs}",
            unit="batch",
            disable=not progress,
            file=sys.stdout,
            miniters=max(1, batches_per_epoch // PROGRESS_UPDATES),
            mininterval=0.5,
            # tqdm's monitor would otherwise redraw every batch after a slow stretch (10 s).
            maxinterval=math.inf,
        )
        with bar:
            batch_losses = []
            for batch in range(batches_per_epoch):
                indices = order[batch * batch_size : (batch + 1) * batch_size]
                images, targets = x[indices], y[indices]
                where = f"epoch {epoch + 1}, batch {batch + 1} of {batches_per_epoch}"
                if augment is not None:
                    result = augment(images, targets, rng)
                    images, targets = _augmented(result, images, targets, where)
                raw = model.forward(images)
                # Checked before the loss, which would refuse a non-finite y_hat without context.
                value = loss.forward(raw, targets) if np.isfinite(raw).all() else math.nan
                if not math.isfinite(value):
                    raise FloatingPointError(
                        f"the loss became {value} at {where}: lower the learning rate "
                        f"(lr={optimizer.lr}) or check the data"
                    )
                model.backward(loss.backward(), input_grad=False)  # grads only: dL/dx is unused
                try:
                    optimizer.step()
                except FloatingPointError as error:
                    raise FloatingPointError(f"optimizer.step() at {where}: {error}") from error
                batch_losses.append(value)
                bar.set_postfix(loss=f"{np.mean(batch_losses):.4f}", refresh=False)
                bar.update(1)
            history["loss"].append(float(np.mean(batch_losses)))
            bar.set_postfix(loss=f"{history['loss'][-1]:.4f}", refresh=False)
        non_finite = _non_finite_array(model)
        if non_finite is not None:
            raise FloatingPointError(
                f"{non_finite} holds NaN or infinity at the end of epoch {epoch + 1} (after "
                f"batch {batches_per_epoch} of {batches_per_epoch}): lower the learning rate "
                f"(lr={optimizer.lr}) or check the data"
            )
        if validation is not None:
            scores = evaluate(model, loss, *validation, metrics=metrics, batch_size=batch_size)
            for name, score in scores.items():
                history.setdefault(f"val_{name}", []).append(score)
            if progress:
                line = ", ".join(f"{name} {score:.4f}" for name, score in scores.items())
                print(f"  validation: {line}", file=sys.stdout, flush=True)
    return history


def evaluate(model, loss, x, y, metrics=None, batch_size=256):
    """The loss of `model` on (x, y) in evaluation mode, and `metrics(model.predict(x), y)`.

    Returns {"loss": ..., **metrics}; the network runs in batches, the loss over the whole set.
    The model, the loss and the data are checked as `fit` checks them, the output map included.
    """
    _check_model_and_loss(model, loss, "evaluate(model, loss, x, y)")
    _check_output_map(model, loss)
    _check_metrics(metrics)
    batch_size = positive_int(batch_size, "batch_size")
    raw = _check_training_data(x, y, loss, lambda: model.raw_output(x, batch_size))
    scores = {"loss": float(loss.forward(raw, y))}
    if metrics is not None:
        scores.update(_scores(metrics(model.output(raw), y)))
    return scores


def step_decay(lr, drop=0.5, every=5):
    """A learning-rate schedule: lr for the first `every` epochs, then multiplied by `drop`.

    lr and drop are finite numbers > 0, every a positive integer. The schedule takes an epoch
    0, 1, ... (as `fit` counts them): a negative one would get more than lr.
    """
    lr = real_number(lr, "lr", low=0.0, low_open=True)
    drop = real_number(drop, "drop", low=0.0, low_open=True)
    every = positive_int(every, "every")

    def schedule(epoch):
        return lr * drop ** (non_negative_int(epoch, "epoch") // every)

    return schedule


def write_results(path, results):
    """Write a run's results (a dict of names -> numbers, strings, or lists or dicts of them, e.g.
    a metrics report with the run's settings) to `path` as indented JSON.

    numpy numbers are written as plain numbers, NaN and infinities as null (JSON has neither).
    The file is written whole or not at all, as `tinycnn.io.write_json` writes.
    """
    if not isinstance(results, dict):
        raise TypeError(f"results must be a dict of name -> value, got {type(results).__name__}")
    write_json(path, results, name="results")


def _check_model_and_loss(model, loss, call):
    """model must be a Sequential and loss a loss instance (not its class), in that order, as in
    `call` (the signature the message shows)."""
    if isinstance(model, Loss) and isinstance(loss, Sequential):
        raise TypeError(f"model and loss are swapped: the model comes first, {call}")
    if not isinstance(model, Sequential):
        raise TypeError(
            f"model must be a tinycnn Sequential (e.g. tc.networks.localizer(...)), got "
            f"{_describe(model)}"
        )
    model.check()  # model.layers may have been edited since it was built
    if isinstance(loss, type) and issubclass(loss, Loss):
        raise TypeError(
            f"loss must be a loss instance, got the class {loss.__name__}: build it, e.g. "
            f"{loss.__name__}(num_classes)"
        )
    if not isinstance(loss, Loss):
        raise TypeError(
            f"loss must be a tinycnn loss (e.g. tc.losses.LocalizationLoss(3)), got "
            f"{_describe(loss)}"
        )


def _check_optimizer(optimizer, model):
    """optimizer must be a tinycnn optimizer built for this very model."""
    if isinstance(optimizer, type) and issubclass(optimizer, Optimizer):
        raise TypeError(
            f"optimizer must be an optimizer instance, got the class {optimizer.__name__}: "
            f"build it for the model, e.g. {optimizer.__name__}(model, lr=1e-3)"
        )
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"optimizer must be a tinycnn optimizer built for the model, e.g. "
            f"tc.optim.Adam(model, lr=1e-3), got {_describe(optimizer)}"
        )
    if optimizer.model is not model:
        raise ValueError(
            f"optimizer was built for another model, so its steps would never reach this one: "
            f"build it for this model, e.g. {type(optimizer).__name__}(model, lr=...)"
        )


def _check_weights(model):
    """The model must have parameters to train, all of them (and its state) finite."""
    if not any(True for _ in model.parameters()):
        raise ValueError(f"model has no parameters to train: {model!r}")
    non_finite = _non_finite_array(model)
    if non_finite is not None:
        raise ValueError(
            f"model's {non_finite} holds NaN or infinity before training: rebuild the model or "
            "load finite weights"
        )


def _non_finite_array(model):
    """The name of the first param or state array of the model holding NaN or inf, else None."""
    for index, layer in enumerate(model.layers):
        for kind in ("params", "state"):
            for name, array in getattr(layer, kind).items():
                if not np.isfinite(array).all():
                    return f"layers[{index}] {layer!r}: {kind}[{name!r}]"
    return None


def _augmented(result, images, targets, where):
    """augment's result, checked: a pair of float arrays shaped like the batch it was given, the
    images finite (the targets are the loss's to check)."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise TypeError(
            f"augment must return a pair (images, targets), got {type(result).__name__}"
        )
    new_images, new_targets = result
    float_array(new_images, "augment's images")
    float_array(new_targets, "augment's targets")
    if new_images.shape != images.shape or new_targets.shape != targets.shape:
        raise ValueError(
            f"augment must return images and targets shaped like those it was given, "
            f"{images.shape} and {targets.shape}, got {new_images.shape} and {new_targets.shape}"
        )
    try:
        _check_finite_images(new_images, "the images augment returns")
    except ValueError as error:
        raise ValueError(f"{error} (of the batch at {where}): check augment's settings") from None
    return new_images, new_targets


def _describe(value):
    """A wrong argument in a message: a string's repr, else its type (a class by its name)."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, type):
        return f"the class {value.__name__}"
    return "None" if value is None else type(value).__name__


def _check_output_map(model, loss):
    """model.output must be loss.output: the map from raw output to the lecture's vector."""
    model_output = getattr(model, "output", None)
    if model_output != loss.output:
        raise ValueError(
            f"model.output is {model_output!r}, but {type(loss).__name__} reads the raw output "
            f"as {loss.output!r}: build the model with the loss's output map, e.g. "
            "Sequential(layers, output=loss.output) or "
            "tc.networks.localizer(num_classes, output=loss.output)"
        )


def _first_non_finite(images):
    """The index of the first image holding NaN or infinity, or None if all are finite."""
    finite = np.isfinite(images.reshape(len(images), -1)).all(axis=1)
    return None if finite.all() else int(np.argmin(finite))


def _check_finite_images(images, name):
    bad = _first_non_finite(images)
    if bad is not None:
        raise ValueError(f"{name} must be finite, but image {bad} holds NaN or infinity")


def _check_training_data(x, y, loss, run_model):
    """x must be finite inputs the model takes, and y targets the loss reads, one per input;
    returns run_model() (the model on x's first example for fit; on all of x for evaluate, which
    needs its output anyway). x is checked first: x and y swapped are caught by the model, whose
    TypeError or ValueError is raised again naming x, not by the loss."""
    float_array(x, "x")
    float_array(y, "y")
    if x.ndim < 2 or y.ndim < 2:
        raise ValueError(
            f"x must be images (N, C, H, W) and y targets (N, ...), one row per image, got shapes "
            f"{x.shape} and {y.shape}"
        )
    if len(x) != len(y):
        raise ValueError(
            f"x and y must hold the same number of examples, got {len(x)} and {len(y)}"
        )
    if len(x) == 0:
        raise ValueError("x must hold at least one example, got an empty array (N = 0)")
    _check_finite_images(x, "x")
    try:
        raw = run_model()
    except (TypeError, ValueError) as error:
        where = "".join(f" ({note})" for note in getattr(error, "__notes__", ()))
        raise type(error)(f"x of shape {x.shape} does not fit the model: {error}{where}") from error
    # The loss checks the targets itself, as it will batch by batch: here on zero predictions.
    try:
        loss.forward(np.zeros((*y.shape[:-1], loss.width)), y)
    except (TypeError, ValueError) as error:
        raise type(error)(f"y does not fit {type(loss).__name__}: {error}") from error
    return raw


def _check_validation(validation, x, y):
    """validation must be a pair (x_val, y_val) shaped like x and y, not empty."""
    if not isinstance(validation, (tuple, list)) or len(validation) != 2:
        raise TypeError(
            f"validation must be a pair (x_val, y_val), got {type(validation).__name__}"
        )
    x_val, y_val = validation
    float_array(x_val, "validation's x_val")
    float_array(y_val, "validation's y_val")
    for name, array, like, what in (("x_val", x_val, x, "images"), ("y_val", y_val, y, "targets")):
        if array.shape[1:] != like.shape[1:]:
            raise ValueError(
                f"validation's {name} must hold {what} shaped like the training ones, (N, "
                f"{', '.join(map(str, like.shape[1:]))}), got {array.shape}"
            )
    if len(x_val) != len(y_val):
        raise ValueError(
            f"validation's x_val and y_val must hold the same number of examples, "
            f"got {len(x_val)} and {len(y_val)}"
        )
    if len(x_val) == 0:
        raise ValueError("validation must hold at least one example, got N = 0")
    _check_finite_images(x_val, "validation's x_val")
    return x_val, y_val


def _check_evaluation(model, loss, validation, metrics, batch_size):
    """Evaluate once before training, so that the loss's checks of y_val and a metrics function
    that fails or returns something other than numbers stop fit now, not after an epoch."""
    _check_metrics(metrics)
    try:
        evaluate(model, loss, *validation, metrics=metrics, batch_size=batch_size)
    except (TypeError, ValueError) as error:
        raise type(error)(f"validation could not be measured before training: {error}") from error


def _check_metrics(metrics):
    if metrics is not None and not callable(metrics):
        raise TypeError(
            f"metrics must be a function (y_pred, y_true) -> dict of numbers, got "
            f"{type(metrics).__name__}"
        )


def _scores(scores):
    """metrics' result as {name: float}, or a TypeError saying what it should be."""
    if not isinstance(scores, dict):
        raise TypeError(
            f"metrics must return a dict of name -> number, got {type(scores).__name__}"
        )
    checked = {}
    for name, score in scores.items():
        if not isinstance(name, str):  # str(1) and "1" would become one name
            raise TypeError(
                f"metrics must return a dict of name -> number, the names strings, got "
                f"{name!r} ({type(name).__name__})"
            )
        if name == "loss":
            raise ValueError(
                "metrics must not return a score named 'loss': it would replace the loss that "
                "evaluate and fit report beside it"
            )
        number = one_number(score)
        if number is None:
            raise TypeError(
                f"metrics must return a dict of name -> number, but {name!r} is "
                f"{type(score).__name__}: {score!r}"
            )
        checked[name] = number
    return checked


def _learning_rates(lr_schedule, epochs):
    """None without a schedule; else `rate(epoch)`, lr_schedule(epoch) checked to be a finite
    number > 0: the first SCHEDULE_CHECKED_AHEAD epochs' rates before training starts, later ones
    as their epoch starts."""
    if lr_schedule is None:
        return None
    if not callable(lr_schedule):
        raise TypeError(
            f"lr_schedule must be a function epoch -> learning rate, got "
            f"{type(lr_schedule).__name__}"
        )

    def checked(epoch):
        return real_number(lr_schedule(epoch), f"lr_schedule({epoch})", low=0, low_open=True)

    ahead = [checked(epoch) for epoch in range(min(epochs, SCHEDULE_CHECKED_AHEAD))]
    return lambda epoch: ahead[epoch] if epoch < len(ahead) else checked(epoch)
