"""fit saves a run every N epochs, and a resumed run ends bit-identical to an uninterrupted one."""

import os
import signal
import subprocess
import sys
import tempfile
import unittest

import clsd
from clsd import CheckpointError, CLSDTrainer, LayerMatch, LogitMatch, Network, Tensor
from clsd.schedules import LinearRamp
from clsd.stages import fitnets_stages

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Interrupt(Exception):
    """Raised by a callback to stop a run as a crash would."""


def stop_after(epoch):
    def callback(record):
        if record["epoch"] == epoch:
            raise Interrupt
    return callback


def snapshot(network):
    return [p.tolist() for p in network.parameters()]


def data():
    x = Tensor.normal(10, 4, seed=3)
    labels = [0, 1, 2, 1, 0, 2, 2, 1, 0, 1]
    validation = (Tensor.normal(6, 4, seed=4), [0, 1, 2, 0, 1, 2])
    return x, labels, validation


class Run:
    """A run built from scratch every time, as a new process would build it."""

    def __init__(self, kind):
        self.kind = kind
        self.teacher = Network.mlp([4, 8, 6, 3], activation="tanh", seed=10)
        self.student = Network.mlp([4, 5, 3], activation="relu", seed=11)

    def fit(self, **options):
        x, labels, validation = data()
        if self.kind == "sgd":
            trainer = CLSDTrainer(learning_rate=0.1, optimizer=clsd.SGD(0.1, momentum=0.9, weight_decay=0.01))
            return trainer.fit(self.student, x, labels, epochs=6, batch_size=3, seed=7, **options)
        if self.kind == "adam":
            matches = [
                LayerMatch.between(self.teacher, self.student, 2, 1, adapter="identity", seed=0),
                LogitMatch(temperature=3.0, weight=LinearRamp(1.0, 0.2, epochs=6)),
            ]
            trainer = CLSDTrainer(learning_rate=0.02, optimizer="adam")
            return trainer.fit(
                self.student, x, labels, teacher=self.teacher, matches=matches, epochs=6, batch_size=4,
                seed=7, validation=validation, restore_best=True, **options)
        hint = LayerMatch.between(self.teacher, self.student, 2, 1, adapter="identity", seed=0)
        trainer = CLSDTrainer(learning_rate=0.02, optimizer="adam")
        return trainer.fit(
            self.student, x, labels, teacher=self.teacher, stages=fitnets_stages(hint, 3, 3),
            batch_size=4, seed=7, **options)


class ResumeTest(unittest.TestCase):
    def setUp(self):
        self._folder = tempfile.TemporaryDirectory()
        self.path = os.path.join(self._folder.name, "run.json")

    def tearDown(self):
        self._folder.cleanup()

    def check_every_interruption(self, kind):
        whole = Run(kind)
        expected_history = whole.fit()
        expected = snapshot(whole.student)
        for stop in range(1, 6):
            with self.subTest(kind=kind, stopped_after=stop):
                if os.path.exists(self.path):
                    os.remove(self.path)
                with self.assertRaises(Interrupt):
                    Run(kind).fit(checkpoint=self.path, callbacks=[stop_after(stop)])
                resumed = Run(kind)
                history = resumed.fit(checkpoint=self.path, resume=True)
                self.assertEqual(snapshot(resumed.student), expected)
                self.assertEqual([r["terms"] for r in history], [r["terms"] for r in expected_history])
                self.assertEqual(history.returned_epoch, expected_history.returned_epoch)

    def test_sgd_momentum_resumes_bit_identical(self):
        self.check_every_interruption("sgd")

    def test_adam_matches_schedules_resume(self):
        self.check_every_interruption("adam")

    def test_two_stages_resume(self):
        # Stopping after epoch 3 resumes exactly at the stage boundary.
        self.check_every_interruption("stages")

    def test_resume_without_file_starts_fresh(self):
        whole = Run("sgd")
        whole.fit()
        fresh = Run("sgd")
        fresh.fit(checkpoint=self.path, resume=True)
        self.assertEqual(snapshot(fresh.student), snapshot(whole.student))
        self.assertTrue(os.path.exists(self.path))

    def test_checkpoint_every_four_epochs(self):
        saved_epochs = []

        def record_saved(record):
            if os.path.exists(self.path):
                saved_epochs.append(clsd.checkpoint.read(self.path).training_state["epoch"])
            else:
                saved_epochs.append(None)

        Run("sgd").fit(checkpoint=self.path, checkpoint_every=4, callbacks=[record_saved])
        # Epochs 4 and 6: every fourth epoch, and the last one.
        self.assertEqual(saved_epochs, [None, None, None, 4, 4, 6])

    def test_resume_after_sigkill(self):
        whole = Run("adam")
        whole.fit()
        child = f"""
import os, signal, sys
sys.path.insert(0, {REPOSITORY!r})
from tests.test_checkpoint_resume import Run

def kill_after_epoch_3(record):
    if record["epoch"] == 3:
        os.kill(os.getpid(), signal.SIGKILL)

Run("adam").fit(checkpoint={self.path!r}, callbacks=[kill_after_epoch_3])
"""
        result = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, cwd=REPOSITORY)
        self.assertEqual(result.returncode, -signal.SIGKILL, result.stderr)
        self.assertEqual(clsd.checkpoint.read(self.path).training_state["epoch"], 3)
        resumed = Run("adam")
        resumed.fit(checkpoint=self.path, resume=True)
        self.assertEqual(snapshot(resumed.student), snapshot(whole.student))


class ResumeErrorTest(unittest.TestCase):
    def setUp(self):
        self._folder = tempfile.TemporaryDirectory()
        self.path = os.path.join(self._folder.name, "run.json")

    def tearDown(self):
        self._folder.cleanup()

    def test_different_arguments_rejected(self):
        x, labels, _ = data()
        CLSDTrainer(0.1).fit(Network.mlp([4, 3], seed=0), x, labels, epochs=2, batch_size=3, seed=1, checkpoint=self.path)
        student = Network.mlp([4, 3], seed=5)
        trainer = CLSDTrainer(0.1, optimizer=clsd.SGD(0.1, momentum=0.5))
        before = snapshot(student)
        cases = [
            ({"epochs": 3, "batch_size": 3}, "written for epochs 2 but this fit has epochs 3"),
            ({"epochs": 2, "batch_size": 4}, "written for batch_size 3 but this fit has batch_size 4"),
        ]
        for arguments, message in cases:
            with self.subTest(arguments=arguments):
                with self.assertRaisesRegex(CheckpointError, message):
                    trainer.fit(student, x, labels, seed=1, checkpoint=self.path, resume=True, **arguments)
                self.assertEqual(snapshot(student), before)
                self.assertEqual(trainer.optimizer.state, [])
                self.assertEqual(trainer.optimizer.momentum, 0.5)

    def test_other_architecture_rejected(self):
        x, labels, _ = data()
        CLSDTrainer(0.1).fit(Network.mlp([4, 3], seed=0), x, labels, epochs=2, seed=1, checkpoint=self.path)
        student = Network.mlp([4, 6, 3], seed=0)
        before = snapshot(student)
        with self.assertRaisesRegex(CheckpointError, "the file has 1 layers"):
            CLSDTrainer(0.1).fit(student, x, labels, epochs=2, seed=1, checkpoint=self.path, resume=True)
        self.assertEqual(snapshot(student), before)

    def test_weights_only_checkpoint_rejected(self):
        x, labels, _ = data()
        clsd.save(Network.mlp([4, 3], seed=0), self.path)
        with self.assertRaisesRegex(CheckpointError, "no training state from fit"):
            CLSDTrainer(0.1).fit(Network.mlp([4, 3], seed=1), x, labels, epochs=2, checkpoint=self.path, resume=True)

    def test_malformed_training_state_rejected(self):
        x, labels, _ = data()
        CLSDTrainer(0.1).fit(Network.mlp([4, 3], seed=0), x, labels, epochs=2, seed=1, checkpoint=self.path)
        good = clsd.checkpoint.read(self.path).training_state
        cases = [
            ("epoch", 9, "epoch must be an int from 1 to 2, got 9"),
            ("rng", [3, [1, 2], None], "rng is not a random.Random state"),
            ("optimizer", {"name": "adam"}, r"optimizer must be the state of a SGD \('sgd'\)"),
            ("history", [], "history must list 2 epoch records"),
            ("adapters", [[]], "adapters must list 0 adapters"),
        ]
        for key, value, message in cases:
            with self.subTest(key=key):
                state = dict(good, **{key: value})
                clsd.save(Network.mlp([4, 3], seed=0), self.path, training_state=state)
                student = Network.mlp([4, 3], seed=3)
                before = snapshot(student)
                with self.assertRaisesRegex(CheckpointError, message):
                    CLSDTrainer(0.1).fit(student, x, labels, epochs=2, seed=1, checkpoint=self.path, resume=True)
                self.assertEqual(snapshot(student), before)

    def test_malformed_optimizer_buffers_rejected(self):
        x, labels, _ = data()
        CLSDTrainer(0.1, optimizer="adam").fit(Network.mlp([4, 3], seed=0), x, labels, epochs=2, seed=1,
                                               checkpoint=self.path)
        good = clsd.checkpoint.read(self.path).training_state
        adam = good["optimizer"]
        cases = [
            ({"state": [{"m": [["oops"] * 3] * 4, "v": adam["state"][0]["v"]}] + adam["state"][1:]},
             r"optimizer state\[0\]\['m'\]\[0\] contains 'oops'; expected finite floats"),
            ({"state": [{"m": [[0.0] * 2] * 4, "v": adam["state"][0]["v"]}] + adam["state"][1:]},
             r"optimizer state\[0\]\['m'\]\[0\] must have shape \(4, 3\)"),
            ({"state": [{"m": adam["state"][0]["m"]}] + adam["state"][1:]},
             r"optimizer state\[0\] must have the keys \['m', 'v'\]"),
            ({"state": adam["state"] * 2}, "must list at most 2 parameter states"),
            ({"steps": -1}, "optimizer steps must be an int of at least 0, got -1"),
            ({"settings": dict(adam["settings"], learning_rate=0.5)}, "differ from this run's"),
        ]
        for change, message in cases:
            with self.subTest(message=message):
                state = dict(good, optimizer=dict(adam, **change))
                clsd.save(Network.mlp([4, 3], seed=0), self.path, training_state=state)
                student = Network.mlp([4, 3], seed=3)
                trainer = CLSDTrainer(0.1, optimizer="adam")
                before = snapshot(student)
                with self.assertRaisesRegex(CheckpointError, message):
                    trainer.fit(student, x, labels, epochs=2, seed=1, checkpoint=self.path, resume=True)
                self.assertEqual(snapshot(student), before)
                self.assertEqual(trainer.optimizer.learning_rate, 0.1)
                self.assertEqual(trainer.optimizer.state, [])

    def test_bad_checkpoint_arguments(self):
        x, labels, _ = data()
        fit = CLSDTrainer(0.1).fit
        student = Network.mlp([4, 3], seed=0)
        with self.assertRaisesRegex(ValueError, "checkpoint_every must be at least 1, got 0"):
            fit(student, x, labels, checkpoint=self.path, checkpoint_every=0)
        with self.assertRaisesRegex(ValueError, "resume=True needs checkpoint=PATH"):
            fit(student, x, labels, resume=True)
        with self.assertRaisesRegex(ValueError, "checkpoint must name a .json file"):
            fit(student, x, labels, checkpoint=self.path + ".safetensors")
        with self.assertRaisesRegex(TypeError, "resume must be True or False, got 1"):
            fit(student, x, labels, checkpoint=self.path, resume=1)


if __name__ == "__main__":
    unittest.main()
