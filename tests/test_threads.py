"""Each kernel in parts on threads or whole on one core (tinycnn/kernels/threads.py): both ways
give the same numbers bit for bit, a shape quicker than the threads can wake stays on one core,
the faster way is chosen per shape after TRIALS timed calls each, and no kernel runs numba's
parallel loops."""

import importlib
import pkgutil
import threading
import time

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinycnn.kernels
from tinycnn.kernels import activation, batchnorm, batchnorm_pool, conv, pool, threads
from tinycnn.kernels.threads import WAYS, always

from strategies import conv_geometries


def every_pass(x, weights, bias, stride, padding, pool_size):
    """Every kernel the layers call, forward and backward, on one input: a list of arrays."""
    out = conv.conv2d_forward(x, weights, bias, stride, padding)
    rng = np.random.default_rng(1)
    dout = rng.standard_normal(out.shape).astype(x.dtype)
    dx = conv.conv2d_backward_input(dout, weights, x.shape, stride, padding)
    dw, db = conv.conv2d_backward_params(x, dout, weights.shape[2], stride, padding)
    gamma = rng.standard_normal(out.shape[1]).astype(x.dtype)
    beta = rng.standard_normal(out.shape[1]).astype(x.dtype)
    normed, mean, inv_std = batchnorm.batchnorm_forward(out, gamma, beta, 1e-5)
    evaluated = batchnorm.batchnorm_inference(out, gamma, beta, mean, inv_std)
    d_normed, dgamma, dbeta = batchnorm.batchnorm_backward(out, dout, mean, inv_std, gamma)
    relu = activation.relu_forward(normed)
    d_relu = activation.relu_backward(dout, relu)
    results = [out, dx, dw, db, normed, mean, inv_std, evaluated, d_normed, dgamma, dbeta]
    results += [relu, d_relu]
    if min(relu.shape[2:]) >= pool_size:
        pooled, argmax = pool.maxpool2d_forward(relu, pool_size, pool_size)
        d_pool = pool.maxpool2d_backward(
            np.ones_like(pooled), argmax, relu.shape, pool_size, pool_size
        )
        results += [pooled, argmax, d_pool]
        fused = batchnorm_pool.batchnorm_relu_maxpool_forward(
            out, gamma, beta, 1e-5, pool_size, pool_size
        )
        _, places, fused_mean, fused_inv_std = fused
        fused_evaluated = batchnorm_pool.batchnorm_relu_maxpool_inference(
            out, gamma, beta, mean, inv_std, pool_size, pool_size
        )
        d_fused = batchnorm_pool.batchnorm_relu_maxpool_backward(
            out,
            np.ones_like(pooled),
            places,
            fused_mean,
            fused_inv_std,
            gamma,
            beta,
            pool_size,
            pool_size,
        )
        results += [*fused, *fused_evaluated, *d_fused]
    return results


def both_ways(*args):
    """every_pass in parts on 2 threads, then whole on one core."""
    numba.set_num_threads(2)
    with always("threads"):
        threaded = every_pass(*args)
    with always("serial"):
        serial = every_pass(*args)
    return threaded, serial


@pytest.mark.parametrize(
    "shape, c_out, k, stride, padding",
    [
        ((4, 3, 20, 20), 8, 3, 1, 1),  # the usual 3x3
        ((3, 5, 17, 13), 6, 3, 2, 1),  # stride 2, odd sizes, channels not in whole blocks
        ((4, 16, 8, 8), 12, 1, 1, 0),  # 1x1: the pointwise kernels
        ((2, 1, 33, 31), 5, 5, 1, 2),  # one input channel, 5x5
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parts_and_whole_agree_bit_for_bit(shape, c_out, k, stride, padding, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    weights = rng.standard_normal((c_out, shape[1], k, k)).astype(dtype)
    bias = rng.standard_normal(c_out).astype(dtype)
    threaded, serial = both_ways(x, weights, bias, stride, padding, 2)
    for a, b in zip(threaded, serial, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()


@given(geometry=conv_geometries(max_batch=3, max_in=5, max_out=9), seed=st.integers(0, 99))
def test_parts_and_whole_agree_on_any_geometry(geometry, seed):
    rng = np.random.default_rng(seed)
    g = geometry
    x = rng.standard_normal((g["n"], g["c_in"], *g["hw"])).astype(np.float32)
    x[rng.random(x.shape) < 0.05] = np.inf  # inf and NaN travel the same way both ways
    weights = rng.standard_normal((g["c_out"], g["c_in"], g["k"], g["k"])).astype(np.float32)
    bias = rng.standard_normal(g["c_out"]).astype(np.float32)
    with np.errstate(invalid="ignore"):  # inf - inf in the weight gradient's sums
        threaded, serial = both_ways(x, weights, bias, g["stride"], g["padding"], 2)
    for a, b in zip(threaded, serial, strict=True):
        assert a.tobytes() == b.tobytes()


def test_the_faster_way_is_chosen_after_the_trials(monkeypatch):
    monkeypatch.setattr(threads, "QUICK_SECONDS", 0.0)  # this ReLU is quick: try it anyway
    numba.set_num_threads(2)
    kernel = activation._relu_forward
    x = np.linspace(-1, 1, 12345, dtype=np.float32)  # a size no other test uses
    out = np.empty_like(x)
    key = threads.shape_key((x, out), 2)
    for _ in range(threads.CALLS_TO_CHOOSE - 1):
        kernel(x, out)
        assert key not in kernel.choices
    kernel(x, out)
    assert kernel.choices[key].way in WAYS
    assert np.array_equal(out, np.maximum(x, 0))


class ScriptedClock:
    """perf_counter for threads.py: each timed call (two readings) takes the next duration."""

    def __init__(self, durations):
        self.now, self.durations, self.started = 0.0, list(durations), False

    def perf_counter(self):
        if self.started:
            self.now += self.durations.pop(0)
        self.started = not self.started
        return self.now


def test_a_shape_quicker_than_a_wake_up_stays_serial_untried(monkeypatch):
    numba.set_num_threads(2)
    kernel = activation._relu_forward
    x = np.linspace(-1, 1, 2 * 4321)[::2]  # float64 every other number: a layout no other test uses
    out = np.empty(2 * x.size)[::2]
    key = threads.shape_key((x, out), 2)
    handed_over = []
    monkeypatch.setattr(threads, "in_parts", lambda work, n_parts: handed_over.append(n_parts))
    quick = threads.QUICK_SECONDS / 2
    clock = ScriptedClock([1.0] * (threads.LOOKS - 1) + [quick])  # the first look compiles
    monkeypatch.setattr(threads, "time", clock)
    for _ in range(threads.LOOKS):
        kernel(x, out)
    assert key in kernel.quick
    for _ in range(threads.CALLS_TO_CHOOSE):  # no more timing, and never the threads
        kernel(x, out)
    assert clock.durations == []
    assert key not in kernel.choices
    assert handed_over == []
    assert np.array_equal(out, np.maximum(x, 0))


def test_a_choice_is_timed_afresh_when_it_turns_slow_or_old(monkeypatch):
    numba.set_num_threads(2)
    kernel = activation._relu_forward
    x = np.linspace(-1, 1, 34567, dtype=np.float32)  # a size no other test uses
    out = np.empty_like(x)
    key = threads.shape_key((x, out), 2)
    looks = [2.0] * threads.LOOKS  # serial calls of a new shape, too slow to stay serial untried
    trials = looks + [1.0, 2.0] * threads.TRIALS  # then turns: threads 1 s, serial 2 s
    slow = 2.5  # seconds: threads now slower than serial was in the trials
    strikes_then_usual = [slow] * (threads.STRIKES - 1) + [1.9]
    clock = ScriptedClock(trials + strikes_then_usual + [slow] * threads.STRIKES)
    monkeypatch.setattr(threads, "time", clock)
    for _ in range(threads.CALLS_TO_CHOOSE):
        kernel(x, out)
    assert kernel.choices[key].way == "threads"
    for _ in range(threads.STRIKES):  # slow, slow, then below 2 s: the strikes start again
        kernel(x, out)
    for _ in range(threads.STRIKES - 1):
        kernel(x, out)
        assert kernel.choices[key].way == "threads"
    kernel(x, out)
    assert key not in kernel.choices
    assert clock.durations == []

    # A choice lasts FIRST_CHOICE_CALLS calls, twice as many each time the same way wins again
    # (up to CHOICE_CALLS), and FIRST_CHOICE_CALLS again when the other way wins. (Threads won
    # before the strikes above: winning again, they keep the doubled, capped count.)
    monkeypatch.setattr(threads, "FIRST_CHOICE_CALLS", 2)
    monkeypatch.setattr(threads, "CHOICE_CALLS", 4)
    serial_wins = looks + [2.0, 1.0] * threads.TRIALS
    for trial_times, way, lasts in [
        (trials, "threads", 4),
        (serial_wins, "serial", 2),
        (serial_wins, "serial", 4),
        (serial_wins, "serial", 4),
        (trials, "threads", 2),
    ]:
        clock.durations = trial_times + [0.5] * lasts
        for _ in range(threads.CALLS_TO_CHOOSE + lasts - 1):
            kernel(x, out)
        assert kernel.choices[key].way == way
        assert kernel.choices[key].calls == lasts
        kernel(x, out)
        assert key not in kernel.choices
        assert clock.durations == []
    assert np.array_equal(out, np.maximum(x, 0))


def test_after_settled_calls_the_chosen_way_runs_4_first_choices_untimed(monkeypatch):
    """What the benchmarks warm up with: past SETTLED_CALLS calls of a shape, a training loop's
    steady state, with no trial of the slower way for 4 * FIRST_CHOICE_CALLS calls."""
    numba.set_num_threads(2)
    kernel = activation._relu_forward
    x = np.linspace(-1, 1, 45678, dtype=np.float32)  # a size no other test uses
    out = np.empty_like(x)
    key = threads.shape_key((x, out), 2)
    # Each timing: LOOKS serial calls, then turns: threads 1 s, serial 2 s.
    threads_win = [2.0] * threads.LOOKS + [1.0, 2.0] * threads.TRIALS
    chosen = [0.5]  # a call of the chosen way, faster than the other was: no strike
    durations = threads_win
    durations += chosen * threads.FIRST_CHOICE_CALLS + threads_win
    durations += chosen * 2 * threads.FIRST_CHOICE_CALLS + threads_win
    clock = ScriptedClock(durations + chosen * 4 * threads.FIRST_CHOICE_CALLS)
    monkeypatch.setattr(threads, "time", clock)
    for _ in range(threads.SETTLED_CALLS):
        kernel(x, out)
    record = kernel.choices[key]
    assert (record.way, record.calls_left) == ("threads", 4 * threads.FIRST_CHOICE_CALLS)
    for _ in range(4 * threads.FIRST_CHOICE_CALLS - 1):
        kernel(x, out)
        assert kernel.choices[key] is record
    assert np.array_equal(out, np.maximum(x, 0))


def test_one_thread_always_runs_the_kernel_whole():
    kernel = activation._relu_backward
    dout = np.ones(23456, np.float32)  # a size no other test uses
    out, dx = np.ones_like(dout), np.empty_like(dout)
    numba.set_num_threads(1)
    try:
        for _ in range(4 * threads.TRIALS):
            kernel(dout, out, dx)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert threads.shape_key((dout, out, dx), 1) not in kernel.choices
    assert np.array_equal(dx, dout)


def test_always_takes_only_the_two_ways():
    with pytest.raises(ValueError, match="way"), always("fast"):
        pass
    with pytest.raises(TypeError, match=r"way must be one of .* got NoneType"), always(None):
        pass


def test_no_kernel_runs_numba_parallel_loops():
    """Every kernel reaches the other cores in parts, on tinycnn's own threads (parts_if_faster):
    a `parallel=True` kernel would wake numba's pool, twice per loop, on every call, however small
    its work, and compile at several times the cost."""
    parallel = []
    for module_info in pkgutil.iter_modules(tinycnn.kernels.__path__, "tinycnn.kernels."):
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            for dispatcher in (value, getattr(value, "py_func", None)):
                if getattr(dispatcher, "targetoptions", {}).get("parallel"):
                    parallel.append(f"{module_info.name}.{name}")
    assert not parallel
    assert len(threads.KERNELS) >= 17  # every kernel that can use both cores is wrapped


def test_in_parts_runs_every_part_once_and_nests_without_waiting_for_itself():
    numba.set_num_threads(2)
    done = []
    threads.in_parts(done.append, 3)  # maybe more parts than helpers: one then does several
    assert sorted(done) == [0, 1, 2]

    def nested(part):  # a part that itself runs in parts, or side by side, on a helper thread
        inner = []
        threads.in_parts(inner.append, 2)
        first, second = threads.side_by_side(lambda: part, lambda: -part)
        done.append((part, sorted(inner), first, second))

    done.clear()
    caller = threading.Thread(target=threads.in_parts, args=(nested, 2), daemon=True)
    caller.start()
    caller.join(timeout=30)
    assert not caller.is_alive(), "a helper waited for itself"
    assert sorted(done) == [(0, [0, 1], 0, 0), (1, [0, 1], 1, -1)]


def test_a_failing_part_is_raised_after_every_part_is_done():
    numba.set_num_threads(2)
    finished = []

    def work(part):
        if part == 0:  # on the helper thread
            raise ValueError("part 0 failed")
        finished.append(part)

    with pytest.raises(ValueError, match="part 0 failed"):
        threads.in_parts(work, 2)
    assert finished == [1]


def test_every_part_is_done_before_a_helper_s_error_is_raised():
    numba.set_num_threads(2)
    finished = []

    def work(part):
        if part == 0:
            raise ValueError("part 0 failed")
        time.sleep(0.05)  # the other parts end later than the failing one
        finished.append(part)

    with pytest.raises(ValueError, match="part 0 failed"):
        threads.in_parts(work, 4)  # maybe more parts than helpers: one then does several
    assert sorted(finished) == [1, 2, 3]


def test_threads_that_hand_over_at_once_each_get_every_part_done():
    """Two threads calling in_parts together: one hands its parts over, the other, finding the
    helpers taken, runs its parts itself; neither waits for the other's parts."""
    numba.set_num_threads(2)
    done = {name: [] for name in ("first", "second")}
    start = threading.Barrier(2)

    def calls(name):
        start.wait()
        for _ in range(200):
            threads.in_parts(done[name].append, 2)

    callers = [threading.Thread(target=calls, args=(name,)) for name in done]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=30)
    assert not any(caller.is_alive() for caller in callers)
    for parts in done.values():
        assert sorted(parts) == [0] * 200 + [1] * 200


@pytest.mark.parametrize("helper_spins", [0, 10**8])
def test_a_helper_takes_each_hand_over_whether_it_watched_for_it_or_slept(
    monkeypatch, helper_spins
):
    """Hand-overs back to back, and after pauses longer than a helper's watch (0 reads: it
    sleeps at once; 10**8 reads, about 30 ms: it is still watching): every part is done once,
    part 0 on a helper thread."""
    monkeypatch.setattr(threads, "HELPER_SPINS", helper_spins)
    threads.in_parts(lambda part: None, 2)  # the helper's next watch reads helper_spins
    done = []

    def work(part):
        done.append((part, threads._on_a_helper()))

    def hand_overs():
        for pause in [0.0, 0.002, 0.0, 0.0005] * 25:
            time.sleep(pause)
            threads.in_parts(work, 2)

    caller = threading.Thread(target=hand_overs)
    caller.start()
    caller.join(timeout=30)
    assert not caller.is_alive()
    assert sorted(done) == [(0, True)] * 100 + [(1, False)] * 100


def test_a_ctrl_c_while_waiting_is_raised_after_every_helper_is_done():
    class Helper:
        def __init__(self, interruptions):
            self.interruptions, self.waited = interruptions, False

        def wait(self):
            if self.interruptions:
                self.interruptions -= 1
                raise KeyboardInterrupt
            self.waited = True
            return None

    helpers = [Helper(2), Helper(0)]
    with pytest.raises(KeyboardInterrupt):
        threads._wait_for(helpers)
    assert all(helper.waited for helper in helpers)


def test_a_waiting_caller_sees_a_count_another_thread_raises():
    """_wait_for_count sees another thread's store while it waits: it reads memory on every
    turn (an atomic load, which the compiler may not keep in a register), and returns at once
    rather than after its 10**10 turns (seconds)."""
    counts = np.zeros(1, np.int64)
    assert threads._wait_for_count(counts, 0, 1)
    assert not threads._wait_for_count(counts, 1, 1000)
    raiser = threading.Timer(0.01, counts.__setitem__, (0, 1))
    raiser.start()
    started = time.perf_counter()
    assert threads._wait_for_count(counts, 1, 10**10)
    assert time.perf_counter() - started < 1.0
    raiser.join()


def test_side_by_side_on_one_numba_thread_runs_both_here():
    numba.set_num_threads(1)
    try:
        ran_on = threads.side_by_side(threading.current_thread, threading.current_thread)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert ran_on == (threading.current_thread(), threading.current_thread())
    numba.set_num_threads(2)
    first, second = threads.side_by_side(threading.current_thread, threading.current_thread)
    assert first.name.startswith(threads.HELPER_PREFIX) and second is threading.current_thread()
