import io
import math
import unittest

from clsd import Adam, Adapter, CLSDTrainer, LayerMatch, LogitMatch, Network, Stage, Tensor
from clsd.reporting import PlanPrinter, format_plan
from clsd.schedules import Constant, LinearRamp, Schedule, Step, as_schedule
from clsd.stages import fitnets_joint, fitnets_stages

from tests.gradcheck import check_gradient


def _weights(layers):
    return [p.tolist() for layer in layers for p in layer.parameters()]


def _data(rows=24, features=4, classes=3, seed=0):
    x = Tensor.normal(rows, features, seed=seed)
    labels = [i % classes for i in range(rows)]
    return x, labels


class AdapterTest(unittest.TestCase):
    def setUp(self):
        self.teacher = Network.mlp([4, 8, 8, 3], activation="tanh", seed=1)
        self.student = Network.mlp([4, 5, 3], activation="tanh", seed=2)

    def test_gradient_through_adapter(self):
        match = LayerMatch.between(self.teacher, self.student, 2, 1, adapter="tanh", seed=3)
        x, _ = _data(rows=3)
        teacher_states = self.teacher.states(x)
        student_states = self.student.states(x)
        state = student_states[1]

        def value():
            return 0.5 * match.compute(teacher_states, student_states).value

        grad = match.compute(teacher_states, student_states, weight=0.5).grad
        check_gradient(self, value, state, grad, label="dL/dstudent state")

    def test_adapter_weight_gradient(self):
        match = LayerMatch.between(self.teacher, self.student, 2, 1, adapter="identity", seed=3)
        x, _ = _data(rows=3)
        teacher_states = self.teacher.states(x)
        student_states = self.student.states(x)
        match.adapter.zero_grad()
        match.compute(teacher_states, student_states, weight=2.0)
        analytic = match.adapter.grad_weight.copy()

        def value():
            return 2.0 * match.compute(teacher_states, student_states).value

        check_gradient(self, value, match.adapter.weight, analytic, label="dL/dadapter weight")

    def test_adapter_trained_teacher_frozen(self):
        match = LayerMatch.between(self.teacher, self.student, 2, 1, adapter="identity", seed=3)
        adapter_before = _weights([match.adapter])
        teacher_before = _weights(self.teacher.layers)
        x, labels = _data()
        CLSDTrainer(learning_rate=0.1).fit(self.student, x, labels, teacher=self.teacher, matches=[match], epochs=2, batch_size=8, seed=0)
        self.assertNotEqual(_weights([match.adapter]), adapter_before)
        self.assertEqual(_weights(self.teacher.layers), teacher_before)

    def test_student_runs_without_adapter(self):
        match = LayerMatch.between(self.teacher, self.student, 2, 1, adapter="identity", seed=3)
        x, labels = _data()
        CLSDTrainer(learning_rate=0.1).fit(self.student, x, labels, teacher=self.teacher, matches=[match], epochs=1, batch_size=8, seed=0)
        self.assertEqual(self.student.sizes, [4, 5, 3])
        self.assertEqual(self.student.forward(x).shape, (24, 3))

    def test_width_mismatch_names_widths_and_states(self):
        with self.assertRaisesRegex(ValueError, r"teacher state 2 has width 8 but student state 1 has width 5"):
            LayerMatch.between(self.teacher, self.student, 2, 1)

    def test_adapter_of_wrong_width(self):
        match = LayerMatch(2, 1, adapter=Adapter(5, 6))
        with self.assertRaisesRegex(ValueError, r"width 8 .* width 5; the adapter outputs 6 features, not 8"):
            match.check(self.teacher, self.student)
        match = LayerMatch(2, 1, adapter=Adapter(4, 8))
        with self.assertRaisesRegex(ValueError, r"the adapter takes 4 features, not 5"):
            match.check(self.teacher, self.student)

    def test_relation_needs_no_adapter(self):
        match = LayerMatch.between(self.teacher, self.student, 2, 1, loss="relation")
        x, labels = _data()
        history = CLSDTrainer(learning_rate=0.1).fit(self.student, x, labels, teacher=self.teacher, matches=[match], epochs=2, batch_size=8, seed=0)
        self.assertIn("hint t2->s1", history[-1]["terms"])

    def test_bad_adapter_arguments(self):
        with self.assertRaisesRegex(TypeError, "adapter must be an Adapter or None, got str"):
            LayerMatch(2, 1, adapter="identity")
        with self.assertRaisesRegex(ValueError, "unknown adapter activation 'linear'; valid names"):
            LayerMatch.between(self.teacher, self.student, 2, 1, adapter="linear")
        with self.assertRaisesRegex(ValueError, "temperature=2.0 applies only to loss='kd'"):
            LayerMatch(2, 1, temperature=2.0)


class ScheduleTest(unittest.TestCase):
    def test_constant(self):
        self.assertEqual([Constant(0.5)(epoch) for epoch in (1, 7)], [0.5, 0.5])

    def test_linear_ramp(self):
        ramp = LinearRamp(0.0, 1.0, epochs=5)
        self.assertEqual([ramp(epoch) for epoch in range(1, 8)], [0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0])
        self.assertEqual(LinearRamp(2.0, 1.0, epochs=1)(1), 1.0)

    def test_step(self):
        step = Step([1.0, 0.5, 0.0], boundaries=[3, 6])
        self.assertEqual([step(epoch) for epoch in range(1, 8)], [1.0, 1.0, 0.5, 0.5, 0.5, 0.0, 0.0])
        self.assertEqual(step.describe(), "1, 0.5 from epoch 3, 0 from epoch 6")

    def test_negative_schedule_value_rejected_before_training(self):
        class GoesNegative(Schedule):
            def value(self, epoch):
                return 1.0 if epoch < 3 else -1.0

            def describe(self):
                return "1 then -1"

        teacher = Network.mlp([4, 3, 2], seed=0)
        student = Network.mlp([4, 3, 2], seed=1)
        before = [p.tolist() for p in student.parameters()]
        match = LayerMatch(1, 1, weight=GoesNegative())
        with self.assertRaisesRegex(ValueError, "GoesNegative: weight at epoch 3 must be a finite number at least 0, got -1.0"):
            CLSDTrainer(0.1).fit(student, Tensor.uniform(6, 4, seed=2), teacher=teacher, matches=[match], epochs=4)
        self.assertEqual([p.tolist() for p in student.parameters()], before)

    def test_bad_schedules(self):
        with self.assertRaisesRegex(ValueError, "start must be a finite number at least 0, got -1"):
            LinearRamp(-1, 1, epochs=3)
        with self.assertRaisesRegex(ValueError, "expected one boundary fewer than values"):
            Step([1.0, 0.5], boundaries=[2, 4])
        with self.assertRaisesRegex(ValueError, r"boundaries must increase, got \[4, 3\]"):
            Step([1.0, 0.5, 0.1], boundaries=[4, 3])
        with self.assertRaisesRegex(ValueError, "epoch must be an int from 1, got 0"):
            Constant(1.0)(0)
        with self.assertRaisesRegex(TypeError, "weight must be a number or a Schedule, got 'high'"):
            as_schedule("high")


class StagesTest(unittest.TestCase):
    def setUp(self):
        self.teacher = Network.mlp([4, 8, 8, 8, 3], activation="tanh", seed=1)
        self.student = Network.mlp([4, 5, 5, 5, 3], activation="sigmoid", seed=2)
        self.x, self.labels = _data()

    def hint(self):
        return LayerMatch.between(self.teacher, self.student, 2, 2, adapter="identity", seed=4)

    def test_stage_one_trains_up_to_guided_layer(self):
        hint = self.hint()
        upper_before = _weights(self.student.layers[2:])
        lower_before = _weights(self.student.layers[:2])
        stages = [Stage("hints", 2, [hint])]
        CLSDTrainer(learning_rate=0.1).fit(self.student, self.x, self.labels, teacher=self.teacher, stages=stages, batch_size=8, seed=0)
        self.assertEqual(_weights(self.student.layers[2:]), upper_before)
        self.assertNotEqual(_weights(self.student.layers[:2]), lower_before)

    def test_fitnets_two_stages(self):
        hint = self.hint()
        stages = fitnets_stages(hint, hint_epochs=2, kd_epochs=3, temperature=2.0)
        history = CLSDTrainer(learning_rate=0.1).fit(self.student, self.x, self.labels, teacher=self.teacher, stages=stages, batch_size=8, seed=0)
        self.assertEqual([r["stage"] for r in history], ["hints", "hints", "kd", "kd", "kd"])
        self.assertEqual([r["stage_epoch"] for r in history], [1, 2, 1, 2, 3])
        self.assertEqual(list(history[0]["terms"]), ["hint t2->s2"])
        self.assertEqual(list(history[-1]["terms"]), ["task", "kd T=2"])
        self.assertEqual([r["weights"]["kd T=2"] for r in history[2:]], [4.0, 2.5, 1.0])

    def test_adapter_not_trained_in_stage_two(self):
        hint = self.hint()
        stages = fitnets_stages(hint, hint_epochs=1, kd_epochs=2)
        trainer = CLSDTrainer(learning_rate=0.1)
        trainer.fit(self.student, self.x, self.labels, teacher=self.teacher, stages=stages[:1], batch_size=8, seed=0)
        after_stage_one = _weights([hint.adapter])
        trainer.fit(self.student, self.x, self.labels, teacher=self.teacher, stages=stages[1:], batch_size=8, seed=0)
        self.assertEqual(_weights([hint.adapter]), after_stage_one)

    def test_joint_variant_has_all_terms(self):
        stages = fitnets_joint(self.hint(), epochs=2, temperature=3.0)
        history = CLSDTrainer(learning_rate=0.1).fit(self.student, self.x, self.labels, teacher=self.teacher, stages=stages, batch_size=8, seed=0)
        self.assertEqual(sorted(history[-1]["terms"]), ["hint t2->s2", "kd T=3", "task"])

    def test_optimizer_state_restarts_each_stage(self):
        trainer = CLSDTrainer(optimizer=Adam(learning_rate=0.01))
        seen = []
        trainer.fit(
            self.student, self.x, self.labels, teacher=self.teacher,
            stages=fitnets_stages(self.hint(), hint_epochs=1, kd_epochs=1), batch_size=8, seed=0,
            callbacks=[lambda record: seen.append(trainer.optimizer.steps)],
        )
        self.assertEqual(seen, [3, 3])

    def test_total_is_weighted_sum(self):
        stages = [
            Stage("a", 2, [self.hint()], task_weight=LinearRamp(0.0, 1.0, epochs=2)),
            Stage("b", 2, [LogitMatch(temperature=2.0, weight=Step([0.5, 0.25], boundaries=[2]))], task_weight=1.0),
        ]
        history = CLSDTrainer(learning_rate=0.05).fit(self.student, self.x, self.labels, teacher=self.teacher, stages=stages, batch_size=8, seed=0)
        for record in history:
            expected = math.fsum(record["weights"][name] * value for name, value in record["terms"].items())
            self.assertAlmostEqual(record["total"], expected, places=12)
            self.assertEqual(set(record["weights"]), set(record["terms"]))
        self.assertEqual([r["weights"]["task"] for r in history], [0.0, 1.0, 1.0, 1.0])
        self.assertEqual([r["weights"].get("kd T=2") for r in history[2:]], [0.5, 0.25])

    def test_same_seed_same_result(self):
        results = []
        for _ in range(2):
            student = Network.mlp([4, 5, 5, 5, 3], activation="sigmoid", seed=2)
            hint = LayerMatch.between(self.teacher, student, 2, 2, adapter="identity", seed=4)
            history = CLSDTrainer(learning_rate=0.1).fit(
                student, self.x, self.labels, teacher=self.teacher,
                stages=fitnets_stages(hint, hint_epochs=1, kd_epochs=2), batch_size=8, seed=7,
            )
            results.append((_weights(student.layers), _weights([hint.adapter]), [r["total"] for r in history]))
        self.assertEqual(results[0], results[1])

    def test_stage_arguments_checked(self):
        trainer = CLSDTrainer()
        with self.assertRaisesRegex(ValueError, "pass either stages, or matches, epochs and task_weight"):
            trainer.fit(self.student, self.x, self.labels, teacher=self.teacher, stages=[Stage("a", 1, task_weight=1.0)], epochs=3)
        with self.assertRaisesRegex(ValueError, "stage 'a' has a task_weight but no labels"):
            trainer.fit(self.student, self.x, teacher=self.teacher, stages=[Stage("a", 1, task_weight=1.0)])
        with self.assertRaisesRegex(ValueError, "Stage 'a': nothing to train"):
            Stage("a", 1)
        with self.assertRaisesRegex(TypeError, r"stages\[0\] must be a Stage, got LayerMatch"):
            trainer.fit(self.student, self.x, self.labels, stages=[self.hint()])

    def test_logit_match_checks_output_widths(self):
        student = Network.mlp([4, 5, 2], seed=3)
        with self.assertRaisesRegex(ValueError, "teacher state 4 has width 3 but student state 2 has width 2"):
            CLSDTrainer().fit(student, self.x, teacher=self.teacher, matches=[LogitMatch()], epochs=1)


class PlanAndBestEpochTest(unittest.TestCase):
    def setUp(self):
        self.teacher = Network.mlp([4, 8, 8, 3], activation="tanh", seed=1)
        self.student = Network.mlp([4, 5, 3], activation="tanh", seed=2)
        self.x, self.labels = _data(rows=30)
        self.validation = _data(rows=12, seed=5)

    def test_plan_reaches_callbacks_before_training(self):
        events = []

        class Recorder:
            def on_fit_start(self, plan):
                events.append(("start", plan))

            def on_epoch_end(self, record):
                events.append(("epoch", record["epoch"]))

        hint = LayerMatch.between(self.teacher, self.student, 2, 1, adapter="identity", seed=0)
        stages = fitnets_stages(hint, hint_epochs=1, kd_epochs=2)
        CLSDTrainer().fit(self.student, self.x, self.labels, teacher=self.teacher, stages=stages, batch_size=10, seed=0, callbacks=[Recorder()])
        self.assertEqual(events[0][0], "start")
        self.assertEqual([e[1] for e in events[1:]], [1, 2, 3])
        plan = events[0][1]
        self.assertEqual(plan["epochs"], 3)
        self.assertEqual([s["name"] for s in plan["stages"]], ["hints", "kd"])
        self.assertEqual([t["name"] for t in plan["stages"][1]["terms"]], ["task", "kd T=4"])
        text = format_plan(plan)
        self.assertIn("plan: 2 stages, 3 epochs, batch size 10, 3 steps per epoch", text)
        self.assertIn("stage 1 'hints', epoch 1: trains student layer 1 and adapter 5->8 identity", text)
        self.assertIn("weight 4 -> 1 over 2 epochs", text)
        self.assertIn("returns: the weights of the last epoch", text)

    def test_plan_printer_writes_plan_and_summary(self):
        stream = io.StringIO()
        CLSDTrainer().fit(self.student, self.x, self.labels, epochs=2, batch_size=10, seed=0, validation=self.validation, callbacks=[PlanPrinter(stream)])
        lines = stream.getvalue().splitlines()
        self.assertTrue(lines[0].startswith("plan: 1 stage, 2 epochs"))
        self.assertIn("  task  weight 1  (cross-entropy: student state 2 vs labels)", lines)
        self.assertTrue(lines[-1].startswith("validation accuracy: last epoch 2: "))
        quiet = io.StringIO()
        CLSDTrainer().fit(self.student, self.x, self.labels, epochs=1, callbacks=[PlanPrinter(quiet, quiet=True)])
        self.assertEqual(quiet.getvalue(), "")

    def test_restore_best_returns_best_weights(self):
        trainer = CLSDTrainer(learning_rate=2.0)
        history = trainer.fit(self.student, self.x, self.labels, epochs=7, batch_size=5, seed=0, validation=self.validation, restore_best=True)
        best = history.best()
        self.assertLess(history[-1]["validation"]["accuracy"], best["validation"]["accuracy"])
        accuracies = [r["validation"]["accuracy"] for r in history]
        self.assertEqual(best["validation"]["accuracy"], max(accuracies))
        self.assertEqual(best["epoch"], accuracies.index(max(accuracies)) + 1)
        self.assertEqual(history.returned_epoch, best["epoch"])
        x, labels = self.validation
        correct = sum(p == y for p, y in zip(self.student.predict(x), labels))
        self.assertEqual(correct / len(labels), best["validation"]["accuracy"])
        self.assertIn(f"best epoch {best['epoch']}", history.summary())

    def test_last_weights_by_default(self):
        history = CLSDTrainer().fit(self.student, self.x, self.labels, epochs=3, validation=self.validation)
        self.assertEqual(history.returned_epoch, 3)
        self.assertTrue(history.summary().endswith("the student has the weights of the last epoch"))

    def test_restore_best_needs_validation(self):
        with self.assertRaisesRegex(ValueError, "restore_best=True needs a validation set"):
            CLSDTrainer().fit(self.student, self.x, self.labels, epochs=1, restore_best=True)


if __name__ == "__main__":
    unittest.main()
