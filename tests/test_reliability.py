"""Bad input, numeric extremes and divergence: clear errors, finite numbers, no half-updates."""

import math
import os
import tempfile
import unittest

import clsd
from clsd import (
    Adam, CheckpointError, CLSDTrainer, Layer, LayerMatch, Network, SGD, Tensor, TrainingDiverged,
    activations, datasets, losses,
)
from clsd.datasets import batches, load_csv
from tests.gradcheck import assert_close_tensors


def all_finite(tensor):
    return all(math.isfinite(v) for row in tensor.data for v in row)


def snapshot(network):
    return [p.tolist() for p in network.parameters()]


class StartingCasesTest(unittest.TestCase):
    """Cases taken from public bug reports about hand-written networks."""

    def test_saturated_inputs_every_activation(self):
        x = Tensor([[-1000.0], [-710.0], [0.0], [710.0], [1000.0]])
        for name in sorted(activations.ACTIVATIONS):
            with self.subTest(activation=name):
                layer = Layer(1, 1, activation=name)
                layer.weight = Tensor([[1.0]])
                layer.bias = Tensor([[0.0]])
                state = layer.forward(x)
                grad_x = layer.backward(Tensor.ones(5, 1))
                self.assertTrue(all_finite(state))
                self.assertTrue(all_finite(grad_x))
                self.assertTrue(all_finite(layer.grad_weight))
                self.assertTrue(all_finite(layer.grad_bias))
        self.assertEqual(activations.get_activation("sigmoid").forward([0.0]), [0.5])

    def test_sigmoid_at_saturation(self):
        layer = Layer(1, 1, activation="sigmoid")
        layer.weight = Tensor([[1.0]])
        layer.bias = Tensor([[0.0]])
        state = layer.forward(Tensor([[-1000.0], [-710.0], [0.0], [710.0], [1000.0]]))
        self.assertEqual(state.data[2][0], 0.5)
        self.assertEqual(state.data[0][0], 0.0)
        self.assertEqual(state.data[4][0], 1.0)
        self.assertTrue(0.0 < state.data[1][0] < 1e-300)

    def test_bias_gradient_sums_over_batch(self):
        layer = Layer(2, 2, activation="identity")
        layer.weight = Tensor([[1.0, 0.0], [0.0, 1.0]])
        x = Tensor([[0.5, -1.0], [2.0, 0.0], [1.0, 3.0]])
        layer.forward(x)
        layer.zero_grad()
        layer.backward(Tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
        self.assertEqual(layer.grad_bias.shape, (1, 2))
        self.assertEqual(layer.grad_bias.tolist(), [[9.0, 12.0]])
        # dL/dW = x.T @ g, shape (2, 2).
        self.assertEqual(layer.grad_weight.tolist(), [[11.5, 15.0], [14.0, 16.0]])

    def test_five_rows_in_batches_of_two(self):
        network = Network.mlp([3, 4, 2], activation="tanh", seed=0)
        x = Tensor.uniform(5, 3, seed=1)
        labels = [0, 1, 1, 0, 1]
        shapes = []
        epoch_grads = None
        for batch_x, batch_y in batches(x, labels, batch_size=2, shuffle=False):
            shapes.append(batch_x.shape)
            network.zero_grad()
            _, grad = losses.cross_entropy(network.forward(batch_x), batch_y)
            network.backward({network.depth: grad})
            grads = [g.copy() for g in network.gradients()]
            epoch_grads = grads if epoch_grads is None else [a + b for a, b in zip(epoch_grads, grads)]
        self.assertEqual(shapes, [(2, 3), (2, 3), (1, 3)])

        # The same epoch one row at a time: each batch's loss is a mean, so
        # each row's gradient counts 1 / (its batch's size).
        expected = None
        for row, batch_size in zip(range(5), [2, 2, 2, 2, 1]):
            network.zero_grad()
            _, grad = losses.cross_entropy(network.forward(x.rows([row])), [labels[row]])
            network.backward({network.depth: grad})
            grads = [g * (1.0 / batch_size) for g in network.gradients()]
            expected = grads if expected is None else [a + b for a, b in zip(expected, grads)]
        for index, (actual, wanted) in enumerate(zip(epoch_grads, expected)):
            assert_close_tensors(self, actual, wanted, rel_tol=1e-12, abs_tol=1e-15, label=f"gradient {index}")

    def test_batch_larger_than_data(self):
        shapes = [x.shape for x, _ in batches(Tensor.ones(3, 2), batch_size=10)]
        self.assertEqual(shapes, [(3, 2)])
        history = CLSDTrainer(learning_rate=0.1).fit(
            Network.mlp([2, 2], seed=0), Tensor.ones(3, 2), [0, 1, 0], epochs=1, batch_size=10, seed=0)
        self.assertTrue(math.isfinite(history[0]["terms"]["task"]))

    def test_checkpoint_into_narrower_network(self):
        with tempfile.TemporaryDirectory() as folder:
            for extension, shapes in ((".json", r"\(4, 8\).*\(4, 6\)"), (".safetensors", r"\(8, 4\).*\(6, 4\)")):
                path = os.path.join(folder, "model" + extension)
                clsd.save(Network.mlp([4, 8, 3], seed=0), path)
                target = Network.mlp([4, 6, 3], seed=1)
                before = snapshot(target)
                with self.assertRaisesRegex(CheckpointError, r"0\]?\.weight has shape " + shapes):
                    clsd.load_into(target, path)
                self.assertEqual(snapshot(target), before)


class CsvTest(unittest.TestCase):
    def setUp(self):
        self._folder = tempfile.TemporaryDirectory()
        self.folder = self._folder.name

    def tearDown(self):
        self._folder.cleanup()

    def write(self, text):
        path = os.path.join(self.folder, "data.csv")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        return path

    def test_bad_cells_named(self):
        cases = [
            ("1,2,0\n3,,1\n", "line 2, column 2: expected a finite number, got an empty cell"),
            ("1,2,0\n3,nan,1\n", "line 2, column 2: expected a finite number, got 'nan'"),
            ("1,2,0\ninf,4,1\n", "line 2, column 1: expected a finite number, got 'inf'"),
            ("1,2,0\n1,-Infinity,1\n", "line 2, column 2: expected a finite number, got '-Infinity'"),
            ("1,2,0\n1,NaN,1\n", "got 'NaN'"),
            ("1,2,0\n1,two,1\n", "line 2, column 2: expected a finite number, got 'two'"),
            ("a,b,label\n1,2,0\n1,x,1\n", "line 3, column 2"),
            ("1,2,0\n1,2\n", "line 2: expected 3 columns, got 2"),
            ("1,2,0\n1,2,\n", "line 2, column 3: the label is missing"),
        ]
        for text, message in cases:
            with self.subTest(text=text):
                path = self.write(text)
                header = text.startswith("a,")
                with self.assertRaises(ValueError) as caught:
                    load_csv(path, header=header)
                self.assertIn(path, str(caught.exception))
                self.assertIn(message, str(caught.exception))

    def test_no_rows(self):
        with self.assertRaisesRegex(ValueError, "no data rows after the header"):
            load_csv(self.write("a,b,label\n"), header=True)
        with self.assertRaisesRegex(ValueError, "no data rows"):
            load_csv(self.write(""))
        with self.assertRaisesRegex(ValueError, "no data rows"):
            load_csv(self.write("\n\n"))

    def test_good_file_loads(self):
        data = load_csv(self.write("a,b,label\n1,2,0\n3.5,-4e3,1\n"), header=True)
        self.assertEqual(data.features.tolist(), [[1.0, 2.0], [3.5, -4000.0]])
        self.assertEqual(data.labels, [0, 1])


class NumericSafetyTest(unittest.TestCase):
    """Finite inputs give finite outputs: no OverflowError and no NaN."""

    def test_activations_at_extremes(self):
        z = [-1e308, -1e4, -1000.0, -710.0, -1e-300, 0.0, 1e-300, 710.0, 1000.0, 1e4, 1e308]
        for name, activation in sorted(activations.ACTIVATIONS.items()):
            with self.subTest(activation=name):
                state = activation.forward(z)
                derivative = activation.derivative(state)
                self.assertTrue(all(map(math.isfinite, state)), state)
                self.assertTrue(all(map(math.isfinite, derivative)), derivative)

    def test_state_losses_at_1e150(self):
        prediction = Tensor([[1e150, -1e150, 3.0], [0.0, 0.0, 0.0], [-1e150, 1e-150, 2.0]])
        target = Tensor([[-1e150, 1e150, 0.0], [1e150, 1e150, 1e150], [0.0, 0.0, 0.0]])
        for name, loss in sorted(losses.STATE_LOSSES.items()):
            with self.subTest(loss=name):
                value, grad = loss(prediction, target)
                self.assertTrue(math.isfinite(value), value)
                self.assertTrue(all_finite(grad))

    def test_logit_losses_at_1e4(self):
        student = Tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [0.0, 0.0, 0.0]])
        teacher = Tensor([[-1e4, 1e4, 0.0], [1e4, 0.0, -1e4], [1e4, 1e4, 1e4]])
        labels = [1, 0, 2]
        results = {
            "cross_entropy": losses.cross_entropy(student, labels),
            "distillation T=1": losses.distillation(student, teacher, 1.0),
            "distillation T=0.01": losses.distillation(student, teacher, 0.01),
            "distillation T=1e4": losses.distillation(student, teacher, 1e4),
            "distillation_with_labels": losses.distillation_with_labels(student, teacher, labels, 4.0, 0.5),
        }
        for name, (value, grad) in results.items():
            with self.subTest(loss=name):
                self.assertTrue(math.isfinite(value), value)
                self.assertTrue(all_finite(grad))
        self.assertEqual(results["cross_entropy"].value, (2e4 + 2e4 + math.log(3.0)) / 3)

    def test_optimizers_with_huge_gradients(self):
        for optimizer in (SGD(0.1), SGD(0.1, momentum=0.9, weight_decay=0.1), Adam(0.1), Adam(0.1, weight_decay=0.1)):
            with self.subTest(optimizer=optimizer.state_dict()["settings"]):
                weight = Tensor([[1e150, -1e150, 0.0]])
                for _ in range(3):
                    optimizer.step([weight], [Tensor([[1e300, -1e300, 1e-300]])])
                self.assertTrue(all_finite(weight), weight)


class DivergenceTest(unittest.TestCase):
    def test_fit_stops_at_last_finite_weights(self):
        # A linear student chasing a linear teacher's state with a step size
        # far above 2 / curvature grows geometrically until it overflows.
        student = Network.mlp([2, 3, 2], activation="identity", seed=0)
        teacher = Network.mlp([2, 4, 3, 2], activation="identity", seed=1)
        x = Tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5], [-2.0, 1.0]])
        weights_after_each_step = []

        class Recorder:
            def on_batch_end(self, info):
                weights_after_each_step.append(snapshot(student))

        with self.assertRaises(TrainingDiverged) as caught:
            CLSDTrainer(learning_rate=0.5).fit(
                student, x, [0, 1, 0, 1], teacher=teacher, matches=[LayerMatch(3, 2)],
                epochs=500, batch_size=2, seed=0, callbacks=[Recorder()])
        message = str(caught.exception)
        self.assertRegex(message, r"at epoch \d+, step [12]\b")
        self.assertRegex(message, r"'hint t3->s2'|'task'")
        self.assertIn("lower learning rate", message)
        self.assertGreater(len(weights_after_each_step), 3)
        self.assertEqual(snapshot(student), weights_after_each_step[-1])
        self.assertTrue(all(all_finite(p) for p in student.parameters()))

    def test_diverged_is_arithmetic_error(self):
        # Divergence is a numeric failure of a run, not bad input, so it is an ArithmeticError.
        self.assertTrue(issubclass(TrainingDiverged, ArithmeticError))
        self.assertFalse(issubclass(TrainingDiverged, ValueError))


class BadArgumentTest(unittest.TestCase):
    """Each bad value raises the documented type, naming the argument and the value."""

    def check(self, error_type, pattern, function, *args, **kwargs):
        with self.assertRaisesRegex(error_type, pattern):
            function(*args, **kwargs)

    def test_tensor(self):
        self.check(TypeError, r"element \[0\]\[1\] is 'a'", Tensor, [[1.0, "a"]])
        self.check(ValueError, r"element \[1\]\[0\] is nan", Tensor, [[1.0], [math.nan]])
        self.check(ValueError, "ragged rows: row 0 has 2 elements but row 1 has 1", Tensor, [[1, 2], [3]])
        self.check(ValueError, "empty list", Tensor, [])
        self.check(TypeError, r"element \[0\]\[0\] is True", Tensor, [[True]])
        self.check(ValueError, r"matmul shape mismatch: \(1, 2\) @ \(3, 1\)", lambda: Tensor([[1, 2]]) @ Tensor([[1], [2], [3]]))
        self.check(ValueError, r"add shape mismatch: \(2, 2\) and \(1, 3\)", lambda: Tensor.ones(2, 2) + Tensor.ones(1, 3))
        self.check(ValueError, "add: the number is nan; expected a finite number", lambda: Tensor.ones(1, 1) + math.nan)
        self.check(ValueError, "multiply: the number is inf", lambda: math.inf * Tensor.ones(1, 1))
        self.check(ValueError, "divide: the number is 1000000000", lambda: Tensor.ones(1, 1) / 10 ** 400)
        self.check(ValueError, r"element \[0\]\[0\] is an int too large for a float", Tensor, [[10 ** 400]])

    def test_layer_and_network(self):
        self.check(ValueError, "in_features must be at least 1, got 0", Layer, 0, 3)
        self.check(TypeError, "out_features must be an int, got 2.5", Layer, 2, 2.5)
        self.check(ValueError, "unknown activation 'gelu'; valid names: identity, relu, sigmoid, tanh", Layer, 2, 2, "gelu")
        self.check(ValueError, r"x has shape \(1, 3\) but the layer expects 2 input features",
                   Layer(2, 2).forward, Tensor([[1.0, 2.0, 3.0]]))
        self.check(ValueError, r"Layer.weight: expected shape \(2, 2\), got \(2, 3\)",
                   setattr, Layer(2, 2), "weight", Tensor.ones(2, 3))
        self.check(ValueError, "layer 1 outputs 3 features but layer 2 expects 4", Network, [Layer(2, 3), Layer(4, 2)])
        self.check(ValueError, "sizes must list at least two widths", Network.mlp, [4])
        self.check(TypeError, r"sizes must be a list of widths such as \[64, 32, 10\], got 5", Network.mlp, 5)
        self.check(IndexError, "state index 5 is out of range; this network has states 0 to 2",
                   Network.mlp([2, 2, 2]).check_state_index, 5)

    def test_losses(self):
        self.check(ValueError, r"mse: shape mismatch: prediction \(1, 2\) and target \(1, 3\)",
                   losses.mse, Tensor.ones(1, 2), Tensor.ones(1, 3))
        self.check(ValueError, "labels\\[0\\] is 3, outside the class range 0 to 1",
                   losses.cross_entropy, Tensor.ones(1, 2), [3])
        self.check(ValueError, "got 2 labels for 1 rows", losses.cross_entropy, Tensor.ones(1, 2), [0, 1])
        self.check(ValueError, "temperature must be a finite number above 0, got 0",
                   losses.distillation, Tensor.ones(1, 2), Tensor.ones(1, 2), 0)
        self.check(ValueError, "temperature must be a finite number above 0, got nan",
                   losses.distillation, Tensor.ones(1, 2), Tensor.ones(1, 2), math.nan)
        self.check(ValueError, r"soft_weight must be in \[0, 1\], got 1.5",
                   losses.distillation_with_labels, Tensor.ones(1, 2), Tensor.ones(1, 2), [0], 2.0, 1.5)
        self.check(ValueError, "unknown state loss 'l1'; valid names:", losses.get_state_loss, "l1")

    def test_optimizers(self):
        self.check(ValueError, "learning_rate must be a finite number above 0.0, got -0.1", SGD, -0.1)
        self.check(ValueError, "learning_rate must be a finite number above 0.0, got inf", Adam, math.inf)
        self.check(ValueError, "momentum must be a finite number at least 0.0 and below 1.0, got 1.0", SGD, 0.1, 1.0)
        self.check(ValueError, "beta2 must be a finite number at least 0.0 and below 1.0", Adam, 0.1, 0.9, 1.5)
        self.check(ValueError, r"parameter 0 has shape \(1, 2\) but its gradient has shape \(2, 1\)",
                   SGD(0.1).step, [Tensor.ones(1, 2)], [Tensor.ones(2, 1)])
        self.check(ValueError, "unknown optimizer 'rmsprop'; valid names: adam, sgd",
                   clsd.optim.get_optimizer, "rmsprop", 0.1)

    def test_optimizer_load_state_all_or_nothing(self):
        for optimizer in (SGD(0.1, momentum=0.5), Adam(0.1)):
            optimizer.step([Tensor.ones(1, 2)], [Tensor.ones(1, 2)])
            before = optimizer.state_dict()
            bad = dict(before, settings=dict(before["settings"], learning_rate=0.7, beta1=2.0, momentum=2.0))
            if isinstance(optimizer, SGD):
                del bad["settings"]["beta1"]
            else:
                del bad["settings"]["momentum"]
            with self.assertRaisesRegex(ValueError, "must be a finite number at least 0.0 and below 1.0, got 2.0"):
                optimizer.load_state_dict(bad)
            self.assertEqual(optimizer.state_dict(), before)

    def test_fit_arguments(self):
        student = Network.mlp([2, 2], seed=0)
        x = Tensor.ones(4, 2)
        fit = CLSDTrainer(learning_rate=0.1).fit
        before = snapshot(student)
        self.check(ValueError, "epochs must be at least 1, got 0", fit, student, x, [0, 1, 0, 1], epochs=0)
        self.check(ValueError, "batch_size must be at least 1, got 0", fit, student, x, [0, 1, 0, 1], batch_size=0)
        self.check(TypeError, "batch_size must be an int, got 2.0", fit, student, x, [0, 1, 0, 1], batch_size=2.0)
        self.check(ValueError, r"features have shape \(4, 3\) but the student expects 2 input features",
                   fit, student, Tensor.ones(4, 3), [0, 1, 0, 1])
        self.check(ValueError, "labels\\[1\\] is 2, outside the class range 0 to 1", fit, student, x, [0, 2, 0, 1])
        self.check(ValueError, "learning_rate must be above 0", CLSDTrainer, learning_rate=0.0)
        teacher = Network.mlp([2, 5, 2], seed=1)
        self.check(IndexError, "teacher_state 4 is out of range; this network has states 0 to 2",
                   fit, student, x, teacher=teacher, matches=[LayerMatch(4, 1)])
        self.check(ValueError, "weight must be a finite number at least 0, got -1.0", LayerMatch, 1, 1, weight=-1.0)
        # No rejected call trained the student even a little.
        self.assertEqual(snapshot(student), before)

    def test_datasets(self):
        self.check(ValueError, "test_fraction must be a float between 0 and 1, got 1.5",
                   datasets.train_test_split, datasets.load_iris(), 1.5)
        self.check(ValueError, "batch_size must be at least 1, got 0", lambda: list(batches(Tensor.ones(2, 2), batch_size=0)))
        self.check(ValueError, "Dataset: 2 feature rows but 1 labels", datasets.Dataset, [[1.0], [2.0]], [0], ["a"])
        self.check(ValueError, r"classes must name at least one class, got \[\]", datasets.Dataset, [[1.0]], [0], [])
        iris = os.path.join(os.path.dirname(clsd.__file__), "data", "iris.csv")
        self.check(TypeError, "label_column must be an int column index, got 'species'",
                   load_csv, iris, label_column="species", header=True)


if __name__ == "__main__":
    unittest.main()
