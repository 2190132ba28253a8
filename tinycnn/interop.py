"""From tinycnn to PyTorch: the same network as a `torch.nn.Sequential`, for GPUs and beyond.

    torch_model = to_torch(model)

Layer by layer, with the weights copied (the two models do not share memory afterwards):

    Conv2D(c_in, c_out, k, s, p)  ->  nn.Conv2d(c_in, c_out, k, stride=s, padding=p), same W
    MaxPool2D(k, s)               ->  nn.MaxPool2d(k, stride=s)
    ReLUMaxPool2D(k, s)           ->  nn.Sequential(nn.ReLU, nn.MaxPool2d as above)
    ConvReLUMaxPool2D(c_in, c_out, k, s, p, pool_size, pool_stride)
                                  ->  nn.Sequential(nn.Conv2d as above, nn.ReLU,
                                      nn.MaxPool2d(pool_size, stride=pool_stride))
    Dense(n_in, n_out)            ->  nn.Linear(n_in, n_out), weight = W.T (PyTorch stores
                                      (out, in) and computes x @ weight.T + b)
    Flatten, ReLU, LeakyReLU(a), Sigmoid, Tanh, Dropout(p)  ->  their nn namesakes
    BatchNorm2D(c, eps, momentum) ->  nn.BatchNorm2d, γ and β as weight and bias, and the running
                                      mean and variance
    BatchNormReLU2D(c, eps, momentum) ->  nn.Sequential(nn.BatchNorm2d as above, nn.ReLU)
    BatchNormReLUMaxPool2D(c, k, s, eps, momentum)
                                  ->  nn.Sequential(nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d(k, s))
    GridLayout(B)                 ->  a view (N, B, D, S, S) permuted to (N, S, S, B, D)

Both compute the same function in the same layout (N, C, H, W), so for the same input
`torch_model(torch.from_numpy(x))` equals `model.forward(x)` up to rounding. The dtype
(float32 or float64) is kept, and so is each layer's training/evaluation mode.

`model.output` is not carried: the PyTorch model returns the raw output, as `model.forward` does,
which is what PyTorch's losses on logits (`nn.BCEWithLogitsLoss`, `nn.CrossEntropyLoss`) expect.
For the lecture's vector, apply the map to the result: `model.output(raw.detach().numpy())`.

One difference at the edges: Dropout draws its own random masks in each framework. (NaN stays NaN
through both frameworks' ReLU.)

Each layer says how it maps to PyTorch in its own `torch_module` method, next to its forward and
backward; a layer class that does not define one (a user's subclass may compute something else)
is refused rather than guessed at.

PyTorch is optional: `pip install "tinycnn[torch]"`. It is imported when `to_torch` is called.
"""

import numpy as np

from tinycnn.layers import Layer
from tinycnn.model import Sequential


def to_torch(model):
    """The `torch.nn.Sequential` equivalent of a tinycnn `Sequential`, its weights copied."""
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a tinycnn Sequential, got {type(model).__name__}")
    for index, layer in enumerate(model.layers):
        if not converts(type(layer)):
            known = ", ".join(name for name, cls in Layer.registry.items() if converts(cls))
            raise TypeError(
                f"model.layers[{index}] is a {type(layer).__name__}, which to_torch "
                f"cannot convert (it converts {known})"
            )
        layer.check_arrays()
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            'to_torch needs PyTorch, an optional dependency: pip install "tinycnn[torch]"'
        ) from error
    dtype = getattr(torch, _model_dtype(model).name)
    modules = []
    for layer in model.layers:
        module = layer.torch_module(torch, dtype)
        module.train(layer.training)
        modules.append(module)
    return torch.nn.Sequential(*modules)


def converts(layer_type):
    """Whether to_torch converts layers of this exact class: it defines its own torch_module.
    TypeError unless layer_type is a Layer class (for a layer, pass type(layer))."""
    if not (isinstance(layer_type, type) and issubclass(layer_type, Layer)):
        hint = ", pass type(layer)" if isinstance(layer_type, Layer) else ""
        raise TypeError(
            f"layer_type must be a tinycnn Layer class (e.g. tinycnn.layers.Conv2D){hint}, got "
            f"{type(layer_type).__name__}"
        )
    return layer_type is not Layer and "torch_module" in vars(layer_type)


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
