"""The smooth functions of the course, each numerically stable: for logits z of any size, no
intermediate value overflows and no log is taken of a rounded-off 0.

    sigmoid(z)          = 1 / (1 + e^(-z))
    softmax(z)_k        = e^(z_k) / Σ_j e^(z_j)
    logsumexp(z)        = log Σ_j e^(z_j)
    log_softmax(z)_k    = z_k - logsumexp(z)
    BCE(z, p)           = -[p log σ(z) + (1 - p) log(1 - σ(z))]  = log(1 + e^z) - p z
    CE(z, c)            = -Σ_k c_k log softmax(z)_k               = logsumexp(z) - Σ_k c_k z_k

The layers (Sigmoid), the output maps and the losses all take them from here.
"""

import numpy as np


def sigmoid(z):
    """σ(z) = 1 / (1 + e^(-z)), entry by entry, without overflow for any z.

    For z < 0 it is computed as e^z / (1 + e^z), so that e^(-|z|) never grows past 1 either way.
    """
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def softmax(z, axis=-1):
    """softmax(z)_k = e^(z_k) / Σ_j e^(z_j) along `axis` (the last by default).

    Subtracting max_j z_j first changes nothing in the ratio and keeps every e^(...) <= 1.
    """
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def logsumexp(z, axis=-1):
    """log Σ_j e^(z_j) along `axis` (the last by default), that axis removed.

    Computed as m + log Σ_j e^(z_j - m) with m = max_j z_j, so no e^(...) exceeds 1.
    """
    largest = np.max(z, axis=axis, keepdims=True)
    total = largest + np.log(np.sum(np.exp(z - largest), axis=axis, keepdims=True))
    return np.squeeze(total, axis=axis)


def log_softmax(z, axis=-1):
    """log softmax(z)_k = z_k - log Σ_j e^(z_j) along `axis`: exact where softmax rounds to 0."""
    return z - np.expand_dims(logsumexp(z, axis=axis), axis)


def binary_cross_entropy(logits, targets):
    """BCE(z, p) = log(1 + e^z) - p z, entry by entry, for logits z and targets p in [0, 1].

    This equals -[p log σ(z) + (1 - p) log(1 - σ(z))]. log(1 + e^z) is np.logaddexp(0, z),
    which is exact and does not overflow for any z. dBCE/dz = σ(z) - p.
    """
    return np.logaddexp(0.0, logits) - targets * logits


def softmax_cross_entropy(logits, one_hot):
    """CE(z, c) = logsumexp(z) - Σ_k c_k z_k over the last axis: logits and one_hot (N, K) -> (N,).

    This equals -Σ_k c_k log softmax(z)_k for a one-hot (or any probability) vector c.
    dCE/dz = softmax(z) - c.
    """
    return logsumexp(logits, axis=-1) - np.sum(one_hot * logits, axis=-1)
