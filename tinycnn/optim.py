"""Optimizers: turn the gradients that backward left in each layer into an update of its params.

Both update `param` in place, so layers keep the same arrays and `model.parameters()` stays valid.
"""

import numpy as np


class Optimizer:
    """Holds the model and a learning rate; `step()` applies one update from the current grads."""

    def __init__(self, model, lr):
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr!r}")
        self.model = model
        self.lr = float(lr)
        self.state = {}

    def step(self):
        for layer, name, param, grad in self.model.parameters():
            if grad is None:
                raise ValueError(f"{layer!r} has no gradient for {name!r}: call model.backward "
                                 "before optimizer.step()")
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
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        self.momentum = float(momentum)

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
        for value, name in ((beta1, "beta1"), (beta2, "beta2")):
            if not 0 <= value < 1:
                raise ValueError(f"{name} must be in [0, 1), got {value!r}")
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)

    def update(self, param, grad, state):
        if not state:
            state.update(m=np.zeros_like(param), v=np.zeros_like(param), t=0)
        state["t"] += 1
        m, v, t = state["m"], state["v"], state["t"]
        m *= self.beta1
        m += (1 - self.beta1) * grad
        v *= self.beta2
        v += (1 - self.beta2) * grad * grad
        m_hat = m / (1 - self.beta1 ** t)
        v_hat = v / (1 - self.beta2 ** t)
        param -= (self.lr * m_hat / (np.sqrt(v_hat) + self.eps)).astype(param.dtype, copy=False)
