"""Losses for localization and landmarks: the lecture's squared error, and its cross-entropy form.

Every loss keeps one contract:

- `forward(y_hat, y) -> float`: the mean over the batch of N images of the per-image loss L.
  y_hat is the network's raw output (N, D), y the targets (N, D) in the lecture's format
  (see `tinycnn.targets`); both are checked first, so a malformed batch raises at once.
- `backward() -> dL/dy_hat`: the gradient of that mean, (N, D), in y_hat's dtype.
- `output`: the map from the raw output to the lecture's vector (see `tinycnn.outputs`), which the
  model applies in `predict`.

The lecture's loss for localization (indices from 1, as on the slide: y_1 is p_c), per image:

    L(ŷ, y) = (ŷ_1 - y_1)² + (ŷ_2 - y_2)² + ... + (ŷ_{K+5} - y_{K+5})²    if y_1 = 1
    L(ŷ, y) = (ŷ_1 - y_1)²                                                if y_1 = 0

Without an object only p_c is wrong or right: the box and classes of an empty image mean
nothing, so they add nothing to the loss and get exactly zero gradient.

The lecture then says what one would use in practice: a logistic loss for p_c, squared error for
the box, a softmax log-likelihood for the classes. With ŷ_1 and ŷ_6..ŷ_{K+5} read as logits:

    L(ŷ, y) = BCE(ŷ_1, y_1) + y_1 · [λ_box Σ_{j=2..5} (ŷ_j - y_j)² + λ_class CE(ŷ_{6..}, y_{6..})]

    BCE(z, p) = -[p log σ(z) + (1 - p) log(1 - σ(z))] = log(1 + e^z) - p z
    CE(z, c)  = -Σ_k c_k log softmax(z)_k             = log Σ_k e^(z_k) - Σ_k c_k z_k

The right-hand forms never take the log of a rounded-off 0, so they stay finite for logits of
any size, and their derivatives are short: dBCE/dz = σ(z) - p and dCE/dz = softmax(z) - c.

The landmark losses are the same two ideas on y = [is_face, x_1, y_1, ..., x_L, y_L], with the
points where the box and classes were.
"""

import numpy as np

from tinycnn.checks import positive_int, real_number
from tinycnn.functional import binary_cross_entropy, sigmoid, softmax, softmax_cross_entropy
from tinycnn.outputs import Identity, LandmarkOutput, LocalizationOutput
from tinycnn.targets import (
    BOX,
    CLASSES,
    IS_FACE,
    P_C,
    POINTS,
    check_landmark_targets,
    check_localization_targets,
    check_predictions,
    landmark_width,
    localization_width,
)


class Loss:
    """What every loss shares: the output map, the input checks and the forward/backward order."""

    def __init__(self, output, width):
        self.output = output
        self.width = width
        self._cache = None

    def _check_targets(self, y):
        raise NotImplementedError

    def _checked(self, y_hat, y):
        """Check y_hat and y; return both as float64, and y_hat's dtype for the gradient."""
        self._cache = None  # a forward that raises must not leave the last batch's gradient behind
        check_predictions(y_hat, self.width, name="y_hat")
        self._check_targets(y)
        if len(y_hat) != len(y):
            raise ValueError(
                f"y_hat and y must hold the same number of images, got {len(y_hat)} and {len(y)}"
            )
        if len(y) == 0:
            raise ValueError("the batch is empty: y_hat and y have no rows to average over")
        return y_hat.astype(np.float64), y.astype(np.float64), y_hat.dtype

    def _take_cache(self):
        if self._cache is None:
            raise ValueError(
                f"{type(self).__name__}.backward called before forward: there is no "
                "loss to differentiate yet"
            )
        return self._cache


class PiecewiseSquaredLoss(Loss):
    """The lecture's squared loss on [flag, rest]: every entry counts where the flag is 1, only the
    flag where it is 0.

        L = Σ_k (ŷ_k - y_k)²  if y_1 = 1,    L = (ŷ_1 - y_1)²  if y_1 = 0
        loss = (1/N) Σ_n L_n

        dloss/dŷ_k = (2/N)(ŷ_k - y_k), or 0 for k > 1 where y_1 = 0
    """

    def forward(self, y_hat, y):
        y_hat, y, dtype = self._checked(y_hat, y)
        present = y[:, 0] == 1
        error = y_hat - y
        # Where the flag is 0, y's other entries are "don't care" (they may hold anything).
        error[:, 1:] = np.where(present[:, None], error[:, 1:], 0.0)
        self._cache = error, dtype
        return float(np.mean(np.sum(error**2, axis=1)))

    def backward(self):
        error, dtype = self._take_cache()
        return (2 * error / len(error)).astype(dtype)


class SquaredLocalizationLoss(PiecewiseSquaredLoss):
    """The lecture's loss on y = [p_c, b_x, b_y, b_h, b_w, c_1..c_K], per image

        L(ŷ, y) = Σ_{k=1..K+5} (ŷ_k - y_k)²    if y_1 = 1
        L(ŷ, y) = (ŷ_1 - y_1)²                 if y_1 = 0

    and its mean over the batch. y_hat is the lecture's vector itself, so `output` is Identity.
    """

    def __init__(self, num_classes):
        super().__init__(Identity(), localization_width(num_classes))
        self.num_classes = positive_int(num_classes, "num_classes")

    def _check_targets(self, y):
        check_localization_targets(y, self.num_classes)


class SquaredLandmarkLoss(PiecewiseSquaredLoss):
    """The lecture's loss on y = [is_face, x_1, y_1, ..., x_L, y_L], per image

        L(ŷ, y) = Σ_{k=1..2L+1} (ŷ_k - y_k)²   if y_1 = 1
        L(ŷ, y) = (ŷ_1 - y_1)²                 if y_1 = 0

    and its mean over the batch. y_hat is the lecture's vector itself, so `output` is Identity.
    """

    def __init__(self, num_landmarks=3):
        super().__init__(Identity(), landmark_width(num_landmarks))
        self.num_landmarks = positive_int(num_landmarks, "num_landmarks")

    def _check_targets(self, y):
        check_landmark_targets(y, self.num_landmarks)


class LocalizationLoss(Loss):
    """Cross-entropy for p_c and the class, squared error for the box, per image

        L = BCE(ŷ_1, y_1) + y_1 · [box_weight · Σ_{j=2..5} (ŷ_j - y_j)²
                                  + class_weight · CE(ŷ_{6..}, y_{6..})]

    and its mean over the batch of N (not over the images with an object: each image weighs the
    same, whatever the batch holds). ŷ_1 (p_c) and ŷ_6..ŷ_{K+5} (classes) are logits; `output`
    (LocalizationOutput) turns them into probabilities for predict.

    Gradient, divided by N:
        dL/dŷ_1     = σ(ŷ_1) - y_1
        dL/dŷ_2..5  = y_1 · 2 box_weight (ŷ_j - y_j)
        dL/dŷ_6..   = y_1 · class_weight (softmax(ŷ_{6..}) - y_{6..})

    box_weight = 5 by default, as YOLO's λ_coord = 5 and for the same reason: a box error in image
    fractions is a small number (3 pixels off in 64 is 0.05, squared 0.0025), while the
    cross-entropies stay of order 1 until p_c and the class are learned, so an unweighted box
    gets little of the gradient. class_weight = 1 keeps the class term as the lecture has it.
    """

    def __init__(self, num_classes, box_weight=5.0, class_weight=1.0):
        super().__init__(LocalizationOutput(num_classes), localization_width(num_classes))
        self.num_classes = positive_int(num_classes, "num_classes")
        self.box_weight = real_number(box_weight, "box_weight", low=0.0)
        self.class_weight = real_number(class_weight, "class_weight", low=0.0)

    def _check_targets(self, y):
        check_localization_targets(y, self.num_classes)

    def forward(self, y_hat, y):
        y_hat, y, dtype = self._checked(y_hat, y)
        has_object = y[:, P_C] == 1
        # Where p_c = 0, y's box and classes are "don't care": zero them before they are used.
        box_error = np.where(has_object[:, None], y_hat[:, BOX] - y[:, BOX], 0.0)
        classes = np.where(has_object[:, None], y[:, CLASSES], 0.0)
        class_loss = np.where(has_object, softmax_cross_entropy(y_hat[:, CLASSES], classes), 0.0)
        per_image = (
            binary_cross_entropy(y_hat[:, P_C], y[:, P_C])
            + self.box_weight * np.sum(box_error**2, axis=1)
            + self.class_weight * class_loss
        )
        self._cache = y_hat, y[:, P_C], box_error, classes, has_object, dtype
        return float(np.mean(per_image))

    def backward(self):
        y_hat, p_c, box_error, classes, has_object, dtype = self._take_cache()
        class_gradient = self.class_weight * (softmax(y_hat[:, CLASSES]) - classes)
        d_y_hat = np.empty_like(y_hat)
        d_y_hat[:, P_C] = sigmoid(y_hat[:, P_C]) - p_c
        d_y_hat[:, BOX] = 2 * self.box_weight * box_error
        d_y_hat[:, CLASSES] = np.where(has_object[:, None], class_gradient, 0.0)
        return (d_y_hat / len(y_hat)).astype(dtype)


class LandmarkLoss(Loss):
    """Cross-entropy for is_face, squared error for the points, per image

        L = BCE(ŷ_1, y_1) + y_1 · landmark_weight · Σ_{j=2..2L+1} (ŷ_j - y_j)²

    and its mean over the batch of N. ŷ_1 (is_face) is a logit; `output` (LandmarkOutput) turns
    it into a probability for predict.

    Gradient, divided by N:
        dL/dŷ_1       = σ(ŷ_1) - y_1
        dL/dŷ_2..2L+1 = y_1 · 2 landmark_weight (ŷ_j - y_j)

    landmark_weight = 5 by default, for the reason given for LocalizationLoss's box_weight: point
    errors in image fractions are small numbers next to a cross-entropy of order 1.
    """

    def __init__(self, num_landmarks=3, landmark_weight=5.0):
        super().__init__(LandmarkOutput(num_landmarks), landmark_width(num_landmarks))
        self.num_landmarks = positive_int(num_landmarks, "num_landmarks")
        self.landmark_weight = real_number(landmark_weight, "landmark_weight", low=0.0)

    def _check_targets(self, y):
        check_landmark_targets(y, self.num_landmarks)

    def forward(self, y_hat, y):
        y_hat, y, dtype = self._checked(y_hat, y)
        has_face = y[:, IS_FACE] == 1
        # Where is_face = 0, y's points are "don't care": zero their error before it is used.
        point_error = np.where(has_face[:, None], y_hat[:, POINTS] - y[:, POINTS], 0.0)
        per_image = binary_cross_entropy(
            y_hat[:, IS_FACE], y[:, IS_FACE]
        ) + self.landmark_weight * np.sum(point_error**2, axis=1)
        self._cache = y_hat[:, IS_FACE], y[:, IS_FACE], point_error, dtype
        return float(np.mean(per_image))

    def backward(self):
        is_face_logit, is_face, point_error, dtype = self._take_cache()
        d_y_hat = np.empty((len(is_face), self.width))
        d_y_hat[:, IS_FACE] = sigmoid(is_face_logit) - is_face
        d_y_hat[:, POINTS] = 2 * self.landmark_weight * point_error
        return (d_y_hat / len(is_face)).astype(dtype)
