"""A small 2-D float matrix, stored as a list of row lists.

Rows are samples and columns are features, so a batch of 32 inputs with 64
features is a ``Tensor`` of shape (32, 64). A flat list is one row.

>>> x = Tensor([[1, 2], [3, 4]])
>>> x.shape
(2, 2)
>>> (x @ x.T).tolist()
[[5.0, 11.0], [11.0, 25.0]]
>>> (x + Tensor([10, 20])).tolist()
[[11.0, 22.0], [13.0, 24.0]]

Elementwise ``+ - * /`` take a tensor of the same shape, a number, or a
1 x n row that is broadcast over every row. Bad input raises ``TypeError``
(not a number, not a tensor) or ``ValueError`` (ragged, empty, non-finite,
shapes that do not fit), and the message names the operation and the shapes.
"""

import math
import operator
import random as _random

from . import kernels

_Number = (int, float)


def _is_number(value):
    return isinstance(value, _Number) and not isinstance(value, bool)


def _check_row(row, index, where):
    numbers = []
    for column, value in enumerate(row):
        if not _is_number(value):
            raise TypeError(
                f"{where}: element [{index}][{column}] is {value!r} of type "
                f"{type(value).__name__}; expected an int or a float"
            )
        try:
            value = float(value)
        except OverflowError:
            raise ValueError(
                f"{where}: element [{index}][{column}] is an int too large for a "
                "float; expected a finite number"
            ) from None
        if not math.isfinite(value):
            raise ValueError(
                f"{where}: element [{index}][{column}] is {value!r}; "
                "expected a finite number"
            )
        numbers.append(value)
    return numbers


def _finite_scalar(value, where):
    try:
        scalar = float(value)
    except OverflowError:
        scalar = math.inf
    if not math.isfinite(scalar):
        raise ValueError(f"{where}: the number is {value!r:.40}; expected a finite number")
    return scalar


def _rows_from(data, where):
    """Validate nested lists and return them as fresh row lists of floats."""
    if isinstance(data, Tensor):
        # Checked again: ``map`` and arithmetic can put inf or NaN in a tensor.
        return [_check_row(row, index, where) for index, row in enumerate(data.data)]
    if isinstance(data, (str, bytes)) or not hasattr(data, "__len__"):
        raise TypeError(
            f"{where}: expected a list of rows or a flat list of numbers, "
            f"got {type(data).__name__}"
        )
    data = list(data)
    if not data:
        raise ValueError(f"{where}: expected at least one row, got an empty list")
    if all(_is_number(value) for value in data):
        data = [data]
    rows = []
    for index, row in enumerate(data):
        if isinstance(row, (str, bytes)) or not hasattr(row, "__len__"):
            raise TypeError(
                f"{where}: row {index} is {row!r}; expected a list of numbers "
                "(mixing numbers and rows is not allowed)"
            )
        rows.append(_check_row(row, index, where))
    width = len(rows[0])
    if width == 0:
        raise ValueError(f"{where}: rows must not be empty, got shape ({len(rows)}, 0)")
    for index, row in enumerate(rows):
        if len(row) != width:
            raise ValueError(
                f"{where}: ragged rows: row 0 has {width} elements but row "
                f"{index} has {len(row)}"
            )
    return rows


def _check_size(rows, columns, where):
    for name, value in (("rows", rows), ("columns", columns)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{where}: {name} must be an int, got {value!r}")
        if value < 1:
            raise ValueError(f"{where}: {name} must be at least 1, got {value!r}")


class Tensor:
    """A 2-D matrix of floats with shape (rows, columns).

    ``Tensor(data)`` copies ``data``, which is a list of equal-length rows of
    ints or floats, a flat list (one row), or another ``Tensor``. The values
    are stored in ``.data`` as a list of row lists of floats.

    Raises ``TypeError`` for a value that is not an int or float, and
    ``ValueError`` for ragged rows, an empty matrix, NaN or infinity.

    Arithmetic follows IEEE 754 as Python's floats do: a result that
    overflows becomes inf, and ``map`` may return NaN. Such a tensor is
    rejected where it enters a model (``Tensor(t)``, ``layer.weight = t``)
    and reported by ``fit`` as a diverged loss.
    """

    __slots__ = ("data",)
    __hash__ = None

    def __init__(self, data):
        self.data = _rows_from(data, "Tensor")

    @classmethod
    def _wrap(cls, rows):
        """Wrap rows the library has built itself, without copying or checking."""
        tensor = cls.__new__(cls)
        tensor.data = rows
        return tensor

    # ---- constructors -------------------------------------------------

    @classmethod
    def zeros(cls, rows, columns):
        """Return a (rows, columns) tensor of zeros."""
        _check_size(rows, columns, "Tensor.zeros")
        return cls._wrap([[0.0] * columns for _ in range(rows)])

    @classmethod
    def ones(cls, rows, columns):
        """Return a (rows, columns) tensor of ones."""
        _check_size(rows, columns, "Tensor.ones")
        return cls._wrap([[1.0] * columns for _ in range(rows)])

    @classmethod
    def full(cls, rows, columns, value):
        """Return a (rows, columns) tensor with every element equal to ``value``."""
        _check_size(rows, columns, "Tensor.full")
        value = _check_row([value], 0, "Tensor.full")[0]
        return cls._wrap([[value] * columns for _ in range(rows)])

    @classmethod
    def uniform(cls, rows, columns, low=-1.0, high=1.0, seed=None):
        """Return a tensor of values drawn uniformly from [low, high).

        ``seed`` is an int (same seed, same values) or a ``random.Random``
        instance to draw from; ``None`` draws a fresh seed from the system.
        """
        _check_size(rows, columns, "Tensor.uniform")
        low, high = _check_row([low, high], 0, "Tensor.uniform")
        if not low < high:
            raise ValueError(f"Tensor.uniform: expected low < high, got low={low!r}, high={high!r}")
        rng = make_rng(seed)
        span = high - low
        return cls._wrap(
            [[low + span * rng.random() for _ in range(columns)] for _ in range(rows)]
        )

    @classmethod
    def normal(cls, rows, columns, mean=0.0, std=1.0, seed=None):
        """Return a tensor of values drawn from a normal distribution.

        ``seed`` works as in ``Tensor.uniform``.
        """
        _check_size(rows, columns, "Tensor.normal")
        mean, std = _check_row([mean, std], 0, "Tensor.normal")
        if std < 0:
            raise ValueError(f"Tensor.normal: std must be at least 0, got {std!r}")
        rng = make_rng(seed)
        return cls._wrap(
            [[rng.gauss(mean, std) for _ in range(columns)] for _ in range(rows)]
        )

    # ---- shape and conversion -----------------------------------------

    @property
    def shape(self):
        """The pair (rows, columns)."""
        return (len(self.data), len(self.data[0]))

    def tolist(self):
        """Return a copy of the values as a list of row lists."""
        return [row[:] for row in self.data]

    def copy(self):
        """Return a copy that shares no rows with this tensor."""
        return Tensor._wrap([row[:] for row in self.data])

    def item(self):
        """Return the single value of a 1 x 1 tensor as a float."""
        if self.shape != (1, 1):
            raise ValueError(f"item: expected shape (1, 1), got {self.shape}")
        return self.data[0][0]

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        """``t[i]`` returns a copy of row i; ``t[i, j]`` returns one float."""
        if isinstance(index, tuple):
            row, column = index
            return self.data[row][column]
        return self.data[index][:]

    def rows(self, indices):
        """Return a new tensor made of the rows at ``indices``, in that order."""
        data = self.data
        return Tensor._wrap([data[i][:] for i in indices])

    @property
    def T(self):
        """The transpose, as a new tensor."""
        return Tensor._wrap(kernels.transpose(self.data))

    def __repr__(self):
        rows, columns = self.shape
        if rows * columns <= 64:
            body = ", ".join(
                "[" + ", ".join(f"{value:.6g}" for value in row) + "]" for row in self.data
            )
            return f"Tensor([{body}])"
        first = ", ".join(f"{value:.6g}" for value in self.data[0][:6])
        more = ", ..." if columns > 6 else ""
        return f"Tensor(shape=({rows}, {columns}), first row [{first}{more}])"

    def _repr_html_(self):
        """Return an HTML table that Jupyter shows inline for up to 20 x 20 values.

        Larger tensors return None, so that Jupyter falls back to ``repr``.
        """
        rows, columns = self.shape
        if rows > 20 or columns > 20:
            return None
        header = "".join(f"<th>{j}</th>" for j in range(columns))
        body = "".join(
            f"<tr><th>{i}</th>" + "".join(f"<td>{value:.4g}</td>" for value in row) + "</tr>"
            for i, row in enumerate(self.data)
        )
        return (
            f"<table><caption>Tensor of shape ({rows}, {columns})</caption>"
            f"<thead><tr><th></th>{header}</tr></thead><tbody>{body}</tbody></table>"
        )

    # ---- comparison ---------------------------------------------------

    def __eq__(self, other):
        """Exact equality: same shape and bit-for-bit equal values."""
        if not isinstance(other, Tensor):
            return NotImplemented
        return self.data == other.data

    def allclose(self, other, rel_tol=1e-9, abs_tol=1e-12):
        """Return True when shapes match and every pair of values is close.

        Two values are close as in ``math.isclose(a, b, rel_tol, abs_tol)``.
        """
        other = as_tensor(other, "allclose")
        if self.shape != other.shape:
            return False
        isclose = math.isclose
        return all(
            isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)
            for row_a, row_b in zip(self.data, other.data)
            for a, b in zip(row_a, row_b)
        )

    # ---- products -----------------------------------------------------

    def __matmul__(self, other):
        if not isinstance(other, Tensor):
            return NotImplemented
        if self.shape[1] != other.shape[0]:
            raise ValueError(f"matmul shape mismatch: {self.shape} @ {other.shape}")
        return Tensor._wrap(kernels.matmul(self.data, other.data))

    # ---- elementwise arithmetic ---------------------------------------

    def _elementwise(self, other, op, name, reverse=False):
        if _is_number(other):
            scalar = _finite_scalar(other, name)
            if reverse:
                rows = [[op(scalar, a) for a in row] for row in self.data]
            else:
                rows = [[op(a, scalar) for a in row] for row in self.data]
            return Tensor._wrap(rows)
        if not isinstance(other, Tensor):
            return NotImplemented
        left, right = (other, self) if reverse else (self, other)
        if left.shape == right.shape:
            pairs = zip(left.data, right.data)
        elif right.shape == (1, left.shape[1]):
            pairs = ((row, right.data[0]) for row in left.data)
        elif left.shape == (1, right.shape[1]):
            pairs = ((left.data[0], row) for row in right.data)
        else:
            raise ValueError(
                f"{name} shape mismatch: {left.shape} and {right.shape}; expected "
                "equal shapes or a (1, n) row with n columns"
            )
        return Tensor._wrap([list(map(op, a, b)) for a, b in pairs])

    def __add__(self, other):
        return self._elementwise(other, operator.add, "add")

    def __radd__(self, other):
        return self._elementwise(other, operator.add, "add", reverse=True)

    def __sub__(self, other):
        return self._elementwise(other, operator.sub, "subtract")

    def __rsub__(self, other):
        return self._elementwise(other, operator.sub, "subtract", reverse=True)

    def __mul__(self, other):
        return self._elementwise(other, operator.mul, "multiply")

    def __rmul__(self, other):
        return self._elementwise(other, operator.mul, "multiply", reverse=True)

    def __truediv__(self, other):
        return self._elementwise(other, operator.truediv, "divide")

    def __rtruediv__(self, other):
        return self._elementwise(other, operator.truediv, "divide", reverse=True)

    def __neg__(self):
        return Tensor._wrap([[-a for a in row] for row in self.data])

    def map(self, function):
        """Return a new tensor with ``function`` applied to every element.

        Raises ``TypeError`` when ``function`` returns something other than
        an int or a float. A NaN or infinite result is kept, as arithmetic
        keeps it.
        """
        rows = [list(map(function, row)) for row in self.data]
        for index, row in enumerate(rows):
            for column, value in enumerate(row):
                if not _is_number(value):
                    raise TypeError(
                        f"Tensor.map: function returned {value!r} of type {type(value).__name__} "
                        f"for element [{index}][{column}]; expected an int or a float"
                    )
        return Tensor._wrap([[float(value) for value in row] for row in rows])

    # ---- reductions ---------------------------------------------------

    def sum(self, axis=None):
        """Sum all elements (a float), down the rows (axis 0, shape (1, n))
        or across the columns (axis 1, shape (m, 1))."""
        if axis is None:
            return math.fsum(math.fsum(row) for row in self.data)
        if axis == 0:
            return Tensor._wrap([[math.fsum(column) for column in zip(*self.data)]])
        if axis == 1:
            return Tensor._wrap([[math.fsum(row)] for row in self.data])
        raise ValueError(f"sum: axis must be None, 0 or 1, got {axis!r}")

    def mean(self, axis=None):
        """Mean of all elements, or per axis as in ``sum``."""
        rows, columns = self.shape
        if axis is None:
            return self.sum() / (rows * columns)
        if axis == 0:
            return self.sum(0) / rows
        if axis == 1:
            return self.sum(1) / columns
        raise ValueError(f"mean: axis must be None, 0 or 1, got {axis!r}")


def make_rng(seed):
    """Return a ``random.Random`` for ``seed``: an int, None, or a Random to reuse."""
    if isinstance(seed, _random.Random):
        return seed
    if seed is None or (isinstance(seed, int) and not isinstance(seed, bool)):
        return _random.Random(seed)
    raise TypeError(f"seed must be an int, None or a random.Random, got {seed!r}")


def as_tensor(value, name="value", copy=False):
    """Return ``value`` as a ``Tensor``, converting nested lists; ``name`` goes in errors.

    A ``Tensor`` is returned as it is unless ``copy`` is True; then it is
    copied and checked like nested lists (finite ints or floats only).
    """
    if isinstance(value, Tensor) and not copy:
        return value
    return Tensor._wrap(_rows_from(value, name))
