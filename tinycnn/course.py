"""What every lesson does first and last: read its options, find its output folder, say its time.

    lesson = tc.course.start(4, "training a localizer")
    ...                                  # the lesson, writing its files into lesson.out
    lesson.finish()                      # "lesson 4 took 95 s; its files are in .../output"

Every lesson takes the same two options:

- `--out DIR`: where its figures, metrics and models go; by default `output/` beside the lesson
  file, whatever the working directory (in a notebook, which Jupyter runs in the notebook's own
  folder: `output/` beside the notebook);
- `--quick`: tiny data and one epoch, the same code in seconds, for the tests. The environment
  variable `TINYCNN_DOCS_QUICK=1` does the same, for the website's build.

Unknown arguments are left alone, so that a notebook kernel's own arguments do no harm.
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
    """Read a lesson's options from the command line (or `argv`), create its output folder, start
    its clock; return a `Lesson`."""
    started = time.perf_counter()
    number = positive_int(number, "number")
    if not isinstance(title, str):
        raise TypeError(f"title must be a string, got {type(title).__name__}")
    parser = argparse.ArgumentParser(description=f"Lesson {number}: {title}.")
    parser.add_argument(
        "--out",
        type=Path,
        default=_lesson_folder() / "output",
        help="folder for the lesson's figures, metrics and models (default: output/ beside it)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"tiny data and one epoch, for the tests (or set {QUICK_VARIABLE}=1)",
    )
    arguments, _ = parser.parse_known_args(argv)
    quick = arguments.quick or os.environ.get(QUICK_VARIABLE) == "1"
    arguments.out.mkdir(parents=True, exist_ok=True)
    return Lesson(number=number, out=arguments.out, quick=quick, started=started)


def _lesson_folder():
    """The folder of the lesson being run: the script's own, or the working directory in a
    notebook (whose kernel is started as ipykernel_launcher, not as the lesson)."""
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.suffix == ".py" and script.stem != "ipykernel_launcher":
        return script.resolve().parent
    return Path.cwd()
