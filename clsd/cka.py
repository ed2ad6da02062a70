"""Linear centered kernel alignment (CKA) between the states of two networks.

Kornblith, Norouzi, Lee and Hinton, "Similarity of Neural Network
Representations Revisited", ICML 2019. For two states X (n, p) and Y (n, q)
of the same n inputs, with every column centered to mean 0:

    CKA(X, Y) = ||Y.T @ X||_F^2 / (||X.T @ X||_F * ||Y.T @ Y||_F)

CKA is 1 for states that are equal up to a rotation and an overall scale,
near 0 for unrelated states, and defined for any two widths p and q. It is
what ``pairing.suggest`` ranks student-teacher pairs by.

>>> x = Tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.5]])
>>> round(linear_cka(x, x * 3.0), 12)
1.0
"""

import math

from . import kernels
from .network import Network
from .tensor import Tensor


def _centered_columns(rows):
    count = len(rows)
    means = [math.fsum(column) / count for column in zip(*rows)]
    return [[v - m for v, m in zip(row, means)] for row in rows]


def _squared_frobenius(rows):
    return math.fsum(v * v for row in rows for v in row)


def linear_cka(x, y):
    """Return the linear CKA of two states of the same inputs, a float in [0, 1].

    ``x`` is (n, p) and ``y`` is (n, q): the same n rows, any widths. A state
    that is constant over the batch has no variance to compare, and its CKA
    with anything is returned as 0.0. Raises ``ValueError`` when the row
    counts differ or n < 2.
    """
    for name, value in (("x", x), ("y", y)):
        if not isinstance(value, Tensor):
            raise TypeError(f"linear_cka: {name} must be a Tensor, got {type(value).__name__}")
    if len(x) != len(y):
        raise ValueError(f"linear_cka: x {x.shape} and y {y.shape} must have the same number of rows")
    if len(x) < 2:
        raise ValueError(f"linear_cka: needs at least 2 rows to center, got {x.shape}")
    cx = _centered_columns(x.data)
    cy = _centered_columns(y.data)

    # Feature-space products: Y.T @ X is (q, p), X.T @ X is (p, p), Y.T @ Y is (q, q).
    cross = _squared_frobenius(kernels.transposed_matmul(cy, cx))
    self_x = math.sqrt(_squared_frobenius(kernels.transposed_matmul(cx, cx)))
    self_y = math.sqrt(_squared_frobenius(kernels.transposed_matmul(cy, cy)))
    if self_x == 0.0 or self_y == 0.0:
        return 0.0
    return min(1.0, cross / (self_x * self_y))


class CKAMatrix(list):
    """A CKA matrix: a list of rows, teacher states down and student states across.

    ``str()`` gives the text table of ``format_cka_table``, and a notebook
    shows the matrix as an SVG heat map through ``_repr_svg_``.
    """

    def __str__(self):
        return format_cka_table(self)

    def _repr_svg_(self):
        from .svg import heatmap

        return heatmap(
            self,
            row_labels=[f"t{i}" for i in range(len(self))],
            column_labels=[f"s{j}" for j in range(len(self[0]))],
            title="Linear CKA between states",
            x_label="student state",
            y_label="teacher state",
            value_range=(0.0, 1.0),
        )


def cka_matrix(teacher, student, features):
    """Return the CKA of every teacher state against every student state.

    The result is a ``CKAMatrix``, a list of rows, one per teacher state
    0..teacher.depth, each with one value per student state
    0..student.depth, all computed on the batch ``features``. State 0 is the
    input of both networks.
    """
    for name, network in (("teacher", teacher), ("student", student)):
        if not isinstance(network, Network):
            raise TypeError(f"cka_matrix: {name} must be a Network, got {type(network).__name__}")
    if teacher.sizes[0] != student.sizes[0]:
        raise ValueError(
            f"cka_matrix: the teacher takes {teacher.sizes[0]} input features but the student "
            f"takes {student.sizes[0]}"
        )
    teacher_states = teacher.states(features)
    student_states = student.states(features)
    return CKAMatrix([[linear_cka(t, s) for s in student_states] for t in teacher_states])


def format_cka_table(matrix, marks=()):
    """Return a CKA matrix as a text table: teacher states down, student states across.

    ``marks`` lists (teacher state, student state) pairs to flag with ``*``,
    such as the pairs a mapping chose.

    >>> print(format_cka_table([[1.0, 0.5], [0.25, 0.75]], marks=[(1, 1)]))
    teacher \\ student       s0       s1
    t0                   1.000    0.500
    t1                   0.250    0.750*
    """
    marks = set(marks)
    columns = len(matrix[0])
    header = "teacher \\ student".ljust(18) + "".join(f"{f's{j}':>8} " for j in range(columns))
    lines = [header.rstrip()]
    for i, row in enumerate(matrix):
        cells = "".join(f"{value:8.3f}" + ("*" if (i, j) in marks else " ") for j, value in enumerate(row))
        lines.append((f"t{i}".ljust(18) + cells).rstrip())
    return "\n".join(lines)
