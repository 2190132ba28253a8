"""Training: mini-batch gradient descent, one epoch after another.

One step, as in the lecture:

    y_hat = model.forward(x_batch)           raw output
    L     = loss.forward(y_hat, y_batch)     a number
    model.backward(loss.backward())          every layer's grads
    optimizer.step()                         params updated in place

`fit` repeats it over shuffled batches, watches that L stays finite, and after each epoch measures
the model on held-out data with `model.predict`, which speaks the lecture's language.
"""

import math

import numpy as np
from tqdm.auto import tqdm

from tinycnn.checks import positive_int


def fit(model, loss, optimizer, x, y, epochs, batch_size=64, *, validation=None, metrics=None,
        augment=None, lr_schedule=None, seed=0, progress=True):
    """Train `model` on images x (N, C, H, W) and targets y (N, D); return the history.

    validation: (x_val, y_val), evaluated after every epoch: its loss, and `metrics(y_pred, y_val)`
        (a dict of numbers, e.g. `tinycnn.metrics.localization_report`) on `model.predict(x_val)`.
    augment: `augment(images, targets, rng) -> (images, targets)`, applied to each training batch.
    lr_schedule: `lr_schedule(epoch) -> lr` for epochs 0, 1, ...; None keeps the optimizer's lr.
    seed: the shuffling (and augmentation) seed, so that a run can be repeated exactly.

    The model's `output` map is set from the loss (`loss.output`), so that `model.predict` returns
    p_c and the classes as probabilities whatever the loss. Returns a dict of per-epoch lists:
    "loss" (the mean training loss), and with validation "val_loss" and "val_<name>" per metric.
    Raises FloatingPointError naming the epoch and batch where the loss stops being finite.
    """
    _check_training_data(x, y, validation)
    positive_int(epochs, "epochs")
    positive_int(batch_size, "batch_size")
    model.output = loss.output
    rng = np.random.default_rng(seed)
    history = {"loss": []}
    batches_per_epoch = math.ceil(len(x) / batch_size)
    for epoch in range(epochs):
        if lr_schedule is not None:
            optimizer.lr = float(lr_schedule(epoch))
        model.train()
        order = rng.permutation(len(x))
        batch_losses = []
        bar = tqdm(range(batches_per_epoch), desc=f"epoch {epoch + 1}/{epochs}", unit="batch",
                   disable=not progress, leave=True)
        for batch in bar:
            indices = order[batch * batch_size:(batch + 1) * batch_size]
            images, targets = x[indices], y[indices]
            if augment is not None:
                images, targets = augment(images, targets, rng)
            raw = model.forward(images)
            # Checked before the loss, which would refuse a non-finite y_hat without the context.
            value = loss.forward(raw, targets) if np.isfinite(raw).all() else math.nan
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"the loss became {value} at epoch {epoch + 1}, batch {batch + 1} of "
                    f"{batches_per_epoch}: lower the learning rate (lr={optimizer.lr}) or check "
                    "the data")
            model.backward(loss.backward(), input_grad=False)  # grads only: dL/dx goes unused
            optimizer.step()
            batch_losses.append(value)
            # refresh=False: tqdm redraws at its own pace, not once per batch (a log per batch).
            bar.set_postfix(loss=f"{np.mean(batch_losses):.4f}", refresh=False)
        history["loss"].append(float(np.mean(batch_losses)))
        if validation is not None:
            scores = evaluate(model, loss, *validation, metrics=metrics, batch_size=batch_size)
            for name, score in scores.items():
                history.setdefault(f"val_{name}", []).append(score)
            bar.set_postfix(loss=f"{history['loss'][-1]:.4f}",
                            **{f"val_{name}": f"{score:.4f}" for name, score in scores.items()})
        bar.close()
    return history


def evaluate(model, loss, x, y, metrics=None, batch_size=256):
    """The loss of `model` on (x, y) in evaluation mode, and `metrics(model.predict(x), y)`.

    Returns {"loss": ..., **metrics}; the network runs in batches, the loss over the whole set.
    """
    raw = model.raw_output(x, batch_size)
    scores = {"loss": loss.forward(raw, y)}
    if metrics is not None:
        y_pred = model.output(raw)
        scores.update({name: float(score) for name, score in metrics(y_pred, y).items()})
    return scores


def step_decay(lr, drop=0.5, every=5):
    """A learning-rate schedule: lr for the first `every` epochs, then multiplied by `drop`."""
    return lambda epoch: lr * drop ** (epoch // every)


def _check_training_data(x, y, validation):
    for name, array in (("x", x), ("y", y)):
        if not isinstance(array, np.ndarray):
            raise TypeError(f"{name} must be a numpy array, got {type(array).__name__}")
    if len(x) != len(y):
        raise ValueError(f"x and y must hold the same number of examples, got {len(x)} and "
                         f"{len(y)}")
    if len(x) == 0:
        raise ValueError("x must hold at least one example")
    if validation is not None:
        if not (isinstance(validation, tuple) and len(validation) == 2):
            raise TypeError("validation must be a tuple (x_val, y_val)")
        if len(validation[0]) != len(validation[1]):
            raise ValueError(f"validation's x_val and y_val must hold the same number of "
                             f"examples, got {len(validation[0])} and {len(validation[1])}")
