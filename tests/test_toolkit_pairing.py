import math
import unittest
from xml.etree import ElementTree

from clsd import Adapter, Network, Tensor
from clsd.cka import cka_matrix, format_cka_table, linear_cka
from clsd.pairing import last_pairs, map_states, rank_pairs, suggest_pairs, uniform_pairs


class LinearCKATest(unittest.TestCase):
    def test_invariant_to_rotation_and_scale(self):
        x = Tensor.normal(20, 3, seed=1)
        angle = 0.7
        rotation = Tensor([[math.cos(angle), -math.sin(angle), 0.0], [math.sin(angle), math.cos(angle), 0.0], [0.0, 0.0, 1.0]])
        self.assertAlmostEqual(linear_cka(x, (x @ rotation) * 4.0 + 2.0), 1.0, places=12)

    def test_hand_value(self):
        # Centered x = [-1, 1, 0, 0], y = [0, 0, -1, 1] are orthogonal, so CKA is 0.
        x = Tensor([[0.0], [2.0], [1.0], [1.0]])
        y = Tensor([[1.0], [1.0], [0.0], [2.0]])
        self.assertAlmostEqual(linear_cka(x, y), 0.0, places=12)
        # For single columns, CKA is the squared Pearson correlation.
        z = Tensor([[1.0], [2.0], [2.0], [5.0]])
        a, b = [r[0] for r in x.data], [r[0] for r in z.data]
        ma, mb = sum(a) / 4, sum(b) / 4
        r = sum((u - ma) * (v - mb) for u, v in zip(a, b)) / math.sqrt(
            sum((u - ma) ** 2 for u in a) * sum((v - mb) ** 2 for v in b)
        )
        self.assertAlmostEqual(linear_cka(x, z), r * r, places=12)

    def test_different_widths_and_symmetry(self):
        x = Tensor.normal(15, 2, seed=2)
        y = Tensor.normal(15, 5, seed=3)
        self.assertAlmostEqual(linear_cka(x, y), linear_cka(y, x), places=12)
        self.assertTrue(0.0 <= linear_cka(x, y) <= 1.0)

    def test_constant_state_gives_zero(self):
        self.assertEqual(linear_cka(Tensor.ones(4, 2), Tensor.normal(4, 2, seed=0)), 0.0)

    def test_rows_checked(self):
        with self.assertRaisesRegex(ValueError, r"x \(3, 2\) and y \(4, 2\) must have the same number of rows"):
            linear_cka(Tensor.ones(3, 2), Tensor.ones(4, 2))

    def test_matrix_shape_and_input_row(self):
        teacher = Network.mlp([3, 6, 6, 6, 2], activation="tanh", seed=0)
        student = Network.mlp([3, 4, 2], activation="tanh", seed=1)
        matrix = cka_matrix(teacher, student, Tensor.normal(12, 3, seed=2))
        self.assertEqual((len(matrix), len(matrix[0])), (5, 3))
        self.assertAlmostEqual(matrix[0][0], 1.0, places=12)

    def test_table_marks_pairs(self):
        text = format_cka_table([[1.0, 0.2], [0.3, 0.9]], marks=[(1, 1)])
        lines = text.splitlines()
        self.assertEqual(lines[0].split(), ["teacher", "\\", "student", "s0", "s1"])
        self.assertEqual(lines[2].split(), ["t1", "0.300", "0.900*"])


class CKAMatrixDisplayTest(unittest.TestCase):
    def setUp(self):
        teacher = Network.mlp([4, 5, 3], activation="tanh", seed=0)
        student = Network.mlp([4, 2, 3], activation="tanh", seed=1)
        self.matrix = cka_matrix(teacher, student, Tensor.uniform(12, 4, seed=2))

    def test_is_list_of_rows(self):
        self.assertIsInstance(self.matrix, list)
        self.assertEqual([len(row) for row in self.matrix], [3, 3, 3])

    def test_str_is_text_table(self):
        self.assertEqual(str(self.matrix), format_cka_table(self.matrix))

    def test_svg_heat_map(self):
        root = ElementTree.fromstring(self.matrix._repr_svg_())
        text = " ".join(element.text or "" for element in root.iter())
        self.assertIn("Linear CKA between states", text)
        self.assertIn("teacher state", text)
        self.assertIn("s2", text)
        cells = [e for e in root.iter() if e.tag.endswith("rect") and e.find("{*}title") is not None]
        self.assertEqual(len(cells), 9)


class MappingTest(unittest.TestCase):
    def test_uniform_when_depths_divide(self):
        teacher = Network.mlp([2] + [4] * 5 + [2], seed=0)
        student = Network.mlp([2, 4, 4, 2], seed=1)
        self.assertEqual(uniform_pairs(teacher, student), [(2, 1), (4, 2)])

    def test_uniform_when_depths_do_not_divide(self):
        teacher = Network.mlp([2] + [4] * 4 + [2], seed=0)
        student = Network.mlp([2, 4, 4, 2], seed=1)
        # T = 5, S = 3: round(5/3) = 2 and round(10/3) = 3.
        self.assertEqual(uniform_pairs(teacher, student), [(2, 1), (3, 2)])
        deeper_student = Network.mlp([2] + [4] * 6 + [2], seed=2)
        pairs = uniform_pairs(teacher, deeper_student)
        self.assertEqual([s for _, s in pairs], list(range(1, 7)))
        self.assertTrue(all(1 <= t <= 4 for t, _ in pairs))
        self.assertEqual([t for t, _ in pairs], sorted(t for t, _ in pairs))

    def test_last(self):
        teacher = Network.mlp([2, 4, 4, 4, 2], seed=0)
        student = Network.mlp([2, 3, 3, 2], seed=1)
        self.assertEqual(last_pairs(teacher, student), [(3, 2)])

    def test_suggest_keeps_depth_order(self):
        matrix = [
            [1.0, 0.1, 0.1, 0.1],
            [0.1, 0.2, 0.9, 0.1],
            [0.1, 0.8, 0.3, 0.1],
            [0.1, 0.1, 0.1, 1.0],
        ]
        # Best pair (t1, s2); (t2, s1) would cross it, so s1 goes to t1.
        self.assertEqual(rank_pairs(matrix)[0], (0.9, 1, 2))
        self.assertEqual(suggest_pairs(matrix), [(1, 1), (1, 2)])
        self.assertEqual(suggest_pairs(matrix, count=1), [(1, 2)])

    def test_map_states_adds_adapters_where_widths_differ(self):
        teacher = Network.mlp([3, 8, 8, 8, 2], activation="tanh", seed=0)
        student = Network.mlp([3, 8, 4, 2], activation="tanh", seed=1)
        matches = map_states("suggest", teacher, student, Tensor.normal(16, 3, seed=2))
        self.assertEqual(len(matches), 2)
        by_state = {m.student_state: m for m in matches}
        self.assertIsNone(by_state[1].adapter)
        self.assertIsInstance(by_state[2].adapter, Adapter)
        self.assertEqual((by_state[2].adapter.in_features, by_state[2].adapter.out_features), (4, 8))
        relation = map_states("uniform", teacher, student, loss="relation")
        self.assertTrue(all(m.adapter is None for m in relation))

    def test_map_states_errors(self):
        teacher = Network.mlp([3, 8, 8, 2], seed=0)
        student = Network.mlp([3, 8, 2], seed=1)
        with self.assertRaisesRegex(ValueError, "unknown strategy 'even'; valid strategies: uniform, last, suggest"):
            map_states("even", teacher, student)
        with self.assertRaisesRegex(ValueError, "strategy 'suggest' needs features"):
            map_states("suggest", teacher, student)
        with self.assertRaisesRegex(ValueError, "the student has 1 layer and no hidden state"):
            map_states("last", teacher, Network.mlp([3, 2], seed=2))


if __name__ == "__main__":
    unittest.main()
