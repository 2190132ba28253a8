"""How lesson 4's training step scales: time per image against batch size and image size, on
1 thread and on 2 (parallel efficiency).

    python benchmarks/bench_scaling.py [--quick] [--rounds R] [--out DIR]

The step is bench_train_step's (localizer(), squared loss, SGD with momentum, float32), on random
images with no object. Two sweeps: batch 1 to 256 at 64x64 pixels, and image size 32 to 256 pixels
at batch 16. The 1-thread and the 2-thread runs are separate processes (numba.set_num_threads)
taking turns, R rounds (default 3), each batch and size timed after 0.3 s of untimed steps
(turns.WARM_UP_S: the core a worker leaves idle comes back slow, and on small batches a 2-thread
worker leaves one idle too); each figure is the median of all its steps, with the fastest and
slowest round beside it ("!" when the slowest is over 1.3x the fastest: the machine was busy).
Speed-up = 1-thread time / 2-thread time (2.0 would be perfect); per image = step time / batch
size.

Prints the table with the CPU model and what the second core added to two threads' matrix
products at the start and the end (turns.second_core: where it adds little to them, it adds
little to the step either), and writes bench_scaling.json and bench_scaling.png (time per
image against batch and image size, and the speed-up beside the matrix products') to DIR
(--out, default benchmarks/output/). Start-up times (cold compile, warm start to the first
step) are measured by bench_train_step.py (--cold).
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from turns import (  # noqa: E402
    WARM_UP_S,
    Worker,
    at_least_one,
    blas_line,
    command_line,
    machine,
    median_spread,
    plain_log_ticks,
    pyplot,
    save_chart,
    save_results,
    second_core_again,
    second_core_line,
    serve,
    warm_up,
)

NUM_CLASSES = 3
THREAD_COUNTS = (1, 2)
FULL = {
    "batches": [1, 2, 4, 8, 16, 32, 64, 128, 256],
    "batch_image_size": 64,
    "image_sizes": [32, 64, 128, 256],
    "image_batch": 16,
    "rounds": 3,
    "min_steps": 3,
    "budget_s": 0.3,
    "warm_up_s": WARM_UP_S,
}
QUICK = {
    "batches": [1, 4],
    "batch_image_size": 32,
    "image_sizes": [32],
    "image_batch": 4,
    "rounds": 1,
    "min_steps": 1,
    "budget_s": 0.0,
    "warm_up_s": 0.0,
}


def run_worker(threads):
    """A process on `threads` numba threads: answers {"do": "step", "args": {batch, size, ...}}."""
    import numba

    from tinycnn.kernels.threads import SETTLED_CALLS
    from tinycnn.losses import SquaredLocalizationLoss
    from tinycnn.networks import localizer
    from tinycnn.optim import SGD

    numba.set_num_threads(threads)
    sessions = {}
    warm = set()  # the (batch, size) pairs stepped already

    def session(size):
        if size not in sessions:
            model = localizer(NUM_CLASSES, size)
            sessions[size] = (model, SGD(model, lr=0.01, momentum=0.9))
        return sessions[size]

    def step(batch, size, min_steps, budget_s, warm_up_s):
        """Seconds of training steps: at least min_steps, and more within budget_s, after
        warm_up_s of untimed steps (turns.WARM_UP_S: the second core comes back from idle)."""
        model, optimizer = session(size)
        loss = SquaredLocalizationLoss(NUM_CLASSES)
        rng = np.random.default_rng(0)
        images = rng.random((batch, 1, size, size), dtype=np.float32)
        targets = np.zeros((batch, NUM_CLASSES + 5), np.float32)

        def one():
            loss.forward(model.forward(images), targets)
            model.backward(loss.backward(), input_grad=False)
            optimizer.step()

        # Warm-up, the first time: compiles on a new shape, faults the arrays in, and lets every
        # kernel choose its way and check it twice (kernels/threads.py, SETTLED_CALLS): the steps
        # measured are a long training loop's, none of them a trial of the slower way.
        if (batch, size) not in warm:
            for _ in range(SETTLED_CALLS):
                one()
            warm.add((batch, size))
        warm_up(one, warm_up_s)
        times, started = [], time.perf_counter()
        while len(times) < min_steps or time.perf_counter() - started < budget_s:
            begin = time.perf_counter()
            one()
            times.append(time.perf_counter() - begin)
        return times

    serve({"step": step}, {"threads": threads})


def configurations(settings):
    """(sweep, batch, image size) of every point measured."""
    points = [("batch", b, settings["batch_image_size"]) for b in settings["batches"]]
    points += [("image size", settings["image_batch"], s) for s in settings["image_sizes"]]
    return points


def measure(settings, script):
    workers = [Worker(script, str(t), settings) for t in THREAD_COUNTS]
    runs = {}
    try:
        for round_index in range(settings["rounds"]):
            for worker in workers[:: 1 if round_index % 2 == 0 else -1]:
                for sweep, batch, size in configurations(settings):
                    args = {
                        "batch": batch,
                        "size": size,
                        "min_steps": settings["min_steps"],
                        "budget_s": settings["budget_s"],
                        "warm_up_s": settings["warm_up_s"],
                    }
                    times = worker.ask({"do": "step", "args": args})
                    runs.setdefault((sweep, batch, size), {}).setdefault(worker.name, []).append(
                        times
                    )
    finally:
        for worker in workers:
            worker.close()
    return runs


def summarise(runs):
    rows = []
    for (sweep, batch, size), by_threads in runs.items():
        row = {"sweep": sweep, "batch": batch, "image_size": size}
        for threads, rounds in by_threads.items():
            seconds, spread, wide = median_spread(
                [np.median(r) for r in rounds], np.concatenate(rounds)
            )
            row[f"{threads}_threads"] = {
                "step_ms": seconds * 1e3,
                "per_image_ms": seconds * 1e3 / batch,
                "round_ms": [s * 1e3 for s in spread],
                "wide_spread": wide,
            }
        row["speed_up"] = row["1_threads"]["step_ms"] / row["2_threads"]["step_ms"]
        rows.append(row)
    return rows


def print_report(settings, rows, machine_info):
    print(
        f"\n{machine_info['cpu']}, {machine_info['cores']} cores, 1-min load average "
        f"{machine_info['load_average_1min']:.1f} at the start"
    )
    print(blas_line(machine_info))
    print(second_core_line(machine_info))
    print(
        "Lesson 4's training step (localizer, squared loss, SGD), float32; medians over "
        f"{settings['rounds']} rounds, '!' = slowest round over 1.3x the fastest"
    )
    head = (
        f"{'sweep':11} {'batch':>5} {'pixels':>6} {'1 thread ms/step':>17} {'ms/image':>9} "
        f"{'2 threads ms/step':>18} {'ms/image':>9} {'speed-up':>9}"
    )
    print("\n" + head + "\n" + "-" * len(head))
    for row in rows:
        cells = []
        for threads in THREAD_COUNTS:
            figure = row[f"{threads}_threads"]
            flag = "!" if figure["wide_spread"] else " "
            width = 16 if threads == 1 else 17
            cells.append(f"{figure['step_ms']:{width}.2f}{flag} {figure['per_image_ms']:9.3f}")
        print(
            f"{row['sweep']:11} {row['batch']:5d} {row['image_size']:6d} {' '.join(cells)} "
            f"{row['speed_up']:8.2f}x"
        )
    batch_rows = [row for row in rows if row["sweep"] == "batch"]
    for threads in THREAD_COUNTS:
        per_image = {r["batch"]: r[f"{threads}_threads"]["per_image_ms"] for r in batch_rows}
        from_16 = [value for batch, value in per_image.items() if batch >= 16]
        if from_16:
            print(
                f"{threads} thread(s): from batch 16 up, the slowest time per image is "
                f"{max(from_16) / min(per_image.values()):.2f}x the best"
            )


def plot(rows, path, machine_info):
    """Time per image against batch size and image size, one line per thread count; and the
    speed-up of two threads, beside what two threads' matrix products gave at the start and the
    end of the run (turns.second_core)."""
    plt = pyplot()

    fig, axes = plt.subplots(1, 3, figsize=(17, 4.5))
    swept = set()  # every batch size and image size, for the speed-up's axis
    for ax, sweep, key, label in (
        (axes[0], "batch", "batch", "batch size (64x64 images)"),
        (axes[1], "image size", "image_size", "image size, pixels (batch 16)"),
    ):
        chosen = [row for row in rows if row["sweep"] == sweep]
        xs = [row[key] for row in chosen]
        swept.update(xs)
        for threads in THREAD_COUNTS:
            ax.plot(
                xs,
                [row[f"{threads}_threads"]["per_image_ms"] for row in chosen],
                "o-",
                label=f"{threads} thread{'s' if threads > 1 else ''}",
            )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        plain_log_ticks(ax.xaxis, values=xs)
        plain_log_ticks(ax.yaxis)
        ax.set_xlabel(label)
        ax.set_ylabel("ms per image (lower is better)")
        ax.legend()
        axes[2].plot(xs, [row["speed_up"] for row in chosen], "o-", label=f"{sweep} sweep")
    axes[2].axhline(2, color="gray", linestyle="--", linewidth=1, label="perfect (2x)")
    for (when, ratios), style in zip(
        machine_info["second_core_x"].items(), (":", "-."), strict=True
    ):
        speed_up = statistics.median(ratios)
        axes[2].axhline(
            speed_up,
            color="black",
            linestyle=style,
            linewidth=1,
            label=f"two threads' matrix products at the {when}: {speed_up:.2f}x",
        )
    axes[2].set_xscale("log", base=2)
    plain_log_ticks(axes[2].xaxis, values=sorted(swept))
    axes[2].set_xlabel("batch size, or image size in pixels")
    axes[2].set_ylabel("2-thread speed-up over 1 thread")
    axes[2].legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize="small")
    fig.suptitle(
        f"lesson 4's training step: time per image and parallel speed-up, {machine_info['cpu']}"
    )
    save_chart(fig, path)


def main():
    parser = command_line(__doc__, "bench_scaling")
    parser.add_argument("--quick", action="store_true", help="a smoke run: two tiny batches")
    parser.add_argument("--rounds", type=int, help="turns of each thread count (default 3)")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker(args.worker)
        return
    settings = dict(QUICK if args.quick else FULL)
    settings["rounds"] = at_least_one(parser, args.rounds, "rounds") or settings["rounds"]
    machine_info = machine(args.quick)
    runs = measure(settings, Path(__file__).resolve())
    second_core_again(machine_info, args.quick)
    rows = summarise(runs)
    print_report(settings, rows, machine_info)
    report = {"machine": machine_info, "settings": settings, "rows": rows}
    save_results(args.out, "bench_scaling", report, lambda path: plot(rows, path, machine_info))


if __name__ == "__main__":
    main()
