import math
import random
import unittest

from clsd import Tensor
from clsd.tensor import as_tensor


class TensorConstructionTest(unittest.TestCase):
    def test_nested_lists(self):
        t = Tensor([[1, 2, 3], [4, 5, 6]])
        self.assertEqual(t.shape, (2, 3))
        self.assertEqual(t.tolist(), [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        self.assertIsInstance(t.tolist()[0][0], float)

    def test_flat_list_is_one_row(self):
        self.assertEqual(Tensor([1.5, 2.5]).shape, (1, 2))

    def test_copies_input(self):
        rows = [[1.0, 2.0]]
        t = Tensor(rows)
        rows[0][0] = 99.0
        self.assertEqual(t[0, 0], 1.0)
        copy = Tensor(t)
        copy.data[0][0] = 5.0
        self.assertEqual(t[0, 0], 1.0)

    def test_tolist_is_a_copy(self):
        t = Tensor([[1.0]])
        t.tolist()[0][0] = 7.0
        self.assertEqual(t.item(), 1.0)

    def test_ragged_rows_message(self):
        with self.assertRaisesRegex(ValueError, r"ragged rows: row 0 has 2 elements but row 1 has 3"):
            Tensor([[1, 2], [1, 2, 3]])

    def test_empty_inputs(self):
        with self.assertRaisesRegex(ValueError, "at least one row"):
            Tensor([])
        with self.assertRaisesRegex(ValueError, r"rows must not be empty, got shape \(1, 0\)"):
            Tensor([[]])

    def test_non_numbers(self):
        with self.assertRaisesRegex(TypeError, r"element \[0\]\[1\] is 'x' of type str"):
            Tensor([[1, "x"]])
        with self.assertRaisesRegex(TypeError, "element .* is True of type bool"):
            Tensor([[True, 1]])
        with self.assertRaisesRegex(TypeError, "expected a list of rows"):
            Tensor("12")
        with self.assertRaisesRegex(TypeError, "expected a list of rows"):
            Tensor(3.0)
        with self.assertRaisesRegex(TypeError, "row 1 is 2"):
            Tensor([[1], 2])

    def test_non_finite(self):
        for bad in (float("nan"), float("inf"), -float("inf")):
            with self.assertRaisesRegex(ValueError, r"element \[1\]\[0\] is .*; expected a finite number"):
                Tensor([[1.0], [bad]])

    def test_zeros_ones_full(self):
        self.assertEqual(Tensor.zeros(2, 3).tolist(), [[0.0] * 3] * 2)
        self.assertEqual(Tensor.ones(1, 2).tolist(), [[1.0, 1.0]])
        self.assertEqual(Tensor.full(2, 1, 4).tolist(), [[4.0], [4.0]])
        z = Tensor.zeros(2, 2)
        z.data[0][0] = 1.0
        self.assertEqual(z.data[1][0], 0.0, "rows must not be shared")

    def test_bad_sizes(self):
        with self.assertRaisesRegex(ValueError, "Tensor.zeros: rows must be at least 1, got 0"):
            Tensor.zeros(0, 2)
        with self.assertRaisesRegex(TypeError, "Tensor.ones: columns must be an int, got 2.0"):
            Tensor.ones(2, 2.0)

    def test_seeded_random(self):
        self.assertEqual(Tensor.uniform(3, 4, seed=7), Tensor.uniform(3, 4, seed=7))
        self.assertNotEqual(Tensor.uniform(3, 4, seed=7), Tensor.uniform(3, 4, seed=8))
        self.assertEqual(Tensor.normal(2, 2, seed=1), Tensor.normal(2, 2, seed=1))
        values = Tensor.uniform(50, 50, low=2.0, high=3.0, seed=0)
        self.assertTrue(all(2.0 <= v < 3.0 for row in values.data for v in row))
        rng = random.Random(3)
        self.assertEqual(Tensor.uniform(1, 2, seed=rng).shape, (1, 2))

    def test_random_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, "expected low < high"):
            Tensor.uniform(1, 1, low=1.0, high=1.0)
        with self.assertRaisesRegex(ValueError, "std must be at least 0"):
            Tensor.normal(1, 1, std=-1.0)
        with self.assertRaisesRegex(TypeError, "seed must be an int"):
            Tensor.uniform(1, 1, seed="a")


class TensorArithmeticTest(unittest.TestCase):
    def setUp(self):
        self.a = Tensor([[1, 2], [3, 4]])
        self.b = Tensor([[10, 20], [30, 40]])

    def test_same_shape(self):
        self.assertEqual((self.a + self.b).tolist(), [[11, 22], [33, 44]])
        self.assertEqual((self.b - self.a).tolist(), [[9, 18], [27, 36]])
        self.assertEqual((self.a * self.b).tolist(), [[10, 40], [90, 160]])
        self.assertEqual((self.b / self.a).tolist(), [[10, 10], [10, 10]])

    def test_scalars_both_sides(self):
        self.assertEqual((self.a + 1).tolist(), [[2, 3], [4, 5]])
        self.assertEqual((1 - self.a).tolist(), [[0, -1], [-2, -3]])
        self.assertEqual((self.a - 1).tolist(), [[0, 1], [2, 3]])
        self.assertEqual((2 * self.a).tolist(), [[2, 4], [6, 8]])
        self.assertEqual((12 / self.a).tolist(), [[12, 6], [4, 3]])
        self.assertEqual((self.a / 2).tolist(), [[0.5, 1], [1.5, 2]])
        self.assertEqual((-self.a).tolist(), [[-1, -2], [-3, -4]])

    def test_row_broadcast(self):
        row = Tensor([[100, 200]])
        self.assertEqual((self.a + row).tolist(), [[101, 202], [103, 204]])
        self.assertEqual((row - self.a).tolist(), [[99, 198], [97, 196]])
        self.assertEqual((self.a * row).tolist(), [[100, 400], [300, 800]])

    def test_shape_mismatch_message(self):
        with self.assertRaisesRegex(ValueError, r"add shape mismatch: \(2, 2\) and \(3, 1\)"):
            self.a + Tensor([[1], [2], [3]])
        with self.assertRaisesRegex(ValueError, r"multiply shape mismatch: \(2, 2\) and \(1, 3\)"):
            self.a * Tensor([[1, 2, 3]])

    def test_unsupported_operand(self):
        with self.assertRaises(TypeError):
            self.a + "x"
        with self.assertRaises(TypeError):
            self.a + [[1, 2], [3, 4]]

    def test_matmul(self):
        x = Tensor([[1, 2, 3]])
        w = Tensor([[1, 0], [0, 1], [1, 1]])
        self.assertEqual((x @ w).tolist(), [[4.0, 5.0]])
        self.assertEqual((self.a @ self.a.T).tolist(), [[5, 11], [11, 25]])

    def test_matmul_matches_loops(self):
        a = Tensor.uniform(5, 7, seed=1)
        b = Tensor.uniform(7, 3, seed=2)
        expected = [[math.fsum(a[i, k] * b[k, j] for k in range(7)) for j in range(3)] for i in range(5)]
        self.assertTrue((a @ b).allclose(Tensor(expected), rel_tol=1e-12, abs_tol=1e-14))

    def test_matmul_mismatch_message(self):
        with self.assertRaisesRegex(ValueError, r"matmul shape mismatch: \(2, 2\) @ \(3, 1\)"):
            self.a @ Tensor([[1], [2], [3]])

    def test_transpose(self):
        t = Tensor([[1, 2, 3]])
        self.assertEqual(t.T.shape, (3, 1))
        self.assertEqual(t.T.T, t)

    def test_map(self):
        self.assertEqual(self.a.map(lambda v: v * v).tolist(), [[1, 4], [9, 16]])


class TensorReductionTest(unittest.TestCase):
    def setUp(self):
        self.t = Tensor([[1, 2, 3], [4, 5, 6]])

    def test_sum(self):
        self.assertEqual(self.t.sum(), 21.0)
        self.assertEqual(self.t.sum(axis=0).tolist(), [[5, 7, 9]])
        self.assertEqual(self.t.sum(axis=1).tolist(), [[6], [15]])

    def test_mean(self):
        self.assertEqual(self.t.mean(), 3.5)
        self.assertEqual(self.t.mean(axis=0).tolist(), [[2.5, 3.5, 4.5]])
        self.assertEqual(self.t.mean(axis=1).tolist(), [[2], [5]])

    def test_bad_axis(self):
        with self.assertRaisesRegex(ValueError, "sum: axis must be None, 0 or 1, got 2"):
            self.t.sum(axis=2)
        with self.assertRaisesRegex(ValueError, "mean: axis must be None, 0 or 1"):
            self.t.mean(axis=-1)


class TensorHelpersTest(unittest.TestCase):
    def test_allclose(self):
        a = Tensor([[1.0, 2.0]])
        self.assertTrue(a.allclose(Tensor([[1.0, 2.0 + 1e-12]])))
        self.assertFalse(a.allclose(Tensor([[1.0, 2.1]])))
        self.assertFalse(a.allclose(Tensor([[1.0], [2.0]])))
        self.assertTrue(a.allclose([[1.0, 2.0]]))
        self.assertTrue(a.allclose(Tensor([[1.0, 2.05]]), rel_tol=0.1))

    def test_equality_is_exact(self):
        self.assertEqual(Tensor([[1.0]]), Tensor([[1.0]]))
        self.assertNotEqual(Tensor([[1.0]]), Tensor([[1.0 + 1e-15]]))
        self.assertNotEqual(Tensor([[1.0]]), [[1.0]])

    def test_indexing_and_rows(self):
        t = Tensor([[1, 2], [3, 4], [5, 6]])
        self.assertEqual(t[1], [3.0, 4.0])
        self.assertEqual(t[2, 1], 6.0)
        self.assertEqual(t.rows([2, 0]).tolist(), [[5, 6], [1, 2]])
        self.assertEqual(len(t), 3)

    def test_item(self):
        self.assertEqual(Tensor([[3.0]]).item(), 3.0)
        with self.assertRaisesRegex(ValueError, r"item: expected shape \(1, 1\), got \(1, 2\)"):
            Tensor([[1, 2]]).item()

    def test_repr(self):
        self.assertEqual(repr(Tensor([[1, 0.5]])), "Tensor([[1, 0.5]])")
        big = repr(Tensor.zeros(20, 10))
        self.assertIn("shape=(20, 10)", big)
        self.assertIn("...", big)

    def test_copy_of_tensor_is_checked(self):
        with self.assertRaisesRegex(ValueError, r"Tensor: element \[0\]\[1\] is nan"):
            Tensor(Tensor([[1.0, 2.0]]).map(lambda v: math.nan if v > 1 else v))
        with self.assertRaisesRegex(ValueError, r"Tensor: element \[0\]\[0\] is inf"):
            Tensor(Tensor([[1e308]]) * 10)

    def test_map_result_must_be_numbers(self):
        with self.assertRaisesRegex(TypeError, r"Tensor.map: function returned '1.0' of type str for element \[0\]\[0\]"):
            Tensor([[1.0]]).map(str)
        self.assertEqual(Tensor([[1, 2]]).map(lambda v: int(v) * 3).tolist(), [[3.0, 6.0]])

    def test_as_tensor(self):
        t = Tensor([[1.0]])
        self.assertIs(as_tensor(t), t)
        copied = as_tensor(t, "weight", copy=True)
        self.assertIsNot(copied, t)
        self.assertEqual(copied, t)
        self.assertEqual(as_tensor([[1, 2]]).tolist(), [[1.0, 2.0]])
        with self.assertRaisesRegex(ValueError, r"weight: element \[0\]\[0\] is nan"):
            as_tensor(t.map(lambda v: math.nan), "weight", copy=True)

    def test_unhashable(self):
        with self.assertRaises(TypeError):
            hash(Tensor([[1.0]]))


if __name__ == "__main__":
    unittest.main()
