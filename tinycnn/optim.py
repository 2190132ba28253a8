"""Optimizers: turn the gradients that backward left in each layer into an update of its params.

Both update `param` in place, so layers keep the same arrays and `model.parameters()` stays valid.

Every setting is checked when it is set, naming it and its allowed range: a learning rate must be
a finite number > 0 (also when `fit`'s lr_schedule assigns it), eps > 0, betas and momentum in
[0, 1).
"""

import numpy as np

from tinycnn.checks import real_number


class Optimizer:
    """Holds the model and a learning rate; `step()` applies one update from the current grads."""

    def __init__(self, model, lr):
        if not callable(getattr(model, "parameters", None)):
            raise TypeError(
                f"model must be a tinycnn Sequential (or layer), got {type(model).__name__}"
            )
        self.model = model
        self.lr = lr
        self.state = {}

    @property
    def lr(self):
        """The learning rate: a finite number > 0, checked whenever it is set."""
        return self._lr

    @lr.setter
    def lr(self, value):
        self._lr = real_number(value, "lr", low=0.0, low_open=True)

    def step(self):
        for layer, name, param, grad in self.model.parameters():
            if grad is None:
                raise ValueError(
                    f"{layer!r} has no gradient for {name!r}: call model.backward "
                    "before optimizer.step()"
                )
            if not isinstance(grad, np.ndarray) or grad.shape != param.shape:
                raise ValueError(
                    f"{layer!r}: grads[{name!r}] must be an array of the param's shape "
                    f"{param.shape}, got {getattr(grad, 'shape', type(grad).__name__)}"
                )
            self.update(param, grad, self.state.setdefault((id(layer), name), {}))

    def update(self, param, grad, state):
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with (heavy-ball) momentum:

        v <- momentum * v - lr * grad
        param <- param + v

    momentum = 0 is plain gradient descent: param <- param - lr * grad.
    """

    def __init__(self, model, lr=0.01, momentum=0.0):
        super().__init__(model, lr)
        self.momentum = real_number(momentum, "momentum", 0.0, 1.0, high_open=True)

    def update(self, param, grad, state):
        velocity = state.setdefault("velocity", np.zeros_like(param))
        velocity *= self.momentum
        velocity -= self.lr * grad
        param += velocity


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015): momentum on the gradient and on its square, bias-corrected.

    m <- beta1 * m + (1 - beta1) * grad            m_hat = m / (1 - beta1^t)
    v <- beta2 * v + (1 - beta2) * grad^2          v_hat = v / (1 - beta2^t)
    param <- param - lr * m_hat / (sqrt(v_hat) + eps)
    """

    def __init__(self, model, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(model, lr)
        self.beta1 = real_number(beta1, "beta1", 0.0, 1.0, high_open=True)
        self.beta2 = real_number(beta2, "beta2", 0.0, 1.0, high_open=True)
        self.eps = real_number(eps, "eps", low=0.0, low_open=True)

    def update(self, param, grad, state):
        if not state:
            state.update(m=np.zeros_like(param), v=np.zeros_like(param), t=0)
        state["t"] += 1
        m, v, t = state["m"], state["v"], state["t"]
        m *= self.beta1
        m += (1 - self.beta1) * grad
        v *= self.beta2
        v += (1 - self.beta2) * grad * grad
        m_hat = m / (1 - self.beta1**t)
        v_hat = v / (1 - self.beta2**t)
        param -= (self.lr * m_hat / (np.sqrt(v_hat) + self.eps)).astype(param.dtype, copy=False)
