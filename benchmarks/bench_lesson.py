"""Lesson 4's whole training: tinycnn's `fit` against the same training in a plain PyTorch loop.

    python benchmarks/bench_lesson.py [--quick] [--passive] [--out DIR]

The training is lesson 4's main one (lessons/04_train_localizer.py): `tinycnn.networks.localizer()`
on 24,000 scenes of `tc.data.localization_dataset` (seed 0), 16 epochs of batches of 32, Adam at
lr 1e-3 halved every 4 epochs (`tc.train.step_decay`), the practical `LocalizationLoss` with
box_weight 20, random left-right flips, and after every epoch the validation loss and
`tc.metrics.localization_report` on 1,000 validation scenes (seed 1). It runs twice, each
framework in its own process (this script, started again with --worker), one after the other:

1. tinycnn: `tc.train.fit(...)` with the lesson's arguments, without the progress bar.
2. PyTorch: the same network (`tinycnn.interop.to_torch`, the same initial weights) trained by a
   plain PyTorch loop, on 2 threads (`torch.set_num_threads(2)`), with torch.optim.Adam at the
   same learning rates, and the loss written in torch: BCE on the p_c logit, squared error on the
   box, cross-entropy on the class logits, box and classes only where p_c = 1, each image's loss
   averaged over the batch, in float64 as tinycnn computes it.

The data pipeline is the same, not just alike: the PyTorch loop draws its batches as `fit` does,
with one numpy Generator seeded 0 that draws each epoch's order (`rng.permutation`) and then, batch
by batch, the flips, through the lesson's own augment function (`tc.data.augment.random_augment`
with brightness, contrast and noise off). To show it, both processes pass each batch through a
`BatchLog`, which takes a CRC-32 of its images and targets (about 0.1 ms a batch, alike in both);
the two checksums over the whole run must agree. And the first batch's loss at the initial weights
is computed in both, and must agree to 1e-5 (float32 networks: rounding differs, a little).

Timed: the whole training of each (tinycnn's `fit` call, from its checks to its last validation,
and the torch loop with one validation before its first step, as `fit` makes one to check its
arguments), and the time of each epoch, read when its validation has ended. Both curves therefore
start at epoch 0. Not timed: drawing the data, and a warm-up step on a throwaway network that
loads numba's cached kernels and starts PyTorch's thread pool (start-up, which
`bench_train_step.py` measures; its seconds are printed). The result is tinycnn's speed as a
multiple of PyTorch's ("x PyTorch's speed": PyTorch's time over tinycnn's, higher is better).

The PyTorch process imports tinycnn for the data, the network and the metrics, with
TINYCNN_NO_RUNTIME_TWEAKS=1, so that PyTorch keeps its own defaults (tinycnn's import would limit
BLAS to one thread and change malloc's thresholds). The run is measured once: on a shared machine
note the load average printed with the results, where OpenMP threads that spin while they wait
(PyTorch's) lose most; --passive sets OMP_WAIT_POLICY=PASSIVE for both processes. Without
PyTorch installed, its column says "not installed".

Prints a table with the CPU model, numba's threading layer, the versions and the load average,
and writes bench_lesson.json and bench_lesson.png (validation loss against seconds of training,
and seconds per epoch) to DIR (default benchmarks/output/). --quick trains on 512 scenes for 2
epochs: a smoke run of the same code, for the tests.
"""

import argparse
import functools
import json
import os
import sys
import time
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from turns import (  # noqa: E402
    WIDE_SPREAD,
    Worker,
    blas_line,
    command_line,
    machine,
    own_defaults,
    plain_log_ticks,
    pyplot,
    save_chart,
    save_results,
    second_core_again,
    second_core_line,
    serve,
)

# This parent process imports neither tinycnn nor torch (importing tinycnn sets thread variables
# that the PyTorch worker would inherit). Each worker imports what it measures.

THREADS = 2
NUM_CLASSES = 3
# Lesson 4's settings (lessons/04_train_localizer.py).
BOX_WEIGHT = 20.0
LEARNING_RATE = 1e-3
LR_DROP, LR_EVERY = 0.5, 4
BATCH_SIZE = 32
TRAIN_SEED, VALIDATION_SEED, SHUFFLE_SEED = 0, 1, 0
FULL = {"n_train": 24_000, "n_validation": 1_000, "epochs": 16}
QUICK = {"n_train": 512, "n_validation": 128, "epochs": 2}
FIRST_LOSS_TOLERANCE = 1e-5  # relative, for losses above 1
WARM_UP_RNG = 1  # the throwaway network of the warm-up has other weights than the lesson's


# What both workers share: the lesson's data, network, augmentation, and the records they keep.


def lesson_data(tc, settings):
    """The lesson's training and validation scenes: (x_train, y_train), (x_val, y_val)."""
    train = tc.data.localization_dataset(settings["n_train"], seed=TRAIN_SEED)
    validation = tc.data.localization_dataset(settings["n_validation"], seed=VALIDATION_SEED)
    return train, validation


def lesson_model(tc, loss, rng=0):
    """The lesson's network, with its initial weights (the default rng=0, as in the lesson)."""
    return tc.networks.localizer(num_classes=NUM_CLASSES, output=loss.output, rng=rng)


def lesson_loss(tc):
    return tc.losses.LocalizationLoss(NUM_CLASSES, box_weight=BOX_WEIGHT)


def lesson_augment(tc):
    """The lesson's flip_half: each image mirrored with probability 1/2, nothing else."""
    return functools.partial(
        tc.data.augment.random_augment, max_brightness=0, max_contrast=0, max_noise=0
    )


class BatchLog:
    """An augment function that passes its batches on unchanged, keeping the first one and a
    CRC-32 over every batch's images and targets (in order), to compare between processes."""

    def __init__(self, augment):
        self.augment = augment
        self.first = None
        self.count = 0
        self.crc = 0

    def __call__(self, images, targets, rng):
        images, targets = self.augment(images, targets, rng)
        if self.first is None:
            self.first = images.copy(), targets.copy()
        self.crc = zlib.crc32(targets.data, zlib.crc32(images.data, self.crc))
        self.count += 1
        return images, targets


class EpochClock:
    """A metrics function that notes the time at which it returns: after fit's validation."""

    def __init__(self, metrics):
        self.metrics = metrics
        self.times = []

    def __call__(self, y_pred, y_true):
        scores = self.metrics(y_pred, y_true)
        self.times.append(time.perf_counter())
        return scores


def run_record(seconds, start, epoch_ends, history, batches, first_loss, warm_up_s):
    """What a worker reports about its training run."""
    elapsed = [end - start for end in epoch_ends]  # epoch 0: the validation before training
    return {
        "installed": True,
        "training_s": seconds,
        "elapsed_s": elapsed,
        "epoch_s": [float(gap) for gap in np.diff(elapsed)],
        "history": history,
        "batches": batches.count,
        "batch_crc32": batches.crc,
        "first_batch_loss": first_loss,
        "warm_up_s": warm_up_s,
    }


def timed(fn):
    """(fn's result, seconds it took)."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


# The workers: each sets up in its own process, prints what it is, then trains when asked.


def tinycnn_worker(settings):
    """Lesson 4's training by tc.train.fit, as the lesson calls it (progress bar off)."""
    import numba

    import tinycnn as tc

    numba.set_num_threads(THREADS)
    (x_train, y_train), validation = lesson_data(tc, settings)
    loss = lesson_loss(tc)

    def warm_up():
        """One training step and one validation batch of a throwaway network."""
        model = lesson_model(tc, loss, rng=WARM_UP_RNG)
        optimizer = tc.optim.Adam(model, lr=LEARNING_RATE)
        loss.forward(model.forward(x_train[:BATCH_SIZE]), y_train[:BATCH_SIZE])
        model.backward(loss.backward(), input_grad=False)
        optimizer.step()
        model.raw_output(validation[0][:BATCH_SIZE], BATCH_SIZE)

    warm_up_s = timed(warm_up)[1]

    def train():
        model = lesson_model(tc, loss)
        batches = BatchLog(lesson_augment(tc))
        clock = EpochClock(tc.metrics.localization_report)
        start = time.perf_counter()
        history = tc.train.fit(
            model,
            loss,
            tc.optim.Adam(model, lr=LEARNING_RATE),
            x_train,
            y_train,
            epochs=settings["epochs"],
            batch_size=BATCH_SIZE,
            validation=validation,
            metrics=clock,
            augment=batches,
            lr_schedule=tc.train.step_decay(LEARNING_RATE, drop=LR_DROP, every=LR_EVERY),
            seed=SHUFFLE_SEED,
            progress=False,
        )
        seconds = time.perf_counter() - start
        # Not timed: the untrained network's first-batch loss, and its validation (epoch 0),
        # which fit measured as its check before training but does not return.
        initial = lesson_model(tc, loss)
        first_loss = loss.forward(initial.forward(batches.first[0]), batches.first[1])
        before = tc.train.evaluate(
            initial,
            loss,
            *validation,
            metrics=tc.metrics.localization_report,
            batch_size=BATCH_SIZE,
        )
        # fit's history, with epoch 0 in front of each validation list.
        history = {
            "loss": history["loss"],
            **{f"val_{name}": [score, *history[f"val_{name}"]] for name, score in before.items()},
        }
        return run_record(seconds, start, clock.times, history, batches, first_loss, warm_up_s)

    info = {
        "installed": True,
        "versions": {
            "numpy": np.__version__,
            "numba": numba.__version__,
            "threading_layer": numba.threading_layer(),
        },
    }
    return info, train


def localization_loss(torch, raw, y, box_weight=BOX_WEIGHT, class_weight=1.0):
    """tinycnn's LocalizationLoss in torch, term by term and in float64 as tinycnn computes it:

    L = BCE(ŷ_1, y_1) + y_1 · [box_weight Σ_{j=2..5} (ŷ_j - y_j)² + class_weight CE(ŷ_6.., y_6..)]

    with BCE(z, p) = log(1 + e^z) - p z and CE(z, c) = logsumexp(z) - Σ_k c_k z_k, averaged
    over the N images of the batch. Where p_c = 0, the box error and class targets are zeroed
    first (they are "don't care"), so that they get no gradient, as in tinycnn.
    """
    raw, y = raw.double(), y.double()
    has_object = y[:, 0] == 1
    p_c_logit, p_c = raw[:, 0], y[:, 0]
    bce = torch.logaddexp(torch.zeros_like(p_c_logit), p_c_logit) - p_c * p_c_logit
    box_error = torch.where(has_object[:, None], raw[:, 1:5] - y[:, 1:5], 0.0)
    classes = torch.where(has_object[:, None], y[:, 5:], 0.0)
    class_logits = raw[:, 5:]
    cross_entropy = torch.logsumexp(class_logits, dim=1) - (classes * class_logits).sum(dim=1)
    per_image = (
        bce
        + box_weight * (box_error**2).sum(dim=1)
        + class_weight * torch.where(has_object, cross_entropy, 0.0)
    )
    return per_image.mean()


def pytorch_worker(settings):
    """The same training in a plain PyTorch loop; None if PyTorch is not installed."""
    try:
        import torch  # before tinycnn, so that nothing of tinycnn's reaches PyTorch's setup
    except ImportError:
        return None
    import tinycnn as tc
    from tinycnn.interop import to_torch

    torch.set_num_threads(THREADS)
    (x_train, y_train), (x_val, y_val) = lesson_data(tc, settings)
    y_val_torch = torch.from_numpy(y_val)
    loss = lesson_loss(tc)

    def validate(network, output):
        """fit's evaluate: the loss and the lesson's metrics on the validation set, the network
        run in evaluation mode in batches of 32; the metrics read the raw output through the
        model's output map, as tinycnn's predict does."""
        network.eval()
        with torch.no_grad():
            raw = torch.cat(
                [
                    network(torch.from_numpy(x_val[start : start + BATCH_SIZE]))
                    for start in range(0, len(x_val), BATCH_SIZE)
                ]
            )
            value = localization_loss(torch, raw, y_val_torch).item()
        report = tc.metrics.localization_report(output(raw.numpy()), y_val)
        return {"loss": value, **{name: float(score) for name, score in report.items()}}

    def step(network, optimizer, images, targets):
        optimizer.zero_grad(set_to_none=True)
        value = localization_loss(
            torch, network(torch.from_numpy(images)), torch.from_numpy(targets)
        )
        value.backward()
        optimizer.step()
        return value.item()

    def warm_up():
        """One training step and one validation batch of a throwaway network."""
        model = lesson_model(tc, loss, rng=WARM_UP_RNG)
        network = to_torch(model)
        step(
            network,
            torch.optim.Adam(network.parameters(), lr=LEARNING_RATE),
            x_train[:BATCH_SIZE],
            y_train[:BATCH_SIZE],
        )
        network.eval()
        with torch.no_grad():
            network(torch.from_numpy(x_val[:BATCH_SIZE]))

    warm_up_s = timed(warm_up)[1]

    def train():
        model = lesson_model(tc, loss)
        network = to_torch(model)
        optimizer = torch.optim.Adam(network.parameters(), lr=LEARNING_RATE)
        schedule = tc.train.step_decay(LEARNING_RATE, drop=LR_DROP, every=LR_EVERY)
        batches = BatchLog(lesson_augment(tc))
        history = {"loss": []}  # as fit's, with epoch 0 in front of each validation list
        epoch_ends = []
        start = time.perf_counter()
        scores = validate(network, model.output)
        epoch_ends.append(time.perf_counter())
        for name, score in scores.items():
            history[f"val_{name}"] = [score]
        # fit's loop: one Generator draws each epoch's order, then each batch's flips.
        rng = np.random.default_rng(SHUFFLE_SEED)
        batches_per_epoch = -(-len(x_train) // BATCH_SIZE)
        for epoch in range(settings["epochs"]):
            for group in optimizer.param_groups:
                group["lr"] = schedule(epoch)
            network.train()
            order = rng.permutation(len(x_train))
            batch_losses = []
            for batch in range(batches_per_epoch):
                indices = order[batch * BATCH_SIZE : (batch + 1) * BATCH_SIZE]
                images, targets = batches(x_train[indices], y_train[indices], rng)
                batch_losses.append(step(network, optimizer, images, targets))
            if epoch == 0:
                first_loss = batch_losses[0]  # at the initial weights
            history["loss"].append(float(np.mean(batch_losses)))
            for name, score in validate(network, model.output).items():
                history[f"val_{name}"].append(score)
            epoch_ends.append(time.perf_counter())
        seconds = time.perf_counter() - start
        return run_record(seconds, start, epoch_ends, history, batches, first_loss, warm_up_s)

    info = {"installed": True, "versions": {"torch": torch.__version__}}
    return info, train


WORKERS = {"tinycnn": tinycnn_worker, "pytorch": pytorch_worker}


# The parent: runs the workers one after the other, then reports.

METRICS = {
    "pc_accuracy": ("p_c accuracy", "{:.2%}"),
    "class_accuracy": ("class accuracy", "{:.2%}"),
    "mean_iou": ("mean IoU", "{:.3f}"),
    "correct_localization_rate": ("correct localization", "{:.2%}"),
}


def measure(settings):
    """Each framework's training, in its own process, one after the other; the 1-min load
    average before and after each."""
    results, load = {}, {"before": os.getloadavg()[0]}
    for name in WORKERS:
        env = own_defaults(name)  # PyTorch keeps its own defaults: no tinycnn runtime tweaks
        if settings["omp_wait_policy"]:
            env["OMP_WAIT_POLICY"] = settings["omp_wait_policy"]
        worker = Worker(__file__, name, settings, env)
        try:
            results[name] = dict(worker.info)
            if worker.info["installed"]:
                results[name].update(worker.ask({"do": "train"}))
        finally:
            worker.close()
        load[f"after {name}"] = os.getloadavg()[0]
    return results, load


def summarise(results):
    """Per framework: whole and per-epoch seconds, the final validation numbers. Between them:
    x PyTorch's speed, the first-batch losses, whether the batches were the same."""
    summary = {name: None for name in WORKERS}
    for name, result in results.items():
        if result["installed"]:
            epochs = result["epoch_s"]
            summary[name] = {
                "training_s": result["training_s"],
                "epoch_median_s": float(np.median(epochs)),
                "epoch_range_s": [float(min(epochs)), float(max(epochs))],
                "wide_spread": bool(max(epochs) > WIDE_SPREAD * min(epochs)),
                "final_validation": {
                    metric.removeprefix("val_"): scores[-1]
                    for metric, scores in result["history"].items()
                    if metric.startswith("val_")
                },
                "warm_up_s": result["warm_up_s"],
                "first_batch_loss": result["first_batch_loss"],
            }
    ours, theirs = results["tinycnn"], results["pytorch"]
    if theirs["installed"]:
        first = ours["first_batch_loss"], theirs["first_batch_loss"]
        difference = abs(first[0] - first[1])
        summary["comparison"] = {
            # x PyTorch's speed: PyTorch's time over tinycnn's (higher is better).
            "x_pytorch": theirs["training_s"] / ours["training_s"],
            "x_pytorch_epoch_median": summary["pytorch"]["epoch_median_s"]
            / summary["tinycnn"]["epoch_median_s"],
            "first_batch_loss_difference": difference,
            "first_batch_losses_agree": difference <= FIRST_LOSS_TOLERANCE * max(1.0, first[0]),
            "same_batches": (ours["batches"], ours["batch_crc32"])
            == (theirs["batches"], theirs["batch_crc32"]),
        }
    return summary


def print_report(settings, summary, results, load, machine_info, versions):
    layer = versions.get("threading_layer")
    described = [
        f"{name} {version or 'not installed'}" + (f" ({layer} layer)" if name == "numba" else "")
        for name, version in versions.items()
        if name != "threading_layer"
    ]
    print(f"\n{machine_info['cpu']}, {machine_info['cores']} cores; " + ", ".join(described))
    print(blas_line(machine_info))
    print(
        f"\nLesson 4's training: {settings['n_train']:,} scenes x {settings['epochs']} epochs, "
        f"batches of {BATCH_SIZE}, flips,\nAdam (lr {LEARNING_RATE:g}, x{LR_DROP:g} every "
        f"{LR_EVERY} epochs), LocalizationLoss(box_weight={BOX_WEIGHT:g}); validation on "
        f"{settings['n_validation']:,} scenes\nbefore training and after every epoch. Each "
        f"framework in its own process, one after the other,\n{THREADS} threads each; measured "
        "once."
    )
    print(
        "1-min load average: "
        + ", ".join(f"{when} {value:.1f}" for when, value in load.items())
        + f" (on {machine_info['cores']} cores; a training adds about {THREADS}); "
        f"OMP_WAIT_POLICY {settings['omp_wait_policy'] or 'unset'}"
    )
    print(second_core_line(machine_info))

    columns = [("tinycnn", summary["tinycnn"]), ("PyTorch", summary["pytorch"])]

    def row(label, cell):
        cells = [
            f"{'not installed' if column is None else cell(column):>14}" for _, column in columns
        ]
        print(f"{label:34}" + "".join(cells))

    print(f"\n{'':34}" + "".join(f"{name:>14}" for name, _ in columns))
    row("training, whole (s)", lambda c: f"{c['training_s']:.1f}")
    row("one epoch, median (s)", lambda c: f"{c['epoch_median_s']:.2f}")
    row(
        "  fastest to slowest epoch (s)",
        lambda c: "{}{:.2f}-{:.2f}".format("!" * c["wide_spread"], *c["epoch_range_s"]),
    )
    row("final validation loss", lambda c: f"{c['final_validation']['loss']:.4f}")
    for name, (label, form) in METRICS.items():
        row(f"  {label}", lambda c, name=name, form=form: form.format(c["final_validation"][name]))
    row("warm-up step, not counted (s)", lambda c: f"{c['warm_up_s']:.2f}")

    if any(column and column["wide_spread"] for _, column in columns):
        print(
            f"! a slowest epoch over {WIDE_SPREAD}x the fastest: the machine was busy (spinning "
            "threads, PyTorch's, lose most);\n  rerun before quoting, or compare with --passive"
        )
    comparison = summary.get("comparison")
    if comparison is None:
        return
    print(
        f"\ntinycnn: {comparison['x_pytorch']:.2f}x PyTorch's speed over the whole training, "
        f"{comparison['x_pytorch_epoch_median']:.2f}x in epoch medians\n(x PyTorch's speed: "
        "PyTorch's time over tinycnn's, higher is better)"
    )
    first = results["tinycnn"]["first_batch_loss"], results["pytorch"]["first_batch_loss"]
    verdict = (
        "agree"
        if comparison["first_batch_losses_agree"]
        else f"DIFFER by more than {FIRST_LOSS_TOLERANCE:g}: not the same network, batch or loss"
    )
    print(
        f"first-batch loss at the initial weights: tinycnn {first[0]:.7f}, PyTorch "
        f"{first[1]:.7f} (difference {comparison['first_batch_loss_difference']:.1e}): {verdict}"
    )
    ours, theirs = results["tinycnn"], results["pytorch"]
    if comparison["same_batches"]:
        print(
            f"batches: the same {ours['batches']:,} batches in both runs "
            f"(CRC-32 of their images and targets 0x{ours['batch_crc32']:08x})"
        )
    else:
        print(
            f"batches DIFFER: {ours['batches']:,} with CRC-32 0x{ours['batch_crc32']:08x} against "
            f"{theirs['batches']:,} with 0x{theirs['batch_crc32']:08x}: not the same data pipeline"
        )


def plot(summary, results, cpu, path):
    """Left: validation loss against seconds of training. Right: seconds per epoch."""
    plt = pyplot()

    fig, (curves, epochs) = plt.subplots(1, 2, figsize=(12, 4.5))
    for (name, label), color in zip(
        (("tinycnn", "tinycnn"), ("pytorch", "PyTorch")), ("tab:blue", "tab:orange"), strict=True
    ):
        result = results[name]
        if not result["installed"]:
            continue
        curves.plot(
            result["elapsed_s"],
            result["history"]["val_loss"],
            "o-",
            color=color,
            markersize=3,
            label=label,
        )
        epoch_numbers = np.arange(1, len(result["epoch_s"]) + 1)
        epochs.plot(epoch_numbers, result["epoch_s"], "o-", color=color, markersize=3, label=label)
    curves.set_xlabel("seconds since the start of training")
    curves.set_ylabel("validation loss (a dot per epoch, from epoch 0)")
    losses = [
        loss
        for result in results.values()
        if result["installed"]
        for loss in result["history"]["val_loss"]
    ]
    if max(losses) > 10 * min(losses):
        curves.set_yscale("log")
        plain_log_ticks(curves.yaxis)
    curves.legend()
    epochs.set_xlabel("epoch")
    epochs.set_ylabel("seconds, with the epoch's validation")
    epochs.set_ylim(bottom=0)
    epochs.xaxis.get_major_locator().set_params(integer=True)
    epochs.legend()
    comparison = summary.get("comparison")
    title = "lesson 4's training"
    if comparison:
        title += f": tinycnn {comparison['x_pytorch']:.2f}x PyTorch's speed (higher is better)"
    title += f"\n{cpu}, {THREADS} threads, each framework in its own process"
    fig.suptitle(title)
    save_chart(fig, path)


def main():
    parser = command_line(__doc__, "bench_lesson")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run: {QUICK['n_train']} training scenes, {QUICK['epochs']} epochs",
    )
    parser.add_argument(
        "--passive",
        action="store_true",
        help="OMP_WAIT_POLICY=PASSIVE for both: idle threads sleep at once "
        "instead of spinning, which helps on a machine shared with others",
    )
    parser.add_argument("--worker", choices=list(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        started = WORKERS[args.worker](json.loads(args.settings))
        if started is None:
            print(json.dumps({"installed": False}), flush=True)
            return
        info, train = started
        serve({"train": train}, info)
        return

    settings = dict(QUICK if args.quick else FULL)
    settings["omp_wait_policy"] = "PASSIVE" if args.passive else os.environ.get("OMP_WAIT_POLICY")
    machine_info = machine(args.quick)
    results, load = measure(settings)
    second_core_again(machine_info, args.quick)
    summary = summarise(results)
    versions = {
        **results["tinycnn"]["versions"],
        **results["pytorch"].get("versions", {"torch": None}),
    }
    print_report(settings, summary, results, load, machine_info, versions)

    report = {
        "machine": machine_info,
        "settings": {
            **settings,
            "batch_size": BATCH_SIZE,
            "learning_rate": LEARNING_RATE,
            "lr_schedule": f"x{LR_DROP} every {LR_EVERY} epochs",
            "box_weight": BOX_WEIGHT,
            "threads": THREADS,
        },
        "load_average_1min": load,
        "versions": versions,
        "summary": summary,
        "runs": results,
    }
    save_results(
        args.out,
        "bench_lesson",
        report,
        lambda path: plot(summary, results, machine_info["cpu"], path),
    )


if __name__ == "__main__":
    main()
