"""Loss functions, each returning its value and its gradient.

Every loss returns a ``Loss(value, grad)`` pair: ``value`` is a float and
``grad`` is dL/d(first argument), a ``Tensor`` of the same shape. Each
docstring derives the gradient that the code computes.

>>> value, grad = mse(Tensor([[1.0, 2.0]]), Tensor([[1.0, 0.0]]))
>>> value, grad.tolist()
(2.0, [[0.0, 2.0]])

Reductions follow PyTorch's defaults: ``mse`` is the mean over all
elements, and ``cross_entropy`` and ``distillation`` are means over the
batch (rows).
"""

import math
from collections import namedtuple
from operator import sub

from .tensor import Tensor

Loss = namedtuple("Loss", "value grad")
Loss.__doc__ = "A loss value (float) and its gradient (Tensor) with respect to the prediction."


def _check_pair(prediction, target, where):
    for name, value in (("prediction", prediction), ("target", target)):
        if not isinstance(value, Tensor):
            raise TypeError(f"{where}: {name} must be a Tensor, got {type(value).__name__}")
    if prediction.shape != target.shape:
        raise ValueError(
            f"{where}: shape mismatch: prediction {prediction.shape} and target {target.shape}"
        )


def mse(prediction, target):
    """Mean squared error over all elements.

    With N = rows * columns of the prediction p and target t:

        L        = (1/N) * sum_ij (p_ij - t_ij)^2
        dL/dp_ij = (2/N) * (p_ij - t_ij)

    Raises ``TypeError`` unless both are tensors and ``ValueError`` when the
    shapes differ.
    """
    _check_pair(prediction, target, "mse")
    rows, columns = prediction.shape
    count = rows * columns
    differences = [list(map(sub, p, t)) for p, t in zip(prediction.data, target.data)]
    value = math.fsum(d * d for row in differences for d in row) / count
    scale = 2.0 / count
    grad = Tensor._wrap([[scale * d for d in row] for row in differences])
    return Loss(value, grad)


def log_softmax_row(z):
    """Return log(softmax(z)) for one row, stable for any finite z.

    log softmax(z)_i = z_i - m - log(sum_j exp(z_j - m)) with m = max(z), so
    every exp argument is at most 0 and the sum is at least 1.
    """
    top = max(z)
    log_total = math.log(math.fsum(math.exp(v - top) for v in z))
    shift = top + log_total
    return [v - shift for v in z]


def softmax_row(z):
    """Return softmax(z) for one row, computed from ``log_softmax_row``."""
    return [math.exp(v) for v in log_softmax_row(z)]


def check_labels(labels, rows, classes, where):
    """Check that ``labels`` is ``rows`` ints in [0, classes) and return them as a list."""
    if isinstance(labels, (str, bytes)) or not hasattr(labels, "__len__"):
        raise TypeError(f"{where}: labels must be a list of ints, got {type(labels).__name__}")
    labels = list(labels)
    if len(labels) != rows:
        raise ValueError(f"{where}: got {len(labels)} labels for {rows} rows of logits")
    for index, label in enumerate(labels):
        if not isinstance(label, int) or isinstance(label, bool):
            raise TypeError(f"{where}: label {index} is {label!r}; expected an int class index")
        if not 0 <= label < classes:
            raise ValueError(
                f"{where}: label {index} is {label}, outside the class range 0 to {classes - 1}"
            )
    return labels


def cross_entropy(logits, labels):
    """Softmax cross-entropy on logits, averaged over the batch.

    For row i with logits z and true class y, and B rows:

        L_i      = -log softmax(z)_y = logsumexp(z) - z_y
        dL/dz_ij = (softmax(z)_j - [j == y]) / B

    ``labels`` is a list of B class indices. Raises ``ValueError`` for a
    label outside 0..classes-1 or a label count that differs from B.
    """
    if not isinstance(logits, Tensor):
        raise TypeError(f"cross_entropy: logits must be a Tensor, got {type(logits).__name__}")
    rows, classes = logits.shape
    labels = check_labels(labels, rows, classes, "cross_entropy")

    losses = []
    grad = []
    for z, y in zip(logits.data, labels):
        log_p = log_softmax_row(z)
        losses.append(-log_p[y])
        row = [math.exp(v) / rows for v in log_p]
        row[y] -= 1.0 / rows
        grad.append(row)
    return Loss(math.fsum(losses) / rows, Tensor._wrap(grad))


def _check_temperature(temperature, where):
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool):
        raise TypeError(f"{where}: temperature must be a number, got {temperature!r}")
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"{where}: temperature must be a finite number above 0, got {temperature!r}")
    return float(temperature)


def distillation(student_logits, teacher_logits, temperature=1.0):
    """Hinton's soft-target loss: KL(teacher || student) at temperature T, times T^2.

    With p = softmax(teacher / T), q = softmax(student / T) and B rows:

        L        = (T^2 / B) * sum_i sum_j p_ij * (log p_ij - log q_ij)
        dL/ds_ij = (T^2 / B) * (q_ij - p_ij) / T = (T / B) * (q_ij - p_ij)

    since d/ds of -sum_j p_j log q_j is (q - p) / T, and the teacher terms
    do not depend on the student. The T^2 factor keeps the gradient's size
    roughly independent of T (Hinton, Vinyals and Dean, 2015). The loss is 0
    when the two distributions are equal.
    """
    _check_pair(student_logits, teacher_logits, "distillation")
    t = _check_temperature(temperature, "distillation")
    rows = student_logits.shape[0]

    total = []
    grad = []
    scale = t / rows
    for s_row, t_row in zip(student_logits.data, teacher_logits.data):
        log_q = log_softmax_row([v / t for v in s_row])
        log_p = log_softmax_row([v / t for v in t_row])
        p = [math.exp(v) for v in log_p]
        total.append(math.fsum(pj * (lp - lq) for pj, lp, lq in zip(p, log_p, log_q) if pj > 0.0))
        grad.append([scale * (math.exp(lq) - pj) for lq, pj in zip(log_q, p)])
    value = t * t * math.fsum(total) / rows
    return Loss(value, Tensor._wrap(grad))


STATE_LOSSES = {"mse": mse}


def get_state_loss(name):
    """Return the state loss called ``name``; ``ValueError`` lists the valid names."""
    if callable(name):
        return name
    if not isinstance(name, str):
        raise TypeError(f"loss must be a name (str) or a function, got {name!r}")
    try:
        return STATE_LOSSES[name]
    except KeyError:
        valid = ", ".join(sorted(STATE_LOSSES))
        raise ValueError(f"unknown state loss {name!r}; valid names: {valid}") from None
