"""Matrix-product kernels on plain lists of row lists.

Every product in clsd goes through this module: ``Tensor.__matmul__`` and the
three products of a dense layer's training step,

    forward          z  = x @ W        matmul(x, W)
    input gradient   dx = g @ W.T      matmul_transposed(g, W)
    weight gradient  dW = x.T @ g      transposed_matmul(x, g)

The functions take and return lists of row lists of floats and do no input
checking: ``Tensor`` checks shapes before it calls them.

The inner dot product runs inside a C loop of the standard library where one
exists (``math.sumprod`` on Python 3.12 and newer), and otherwise as
``sum(map(operator.mul, row, column))``.

>>> matmul([[1.0, 2.0]], [[3.0], [4.0]])
[[11.0]]
"""

import math
from operator import mul

_sumprod = getattr(math, "sumprod", None)


def _dot(a, b):
    return sum(map(mul, a, b))


dot = _sumprod if _sumprod is not None else _dot


def transpose(rows):
    """Return the transpose of ``rows`` as a new list of row lists."""
    return [list(column) for column in zip(*rows)]


def matmul_transposed(a, b):
    """Return ``a @ b.T``: each output element is a dot product of two rows.

    Shapes: a is (m, k), b is (n, k), the result is (m, n).
    """
    return [[dot(row_a, row_b) for row_b in b] for row_a in a]


def matmul(a, b):
    """Return ``a @ b`` for a of shape (m, k) and b of shape (k, n)."""
    return matmul_transposed(a, transpose(b))


def transposed_matmul(a, b):
    """Return ``a.T @ b`` for a of shape (m, k) and b of shape (m, n)."""
    return matmul_transposed(transpose(a), transpose(b))
