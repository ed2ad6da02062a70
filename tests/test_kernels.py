"""Accuracy and edge cases of the matrix-product kernels, and memory of a training step.

Every kernel is checked against an exact reference: ``fractions.Fraction``
arithmetic on small products and ``math.fsum`` of the elementwise products
on larger ones. The bound is the one the kernels promise: each output
element within 1e-12 * |a_i| * |b_j|, the product of the norms of the row
of the left factor and the column of the right factor.
"""

import gc
import math
import random
import unittest
from fractions import Fraction

from clsd import kernels
from clsd.layer import Layer
from clsd.network import Network
from clsd.optim import SGD, Adam
from clsd.tensor import Tensor
from clsd.trainer import CLSDTrainer, LayerMatch
from clsd import losses

BOUND = 1e-12

# Every kernel this interpreter can run; "sumprod" needs Python 3.12.
AVAILABLE = [name for name in kernels.KERNELS if name != "sumprod" or kernels._sumprod is not None]

# The three public products and how each one's result relates to a @ b.
PRODUCTS = {
    "matmul": (kernels.matmul, lambda a, b: (a, b)),
    "matmul_transposed": (kernels.matmul_transposed, lambda a, b: (a, _transpose(b))),
    "transposed_matmul": (kernels.transposed_matmul, lambda a, b: (_transpose(a), b)),
}


def _transpose(rows):
    return [list(column) for column in zip(*rows)]


def _random_matrix(rng, rows, columns, scale=1.0):
    return [[rng.uniform(-1.0, 1.0) * scale for _ in range(columns)] for _ in range(rows)]


def _exact_product(a, b):
    """Return a @ b in exact rational arithmetic."""
    columns = list(zip(*b))
    return [
        [sum(Fraction(x) * Fraction(y) for x, y in zip(row, column)) for column in columns]
        for row in a
    ]


def _fsum_product(a, b):
    """Return a @ b with each dot product summed by math.fsum (error far below the bound)."""
    columns = list(zip(*b))
    return [[math.fsum(x * y for x, y in zip(row, column)) for column in columns] for row in a]


class KernelAccuracyMixin:
    """Helpers that compare a kernel's output with a reference, element by element."""

    def assert_within_bound(self, actual, a, b, reference, label):
        """Check every element of ``actual`` (an a @ b) against ``reference``."""
        self.assertEqual(len(actual), len(a), f"{label}: row count")
        columns = list(zip(*b))
        for i, (row, expected_row) in enumerate(zip(actual, reference)):
            self.assertEqual(len(row), len(columns), f"{label}: row {i} length")
            norm_a = math.hypot(*a[i])
            for j, (value, expected) in enumerate(zip(row, expected_row)):
                self.assertIsInstance(value, float, f"{label}: element [{i}][{j}]")
                allowed = BOUND * norm_a * math.hypot(*columns[j])
                error = abs(Fraction(value) - Fraction(expected))
                if error > Fraction(allowed):
                    self.fail(
                        f"{label}: element [{i}][{j}] is {value!r}, exact {float(expected)!r}; "
                        f"error {float(error):.3g} exceeds {allowed:.3g} = 1e-12 * |a_i| * |b_j|"
                    )

    def check_all_kernels(self, a, b, reference=None, label=""):
        """Run every kernel through every public product of a and b and check the bound."""
        if reference is None:
            reference = _exact_product(a, b)
        for product_name, (product, arrange) in PRODUCTS.items():
            left, right = arrange(a, b)
            for kernel in AVAILABLE + [None]:
                with self.subTest(product=product_name, kernel=kernel or "chosen"):
                    actual = product(left, right, kernel=kernel)
                    self.assert_within_bound(actual, a, b, reference, f"{label} {product_name}/{kernel}")


class RandomInputTest(KernelAccuracyMixin, unittest.TestCase):
    def test_every_small_shape(self):
        rng = random.Random(1)
        sizes = (1, 2, 3, 5, 8)
        for m in sizes:
            for k in sizes:
                for n in sizes:
                    a = _random_matrix(rng, m, k)
                    b = _random_matrix(rng, k, n)
                    self.check_all_kernels(a, b, label=f"({m}, {k}) @ ({k}, {n})")

    def test_one_by_n_and_n_by_one(self):
        rng = random.Random(2)
        for m, k, n in ((1, 1, 1), (1, 40, 1), (1, 40, 30), (30, 40, 1), (1, 1, 30), (30, 1, 1)):
            a = _random_matrix(rng, m, k)
            b = _random_matrix(rng, k, n)
            self.check_all_kernels(a, b, label=f"({m}, {k}) @ ({k}, {n})")

    def test_large_shape_against_fsum(self):
        rng = random.Random(3)
        a = _random_matrix(rng, 24, 130)
        b = _random_matrix(rng, 130, 20)
        self.check_all_kernels(a, b, reference=_fsum_product(a, b), label="(24, 130) @ (130, 20)")

    def test_rows_of_very_different_norms(self):
        # Norms from 1e-120 to 1e120 in one product: the distance kernel
        # rescales the rows far from the reference norm by powers of two.
        rng = random.Random(4)
        a = [[rng.uniform(-1.0, 1.0) * 10.0 ** (30 * (i - 4)) for _ in range(16)] for i in range(9)]
        b = [[rng.uniform(-1.0, 1.0) * 10.0 ** (20 * (j % 5 - 2)) for j in range(12)] for _ in range(16)]
        self.check_all_kernels(a, b, label="mixed norms")

    def test_rows_closer_than_the_band_are_not_rescaled(self):
        # Norms within a factor of 2**_BAND of each other go through the
        # distance kernel as they are; the result still meets the bound.
        rng = random.Random(5)
        a = [[rng.uniform(-1.0, 1.0) * (1.0 + 3 * i) for _ in range(40)] for i in range(6)]
        b = _random_matrix(rng, 40, 7)
        self.check_all_kernels(a, b, label="norms within the band")


class OrthogonalInputTest(KernelAccuracyMixin, unittest.TestCase):
    @staticmethod
    def _hadamard(order):
        rows = [[1.0]]
        while len(rows) < order:
            rows = [row + row for row in rows] + [row + [-x for x in row] for row in rows]
        return rows

    def test_hadamard_rows(self):
        # H @ H.T = 16 I: every off-diagonal element is exactly 0, and the
        # kernels must return it within 1e-12 * |a_i| * |b_j| of 0.
        h = self._hadamard(16)
        self.check_all_kernels(h, _transpose(h), label="Hadamard")

    def test_scaled_orthogonal_rows(self):
        # The same rows with norms spread over 60 orders of magnitude.
        h = self._hadamard(16)
        scaled = [[x * 10.0 ** (4 * i - 30) for x in row] for i, row in enumerate(h)]
        self.check_all_kernels(scaled, _transpose(h), label="scaled Hadamard")

    def test_orthogonal_pair_off_axis(self):
        a = [[0.6, 0.8, 0.0]]
        b = [[0.8], [-0.6], [0.0]]
        self.check_all_kernels(a, b, label="orthogonal pair")


class ZeroInputTest(KernelAccuracyMixin, unittest.TestCase):
    def test_all_zero_rows_and_columns_give_exact_zeros(self):
        rng = random.Random(6)
        a = _random_matrix(rng, 6, 20)
        b = _random_matrix(rng, 20, 7)
        a[2] = [0.0] * 20
        for row in b:
            row[4] = 0.0
        self.check_all_kernels(a, b, label="zero row and column")
        for kernel in AVAILABLE:
            with self.subTest(kernel=kernel):
                product = kernels.matmul(a, b, kernel=kernel)
                self.assertEqual(product[2], [0.0] * 7)
                self.assertEqual([row[4] for row in product], [0.0] * 6)

    def test_all_zero_matrix(self):
        for kernel in AVAILABLE:
            with self.subTest(kernel=kernel):
                self.assertEqual(kernels.matmul([[0.0] * 5] * 3, [[0.0] * 4] * 5, kernel=kernel), [[0.0] * 4] * 3)
                self.assertEqual(kernels.matmul([[0.0] * 5] * 3, [[1.0] * 4] * 5, kernel=kernel), [[0.0] * 4] * 3)


class ExtremeScaleTest(KernelAccuracyMixin, unittest.TestCase):
    def test_1e150_scaled_inputs_do_not_overflow(self):
        # Elements near 1e150 give products near 1e302, inside the float
        # range; the squares of the norms would overflow without rescaling.
        rng = random.Random(7)
        a = _random_matrix(rng, 5, 33, scale=1e150)
        b = _random_matrix(rng, 33, 6, scale=1e150)
        self.check_all_kernels(a, b, label="1e150")
        for row in kernels.matmul(a, b, kernel="distance"):
            self.assertTrue(all(map(math.isfinite, row)), row)

    def test_1e150_and_1e_150_mixed(self):
        rng = random.Random(8)
        a = _random_matrix(rng, 5, 33, scale=1e150)
        b = _random_matrix(rng, 33, 6, scale=1e-150)
        self.check_all_kernels(a, b, label="1e150 @ 1e-150")

    def test_tiny_inputs_keep_their_precision(self):
        rng = random.Random(9)
        a = _random_matrix(rng, 4, 17, scale=1e-150)
        b = _random_matrix(rng, 17, 3, scale=1e-140)
        self.check_all_kernels(a, b, label="1e-150 @ 1e-140")

    def test_norms_beyond_the_rescaling_range(self):
        # Row norms 1e-200 and 1e200 are more than 2**500 apart, so the
        # distance kernel hands the product to the element-by-element kernel.
        a = [[1e-200, 2e-200, -1e-200], [1e200, -3e200, 2e200]]
        b = [[1.0, 2.0], [0.5, -1.0], [-2.0, 0.25]]
        self.check_all_kernels(a, b, label="beyond the rescaling range")

    def test_norm_that_overflows_falls_back(self):
        # |a| overflows although every element and every product is finite.
        a = [[1e308, 1e308, -1e308]]
        b = [[1e-300], [2e-300], [1e-300]]
        self.check_all_kernels(a, b, label="overflowing norm")
        self.assertAlmostEqual(kernels.matmul(a, b, kernel="distance")[0][0], 2e8, delta=1e-4)

    def test_non_finite_elements_propagate(self):
        a = [[math.inf, 1.0], [1.0, 2.0]]
        b = [[1.0, 0.0], [2.0, 1.0]]
        expected = kernels.products_by_sum([tuple(row) for row in a], list(zip(*b)))
        for kernel in AVAILABLE:
            with self.subTest(kernel=kernel):
                actual = kernels.matmul(a, b, kernel=kernel)
                self.assertEqual(actual[0][0], math.inf)
                self.assertTrue(math.isnan(actual[0][1]) and math.isnan(expected[0][1]))
                self.assertEqual(actual[1], expected[1])


class ChoiceTest(unittest.TestCase):
    def test_tiny_products_use_an_element_kernel(self):
        # Small integer-valued products stay exact on the element kernels.
        element_kernel = "sumprod" if kernels._sumprod is not None else "sum"
        for shape in ((1, 1, 1), (2, 2, 2), (1, 3, 2), (4, 2, 3)):
            with self.subTest(shape=shape):
                self.assertEqual(kernels.choose_kernel(*shape), element_kernel)
        self.assertEqual((Tensor([[1, 2], [3, 4]]) @ Tensor([[1, 0], [0, 1]])).tolist(), [[1.0, 2.0], [3.0, 4.0]])

    def test_large_products_use_the_distance_kernel(self):
        for shape in ((128, 128, 128), (32, 128, 128), (32, 64, 128)):
            with self.subTest(shape=shape):
                self.assertEqual(kernels.choose_kernel(*shape), "distance")

    def test_estimated_cost_grows_with_every_dimension(self):
        for kernel in kernels._COSTS:
            base = kernels.estimated_cost(kernel, 8, 8, 8)
            for shape in ((16, 8, 8), (8, 16, 8), (8, 8, 16)):
                with self.subTest(kernel=kernel, shape=shape):
                    self.assertGreater(kernels.estimated_cost(kernel, *shape), base)

    def test_unknown_kernel_name(self):
        with self.assertRaises(KeyError):
            kernels.matmul([[1.0]], [[1.0]], kernel="blas")

    @unittest.skipIf(kernels._sumprod is not None, "math.sumprod exists on this interpreter")
    def test_sumprod_is_not_chosen_without_math_sumprod(self):
        self.assertNotIn("sumprod", kernels._COSTS)

    def test_transpose(self):
        self.assertEqual(kernels.transpose([[1.0, 2.0, 3.0]]), [[1.0], [2.0], [3.0]])


class WeightColumnsCacheTest(unittest.TestCase):
    """A layer reuses the columns of W between forward passes only while W is unchanged."""

    def setUp(self):
        self.layer = Layer(40, 24, activation="identity", seed=0)
        self.x = Tensor.uniform(20, 40, seed=1)

    def expected(self):
        rows = kernels.matmul(self.x.data, self.layer.weight.data)
        bias = self.layer.bias.data[0]
        return [[z + b for z, b in zip(row, bias)] for row in rows]

    def test_columns_reused_when_w_unchanged(self):
        first = self.layer._weight_columns()
        second = self.layer._weight_columns()
        third = self.layer._weight_columns()
        self.assertIsNot(first, second)  # The value snapshot is taken on the second call.
        self.assertIs(second, third)

    def test_columns_product_matches_plain_product(self):
        b = _random_matrix(random.Random(2), 40, 24)
        columns = kernels.Columns(b)
        for kernel in AVAILABLE + [None]:
            with self.subTest(kernel=kernel):
                self.assertEqual(kernels.matmul(self.x.data, columns, kernel), kernels.matmul(self.x.data, b, kernel))

    def test_element_written_in_place(self):
        for _ in range(3):
            self.layer.forward(self.x)
        self.layer.weight.data[3][5] += 1.0
        self.assertEqual(self.layer.forward(self.x).tolist(), self.expected())

    def test_element_restored_in_place(self):
        for _ in range(3):
            self.layer.forward(self.x)
        original = self.layer.weight.data[3][5]
        self.layer.weight.data[3][5] = original + 1.0
        self.layer.forward(self.x)
        self.layer.weight.data[3][5] = original
        self.assertEqual(self.layer.forward(self.x).tolist(), self.expected())

    def test_optimizer_step(self):
        for _ in range(3):
            state = self.layer.forward(self.x)
        self.layer.zero_grad()
        self.layer.backward(state)
        SGD(0.5).step(self.layer.parameters(), self.layer.gradients())
        self.assertEqual(self.layer.forward(self.x).tolist(), self.expected())

    def test_weight_assigned(self):
        for _ in range(3):
            self.layer.forward(self.x)
        self.layer.weight = Tensor.uniform(40, 24, seed=3)
        self.assertEqual(self.layer.forward(self.x).tolist(), self.expected())

    def test_rows_replaced_with_equal_values(self):
        for _ in range(3):
            self.layer.forward(self.x)
        self.layer.weight.data[:] = [row[:] for row in self.layer.weight.data]
        self.assertEqual(self.layer.forward(self.x).tolist(), self.expected())


class TrainingMemoryTest(unittest.TestCase):
    """A training step leaves no cyclic garbage, so memory does not wait for the collector."""

    def assert_no_cyclic_garbage(self, run, label):
        run()  # Warm up: first-call caches and optimizer state are not garbage.
        gc.collect()
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            run()
            unreachable = gc.collect()
        finally:
            if was_enabled:
                gc.enable()
        self.assertEqual(unreachable, 0, f"{label} left {unreachable} objects in reference cycles")

    def test_layer_step_has_no_cycles(self):
        layer = Layer(6, 4, seed=0)
        x = Tensor.uniform(5, 6, seed=1)
        optimizer = SGD(0.1)

        def step():
            state = layer.forward(x)
            layer.zero_grad()
            layer.backward(state)
            optimizer.step(layer.parameters(), layer.gradients())

        self.assert_no_cyclic_garbage(step, "a layer step")

    def test_network_step_has_no_cycles(self):
        network = Network.mlp([8, 16, 16, 4], seed=0)
        x = Tensor.uniform(8, 8, seed=1)
        labels = [0, 1, 2, 3, 0, 1, 2, 3]
        optimizer = Adam(0.01)

        def step():
            logits = network.forward(x)
            value, grad = losses.cross_entropy(logits, labels)
            network.zero_grad()
            network.backward({network.depth: grad})
            optimizer.step(network.parameters(), network.gradients())

        self.assert_no_cyclic_garbage(step, "a network step")

    def test_fit_has_no_cycles(self):
        teacher = Network.mlp([6, 8, 8, 3], activation="tanh", seed=0)
        student = Network.mlp([6, 8, 3], activation="tanh", seed=1)
        x = Tensor.uniform(12, 6, seed=2)
        labels = [i % 3 for i in range(12)]

        def fit():
            CLSDTrainer(learning_rate=0.01, optimizer="adam").fit(
                student, x, labels, teacher=teacher, matches=[LayerMatch(2, 1)],
                epochs=2, batch_size=4, seed=0,
            )

        self.assert_no_cyclic_garbage(fit, "CLSDTrainer.fit")


if __name__ == "__main__":
    unittest.main()
