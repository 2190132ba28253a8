"""Training: mini-batch gradient descent, one epoch after another.

One step, as in the lecture:

    y_hat = model.forward(x_batch)           raw output
    L     = loss.forward(y_hat, y_batch)     a number
    model.backward(loss.backward())          every layer's grads
    optimizer.step()                         params updated in place

`fit` repeats it over shuffled batches, watches that L stays finite, and after each epoch measures
the model on held-out data with `model.predict`, which speaks the lecture's language. Everything
it is given is checked before the first step, so that a mistake costs seconds, not an epoch.
"""

import math
import numbers
import sys

import numpy as np
from tqdm import tqdm

from tinycnn.checks import float_array, positive_int, real_number
from tinycnn.io import write_json

PROGRESS_UPDATES = 20
"""At most this many redraws of an epoch's progress bar (and at most two a second): the bar
updates in place in a terminal and in Jupyter, and a stored notebook stays small."""


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

    validation: (x_val, y_val), evaluated after every epoch: its loss, and `metrics(y_pred, y_val)`
        (a dict of numbers, e.g. `tinycnn.metrics.localization_report`) on `model.predict(x_val)`.
    augment: `augment(images, targets, rng) -> (images, targets)`, applied to each training batch.
    lr_schedule: `lr_schedule(epoch) -> lr` for epochs 0, 1, ...; None keeps the optimizer's lr.
    seed: the shuffling (and augmentation) seed, so that a run can be repeated exactly.
    progress: one progress bar per epoch with the running training loss, and after each epoch a
        line with the validation loss and metrics.

    The model's output map must be the loss's (`model.output` equal to `loss.output`): build the
    model with it, e.g. `Sequential(layers, output=loss.output)`, so that `model.predict` reads the
    raw output the way the loss trained it to. `fit` checks the output map, the data, validation,
    metrics (called once on the validation set) and every learning rate of the schedule before the
    first step. Returns a dict of per-epoch lists: "loss" (the mean training loss), and with
    validation "val_loss" and "val_<name>" per metric. Raises FloatingPointError naming the epoch
    and batch where the loss stops being finite.
    """
    _check_output_map(model, loss)
    _check_training_data(x, y)
    epochs = positive_int(epochs, "epochs")
    batch_size = positive_int(batch_size, "batch_size")
    if augment is not None and not callable(augment):
        raise TypeError(
            f"augment must be a function (images, targets, rng) -> (images, targets), "
            f"got {type(augment).__name__}"
        )
    learning_rates = _learning_rates(lr_schedule, epochs)
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
            optimizer.lr = learning_rates[epoch]
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
                if augment is not None:
                    images, targets = augment(images, targets, rng)
                raw = model.forward(images)
                # Checked before the loss, which would refuse a non-finite y_hat without context.
                value = loss.forward(raw, targets) if np.isfinite(raw).all() else math.nan
                if not math.isfinite(value):
                    raise FloatingPointError(
                        f"the loss became {value} at epoch {epoch + 1}, batch {batch + 1} of "
                        f"{batches_per_epoch}: lower the learning rate (lr={optimizer.lr}) or "
                        "check the data"
                    )
                model.backward(loss.backward(), input_grad=False)  # grads only: dL/dx is unused
                optimizer.step()
                batch_losses.append(value)
                bar.set_postfix(loss=f"{np.mean(batch_losses):.4f}", refresh=False)
                bar.update(1)
            history["loss"].append(float(np.mean(batch_losses)))
            bar.set_postfix(loss=f"{history['loss'][-1]:.4f}", refresh=False)
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
    """
    raw = model.raw_output(x, batch_size)
    scores = {"loss": float(loss.forward(raw, y))}
    if metrics is not None:
        scores.update(_scores(metrics(model.output(raw), y)))
    return scores


def step_decay(lr, drop=0.5, every=5):
    """A learning-rate schedule: lr for the first `every` epochs, then multiplied by `drop`."""
    return lambda epoch: lr * drop ** (epoch // every)


def write_results(path, results):
    """Write a run's results (a dict of names -> numbers, strings, or lists of them, e.g. a
    metrics report with the run's settings) to `path` as indented JSON.

    numpy numbers are written as plain numbers, NaN and infinities as null (JSON has neither).
    The file is written whole or not at all, as `tinycnn.io.write_json` writes.
    """
    if not isinstance(results, dict):
        raise TypeError(f"results must be a dict of name -> value, got {type(results).__name__}")
    write_json(path, results, name="results")


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


def _check_training_data(x, y):
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
    return x_val, y_val


def _check_evaluation(model, loss, validation, metrics, batch_size):
    """Evaluate once before training, so that the loss's checks of y_val and a metrics function
    that fails or returns something other than numbers stop fit now, not after an epoch."""
    if metrics is not None and not callable(metrics):
        raise TypeError(
            f"metrics must be a function (y_pred, y_true) -> dict of numbers, got "
            f"{type(metrics).__name__}"
        )
    try:
        evaluate(model, loss, *validation, metrics=metrics, batch_size=batch_size)
    except (TypeError, ValueError) as error:
        raise type(error)(f"validation could not be measured before training: {error}") from error


def _scores(scores):
    """metrics' result as {name: float}, or a TypeError saying what it should be."""
    if not isinstance(scores, dict):
        raise TypeError(
            f"metrics must return a dict of name -> number, got {type(scores).__name__}"
        )
    checked = {}
    for name, score in scores.items():
        if isinstance(score, np.ndarray) and score.size == 1:
            score = score.item()
        if isinstance(score, (bool, np.bool_)) or not isinstance(score, numbers.Real):
            raise TypeError(
                f"metrics must return a dict of name -> number, but {name!r} is "
                f"{type(score).__name__}: {score!r}"
            )
        checked[str(name)] = float(score)
    return checked


def _learning_rates(lr_schedule, epochs):
    """[lr_schedule(0), ..., lr_schedule(epochs - 1)], each checked to be a finite number > 0."""
    if lr_schedule is None:
        return None
    if not callable(lr_schedule):
        raise TypeError(
            f"lr_schedule must be a function epoch -> learning rate, got "
            f"{type(lr_schedule).__name__}"
        )
    rates = []
    for epoch in range(epochs):
        rates.append(real_number(lr_schedule(epoch), f"lr_schedule({epoch})", low=0, low_open=True))
    return rates
