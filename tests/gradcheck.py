"""Shared helpers for the tests: central-difference gradient checks and close-value asserts."""

import math

from clsd.tensor import Tensor


def numerical_gradient(function, tensor, step=1e-6):
    """Return dF/dtensor by central differences, where ``function()`` returns a float.

    ``tensor`` is perturbed in place, one element at a time, and restored.
    """
    rows, columns = tensor.shape
    grad = [[0.0] * columns for _ in range(rows)]
    for i in range(rows):
        for j in range(columns):
            original = tensor.data[i][j]
            tensor.data[i][j] = original + step
            plus = function()
            tensor.data[i][j] = original - step
            minus = function()
            tensor.data[i][j] = original
            grad[i][j] = (plus - minus) / (2.0 * step)
    return Tensor._wrap(grad)


def assert_close_tensors(test, actual, expected, rel_tol=1e-6, abs_tol=1e-8, label="tensor"):
    """Fail ``test`` with the worst absolute and relative error when two tensors differ."""
    test.assertEqual(actual.shape, expected.shape, f"{label}: shapes differ")
    worst = (0.0, 0.0, None)
    for i, (row_a, row_e) in enumerate(zip(actual.data, expected.data)):
        for j, (a, e) in enumerate(zip(row_a, row_e)):
            error = abs(a - e)
            if not math.isclose(a, e, rel_tol=rel_tol, abs_tol=abs_tol) and error >= worst[0]:
                worst = (error, error / max(abs(e), 1e-300), (i, j, a, e))
    if worst[2] is not None:
        i, j, a, e = worst[2]
        test.fail(
            f"{label}: element [{i}][{j}] is {a!r}, expected {e!r} "
            f"(absolute error {worst[0]:.3g}, relative error {worst[1]:.3g})"
        )


def check_gradient(test, function, tensor, analytic, rel_tol=1e-5, abs_tol=1e-7, label="gradient"):
    """Assert that ``analytic`` matches the central-difference gradient of ``function``."""
    numeric = numerical_gradient(function, tensor)
    assert_close_tensors(test, analytic, numeric, rel_tol=rel_tol, abs_tol=abs_tol, label=label)
