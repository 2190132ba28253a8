"""Optimizers: turn the gradients that backward left in each layer into an update of its params.

Both update `param` in place, so layers keep the same arrays and `model.parameters()` stays valid.
Each step reads the model's parameters afresh: a parameter array the optimizer has not seen before
(a layer replaced, a params entry reassigned) starts with a fresh state (no momentum), and the
state of arrays no longer in the model is dropped, never applied to another array.

Every setting is checked whenever it is set, at construction or later, naming it and its allowed
range: a learning rate must be a finite number > 0 (also when `fit`'s lr_schedule assigns it),
eps > 0, betas and momentum in [0, 1). `step()` refuses missing, misshapen or non-finite
gradients before it changes anything, and raises FloatingPointError, naming the parameter, if its
update left a weight non-finite.
"""

import numpy as np

from tinycnn.checks import real_number
from tinycnn.kernels import updates


class Setting:
    """An optimizer setting: a real number, checked by `real_number` with these bounds whenever it
    is set, and kept as a float."""

    def __init__(self, description, **bounds):
        self.__doc__ = description
        self.bounds = bounds

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, optimizer, owner=None):
        if optimizer is None:
            return self
        try:
            return optimizer.__dict__[self.name]
        except KeyError:  # never set: a subclass that skipped Optimizer.__init__, say
            raise AttributeError(f"{type(optimizer).__name__} has no {self.name} set") from None

    def __set__(self, optimizer, value):
        optimizer.__dict__[self.name] = real_number(value, self.name, **self.bounds)


class Optimizer:
    """Holds the model and a learning rate; `step()` applies one update from the current grads."""

    def __init__(self, model, lr):
        if isinstance(model, type) or not callable(getattr(model, "parameters", None)):
            got = f"the class {model.__name__}" if isinstance(model, type) else type(model).__name__
            raise TypeError(f"model must be a tinycnn Sequential (or layer), got {got}")
        self.model = model
        self.lr = lr
        # id(param) -> (param, its state): holding the array keeps its id from being reused by
        # another array while the state is kept.
        self.state = {}

    lr = Setting("The learning rate: a finite number > 0.", low=0.0, low_open=True)

    def step(self):
        """One update of every parameter from its gradient; all gradients are checked first."""
        parameters = list(self.model.parameters())
        for layer, name, param, grad in parameters:
            if grad is None:
                raise ValueError(
                    f"{layer!r} has no gradient for {name!r}: call model.backward "
                    "before optimizer.step(), on the model this optimizer was built for (an "
                    "optimizer built for another model, e.g. the one saved before tc.io.load, "
                    "steps that one)"
                )
            if not isinstance(grad, np.ndarray):
                raise TypeError(
                    f"{layer!r}: grads[{name!r}] must be an array of the param's shape "
                    f"{param.shape}, got {type(grad).__name__}"
                )
            if grad.shape != param.shape:
                raise ValueError(
                    f"{layer!r}: grads[{name!r}] must be an array of the param's shape "
                    f"{param.shape}, got {grad.shape}"
                )
            if not updates.all_finite(grad):
                raise FloatingPointError(
                    f"{layer!r}: grads[{name!r}] holds NaN or infinity, so no step was taken: "
                    "check the data and the loss, or lower the learning rate"
                )
        previous, self.state = self.state, {}
        for _, _, param, grad in parameters:
            _, state = previous.get(id(param), (param, {}))
            self.state[id(param)] = (param, state)
            self.update(param, grad, state)
        for layer, name, param, _ in parameters:
            if not updates.all_finite(param):
                raise FloatingPointError(
                    f"this step left {layer!r}'s params[{name!r}] non-finite: lower the "
                    f"learning rate (lr={self.lr})"
                )

    def update(self, param, grad, state):
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with (heavy-ball) momentum:

        v <- momentum * v - lr * grad
        param <- param + v

    momentum = 0 is plain gradient descent: param <- param - lr * grad.
    """

    momentum = Setting("The momentum: a number in [0, 1).", low=0.0, high=1.0, high_open=True)

    def __init__(self, model, lr=0.01, momentum=0.0):
        super().__init__(model, lr)
        self.momentum = momentum

    def update(self, param, grad, state):
        if "velocity" not in state:
            state["velocity"] = np.zeros_like(param)
        velocity = state["velocity"]
        if updates.one_pass(param, grad, velocity):  # these lines in one pass, the same numbers
            updates.sgd_update(param, grad, velocity, self.lr, self.momentum)
            return
        velocity *= self.momentum
        velocity -= self.lr * grad
        param += velocity


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015): momentum on the gradient and on its square, bias-corrected.

    m <- beta1 * m + (1 - beta1) * grad            m_hat = m / (1 - beta1^t)
    v <- beta2 * v + (1 - beta2) * grad^2          v_hat = v / (1 - beta2^t)
    param <- param - lr * m_hat / (sqrt(v_hat) + eps)
    """

    beta1 = Setting(
        "The gradient's decay rate: a number in [0, 1).", low=0.0, high=1.0, high_open=True
    )
    beta2 = Setting(
        "The squared gradient's decay rate: a number in [0, 1).", low=0.0, high=1.0, high_open=True
    )
    eps = Setting(
        "Added to sqrt(v_hat) against a division by zero: a finite number > 0.",
        low=0.0,
        low_open=True,
    )

    def __init__(self, model, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(model, lr)
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps

    def update(self, param, grad, state):
        if not state:
            state.update(m=np.zeros_like(param), v=np.zeros_like(param), t=0)
        state["t"] += 1
        m, v, t = state["m"], state["v"], state["t"]
        if updates.one_pass(param, grad, m, v):  # these lines in one pass, the same numbers
            updates.adam_update(param, grad, m, v, self.lr, self.beta1, self.beta2, self.eps, t)
            return
        m *= self.beta1
        m += (1 - self.beta1) * grad
        v *= self.beta2
        v += (1 - self.beta2) * grad * grad
        m_hat = m / (1 - self.beta1**t)
        v_hat = v / (1 - self.beta2**t)
        param -= (self.lr * m_hat / (np.sqrt(v_hat) + self.eps)).astype(param.dtype, copy=False)
