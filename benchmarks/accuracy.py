"""Measure the error of each product kernel relative to |a| |b|, against exact products.

    python benchmarks/accuracy.py           about 10 seconds
    python benchmarks/accuracy.py --quick   about 2 seconds

For random vector pairs whose norms differ by a chosen ratio r, prints the
largest |computed - exact| / (|a| |b|), in units of eps = 2**-52, for:

- each kernel of ``clsd.kernels`` that this interpreter can run;
- the distance kernel with its power-of-two rescaling switched off, which
  shows why the rescaling is there;
- the symmetric polarization identity (|a + b|^2 - |a - b|^2) / 4 through
  two ``math.dist`` calls on unit vectors, the other formulation considered.

The exact dot product is computed with ``fractions.Fraction``. Half of the
pairs are random, and half are nearly parallel, nearly antiparallel or
orthogonal, where cancellation is worst. Needs only the standard library.
"""

import argparse
import math
import os
import random
import sys
from fractions import Fraction

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from clsd import kernels  # noqa: E402  (needs the path above)

EPS = 2.0 ** -52


def polarization(a, b):
    """Return a . b as |a| |b| (|u + v|^2 - |u - v|^2) / 4 with unit vectors u and v."""
    norm_a, norm_b = math.hypot(*a), math.hypot(*b)
    if not norm_a or not norm_b:
        return 0.0
    u = [x / norm_a for x in a]
    v = [x / norm_b for x in b]
    plus = math.dist(u, [-x for x in v])
    minus = math.dist(u, v)
    return norm_a * norm_b * (plus * plus - minus * minus) / 4.0


def distance_without_rescaling(a, b):
    """Return a . b by the law of cosines with the rescaling band made infinite."""
    saved = kernels._BAND
    kernels._BAND = 10**6
    try:
        return kernels.products_by_distance([tuple(a)], [tuple(b)])[0][0]
    finally:
        kernels._BAND = saved


def pair(rng, k, ratio, kind):
    """Return two vectors of length k with |b| / |a| near ``ratio``."""
    a = [rng.uniform(-1.0, 1.0) for _ in range(k)]
    if kind == "random":
        b = [rng.uniform(-1.0, 1.0) for _ in range(k)]
    elif kind == "parallel":
        b = [x + rng.uniform(-1e-8, 1e-8) for x in a]
    elif kind == "antiparallel":
        b = [-x + rng.uniform(-1e-8, 1e-8) for x in a]
    else:
        b = [rng.uniform(-1.0, 1.0) for _ in range(k)]
        along = math.fsum(x * y for x, y in zip(a, b)) / math.fsum(x * x for x in a)
        b = [y - along * x for x, y in zip(a, b)]
    scale = ratio * math.hypot(*a) / math.hypot(*b)
    return a, [y * scale for y in b]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer pairs per cell")
    arguments = parser.parse_args(argv)
    pairs = 40 if arguments.quick else 200

    methods = {name: None for name in kernels.KERNELS if name != "sumprod" or kernels._sumprod is not None}
    methods["distance, no rescaling"] = distance_without_rescaling
    methods["polarization, 2 dist calls"] = polarization
    exponents = [0, 3, 6, 9, 12, 20]
    print(f"Python {sys.version.split()[0]}: largest |computed - exact| / (|a| |b|) in units of "
          f"eps = 2**-52, over {pairs} pairs per cell, vector lengths 2 to 128. The bound the "
          f"tests check, 1e-12, is {1e-12 / EPS:.0f} eps.\n")
    print("| method | " + " | ".join(f"r = 2**{e}" for e in exponents) + " |")
    print("|---|" + "---|" * len(exponents))
    rng = random.Random(0)
    for name, function in methods.items():
        cells = []
        for exponent in exponents:
            worst = 0.0
            for index in range(pairs):
                kind = ("random", "parallel", "antiparallel", "orthogonal")[index % 4]
                k = rng.choice((2, 3, 8, 33, 128))
                a, b = pair(rng, k, 2.0 ** exponent, kind)
                if function is None:
                    value = kernels.KERNELS[name]([tuple(a)], [tuple(b)])[0][0]
                else:
                    value = function(a, b)
                exact = sum(Fraction(x) * Fraction(y) for x, y in zip(a, b))
                error = abs(Fraction(value) - exact) / Fraction(math.hypot(*a) * math.hypot(*b))
                worst = max(worst, float(error) / EPS)
            cells.append(f"{worst:.1f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
