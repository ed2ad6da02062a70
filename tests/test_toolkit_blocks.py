import unittest

from clsd import CLSDTrainer, Network, Tensor
from clsd.blocks import block_scores, compression_report, format_report, replace_block
from clsd.datasets import Standardizer, load_iris, train_test_split


def _weights(network):
    return [p.tolist() for p in network.parameters()]


class BlockScoreTest(unittest.TestCase):
    def test_identity_block_scores_zero(self):
        network = Network.mlp([2, 2, 2, 2], activation="identity", seed=0)
        for layer in network.layers[:2]:
            layer.weight = Tensor([[1.0, 0.0], [0.0, 1.0]])
        network.layers[2].weight = Tensor([[-1.0, 0.0], [0.0, -1.0]])
        scores = block_scores(network, Tensor.normal(6, 2, seed=1))
        by_block = {(start, end): score for score, start, end in scores}
        self.assertAlmostEqual(by_block[(0, 2)], 0.0, places=7)
        self.assertAlmostEqual(by_block[(2, 3)], 2.0, places=7)
        self.assertEqual(scores[0][1:], (0, 2))

    def test_unequal_widths_left_out(self):
        network = Network.mlp([3, 5, 5, 3], seed=0)
        blocks = [(start, end) for _, start, end in block_scores(network, Tensor.normal(4, 3, seed=1))]
        self.assertEqual(sorted(blocks), [(0, 3), (1, 2)])
        longer = block_scores(network, Tensor.normal(4, 3, seed=1), min_length=2)
        self.assertEqual([(start, end) for _, start, end in longer], [(0, 3)])


class ReplaceBlockTest(unittest.TestCase):
    def setUp(self):
        train, test = train_test_split(load_iris(), test_fraction=0.3, seed=0)
        scaler = Standardizer().fit(train.features)
        self.train, self.test = scaler.transform_dataset(train), scaler.transform_dataset(test)
        self.teacher = Network.mlp([4, 8, 8, 8, 3], activation="tanh", seed=0)
        CLSDTrainer(optimizer="adam", learning_rate=0.02).fit(self.teacher, self.train, epochs=30, batch_size=16, seed=0)

    def test_compressed_network_shape_and_teacher_untouched(self):
        before = _weights(self.teacher)
        result = replace_block(self.teacher, 1, 3, self.train.features, epochs=5, seed=0)
        self.assertEqual(result.network.sizes, [4, 8, 8, 3])
        self.assertEqual(result.layers_removed, 1)
        self.assertEqual(result.parameters_removed, 8 * 8 + 8)
        self.assertEqual(_weights(self.teacher), before)
        self.assertEqual(_weights(result.network.layers[0]), _weights(self.teacher.layers[0]))
        self.assertEqual(_weights(result.network.layers[2]), _weights(self.teacher.layers[3]))

    def test_stack_learns_the_block(self):
        result = replace_block(self.teacher, 1, 3, self.train.features, epochs=20, learning_rate=0.02, seed=0)
        self.assertLess(result.losses[-1], 0.5 * result.losses[0])

    def test_hidden_stack(self):
        result = replace_block(self.teacher, 0, 3, self.train.features, hidden=[4], epochs=1, seed=0)
        self.assertEqual(result.network.sizes, [4, 4, 8, 3])
        self.assertEqual(result.layers_removed, 1)

    def test_report_keys_and_text(self):
        result = replace_block(self.teacher, 1, 3, self.train.features, epochs=10, learning_rate=0.02, seed=0)
        report = compression_report(self.teacher, result, self.train, self.test, finetune_epochs=2)
        for key in ("teacher_accuracy", "before_finetune_accuracy", "after_finetune_accuracy"):
            self.assertTrue(0.0 <= report[key] <= 1.0)
        self.assertGreater(report["teacher_accuracy"], 0.8)
        text = format_report(report)
        self.assertIn("removed: 1 layers, 72 parameters", text)

    def test_bad_block(self):
        with self.assertRaisesRegex(ValueError, "a block needs start < end, got start=3, end=2"):
            replace_block(self.teacher, 3, 2, self.train.features)
        with self.assertRaisesRegex(IndexError, "replace_block end 7 is out of range"):
            replace_block(self.teacher, 1, 7, self.train.features)


if __name__ == "__main__":
    unittest.main()
