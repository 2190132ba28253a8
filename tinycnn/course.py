"""What every lesson does first and last: read its options, find its output folder, say its time.

    lesson = tc.course.start(4, "training a localizer")
    ...                                  # the lesson, writing its files into lesson.out
    lesson.finish()                      # "lesson 4 took 95 s; its files are in .../output"

Every lesson takes the same two options:

- `--out DIR`: where its figures, metrics and models go; by default `output/` beside the lesson
  file, whatever the working directory (in a notebook, which Jupyter runs in the notebook's own
  folder: `output/` beside the notebook);
- `--quick`: tiny data and one epoch, the same code in seconds, for the tests. The environment
  variable `TINYCNN_DOCS_QUICK=1` does the same, for the website's build (1, true or yes turn it
  on; 0, false, no or nothing leave it off; any other value is refused). A quick run's files go
  to `output/quick/` by default, so that a smoke run never overwrites a full run's models and
  metrics.

A lesson run as a script (`python lessons/04_train_localizer.py`, `%run` in IPython, or the
website's build, which runs each lesson as its own file) refuses options it does not know, such
as `--output` or `--quik`: a typo must not start a full run in the wrong place. In a notebook
there is no lesson command line: `sys.argv` then holds the kernel's own (`ipykernel_launcher -f
kernel.json`), which is not read; the options come from `TINYCNN_DOCS_QUICK` alone.
"""

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tinycnn.checks import positive_int

QUICK_VARIABLE = "TINYCNN_DOCS_QUICK"
"""The environment variable that runs every lesson as --quick (set to "1")."""

QUICK_FOLDER = "quick"
"""The sub-folder of the default output folder that a quick run writes to."""

KERNEL_LAUNCHERS = ("ipykernel_launcher", "__main__")
"""Names of the files that start a notebook kernel (`python -m ipykernel_launcher`, or a package
run with -m such as `python -m ipykernel` or Spyder's kernel): a lesson is never called so."""


@dataclass
class Lesson:
    """A lesson's settings: its number, output folder, quick mode and the time it started."""

    number: int
    out: Path
    quick: bool
    started: float

    def finish(self):
        """Print how long the lesson took and where its files are (and return nothing, so that a
        notebook cell ending with it shows no stray value)."""
        seconds = time.perf_counter() - self.started
        print(f"lesson {self.number} took {seconds:.0f} s; its files are in {self.out}")


def start(number, title, argv=None):
    """Read a lesson's options from its command line (or `argv`, a list of strings), create its
    output folder, start its clock; return a `Lesson`.

    An option the lesson does not know ends a script with argparse's usage message and exit
    status 2, as any command-line program does. In a notebook kernel `sys.argv` is not read.
    """
    started = time.perf_counter()
    number = positive_int(number, "number")
    if not isinstance(title, str):
        raise TypeError(f"title must be a string, got {type(title).__name__}")
    if argv is None:
        argv = sys.argv[1:] if _run_as_script() else []
    elif not isinstance(argv, (list, tuple)) or not all(isinstance(item, str) for item in argv):
        raise TypeError(f"argv must be a list of strings, got {argv!r}")
    parser = argparse.ArgumentParser(
        prog=Path(sys.argv[0]).name if _run_as_script() else f"lesson {number}",
        description=f"Lesson {number}: {title}.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for the lesson's figures, metrics and models (default: output/ beside it, "
        f"output/{QUICK_FOLDER}/ for a quick run)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"tiny data and one epoch, for the tests (or set {QUICK_VARIABLE}=1)",
    )
    arguments, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.error(
            f"unrecognized arguments: {' '.join(unknown)} (a lesson takes only --out DIR and "
            "--quick)"
        )
    quick = arguments.quick or quick_from_environment()
    out = arguments.out
    if out is None:
        out = default_output_folder(quick)
    elif out.exists() and not out.is_dir():
        parser.error(f"--out {out} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    return Lesson(number=number, out=out, quick=quick, started=started)


def quick_from_environment():
    """Whether TINYCNN_DOCS_QUICK asks for a quick run; ValueError for a value it cannot mean."""
    value = os.environ.get(QUICK_VARIABLE, "").strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("", "0", "false", "no"):
        return False
    raise ValueError(
        f"{QUICK_VARIABLE} must be 1 (a quick run) or 0 (a full one), got "
        f"{os.environ[QUICK_VARIABLE]!r}"
    )


def default_output_folder(quick=False):
    """Where a lesson writes without --out: `output/` beside the lesson (or the notebook), and
    `output/quick/` for a quick run."""
    folder = _lesson_folder() / "output"
    return folder / QUICK_FOLDER if quick else folder


def _run_as_script():
    """Whether sys.argv is the lesson's own command line: the program run is a .py file that is
    not a notebook kernel's launcher."""
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    return script is not None and script.suffix == ".py" and script.stem not in KERNEL_LAUNCHERS


def _lesson_folder():
    """The folder of the lesson being run: the script's own, or the working directory in a
    notebook (whose kernel is started as ipykernel_launcher, not as the lesson)."""
    if _run_as_script():
        return Path(sys.argv[0]).resolve().parent
    return Path.cwd()
