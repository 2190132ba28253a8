"""Sequential: layers applied one after another, and backpropagation through them in reverse.

    forward:   a_0 = x,  a_l = layer_l.forward(a_{l-1}),  raw = a_L
    backward:  d_L = dL/draw,  d_{l-1} = layer_l.backward(d_l),  returns dL/dx = d_0

`predict` adds the last step a learner compares with the slide: the model's `output` map turns the
raw output into the lecture's vector (p_c and classes as probabilities for the cross-entropy losses;
unchanged for the squared losses). The map is chosen where the model is built:
`Sequential(layers, output=loss.output)`.
"""

from contextlib import contextmanager

import numpy as np

from tinycnn.checks import flag, float_array, positive_int, shape
from tinycnn.layers import GridLayout, Layer
from tinycnn.outputs import Identity, OutputMap


class Sequential:
    """Layers run in order: `model.layers`, `forward`, `backward`, `predict`, `summary`.

    layers: a list (or tuple) of distinct layer instances; one instance used twice would overwrite
    its own cache and get wrong gradients, so it is refused.
    output: the output map `predict` applies (`loss.output`); Identity if None. Its width must
    match the last layer's.
    """

    def __init__(self, layers, output=None):
        _check_layers(layers, "layers")
        self.layers = list(layers)
        self.output = output

    def check(self):
        """Check again what the constructor checked, for a `model.layers` edited since (a layer
        replaced, appended twice, or not a layer at all): `fit` and `save` call it, so that no
        training runs on, and no file holds, a network the constructor would refuse."""
        _check_layers(self.layers, "model.layers")
        self.output = self.output

    @property
    def output(self):
        """The output map from raw output to the lecture's vector (see `tinycnn.outputs`)."""
        return self._output

    @output.setter
    def output(self, output):
        output = Identity() if output is None else output
        if not isinstance(output, OutputMap):
            raise TypeError(
                f"output must be a tinycnn output map (e.g. loss.output) or None, "
                f"got {type(output).__name__}"
            )
        layout, wanted = self.output_layout(), output.raw_layout
        if layout is not None and wanted is not None and not _layouts_agree(layout, wanted):
            shaper = next(layer for layer in reversed(self.layers) if not layer.elementwise)
            raise ValueError(
                f"output {output!r} reads raw output of shape {_shape_text(wanted)}, but the "
                f"network's {shaper!r} gives {_shape_text(layout)}: the network and its output "
                "map do not match"
            )
        self._output = output

    def output_layout(self):
        """The shape of one image's raw output as far as the last layers say it, None in an axis
        whose size depends on the image: (out_features,) after a Dense (maybe followed by
        elementwise layers), (None, None, B, D) after a GridLayout(B) on a Conv2D of B * D
        channels; None where the layers do not say."""
        layers = self.layers[::-1]
        for index, layer in enumerate(layers):
            if getattr(layer, "out_features", None) is not None:
                return (layer.out_features,)
            if isinstance(layer, GridLayout):
                below = next(
                    (lower for lower in layers[index + 1 :] if not lower.elementwise), None
                )
                channels = getattr(below, "out_channels", None)
                if channels is None or channels % layer.num_anchors:
                    return None
                return (None, None, layer.num_anchors, channels // layer.num_anchors)
            if not layer.elementwise:
                return None
        return None

    def forward(self, x):
        """x (N, ...) -> the raw output of the last layer.

        A layer's error names its own input, `x`; a note added to it says which layer of the model
        raised it and where that input came from (for images of the wrong size or channels)."""
        model_input = x
        for index, layer in enumerate(self.layers):
            try:
                x = layer.forward(x)
            except (TypeError, ValueError) as error:
                error.add_note(self._where(index, "x", x, _shape_of(model_input)))
                raise
        return x

    def backward(self, dout, input_grad=True):
        """dL/draw -> dL/dx, filling every layer's grads on the way (last layer first).

        Training needs the grads but never dL/dx, the gradient with respect to the images: with
        input_grad=False the pass stops at the lowest layer with parameters, which computes only
        its grads (for a first Conv2D that skips a whole convolution), and None is returned.
        """
        lowest = 0
        if not flag(input_grad, "input_grad"):
            with_params = [index for index, layer in enumerate(self.layers) if layer.params]
            if not with_params:
                return None
            lowest = with_params[0]
        for index in range(len(self.layers) - 1, lowest - 1, -1):
            try:
                dout = self.layers[index].backward(dout, input_grad=input_grad or index > lowest)
            except (TypeError, ValueError) as error:
                error.add_note(self._where(index, "dout", dout))
                raise
        return dout

    def _where(self, index, name, value, model_input_shape=None):
        """The note on an error raised by model.layers[index] about its input `name` ("x" in the
        forward pass, "dout" in the backward pass): which layer, and where that input came from."""
        if name == "x":
            source = (
                "the model's input" if index == 0 else f"the output of model.layers[{index - 1}]"
            )
        elif index == len(self.layers) - 1:
            source = "the gradient from the loss"
        else:
            source = f"the gradient from model.layers[{index + 1}]"
        text = (
            f"in model.layers[{index}], {self.layers[index]!r}, whose {name} is {source}, "
            f"of shape {_shape_of(value)}"
        )
        if name == "x" and index > 0:
            text += f"; the model's input has shape {model_input_shape}"
        return text

    def parameters(self):
        """Yield (layer, name, param, grad) for every parameter, first layer first."""
        for layer in self.layers:
            yield from layer.parameters()

    def train(self):
        """Training mode: Dropout drops units, BatchNorm2D normalises with the batch's statistics
        (and updates its running ones)."""
        for layer in self.layers:
            layer.training = True
        return self

    def eval(self):
        """Evaluation mode: Dropout passes everything through, BatchNorm2D uses its running
        statistics."""
        for layer in self.layers:
            layer.training = False
        return self

    @contextmanager
    def evaluation(self):
        """`with model.evaluation():` runs its block in evaluation mode, then restores each
        layer's mode as it was."""
        was_training = [layer.training for layer in self.layers]
        self.eval()
        try:
            yield self
        finally:
            for layer, training in zip(self.layers, was_training, strict=True):
                layer.training = training

    @contextmanager
    def _caches_kept(self):
        """Run the block, then give every layer back what its last forward kept for backward: a
        prediction or a summary between a forward and its backward must not change the
        gradients (a summary's forward on zeros once made them all zero)."""
        caches = [layer._cache for layer in self.layers]
        try:
            yield
        finally:
            for layer, cache in zip(self.layers, caches, strict=True):
                layer._cache = cache

    def raw_output(self, x, batch_size=256):
        """The raw output for images x, in evaluation mode and in batches to bound memory:
        after each batch the layers forget what its forward kept for a backward that never
        comes. An empty x (N = 0) gives an empty output of the right width."""
        x = float_array(x, "x")
        if x.ndim < 1:
            raise ValueError(f"x must have a batch axis, got shape {x.shape}")
        batch_size = positive_int(batch_size, "batch_size")
        starts = range(0, max(len(x), 1), batch_size)  # one (empty) batch when N = 0
        outputs = []
        with self.evaluation(), self._caches_kept():
            for start in starts:
                outputs.append(self.forward(x[start : start + batch_size]))
                for layer in self.layers:
                    layer.drop_cache()
        return np.concatenate(outputs)

    def predict(self, x, batch_size=256):
        """The lecture's vectors for images x: the raw output through the model's output map."""
        return self.output(self.raw_output(x, batch_size))

    def summary(self, input_shape):
        """Print each layer's output shape and parameter count for one input of `input_shape`
        (without the batch axis, e.g. (1, 64, 64)); return the total number of parameters."""
        input_shape = shape(input_shape, "input_shape")
        x = np.zeros((1, *input_shape), dtype=np.float32)
        rows = [("input", str(input_shape), "")]
        total = 0
        with self.evaluation(), self._caches_kept():
            for index, layer in enumerate(self.layers):
                try:
                    x = layer.forward(x)
                except (TypeError, ValueError) as error:
                    where = self._where(index, "x", x, (1, *input_shape))
                    raise type(error)(
                        f"input_shape {input_shape} does not fit the model (summary runs one "
                        f"input of shape (1, *input_shape)): {error} ({where})"
                    ) from error
                count = sum(param.size for param in layer.params.values())
                total += count
                rows.append((repr(layer), str(x.shape[1:]), f"{count:,}"))
        widths = [max(len(row[column]) for row in rows) for column in range(3)]
        lines = [f"{'layer':<{widths[0]}}  {'output shape':<{widths[1]}}  params"]
        lines += [
            f"{name:<{widths[0]}}  {size:<{widths[1]}}  {count:>6}" for name, size, count in rows
        ]
        lines.append(f"total parameters: {total:,}")
        print("\n".join(lines))
        return total

    def __repr__(self):
        inner = ",\n".join(f"    {layer!r}" for layer in self.layers)
        return f"Sequential([\n{inner}\n], output={self.output!r})"


def _shape_of(value):
    """An array's shape, or the name of what was given instead."""
    return getattr(value, "shape", type(value).__name__)


def _layouts_agree(layout, wanted):
    """Whether a network's raw layout and an output map's agree, None matching any size."""
    return len(layout) == len(wanted) and all(
        mine is None or theirs is None or mine == theirs
        for mine, theirs in zip(layout, wanted, strict=True)
    )


def _shape_text(layout):
    """(N, any, any, 2, 8) for the layout (None, None, 2, 8): a batch of it."""
    return "(" + ", ".join(["N", *("any" if size is None else str(size) for size in layout)]) + ")"


def _check_layers(layers, name):
    """layers: a non-empty list (or tuple) of distinct tinycnn layer instances."""
    if not isinstance(layers, (list, tuple)):
        raise TypeError(f"{name} must be a list of tinycnn layers, got {type(layers).__name__}")
    if not layers:
        raise ValueError(f"{name} must hold at least one layer")
    seen = {}
    for index, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise TypeError(f"{name}[{index}] must be a tinycnn layer, got {type(layer).__name__}")
        if id(layer) in seen:
            raise ValueError(
                f"{name}[{index}] is the same {layer!r} instance as {name}[{seen[id(layer)]}]: "
                "a layer keeps one cache, so each place in the network needs its own layer"
            )
        seen[id(layer)] = index
