import math
import os
import random
import subprocess
import sys
import unittest

from clsd import CLSDTrainer, Layer, LayerMatch, Network, SGD, Tensor, TrainingDiverged, losses
from clsd.datasets import load_iris

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ORIGINAL_EXAMPLE = """
import random
from clsd import Layer, CLSDTrainer, Tensor
input_size = 4
hidden_size = 4
student_layer = Layer(input_size, hidden_size)
teacher_layer = Layer(input_size, hidden_size)
trainer = CLSDTrainer(learning_rate=0.1)
data = Tensor([[random.random() for _ in range(input_size)]])
teacher_state = teacher_layer.forward(data)
student_state = student_layer.forward(data)
print(f"Initial Distillation Loss: {trainer.compute_loss(student_state, teacher_state):.4f}")
trainer.distill_step(student_layer, data, teacher_state)
new_student_state = student_layer.forward(data)
print(f"Post-Distillation Loss: {trainer.compute_loss(new_student_state, teacher_state):.4f}")
"""


def _weights(network):
    return [p.tolist() for p in network.parameters()]


class SingleLayerAPITest(unittest.TestCase):
    def test_original_example_prints_lower_second_loss(self):
        result = subprocess.run(
            [sys.executable, "-c", ORIGINAL_EXAMPLE], cwd=ROOT, capture_output=True, text=True, check=True
        )
        lines = result.stdout.splitlines()
        self.assertTrue(lines[0].startswith("Initial Distillation Loss: "))
        self.assertTrue(lines[1].startswith("Post-Distillation Loss: "))
        first = float(lines[0].split(": ")[1])
        second = float(lines[1].split(": ")[1])
        self.assertLessEqual(second, first)

    def test_distill_step_lowers_exact_loss(self):
        for seed in range(20):
            rng = random.Random(seed)
            student, teacher = Layer(4, 4, seed=rng), Layer(4, 4, seed=rng)
            data = Tensor([[rng.random() for _ in range(4)]])
            target = teacher.forward(data)
            trainer = CLSDTrainer(learning_rate=0.1)
            before = trainer.compute_loss(student.forward(data), target)
            returned = trainer.distill_step(student, data, target)
            self.assertEqual(returned, before)
            self.assertLess(trainer.compute_loss(student.forward(data), target), before)

    def test_distill_step_is_plain_sgd(self):
        student = Layer(3, 2, seed=1)
        data = Tensor([[0.2, -0.4, 0.9]])
        target = Tensor([[0.1, 0.8]])
        expected_weight = student.weight.copy()
        _, grad = losses.mse(student.forward(data), target)
        student.zero_grad()
        student.backward(grad)
        expected_weight = expected_weight - student.grad_weight * 0.1
        CLSDTrainer(learning_rate=0.1).distill_step(student, data, target)
        self.assertTrue(student.weight.allclose(expected_weight, rel_tol=1e-14))

    def test_distill_step_errors(self):
        trainer = CLSDTrainer(learning_rate=0.1)
        layer = Layer(2, 2, seed=0)
        with self.assertRaisesRegex(TypeError, "student_layer must be a Layer"):
            trainer.distill_step("layer", Tensor([[1.0, 2.0]]), Tensor([[1.0, 2.0]]))
        with self.assertRaisesRegex(ValueError, r"shape mismatch: prediction \(1, 2\) and target \(1, 3\)"):
            trainer.distill_step(layer, Tensor([[1.0, 2.0]]), Tensor([[1.0, 2.0, 3.0]]))

    def test_trainer_settings_checked(self):
        for bad in (0, -0.1, float("inf")):
            with self.assertRaisesRegex(ValueError, "learning_rate must be"):
                CLSDTrainer(learning_rate=bad)
        with self.assertRaisesRegex(ValueError, "unknown optimizer 'lbfgs'; valid names: adam, sgd"):
            CLSDTrainer(optimizer="lbfgs")
        self.assertIsInstance(CLSDTrainer(0.1).optimizer, SGD)
        self.assertEqual(CLSDTrainer(0.1).optimizer.momentum, 0.0)


class FitTest(unittest.TestCase):
    def setUp(self):
        self.x = Tensor.uniform(12, 4, seed=1)
        self.labels = [i % 3 for i in range(12)]
        self.teacher = Network.mlp([4, 6, 5, 3], activation="tanh", seed=2)

    def student(self):
        return Network.mlp([4, 5, 3], activation="tanh", seed=3)

    def test_teacher_is_frozen(self):
        before = _weights(self.teacher)
        CLSDTrainer(0.5, optimizer="adam").fit(
            self.student(), self.x, self.labels, teacher=self.teacher,
            matches=[LayerMatch(2, 1), LayerMatch(3, 2, weight=0.5)], epochs=3, batch_size=5, seed=0,
        )
        self.assertEqual(_weights(self.teacher), before)

    def test_hint_loss_falls(self):
        student = self.student()
        history = CLSDTrainer(0.05, optimizer="adam").fit(
            student, self.x, teacher=self.teacher, matches=[LayerMatch(2, 1)], epochs=40, batch_size=4, seed=0
        )
        hints = history.series("hint t2->s1")
        self.assertLess(hints[-1], hints[0] * 0.5)

    def test_history_records_and_weighted_total(self):
        history = CLSDTrainer(0.1).fit(
            self.student(), self.x, self.labels, teacher=self.teacher,
            matches=[LayerMatch(2, 1, weight=0.25)], task_weight=2.0, epochs=2, batch_size=5, seed=0,
            validation=(self.x, self.labels),
        )
        self.assertEqual([r["epoch"] for r in history], [1, 2])
        for record in history:
            self.assertEqual(record["weights"]["task"], 2.0)
            self.assertEqual(record["weights"]["hint t2->s1"], 0.25)
            expected = 2.0 * record["terms"]["task"] + 0.25 * record["terms"]["hint t2->s1"]
            self.assertAlmostEqual(record["total"], expected, places=12)
            self.assertIn("accuracy", record["validation"])

    def test_same_seed_same_weights(self):
        runs = []
        for _ in range(2):
            student = self.student()
            history = CLSDTrainer(0.1, optimizer="adam").fit(
                student, self.x, self.labels, teacher=self.teacher, matches=[LayerMatch(2, 1)],
                epochs=2, batch_size=5, seed=11,
            )
            runs.append((_weights(student), history.series("total")))
        self.assertEqual(runs[0], runs[1])

    def test_reused_trainer_starts_afresh(self):
        trainer = CLSDTrainer(0.05, optimizer="adam")
        trainer.fit(Network.mlp([4, 4, 3], seed=9), self.x, self.labels, epochs=2, batch_size=5, seed=1)
        reused, fresh = self.student(), self.student()
        trainer.fit(reused, self.x, self.labels, epochs=2, batch_size=5, seed=4)
        CLSDTrainer(0.05, optimizer="adam").fit(fresh, self.x, self.labels, epochs=2, batch_size=5, seed=4)
        self.assertEqual(_weights(reused), _weights(fresh))

    def test_different_seed_changes_order(self):
        finals = []
        for seed in (1, 2):
            student = self.student()
            CLSDTrainer(0.1).fit(student, self.x, self.labels, epochs=1, batch_size=3, seed=seed)
            finals.append(_weights(student))
        self.assertNotEqual(finals[0], finals[1])

    def test_epoch_gradient_equals_row_by_row_sum(self):
        # One full-batch SGD step equals the sum of per-row gradients scaled to the batch mean.
        student = self.student()
        reference = self.student()
        CLSDTrainer(0.1).fit(student, self.x, self.labels, epochs=1, batch_size=12, seed=0)
        total = None
        for i in range(12):
            reference.zero_grad()
            logits = reference.states(self.x.rows([i]))[-1]
            _, grad = losses.cross_entropy(logits, [self.labels[i]])
            reference.backward({reference.depth: grad * (1.0 / 12)})
            grads = [g.copy() for g in reference.gradients()]
            total = grads if total is None else [a + b for a, b in zip(total, grads)]
        expected = [p - g * 0.1 for p, g in zip(reference.parameters(), total)]
        for got, want in zip(student.parameters(), expected):
            self.assertTrue(got.allclose(want, rel_tol=1e-10, abs_tol=1e-13))

    def test_callbacks(self):
        events = []

        class Recorder:
            def on_fit_start(self, plan):
                events.append(("start", plan["epochs"]))

            def on_batch_end(self, info):
                events.append(("batch", info["epoch"], info["step"]))

            def on_epoch_end(self, record):
                events.append(("epoch", record["epoch"]))

            def on_fit_end(self, history):
                events.append(("end", len(history)))

        plain = []
        CLSDTrainer(0.1).fit(self.student(), self.x, self.labels, epochs=2, batch_size=6, seed=0,
                             callbacks=[Recorder(), plain.append])
        self.assertEqual(events[0], ("start", 2))
        self.assertEqual(events[1:4], [("batch", 1, 1), ("batch", 1, 2), ("epoch", 1)])
        self.assertEqual(events[-1], ("end", 2))
        self.assertEqual([r["epoch"] for r in plain], [1, 2])

    def test_divergence_stops_with_finite_weights(self):
        student = Network.mlp([4, 5, 3], activation="identity", seed=3)
        trainer = CLSDTrainer(1e6)
        with self.assertRaises(TrainingDiverged) as caught:
            trainer.fit(student, self.x, teacher=self.teacher, matches=[LayerMatch(3, 2)],
                        epochs=50, batch_size=4, seed=0)
        message = str(caught.exception)
        self.assertRegex(message, r"epoch \d+, step \d+")
        self.assertIn("lower learning rate", message)
        for p in student.parameters():
            self.assertTrue(all(math.isfinite(v) for row in p.data for v in row))

    def test_iris_learns(self):
        iris = load_iris()
        from clsd.datasets import Standardizer, train_test_split
        train, test = train_test_split(iris, 0.2, seed=0)
        scaler = Standardizer().fit(train.features)
        train, test = scaler.transform_dataset(train), scaler.transform_dataset(test)
        net = Network.mlp([4, 8, 3], activation="tanh", seed=0)
        history = CLSDTrainer(0.05, optimizer="adam").fit(net, train, epochs=30, batch_size=16, seed=0,
                                                          validation=test)
        self.assertGreaterEqual(history[-1]["validation"]["accuracy"], 0.85)


class FitErrorsTest(unittest.TestCase):
    def setUp(self):
        self.x = Tensor.uniform(6, 4, seed=1)
        self.teacher = Network.mlp([4, 6, 5, 3], seed=2)
        self.student = Network.mlp([4, 5, 3], seed=3)
        self.trainer = CLSDTrainer(0.1)

    def fit(self, **kwargs):
        options = dict(teacher=self.teacher, matches=[LayerMatch(2, 1)], epochs=1, batch_size=2)
        options.update(kwargs)
        return self.trainer.fit(self.student, options.pop("x", self.x), options.pop("labels", None), **options)

    def test_width_mismatch_names_both_states(self):
        with self.assertRaisesRegex(ValueError, "teacher state 1 has width 6 but student state 1 has width 5"):
            self.fit(matches=[LayerMatch(1, 1)])

    def test_state_index_out_of_range(self):
        with self.assertRaisesRegex(IndexError, "teacher_state 7 is out of range; this network has states 0 to 3"):
            self.fit(matches=[LayerMatch(7, 1)])
        with self.assertRaisesRegex(IndexError, "student_state 4 is out of range; this network has states 0 to 2"):
            self.fit(matches=[LayerMatch(2, 4)])
        with self.assertRaisesRegex(ValueError, "student_state must be at least 0, got -1"):
            LayerMatch(2, -1)

    def test_student_input_state_rejected(self):
        with self.assertRaisesRegex(ValueError, "student state 0 is the input.*from 1 to 2"):
            self.fit(matches=[LayerMatch(0, 0)])

    def test_input_widths_must_agree(self):
        teacher = Network.mlp([3, 5, 3], seed=0)
        with self.assertRaisesRegex(ValueError, "the teacher takes 3 input features but the student takes 4"):
            self.fit(teacher=teacher, matches=[LayerMatch(1, 1)])

    def test_bad_numbers(self):
        with self.assertRaisesRegex(ValueError, "batch_size must be at least 1, got 0"):
            self.fit(batch_size=0)
        with self.assertRaisesRegex(ValueError, "epochs must be at least 1, got 0"):
            self.fit(epochs=0)
        with self.assertRaisesRegex(TypeError, "epochs must be an int, got 2.5"):
            self.fit(epochs=2.5)
        with self.assertRaisesRegex(ValueError, "weight must be .*at least 0.*got -1"):
            LayerMatch(2, 1, weight=-1)
        with self.assertRaisesRegex(ValueError, "task_weight must be a finite number.*got nan"):
            self.fit(labels=[0] * 6, task_weight=float("nan"))

    def test_labels_checked(self):
        with self.assertRaisesRegex(ValueError, "labels\\[2\\] is 3, outside the class range 0 to 2 set by the 3 columns of the student's output state"):
            self.fit(labels=[0, 1, 3, 0, 0, 0])
        with self.assertRaisesRegex(ValueError, "got 2 labels for 6 rows"):
            self.fit(labels=[0, 1])

    def test_nothing_to_train(self):
        with self.assertRaisesRegex(ValueError, "nothing to train"):
            self.fit(matches=[])

    def test_teacher_required_for_matches(self):
        with self.assertRaisesRegex(TypeError, "matches need a teacher Network, got NoneType"):
            self.fit(teacher=None)

    def test_features_checked(self):
        with self.assertRaisesRegex(ValueError, r"features have shape \(6, 3\) but the student expects 4"):
            self.fit(x=Tensor.ones(6, 3))
        with self.assertRaisesRegex(TypeError, "features must be a Tensor or a Dataset, got list"):
            self.fit(x=[[1.0] * 4])

    def test_validation_dataset_checked_before_training(self):
        from clsd.datasets import Dataset
        before = _weights(self.student)
        wide = Dataset(Tensor.ones(3, 5), [0, 1, 2], ["a", "b", "c"])
        with self.assertRaisesRegex(ValueError, r"validation features have shape \(3, 5\) but the student expects 4"):
            self.fit(validation=wide)
        many_classes = Dataset(Tensor.ones(2, 4), [0, 4], ["a", "b", "c", "d", "e"])
        with self.assertRaisesRegex(ValueError, r"fit validation: labels\[1\] is 4, outside the class range 0 to 2"):
            self.fit(labels=[0] * 6, validation=many_classes)
        self.assertEqual(_weights(self.student), before)

    def test_unknown_loss_name(self):
        with self.assertRaisesRegex(ValueError, "unknown state loss 'l1'; valid names:"):
            LayerMatch(2, 1, loss="l1")

    def test_failed_fit_leaves_student_unchanged(self):
        before = _weights(self.student)
        with self.assertRaises(ValueError):
            self.fit(labels=[0, 1, 3, 0, 0, 0])
        self.assertEqual(_weights(self.student), before)


if __name__ == "__main__":
    unittest.main()
