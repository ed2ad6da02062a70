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

``STATE_LOSSES`` names the losses a ``LayerMatch`` can use between a
student state and a teacher state: ``mse``, ``normalized_mse``,
``cosine``, ``relation`` (which compares states of different widths) and
``kd`` (``distillation``, for logits).
"""

import math
from collections import namedtuple
from operator import add, mul, sub

from . import kernels
from .tensor import Tensor

Loss = namedtuple("Loss", "value grad")
Loss.__doc__ = "A loss value (float) and its gradient (Tensor) with respect to the prediction."


def _fsum(values):
    """Return ``math.fsum(values)``, or the float sum when fsum overflows.

    ``math.fsum`` raises ``OverflowError`` when a partial sum of finite
    values leaves the float range. The plain sum then gives inf, which the
    trainer reports as a diverged loss instead of an unrelated exception.
    """
    values = list(values)
    try:
        return math.fsum(values)
    except OverflowError:
        return sum(values)


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
    value = _fsum(d * d for row in differences for d in row) / count
    scale = 2.0 / count
    grad = Tensor._wrap([[scale * d for d in row] for row in differences])
    return Loss(value, grad)


def log_softmax_row(z):
    """Return log(softmax(z)) for one row, stable for any finite z.

    log softmax(z)_i = z_i - m - log(sum_j exp(z_j - m)) with m = max(z), so
    every exp argument is at most 0 and the sum is at least 1.
    """
    top = max(z)
    log_total = math.log(_fsum(math.exp(v - top) for v in z))
    shift = top + log_total
    return [v - shift for v in z]


def softmax_row(z):
    """Return softmax(z) for one row, computed from ``log_softmax_row``."""
    return [math.exp(v) for v in log_softmax_row(z)]


def check_labels(labels, rows, classes, where, context="logits"):
    """Check that ``labels`` is ``rows`` ints in [0, classes) and return them as a list.

    ``context`` names what has ``classes`` columns, for the error message.
    """
    if isinstance(labels, (str, bytes)) or not hasattr(labels, "__len__"):
        raise TypeError(f"{where}: labels must be a list of ints, got {type(labels).__name__}")
    labels = list(labels)
    if len(labels) != rows:
        raise ValueError(f"{where}: got {len(labels)} labels for {rows} rows of logits")
    for index, label in enumerate(labels):
        if not isinstance(label, int) or isinstance(label, bool):
            raise TypeError(f"{where}: labels[{index}] is {label!r}; expected an int class index")
        if not 0 <= label < classes:
            raise ValueError(
                f"{where}: labels[{index}] is {label}, outside the class range 0 to {classes - 1} "
                f"set by the {classes} columns of the {context}"
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
    return Loss(_fsum(losses) / rows, Tensor._wrap(grad))


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
        total.append(_fsum(pj * (lp - lq) for pj, lp, lq in zip(p, log_p, log_q) if pj > 0.0))
        grad.append([scale * (math.exp(lq) - pj) for lq, pj in zip(log_q, p)])
    value = t * t * _fsum(total) / rows
    return Loss(value, Tensor._wrap(grad))


def distillation_with_labels(student_logits, teacher_logits, labels, temperature=4.0, soft_weight=0.9):
    """Hinton's soft-target loss mixed with the hard-label cross-entropy.

    With a = ``soft_weight`` in [0, 1]:

        L     = a * distillation(s, t, T) + (1 - a) * cross_entropy(s, labels)
        dL/ds = a * d distillation/ds + (1 - a) * d cross_entropy/ds

    Both parts are means over the batch, and the soft part already carries
    the T^2 factor, so ``soft_weight`` trades the two at any temperature.
    Raises ``ValueError`` for a ``soft_weight`` outside [0, 1].
    """
    if not isinstance(soft_weight, (int, float)) or isinstance(soft_weight, bool):
        raise TypeError(f"distillation_with_labels: soft_weight must be a number, got {soft_weight!r}")
    if not 0.0 <= soft_weight <= 1.0:
        raise ValueError(f"distillation_with_labels: soft_weight must be in [0, 1], got {soft_weight!r}")
    soft, soft_grad = distillation(student_logits, teacher_logits, temperature)
    hard, hard_grad = cross_entropy(student_logits, labels)
    a = float(soft_weight)
    grad = Tensor._wrap([
        [a * gs + (1.0 - a) * gh for gs, gh in zip(row_s, row_h)]
        for row_s, row_h in zip(soft_grad.data, hard_grad.data)
    ])
    return Loss(a * soft + (1.0 - a) * hard, grad)


# ---- state losses beyond mse -------------------------------------------------

# Added to a squared norm before its square root, so that an all-zero row has
# the finite norm sqrt(EPSILON) instead of 0 and every division stays finite.
EPSILON = 1e-8


def _unit_rows(rows):
    """Return (each row / its norm, the norms), with norm = sqrt(sum x^2 + EPSILON)."""
    norms = [math.sqrt(_fsum(v * v for v in row) + EPSILON) for row in rows]
    return [[v / n for v in row] for row, n in zip(rows, norms)], norms


def _through_unit_rows(grad_unit, unit, norms):
    """Backpropagate dL/d(unit row) to dL/d(row) through u = x / sqrt(|x|^2 + eps).

    du_k/dx_j = (delta_jk - u_j u_k) / n, so dL/dx = (g - u * (g . u)) / n
    for each row, with g = dL/du and n the row's norm.
    """
    grad = []
    for g, u, n in zip(grad_unit, unit, norms):
        along = _fsum(map(mul, g, u))
        grad.append([(gj - uj * along) / n for gj, uj in zip(g, u)])
    return grad


def normalized_mse(prediction, target):
    """Mean squared error between rows scaled to unit L2 norm.

    Each row x becomes u = x / n with n = sqrt(sum_j x_j^2 + EPSILON), so
    the loss ignores a positive scale of either state. With N = rows *
    columns, p and t the unit rows of the prediction and the target:

        L          = (1/N) * sum_ij (p_ij - t_ij)^2
        dL/dp_ij   = (2/N) * (p_ij - t_ij)                        (= g)
        dL/dpred_i = (g_i - p_i * (g_i . p_i)) / n_i

    where the last line is the derivative of the row scaling (see
    ``_through_unit_rows``). An all-zero row gives a finite loss and gradient.
    """
    _check_pair(prediction, target, "normalized_mse")
    rows, columns = prediction.shape
    count = rows * columns
    unit_p, norms = _unit_rows(prediction.data)
    unit_t, _ = _unit_rows(target.data)
    differences = [list(map(sub, p, t)) for p, t in zip(unit_p, unit_t)]
    value = _fsum(d * d for row in differences for d in row) / count

    scale = 2.0 / count
    grad_unit = [[scale * d for d in row] for row in differences]
    grad = _through_unit_rows(grad_unit, unit_p, norms)
    return Loss(value, Tensor._wrap(grad))


def cosine(prediction, target):
    """Compute one minus the cosine similarity of each row pair, averaged over the rows.

    With B rows, p_i = pred_i / n_i and t_i = target_i / m_i the unit rows
    (n = sqrt(|x|^2 + EPSILON), as in ``normalized_mse``) and c_i = p_i . t_i:

        L          = (1/B) * sum_i (1 - c_i)
        dL/dp_i    = -t_i / B                                     (= g_i)
        dL/dpred_i = (g_i - p_i * (g_i . p_i)) / n_i = -(t_i - c_i * p_i) / (B * n_i)

    An all-zero prediction row has c_i = 0, loss 1 and the finite gradient
    -t_i / (B * sqrt(EPSILON)), which is large because the direction of a
    zero row is undefined.
    """
    _check_pair(prediction, target, "cosine")
    rows = prediction.shape[0]
    unit_p, norms = _unit_rows(prediction.data)
    unit_t, _ = _unit_rows(target.data)
    similarities = [_fsum(map(mul, p, t)) for p, t in zip(unit_p, unit_t)]
    value = _fsum(1.0 - c for c in similarities) / rows

    grad_unit = [[-v / rows for v in t] for t in unit_t]
    grad = _through_unit_rows(grad_unit, unit_p, norms)
    return Loss(value, Tensor._wrap(grad))


def relation(prediction, target):
    """Similarity-preserving loss: compare the batch's row-similarity matrices.

    Tung and Mori, "Similarity-Preserving Knowledge Distillation", ICCV 2019.
    For a batch of B rows, G = X @ X.T is the (B, B) Gram matrix of a state,
    and each row of G is scaled to unit L2 norm (as in ``normalized_mse``).
    The loss compares the student's Q = unit_rows(S @ S.T) with the
    teacher's R = unit_rows(T @ T.T):

        L         = (1/B^2) * sum_ij (Q_ij - R_ij)^2
        dL/dQ     = (2/B^2) * (Q - R)                             (= D)
        dL/dG_i   = (D_i - Q_i * (D_i . Q_i)) / n_i               (= E, row scaling)
        dL/dS     = (E + E.T) @ S                                 since G = S @ S.T

    Only the row counts must agree: the state widths may differ, so this loss
    needs no adapter between a thin student and a wide teacher.
    """
    for name, value in (("prediction", prediction), ("target", target)):
        if not isinstance(value, Tensor):
            raise TypeError(f"relation: {name} must be a Tensor, got {type(value).__name__}")
    if len(prediction) != len(target):
        raise ValueError(
            f"relation: prediction {prediction.shape} and target {target.shape} must have "
            "the same number of rows (one per sample)"
        )
    rows = len(prediction)
    student_gram = kernels.matmul_transposed(prediction.data, prediction.data)
    teacher_gram = kernels.matmul_transposed(target.data, target.data)
    unit_q, norms = _unit_rows(student_gram)
    unit_r, _ = _unit_rows(teacher_gram)
    differences = [list(map(sub, q, r)) for q, r in zip(unit_q, unit_r)]
    count = rows * rows
    value = _fsum(d * d for row in differences for d in row) / count

    scale = 2.0 / count
    grad_unit = [[scale * d for d in row] for row in differences]
    grad_gram = _through_unit_rows(grad_unit, unit_q, norms)

    # G = S @ S.T, so dL/dS = (E + E.T) @ S, shape (B, width).
    symmetric = [list(map(add, row, column)) for row, column in zip(grad_gram, zip(*grad_gram))]
    grad = kernels.matmul(symmetric, prediction.data)
    return Loss(value, Tensor._wrap(grad))


# The relation loss compares (B, B) matrices, so the two states may differ in width.
relation.needs_equal_widths = False


STATE_LOSSES = {
    "mse": mse,
    "normalized_mse": normalized_mse,
    "cosine": cosine,
    "relation": relation,
    "kd": distillation,
}


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
