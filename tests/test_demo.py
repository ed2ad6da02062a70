import io
import json
import os
import subprocess
import sys
import tempfile
import unittest
from contextlib import redirect_stdout
from unittest import mock

from clsd import demo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TINY = {
    "seeds": 2,
    "labels_per_class": 3,
    "teacher_epochs": 1,
    "hint_epochs": 1,
    "task_epochs": 2,
    "task_batch_size": 10,
}


class DemoTest(unittest.TestCase):
    def test_synthetic_demo_succeeds(self):
        out = io.StringIO()
        with redirect_stdout(out):
            status = demo.main(["--synthetic"])
        lines = out.getvalue().splitlines()
        self.assertEqual(status, 0)
        self.assertEqual([line.split()[1] for line in lines[:4]], ["50", "100", "150", "200"])
        self.assertTrue(lines[-1].startswith("Success"))

    def test_json_has_documented_keys(self):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "out.json")
            out = io.StringIO()
            with mock.patch.dict(demo.QUICK, TINY), redirect_stdout(out):
                status = demo.main(["--quick", "--quiet", "--json", path])
            with open(path) as handle:
                result = json.load(handle)
        self.assertEqual(status, 0)
        self.assertEqual(result["dataset"], "digits")
        self.assertEqual(result["seeds"], [0, 1])
        for value in (
            result["teacher"]["test_accuracy"],
            result["students"]["scratch"]["test_accuracy"],
            result["students"]["clsd"]["test_accuracy"],
            result["seconds"],
        ):
            self.assertIsInstance(value, float)
        per_seed = result["students"]["clsd"]["per_seed_accuracy"]
        self.assertAlmostEqual(result["students"]["clsd"]["test_accuracy"], sum(per_seed) / 2)
        self.assertIn("clsd", out.getvalue())
        self.assertIn("teacher", out.getvalue())

    def test_same_seed_same_results(self):
        first = demo.run_seed(0, TINY, None)
        second = demo.run_seed(0, TINY, None)
        for name in ("teacher", "scratch", "scratch+", "clsd"):
            self.assertEqual(first[name]["accuracy"], second[name]["accuracy"])
            self.assertEqual(first[name]["loss"], second[name]["loss"])

    def test_hint_stage_lowers_hint_mse(self):
        result = demo.run_seed(0, dict(TINY, hint_epochs=2, task_epochs=1), None)
        self.assertLess(result["clsd"]["hint_mse_after"], result["clsd"]["hint_mse_before"])

    def test_synthetic_json(self):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "synthetic.json")
            with redirect_stdout(io.StringIO()):
                status = demo.main(["--synthetic", "--json", path])
            with open(path) as handle:
                result = json.load(handle)
        self.assertEqual(status, 0)
        self.assertEqual(result["dataset"], "synthetic")
        self.assertTrue(result["success"])
        self.assertLess(result["largest_state_difference"], 1e-3)
        self.assertEqual(len(result["losses_at_steps_50_100_150_200"]), 4)

    def assert_usage_error(self, argv, message):
        err = io.StringIO()
        with mock.patch("sys.stderr", err), mock.patch.object(demo, "run_seed") as run_seed:
            self.assertEqual(demo.main(argv), 2)
        run_seed.assert_not_called()
        self.assertIn(message, err.getvalue())
        self.assertEqual(len(err.getvalue().splitlines()), 1)

    def test_bad_option_values(self):
        self.assert_usage_error(["--seeds", "0"], "--seeds must be at least 1, got 0")
        self.assert_usage_error(["--labels-per-class", "-1"], "--labels-per-class must be at least 0, got -1")

    def test_too_many_labels_per_class(self):
        self.assert_usage_error(["--quick", "--labels-per-class", "500"],
                                "--labels-per-class 500 is more than the")

    def test_unwritable_json_path_fails_before_training(self):
        with tempfile.TemporaryDirectory() as folder:
            missing = os.path.join(folder, "missing", "out.json")
            self.assert_usage_error(["--quick", "--json", missing], "does not exist; create it first")
            self.assert_usage_error(["--quick", "--json", folder], "is a folder")

    def test_run_demo_script_help(self):
        result = subprocess.run([sys.executable, "run_demo.py", "--help"], cwd=ROOT,
                                capture_output=True, text=True, check=True)
        for option in ("--quick", "--json", "--synthetic", "--seeds"):
            self.assertIn(option, result.stdout)


if __name__ == "__main__":
    unittest.main()
