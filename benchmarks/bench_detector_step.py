"""One training step of lesson 8's detector: tinycnn against the same network in PyTorch.

    python benchmarks/bench_detector_step.py [--quick] [--rounds R] [--passive] [--out DIR]

The step: forward, GridLoss, backward, Adam update, on `tinycnn.networks.detector()` (four
conv-BatchNorm-ReLU-pool blocks, a conv-BatchNorm-ReLU, a 1x1 head, the grid layout) with a batch
of 32 scenes of 1x64x64 (the detector's size), float32. PyTorch runs the same network
(`tinycnn.interop.to_torch`, same initial weights), the same loss written in torch and
torch.optim.Adam, on 2 threads.

Each framework runs in its own process (this script, started again with --worker), so that their
thread pools never spin against each other. They take turns: a round is a few steps of one, then a
few of the other, so that whatever else loads the machine falls on both alike. Times are medians
over all steps after a warm-up (and each turn's after 0.3 s of untimed steps, turns.WARM_UP_S: an
idle core comes back slow), with their quartiles; beside the ratio, the fastest and slowest
round's, flagged where they differ more than 1.3x (the machine was busy: rerun).
On a machine shared with other work, PyTorch's spinning OpenMP threads stall far more than
tinycnn's (numba's workqueue pool sleeps), which flatters the median speed ratio: the fastest
tenth of each framework's steps, also reported, shows the two undisturbed.

Layer by layer: in each round, each framework also times every layer alone, its forward and
then its backward (the input gradient too, except at the first layer, as in the step), on the
step's own activations and gradients. The table shows where each framework spends the step and
which layers of the same network one of them runs faster; what the layers leave of the step is
the loss, the optimizer and the model's own loop.

Prints the tables and writes bench_detector_step.json and bench_detector_step.png to DIR (default
benchmarks/output/), with the CPU model and the load average. Ratios follow the benchmarks' one
convention, "x PyTorch's speed": PyTorch's time over tinycnn's, higher is better.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from turns import (  # noqa: E402  (the workers and machine of every benchmark)
    WARM_UP_S,
    WIDE_SPREAD,
    Worker,
    at_least_one,
    blas_line,
    command_line,
    layer_rows,
    machine,
    median_step_parts,
    own_defaults,
    plot_layers,
    print_layers,
    pyplot,
    save_chart,
    save_results,
    second_core_again,
    second_core_line,
    tinycnn_layer_timer,
    tinycnn_step_timer,
    torch_layer_timer,
    warm_up,
)

# The parent imports neither tinycnn nor torch: tinycnn sets thread variables that a PyTorch
# worker would inherit. Each worker imports what it measures.

THREADS = 2
NUM_CLASSES = 3
IMAGE_SIZE = 64
GRID_SIZE = IMAGE_SIZE // 16
LEARNING_RATE = 1e-3
PAUSE_S = 0.05  # between turns: the idle worker's spinning threads go to sleep meanwhile
# warmup, in steps: tinycnn's kernels choose their ways and check them twice (SETTLED_CALLS)
# warm_up_s: seconds of untimed steps at the start of each turn (turns.WARM_UP_S says why)
FULL = {
    "batch": 32,
    "warmup": 84,
    "warm_up_s": WARM_UP_S,
    "rounds": 12,
    "steps_per_round": 8,
    "layer_repeats": 3,
}
QUICK = {
    "batch": 4,
    "warmup": 1,
    "warm_up_s": 0.0,
    "rounds": 1,
    "steps_per_round": 2,
    "layer_repeats": 1,
}


def batch(size):
    """`size` detection scenes, the same in every process: images and their grid targets."""
    from tinycnn.data import detection_dataset
    from tinycnn.detection import DEFAULT_ANCHORS, encode_grid

    images, truth = detection_dataset(size, IMAGE_SIZE, seed=0)
    return images, encode_grid(truth, GRID_SIZE, DEFAULT_ANCHORS, NUM_CLASSES)


def tinycnn_session(settings):
    import numba

    from tinycnn.detection import DEFAULT_ANCHORS, GridLoss
    from tinycnn.networks import detector
    from tinycnn.optim import Adam

    numba.set_num_threads(THREADS)
    images, targets = batch(settings["batch"])
    loss = GridLoss(DEFAULT_ANCHORS, NUM_CLASSES)
    model = detector(NUM_CLASSES, len(DEFAULT_ANCHORS), IMAGE_SIZE, output=loss.output)
    optimizer = Adam(model, lr=LEARNING_RATE)

    def step():
        value = loss.forward(model.forward(images), targets)
        model.backward(loss.backward(), input_grad=False)
        optimizer.step()
        return value

    first_loss = step()
    labels, time_layers = tinycnn_layer_timer(model, loss, images, targets)
    time_step = tinycnn_step_timer(model, loss, optimizer, images, targets)
    info = {
        "first_loss": first_loss,
        "versions": {"numpy": np.__version__, "numba": numba.__version__},
        "layers": labels,
    }
    return info, step, time_layers, time_step


def torch_grid_loss(torch, raw, y, anchor_sizes, box_weight=5.0, no_object_weight=0.5):
    """tinycnn.detection.GridLoss written in torch (same formula, same defaults)."""
    functional = torch.nn.functional
    has_object = y[..., 0]
    presence = has_object + no_object_weight * (1 - has_object)
    bce = functional.binary_cross_entropy_with_logits(raw[..., 0], has_object, reduction="none")
    centre_error = (torch.sigmoid(raw[..., 1:3]) - y[..., 1:3]) * has_object[..., None]
    safe_sizes = torch.where(has_object[..., None] == 1, y[..., 3:5], anchor_sizes)
    size_error = (raw[..., 3:5] - torch.log(safe_sizes / anchor_sizes)) * has_object[..., None]
    log_probabilities = functional.log_softmax(raw[..., 5:], dim=-1)
    class_loss = -(y[..., 5:] * log_probabilities).sum(dim=-1) * has_object
    per_vector = (
        presence * bce
        + box_weight * ((centre_error**2).sum(-1) + (size_error**2).sum(-1))
        + class_loss
    )
    return per_vector.sum() / raw.shape[0]


def pytorch_session(settings):
    try:
        import torch  # before tinycnn, so that tinycnn's thread settings do not reach PyTorch
    except ImportError:
        return None
    from tinycnn.detection import DEFAULT_ANCHORS
    from tinycnn.interop import to_torch
    from tinycnn.networks import detector

    torch.set_num_threads(THREADS)
    images, targets = (torch.from_numpy(a) for a in batch(settings["batch"]))
    model = to_torch(detector(NUM_CLASSES, len(DEFAULT_ANCHORS), IMAGE_SIZE))
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    anchor_sizes = torch.from_numpy((DEFAULT_ANCHORS * GRID_SIZE).astype(np.float32))

    def step():
        optimizer.zero_grad(set_to_none=True)
        value = torch_grid_loss(torch, model(images), targets, anchor_sizes)
        value.backward()
        optimizer.step()
        return value.item()

    first_loss = step()
    time_layers = torch_layer_timer(
        torch, model, images, lambda output: torch_grid_loss(torch, output, targets, anchor_sizes)
    )
    info = {"first_loss": first_loss, "versions": {"torch": torch.__version__}}
    return info, step, time_layers, None


SESSIONS = {"tinycnn": tinycnn_session, "pytorch": pytorch_session}


def serve(session, settings):
    """Set up, warm up, then answer {"steps": n} with {"step_ms": [...]}, the layers' times
    alone ("layer_ms") and, for tinycnn, its steps taken apart ("in_step"), one JSON line each."""
    started = session(settings)
    if started is None:
        print(json.dumps({"installed": False}), flush=True)
        return
    info, step, time_layers, time_step = started
    for _ in range(settings["warmup"]):
        step()
    time_layers()  # the layers' first calls alone: any shape new to a kernel is timed here
    print(json.dumps({"installed": True, **info}), flush=True)
    for line in sys.stdin:
        steps = json.loads(line)["steps"]
        warm_up(step, settings["warm_up_s"])
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            step()
            times.append((time.perf_counter() - start) * 1e3)
        layer_times = [time_layers() for _ in range(settings["layer_repeats"])]
        layer_ms = np.median(layer_times, axis=0).tolist()  # per layer: [forward, backward]
        answer = {"step_ms": times, "layer_ms": layer_ms}
        if time_step is not None:
            in_step = [time_step() for _ in range(settings["layer_repeats"])]
            answer["in_step"] = median_step_parts(in_step)
        print(json.dumps(answer), flush=True)


def measure(settings, env=None):
    """Both workers alive, taking turns (who goes first alternates each round)."""
    load = [os.getloadavg()[0]]
    workers = [Worker(__file__, name, settings, own_defaults(name, env)) for name in SESSIONS]
    active = [worker for worker in workers if worker.info["installed"]]
    lists = ("rounds", "layer_rounds", "in_step_rounds")
    results = {worker.name: {**worker.info, **{name: [] for name in lists}} for worker in workers}
    try:
        for round_index in range(settings["rounds"]):
            for worker in active[:: 1 if round_index % 2 == 0 else -1]:
                time.sleep(PAUSE_S)
                answer = worker.ask({"steps": settings["steps_per_round"]})
                results[worker.name]["rounds"].append(answer["step_ms"])
                results[worker.name]["layer_rounds"].append(answer["layer_ms"])
                if "in_step" in answer:
                    results[worker.name]["in_step_rounds"].append(answer["in_step"])
            load.append(os.getloadavg()[0])
    finally:
        for worker in workers:
            worker.close()
    return results, load


def summarise(results):
    ours, theirs = results["tinycnn"], results["pytorch"]
    summary = {
        "tinycnn_ms": float(np.median(np.concatenate(ours["rounds"]))),
        "tinycnn_quartiles_ms": np.percentile(np.concatenate(ours["rounds"]), [25, 75]).tolist(),
        "pytorch_ms": None,
        "pytorch_quartiles_ms": None,
        "speed": None,
        "speed_rounds": None,
        "wide_spread": None,
        "first_loss": {"tinycnn": ours["first_loss"], "pytorch": None},
    }
    if theirs["installed"]:
        torch_steps = np.concatenate(theirs["rounds"])
        summary["pytorch_ms"] = float(np.median(torch_steps))
        summary["pytorch_quartiles_ms"] = np.percentile(torch_steps, [25, 75]).tolist()
        summary["speed"] = summary["pytorch_ms"] / summary["tinycnn_ms"]
        per_round = [
            np.median(b) / np.median(a)
            for a, b in zip(ours["rounds"], theirs["rounds"], strict=True)
        ]
        summary["speed_rounds"] = [float(min(per_round)), float(max(per_round))]
        summary["wide_spread"] = bool(max(per_round) > WIDE_SPREAD * min(per_round))
        summary["first_loss"]["pytorch"] = theirs["first_loss"]
        # On a loaded machine the median measures the stalls; the fastest tenth of each
        # framework's steps shows them undisturbed.
        summary["tinycnn_p10_ms"] = float(np.percentile(np.concatenate(ours["rounds"]), 10))
        summary["pytorch_p10_ms"] = float(np.percentile(torch_steps, 10))
        summary["p10_speed"] = summary["pytorch_p10_ms"] / summary["tinycnn_p10_ms"]
    their_layers = theirs["layer_rounds"] if theirs["installed"] else None
    summary["layers"] = layer_rows(ours["layers"], ours["layer_rounds"], their_layers)
    summary["in_step"] = median_step_parts(ours["in_step_rounds"])
    return summary


def print_report(settings, summary, load, machine_info):
    steps = settings["rounds"] * settings["steps_per_round"]
    print(
        f"\nLesson 8's detector, one training step: batch {settings['batch']} of "
        f"1x{IMAGE_SIZE}x{IMAGE_SIZE} float32, GridLoss, Adam"
    )
    print(
        f"CPU: {machine_info['cpu']}; {THREADS} threads each, own processes taking turns; "
        f"median of {steps} steps ({settings['rounds']} rounds) after {settings['warmup']} warm-up"
    )
    print(blas_line(machine_info))
    print(
        f"1-min load average {min(load):.1f} to {max(load):.1f} on {os.cpu_count()} cores; "
        f"OMP_WAIT_POLICY {settings.get('omp_wait_policy') or 'unset'}"
    )
    print(second_core_line(machine_info))
    print(f"\n{'':16} {'ms/step':>8} {'quartiles':>16}")
    low, high = summary["tinycnn_quartiles_ms"]
    print(f"{'tinycnn':16} {summary['tinycnn_ms']:8.1f} {low:7.1f} to {high:6.1f}")
    if summary["pytorch_ms"] is None:
        print(f"{'PyTorch':16} not installed")
        return
    low, high = summary["pytorch_quartiles_ms"]
    print(f"{'PyTorch':16} {summary['pytorch_ms']:8.1f} {low:7.1f} to {high:6.1f}")
    low, high = summary["speed_rounds"]
    flag = "  ! wide spread: the machine was busy, rerun" if summary["wide_spread"] else ""
    print(
        f"{'x PyTorch speed':16} {summary['speed']:7.2f}x  (higher is better; rounds {low:.2f} "
        f"to {high:.2f}){flag}"
    )
    print(
        f"{'fastest tenth':16} {summary['tinycnn_p10_ms']:7.1f} vs {summary['pytorch_p10_ms']:.1f}"
        f" ms: {summary['p10_speed']:.2f}x PyTorch's speed (each framework undisturbed)"
    )
    first = summary["first_loss"]
    print(
        f"first-step loss, same weights and batch: tinycnn {first['tinycnn']:.6f}, "
        f"PyTorch {first['pytorch']:.6f}"
    )


def plot(summary, cpu, load, path):
    plt = pyplot()

    names = ["tinycnn"] + (["PyTorch"] if summary["pytorch_ms"] is not None else [])
    medians = [summary["tinycnn_ms"], summary["pytorch_ms"]][: len(names)]
    quartiles = [summary["tinycnn_quartiles_ms"], summary["pytorch_quartiles_ms"]][: len(names)]
    errors = np.array([[m - q[0], q[1] - m] for m, q in zip(medians, quartiles, strict=True)]).T
    fig, (ax, layers_ax) = plt.subplots(
        1, 2, figsize=(13, 5.5), gridspec_kw={"width_ratios": [1, 2.4]}
    )
    ax.bar(names, medians, yerr=errors, capsize=6, color=["tab:blue", "tab:orange"][: len(names)])
    ax.set_ylabel("ms per training step (median, quartiles)")
    title = "detector training step"
    if summary["speed"] is not None:
        title += f":\ntinycnn at {summary['speed']:.2f}x PyTorch's speed"
    ax.set_title(f"{title}\n{cpu}, load average {min(load):.1f} to {max(load):.1f}", fontsize=9)
    plot_layers(layers_ax, summary["layers"])
    save_chart(fig, path)


def main():
    parser = command_line(__doc__, "bench_detector_step")
    parser.add_argument("--quick", action="store_true", help="a smoke run: small batch, few steps")
    parser.add_argument("--rounds", type=int, help="turns of each framework (default 12, quick 1)")
    parser.add_argument(
        "--passive",
        action="store_true",
        help="OMP_WAIT_POLICY=PASSIVE for both: PyTorch's idle threads sleep instead of spinning, "
        "which keeps them from stalling on a machine shared with other work",
    )
    parser.add_argument("--worker", choices=list(SESSIONS), help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        # A child inherits its parent's CPU affinity: a parent bound to one CPU (by OpenMP's
        # OMP_PROC_BIND, or taskset) would leave the worker one. Take back every CPU first.
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, range(os.cpu_count()))
        serve(SESSIONS[args.worker], json.loads(args.settings))
        return
    settings = dict(QUICK if args.quick else FULL)
    settings["rounds"] = at_least_one(parser, args.rounds, "rounds") or settings["rounds"]
    machine_info = machine(args.quick)
    cpu = machine_info["cpu"]
    settings["omp_wait_policy"] = "PASSIVE" if args.passive else os.environ.get("OMP_WAIT_POLICY")
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"} if args.passive else None
    results, load = measure(settings, env)
    second_core_again(machine_info, args.quick)
    summary = summarise(results)
    print_report(settings, summary, load, machine_info)
    rounds = settings["rounds"]
    note = f"median of {rounds} round{'s' * (rounds != 1)}"
    steps = [summary["tinycnn_ms"], summary["pytorch_ms"]]
    print_layers(summary["layers"], steps, note, summary["in_step"])
    versions = {**results["tinycnn"]["versions"], **results["pytorch"].get("versions", {})}
    report = {
        "settings": settings,
        "cpu": cpu,
        "machine": machine_info,
        "threads": THREADS,
        "cpu_count": os.cpu_count(),
        "load_average": load,
        "versions": versions,
        "summary": summary,
        "steps_ms": {name: result.get("rounds") for name, result in results.items()},
    }
    save_results(
        args.out, "bench_detector_step", report, lambda path: plot(summary, cpu, load, path)
    )


if __name__ == "__main__":
    main()
