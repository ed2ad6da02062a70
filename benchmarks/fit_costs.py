"""Fit the cost model that ``clsd.kernels.choose_kernel`` uses, and check its choices.

    python benchmarks/fit_costs.py            about 2 minutes
    python benchmarks/fit_costs.py --quick    about 30 seconds

Times every kernel this interpreter can run on products (m, k) @ (k, n)
with m, k and n from 1 to 128, then fits, per kernel,

    time = call + vector * (m + n) + element * (m + n) * k + output * m * n + madd * m * n * k

by least squares on relative error, and prints the coefficients in
nanoseconds next to the ones in ``clsd.kernels``. It then reports how often
the model in ``clsd.kernels`` picked a kernel other than the fastest one
measured, and the worst and mean slowdown that cost. Needs only the
standard library.
"""

import argparse
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from clsd import kernels  # noqa: E402  (needs the path above)

TERMS = ("call", "vector", "element", "output", "madd")


def features(m, k, n):
    return [1.0, m + n, (m + n) * k, m * n, m * n * k]


def solve(matrix, vector):
    """Solve the square linear system ``matrix @ x = vector`` by Gaussian elimination."""
    size = len(vector)
    rows = [list(row) + [value] for row, value in zip(matrix, vector)]
    for column in range(size):
        pivot = max(range(column, size), key=lambda r: abs(rows[r][column]))
        rows[column], rows[pivot] = rows[pivot], rows[column]
        for r in range(size):
            if r != column:
                factor = rows[r][column] / rows[column][column]
                rows[r] = [x - factor * y for x, y in zip(rows[r], rows[column])]
    return [rows[r][size] / rows[r][r] for r in range(size)]


def fit(samples):
    """Return the least-squares coefficients for [(m, k, n, nanoseconds)], weighted by 1 / time."""
    normal = [[0.0] * 5 for _ in range(5)]
    right = [0.0] * 5
    for m, k, n, nanoseconds in samples:
        row = [x / nanoseconds for x in features(m, k, n)]
        for i in range(5):
            right[i] += row[i]
            for j in range(5):
                normal[i][j] += row[i] * row[j]
    return solve(normal, right)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer shapes and repeats")
    arguments = parser.parse_args(argv)
    sizes = (1, 4, 16, 64) if arguments.quick else (1, 2, 4, 8, 16, 32, 64, 128)
    names = [name for name in kernels._COSTS]

    rng = random.Random(0)
    shapes = [(m, k, n) for m in sizes for k in sizes for n in sizes if m <= n and m * k * n <= 2**17]
    rng.shuffle(shapes)
    measured = []
    for m, k, n in shapes:
        a = [[rng.uniform(-1.0, 1.0) for _ in range(k)] for _ in range(m)]
        b = [[rng.uniform(-1.0, 1.0) for _ in range(n)] for _ in range(k)]
        repeats = max(3, min(40, int(2e5 / (m * k * n))))
        times = {name: [] for name in names}
        for _ in range(repeats):
            for name in names:
                started = time.perf_counter()
                kernels.matmul(a, b, kernel=name)
                times[name].append(time.perf_counter() - started)
        measured.append((m, k, n, {name: statistics.median(t) * 1e9 for name, t in times.items()}))

    print(f"Python {sys.version.split()[0]}, {len(measured)} shapes. Coefficients in ns:\n")
    print("| kernel | " + " | ".join(TERMS) + " |")
    print("|---|" + "---|" * len(TERMS))
    for name in names:
        fitted = fit([(m, k, n, t[name]) for m, k, n, t in measured])
        print(f"| {name}, fitted here | " + " | ".join(f"{c:.1f}" for c in fitted) + " |")
        print(f"| {name}, in clsd.kernels | " + " | ".join(f"{c:g}" for c in kernels._COSTS[name]) + " |")

    wrong, slowdowns = 0, []
    for m, k, n, t in measured:
        picked = kernels.choose_kernel(m, k, n)
        fastest = min(t, key=t.get)
        wrong += picked != fastest
        slowdowns.append(t[picked] / t[fastest])
    print(f"\nThe model in clsd.kernels picked a slower kernel on {wrong} of {len(measured)} shapes; "
          f"time / fastest: worst {max(slowdowns):.2f}, mean {statistics.fmean(slowdowns):.3f}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
