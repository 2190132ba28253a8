"""The layers of a CNN, each a forward/backward pair.

Every layer follows one contract, declared on `Layer` and as in CS231n's `layers.py`:

- `forward(x) -> out` computes the output and keeps in a cache what backward will need.
- `backward(dout, input_grad=True) -> dx` takes dL/dout, returns dL/dx, and writes dL/dparam into
  `layer.grads` (same keys as `layer.params`). Grads are overwritten on every call, not
  accumulated, and `dout` is never modified. With input_grad=False only the grads are computed
  and None is returned (a network's first layer, whose dL/dx nobody uses). Backward uses up the
  cache, as PyTorch's backward frees its graph: one backward per forward.
- `params` holds the trainable arrays, `state` the non-trainable ones (running statistics, say);
  `param_shapes()` and `state_shapes()` say which arrays, of which shapes, the layer needs, and
  every forward and backward checks them before a kernel reads them.
- `get_config()` gives the constructor arguments (JSON-serialisable) and `from_config(config)`
  builds the layer again without drawing any weights, for `load` to fill in.

Layers check their arguments and shapes before any kernel runs, then hand contiguous arrays of
the right dtype to the kernels in `tinycnn.kernels`, whose public functions check them once more
(`kernels/arguments.py`) before their numba loops, which assume valid input.

Every subclass registers itself in `Layer.registry` when it is defined: tinycnn's own layers under
their class name ("Conv2D"), any other under "module.QualName", so that a user's class named like a
built-in never loads as the built-in. `save`, `load`, `to_torch` and the package's exports all
read the registry: adding a layer is writing its class, nothing more.
"""

import contextvars
import math

import numpy as np

from tinycnn import checks
from tinycnn.checks import (
    flag,
    float_array,
    float_dtype,
    non_negative_int,
    positive_int,
    real_number,
)
from tinycnn.functional import sigmoid
from tinycnn.kernels import (
    activation,
    arguments,
    batchnorm,
    batchnorm_pool,
    conv_pool,
    dense,
    pool,
    roads,
)

_WITHOUT_WEIGHTS = contextvars.ContextVar("tinycnn_without_weights", default=False)
"""True while `Layer.from_config` builds a layer: `initialise` then leaves params and state
empty."""


class Layer:
    """Base class of every layer: the contract above, a training/evaluation switch, the checks.

    A layer with parameters (or state) defines `param_shapes()` (`state_shapes()`), draws its
    initial arrays in `init_params(rng)` (`init_state()`), keeps its dtype as `self.dtype`, and
    calls `self.initialise(rng)` at the end of `__init__`.
    """

    registry = {}
    """Every layer class by its type name (see the module docstring); save/load read it."""

    elementwise = False
    """True for layers whose output has the shape of their input (activations, Dropout)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.type_name = _type_name(cls)
        Layer.registry[cls.type_name] = cls

    def __init__(self):
        self.params = {}
        self.grads = {}
        self.state = {}
        self.training = True
        self._cache = None

    def forward(self, x):
        """x (N, ...) -> out (N, ...); keeps what backward needs."""
        raise NotImplementedError(f"{type(self).__name__} must define forward(x)")

    def backward(self, dout, input_grad=True):
        """dL/dout (the shape of the last output) -> dL/dx (the shape of the last input), or None
        if not input_grad; fills `grads` for every param."""
        raise NotImplementedError(f"{type(self).__name__} must define backward(dout, input_grad)")

    def param_shapes(self):
        """{name: shape} of the trainable arrays this layer needs in `params`."""
        return {}

    def state_shapes(self):
        """{name: shape} of the non-trainable arrays this layer needs in `state`."""
        return {}

    def init_params(self, rng):
        """The initial params, drawn from the numpy Generator rng."""
        return {}

    def init_state(self):
        """The initial state arrays."""
        return {}

    def initialise(self, rng):
        """Fill params and state with their initial values (skipped inside `from_config`)."""
        rng = checks.rng(rng)
        if _WITHOUT_WEIGHTS.get():
            return
        # Counted before anything is drawn: he_normal draws float64 numbers, then casts them.
        sizes = {**self.param_shapes(), **self.state_shapes()}
        count = sum(math.prod(shape) for shape in sizes.values())
        itemsize = getattr(self, "dtype", np.dtype(np.float64)).itemsize
        checks.fits_in_memory(
            count * (8 + itemsize), f"{self!r}'s size", f"{count:,} params and state numbers"
        )
        self.params = self.init_params(rng)
        self.state = self.init_state()

    @classmethod
    def from_config(cls, config):
        """The layer built from `get_config()`'s dict, its params and state left empty: nothing is
        drawn or allocated, whatever sizes the config declares. TypeError/ValueError for a config
        the constructor refuses."""
        if not isinstance(config, dict) or not all(isinstance(key, str) for key in config):
            raise TypeError(f"config must be a dict of constructor arguments, got {config!r}")
        token = _WITHOUT_WEIGHTS.set(True)
        try:
            return cls(**config)
        finally:
            _WITHOUT_WEIGHTS.reset(token)

    def get_config(self):
        """The constructor arguments, JSON-serialisable, so that `save`/`load` can rebuild it."""
        return {}

    def parameters(self):
        """Yield (layer, name, param, grad) for each parameter; grad is None before backward."""
        for name, param in self.params.items():
            yield self, name, param, self.grads.get(name)

    def check_arrays(self):
        """Raise unless params and state hold exactly the arrays that param_shapes() and
        state_shapes() name, each a numpy array of its shape and of the layer's dtype.

        Layers call it on every forward and backward, before a kernel reads an array: a
        replaced params["W"] of another shape would otherwise be read past its end.
        """
        dtype = getattr(self, "dtype", None)
        allowed = checks.FLOAT_DTYPES if dtype is None else (dtype,)
        for kind, arrays, shapes in (
            ("params", self.params, self.param_shapes()),
            ("state", self.state, self.state_shapes()),
        ):
            if arrays.keys() != shapes.keys():
                raise ValueError(
                    f"{self!r}: {kind} must hold exactly {sorted(shapes)}, got {sorted(arrays)}"
                )
            for name, shape in shapes.items():
                array = arrays[name]
                if not isinstance(array, np.ndarray):
                    raise TypeError(
                        f"{self!r}: {kind}[{name!r}] must be a numpy array, "
                        f"got {type(array).__name__}"
                    )
                if array.dtype not in allowed:
                    raise TypeError(
                        f"{self!r}: {kind}[{name!r}] must be of dtype "
                        f"{' or '.join(map(str, allowed))}, got {array.dtype}"
                    )
                if array.shape != shape:
                    raise ValueError(
                        f"{self!r}: {kind}[{name!r}] must have shape {shape}, got {array.shape}"
                    )

    def torch_module(self, torch, dtype):
        """The equivalent `torch.nn` module, weights copied (see `tinycnn.interop`)."""
        raise NotImplementedError(f"{type(self).__name__} has no PyTorch equivalent")

    def __repr__(self):
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"

    def drop_cache(self):
        """Forget what the last forward kept for backward: a prediction has no backward
        (Sequential.raw_output calls this after every batch)."""
        self._cache = None

    def _cached(self):
        """What the last forward kept for backward; `_check_dout` uses it up."""
        if self._cache is None:
            raise ValueError(
                f"{type(self).__name__}.backward called before forward: there is no cached "
                "input to differentiate at (each backward uses up what its forward kept)"
            )
        return self._cache

    def _check_dout(self, dout, out_shape, dtype, input_grad):
        """dout checked against the last forward output, and input_grad a bool (a string such as
        "no" would otherwise count as True); then the forward's cache is used up.

        Backward uses the cache once, as PyTorch's backward frees its graph, so that a layer's
        activations are freed as soon as its backward is done instead of living on until the
        next forward: lesson 4's training step at batch 64 peaked at 39 MiB instead of 61
        (benchmarks/bench_train_step.py, AMD EPYC Zen 4). Only a call that passes the checks
        uses it: after a refused dout, the corrected call still finds it."""
        flag(input_grad, "input_grad")
        dout = float_array(dout, "dout")
        if dout.shape != out_shape:
            raise ValueError(
                f"{type(self).__name__}.backward: dout must have the shape of the "
                f"last forward output {out_shape}, got {dout.shape}"
            )
        dout = np.ascontiguousarray(dout, dtype=dtype)
        self._cache = None
        return dout


def _type_name(cls):
    """ "Conv2D" for tinycnn's own layers, "module.QualName" for any other."""
    if cls.__module__ == "tinycnn" or cls.__module__.startswith("tinycnn."):
        return cls.__name__
    return f"{cls.__module__}.{cls.__qualname__}"


def _images(layer, x, channels):
    """x checked as a float batch of images (N, C, H, W) with the `channels` that `layer` takes."""
    x = float_array(x, "x", 4, "(N, C, H, W)")
    if x.shape[1] != channels:
        raise ValueError(
            f"x must have {channels} channel{'s' * (channels != 1)} (x.shape[1]) for {layer!r}, "
            f"got shape {x.shape}"
        )
    return x


def he_normal(shape, fan_in, dtype, rng):
    """He initialisation: N(0, 2 / fan_in), which keeps activations' variance steady through
    ReLUs. rng is a numpy Generator, an int seed or None, as for the layers."""
    shape = checks.shape(shape, "shape")
    fan_in = positive_int(fan_in, "fan_in")
    dtype, rng = float_dtype(dtype), checks.rng(rng)
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


def _copy_to_torch(torch, parameter, array):
    """parameter <- array, copied: the two models do not share memory."""
    with torch.no_grad():
        parameter.copy_(torch.from_numpy(np.ascontiguousarray(array)))


class Conv2D(Layer):
    """2-D convolution (cross-correlation, as in PyTorch: the kernel is not flipped).

    x: (N, C_in, H, W), W: (C_out, C_in, k, k), b: (C_out,) -> out: (N, C_out, H_out, W_out),
    H_out = (H + 2p - k) // s + 1 (likewise W_out), with x zero-padded by p on each side:

        out[n, f, i, j] = b[f] + sum_{c, u, v} W[f, c, u, v] * x_pad[n, c, s*i + u, s*j + v]

    backward: dW[f, c, u, v] = sum_{n, i, j} dout[n, f, i, j] * x_pad[n, c, s*i + u, s*j + v]
              db[f]          = sum_{n, i, j} dout[n, f, i, j]
              dx_pad[n, c, s*i + u, s*j + v] += W[f, c, u, v] * dout[n, f, i, j], then unpadded.

    The sums run in numba's direct loops (`tinycnn.kernels.conv`), except where two other roads
    are faster: for 3x3 kernels with stride 1 and padding 1, on maps of 8x8 or less or with many
    channels, Winograd's algorithm (`tinycnn.kernels.winograd`), the same function with fewer
    multiplications; for 1x1 kernels with stride 1 and no padding on maps of 8x8 or less, one
    matrix product per sample (`tinycnn.kernels.pointwise_blas`). All three are equal to
    rounding; `tinycnn.kernels.roads` chooses, by shapes alone.
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        *,
        dtype=np.float32,
        rng=None,
    ):
        super().__init__()
        self.in_channels = positive_int(in_channels, "in_channels")
        self.out_channels = positive_int(out_channels, "out_channels")
        self.kernel_size = positive_int(kernel_size, "kernel_size")
        self.stride = positive_int(stride, "stride", maximum=checks.MAX_SIZE)
        self.padding = non_negative_int(padding, "padding")
        if self.padding >= self.kernel_size:
            raise ValueError(
                f"padding must be smaller than kernel_size {self.kernel_size}, got {self.padding} "
                "(a wider padding adds outputs that see nothing but zeros)"
            )
        self.dtype = float_dtype(dtype)
        self.initialise(rng)

    def param_shapes(self):
        k = self.kernel_size
        return {"W": (self.out_channels, self.in_channels, k, k), "b": (self.out_channels,)}

    def init_params(self, rng):
        shapes = self.param_shapes()
        fan_in = self.in_channels * self.kernel_size**2
        return {
            "W": he_normal(shapes["W"], fan_in, self.dtype, rng),
            "b": np.zeros(shapes["b"], dtype=self.dtype),
        }

    def get_config(self):
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "padding": self.padding,
            "dtype": self.dtype.name,
        }

    def __repr__(self):
        dtype = "" if self.dtype == np.float32 else f", dtype={self.dtype.name}"
        return (
            f"Conv2D({self.in_channels}, {self.out_channels}, {self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}{dtype})"
        )

    def forward(self, x):
        x = self._input(x)
        W, b = self.params["W"], self.params["b"]  # an empty batch: the kernels give empty results
        out, kept = roads.conv2d_forward(x, W, b, self.stride, self.padding)
        # What the road keeps (x's planes, Winograd's tiles, ...) holds all of x that backward
        # reads: where it exists, x need not be kept (so the previous layer's output can be
        # freed), only its shape.
        self._cache = (x.shape if kept is not None else x, kept, out.shape)
        return out

    def _input(self, x):
        """x checked (images of in_channels channels, the kernel inside them once padded) and
        the layer's arrays too, as a C-contiguous array of the layer's dtype."""
        x = _images(self, x, self.in_channels)
        self.check_arrays()
        padded_h, padded_w = x.shape[2] + 2 * self.padding, x.shape[3] + 2 * self.padding
        if min(padded_h, padded_w) < self.kernel_size:
            raise ValueError(
                f"kernel_size {self.kernel_size} is larger than the padded input "
                f"{padded_h}x{padded_w} (x of shape {x.shape}, padding {self.padding})"
            )
        return np.ascontiguousarray(x, dtype=self.dtype)

    def backward(self, dout, input_grad=True):
        """dL/dout -> dL/dx, and grads["W"], grads["b"]; None instead of dL/dx if not
        input_grad (a first layer: that skips a whole convolution)."""
        x, kept, out_shape = self._cached()  # x, or its shape next to what stands for it
        self.check_arrays()
        dout = self._check_dout(dout, out_shape, self.dtype, input_grad)
        dx, self.grads["W"], self.grads["b"] = roads.conv2d_backward(
            x, dout, self.params["W"], self.stride, self.padding, kept, input_grad
        )
        return dx

    def torch_module(self, torch, dtype):
        module = torch.nn.Conv2d(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            dtype=dtype,
        )
        _copy_to_torch(torch, module.weight, self.params["W"])
        _copy_to_torch(torch, module.bias, self.params["b"])
        return module


class MaxPool2D(Layer):
    """Max pooling over k x k windows with stride s (default s = k), no padding.

    x: (N, C, H, W) -> out: (N, C, H_out, W_out), H_out = floor((H - k) / s) + 1 as in PyTorch:

        out[n, c, i, j] = max_{u, v < k} x[n, c, s*i + u, s*j + v]

    backward: each dout[n, c, i, j] goes to the window's first maximum (row-major order) and
    nowhere else; where windows overlap (s < k), what reaches one input adds up.
    """

    def __init__(self, kernel_size, stride=None):
        super().__init__()
        self.kernel_size, self.stride = _pooling(kernel_size, stride)

    def get_config(self):
        return {"kernel_size": self.kernel_size, "stride": self.stride}

    def forward(self, x):
        x = float_array(x, "x", 4, "(N, C, H, W)")
        _check_window_fits(x, self.kernel_size)
        x = np.ascontiguousarray(x)
        if x.size == 0:  # an empty batch (or no channels): nothing for the kernel to loop over
            out_shape = arguments.pooled_output(x.shape, self.kernel_size, self.stride)
            out, argmax = np.zeros(out_shape, dtype=x.dtype), None
        else:
            out, argmax = pool.maxpool2d_forward(x, self.kernel_size, self.stride)
        self._cache = (x.shape, x.dtype, argmax, out.shape)
        return out

    def backward(self, dout, input_grad=True):
        input_shape, dtype, argmax, out_shape = self._cached()
        dout = self._check_dout(dout, out_shape, dtype, input_grad)
        if not input_grad:
            return None
        if argmax is None:
            return np.zeros(input_shape, dtype=dtype)
        return pool.maxpool2d_backward(dout, argmax, input_shape, self.kernel_size, self.stride)

    def torch_module(self, torch, dtype):
        return torch.nn.MaxPool2d(self.kernel_size, stride=self.stride)


def _pooling(kernel_size, stride, prefix=""):
    """(kernel_size, stride) of a pooling layer: positive integers, stride None meaning
    kernel_size (windows side by side). prefix: the arguments' names' ("pool_": pool_size,
    pool_stride)."""
    size_name = f"{prefix}size" if prefix else "kernel_size"
    kernel_size = positive_int(kernel_size, size_name, maximum=checks.MAX_SIZE)
    if stride is None:
        return kernel_size, kernel_size
    return kernel_size, positive_int(stride, f"{prefix}stride", maximum=checks.MAX_SIZE)


def _check_window_fits(x, kernel_size):
    """ValueError unless a kernel_size x kernel_size window fits x's images."""
    if min(x.shape[2], x.shape[3]) < kernel_size:
        raise ValueError(
            f"kernel_size {kernel_size} is larger than the input "
            f"{x.shape[2]}x{x.shape[3]} (x of shape {x.shape})"
        )


class ReLUMaxPool2D(MaxPool2D):
    """ReLU then max pooling as one layer: out = maxpool(max(0, x)), computed as max(0, maxpool(x)).

    The two orders give the same numbers, because a ReLU never changes which value is largest:
    where a window's maximum is positive, it is the same value at the same place either way;
    where it is not, both give 0, and no gradient reaches the window. So the ReLU runs on the
    pooled map, a quarter of the numbers for 2x2 windows, forward and backward:

        backward: dp = dout * [out > 0], then MaxPool2D's backward of dp

    The tests hold it equal to ReLU then MaxPool2D, bit for bit, gradients included. It makes
    lesson 4's training step about a tenth faster (benchmarks/README.md gives the figures).
    """

    def forward(self, x):
        pooled = super().forward(x)
        out = activation.relu_forward(pooled)
        self._cache = (self._cache, out)  # the pooling's cache, and the ReLU's
        return out

    def backward(self, dout, input_grad=True):
        pool_cache, out = self._cached()
        dout = self._check_dout(dout, out.shape, out.dtype, input_grad)
        if not input_grad:
            return None
        self._cache = pool_cache
        return super().backward(activation.relu_backward(dout, out))

    def torch_module(self, torch, dtype):
        return torch.nn.Sequential(torch.nn.ReLU(), super().torch_module(torch, dtype))


class ConvReLUMaxPool2D(Conv2D):
    """Conv2D, ReLU and MaxPool2D(pool_size, pool_stride) as one layer (lesson 4's blocks):

        out = maxpool(max(0, conv(x))),  computed as max(0, maxpool(conv(x)))  (ReLUMaxPool2D)

    x: (N, C_in, H, W) -> out: (N, C_out, H_p, W_p), with W, b, stride and padding as in Conv2D
    and the pooling's windows on the convolution's output c (N, C_out, H_c, W_c), pool_stride
    None meaning pool_size. backward: dc = dout where out > 0, at its window's first maximum
    (0 elsewhere), then Conv2D's backward with dc.

    The same parameters and numbers as Conv2D then ReLUMaxPool2D, bit for bit, gradients
    included, wherever both take the same road. For stride 1 and 2x2 windows of stride 2
    (`tinycnn.kernels.conv_pool`: lesson 4's blocks), c is never written to memory: the
    convolution's direct loops pool their sums while they are still in the cache, and the
    backward unpools dout straight into the layout the convolution's backward reads (without
    the input gradient, into the weight gradient's own blocks: no layout at all). (Where
    Conv2D would take Winograd's road, this pass rounds as the direct loops do.) Elsewhere it
    runs the two layers' kernels one after the other.
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        pool_size=2,
        pool_stride=None,
        *,
        dtype=np.float32,
        rng=None,
    ):
        self.pool_size, self.pool_stride = _pooling(pool_size, pool_stride, "pool_")
        self._pooling = ReLUMaxPool2D(self.pool_size, self.pool_stride)  # where not fused
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dtype=dtype, rng=rng
        )

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "pool_stride": self.pool_stride,
        }

    def __repr__(self):
        dtype = "" if self.dtype == np.float32 else f", dtype={self.dtype.name}"
        return (
            f"ConvReLUMaxPool2D({self.in_channels}, {self.out_channels}, {self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, pool_size={self.pool_size}, "
            f"pool_stride={self.pool_stride}{dtype})"
        )

    def convolution(self):
        """The block's convolution alone, as a Conv2D with these very weight arrays (training
        either trains both): its feature maps before the ReLU and the pooling."""
        convolution = Conv2D.from_config(super().get_config())
        convolution.params = self.params
        return convolution

    def forward(self, x):
        x = self._input(x)
        W, b = self.params["W"], self.params["b"]
        s, p = self.stride, self.padding
        conv_shape = arguments.convolution_output(
            x.shape, self.out_channels, self.kernel_size, s, p
        )
        if min(conv_shape[2:]) < self.pool_size:
            raise ValueError(
                f"pool_size {self.pool_size} is larger than the convolution's output "
                f"{conv_shape[2]}x{conv_shape[3]} (x of shape {x.shape})"
            )
        if x.shape[0] and conv_pool.chosen_for(
            x.shape, W.shape, s, p, self.pool_size, self.pool_stride
        ):
            out, argmax, planes = conv_pool.conv_relu_maxpool_forward(x, W, b, p)
            self._cache = (out.shape, "fused", (x.shape, planes, argmax, out))
            return out
        out = self._pooling.forward(super().forward(x))  # the two layers' own passes
        self._cache = (out.shape, "layers", self._cache)  # Conv2D's cache, for its backward
        return out

    def backward(self, dout, input_grad=True):
        """dL/dout -> dL/dx, and grads["W"], grads["b"]; None instead of dL/dx if not
        input_grad."""
        out_shape, way, cached = self._cached()
        self.check_arrays()
        dout = self._check_dout(dout, out_shape, self.dtype, input_grad)
        if way == "layers":
            self._cache = cached
            return super().backward(self._pooling.backward(dout), input_grad)
        x_shape, planes, argmax, out = cached
        dx, self.grads["W"], self.grads["b"] = conv_pool.conv_relu_maxpool_backward(
            x_shape, dout, out, argmax, self.params["W"], self.padding, planes, input_grad
        )
        return dx

    def drop_cache(self):
        super().drop_cache()
        self._pooling.drop_cache()

    def torch_module(self, torch, dtype):
        return torch.nn.Sequential(
            super().torch_module(torch, dtype),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(self.pool_size, stride=self.pool_stride),
        )


class Dense(Layer):
    """Fully connected layer.

    x: (N, in), W: (in, out), b: (out,) -> out = x @ W + b: (N, out)
    backward: dx = dout @ W.T,  dW = x.T @ dout,  db = sum_n dout[n]
    (kernels/dense.py: each product in two halves, one per core, where it is large enough)
    """

    def __init__(self, in_features, out_features, *, dtype=np.float32, rng=None):
        super().__init__()
        self.in_features = positive_int(in_features, "in_features")
        self.out_features = positive_int(out_features, "out_features")
        self.dtype = float_dtype(dtype)
        self.initialise(rng)

    def param_shapes(self):
        return {"W": (self.in_features, self.out_features), "b": (self.out_features,)}

    def init_params(self, rng):
        shapes = self.param_shapes()
        return {
            "W": he_normal(shapes["W"], self.in_features, self.dtype, rng),
            "b": np.zeros(shapes["b"], dtype=self.dtype),
        }

    def get_config(self):
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "dtype": self.dtype.name,
        }

    def __repr__(self):
        dtype = "" if self.dtype == np.float32 else f", dtype={self.dtype.name}"
        return f"Dense({self.in_features}, {self.out_features}{dtype})"

    def forward(self, x):
        x = float_array(x, "x", 2, "(N, in_features): put a Flatten() before Dense")
        self.check_arrays()
        if x.shape[1] != self.in_features:
            raise ValueError(
                f"x must have {self.in_features} features (x.shape[1]) for {self!r}, "
                f"got shape {x.shape}"
            )
        x = x.astype(self.dtype, copy=False)
        out = dense.dense_forward(x, self.params["W"], self.params["b"])
        self._cache = (x, out.shape)
        return out

    def backward(self, dout, input_grad=True):
        """dL/dout -> dL/dx, and grads["W"], grads["b"]; None instead of dL/dx if not
        input_grad (see Conv2D.backward)."""
        x, out_shape = self._cached()
        self.check_arrays()
        dout = self._check_dout(dout, out_shape, self.dtype, input_grad)
        self.grads["W"], self.grads["b"], dx = dense.dense_backward(
            x, dout, self.params["W"], input_grad
        )
        return dx

    def torch_module(self, torch, dtype):
        module = torch.nn.Linear(self.in_features, self.out_features, dtype=dtype)
        # PyTorch keeps (out, in) and computes x @ weight.T + b.
        _copy_to_torch(torch, module.weight, self.params["W"].T)
        _copy_to_torch(torch, module.bias, self.params["b"])
        return module


class Flatten(Layer):
    """(N, d_1, d_2, ...) -> (N, d_1 * d_2 * ...), row-major; backward reshapes dout back."""

    def forward(self, x):
        x = float_array(x, "x", min_ndim=2, layout="(N, ...): a batch axis and at least one more")
        out = x.reshape(x.shape[0], math.prod(x.shape[1:]))  # not -1: N may be 0
        self._cache = (x.shape, out.shape, x.dtype)
        return out

    def backward(self, dout, input_grad=True):
        input_shape, out_shape, dtype = self._cached()
        dout = self._check_dout(dout, out_shape, dtype, input_grad)
        return dout.reshape(input_shape) if input_grad else None

    def torch_module(self, torch, dtype):
        return torch.nn.Flatten()


class ReLU(Layer):
    """out = max(0, x);  dx = dout * [x > 0].  (A NaN in x stays NaN, so divergence shows.)"""

    elementwise = True

    def forward(self, x):
        x = float_array(x, "x", min_ndim=1, layout="(N, ...)")
        out = activation.relu_forward(np.ascontiguousarray(x))
        self._cache = out  # out > 0 exactly where x > 0: all that backward needs
        return out

    def backward(self, dout, input_grad=True):
        out = self._cached()
        dout = self._check_dout(dout, out.shape, out.dtype, input_grad)
        return activation.relu_backward(dout, out) if input_grad else None

    def torch_module(self, torch, dtype):
        return torch.nn.ReLU()


class LeakyReLU(Layer):
    """out = x if x > 0 else a * x;  dx = dout * (1 if x > 0 else a), with 0 <= a < 1."""

    elementwise = True

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = real_number(
            negative_slope, "negative_slope", low=0.0, high=1.0, high_open=True
        )

    def get_config(self):
        return {"negative_slope": self.negative_slope}

    def forward(self, x):
        x = float_array(x, "x", min_ndim=1, layout="(N, ...)")
        positive = x > 0
        self._cache = (positive, x.dtype)  # a byte per entry: all that backward needs
        return x * self._slope(positive, x.dtype)

    def backward(self, dout, input_grad=True):
        positive, dtype = self._cached()
        dout = self._check_dout(dout, positive.shape, dtype, input_grad)
        return dout * self._slope(positive, dtype) if input_grad else None

    def _slope(self, positive, dtype):
        """1 where x > 0, else a: the mask's arithmetic is exact and, unlike np.where, does not
        branch on every entry."""
        return positive + ~positive * dtype.type(self.negative_slope)

    def torch_module(self, torch, dtype):
        return torch.nn.LeakyReLU(self.negative_slope)


class Sigmoid(Layer):
    """out = 1 / (1 + exp(-x));  dx = dout * out * (1 - out)."""

    elementwise = True

    def forward(self, x):
        x = float_array(x, "x", min_ndim=1, layout="(N, ...)")
        out = sigmoid(x)
        self._cache = (out, x.dtype)
        return out

    def backward(self, dout, input_grad=True):
        out, dtype = self._cached()
        dout = self._check_dout(dout, out.shape, dtype, input_grad)
        return dout * out * (1 - out) if input_grad else None

    def torch_module(self, torch, dtype):
        return torch.nn.Sigmoid()


class Tanh(Layer):
    """out = tanh(x);  dx = dout * (1 - out^2)."""

    elementwise = True

    def forward(self, x):
        x = float_array(x, "x", min_ndim=1, layout="(N, ...)")
        out = np.tanh(x)
        self._cache = (out, x.dtype)
        return out

    def backward(self, dout, input_grad=True):
        out, dtype = self._cached()
        dout = self._check_dout(dout, out.shape, dtype, input_grad)
        return dout * (1 - out * out) if input_grad else None

    def torch_module(self, torch, dtype):
        return torch.nn.Tanh()


class Dropout(Layer):
    """Inverted dropout: in training, each unit is kept with probability 1 - p and scaled by
    1 / (1 - p), so that evaluation (which passes x through unchanged) needs no rescaling.

    training: out = x * mask / (1 - p), mask ~ Bernoulli(1 - p);  dx = dout * mask / (1 - p)
    evaluation (`layer.training = False`, or `model.eval()`): out = x, dx = dout.
    """

    elementwise = True

    def __init__(self, p=0.5, *, rng=None):
        super().__init__()
        self.p = real_number(p, "p (the probability of dropping a unit)", 0.0, 1.0, high_open=True)
        self.rng = checks.rng(rng)

    def get_config(self):
        return {"p": self.p}

    def forward(self, x):
        x = float_array(x, "x", min_ndim=1, layout="(N, ...)")
        if not (self.training and self.p > 0):
            self._cache = (None, x.shape, x.dtype)
            return x.copy()
        keep = self.rng.random(x.shape) >= self.p
        self._cache = (keep, x.shape, x.dtype)  # the mask, a byte per entry, not its scaling
        return x * self._scale(keep, x.dtype)

    def backward(self, dout, input_grad=True):
        keep, shape, dtype = self._cached()
        dout = self._check_dout(dout, shape, dtype, input_grad)
        if not input_grad:
            return None
        return dout.copy() if keep is None else dout * self._scale(keep, dtype)

    def _scale(self, keep, dtype):
        """mask / (1 - p): 1 / (1 - p) where a unit is kept, 0 where it is dropped."""
        return keep * dtype.type(1 / (1 - self.p))

    def torch_module(self, torch, dtype):
        return torch.nn.Dropout(self.p)


class BatchNorm2D(Layer):
    """Batch normalization per channel (Ioffe and Szegedy, 2015), for x (N, C, H, W).

    training: each channel is normalised with the mean and variance of its M = N * H * W values
    in the batch, then scaled and shifted by learned γ, β (C,):

        x̂ = (x - mean_c) / sqrt(var_c + eps)        out = γ_c x̂ + β_c

    backward: dβ_c = Σ dout,  dγ_c = Σ dout x̂,
              dx = γ_c / sqrt(var_c + eps) / M * (M dout - dβ_c - x̂ dγ_c)

    Each training forward also updates the running statistics, kept in `state` (so that
    `save`/`load` keep them) and used instead of the batch's in evaluation mode, as in PyTorch:

        running_mean <- (1 - momentum) running_mean + momentum mean_c
        running_var  <- (1 - momentum) running_var  + momentum var_c * M / (M - 1)   (unbiased)

    evaluation: out = γ_c (x - running_mean_c) / sqrt(running_var_c + eps) + β_c, an affine map
    whose backward is dx = dout γ_c / sqrt(running_var_c + eps).

    The numba kernels and their NumPy twins are in `tinycnn.kernels.batchnorm`.
    """

    relu = False
    """True in BatchNormReLU2D: the kernels then apply the ReLU too."""

    def __init__(self, channels, eps=1e-5, momentum=0.1, *, dtype=np.float32):
        super().__init__()
        self.channels = positive_int(channels, "channels")
        self.eps = real_number(eps, "eps", 0.0, 1.0, low_open=True, high_open=True)
        self.momentum = real_number(momentum, "momentum", 0.0, 1.0)
        self.dtype = float_dtype(dtype)
        self.initialise(None)

    def param_shapes(self):
        return {"gamma": (self.channels,), "beta": (self.channels,)}

    def state_shapes(self):
        return {"running_mean": (self.channels,), "running_var": (self.channels,)}

    def init_params(self, rng):
        return {
            "gamma": np.ones(self.channels, dtype=self.dtype),
            "beta": np.zeros(self.channels, dtype=self.dtype),
        }

    def init_state(self):
        return {
            "running_mean": np.zeros(self.channels, dtype=self.dtype),
            "running_var": np.ones(self.channels, dtype=self.dtype),
        }

    def get_config(self):
        return {
            "channels": self.channels,
            "eps": self.eps,
            "momentum": self.momentum,
            "dtype": self.dtype.name,
        }

    def forward(self, x):
        x = _images(self, x, self.channels)
        self.check_arrays()
        x = np.ascontiguousarray(x, dtype=self.dtype)
        gamma, beta = self.params["gamma"], self.params["beta"]
        if x.size == 0:  # an empty batch: an empty output, and the statistics stay as they are
            self._cache = (x, None, None, self.training)
            return np.zeros_like(x)
        if self.training:
            count = self._values_per_channel(x)
            out, mean, inv_std = batchnorm.batchnorm_forward(
                x, gamma, beta, self.eps, relu=self.relu
            )
            self._update_running_statistics(mean, inv_std, count)
        else:
            mean, inv_std = self._running_statistics()
            out = batchnorm.batchnorm_inference(x, gamma, beta, mean, inv_std, relu=self.relu)
        self._cache = (x, mean, inv_std, self.training)
        return out

    def _values_per_channel(self, x):
        """M = N * H * W, which training mode needs to be 2 or more (a variance of one value
        is 0, and the running variance's M / (M - 1) divides by 0)."""
        count = x.shape[0] * x.shape[2] * x.shape[3]
        if count < 2:
            raise ValueError(
                f"{type(self).__name__} needs more than one value per channel in training "
                f"mode (N * H * W >= 2), got x of shape {x.shape}"
            )
        return count

    def _update_running_statistics(self, mean, inv_std, count):
        """The running statistics moved towards the batch's (see the class docstring)."""
        variance = 1.0 / inv_std**2 - self.eps
        for name, batch_value in (
            ("running_mean", mean),
            ("running_var", variance * count / (count - 1)),
        ):
            running = self.state[name]
            running += self.momentum * (batch_value - running).astype(self.dtype)

    def _running_statistics(self):
        """(mean, inv_std) (C,) float64 from the running statistics, for evaluation mode."""
        mean = self.state["running_mean"].astype(np.float64)
        return mean, 1.0 / np.sqrt(self.state["running_var"].astype(np.float64) + self.eps)

    def backward(self, dout, input_grad=True):
        """dL/dout -> dL/dx, and grads["gamma"], grads["beta"]; None instead of dL/dx if not
        input_grad."""
        x, mean, inv_std, training = self._cached()
        self.check_arrays()
        dout = self._check_dout(dout, x.shape, self.dtype, input_grad)
        gamma, beta = self.params["gamma"], self.params["beta"]
        if x.size == 0:
            dx, dgamma, dbeta = np.zeros_like(dout), np.zeros_like(gamma), np.zeros_like(gamma)
        elif training:
            dx, dgamma, dbeta = batchnorm.batchnorm_backward(
                x, dout, mean, inv_std, gamma, relu=self.relu, beta=beta
            )
        else:
            x_hat = (x - mean[:, None, None]) * inv_std[:, None, None]
            if self.relu:  # no gradient where the forward wrote 0
                dout = np.where(batchnorm.affine(x, gamma, beta, mean, inv_std) <= 0, 0, dout)
            dgamma, dbeta = (dout * x_hat).sum(axis=(0, 2, 3)), dout.sum(axis=(0, 2, 3))
            dx = dout * (gamma * inv_std).astype(self.dtype)[:, None, None]
        self.grads["gamma"] = dgamma.astype(self.dtype)
        self.grads["beta"] = dbeta.astype(self.dtype)
        return dx if input_grad else None

    def torch_module(self, torch, dtype):
        module = torch.nn.BatchNorm2d(
            self.channels, eps=self.eps, momentum=self.momentum, dtype=dtype
        )
        _copy_to_torch(torch, module.weight, self.params["gamma"])
        _copy_to_torch(torch, module.bias, self.params["beta"])
        _copy_to_torch(torch, module.running_mean, self.state["running_mean"])
        _copy_to_torch(torch, module.running_var, self.state["running_var"])
        return module


class BatchNormReLU2D(BatchNorm2D):
    """BatchNorm2D then ReLU, as one layer: out = max(0, γ_c x̂ + β_c).

    The same function, gradients, parameters and running statistics as BatchNorm2D followed by
    ReLU (the tests hold the two equal, the gradients to rounding), in fewer passes over memory.
    The kernels clamp each value as they write it; backward finds where they clamped from x, γ
    and β, which batch norm's backward reads anyway, and lets no gradient through there:

        dx = BatchNorm2D's dx for dout * [out > 0]

    Frameworks call this fusing two layers. It makes lesson 8's detector step about a tenth
    faster (`tinycnn.kernels.batchnorm` gives the figures).
    """

    relu = True

    def torch_module(self, torch, dtype):
        return torch.nn.Sequential(super().torch_module(torch, dtype), torch.nn.ReLU())


class BatchNormReLUMaxPool2D(BatchNorm2D):
    """BatchNorm2D, ReLU and MaxPool2D(kernel_size, stride) as one layer, for windows that do
    not overlap (stride >= kernel_size; stride None means kernel_size, as in MaxPool2D):

        out[n, c, i, j] = max_{u, v < k} max(0, γ_c x̂[n, c, s*i + u, s*j + v] + β_c)

    Per channel, max(0, γ_c x̂ + β_c) grows with x where γ_c > 0 and shrinks where γ_c < 0, so
    the window's largest output comes from its largest x (its smallest where γ_c < 0): the
    kernels pool x first and normalize only the values they keep, a quarter of them for 2x2
    windows. backward: dout reaches only those places, where out was not clamped, and batch
    norm's formulas (BatchNorm2D) run with that dout, 0 elsewhere.

    The same parameters, running statistics and outputs as the three layers in a row, bit for
    bit, and the same gradients to rounding (where two outputs of a window tie only after
    rounding, the gradient goes to the largest x, not to the first of them:
    `tinycnn.kernels.batchnorm_pool` has the details and the measured gain).
    """

    def __init__(
        self, channels, kernel_size=2, stride=None, eps=1e-5, momentum=0.1, *, dtype=np.float32
    ):
        self.kernel_size, stride = _pooling(kernel_size, stride)
        self.stride = arguments.stride_apart(self.kernel_size, stride)
        super().__init__(channels, eps, momentum, dtype=dtype)  # after: repr() needs them

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "stride": self.stride}

    def forward(self, x):
        x = _images(self, x, self.channels)
        self.check_arrays()
        _check_window_fits(x, self.kernel_size)
        x = np.ascontiguousarray(x, dtype=self.dtype)
        gamma, beta, k, s = self.params["gamma"], self.params["beta"], self.kernel_size, self.stride
        if x.size == 0:  # an empty batch: an empty output, and the statistics stay as they are
            self._cache = (x, None, None, None, self.training)
            return np.zeros(arguments.pooled_output(x.shape, k, s), dtype=x.dtype)
        if self.training:
            count = self._values_per_channel(x)
            out, argmax, mean, inv_std = batchnorm_pool.batchnorm_relu_maxpool_forward(
                x, gamma, beta, self.eps, k, s
            )
            self._update_running_statistics(mean, inv_std, count)
        else:
            mean, inv_std = self._running_statistics()
            out, argmax = batchnorm_pool.batchnorm_relu_maxpool_inference(
                x, gamma, beta, mean, inv_std, k, s
            )
        self._cache = (x, argmax, mean, inv_std, self.training)
        return out

    def backward(self, dout, input_grad=True):
        """dL/dout -> dL/dx, and grads["gamma"], grads["beta"]; None instead of dL/dx if not
        input_grad."""
        x, argmax, mean, inv_std, training = self._cached()
        self.check_arrays()
        out_shape = arguments.pooled_output(x.shape, self.kernel_size, self.stride)
        dout = self._check_dout(dout, out_shape, self.dtype, input_grad)
        gamma, beta = self.params["gamma"], self.params["beta"]
        if x.size == 0:
            dx, dgamma, dbeta = np.zeros_like(x), np.zeros_like(gamma), np.zeros_like(gamma)
        else:
            dx, dgamma, dbeta = batchnorm_pool.batchnorm_relu_maxpool_backward(
                x, dout, argmax, mean, inv_std, gamma, beta, self.kernel_size, self.stride, training
            )
        self.grads["gamma"] = dgamma.astype(self.dtype)
        self.grads["beta"] = dbeta.astype(self.dtype)
        return dx if input_grad else None

    def torch_module(self, torch, dtype):
        return torch.nn.Sequential(
            super().torch_module(torch, dtype),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(self.kernel_size, stride=self.stride),
        )


class GridLayout(Layer):
    """A detector's head output laid out as the grid of lecture vectors, and back.

    x (N, B * D, S_h, S_w) -> out (N, S_h, S_w, B, D), out[n, i, j, b, d] = x[n, b * D + d, i, j]:
    channel b * D + d of the 1x1-conv head is entry d of anchor b's vector in cell (row i,
    column j). backward moves dout back to the channel layout; nothing is computed.
    """

    def __init__(self, num_anchors):
        super().__init__()
        self.num_anchors = positive_int(num_anchors, "num_anchors")

    def get_config(self):
        return {"num_anchors": self.num_anchors}

    def forward(self, x):
        x = float_array(x, "x", 4, "(N, B * D, S, S)")
        if x.shape[1] % self.num_anchors or x.shape[1] == 0:
            raise ValueError(
                f"x must have a multiple of num_anchors={self.num_anchors} channels "
                f"(B vectors of D entries per cell), got shape {x.shape}"
            )
        n, channels, rows, columns = x.shape
        out = x.reshape(n, self.num_anchors, channels // self.num_anchors, rows, columns)
        out = np.ascontiguousarray(out.transpose(0, 3, 4, 1, 2))
        self._cache = (x.shape, out.shape, x.dtype)
        return out

    def backward(self, dout, input_grad=True):
        input_shape, out_shape, dtype = self._cached()
        dout = self._check_dout(dout, out_shape, dtype, input_grad)
        if not input_grad:
            return None
        return np.ascontiguousarray(dout.transpose(0, 3, 4, 1, 2)).reshape(input_shape)

    def torch_module(self, torch, dtype):
        return _torch_grid_layout(torch)(self.num_anchors)


def _torch_grid_layout(torch):
    """GridLayout as a torch.nn.Module class (made when asked for: torch is optional)."""

    class TorchGridLayout(torch.nn.Module):
        """(N, B * D, S, S) -> (N, S, S, B, D), as tinycnn's GridLayout."""

        def __init__(self, num_anchors):
            super().__init__()
            self.num_anchors = num_anchors

        def forward(self, x):
            n, channels, rows, columns = x.shape
            grouped = x.view(n, self.num_anchors, channels // self.num_anchors, rows, columns)
            return grouped.permute(0, 3, 4, 1, 2)

    return TorchGridLayout
