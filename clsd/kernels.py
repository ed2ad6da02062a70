"""Matrix-product kernels on plain lists of row lists.

Every product in clsd goes through this module: ``Tensor.__matmul__`` and the
three products of a dense layer's training step,

    forward          z  = x @ W        matmul(x, W)
    input gradient   dx = g @ W.T      matmul_transposed(g, W)
    weight gradient  dW = x.T @ g      transposed_matmul(x, g)

The functions take and return lists of row lists of floats and do no input
checking: ``Tensor`` checks shapes before it calls them.

>>> matmul([[1.0, 2.0]], [[3.0], [4.0]])
[[11.0]]

Why the products are computed the way they are
-----------------------------------------------
Pure Python is fast only where a loop runs inside C. Each output element of
a product is a dot product of two vectors of length k, so the question is
which standard-library C function can compute it. There are three:

``sum(map(operator.mul, a, b))``
    Every interpreter. ``map`` calls ``operator.mul`` once per element and
    ``sum`` adds the results, so each multiply-add still creates a float
    object: about 19 to 28 ns per multiply-add (measured for 128 x 128 x 128
    on CPython 3.9 to 3.13, see docs/benchmarks.md).

``math.sumprod(a, b)``
    Python 3.12 and newer. One call per output element, computed in
    extended precision: about 7.5 to 8 ns per multiply-add.

``math.dist(a, b)`` through the law of cosines
    Python 3.8 and newer. ``dist`` reads two tuples of floats (it copies
    any other sequence into a tuple first) and returns the Euclidean
    distance, and

        a . b = (|a|^2 + |b|^2 - |a - b|^2) / 2

    turns that distance into a dot product, with |a| and |b| computed once
    per vector by ``math.hypot``. That is one C call per output element and
    about 4.5 to 6 ns per multiply-add, faster than ``sumprod``.

The law of cosines is a polarization identity. The symmetric form
(|a + b|^2 - |a - b|^2) / 4 on unit vectors needs two ``dist`` calls per
element and measured about twice as slow in benchmarks/run.py, so the
one-call form is used.

Accuracy of the distance formulation. The three squares are computed to a
few units in the last place, and the subtraction cancels, so the absolute
error of one output element is a few eps * (|a|^2 + |b|^2), with eps =
2.2e-16. Relative to |a| |b| that is a few eps * (r + 1/r), where r =
|a| / |b|. The error is small only while the two norms are of similar size,
so before the products every vector whose norm differs from a reference
norm by more than a factor of 2**_BAND is multiplied by a power of two.
Multiplying by a power of two is exact, and so is undoing it on the result,
so the rescaling itself adds no error. After it, any two norms are within a
factor of 2**(2 * _BAND + 1) = 128. Without rescaling, benchmarks/accuracy.py
measured errors up to 77 eps * |a| |b| at a norm ratio of 2**6 and 538 eps at
2**9, so inside the band the error stays far below the 1e-12 * |a| |b|
(4504 eps) that tests/test_kernels.py checks against exact
``fractions.Fraction`` and ``math.fsum`` references on random, orthogonal,
all-zero and 1e150-scaled inputs. With rescaling, the error is at most a
few eps * (r + 1/r) for r up to 128: under 10 eps in the runs of
benchmarks/accuracy.py, and up to 84 eps * |a| |b| in a targeted search over
pairs with norm ratios near the edge of the band.

The reference norm is a power of two within 2**500 of 1, so the squares
neither overflow nor underflow: a product of vectors with elements near
1e150 is computed as accurately as one near 1. Two kinds of product go to
the element-by-element kernel instead, because the rescaling cannot bring
them into range: those with an infinite or NaN norm, and those with a
vector whose norm differs from the reference by more than 2**500. That
kernel never squares a norm, so it overflows only where a partial sum
does. An all-zero vector gives exact zeros.

The distance kernel does not return exact integers for integer inputs:
[1, 0] . [0, 1] comes out as -2.2e-16 instead of 0.0. That is within the
bound above. Small products, where it would be most visible, use the
element-by-element kernel, because there the distance kernel is no faster
(see ``choose_kernel``).

Choosing a kernel. The distance kernel prepares every vector (a tuple, a
norm, sometimes a rescaled copy), which costs about as much as a few dot
products of that vector, so it pays only when each vector is used several
times and k is not tiny. ``choose_kernel`` compares modelled times per
shape; benchmarks/fit_costs.py fits the model and checks its choices.
"""

import math
from functools import lru_cache
from itertools import repeat
from operator import mul

_dist = math.dist
_hypot = math.hypot
_frexp = math.frexp
_ldexp = math.ldexp
_isfinite = math.isfinite
_sumprod = getattr(math, "sumprod", None)

# A vector is rescaled when the binary exponent of its norm is more than
# _BAND away from the reference exponent; see the module docstring.
_BAND = 3

# The reference exponent is clamped to [-_LIMIT, _LIMIT], so the squares
# |a|^2, |b|^2 and |a - b|^2 stay far from overflow and underflow. No vector
# is rescaled by more than 2**_LIMIT, so every scale factor on the result is
# a normal float.
_LIMIT = 500


def transpose(rows):
    """Return the transpose of ``rows`` as a new list of row lists."""
    return [list(column) for column in zip(*rows)]


# ---- the three dot-product formulations ---------------------------------
#
# Each takes two lists of vectors of the same length k and returns the
# matrix of their dot products, [[a . b for b in vectors_b] for a in
# vectors_a], as a list of row lists.


def products_by_sum(vectors_a, vectors_b):
    """Return all dot products as ``sum(map(operator.mul, a, b))``."""
    return [[sum(map(mul, a, b)) for b in vectors_b] for a in vectors_a]


def products_by_sumprod(vectors_a, vectors_b):
    """Return all dot products as ``math.sumprod(a, b)`` (Python 3.12 and newer)."""
    sumprod = _sumprod
    return [[sumprod(a, b) for b in vectors_b] for a in vectors_a]


def _products_exact_kernel(vectors_a, vectors_b):
    """Return all dot products with the element-by-element kernel of this interpreter."""
    if _sumprod is not None:
        return products_by_sumprod(vectors_a, vectors_b)
    return products_by_sum(vectors_a, vectors_b)


def _exponents(norms):
    """Return the binary exponent e of each norm, with norm in [2**(e - 1), 2**e).

    A zero norm has no exponent and gets ``None``.
    """
    frexp = _frexp
    return [frexp(norm)[1] if norm else None for norm in norms]


def _shifts(exponents, reference):
    """Return, for each vector, the power of two that brings its norm near 2**reference.

    All vectors of one side share one shift, the one that brings their
    median norm within 2**_BAND of the reference (0 when it already is), so
    that the factor undoing it is the same for every output element. A
    vector still more than 2**_BAND away after that gets its own shift. A
    zero vector gets the shared shift. Returns None when every shift is 0,
    the common case.
    """
    present = sorted([e for e in exponents if e is not None])
    if not present:
        return None
    median = present[len(present) // 2]
    shared = 0 if abs(median - reference) <= _BAND else reference - median
    # The band, in exponents before the shared shift.
    low, high = reference - _BAND - shared, reference + _BAND - shared
    shifts = [
        shared if e is None or low <= e <= high else reference - e
        for e in exponents
    ]
    return shifts if any(shifts) else None


def _rescaled(vectors, norms, shifts):
    """Multiply each vector by 2**shift, exactly, and return (vectors, norms).

    Vectors with shift 0 are returned as they are. Every |shift| is at most
    _LIMIT, so 2**shift is a normal float, and a product with it is exact
    unless it underflows, which happens only to elements more than 2**500
    below the vector's norm.
    """
    vectors = list(vectors)
    norms = list(norms)
    for index, shift in enumerate(shifts):
        if not shift:
            continue
        factor = _ldexp(1.0, shift)
        vector = tuple([x * factor for x in vectors[index]])
        vectors[index] = vector
        norms[index] = _hypot(*vector)
    return vectors, norms


def products_by_distance(vectors_a, vectors_b, norms_b=None):
    """Return all dot products through ``math.dist`` and the law of cosines.

    ``vectors_a`` and ``vectors_b`` are lists of tuples of floats (lists
    work but are slower: ``math.dist`` copies a list into a tuple on every
    call). ``norms_b``, when given, is the list of ``math.hypot(*b)`` for
    ``vectors_b``. Each output element is within about 1e-13 * |a| |b| of
    the exact dot product; see the module docstring.
    """
    hypot = _hypot
    norms_a = [hypot(*a) for a in vectors_a]
    if norms_b is None:
        norms_b = [hypot(*b) for b in vectors_b]
    if not (all(map(_isfinite, norms_a)) and all(map(_isfinite, norms_b))):
        # An infinite or NaN element, or a norm beyond the float range.
        return _products_exact_kernel(vectors_a, vectors_b)

    # The reference exponent is the median of the side with more vectors,
    # so that fewer vectors need a rescaled copy.
    exponents_a = _exponents(norms_a)
    exponents_b = _exponents(norms_b)
    if len(vectors_b) > len(vectors_a):
        larger, smaller = exponents_b, exponents_a
    else:
        larger, smaller = exponents_a, exponents_b
    present = [e for e in larger if e is not None] or [e for e in smaller if e is not None]
    if not present:
        return [[0.0] * len(vectors_b) for _ in vectors_a]
    present.sort()
    reference = max(-_LIMIT, min(_LIMIT, present[len(present) // 2]))

    shifts_a = _shifts(exponents_a, reference)
    shifts_b = _shifts(exponents_b, reference)
    for shifts in (shifts_a, shifts_b):
        if shifts and max(map(abs, shifts)) > _LIMIT:
            # Norms more than 2**500 apart: the factors that undo the
            # rescaling would leave the float range.
            return _products_exact_kernel(vectors_a, vectors_b)
    if shifts_a:
        vectors_a, norms_a = _rescaled(vectors_a, norms_a, shifts_a)
    else:
        shifts_a = repeat(0)
    if shifts_b:
        vectors_b, norms_b = _rescaled(vectors_b, norms_b, shifts_b)
    shared_shift_b = shifts_b[0] if shifts_b and min(shifts_b) == max(shifts_b) else 0
    if shifts_b and not shared_shift_b:
        factors_b = [_ldexp(0.5, -shift) for shift in shifts_b]
    else:
        factors_b = None

    # The factor 2**-s_j / 2 undoes column j's rescaling and halves the law
    # of cosines. For a rescaled row it is multiplied by 2**-s_i, which stays
    # a normal float since |s_i + s_j| <= 2 * _LIMIT. When every column has
    # the same shift, the factor is one number per row.
    squares_b = [norm * norm for norm in norms_b]
    width = len(vectors_b)
    dist = _dist
    result = []
    for a, norm, shift in zip(vectors_a, norms_a, shifts_a):
        if not norm:
            result.append([0.0] * width)
            continue
        square = norm * norm
        distances = map(dist, repeat(a), vectors_b)
        # a . b = (|a|^2 + |b|^2 - |a - b|^2) / 2, then undo the rescaling.
        if factors_b is None:
            factor = _ldexp(0.5, -shift - shared_shift_b)
            result.append([(square + square_b - d * d) * factor for square_b, d in zip(squares_b, distances)])
        else:
            row_factor = _ldexp(1.0, -shift)
            result.append([
                (square + square_b - d * d) * (factor * row_factor)
                for square_b, factor, d in zip(squares_b, factors_b, distances)
            ])
    return result


# ---- choosing a kernel ---------------------------------------------------

KERNELS = {
    "sum": products_by_sum,
    "sumprod": products_by_sumprod,
    "distance": products_by_distance,
}

# A cost model per kernel, in nanoseconds, for an (m, k) @ (k, n) product:
#
#     call + vector * (m + n) + element * (m + n) * k + output * m * n + madd * m * n * k
#
# The coefficients are least-squares fits (benchmarks/fit_costs.py) to 275
# shapes from 1 x 1 x 1 to 128 x 128 x 128, timed on CPython 3.11.7 and
# 3.12.1 on a 2-core Intel Xeon. Only their ratios decide the choice. On a
# later run of 275 shapes, the chosen kernel took at most 1.16 times as long
# as the fastest one on 3.11 and 1.13 times on 3.12, and 1.003 times on
# average. NOTE: quick runs on 3.9, 3.10 and 3.13 (39 shapes, noisier) gave
# worst cases of 1.20, 1.35 and 1.05, so other interpreters and machines may
# see a few shapes near the crossover go to the slower kernel.
_COSTS_BEFORE_SUMPROD = {
    #            call  vector element output madd
    "sum":      (1150,   0,    5.0,   144,  17.3),
    "distance": (4020, 215,    6.4,    85,   4.4),
}
_COSTS_WITH_SUMPROD = {
    "sumprod":  (1020,   0,    6.3,   123,   5.7),
    "distance": (3650, 221,    8.4,    93,   4.7),
}
_COSTS = _COSTS_WITH_SUMPROD if _sumprod is not None else _COSTS_BEFORE_SUMPROD


def estimated_cost(kernel, m, k, n):
    """Return the modelled time in nanoseconds of ``kernel`` for an (m, k) @ (k, n) product."""
    call, vector, element, output, madd = _COSTS[kernel]
    return call + (vector + element * k) * (m + n) + (output + madd * k) * m * n


@lru_cache(maxsize=1024)
def choose_kernel(m, k, n):
    """Return the name of the kernel with the lowest modelled time for (m, k) @ (k, n).

    The candidates are "distance" and the element-by-element kernel of the
    interpreter: "sumprod" on Python 3.12 and newer, "sum" before. The
    choice for each shape is cached, since a training loop multiplies the
    same few shapes at every step.

    >>> choose_kernel(128, 128, 128)
    'distance'
    """
    return min(_COSTS, key=lambda kernel: estimated_cost(kernel, m, k, n))


def _rows(rows, kernel):
    """Return ``rows`` as vectors for ``kernel``: tuples for "distance", as they are otherwise."""
    return [tuple(row) for row in rows] if kernel == "distance" else rows


class Columns:
    """The columns of a (k, n) matrix b as tuples, kept for repeated products ``a @ b``.

    ``matmul(a, Columns(b))`` equals ``matmul(a, b)`` but skips transposing
    b, and after the first product with the distance kernel also skips
    computing the column norms. The columns are a copy, so a later change to
    b is not seen: the caller must build a new ``Columns`` when b changes.
    """

    __slots__ = ("vectors", "norms")

    def __init__(self, b):
        self.vectors = list(zip(*b))
        self.norms = None


def matmul_transposed(a, b, kernel=None):
    """Return ``a @ b.T``: each output element is a dot product of two rows.

    Shapes: a is (m, k), b is (n, k), the result is (m, n). ``kernel`` names
    one of ``KERNELS``; None lets ``choose_kernel`` pick.
    """
    if kernel is None:
        kernel = choose_kernel(len(a), len(a[0]), len(b))
    return KERNELS[kernel](_rows(a, kernel), _rows(b, kernel))


def matmul(a, b, kernel=None):
    """Return ``a @ b`` for a of shape (m, k) and b of shape (k, n), or a ``Columns`` of it."""
    columns = b.vectors if isinstance(b, Columns) else list(zip(*b))
    if kernel is None:
        kernel = choose_kernel(len(a), len(columns[0]), len(columns))
    if kernel != "distance":
        return KERNELS[kernel](a, columns)
    if not isinstance(b, Columns):
        return products_by_distance(_rows(a, kernel), columns)
    if b.norms is None:
        hypot = _hypot
        b.norms = [hypot(*column) for column in columns]
    return products_by_distance(_rows(a, kernel), columns, b.norms)


def transposed_matmul(a, b, kernel=None):
    """Return ``a.T @ b`` for a of shape (m, k) and b of shape (m, n)."""
    columns_a, columns_b = list(zip(*a)), list(zip(*b))
    if kernel is None:
        kernel = choose_kernel(len(columns_a), len(a), len(columns_b))
    return KERNELS[kernel](columns_a, columns_b)
