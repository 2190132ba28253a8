"""fit: it learns, it is repeatable, it stops loudly on a non-finite loss."""

import numpy as np
import pytest

import tinycnn as tc
from tinycnn.losses import LocalizationLoss, SquaredLocalizationLoss
from tinycnn.train import evaluate, fit, step_decay


def tiny_localization_problem(n=96, seed=0):
    """Four features that say everything: a 'network' of one Dense layer can learn the targets."""
    rng = np.random.default_rng(seed)
    has_object = rng.random(n) < 0.7
    labels = rng.integers(0, 3, n)
    boxes = rng.uniform(0.3, 0.7, (n, 4))
    y = np.zeros((n, 8), dtype=np.float32)
    y[has_object, 0] = 1
    y[has_object, 1:5] = boxes[has_object]
    y[has_object, 5 + labels[has_object]] = 1
    x = (y[:, None, :, None] + 0.01 * rng.standard_normal((n, 1, 8, 1))).astype(np.float32)
    return x, y


def linear_model(seed=0):
    return tc.Sequential([tc.Flatten(), tc.Dense(8, 8, rng=seed)])


def test_fit_learns_and_reports_metrics():
    x, y = tiny_localization_problem()
    x_val, y_val = tiny_localization_problem(seed=1)
    model = linear_model()
    loss = LocalizationLoss(3)
    history = fit(model, loss, tc.optim.Adam(model, lr=0.05), x, y, epochs=30, batch_size=16,
                  validation=(x_val, y_val), metrics=tc.metrics.localization_report,
                  progress=False)
    assert len(history["loss"]) == 30 and len(history["val_loss"]) == 30
    assert history["loss"][-1] < 0.2 * history["loss"][0]
    assert history["val_pc_accuracy"][-1] == 1.0
    assert model.output is loss.output  # predict now speaks the lecture's language
    assert evaluate(model, loss, x_val, y_val)["loss"] == pytest.approx(history["val_loss"][-1])


def test_fit_is_repeatable_with_a_seed():
    x, y = tiny_localization_problem()
    finals = []
    for _ in range(2):
        model = linear_model()
        fit(model, SquaredLocalizationLoss(3), tc.optim.SGD(model, lr=0.05), x, y, epochs=2,
            batch_size=10, seed=7, progress=False)
        finals.append(model.layers[1].params["W"].copy())
    np.testing.assert_array_equal(*finals)


def test_augment_and_lr_schedule_are_applied():
    x, y = tiny_localization_problem(n=20)
    seen_batches, seen_lrs = [], []
    model = linear_model()
    optimizer = tc.optim.SGD(model, lr=1.0)

    def record(images, targets, rng):
        seen_batches.append(len(images))
        seen_lrs.append(optimizer.lr)
        return images, targets

    fit(model, SquaredLocalizationLoss(3), optimizer, x, y, epochs=4, batch_size=8,
        augment=record, lr_schedule=step_decay(0.1, drop=0.5, every=2), progress=False)
    assert seen_batches == [8, 8, 4] * 4
    assert seen_lrs == [0.1] * 6 + [0.05] * 6


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_a_diverging_loss_names_epoch_and_batch():
    x, y = tiny_localization_problem()
    x[40] = np.inf  # batch 3 of epoch 1 with batch_size 16 and no shuffling of the culprit's batch
    model = linear_model()
    with pytest.raises(FloatingPointError, match=r"epoch 1, batch \d+ of 6"):
        fit(model, SquaredLocalizationLoss(3), tc.optim.SGD(model, lr=0.1), x, y, epochs=1,
            batch_size=16, progress=False)


def test_a_too_large_learning_rate_stops_with_a_clear_error():
    x, y = tiny_localization_problem()
    model = linear_model()
    with pytest.raises((FloatingPointError, ValueError), match=r"epoch \d+, batch \d+|y_hat"):
        with np.errstate(over="ignore", invalid="ignore"):
            fit(model, SquaredLocalizationLoss(3), tc.optim.SGD(model, lr=1e6), x, y, epochs=5,
                batch_size=16, progress=False)


@pytest.mark.parametrize("arguments, error, message", [
    ({"epochs": 0}, ValueError, r"epochs must be a positive integer"),
    ({"batch_size": 0}, ValueError, r"batch_size must be a positive integer"),
    ({"y": np.zeros((5, 8), dtype=np.float32)}, ValueError, r"same number of examples"),
    ({"validation": [1, 2]}, TypeError, r"validation must be a tuple"),
])
def test_bad_arguments(arguments, error, message):
    x, y = tiny_localization_problem(n=10)
    model = linear_model()
    call = {"x": x, "y": y, "epochs": 1, **arguments}
    with pytest.raises(error, match=message):
        fit(model, SquaredLocalizationLoss(3), tc.optim.SGD(model), progress=False, **call)
