"""The layers of a CNN, each a forward/backward pair.

Every layer follows one contract, as in CS231n's `layers.py`:

- `forward(x) -> out` computes the output and keeps in a cache what backward will need.
- `backward(dout) -> dx` takes dL/dout, returns dL/dx, and writes dL/dparam into `layer.grads`
  (same keys as `layer.params`). Grads are overwritten on every call, not accumulated, and `dout`
  is never modified.

Layers check their arguments and shapes before any kernel runs, then hand contiguous arrays of
the right dtype to the kernels in `tinycnn.kernels`, which assume valid input.
"""

import numpy as np

from tinycnn.arguments import positive_int
from tinycnn.kernels import activation, batchnorm, conv, pool
from tinycnn.outputs import sigmoid

FLOAT_DTYPES = (np.float32, np.float64)


class Layer:
    """Base class: no parameters, a training/evaluation switch, shape checks shared by all."""

    def __init__(self):
        self.params = {}
        self.grads = {}
        self.training = True
        self._cache = None

    def parameters(self):
        """Yield (layer, name, param, grad) for each parameter; grad is None before backward."""
        for name, param in self.params.items():
            yield self, name, param, self.grads.get(name)

    def get_config(self):
        """The constructor arguments, JSON-serialisable, so that `save`/`load` can rebuild it."""
        return {}

    def __repr__(self):
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"

    def _take_cache(self):
        if self._cache is None:
            raise ValueError(f"{type(self).__name__}.backward called before forward: "
                             "there is no cached input to differentiate at")
        return self._cache

    def _check_dout(self, dout, out_shape, dtype):
        dout = _as_float_array(dout, "dout")
        if dout.shape != out_shape:
            raise ValueError(f"{type(self).__name__}.backward: dout must have the shape of the "
                             f"last forward output {out_shape}, got {dout.shape}")
        return np.ascontiguousarray(dout, dtype=dtype)


def _as_float_array(x, name):
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {x.dtype} "
                        "(convert images to floats in [0, 1] first)")
    return x


def _check_ndim(x, name, ndim, layout):
    if x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional {layout}, got shape {x.shape}")


def _check_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def _as_rng(rng):
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    if isinstance(rng, np.random.Generator):
        return rng
    raise TypeError(f"rng must be a numpy Generator, an int seed or None, got {type(rng).__name__}")


def he_normal(shape, fan_in, dtype, rng):
    """He initialisation: N(0, 2 / fan_in), which keeps activations' variance steady through ReLUs."""
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


class Conv2D(Layer):
    """2-D convolution (cross-correlation, as in PyTorch: the kernel is not flipped).

    x: (N, C_in, H, W), W: (C_out, C_in, k, k), b: (C_out,) -> out: (N, C_out, H_out, W_out),
    H_out = (H + 2p - k) // s + 1 (likewise W_out), with x zero-padded by p on each side:

        out[n, f, i, j] = b[f] + sum_{c, u, v} W[f, c, u, v] * x_pad[n, c, s*i + u, s*j + v]

    backward: dW[f, c, u, v] = sum_{n, i, j} dout[n, f, i, j] * x_pad[n, c, s*i + u, s*j + v]
              db[f]          = sum_{n, i, j} dout[n, f, i, j]
              dx_pad[n, c, s*i + u, s*j + v] += W[f, c, u, v] * dout[n, f, i, j], then unpadded.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, *,
                 dtype=np.float32, rng=None):
        super().__init__()
        self.in_channels = positive_int(in_channels, "in_channels")
        self.out_channels = positive_int(out_channels, "out_channels")
        self.kernel_size = positive_int(kernel_size, "kernel_size")
        self.stride = positive_int(stride, "stride")
        if isinstance(padding, bool) or not isinstance(padding, (int, np.integer)) or padding < 0:
            raise ValueError(f"padding must be a non-negative integer, got {padding!r}")
        self.padding = int(padding)
        self.dtype = _check_dtype(dtype)
        fan_in = self.in_channels * self.kernel_size ** 2
        shape = (self.out_channels, self.in_channels, self.kernel_size, self.kernel_size)
        self.params = {"W": he_normal(shape, fan_in, self.dtype, _as_rng(rng)),
                       "b": np.zeros(self.out_channels, dtype=self.dtype)}

    def get_config(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding,
                "dtype": self.dtype.name}

    def __repr__(self):
        dtype = "" if self.dtype == np.float32 else f", dtype={self.dtype.name}"
        return (f"Conv2D({self.in_channels}, {self.out_channels}, {self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}{dtype})")

    def forward(self, x):
        x = _as_float_array(x, "x")
        _check_ndim(x, "x", 4, "(N, C, H, W)")
        if x.shape[1] != self.in_channels:
            raise ValueError(f"x must have {self.in_channels} channels (x.shape[1]) for {self!r}, "
                             f"got shape {x.shape}")
        padded_h, padded_w = x.shape[2] + 2 * self.padding, x.shape[3] + 2 * self.padding
        if min(padded_h, padded_w) < self.kernel_size:
            raise ValueError(f"kernel_size {self.kernel_size} is larger than the padded input "
                             f"{padded_h}x{padded_w} (x of shape {x.shape}, padding {self.padding})")
        x = np.ascontiguousarray(x, dtype=self.dtype)
        out = conv.conv2d_forward(x, self.params["W"], self.params["b"], self.stride, self.padding)
        self._cache = (x, out.shape)
        return out

    def backward(self, dout, input_grad=True):
        """dL/dout -> dL/dx, and grads["W"], grads["b"]. With input_grad=False only the grads are
        computed and None is returned: a network's first layer, whose dL/dx nobody uses."""
        x, out_shape = self._take_cache()
        dout = self._check_dout(dout, out_shape, self.dtype)
        self.grads["W"], self.grads["b"] = conv.conv2d_backward_params(
            x, dout, self.kernel_size, self.stride, self.padding)
        if not input_grad:
            return None
        return conv.conv2d_backward_input(dout, self.params["W"], x.shape, self.stride,
                                          self.padding)


class MaxPool2D(Layer):
    """Max pooling over k x k windows with stride s (default s = k), no padding.

    x: (N, C, H, W) -> out: (N, C, H_out, W_out), H_out = floor((H - k) / s) + 1 as in PyTorch:

        out[n, c, i, j] = max_{u, v < k} x[n, c, s*i + u, s*j + v]

    backward: each dout[n, c, i, j] goes to the window's first maximum (row-major order) and
    nowhere else; where windows overlap (s < k), what reaches one input adds up.
    """

    def __init__(self, kernel_size, stride=None):
        super().__init__()
        self.kernel_size = positive_int(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else positive_int(stride, "stride")

    def get_config(self):
        return {"kernel_size": self.kernel_size, "stride": self.stride}

    def forward(self, x):
        x = _as_float_array(x, "x")
        _check_ndim(x, "x", 4, "(N, C, H, W)")
        if min(x.shape[2], x.shape[3]) < self.kernel_size:
            raise ValueError(f"kernel_size {self.kernel_size} is larger than the input "
                             f"{x.shape[2]}x{x.shape[3]} (x of shape {x.shape})")
        x = np.ascontiguousarray(x)
        out, argmax = pool.maxpool2d_forward(x, self.kernel_size, self.stride)
        self._cache = (x.shape, x.dtype, argmax, out.shape)
        return out

    def backward(self, dout):
        input_shape, dtype, argmax, out_shape = self._take_cache()
        dout = self._check_dout(dout, out_shape, dtype)
        return pool.maxpool2d_backward(dout, argmax, input_shape)


class Dense(Layer):
    """Fully connected layer.

    x: (N, in), W: (in, out), b: (out,) -> out = x @ W + b: (N, out)
    backward: dx = dout @ W.T,  dW = x.T @ dout,  db = sum_n dout[n]
    """

    def __init__(self, in_features, out_features, *, dtype=np.float32, rng=None):
        super().__init__()
        self.in_features = positive_int(in_features, "in_features")
        self.out_features = positive_int(out_features, "out_features")
        self.dtype = _check_dtype(dtype)
        shape = (self.in_features, self.out_features)
        self.params = {"W": he_normal(shape, self.in_features, self.dtype, _as_rng(rng)),
                       "b": np.zeros(self.out_features, dtype=self.dtype)}

    def get_config(self):
        return {"in_features": self.in_features, "out_features": self.out_features,
                "dtype": self.dtype.name}

    def __repr__(self):
        dtype = "" if self.dtype == np.float32 else f", dtype={self.dtype.name}"
        return f"Dense({self.in_features}, {self.out_features}{dtype})"

    def forward(self, x):
        x = _as_float_array(x, "x")
        _check_ndim(x, "x", 2, "(N, in_features): put a Flatten() before Dense")
        if x.shape[1] != self.in_features:
            raise ValueError(f"x must have {self.in_features} features (x.shape[1]) for {self!r}, "
                             f"got shape {x.shape}")
        x = x.astype(self.dtype, copy=False)
        out = x @ self.params["W"]
        out += self.params["b"]
        self._cache = (x, out.shape)
        return out

    def backward(self, dout, input_grad=True):
        """dL/dout -> dL/dx, and grads["W"], grads["b"]; None instead of dL/dx if not
        input_grad (see Conv2D.backward)."""
        x, out_shape = self._take_cache()
        dout = self._check_dout(dout, out_shape, self.dtype)
        self.grads["W"] = x.T @ dout
        self.grads["b"] = dout.sum(axis=0)
        return dout @ self.params["W"].T if input_grad else None


class Flatten(Layer):
    """(N, d_1, d_2, ...) -> (N, d_1 * d_2 * ...), row-major; backward reshapes dout back."""

    def forward(self, x):
        x = _as_float_array(x, "x")
        if x.ndim < 2:
            raise ValueError(f"x must have a batch axis and at least one more, got shape {x.shape}")
        out = x.reshape(x.shape[0], -1)
        self._cache = (x.shape, out.shape, x.dtype)
        return out

    def backward(self, dout):
        input_shape, out_shape, dtype = self._take_cache()
        return self._check_dout(dout, out_shape, dtype).reshape(input_shape)


class ReLU(Layer):
    """out = max(0, x);  dx = dout * [x > 0].  (A NaN in x stays NaN, so divergence shows.)"""

    def forward(self, x):
        x = _as_float_array(x, "x")
        out = activation.relu_forward(np.ascontiguousarray(x))
        self._cache = out  # out > 0 exactly where x > 0: all that backward needs
        return out

    def backward(self, dout):
        out = self._take_cache()
        return activation.relu_backward(self._check_dout(dout, out.shape, out.dtype), out)


class LeakyReLU(Layer):
    """out = x if x > 0 else a * x;  dx = dout * (1 if x > 0 else a)."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        if not 0 <= negative_slope < 1:
            raise ValueError(f"negative_slope must be in [0, 1), got {negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def get_config(self):
        return {"negative_slope": self.negative_slope}

    def forward(self, x):
        x = _as_float_array(x, "x")
        positive = x > 0
        # slope = 1 where x > 0, else a: the mask's arithmetic is exact and, unlike np.where,
        # does not branch on every entry.
        slope = positive + ~positive * x.dtype.type(self.negative_slope)
        self._cache = (slope, x.dtype)
        return x * slope

    def backward(self, dout):
        slope, dtype = self._take_cache()
        return self._check_dout(dout, slope.shape, dtype) * slope


class Sigmoid(Layer):
    """out = 1 / (1 + exp(-x));  dx = dout * out * (1 - out)."""

    def forward(self, x):
        x = _as_float_array(x, "x")
        out = sigmoid(x)
        self._cache = (out, x.dtype)
        return out

    def backward(self, dout):
        out, dtype = self._take_cache()
        return self._check_dout(dout, out.shape, dtype) * out * (1 - out)


class Tanh(Layer):
    """out = tanh(x);  dx = dout * (1 - out^2)."""

    def forward(self, x):
        x = _as_float_array(x, "x")
        out = np.tanh(x)
        self._cache = (out, x.dtype)
        return out

    def backward(self, dout):
        out, dtype = self._take_cache()
        return self._check_dout(dout, out.shape, dtype) * (1 - out * out)


class Dropout(Layer):
    """Inverted dropout: in training, each unit is kept with probability 1 - p and scaled by
    1 / (1 - p), so that evaluation (which passes x through unchanged) needs no rescaling.

    training: out = x * mask / (1 - p), mask ~ Bernoulli(1 - p);  dx = dout * mask / (1 - p)
    evaluation (`layer.training = False`, or `model.eval()`): out = x, dx = dout.
    """

    def __init__(self, p=0.5, *, rng=None):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"p (the probability of dropping a unit) must be in [0, 1), got {p!r}")
        self.p = float(p)
        self.rng = _as_rng(rng)

    def get_config(self):
        return {"p": self.p}

    def forward(self, x):
        x = _as_float_array(x, "x")
        if not (self.training and self.p > 0):
            self._cache = (None, x.shape, x.dtype)
            return x.copy()
        keep = self.rng.random(x.shape) >= self.p
        scale = keep * x.dtype.type(1 / (1 - self.p))
        self._cache = (scale, x.shape, x.dtype)
        return x * scale

    def backward(self, dout):
        scale, shape, dtype = self._take_cache()
        dout = self._check_dout(dout, shape, dtype)
        return dout.copy() if scale is None else dout * scale


LAYER_TYPES = {cls.__name__: cls for cls in
               (Conv2D, MaxPool2D, Dense, Flatten, ReLU, LeakyReLU, Sigmoid, Tanh, Dropout)}


class BatchNorm2D(Layer):
    """Batch normalization per channel (Ioffe and Szegedy, 2015), for x (N, C, H, W).

    training: each channel is normalised with the mean and variance of its N * H * W values in
    the batch, then scaled and shifted by learned γ, β (C,):

        x̂ = (x - mean_c) / sqrt(var_c + eps)        out = γ_c x̂ + β_c

    backward (M = N * H * W): dβ_c = Σ dout,  dγ_c = Σ dout x̂,
        dx = γ_c / sqrt(var_c + eps) / M * (M dout - dβ_c - x̂ dγ_c)

    Each training forward also updates the running statistics, kept in `layer.state` (so that
    `save`/`load` keep them) and used instead of the batch's in evaluation mode, as in PyTorch:

        running_mean <- (1 - momentum) running_mean + momentum mean_c
        running_var  <- (1 - momentum) running_var  + momentum var_c * M / (M - 1)   (unbiased)

    evaluation: out = γ_c (x - running_mean_c) / sqrt(running_var_c + eps) + β_c, an affine map
    whose backward is dx = dout γ_c / sqrt(running_var_c + eps).

    The numba kernels and their NumPy twins are in `tinycnn.kernels.batchnorm`.
    """

    def __init__(self, channels, eps=1e-5, momentum=0.1, *, dtype=np.float32):
        super().__init__()
        self.channels = positive_int(channels, "channels")
        if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not 0 < eps < 1:
            raise ValueError(f"eps must be a number in (0, 1), got {eps!r}")
        if not isinstance(momentum, (int, float)) or isinstance(momentum, bool) \
                or not 0 <= momentum <= 1:
            raise ValueError(f"momentum must be a number in [0, 1], got {momentum!r}")
        self.eps, self.momentum = float(eps), float(momentum)
        self.dtype = _check_dtype(dtype)
        self.params = {"gamma": np.ones(self.channels, dtype=self.dtype),
                       "beta": np.zeros(self.channels, dtype=self.dtype)}
        self.state = {"running_mean": np.zeros(self.channels, dtype=self.dtype),
                      "running_var": np.ones(self.channels, dtype=self.dtype)}

    def get_config(self):
        return {"channels": self.channels, "eps": self.eps, "momentum": self.momentum,
                "dtype": self.dtype.name}

    def forward(self, x):
        x = _as_float_array(x, "x")
        _check_ndim(x, "x", 4, "(N, C, H, W)")
        if x.shape[1] != self.channels:
            raise ValueError(f"x must have {self.channels} channels (x.shape[1]) for {self!r}, "
                             f"got shape {x.shape}")
        x = np.ascontiguousarray(x, dtype=self.dtype)
        gamma, beta = self.params["gamma"], self.params["beta"]
        if self.training:
            count = x.shape[0] * x.shape[2] * x.shape[3]
            if count < 2:
                raise ValueError(f"BatchNorm2D needs more than one value per channel in training "
                                 f"mode (N * H * W >= 2), got x of shape {x.shape}")
            out, mean, inv_std = batchnorm.batchnorm_forward(x, gamma, beta, self.eps)
            variance = 1.0 / inv_std ** 2 - self.eps
            for name, batch_value in (("running_mean", mean),
                                      ("running_var", variance * count / (count - 1))):
                running = self.state[name]
                running += self.momentum * (batch_value - running).astype(self.dtype)
        else:
            mean = self.state["running_mean"].astype(np.float64)
            inv_std = 1.0 / np.sqrt(self.state["running_var"].astype(np.float64) + self.eps)
            out = batchnorm.batchnorm_inference(x, gamma, beta, mean, inv_std)
        self._cache = (x, mean, inv_std, self.training)
        return out

    def backward(self, dout, input_grad=True):
        """dL/dout -> dL/dx, and grads["gamma"], grads["beta"]; None instead of dL/dx if not
        input_grad (see Conv2D.backward)."""
        x, mean, inv_std, training = self._take_cache()
        dout = self._check_dout(dout, x.shape, self.dtype)
        gamma = self.params["gamma"]
        if training:
            dx, dgamma, dbeta = batchnorm.batchnorm_backward(x, dout, mean, inv_std, gamma)
        else:
            x_hat = (x - mean[:, None, None]) * inv_std[:, None, None]
            dgamma, dbeta = (dout * x_hat).sum(axis=(0, 2, 3)), dout.sum(axis=(0, 2, 3))
            dx = dout * (gamma * inv_std).astype(self.dtype)[:, None, None]
        self.grads["gamma"] = dgamma.astype(self.dtype)
        self.grads["beta"] = dbeta.astype(self.dtype)
        return dx if input_grad else None


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
        x = _as_float_array(x, "x")
        _check_ndim(x, "x", 4, "(N, B * D, S, S)")
        if x.shape[1] % self.num_anchors:
            raise ValueError(f"x must have a multiple of num_anchors={self.num_anchors} channels "
                             f"(B vectors of D entries per cell), got shape {x.shape}")
        n, channels, rows, columns = x.shape
        out = x.reshape(n, self.num_anchors, channels // self.num_anchors, rows, columns)
        out = np.ascontiguousarray(out.transpose(0, 3, 4, 1, 2))
        self._cache = (x.shape, out.shape, x.dtype)
        return out

    def backward(self, dout):
        input_shape, out_shape, dtype = self._take_cache()
        dout = self._check_dout(dout, out_shape, dtype)
        return np.ascontiguousarray(dout.transpose(0, 3, 4, 1, 2)).reshape(input_shape)


LAYER_TYPES.update({cls.__name__: cls for cls in (BatchNorm2D, GridLayout)})
