"""From tinycnn to PyTorch: the same network as a `torch.nn.Sequential`, for GPUs and beyond.

    torch_model = to_torch(model)

Layer by layer, with the weights copied (the two models do not share memory afterwards):

    Conv2D(c_in, c_out, k, s, p)  ->  nn.Conv2d(c_in, c_out, k, stride=s, padding=p), same W
    MaxPool2D(k, s)               ->  nn.MaxPool2d(k, stride=s)
    Dense(n_in, n_out)            ->  nn.Linear(n_in, n_out), weight = W.T (PyTorch stores
                                      (out, in) and computes x @ weight.T + b)
    Flatten, ReLU, LeakyReLU(a), Sigmoid, Tanh, Dropout(p)  ->  their nn namesakes
    BatchNorm2D(c, eps, momentum) ->  nn.BatchNorm2d, γ and β as weight and bias, and the running
                                      mean and variance
    GridLayout(B)                 ->  a view (N, B, D, S, S) permuted to (N, S, S, B, D)

Both compute the same function in the same layout (N, C, H, W), so for the same input
`torch_model(torch.from_numpy(x))` equals `model.forward(x)` up to rounding. The dtype
(float32 or float64) is kept, and so is each layer's training/evaluation mode.

`model.output` is not carried: the PyTorch model returns the raw output, as `model.forward` does,
which is what PyTorch's losses on logits (`nn.BCEWithLogitsLoss`, `nn.CrossEntropyLoss`) expect.
For the lecture's vector, apply the map to the result: `model.output(raw.detach().numpy())`.

Two differences at the edges: Dropout draws its own random masks in each framework, and tinycnn's
ReLU maps NaN to 0 where PyTorch's keeps NaN.

PyTorch is optional: `pip install "tinycnn[torch]"`. It is imported when `to_torch` is called.
"""

import numpy as np

from tinycnn.layers import (
    BatchNorm2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GridLayout,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Tanh,
)
from tinycnn.model import Sequential


def to_torch(model):
    """The `torch.nn.Sequential` equivalent of a tinycnn `Sequential`, its weights copied."""
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a tinycnn Sequential, got {type(model).__name__}")
    try:
        import torch
    except ImportError as error:
        raise ImportError('to_torch needs PyTorch, an optional dependency: pip install '
                          '"tinycnn[torch]"') from error
    dtype = getattr(torch, _model_dtype(model).name)
    modules = []
    for index, layer in enumerate(model.layers):
        if type(layer) not in CONVERTERS:
            known = ", ".join(layer_type.__name__ for layer_type in CONVERTERS)
            raise TypeError(f"model.layers[{index}] is a {type(layer).__name__}, which to_torch "
                            f"cannot convert (it converts {known})")
        module = CONVERTERS[type(layer)](torch, layer, dtype)
        module.train(layer.training)
        modules.append(module)
    return torch.nn.Sequential(*modules)


def _model_dtype(model):
    """The one dtype of the layers with parameters (float32 if none has any).

    tinycnn converts between layers of different dtypes; a torch.nn.Sequential does not.
    """
    dtypes = {}
    for index, layer in enumerate(model.layers):
        for param in layer.params.values():
            dtypes.setdefault(param.dtype, f"layers[{index}] {layer!r}")
    if len(dtypes) > 1:
        found = ", ".join(f"{dtype.name} in {where}" for dtype, where in dtypes.items())
        raise ValueError(f"model must use one dtype to be converted, found {found}")
    return next(iter(dtypes), np.dtype(np.float32))


def _conv2d(torch, layer, dtype):
    module = torch.nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                             stride=layer.stride, padding=layer.padding, dtype=dtype)
    _copy(torch, module.weight, layer.params["W"])
    _copy(torch, module.bias, layer.params["b"])
    return module


def _linear(torch, layer, dtype):
    module = torch.nn.Linear(layer.in_features, layer.out_features, dtype=dtype)
    _copy(torch, module.weight, layer.params["W"].T)  # PyTorch keeps (out, in): x @ weight.T + b
    _copy(torch, module.bias, layer.params["b"])
    return module


def _batchnorm2d(torch, layer, dtype):
    module = torch.nn.BatchNorm2d(layer.channels, eps=layer.eps, momentum=layer.momentum,
                                  dtype=dtype)
    _copy(torch, module.weight, layer.params["gamma"])
    _copy(torch, module.bias, layer.params["beta"])
    _copy(torch, module.running_mean, layer.state["running_mean"])
    _copy(torch, module.running_var, layer.state["running_var"])
    return module


def _grid_layout(torch, layer, dtype):
    class GridLayout(torch.nn.Module):
        """(N, B * D, S, S) -> (N, S, S, B, D), as tinycnn's GridLayout."""

        def __init__(self, num_anchors):
            super().__init__()
            self.num_anchors = num_anchors

        def forward(self, x):
            n, channels, rows, columns = x.shape
            grouped = x.view(n, self.num_anchors, channels // self.num_anchors, rows, columns)
            return grouped.permute(0, 3, 4, 1, 2)

    return GridLayout(layer.num_anchors)


def _copy(torch, parameter, array):
    """parameter <- array, copied: the two models do not share memory."""
    with torch.no_grad():
        parameter.copy_(torch.from_numpy(array))


CONVERTERS = {
    Conv2D: _conv2d,
    Dense: _linear,
    MaxPool2D: lambda torch, layer, dtype: torch.nn.MaxPool2d(layer.kernel_size,
                                                              stride=layer.stride),
    Flatten: lambda torch, layer, dtype: torch.nn.Flatten(),
    ReLU: lambda torch, layer, dtype: torch.nn.ReLU(),
    LeakyReLU: lambda torch, layer, dtype: torch.nn.LeakyReLU(layer.negative_slope),
    Sigmoid: lambda torch, layer, dtype: torch.nn.Sigmoid(),
    Tanh: lambda torch, layer, dtype: torch.nn.Tanh(),
    Dropout: lambda torch, layer, dtype: torch.nn.Dropout(layer.p),
    BatchNorm2D: _batchnorm2d,
    GridLayout: _grid_layout,
}
"""For each tinycnn layer type: (torch, layer, torch dtype) -> the equivalent torch.nn module.
Exact types: a subclass may compute something else, so it is refused rather than guessed at."""
