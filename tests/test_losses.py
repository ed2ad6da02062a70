import math
import unittest

from clsd import Tensor, losses

from tests.gradcheck import check_gradient


class MSETest(unittest.TestCase):
    def test_value_is_mean_over_all_elements(self):
        value, grad = losses.mse(Tensor([[1.0, 2.0], [3.0, 4.0]]), Tensor([[0.0, 2.0], [3.0, 0.0]]))
        self.assertEqual(value, (1.0 + 16.0) / 4)
        self.assertEqual(grad.tolist(), [[0.5, 0.0], [0.0, 2.0]])

    def test_gradient(self):
        p, t = Tensor.uniform(3, 4, seed=1), Tensor.uniform(3, 4, seed=2)
        check_gradient(self, lambda: losses.mse(p, t).value, p, losses.mse(p, t).grad)

    def test_shape_mismatch(self):
        with self.assertRaisesRegex(ValueError, r"mse: shape mismatch: prediction \(1, 2\) and target \(2, 1\)"):
            losses.mse(Tensor([[1, 2]]), Tensor([[1], [2]]))
        with self.assertRaisesRegex(TypeError, "mse: target must be a Tensor, got list"):
            losses.mse(Tensor([[1]]), [[1]])


class CrossEntropyTest(unittest.TestCase):
    def test_value(self):
        logits = Tensor([[1.0, 2.0, 3.0]])
        expected = -math.log(math.exp(1.0) / (math.exp(1.0) + math.exp(2.0) + math.exp(3.0)))
        self.assertAlmostEqual(losses.cross_entropy(logits, [0]).value, expected, places=12)

    def test_gradient(self):
        logits = Tensor.uniform(4, 3, low=-3, high=3, seed=1)
        labels = [0, 2, 1, 2]
        check_gradient(self, lambda: losses.cross_entropy(logits, labels).value, logits,
                       losses.cross_entropy(logits, labels).grad)

    def test_large_logits_are_stable(self):
        value, grad = losses.cross_entropy(Tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]]), [1, 0])
        self.assertTrue(math.isfinite(value))
        self.assertAlmostEqual(value, (2e4 + 2e4 + math.log(2)) / 2, places=6)
        self.assertTrue(all(math.isfinite(v) for row in grad.data for v in row))

    def test_overflowing_batch_sum_is_inf(self):
        # Each row's loss is finite (9e307) but their sum is not.
        logits = Tensor([[0.0, -9e307]] * 3)
        self.assertEqual(losses.cross_entropy(logits, [1, 1, 1]).value, math.inf)

    def test_bad_labels(self):
        logits = Tensor.zeros(2, 3)
        with self.assertRaisesRegex(ValueError, "labels\\[1\\] is 3, outside the class range 0 to 2"):
            losses.cross_entropy(logits, [0, 3])
        with self.assertRaisesRegex(ValueError, "got 1 labels for 2 rows"):
            losses.cross_entropy(logits, [0])
        with self.assertRaisesRegex(TypeError, "labels\\[0\\] is 1.0; expected an int"):
            losses.cross_entropy(logits, [1.0, 0])
        with self.assertRaisesRegex(ValueError, "labels\\[0\\] is -1"):
            losses.cross_entropy(logits, [-1, 0])


class DistillationTest(unittest.TestCase):
    def test_zero_when_equal(self):
        z = Tensor([[1.0, 2.0, 0.5]])
        value, grad = losses.distillation(z, z, temperature=3.0)
        self.assertAlmostEqual(value, 0.0, places=14)
        self.assertTrue(grad.allclose(Tensor.zeros(1, 3), abs_tol=1e-15))

    def test_value_against_formula(self):
        s, t, T = [0.2, -1.0, 0.7], [1.5, 0.1, -0.3], 2.0
        p = losses.softmax_row([v / T for v in t])
        q = losses.softmax_row([v / T for v in s])
        expected = T * T * sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
        self.assertAlmostEqual(losses.distillation(Tensor([s]), Tensor([t]), T).value, expected, places=12)

    def test_gradient_several_temperatures(self):
        s = Tensor.uniform(3, 4, low=-2, high=2, seed=1)
        t = Tensor.uniform(3, 4, low=-2, high=2, seed=2)
        for temperature in (0.5, 1.0, 4.0):
            with self.subTest(temperature=temperature):
                check_gradient(self, lambda: losses.distillation(s, t, temperature).value, s,
                               losses.distillation(s, t, temperature).grad)

    def test_bad_temperature(self):
        z = Tensor([[1.0, 2.0]])
        for bad in (0, -1.0, float("inf")):
            with self.assertRaisesRegex(ValueError, "temperature must be a finite number above 0"):
                losses.distillation(z, z, bad)
        with self.assertRaisesRegex(TypeError, "temperature must be a number"):
            losses.distillation(z, z, "2")


class StateLossRegistryTest(unittest.TestCase):
    def test_unknown_name_lists_valid(self):
        with self.assertRaisesRegex(ValueError, "unknown state loss 'l3'; valid names: .*mse"):
            losses.get_state_loss("l3")

    def test_known_name(self):
        self.assertIs(losses.get_state_loss("mse"), losses.mse)


if __name__ == "__main__":
    unittest.main()
