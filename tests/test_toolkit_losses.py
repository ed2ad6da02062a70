import math
import unittest

from clsd import Tensor, losses
from clsd.losses import cosine, distillation_with_labels, normalized_mse, relation

from tests.gradcheck import check_gradient


def _pair(rows, columns, seed):
    return Tensor.normal(rows, columns, seed=seed), Tensor.normal(rows, columns, seed=seed + 100)


class StateLossGradientTest(unittest.TestCase):
    def check(self, loss, prediction, target):
        analytic = loss(prediction, target).grad
        check_gradient(self, lambda: loss(prediction, target).value, prediction, analytic, label=loss.__name__)

    def test_normalized_mse_gradient(self):
        self.check(normalized_mse, *_pair(4, 5, seed=1))

    def test_cosine_gradient(self):
        self.check(cosine, *_pair(4, 5, seed=2))

    def test_relation_gradient_same_width(self):
        self.check(relation, *_pair(5, 3, seed=3))

    def test_relation_gradient_different_widths(self):
        prediction = Tensor.normal(5, 3, seed=4)
        target = Tensor.normal(5, 7, seed=5)
        self.check(relation, prediction, target)

    def test_kd_with_labels_gradient(self):
        student, teacher = _pair(4, 3, seed=6)
        labels = [0, 2, 1, 2]

        def value():
            return distillation_with_labels(student, teacher, labels, temperature=3.0, soft_weight=0.7).value

        analytic = distillation_with_labels(student, teacher, labels, temperature=3.0, soft_weight=0.7).grad
        check_gradient(self, value, student, analytic, label="distillation_with_labels")


class StateLossValueTest(unittest.TestCase):
    def test_normalized_mse_ignores_scale(self):
        prediction, target = _pair(3, 4, seed=7)
        self.assertAlmostEqual(normalized_mse(prediction, target * 5.0).value, normalized_mse(prediction, target).value, places=7)
        self.assertAlmostEqual(normalized_mse(target * 0.2, target).value, 0.0, places=7)

    def test_normalized_mse_hand_value(self):
        # Unit rows [1, 0] and [0, 1]: mean of (1, 1) squared differences over 2 elements.
        value = normalized_mse(Tensor([[3.0, 0.0]]), Tensor([[0.0, 2.0]])).value
        self.assertAlmostEqual(value, 1.0, places=7)

    def test_cosine_hand_values(self):
        self.assertAlmostEqual(cosine(Tensor([[1.0, 0.0]]), Tensor([[2.0, 0.0]])).value, 0.0, places=7)
        self.assertAlmostEqual(cosine(Tensor([[1.0, 0.0]]), Tensor([[0.0, 1.0]])).value, 1.0, places=7)
        self.assertAlmostEqual(cosine(Tensor([[1.0, 0.0]]), Tensor([[-3.0, 0.0]])).value, 2.0, places=7)

    def test_cosine_zero_row_is_finite(self):
        value, grad = cosine(Tensor([[0.0, 0.0], [1.0, 1.0]]), Tensor([[1.0, 2.0], [1.0, 1.0]]))
        self.assertTrue(math.isfinite(value))
        self.assertAlmostEqual(value, 0.5, places=7)
        self.assertTrue(all(math.isfinite(v) for row in grad.data for v in row))

    def test_normalized_mse_zero_row_is_finite(self):
        value, grad = normalized_mse(Tensor([[0.0, 0.0]]), Tensor([[0.0, 0.0]]))
        self.assertEqual(value, 0.0)
        self.assertEqual(grad.tolist(), [[0.0, 0.0]])

    def test_relation_equal_up_to_rotation(self):
        # Rows of x and of x with its columns swapped have the same Gram matrix.
        x = Tensor([[1.0, 2.0], [0.5, -1.0], [3.0, 0.0]])
        swapped = Tensor([[row[1], row[0]] for row in x.data])
        self.assertAlmostEqual(relation(x, swapped).value, 0.0, places=12)
        self.assertGreater(relation(x, Tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])).value, 0.01)

    def test_relation_rows_must_agree(self):
        with self.assertRaisesRegex(ValueError, r"\(3, 2\).*\(4, 2\).*same number of rows"):
            relation(Tensor.ones(3, 2), Tensor.ones(4, 2))

    def test_kd_with_labels_mixes_parts(self):
        student, teacher = _pair(4, 3, seed=8)
        labels = [0, 1, 2, 0]
        soft = losses.distillation(student, teacher, 2.0).value
        hard = losses.cross_entropy(student, labels).value
        mixed = distillation_with_labels(student, teacher, labels, temperature=2.0, soft_weight=0.25).value
        self.assertAlmostEqual(mixed, 0.25 * soft + 0.75 * hard, places=12)

    def test_kd_with_labels_checks_weight(self):
        student, teacher = _pair(2, 3, seed=9)
        with self.assertRaisesRegex(ValueError, r"soft_weight must be in \[0, 1\], got 1.5"):
            distillation_with_labels(student, teacher, [0, 1], soft_weight=1.5)

    def test_shape_mismatch_names_shapes(self):
        for loss in (normalized_mse, cosine):
            with self.assertRaisesRegex(ValueError, r"\(2, 3\) and target \(2, 4\)"):
                loss(Tensor.ones(2, 3), Tensor.ones(2, 4))

    def test_registry_lists_valid_names(self):
        self.assertEqual(sorted(losses.STATE_LOSSES), ["cosine", "kd", "mse", "normalized_mse", "relation"])
        with self.assertRaisesRegex(ValueError, r"unknown state loss 'cos'; valid names: cosine, kd, mse"):
            losses.get_state_loss("cos")


if __name__ == "__main__":
    unittest.main()
