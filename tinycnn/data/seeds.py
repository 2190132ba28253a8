"""Seeds: how every dataset turns its `seed` into random numbers.

A dataset is a function of its arguments: the same arguments and seed give the same images, on
any machine, and another seed gives a held-out set. So a seed is an integer >= 0 and nothing
else. None is refused rather than passed on: numpy's `default_rng(None)` would draw a fresh seed
from the operating system, a different dataset at every call, and a "held-out" set that nobody
could draw again.
"""

import numpy as np

from tinycnn import checks


def dataset_rng(seed, *streams):
    """The random generator of a dataset drawn with `seed` (an integer >= 0):
    `np.random.default_rng(seed)`, or `default_rng([seed, *streams])` for a dataset that keeps
    independent streams (the train and test splits of the real faces). TypeError or ValueError,
    naming seed, for anything else."""
    if seed is None:
        raise TypeError(
            "seed must be an integer >= 0, got None: a dataset is drawn from its seed so that "
            "the same seed gives the same images (pick any number, e.g. seed=0)"
        )
    seed = checks.integer(seed, "seed", minimum=0)
    streams = [checks.non_negative_int(stream, f"streams[{i}]") for i, stream in enumerate(streams)]
    return np.random.default_rng([seed, *streams] if streams else seed)
