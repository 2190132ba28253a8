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

A lesson run as a program (`python lessons/04_train_localizer.py`, `%run` in IPython, or the
website's build, which runs each lesson's code as that file) refuses options it does not know,
such as `--output` or `--quik`: a typo must not start a full run in the wrong place. The command
line is the lesson's own only when the program being run (`sys.argv[0]`) is the file that calls
`start`. In a notebook it is the kernel's (`ipykernel_launcher -f kernel.json`, Colab's
`colab_kernel_launcher.py`, xeus-python's, whatever starts the kernel), which is not read; the
options then come from `TINYCNN_DOCS_QUICK` alone.
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
    lesson_file = _program_file(sys._getframe(1).f_code.co_filename)
    if argv is None:
        argv = sys.argv[1:] if lesson_file else []
    elif not isinstance(argv, (list, tuple)) or not all(isinstance(item, str) for item in argv):
        raise TypeError(f"argv must be a list of strings, got {argv!r}")
    parser = argparse.ArgumentParser(
        prog=lesson_file.name if lesson_file else f"lesson {number}",
        description=f"Lesson {number}: {title}.",
    )
    parser.add_argument(
        "--out",
        type=_folder,
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
    if out is None:  # output/ beside the lesson (or the notebook); output/quick/ for a quick run
        out = (lesson_file.parent if lesson_file else Path.cwd()) / "output"
        out = out / QUICK_FOLDER if quick else out
    elif out.exists() and not out.is_dir():
        parser.error(f"--out {out} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    return Lesson(number=number, out=out, quick=quick, started=started)


def _folder(text):
    """--out's folder; an empty one (`--out "$UNSET"`) would be the working folder, silently."""
    if not text.strip():
        raise argparse.ArgumentTypeError("needs a folder, got an empty string")
    return Path(text)


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


def _program_file(caller):
    """The lesson's own file when the program being run is the lesson that called `start` (its
    code compiled from `caller`, as Python, IPython's %run and sphinx-gallery all compile it);
    None otherwise: in a notebook kernel, whose sys.argv[0] is its launcher, and in an
    interactive interpreter."""
    program = sys.argv[0] if sys.argv else ""
    if not program or not caller or caller.startswith("<"):
        return None
    try:
        program_path, caller_path = Path(program).resolve(), Path(caller).resolve()
    except OSError:
        return None
    return program_path if program_path == caller_path else None
