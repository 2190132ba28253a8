"""When threads pay: each kernel run in parts on both cores, or whole on one, chosen per shape.

Every kernel that can use several cores is one plain `nogil` numba function that computes part
`part` of n_parts of its work: its blocks, jobs, planes or channels, parts that share no output
(`part_range` gives each its share). `parts_if_faster(kernel)` runs it two ways: in parts, one
on each of numba.get_num_threads() Python threads (`in_parts`: the calling thread does a part
itself, the others go to helper threads, `Helper`), or whole, in one call on this thread (part 0
of 1). Handing a part to the other core has a price: the idle core must wake, tens of µs on
these virtual machines, while one core applies a ReLU to a million float32 numbers in about
90 µs (2-core AMD EPYC Zen 4, CPU family 25). For that loop, and for most of a small network's
loops, waking the second core costs more than it saves. For a big convolution it saves half the
time.

So each new combination of argument shapes (and scalar arguments) first runs whole LOOKS
times. If the last of those calls took under QUICK_SECONDS (20 µs), the combination stays on
one core and the parts are never tried: they could save at most half of it, 10 µs. Otherwise
the next calls are timed, TRIALS each way, taking turns; from then on, that combination runs
the faster way. Both ways do the same arithmetic in the same order (a part never asks which
thread it is on), so the choice changes the time, never the result: tests/test_threads.py
holds them equal bit for bit. With one numba thread the kernel always runs whole.
`side_by_side`, two pieces of work on two threads, is the same hand-over for work that is not
one kernel (winograd.py's and dense.py's matrix products).

Why not numba's own parallel loops (`prange`)? numba's `workqueue` pool, the one safe after a
fork (runtime.py), wakes its threads twice for every parallel loop (parts_if_faster says why);
a hand-over wakes the other core once, and while it wakes, the calling core is already at
work. Lesson 4's training step took 12.17 and 12.14 ms against 12.62 and 12.63 ms with
`correlate` and `tap_grads` as parallel loops (two runs of 30 rounds, each way in its own
process, taking turns; faster in 20 and 19 of 30), and with every loop of taps.py and
conv_pool.py's first-layer weight gradient in parts, 14.43 and 14.77 ms against 15.14 and 16.01
ms on a busier host (faster in 19 and 26 of 30; the layouts and the unpooling in parts too,
13.13, 11.15 and 11.15 ms against 12.40, 11.44 and 11.21, faster in 54 of 90 rounds). The last
parallel loops, max-pooling's and ReLU's, went the same way: on both cores, ReLU's forward pass
of (64, 8, 32, 32) took 0.076 ms against 0.125 ms as a parallel loop, of (64, 8, 64, 64) 0.200
against 0.261 ms, and 2x2 max-pooling's backward of (32, 32, 32, 32) 0.283 against 0.430 ms;
faster in 15 of 16 cases (four shapes, each kernel forward and backward), the slower one
max-pooling's backward of (64, 8, 64, 64), 0.534 against 0.457 ms (medians of 200 calls, three
processes each, taking turns). A parallel loop also compiles at several times the cost of the
same loop without `parallel`, and needed that serial version besides, to run small shapes on
one core: lesson 4's first run with an empty numba cache ended 6.32-7.16 s after launch, median
6.62 s, with its convolution's loops in parts, against 7.28-8.62 s, median 8.01 s, as parallel
loops (four processes each, taking turns; 2-core AMD EPYC Zen 4, CPU family 25).

Measured on lesson 8's detector (batch 32, float32; when its kernels were numba parallel loops
on `workqueue` threads, each on its own core), its training step run in one process with the
three ways taking turns, step by step, 30 steps each, medians: chosen per shape 16.7, 16.8 and
19.2 ms, always threads 17.3-17.7 ms, always one core 24.3-24.7 ms (three processes on an idle
2-core AMD EPYC Zen 4). The choice runs the convolutions on both cores and most small loops
(ReLU, pooling, batch norm on the small feature maps) on one; it saves most where a wake-up
costs most.

A choice is timed afresh after STRIKES calls in a row slower than the other way was in the
trials (the machine changed), and in any case after FIRST_CHOICE_CALLS calls, twice as many
each time the same way wins again, up to CHOICE_CALLS: a process checks its first choices soon.
A core busy during the trials (another program, a burst on the host) makes the threads look
slow, and that choice would otherwise stay (the 19.2 ms above). With a busy loop on one of the
two cores during lesson 8's first 12 training steps, every convolution chose one core, and when
choices lasted 2000 calls, the next 120 steps all took 22.7-24.7 ms; now they take 16.1-16.8
ms from the first re-timing on, 16 calls later, which puts them back on threads. Over a
process's first 500 steps of lesson 4, the extra re-timings cost nothing measurable (8.0-8.5 s
either way, four processes each). The benchmarks time a shape only after SETTLED_CALLS calls,
its choice by then checked twice: the steady state of a long loop.
"""

import contextlib
import dataclasses
import functools
import os
import statistics
import threading
import time

import numba
import numpy as np
from numba import njit
from numba.extending import intrinsic

LOOKS = 2  # serial calls of a new shape before any trial: the first may compile, the last is timed
QUICK_SECONDS = 20e-6  # a shape one core finished in less stays there, untried in parts
TRIALS = 5  # timed calls each way per shape; the medians are compared (the first may compile)
CALLS_TO_CHOOSE = LOOKS + 2 * TRIALS  # calls of a new shape until its way is chosen (at most)
MAX_SHAPES = 1024  # shapes remembered per kernel; past that they are forgotten and timed afresh
# The machine changes (another program starts, a thread gets stuck behind one): a choice is timed
# afresh after STRIKES calls in a row took longer than the other way took in the trials (the
# choice may then be wrong), and after FIRST_CHOICE_CALLS calls in any case, doubled each time
# the same way wins again, up to CHOICE_CALLS: re-timing costs CALLS_TO_CHOOSE calls, up to
# LOOKS + TRIALS of them the slower way, a small share of this many calls.
STRIKES = 3
FIRST_CHOICE_CALLS = 16
CHOICE_CALLS = 2048
WAYS = ("threads", "serial")
SETTLED_CALLS = 3 * CALLS_TO_CHOOSE + FIRST_CHOICE_CALLS + 2 * FIRST_CHOICE_CALLS
"""Calls of one shape after which its way is chosen and checked twice: if the same way won each
time, none of the next 4 * FIRST_CHOICE_CALLS calls runs the other way. A long training loop
spends a few calls in a thousand timing its ways; a benchmark that warms up this long measures
that steady state. (With CALLS_TO_CHOOSE calls of warm-up, in one round of three of
bench_conv.py's forward pass of (64, 8, 32, 32) -> 16, 3 of the 7 timed calls ran on one core:
2.9 ms against 1.6.)"""

KERNELS = []
"""Every kernel wrapped by parts_if_faster, in the order they were defined."""


def shape_key(args, n_threads):
    """What decides a kernel's speed: each array's shape and dtype, every other argument's value
    (strides, counts, eps: values that stay the same from one training step to the next), and
    the number of threads. (A list made into a tuple: faster than a generator, on every call.)"""
    key = [(arg.shape, arg.dtype) if isinstance(arg, np.ndarray) else arg for arg in args]
    key.append(n_threads)
    return tuple(key)


@dataclasses.dataclass(slots=True)
class Record:
    """A kept choice: the way and its compiled kernel, what it is checked against (the other
    way's median time in the trials), how many calls it lasts and how many are left before both
    are timed afresh, and the calls in a row that took longer."""

    way: str
    kernel: object
    other_seconds: float
    calls: int
    calls_left: int
    slow_in_a_row: int = 0


def parts_if_faster(kernel):
    """Wrap a numba kernel that releases Python's lock (`nogil`) and whose last two arguments,
    part and n_parts, say which part of its work a call does (parts that share no output): each
    call runs one part on each of numba.get_num_threads() Python threads (`in_parts`), or all of
    its work in one call here (part 0 of 1), whichever the first calls with the same shapes
    measured faster (the module docstring); the caller leaves the two arguments out (the kernel
    loops over its share, part_range). The same arithmetic either way.

    The wrapper keeps `threaded`, `serial`, `choices` ({shape key: Record}, the ways chosen and
    not yet due to be timed afresh), `quick` (the shape keys that stay on one core untried) and
    `always` (None, or one of WAYS to skip the timing: see `always`). A call with a kept choice
    costs about 2 µs more than the kernel alone, most of it numba.get_num_threads (0.7 µs) and
    the shape key (0.6 µs).

    Why not a `prange` loop: before each parallel loop numba's `workqueue` runs a task on every
    thread and waits for it, to pass on the thread count (`parallel_for` in numba's
    workqueue.c), then hands out the loop's shares and waits again, so every parallel loop wakes
    the idle core twice. An empty parallel loop took 65 µs, an empty hand-over 61 µs, but with
    work to do the hand-over's wake-up overlaps it: lesson 4's first block forward, (64, 1, 64,
    64) -> 8, took 0.50 ms in two halves (one half alone 0.47 ms) against 0.52-0.67 ms as a
    parallel loop and 0.87-0.96 ms on one core (medians of 300 calls; 2-core AMD EPYC Zen 4, CPU
    family 25). The module docstring has the training step's times."""

    def threaded(*args):
        n_parts = numba.get_num_threads()
        return in_parts(lambda part: kernel(*args, part, n_parts), n_parts)

    def serial(*args):
        return kernel(*args, 0, 1)

    return _faster_way(threaded, serial, kernel.py_func)


@njit(cache=True, inline="always")
def part_range(count, part, n_parts):
    """Part `part` of n_parts of range(count), in order, as even as whole numbers allow: what a
    kernel under parts_if_faster loops over (its blocks, jobs, shares or channels)."""
    return range(count * part // n_parts, count * (part + 1) // n_parts)


def _faster_way(threaded, serial, function):
    """parts_if_faster's wrapper: threaded and serial, two ways to make the same call, chosen per
    shape by timing (the module docstring); function gives the wrapper its name and
    docstring."""
    by_way = {"threads": threaded, "serial": serial}
    looks = {}  # shape key -> its serial calls so far, before any trial
    quick = set()  # shape keys that stay serial: quicker than the threads can wake
    trials = {}  # shape key -> {"threads": [seconds], "serial": [seconds]}
    choices = {}  # shape key -> its Record
    expired = {}  # shape key -> its last Record, while both ways are timed afresh

    @functools.wraps(function)
    def run(*args):
        n_threads = numba.get_num_threads()
        if n_threads == 1:
            return serial(*args)
        if run.always:
            return by_way[run.always](*args)
        key = shape_key(args, n_threads)
        record = choices.get(key)
        if record is not None:
            start = time.perf_counter()
            result = record.kernel(*args)
            if time.perf_counter() - start > record.other_seconds:
                record.slow_in_a_row += 1
            else:
                record.slow_in_a_row = 0
            record.calls_left -= 1
            if record.calls_left == 0 or record.slow_in_a_row == STRIKES:
                if len(expired) >= MAX_SHAPES:
                    expired.clear()
                expired[key] = choices.pop(key)  # the next calls time both ways afresh
            return result
        if key in quick:
            return serial(*args)
        times = trials.get(key)
        if times is None:  # a new shape: LOOKS serial calls first, the last one timed
            start = time.perf_counter()
            result = serial(*args)
            seconds = time.perf_counter() - start
            seen = looks.pop(key, 0) + 1
            for kept in (looks, quick, trials):
                if len(kept) >= MAX_SHAPES:
                    kept.clear()
            if seen < LOOKS:
                looks[key] = seen
            elif seconds < QUICK_SECONDS:
                quick.add(key)
            else:
                trials[key] = {way: [] for way in WAYS}
            return result
        # Take turns, so that whatever else loads the machine meanwhile falls on both alike.
        way = min(WAYS, key=lambda way: len(times[way]))
        start = time.perf_counter()
        result = by_way[way](*args)
        times[way].append(time.perf_counter() - start)
        if len(times["serial"]) == TRIALS:
            if len(choices) >= MAX_SHAPES:
                choices.clear()
                expired.clear()
            medians = {way: statistics.median(times[way]) for way in WAYS}
            chosen = min(WAYS, key=medians.get)
            other = WAYS[1 - WAYS.index(chosen)]
            before = expired.pop(key, None)
            same = before is not None and before.way == chosen
            calls = min(2 * before.calls, CHOICE_CALLS) if same else FIRST_CHOICE_CALLS
            choices[key] = Record(chosen, by_way[chosen], medians[other], calls, calls)
            del trials[key]
        return result

    run.threaded, run.serial = threaded, serial
    run.choices, run.quick, run.always = choices, quick, None
    KERNELS.append(run)
    return run


@contextlib.contextmanager
def always(way):
    """Within the block, every kernel runs one way, "threads" or "serial", untimed: for tests
    that hold the two ways equal, and benchmarks that compare them."""
    if not isinstance(way, str):
        raise TypeError(f"way must be one of {WAYS}, got {type(way).__name__}")
    if way not in WAYS:
        raise ValueError(f"way must be one of {WAYS}, got {way!r}")
    before = [kernel.always for kernel in KERNELS]
    for kernel in KERNELS:
        kernel.always = way
    try:
        yield
    finally:
        for kernel, way_before in zip(KERNELS, before, strict=True):
            kernel.always = way_before


HELPER_PREFIX = "tinycnn-helper"

SIDE_BY_SIDE_MULTIPLY_ADDS = 5_000_000
"""The least work (multiply-adds) worth handing half of to another thread with side_by_side:
about 0.1 ms of one core, twice what the hand-over costs (50-60 µs measured on a 2-core AMD
EPYC Zen 4, CPU family 25, the wake-up of an idle core). winograd.py and dense.py cut their
matrix products in two by it."""


def worth_a_thread(multiply_adds):
    """Whether work of this many multiply-adds pays for side_by_side's hand-over."""
    return multiply_adds >= SIDE_BY_SIDE_MULTIPLY_ADDS


def side_by_side(first, second):
    """(first(), second()): first on a helper thread while this one runs second, for work that
    lets go of Python's lock (NumPy's matrix products, `nogil` numba loops) and is worth a
    thread's wake-up (tens of µs). With one numba thread, called on a helper thread, or while
    another thread has the helpers, both run here, one after the other."""
    if numba.get_num_threads() == 1:
        return first(), second()
    results = [None, None]

    def work(part):
        results[part] = (first, second)[part]()

    in_parts(work, 2)
    return results[0], results[1]


def in_parts(work, n_parts):
    """work(part) for every part < n_parts, the last on this thread and the others on helper
    threads; returns when all are done, then raises the first error a part raised, if any
    (parts_if_faster's way on threads). Called on a helper thread, or while another thread
    has the helpers, every part runs here: a helper waiting for the others could wait for
    itself."""
    if n_parts == 1 or _on_a_helper() or not _helpers_free.acquire(blocking=False):
        for part in range(n_parts):
            work(part)
        return
    try:
        helpers = _helper_threads()
        busy = helpers[: n_parts - 1]
        for index, helper in enumerate(busy):  # helper h does parts h, h + len(helpers), ...
            helper.start(work, range(index, n_parts - 1, len(helpers)))
        try:
            work(n_parts - 1)
        finally:
            errors = _wait_for(busy)  # every part done, even if one failed
    finally:
        _helpers_free.release()
    for error in errors:
        if error is not None:
            raise error


def _wait_for(helpers):
    """Each helper's first error (or None), once all of them are done. An exception raised
    while waiting (Ctrl-C's KeyboardInterrupt) is raised after that: a helper handed new work
    before it finished the last would take the wrong turn of the baton."""
    errors, interrupted = [], None
    for helper in helpers:
        while True:
            try:
                errors.append(helper.wait())
                break
            except BaseException as error:
                interrupted = interrupted or error
    if interrupted is not None:
        raise interrupted
    return errors


class Helper:
    """A thread that runs the parts it is handed, one hand-over at a time.

    Two plain locks pass the baton: the caller releases `_go` to hand over, the helper
    releases `_done` when its parts are done. Called back to back, the helper started 14 µs
    after the call, against 27 µs with a ThreadPoolExecutor (a future, a queue entry and
    condition variables for each part), and an empty hand-over ended after 22 µs against 47 µs
    (medians of 2000 calls; 2-core AMD EPYC Zen 4, CPU family 25). Lesson 4's step: 1-5% faster
    (README.md's speed section has the runs).

    The caller, its own part done first, does not go to sleep on `_done` at once: it watches
    the helper's count of finished hand-overs (`_finished`) for up to SPINS reads
    (`_wait_for_count`, without Python's lock), and takes `_done` when the count arrives. A
    thread asleep on a lock is woken by the kernel, and on these virtual machines an idle core
    halts at once, so that wake-up took tens of µs after every hand-over; the helper's own
    wake-up overlaps the caller's part and costs less. Lesson 4's step against the caller going
    to sleep at once, each in its own process taking turns, 24 rounds of 20 steps: 11.31
    against 11.90 ms at batch 64 (faster in 21 rounds), 4.00 against 4.85 ms at batch 16 (in
    18); lesson 8's detector 13.53 against 15.02 ms (16 of 20; 2-core AMD EPYC Zen 4, CPU
    family 25).

    The helper, its parts done, watches for its next hand-over the same way (the caller's count of
    them, `_handed_over`, up to HELPER_SPINS reads) before it goes to sleep on `_go`. A training
    step hands over every few hundred µs, and a helper asleep that long starts later: an empty
    hand-over after the caller had idled 0, 200, 1000 and 5000 µs ended after 23, 30, 42 and 99 µs
    with the helper asleep, 20, 17, 20 and 43 µs with it watching (medians of 200; 2-core AMD EPYC
    Zen 2, CPU family 23). Each way in its own process, taking turns, three rounds: lesson 4's step
    4.57-5.31 against 4.83-5.55 ms at batch 16, 14.45-14.87 against 15.11-15.48 ms at batch 64, the
    detector's 16.2-17.4 against 16.4-17.1 ms (no difference); one convolution's forward, (64, 8,
    32, 32) -> 16 with stride 2, 0.664 against 0.722 ms (blocks of 20 calls taking turns in one
    process; the same Zen 2). The price: the other core stays busy up to a millisecond after each
    hand-over. On a Zen 4 (CPU family 25) a helper that watched without end measured 15.26 against
    15.39 ms on lesson 4's step."""

    def __init__(self, index):
        self._go, self._done = threading.Lock(), threading.Lock()
        self._go.acquire()
        self._done.acquire()
        self._work, self._parts, self._error = None, (), None
        self._handed_over = np.zeros(1, np.int64)  # hand-overs so far, which the helper watches
        self._finished = np.zeros(1, np.int64)  # of which the helper has finished this many
        name = f"{HELPER_PREFIX}-{index}"
        threading.Thread(target=self._serve, name=name, daemon=True).start()

    def start(self, work, parts):
        """Hand over work(part) for each of parts; returns at once."""
        self._work, self._parts, self._error = work, parts, None
        handed_over = self._handed_over[0] + 1
        self._go.release()
        self._handed_over[0] = handed_over  # after the release: a helper that sees it goes on

    def wait(self):
        """Wait until the parts handed over are done; their first error, or None."""
        _wait_for_count(self._finished, self._handed_over[0], SPINS)
        self._done.acquire()
        self._work = None  # the helper holds no reference to finished work
        return self._error

    def _serve(self):
        finished = 0
        while True:
            _wait_for_count(self._handed_over, finished + 1, HELPER_SPINS)
            self._go.acquire()
            for part in self._parts:
                try:
                    self._work(part)
                except BaseException as error:  # raised in the caller, by in_parts
                    if self._error is None:
                        self._error = error
            finished += 1
            self._done.release()  # before the count: the caller that sees it takes _done at once
            self._finished[0] = finished


SPINS = 1_000_000
"""Reads of a helper's count before its caller goes to sleep on the lock: 0.3-0.6 ms on a 2-core
AMD EPYC Zen 4 (one read a cycle), long enough for the other part of a balanced split."""

HELPER_SPINS = 3_000_000
"""Reads of the caller's count of hand-overs before a helper with nothing to do goes to sleep on
its lock: about 1 ms on a 2-core AMD EPYC Zen 2 (0.33 ns a read), longer than the gaps between
a training step's hand-overs (Helper). Lesson 4's step at batch 16, blocks of steps taking turns
in one process: a watch of 0.33 ms against one of 3.3 ms, 5.60 against 5.45 ms; 3.3 ms against
1 ms, 5.60 against 5.55 ms (no faster)."""


@intrinsic
def _load_acquire(typingctx, counts):
    """counts[0] (int64), read from memory every time: an atomic load with acquire ordering,
    which LLVM may neither keep in a register across a loop nor move later reads before."""

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        return builder.load_atomic(array.data, "acquire", 8)

    return numba.types.int64(counts), codegen


@njit(cache=True, nogil=True)
def _wait_for_count(counts, count, spins):
    """Whether counts[0] reached `count` within `spins` reads. Without Python's lock, so the
    thread that will raise the count runs meanwhile."""
    for _ in range(spins):
        if _load_acquire(counts) >= count:
            return True
    return False


_helpers = None  # the Helper threads in_parts hands work to, made at its first call
_helpers_free = threading.Lock()  # held by the thread handing work to the helpers


def _helper_threads():
    """The helpers: one thread fewer than numba may use at most, started as they are needed."""
    global _helpers
    if _helpers is None:
        _helpers = [Helper(index) for index in range(max(1, numba.config.NUMBA_NUM_THREADS - 1))]
    return _helpers


def _on_a_helper():
    """Whether this thread is one of the helpers (their names start with HELPER_PREFIX)."""
    return threading.current_thread().name.startswith(HELPER_PREFIX)


def _forget_helpers():
    """In a forked child: the helper threads did not come along, so the next call makes them,
    and no thread holds them (one may have, in the parent, at the fork)."""
    global _helpers, _helpers_free
    _helpers = None
    _helpers_free = threading.Lock()


os.register_at_fork(after_in_child=_forget_helpers)
