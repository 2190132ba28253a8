"""fit: it learns, it is repeatable, it stops loudly on a non-finite loss."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def linear_model(seed=0, output=None):
    return tc.Sequential([tc.Flatten(), tc.Dense(8, 8, rng=seed)], output=output)


def test_fit_learns_and_reports_metrics():
    x, y = tiny_localization_problem()
    x_val, y_val = tiny_localization_problem(seed=1)
    loss = LocalizationLoss(3)
    model = linear_model(output=loss.output)
    history = fit(
        model,
        loss,
        tc.optim.Adam(model, lr=0.05),
        x,
        y,
        epochs=30,
        batch_size=16,
        validation=(x_val, y_val),
        metrics=tc.metrics.localization_report,
        progress=False,
    )
    assert len(history["loss"]) == 30 and len(history["val_loss"]) == 30
    assert history["loss"][-1] < 0.2 * history["loss"][0]
    assert history["val_pc_accuracy"][-1] == 1.0
    assert model.output is loss.output  # fit leaves the model's output map alone
    assert evaluate(model, loss, x_val, y_val)["loss"] == pytest.approx(history["val_loss"][-1])


def test_fit_is_repeatable_with_a_seed():
    x, y = tiny_localization_problem()
    finals = []
    for _ in range(2):
        model = linear_model()
        fit(
            model,
            SquaredLocalizationLoss(3),
            tc.optim.SGD(model, lr=0.05),
            x,
            y,
            epochs=2,
            batch_size=10,
            seed=7,
            progress=False,
        )
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

    fit(
        model,
        SquaredLocalizationLoss(3),
        optimizer,
        x,
        y,
        epochs=4,
        batch_size=8,
        augment=record,
        lr_schedule=step_decay(0.1, drop=0.5, every=2),
        progress=False,
    )
    assert seen_batches == [8, 8, 4] * 4
    assert seen_lrs == [0.1] * 6 + [0.05] * 6


class InfiniteOnItsThirdCall(tc.ReLU):
    """A ReLU that returns infinity on its third forward pass in training (fit's checks run the
    model in evaluation mode first): a loss diverging mid-epoch."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += self.training
        out = super().forward(x)
        return np.full_like(out, np.inf) if self.calls == 3 else out


def test_a_diverging_loss_names_epoch_and_batch():
    x, y = tiny_localization_problem()
    model = tc.Sequential([tc.Flatten(), tc.Dense(8, 8, rng=0), InfiniteOnItsThirdCall()])
    with pytest.raises(FloatingPointError, match=r"loss became nan at epoch 1, batch 3 of 6"):
        fit(
            model,
            SquaredLocalizationLoss(3),
            tc.optim.SGD(model, lr=0.1),
            x,
            y,
            epochs=1,
            batch_size=16,
            progress=False,
        )


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_images_that_are_not_finite_are_refused_before_the_first_step(value):
    x, y = tiny_localization_problem()
    x[40, 0, 3] = value
    model = linear_model()
    before = model.layers[1].params["W"].copy()
    with pytest.raises(ValueError, match=r"x must be finite, but image 40 holds NaN or infinity"):
        fit(model, SquaredLocalizationLoss(3), tc.optim.SGD(model), x, y, 1, progress=False)
    with pytest.raises(ValueError, match=r"validation's x_val must be finite, but image 40 holds"):
        fit(
            model,
            SquaredLocalizationLoss(3),
            tc.optim.SGD(model),
            x[:10],
            y[:10],
            1,
            validation=(x, y),
            progress=False,
        )
    np.testing.assert_array_equal(model.layers[1].params["W"], before)


@given(row=st.integers(0, 95), bad=st.sampled_from([np.nan, np.inf, 2.0, -1.0, 0.5]))
def test_targets_the_loss_refuses_are_refused_before_the_first_step(row, bad):
    """A wrong p_c in the last batch is found before the first step, not an epoch later."""
    x, y = tiny_localization_problem()
    y[row, 0] = bad
    model = linear_model()
    before = model.layers[1].params["W"].copy()
    with pytest.raises(ValueError, match=rf"y does not fit SquaredLocalizationLoss: .*row {row}"):
        fit(model, SquaredLocalizationLoss(3), tc.optim.SGD(model), x, y, 1, progress=False)
    np.testing.assert_array_equal(model.layers[1].params["W"], before)


def test_augmented_images_that_are_not_finite_are_named():
    x, y = tiny_localization_problem(n=10)
    model = linear_model()

    def darken(images, targets, rng):
        return images * np.nan, targets

    with pytest.raises(
        ValueError, match=r"images augment returns must be finite, but image 0 .*epoch 1, batch 1"
    ):
        fit(
            model,
            SquaredLocalizationLoss(3),
            tc.optim.SGD(model),
            x,
            y,
            1,
            augment=darken,
            progress=False,
        )


def test_a_too_large_learning_rate_stops_with_a_clear_error():
    x, y = tiny_localization_problem()
    model = linear_model()
    with pytest.raises((FloatingPointError, ValueError), match=r"epoch \d+, batch \d+|y_hat"):
        with np.errstate(over="ignore", invalid="ignore"):
            fit(
                model,
                SquaredLocalizationLoss(3),
                tc.optim.SGD(model, lr=1e6),
                x,
                y,
                epochs=5,
                batch_size=16,
                progress=False,
            )


def nan_after_two_epochs(epoch):
    return 0.1 if epoch < 2 else float("nan")


X_VAL, Y_VAL = tiny_localization_problem(n=12, seed=3)


@pytest.mark.parametrize(
    "arguments, error, message",
    [
        ({"epochs": 0}, ValueError, r"epochs must be a positive integer"),
        ({"batch_size": 0}, ValueError, r"batch_size must be a positive integer"),
        ({"y": np.zeros((5, 8), dtype=np.float32)}, ValueError, r"same number of examples"),
        (
            {"x": np.zeros((0, 1, 8, 1), np.float32), "y": np.zeros((0, 8), np.float32)},
            ValueError,
            r"x must hold at least one example.*N = 0",
        ),
        ({"x": np.zeros((10, 1, 8, 1), np.uint8)}, TypeError, r"x must be float32 or float64"),
        ({"x": [[0.0]]}, TypeError, r"x must be a numpy array"),
        ({"validation": [1, 2]}, TypeError, r"validation's x_val must be a numpy array"),
        ({"validation": (None, None)}, TypeError, r"x_val must be a numpy array, got NoneType"),
        ({"validation": X_VAL}, TypeError, r"validation must be a pair"),
        ({"validation": (X_VAL, Y_VAL, Y_VAL)}, TypeError, r"validation must be a pair"),
        ({"validation": (X_VAL[:, 0], Y_VAL)}, ValueError, r"x_val must hold images shaped like"),
        ({"validation": (X_VAL, Y_VAL[:, :7])}, ValueError, r"y_val must hold targets shaped"),
        ({"validation": (X_VAL, Y_VAL[:5])}, ValueError, r"same number of examples, got 12 and 5"),
        ({"validation": (X_VAL[:0], Y_VAL[:0])}, ValueError, r"at least one example, got N = 0"),
        (
            {"validation": (X_VAL, Y_VAL.astype(int))},
            TypeError,
            r"y_val must be float32 or float64",
        ),
        ({"validation": (X_VAL, Y_VAL + 2)}, ValueError, r"validation could not be measured"),
        ({"metrics": tc.metrics.localization_report}, ValueError, r"pass validation="),
        (
            {"validation": (X_VAL, Y_VAL), "metrics": lambda y_pred, y_true: {"name": "good"}},
            TypeError,
            r"'name' is str",
        ),
        (
            {"validation": (X_VAL, Y_VAL), "metrics": lambda y_pred, y_true: [0.5]},
            TypeError,
            r"metrics must return a dict",
        ),
        (
            {"validation": (X_VAL, Y_VAL), "metrics": lambda y_pred, y_true: {1: 0.5}},
            TypeError,
            r"the names strings, got 1 \(int\)",
        ),
        (
            {"validation": (X_VAL, Y_VAL), "metrics": lambda y_pred, y_true: {"loss": 0.5}},
            ValueError,
            r"must not return a score named 'loss'",
        ),
        ({"validation": (X_VAL, Y_VAL), "metrics": "accuracy"}, TypeError, r"metrics must be a"),
        (
            {"lr_schedule": nan_after_two_epochs, "epochs": 3},
            ValueError,
            r"lr_schedule\(2\) must be a finite number > 0, got nan",
        ),
        (
            {"lr_schedule": lambda epoch: -0.1},
            ValueError,
            r"lr_schedule\(0\) must be a finite number > 0, got -0.1",
        ),
        (
            {"lr_schedule": lambda epoch: "0.1"},
            TypeError,
            r"lr_schedule\(0\) must be a real number",
        ),
        ({"lr_schedule": 0.1}, TypeError, r"lr_schedule must be a function"),
        ({"augment": "flips"}, TypeError, r"augment must be a function"),
    ],
)
def test_bad_arguments_are_refused_before_the_first_step(arguments, error, message):
    x, y = tiny_localization_problem(n=10)
    model = linear_model()
    before = model.layers[1].params["W"].copy()
    call = {"x": x, "y": y, "epochs": 1, **arguments}
    with pytest.raises(error, match=message):
        fit(model, SquaredLocalizationLoss(3), tc.optim.SGD(model), progress=False, **call)
    np.testing.assert_array_equal(model.layers[1].params["W"], before)  # not one step was taken


def test_a_model_without_the_loss_output_map_is_refused_with_the_fix():
    x, y = tiny_localization_problem(n=10)
    model = linear_model()  # its output map is Identity, the loss reads logits
    with pytest.raises(ValueError, match=r"output=loss.output"):
        fit(model, LocalizationLoss(3), tc.optim.SGD(model), x, y, epochs=1, progress=False)
    assert type(model.output).__name__ == "Identity"  # fit did not change it


def test_validation_numbers_appear_after_every_epoch(capsys):
    x, y = tiny_localization_problem(n=40)
    loss = LocalizationLoss(3)
    model = linear_model(output=loss.output)
    history = fit(
        model,
        loss,
        tc.optim.Adam(model, lr=0.01),
        x,
        y,
        epochs=3,
        batch_size=8,
        validation=(X_VAL, Y_VAL),
        metrics=tc.metrics.localization_report,
    )
    printed = capsys.readouterr().out
    lines = [line for line in printed.splitlines() if "validation:" in line]
    assert len(lines) == 3
    for epoch, line in enumerate(lines):
        assert f"loss {history['val_loss'][epoch]:.4f}" in line
        assert f"mean_iou {history['val_mean_iou'][epoch]:.4f}" in line
    # One bar per epoch, each with its final training loss, and each before its validation line.
    for epoch in range(3):
        bar_end = printed.rindex(f"epoch {epoch + 1}/3: 100%")
        assert f"loss={history['loss'][epoch]:.4f}" in printed[bar_end:].splitlines()[0]
        assert bar_end < printed.index(lines[epoch])


def test_the_progress_bar_redraws_a_bounded_number_of_times(capsys):
    x, y = tiny_localization_problem(n=400)
    model = linear_model()
    fit(
        model,
        SquaredLocalizationLoss(3),
        tc.optim.SGD(model, lr=0.01),
        x,
        y,
        epochs=1,
        batch_size=1,
    )
    redraws = capsys.readouterr().out.count("\r")
    assert 1 <= redraws <= tc.train.PROGRESS_UPDATES + 3


def test_random_augment_with_flips_only_draws_one_number_per_image():
    """Lessons 4 and 5 train with flips alone: the same batches, and the same random stream
    afterwards, as mirroring where rng.random(n) < 0.5 (so their results stay as measured)."""
    from tinycnn.data.augment import horizontal_flip, random_augment

    x, y = tiny_localization_problem(n=16)
    flips_only = {"max_brightness": 0, "max_contrast": 0, "max_noise": 0}
    images, targets = random_augment(x, y, np.random.default_rng(5), **flips_only)
    rng = np.random.default_rng(5)
    flip = rng.random(len(x)) < 0.5
    expected_images, expected_targets = x.copy(), y.copy()
    expected_images[flip], expected_targets[flip] = horizontal_flip(x[flip], y[flip])
    np.testing.assert_array_equal(images, expected_images)
    np.testing.assert_array_equal(targets, expected_targets)
    after = np.random.default_rng(5)
    random_augment(x, y, after, **flips_only)
    assert after.random() == rng.random()


def test_write_results_writes_plain_json_whole(tmp_path):
    import json

    path = tmp_path / "metrics.json"
    path.write_text("old")
    tc.train.write_results(path, {"mean_iou": np.float32(0.5), "epochs": np.int64(3), "name": "x"})
    assert json.loads(path.read_text()) == {"mean_iou": 0.5, "epochs": 3, "name": "x"}
    with pytest.raises(TypeError, match="results must hold numbers"):
        tc.train.write_results(path, {"model": object()})
    assert json.loads(path.read_text())["epochs"] == 3  # the failed write left the file alone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]  # and no temporary


def other_linear_model():
    return linear_model(seed=1)


def nan_weights_model():
    model = linear_model()
    model.layers[1].params["W"][0, 0] = np.nan
    return model


def sgd(model):
    return tc.optim.SGD(model)


@pytest.mark.parametrize(
    "make_model, loss, make_optimizer, error, message",
    [
        (linear_model, SquaredLocalizationLoss(3), lambda m: "adam", TypeError, r"must be.*'adam'"),
        (linear_model, SquaredLocalizationLoss(3), lambda m: None, TypeError, r"must be.*None"),
        (
            linear_model,
            SquaredLocalizationLoss(3),
            lambda m: tc.optim.Adam,
            TypeError,
            r"optimizer must be an optimizer instance, got the class Adam",
        ),
        (
            linear_model,
            SquaredLocalizationLoss(3),
            lambda m: tc.optim.SGD(other_linear_model()),
            ValueError,
            r"optimizer was built for another model",
        ),
        (
            linear_model,
            SquaredLocalizationLoss,
            sgd,
            TypeError,
            r"loss must be a loss instance, got the class SquaredLocalizationLoss",
        ),
        (linear_model, "mse", sgd, TypeError, r"loss must be a tinycnn loss.*'mse'"),
        (linear_model, None, sgd, TypeError, r"loss must be a tinycnn loss.*None"),
        (
            lambda: tc.Sequential([tc.Flatten()]),
            SquaredLocalizationLoss(3),
            sgd,
            ValueError,
            r"model has no parameters to train",
        ),
        (
            nan_weights_model,
            SquaredLocalizationLoss(3),
            sgd,
            ValueError,
            r"params\['W'\] holds NaN or infinity before training",
        ),
    ],
)
def test_model_loss_and_optimizer_are_refused_before_the_first_step(
    make_model, loss, make_optimizer, error, message
):
    x, y = tiny_localization_problem(n=10)
    model = make_model()
    before = [param.copy() for _, _, param, _ in model.parameters()]
    with pytest.raises(error, match=message):
        fit(model, loss, make_optimizer(model), x, y, epochs=1, progress=False)
    for saved, (_, _, param, _) in zip(before, model.parameters(), strict=True):
        np.testing.assert_array_equal(param, saved)


def test_model_and_loss_swapped_or_not_a_model():
    x, y = tiny_localization_problem(n=10)
    model, loss = linear_model(), SquaredLocalizationLoss(3)
    with pytest.raises(TypeError, match=r"model and loss are swapped"):
        fit(loss, model, tc.optim.SGD(model), x, y, epochs=1, progress=False)
    layer = tc.Dense(8, 8)
    with pytest.raises(TypeError, match=r"model must be a tinycnn Sequential.*got Dense"):
        fit(layer, loss, tc.optim.SGD(layer), x, y, epochs=1, progress=False)


def test_an_optimizer_of_a_rebuilt_model_is_refused():
    """The audit's case: the old optimizer, whose model had grads, reused with a new model."""
    x, y = tiny_localization_problem(n=10)
    loss = SquaredLocalizationLoss(3)
    old_model = linear_model()
    optimizer = tc.optim.Adam(old_model)
    loss.forward(old_model.forward(x), y)
    old_model.backward(loss.backward())
    model = linear_model(seed=2)
    before = model.layers[1].params["W"].copy()
    with pytest.raises(ValueError, match=r"built for another model.*Adam\(model, lr=\.\.\.\)"):
        fit(model, loss, optimizer, x, y, epochs=1, progress=False)
    np.testing.assert_array_equal(model.layers[1].params["W"], before)


hostile = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
)


@given(hostile)
def test_anything_but_an_optimizer_is_refused(value):
    x, y = tiny_localization_problem(n=10)
    with pytest.raises(TypeError, match=r"optimizer must be a tinycnn optimizer"):
        fit(linear_model(), SquaredLocalizationLoss(3), value, x, y, epochs=1, progress=False)


@given(hostile.filter(lambda value: not (type(value) is int and value >= 0)))
def test_seed_must_be_a_non_negative_integer(value):
    x, y = tiny_localization_problem(n=10)
    model = linear_model()
    with pytest.raises((TypeError, ValueError), match=r"seed must be a non-negative integer"):
        fit(model, SquaredLocalizationLoss(3), tc.optim.SGD(model), x, y, 1, seed=value)


@given(hostile.filter(lambda value: not isinstance(value, bool)))
def test_progress_must_be_true_or_false(value):
    x, y = tiny_localization_problem(n=10)
    model = linear_model()
    with pytest.raises(TypeError, match=r"progress must be True or False"):
        fit(model, SquaredLocalizationLoss(3), tc.optim.SGD(model), x, y, 1, progress=value)


@pytest.mark.parametrize(
    "augment, error, message",
    [
        (lambda images, targets, rng: images, TypeError, r"augment must return a pair"),
        (
            lambda images, targets, rng: (images[:, :, :4], targets),
            ValueError,
            r"augment must return images and targets shaped like those it was given",
        ),
        (
            lambda images, targets, rng: (images, targets[:-1]),
            ValueError,
            r"shaped like those it was given",
        ),
        (
            lambda images, targets, rng: (images.astype(int), targets),
            TypeError,
            r"augment's images must be float32 or float64",
        ),
    ],
)
def test_what_augment_returns_is_checked_before_the_first_step(augment, error, message):
    x, y = tiny_localization_problem(n=10)
    model = linear_model()
    before = model.layers[1].params["W"].copy()
    with pytest.raises(error, match=message):
        fit(
            model,
            SquaredLocalizationLoss(3),
            tc.optim.SGD(model),
            x,
            y,
            1,
            augment=augment,
            progress=False,
        )
    np.testing.assert_array_equal(model.layers[1].params["W"], before)


class PoisoningSGD(tc.optim.SGD):
    """An optimizer with a bug of its own: after its update, one weight is NaN."""

    def step(self):
        super().step()
        self.model.layers[1].params["W"][0, 0] = np.nan


def test_fit_never_returns_with_non_finite_weights():
    """Even when the last update itself leaves NaN behind (no batch follows to notice it)."""
    x, y = tiny_localization_problem(n=10)
    model = linear_model()
    with pytest.raises(
        FloatingPointError, match=r"params\['W'\] holds NaN or infinity at the end of epoch 1"
    ):
        fit(model, SquaredLocalizationLoss(3), PoisoningSGD(model), x, y, 1, 10, progress=False)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@settings(max_examples=15, deadline=None)
@given(log_lr=st.floats(0, 40), epochs=st.integers(1, 3), batch_size=st.integers(4, 40))
def test_a_diverging_run_raises_or_leaves_finite_weights(log_lr, epochs, batch_size):
    """Whatever the learning rate: a FloatingPointError naming epoch and batch, or a return with
    every weight finite."""
    x, y = tiny_localization_problem(n=40)
    model = linear_model()
    try:
        with np.errstate(all="ignore"):
            fit(
                model,
                SquaredLocalizationLoss(3),
                tc.optim.SGD(model, lr=10.0**log_lr),
                x,
                y,
                epochs,
                batch_size,
                progress=False,
            )
    except FloatingPointError as error:
        assert re.search(r"epoch \d+, batch \d+ of \d+|end of epoch \d+", str(error))
    else:
        assert all(np.isfinite(param).all() for _, _, param, _ in model.parameters())


def test_a_step_that_overflows_names_epoch_and_batch():
    x, y = tiny_localization_problem(n=10)
    model = linear_model()
    with pytest.raises(
        FloatingPointError,
        match=r"optimizer.step\(\) at epoch 1, batch 1 of 1: .*params\['W'\] non-finite",
    ):
        with np.errstate(all="ignore"):
            fit(
                model,
                SquaredLocalizationLoss(3),
                tc.optim.SGD(model, lr=1e300),
                x,
                y,
                1,
                10,
                progress=False,
            )


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda model, loss: evaluate(loss, model, X_VAL, Y_VAL),
            TypeError,
            r"swapped: the model comes first, evaluate\(model, loss, x, y\)",
        ),
        (lambda model, loss: evaluate(model, type(loss), X_VAL, Y_VAL), TypeError, r"the class"),
        (
            lambda model, loss: evaluate(model, loss, X_VAL, Y_VAL, metrics="iou"),
            TypeError,
            r"metrics must be a function",
        ),
        (
            lambda model, loss: evaluate(model, LocalizationLoss(3), X_VAL, Y_VAL),
            ValueError,
            r"model.output is Identity\(\), but LocalizationLoss reads",
        ),
        (
            lambda model, loss: evaluate(model, loss, X_VAL[:0], Y_VAL),
            ValueError,
            r"x and y must hold the same number of examples, got 0 and",
        ),
        (
            lambda model, loss: evaluate(model, loss, np.full_like(X_VAL, np.nan), Y_VAL),
            ValueError,
            r"x must be finite, but image 0 holds NaN",
        ),
        (
            lambda model, loss: evaluate(model, loss, X_VAL[:, :, :4], Y_VAL),
            ValueError,
            r"x of shape \(\d+, 1, 4, 1\) does not fit the model.*must have 8 features.*"
            r"model.layers\[1\], Dense\(8, 8\)",
        ),
        (lambda model, loss: step_decay(0), ValueError, r"lr must be a finite number > 0"),
        (lambda model, loss: step_decay(0.1, drop=np.nan), ValueError, r"drop must be"),
        (lambda model, loss: step_decay(0.1, every=0), ValueError, r"every must be a positive"),
        (lambda model, loss: step_decay("0.1"), TypeError, r"lr must be a real number"),
    ],
)
def test_evaluate_and_step_decay_check_their_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call(linear_model(), SquaredLocalizationLoss(3))


def test_write_results_writes_nan_and_infinity_as_null(tmp_path):
    """JSON has neither: a metric with nothing to judge (NaN), or an infinite one, is written as
    null (as tinycnn.io.write_json documents), and the file stays valid JSON."""
    import json

    path = tmp_path / "metrics.json"
    results = {"nme": float("nan"), "iou": np.float32(np.nan), "per_class": [0.5, np.nan]}
    tc.train.write_results(path, {**results, "loss": [1.0, np.inf]})
    text = path.read_text()
    assert json.loads(text) == {
        "nme": None,
        "iou": None,
        "per_class": [0.5, None],
        "loss": [1.0, None],
    }
    assert "NaN" not in text and "Infinity" not in text


def test_write_results_gives_the_permissions_of_a_plain_open(tmp_path):
    import os

    plain = tmp_path / "plain.json"
    plain.write_text("{}")
    written = tmp_path / "written.json"
    tc.train.write_results(written, {"epochs": 1})
    assert written.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
    os.chmod(written, 0o640)
    tc.train.write_results(written, {"epochs": 2})  # replacing a file keeps its permissions
    assert written.stat().st_mode & 0o777 == 0o640


def test_fit_checks_x_against_the_model_before_y_against_the_loss():
    """x and y swapped: the model refuses the targets as images, and the message names x."""
    x, y = tiny_localization_problem(n=10)
    loss = SquaredLocalizationLoss(3)
    model = tc.Sequential([tc.Conv2D(1, 2, 3, rng=0), tc.Flatten()], output=loss.output)
    with pytest.raises(ValueError, match=r"x of shape \(10, 8\) does not fit the model"):
        fit(model, loss, tc.optim.SGD(model), y, x, 1, progress=False)


def test_evaluate_runs_the_model_once_over_x_and_names_x_it_refuses(monkeypatch):
    """No probe on x[:1] before the real run: one forward per batch. x and y swapped are still
    named as x (the model refuses the targets), before y is read by the loss."""
    x, y = tiny_localization_problem(n=10)
    loss = SquaredLocalizationLoss(3)
    model = tc.Sequential([tc.Flatten(), tc.Dense(8, 8, rng=0)], output=loss.output)
    batches = []
    forward = model.forward
    monkeypatch.setattr(
        model, "forward", lambda images: batches.append(len(images)) or forward(images)
    )
    tc.train.evaluate(model, loss, x, y, batch_size=4)
    assert batches == [4, 4, 2]
    with pytest.raises(ValueError, match=r"x of shape \(10, 8\) does not fit the model"):
        tc.train.evaluate(
            tc.Sequential([tc.Conv2D(1, 2, 3, rng=0)], output=loss.output), loss, y, x
        )


def test_a_huge_number_of_epochs_checks_its_schedule_as_it_goes(monkeypatch):
    """The first SCHEDULE_CHECKED_AHEAD epochs' learning rates are checked up front; later ones
    as their epoch starts: epochs=10**9 with a schedule starts training at once, and a rate that
    goes wrong later is still refused by name when its epoch comes."""
    monkeypatch.setattr(tc.train, "SCHEDULE_CHECKED_AHEAD", 3)
    calls = []

    def schedule(epoch):
        calls.append(epoch)
        return 0.1 if epoch < 4 else float("nan")

    rate = tc.train._learning_rates(schedule, 10**9)
    assert calls == [0, 1, 2]
    assert rate(1) == 0.1 and rate(3) == 0.1
    with pytest.raises(ValueError, match=r"lr_schedule\(4\) must be a finite number > 0, got nan"):
        rate(4)
    x, y = tiny_localization_problem(n=8)
    loss = SquaredLocalizationLoss(3)
    model = linear_model(output=loss.output)
    with pytest.raises(ValueError, match=r"lr_schedule\(4\) must be a finite number"):
        fit(model, loss, tc.optim.SGD(model), x, y, 10**9, lr_schedule=schedule, progress=False)


@given(epoch=st.one_of(st.integers(-100, -1), st.floats(), st.text(max_size=2), st.none()))
def test_step_decay_names_an_epoch_that_is_not_0_1_2(epoch):
    """epoch -1 gave twice the initial lr, NaN gave NaN, a string a raw // TypeError."""
    error = ValueError if isinstance(epoch, int) else TypeError
    with pytest.raises(error, match=r"^epoch must be a non-negative integer"):
        tc.train.step_decay(0.1)(epoch)


def test_step_decay_keeps_its_rates():
    schedule = tc.train.step_decay(0.1, drop=0.5, every=2)
    assert [schedule(epoch) for epoch in range(5)] == [0.1, 0.1, 0.05, 0.05, 0.025]
    assert schedule(np.int64(4)) == 0.025
