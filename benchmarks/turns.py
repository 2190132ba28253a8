"""What the benchmarks share: the machine's description, worker processes that take turns,
medians with their spread, and the command line and files every benchmark has.

Each framework runs in its own process (a worker, started from the benchmark script with
`--worker NAME`), because thread pools of two frameworks in one process spin against each other
(measured: 0.92x instead of 8.6x on one shape). The parent imports neither tinycnn nor torch and
asks the workers, one JSON line at a time, to time something; they take turns, so that whatever
else loads the machine falls on all of them alike.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

WIDE_SPREAD = 1.3  # a figure whose slowest round is this much slower than its fastest is flagged
OUTPUT = Path(__file__).resolve().parent / "output"  # where a benchmark writes unless told


def cpu_model():
    """ "AMD EPYC 9R14 (family 25)" from /proc/cpuinfo, else what platform knows."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        return platform.processor() or platform.machine()
    model = fields.get("model name", platform.machine())
    family = fields.get("cpu family")
    return f"{model} (family {family})" if family else model


def machine():
    """The machine as the reports print it: CPU, cores, load, Python."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "python": platform.python_version(),
    }


def median_spread(round_medians, all_times):
    """(median over every timed run, [fastest, slowest] round median, spread flag)."""
    low, high = float(min(round_medians)), float(max(round_medians))
    return float(np.median(all_times)), [low, high], high > WIDE_SPREAD * low


def timed_runs(fn, repeats):
    """Seconds of `repeats` calls of fn, after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def own_defaults(name, env=None):
    """The environment for worker `name`: PyTorch's worker imports tinycnn (for to_torch), but
    keeps PyTorch's own defaults, without the process changes tinycnn's import makes
    (TINYCNN_NO_RUNTIME_TWEAKS=1: BLAS threads, malloc, numba's threads bound to cores)."""
    env = dict(os.environ if env is None else env)
    if name == "pytorch":
        env["TINYCNN_NO_RUNTIME_TWEAKS"] = "1"
    return env


class Worker:
    """A worker process running `script --worker name --settings JSON`, asked one JSON request
    at a time; it answers one JSON line (its errors go to our stderr)."""

    def __init__(self, script, name, settings, env=None):
        self.name = name
        command = [
            sys.executable,
            str(script),
            "--worker",
            name,
            "--settings",
            json.dumps(settings),
        ]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        self.info = self._answer()

    def ask(self, request):
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._answer()

    def _answer(self):
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.name} worker stopped (its error is printed above)")
        return json.loads(line)

    def close(self):
        self.process.stdin.close()
        self.process.wait()


def serve(handlers, info):
    """The worker's side: print `info`, then answer each request line with
    handlers[request["do"]](**request["args"])."""
    print(json.dumps(info), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        print(json.dumps(handlers[request["do"]](**request.get("args", {}))), flush=True)


# The command line and the files: the same in every benchmark.


def command_line(doc, name, **options):
    """A benchmark's argument parser: its whole docstring as --help, and --out DIR, the folder for
    NAME.json and NAME.png. options go to argparse.ArgumentParser (an epilog, say)."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter, **options
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        default=OUTPUT,
        help=f"folder for {name}.json and {name}.png (default: benchmarks/output/, created if "
        "missing)",
    )
    return parser


def at_least_one(parser, value, option):
    """value of a count such as --rounds, None if it was not given; 0 or less stops the program
    with a message naming the option."""
    if value is not None and value < 1:
        parser.error(f"--{option} must be at least 1, got {value}")
    return value


def pyplot():
    """matplotlib's pyplot on the Agg backend (it writes files and opens no window), imported only
    when a chart is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_chart(fig, path):
    """Lay the figure out, write it as a PNG, and close it (pyplot keeps every figure open)."""
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    pyplot().close(fig)


def save_results(out, name, report, plot):
    """Write the report as out/NAME.json and the chart, plot(path), as out/NAME.png, making the
    folder if it is missing; then say where they are."""
    out.mkdir(parents=True, exist_ok=True)
    report_path, chart_path = out / f"{name}.json", out / f"{name}.png"
    report_path.write_text(json.dumps(report, indent=1))
    plot(chart_path)
    print(f"\nwrote {report_path} and {chart_path}")
