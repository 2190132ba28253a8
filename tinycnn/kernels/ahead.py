"""Compiling ahead: while this process compiles a kernel's serial twin, a helper process compiles
the parallel kernel, on the other core.

With an empty numba cache (a learner's very first run), every kernel compiles at its first call,
on one core. `threads.py` runs a new shape on the serial twin first, so lesson 4's first step
compiles the twins (about 5 s), and its next steps the parallel kernels (about 6.5 s: a parallel
kernel costs several times its twin, benchmarks/README.md). The second core sits idle all along.
(Since then the convolution's own loops, its layouts and its unpooling have no parallel
kernel: they run in parts on Python threads, `threads.parts_if_faster`, and compile once. Of
lesson 4's kernels only ReLU's two are parallel, and they are not compiled ahead (`not_ahead`):
lesson 4 starts no helper. Its first run with an empty cache ended 5.59-5.80 s after launch,
against 6.96-7.42 s with those loops parallel and compiled in the process (three runs each,
taking turns, TINYCNN_COMPILE_AHEAD=0; with the helper then, 5.51-6.43 s; 2-core AMD EPYC Zen
4, CPU family 25). The helper now serves the other lessons' max-pooling; batch norm's loops
run in parts too.)

So, as a twin starts compiling for new argument types (numba's "numba:compile" event, which
fires only when its cache has no such entry), its parallel kernel and the same types join a
queue for a helper process, started by a request when there is none. The helper takes them one
at a time: it compiles the kernel, numba writes it into its cache on disk, as it does every
kernel (`cache=True`), and the helper answers and takes the next; given nothing for
IDLE_SECONDS, it exits. Before this process first runs a kernel on threads, `wait(kernel)`
waits while the helper compiles it, compiling here meanwhile the kernel the helper would take
last; numba then loads the kernel from its cache instead of compiling it. A kernel the helper
has not started yet leaves the queue and compiles here. The same code compiles either way, so
the results are the same. A helper that fails (it cannot import tinycnn, say) answers with the
error, or not at all; from then on this process compiles everything itself, as it would have
without help. With a warm cache nothing compiles and no helper starts.

Measured with `benchmarks/bench_train_step.py --cold` (lesson 4's first training step and the
steps until every kernel has chosen how it runs, from launch to exit, in a fresh process with an
empty cache; 2-core AMD EPYC Zen 4, CPU family 25): 7.0-9.7 s, median 7.7 s, against
12.3-16.6 s, median 12.9 s, with everything compiled here, the two taking turns (ten runs each;
the host's speed varied). The helper held about 0.2 GB. Kernels whose twins win on the lessons'
shapes are left out (`not_ahead`: ReLU's two, activation.py), so that the helper's time goes to
the others: lesson 4's cold start-up took 7.4-8.2 s, median 8.0 s, against 7.5-8.6 s, median
8.2 s, with them in (nine runs each, taking turns; the host was slower than in the runs above).

Set TINYCNN_COMPILE_AHEAD=0 in the environment to compile everything in this process.
"""

import base64
import collections
import contextlib
import importlib
import json
import os
import pickle
import select
import subprocess
import sys
import threading

import numba
from numba.core import event

ENABLED = os.environ.get("TINYCNN_COMPILE_AHEAD", "1") != "0"
HELPER_CODE = "from tinycnn.kernels.ahead import serve; serve()"
"""What the helper process runs (python -c)."""
PATIENCE_SECONDS = 120  # a kernel compiles in 0.1-3 s: a helper this late is stuck
IDLE_SECONDS = 20  # a helper given nothing for this long exits (it holds about 0.2 GB)

twins = {}
"""Each serial twin (a numba dispatcher) -> its parallel kernel (threads.threads_if_faster's)."""
FAILED = []
"""What went wrong with the helper, a line each (for tests; the kernels then compile here)."""

_changed = threading.Condition()  # guards the four below; notified at each of the helper's answers
_helper = None  # the helper process, started at a request when there is none
_queue = collections.deque()  # (kernel, argument types) not yet given to the helper
_compiling = None  # (kernel, argument types) the helper compiles now, or None
_given_up = False  # the helper failed: everything compiles here from then on


def not_ahead(*kernels):
    """Leave these kernels (threads.threads_if_faster's) out of compiling ahead: each compiles
    its parallel version here, at its first trial on threads, as it would without a helper. For
    kernels whose twin wins on the lessons' shapes: the helper's time goes to the others."""
    for kernel in kernels:
        twins.pop(kernel.serial, None)


def request(kernel, argument_types):
    """Queue `kernel` (a numba dispatcher defined at a module's top level, possibly wrapped by
    threads.threads_if_faster) for the helper to compile for `argument_types` (numba types),
    unless it is compiled here already."""
    global _helper
    job = (kernel, tuple(argument_types))
    if not ENABLED or _given_up or job[1] in kernel.overloads:
        return
    with _changed:
        if _given_up or job == _compiling or job in _queue:
            return
        if _helper is None:
            _helper = _start_helper()
        _queue.append(job)
        if _compiling is None:
            _give_next()


def wait(kernel):
    """Take `kernel`'s requests the helper has not started off its queue (its next call compiles
    them here), and wait while the helper compiles it, compiling here meanwhile what the helper
    would start last. At once if there is nothing to wait for."""
    if _compiling is None and not _queue:
        return
    withdraw(kernel)
    with _changed:
        while _compiling is not None and _compiling[0] is kernel:
            if not _queue:
                if not _changed.wait(timeout=PATIENCE_SECONDS):
                    _helper.kill()  # stuck: its answer may never come
                    _helper_gone(f"the helper took over {PATIENCE_SECONDS} s on one kernel")
                continue
            other_kernel, argument_types = _queue.pop()
            _changed.release()
            try:
                other_kernel.compile(argument_types)
            except Exception:  # not this call's kernel: its own first call compiles it, or says why
                pass
            finally:
                _changed.acquire()


def withdraw(kernel):
    """Take `kernel`'s requests the helper has not started off its queue: `wait` compiles them
    here, and a shape quicker than the threads can wake never needs them (threads.py)."""
    if not _queue:
        return
    with _changed:
        for job in [job for job in _queue if job[0] is kernel]:
            _queue.remove(job)


def _give_next():
    """Send the helper the next job in the queue (the caller holds `_changed`)."""
    global _compiling
    kernel, argument_types = _compiling = _queue.popleft()
    message = {
        "module": kernel.py_func.__module__,
        "name": kernel.py_func.__name__,
        "file": kernel.py_func.__code__.co_filename,
        "types": base64.b64encode(pickle.dumps(argument_types)).decode("ascii"),
    }
    try:
        _helper.stdin.write(json.dumps(message) + "\n")
        _helper.stdin.flush()
    except OSError as error:
        _helper_gone(f"the helper process cannot be reached: {error}")


def _helper_gone(why):
    """Give up on the helper and its queue, once: from now on, everything compiles here (the
    caller holds `_changed`)."""
    global _compiling, _given_up
    if not _given_up:
        FAILED.append(why)
    _given_up = True
    _queue.clear()
    _compiling = None
    _changed.notify_all()


def _read_answers(helper):
    """The helper's answers, one line each, read on a thread of their own: each one hands the
    helper its next job and wakes whoever waits. A helper that exits idle is forgotten (a job
    sent meanwhile goes back to the front of the queue, for a new helper); one whose output ends
    otherwise, or anything failing here, is given up on, so that nobody waits for it. Either way
    its pipes are closed and its exit collected here."""
    global _compiling, _helper
    try:
        for line in helper.stdout:
            try:
                answer = json.loads(line)
                error, idle = answer["error"], answer["idle"]
            except (ValueError, KeyError, TypeError):
                continue  # not an answer: something the helper's imports printed
            with _changed:
                if idle:
                    if _compiling is not None:
                        _queue.appendleft(_compiling)
                        _compiling = None
                    _helper = _start_helper() if _queue else None
                    if _queue:
                        _give_next()
                    return
                if error:
                    FAILED.append(error)
                _compiling = None
                if _queue:
                    _give_next()
                _changed.notify_all()
    finally:
        with _changed:
            if _helper is helper:
                _helper_gone("the helper process exited")
        with contextlib.suppress(OSError):  # a job written as the helper went idle: unread
            helper.stdin.close()
        helper.stdout.close()
        helper.wait()  # it has exited, or exits now that its input is closed


def _start_helper():
    """The helper process: this Python, importing this tinycnn (its folder first on the path),
    and the thread that reads its answers."""
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [package_parent, *filter(None, [environment.get("PYTHONPATH")])]
    )
    helper = subprocess.Popen(
        [sys.executable, "-P", "-c", HELPER_CODE],  # -P: not the working folder's tinycnn
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # a process reading this one's output must not wait for it
        env=environment,
        text=True,
    )
    threading.Thread(target=_read_answers, args=(helper,), daemon=True).start()
    return helper


def serve():
    """The helper's loop: compile each kernel it is given, then answer; exit when given nothing
    more (the other side of the pipe closed: that process exited) or nothing for IDLE_SECONDS.
    The helper asks no helper of its own."""
    global ENABLED
    ENABLED = False
    while select.select([sys.stdin], [], [], IDLE_SECONDS)[0]:
        line = sys.stdin.readline()  # one job at a time: no other line waits in the buffer
        if not line:
            return
        message = json.loads(line)
        error = None
        try:
            kernel = getattr(importlib.import_module(message["module"]), message["name"])
            kernel = getattr(kernel, "threaded", kernel)  # threads_if_faster's wrapper
            if kernel.py_func.__code__.co_filename != message["file"]:
                raise ImportError(f"the helper imported {kernel.py_func.__code__.co_filename}")
            kernel.compile(pickle.loads(base64.b64decode(message["types"])))
        except Exception as failure:  # answered, so that the process waiting for it goes on
            error = f"{message['module']}.{message['name']}: {type(failure).__name__}: {failure}"
        print(json.dumps({"error": error, "idle": False}), flush=True)
    print(json.dumps({"error": None, "idle": True}), flush=True)


class _TwinCompiles(event.Listener):
    """As a serial twin starts compiling, queue its parallel kernel with the same types."""

    def on_start(self, compile_event):
        kernel = twins.get(compile_event.data["dispatcher"])
        if kernel is not None and numba.get_num_threads() > 1:
            request(kernel, compile_event.data["args"])

    def on_end(self, compile_event):
        pass


def _forget_helper():
    """In a forked child: the helper, its pipes and the thread reading them are the parent's."""
    global _helper, _compiling, _given_up, _changed
    _helper, _compiling, _given_up, _changed = None, None, False, threading.Condition()
    _queue.clear()


os.register_at_fork(after_in_child=_forget_helper)
event.register("numba:compile", _TwinCompiles())
