"""Tests for the command line: options, config files, exit codes and messages."""

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET
from unittest import mock

from clsd import TrainingDiverged, cli, commands, datasets, evaluate
from clsd.cli import build_parser, main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*argv):
    """Run the CLI in this process; return (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(list(argv))
        except SystemExit as exit:
            status = exit.code
    return status, out.getvalue(), err.getvalue()


class CliTestCase(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.TemporaryDirectory()
        self.addCleanup(self.folder.cleanup)

    def path(self, name):
        return os.path.join(self.folder.name, name)

    def write(self, name, text):
        with open(self.path(name), "w", encoding="utf-8") as handle:
            handle.write(text)
        return self.path(name)

    def assertUsageError(self, argv, *fragments):
        status, out, err = run(*argv)
        self.assertEqual(status, 2, err)
        self.assertEqual(out, "")
        self.assertEqual(err.count("\n"), 1, err)
        self.assertNotIn("Traceback", err)
        self.assertRegex(err, r"^clsd( \w+)?: error: ")
        for fragment in fragments:
            self.assertIn(fragment, err)
        return err

    def train_iris(self, name="teacher.json", *extra):
        path = self.path(name)
        status, out, err = run("train", "--data", "iris", "--hidden", "6,5", "--epochs", "3",
                               "--batch-size", "16", "--learning-rate", "0.02", "--out", path, "--quiet", *extra)
        self.assertEqual(status, 0, err)
        return path


class HelpTest(CliTestCase):
    def test_every_option_has_help_and_default(self):
        _, registry = build_parser()
        for command, options in registry.items():
            for dest, action in options.actions.items():
                with self.subTest(command=command, option=dest):
                    self.assertTrue(action.help)
                    if options.defaults[dest] is not None and not isinstance(options.defaults[dest], bool):
                        self.assertIn("(default: ", action.help)

    def test_help_exits_zero(self):
        for command in ["train", "distill", "evaluate", "inspect"]:
            status, out, _ = run(command, "--help")
            self.assertEqual(status, 0)
            self.assertIn(f"usage: clsd {command}", out)

    def test_python_m_clsd_runs(self):
        result = subprocess.run([sys.executable, "-m", "clsd", "--help"], cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        for command in ["demo", "train", "distill", "evaluate", "inspect"]:
            self.assertIn(command, result.stdout)

    def test_no_command_prints_help(self):
        status, _, err = run()
        self.assertEqual(status, 2)
        self.assertIn("usage: clsd", err)

    def test_demo_delegates_arguments(self):
        with mock.patch("clsd.demo.main", return_value=0) as demo_main:
            status, _, _ = run("demo", "--quick", "--seeds", "1")
        self.assertEqual(status, 0)
        demo_main.assert_called_once_with(["--quick", "--seeds", "1"])

    def test_demo_errors_and_help(self):
        with mock.patch("clsd.demo.main", return_value=0) as demo_main:
            self.assertUsageError(["demo", "--seeds", "many"], "clsd demo --help", "--seeds")
            status, out, _ = run("demo", "--help")
        self.assertEqual(status, 0)
        self.assertIn("usage: clsd demo", out)
        self.assertIn("--quick", out)
        demo_main.assert_not_called()


class UsageErrorTest(CliTestCase):
    def test_bad_option_values(self):
        out = self.path("m.json")
        self.assertUsageError(["train", "--epochs", "0", "--out", out], "--epochs", "at least 1", "clsd train --help")
        self.assertUsageError(["train", "--epochs", "ten", "--out", out], "'ten'")
        self.assertUsageError(["train", "--learning-rate", "-1", "--out", out], "--learning-rate")
        self.assertUsageError(["train", "--test-fraction", "1.5", "--out", out], "(0, 1)")
        self.assertUsageError(["train", "--hidden", "32,x", "--out", out], "32,x")
        self.assertUsageError(["train", "--optimizer", "rmsprop", "--out", out], "invalid choice")
        self.assertUsageError(["train", "--no-such-option"], "unrecognized arguments")
        self.assertUsageError(["fly"], "invalid choice")

    def test_missing_and_bad_paths(self):
        self.assertUsageError(["train"], "missing --out")
        self.assertUsageError(["train", "--data", self.path("none.csv"), "--out", self.path("m.json")],
                              "not found", "--data digits")
        self.assertUsageError(["train", "--out", self.path("no/such/folder/m.json")], "does not exist")
        self.assertUsageError(["train", "--out", self.path("m.txt")], "must end in .json")
        self.assertUsageError(["train", "--out", self.path("m.json"), "--export", self.path("m.json")],
                              "must end in .safetensors")
        self.assertUsageError(["evaluate", self.path("none.json")], "not found", "clsd train")
        self.assertFalse(os.path.exists(self.path("m.json")))

    def test_bad_csv_names_line_and_column(self):
        csv_path = self.write("bad.csv", "1,2,0\n3,x,1\n")
        self.assertUsageError(["train", "--data", csv_path, "--out", self.path("m.json")],
                              "line 2, column 2", "--label-column")

    def test_bad_config_files(self):
        out = self.path("m.json")
        self.assertUsageError(["train", "--config", self.path("none.json"), "--out", out], "not found")
        broken = self.write("broken.json", "{epochs: 3")
        self.assertUsageError(["train", "--config", broken, "--out", out], "not valid JSON")
        listing = self.write("list.json", "[1, 2]")
        self.assertUsageError(["train", "--config", listing, "--out", out], "JSON object")
        unknown = self.write("unknown.json", json.dumps({"epochz": 3}))
        self.assertUsageError(["train", "--config", unknown, "--out", out], "unknown option 'epochz'", "epochs")
        bad = self.write("bad.json", json.dumps({"epochs": -2}))
        self.assertUsageError(["train", "--config", bad, "--out", out], "'epochs'", "at least 1")
        choice = self.write("choice.json", json.dumps({"optimizer": "lbfgs"}))
        self.assertUsageError(["train", "--config", choice, "--out", out], "valid choices: adam, sgd")
        flag = self.write("flag.json", json.dumps({"quiet": "yes"}))
        self.assertUsageError(["train", "--config", flag, "--out", out], "true or false")

    def test_distill_needs_matches(self):
        self.assertUsageError(["distill", "--teacher", self.path("t.json"), "--out", self.path("s.json")],
                              "--match T:S")
        self.assertUsageError(["distill", "--match", "3-1", "--out", self.path("s.json")], "TEACHER_STATE:STUDENT_STATE")


class ConfigMergeTest(CliTestCase):
    def merged(self, argv, config):
        parser, registry = build_parser()
        path = self.write("config.json", json.dumps(config))
        namespace = parser.parse_args(argv + ["--config", path])
        return cli.merge(namespace, registry[argv[0]], argv[0])

    def test_command_line_overrides_config(self):
        options = self.merged(["train", "--epochs", "7"], {"epochs": 3, "learning-rate": 0.5, "hidden": [8, 4]})
        self.assertEqual(options["epochs"], 7)
        self.assertEqual(options["learning_rate"], 0.5)
        self.assertEqual(options["hidden"], [8, 4])
        self.assertEqual(options["batch_size"], 32)

    def test_config_lists_and_flags(self):
        options = self.merged(["distill"], {"match": ["3:1", "4:2:0.5"], "quiet": True, "hidden": "12"})
        self.assertEqual(options["match"], [(3, 1, None), (4, 2, 0.5)])
        self.assertTrue(options["quiet"])
        self.assertEqual(options["hidden"], [12])

    def test_command_line_match_replaces_config(self):
        options = self.merged(["distill", "--match", "2:1"], {"match": ["3:1"]})
        self.assertEqual(options["match"], [(2, 1, None)])


class WorkflowTest(CliTestCase):
    def test_train_saves_standardizer(self):
        path = self.train_iris()
        network, state = commands.load_model(path)
        train, _ = datasets.train_test_split(datasets.load_iris(), test_fraction=0.2, seed=0)
        scaler = datasets.Standardizer().fit(train.features)
        self.assertEqual(state["standardizer"]["mean"], scaler.mean)
        self.assertEqual(state["standardizer"]["std"], scaler.std)
        self.assertEqual(state["data"]["source"], "iris")
        self.assertEqual(len(state["history"]), 3)
        self.assertEqual(network.sizes, [4, 6, 5, 3])

    def test_evaluate_applies_saved_standardizer(self):
        path = self.train_iris()
        status, out, err = run("evaluate", path, "--json")
        self.assertEqual(status, 0, err)
        result = json.loads(out)
        network, state = commands.load_model(path)
        train, test = datasets.train_test_split(datasets.load_iris(), test_fraction=0.2, seed=0)
        scaler = datasets.Standardizer().fit(train.features)
        expected = evaluate(network, scaler.transform(test.features), test.labels)
        self.assertEqual(result["accuracy"], expected["accuracy"])
        self.assertAlmostEqual(result["loss"], expected["loss"], places=12)
        self.assertEqual(result["rows"], 30)
        self.assertEqual(result["accuracy"], state["test"]["accuracy"])

    def test_evaluate_other_splits(self):
        path = self.train_iris()
        for split, rows in [("train", 120), ("all", 150)]:
            status, out, err = run("evaluate", path, "--split", split, "--json")
            self.assertEqual(status, 0, err)
            self.assertEqual(json.loads(out)["rows"], rows)

    def test_config_epochs_used(self):
        config = self.write("run.json", json.dumps({"data": "iris", "hidden": "4", "epochs": 2, "quiet": True}))
        path = self.path("m.json")
        status, _, err = run("train", "--config", config, "--out", path)
        self.assertEqual(status, 0, err)
        self.assertEqual(len(commands.load_model(path)[1]["history"]), 2)
        status, _, err = run("train", "--config", config, "--epochs", "4", "--out", path)
        self.assertEqual(status, 0, err)
        self.assertEqual(len(commands.load_model(path)[1]["history"]), 4)

    def test_progress_unless_quiet(self):
        path = self.path("m.json")
        status, out, err = run("train", "--data", "iris", "--hidden", "4", "--epochs", "2", "--out", path)
        self.assertEqual(status, 0, err)
        self.assertIn("epoch 2/2", err)
        self.assertIn("saved", out)
        status, out, err = run("train", "--data", "iris", "--hidden", "4", "--epochs", "2", "--out", path, "--quiet")
        self.assertEqual((status, out, err), (0, "", ""))

    def test_plot_writes_svg(self):
        plot = self.path("loss.svg")
        self.train_iris("m.json", "--plot", plot)
        root = ET.parse(plot).getroot()
        self.assertEqual(root.tag, "{http://www.w3.org/2000/svg}svg")
        self.assertIn("train task", ET.tostring(root, encoding="unicode"))

    def test_distill_and_inspect(self):
        teacher = self.train_iris()
        student = self.path("student.json")
        plot = self.path("distill.svg")
        status, out, err = run("distill", "--teacher", teacher, "--hidden", "5", "--match", "2:1",
                               "--hint-epochs", "2", "--epochs", "2", "--batch-size", "16",
                               "--labels-per-class", "4", "--out", student, "--plot", plot, "--quiet")
        self.assertEqual(status, 0, err)
        network, state = commands.load_model(student)
        self.assertEqual(network.sizes, [4, 5, 3])
        self.assertEqual(state["standardizer"], commands.load_model(teacher)[1]["standardizer"])
        self.assertEqual([sorted(r["terms"]) for r in state["history"]],
                         [["hint t2->s1"]] * 2 + [["task"]] * 2)
        with open(plot, encoding="utf-8") as handle:
            self.assertIn("hint t2-&gt;s1", handle.read())

        status, out, err = run("inspect", student)
        self.assertEqual(status, 0, err)
        self.assertIn("4-5-3, 2 layers, 43 parameters", out)
        self.assertIn("standardized inputs", out)

    def test_distill_rejects_bad_states(self):
        teacher = self.train_iris()
        err = self.assertUsageError(["distill", "--teacher", teacher, "--hidden", "5", "--match", "9:1",
                                     "--out", self.path("s.json")], "--match 9:1", "states 0-3")
        self.assertIn("[4, 6, 5, 3]", err)
        self.assertUsageError(["distill", "--teacher", teacher, "--hidden", "4", "--match", "1:1",
                               "--adapter", "none", "--out", self.path("s.json")], "width")
        self.assertFalse(os.path.exists(self.path("s.json")))

    def test_match_strategy(self):
        teacher = self.train_iris()
        student = self.path("student.json")
        status, _, err = run("distill", "--teacher", teacher, "--hidden", "5", "--match", "last",
                             "--hint-epochs", "1", "--epochs", "1", "--out", student, "--quiet")
        self.assertEqual(status, 0, err)
        history = commands.load_model(student)[1]["history"]
        self.assertEqual(list(history[0]["terms"]), ["hint t2->s1"])

    def test_inspect_cka_matrix(self):
        teacher = self.train_iris()
        other = self.train_iris("other.json", "--hidden", "3", "--seed", "5")
        plot = self.path("cka.svg")
        status, out, err = run("inspect", teacher, other, "--json", "--plot", plot)
        self.assertEqual(status, 0, err)
        cka = json.loads(out)["cka"]
        self.assertEqual(cka["rows"], 30)
        self.assertEqual([len(row) for row in cka["matrix"]], [3, 3, 3, 3])
        # Both models read the same standardized inputs, so state 0 matches exactly.
        self.assertAlmostEqual(cka["matrix"][0][0], 1.0, places=12)
        for row in cka["matrix"]:
            for value in row:
                self.assertGreaterEqual(value, 0.0)
                self.assertLessEqual(value, 1.0)
        root = ET.parse(plot).getroot()
        self.assertIn("Linear CKA", root.find("{http://www.w3.org/2000/svg}title").text)

        status, out, err = run("inspect", teacher, other)
        self.assertEqual(status, 0, err)
        self.assertIn("linear CKA on 30 rows", out)

        self.assertUsageError(["inspect", teacher, other, "--rows", "1"], "linear CKA needs at least 2 rows")

    def test_export_safetensors(self):
        exported = self.path("teacher.safetensors")
        path = self.train_iris("teacher.json", "--export", exported)
        network, _ = commands.load_model(path)
        copy, state = commands.load_model(exported)
        self.assertEqual(state, {})
        for mine, theirs in zip(network.parameters(), copy.parameters()):
            self.assertEqual(mine, theirs)
        self.assertUsageError(["evaluate", exported], "does not record its training data", "--data")
        status, out, err = run("evaluate", exported, "--data", "iris", "--split", "all", "--json")
        self.assertEqual(status, 0, err)
        self.assertEqual(json.loads(out)["rows"], 150)
        self.assertIn("no standardization statistics", err)

    def test_hostile_checkpoint_is_usage_error(self):
        broken = self.write("broken.json", '{"format": "clsd.checkpoint", "format_version": 99}')
        self.assertUsageError(["evaluate", broken], "cannot load MODEL")
        self.assertUsageError(["inspect", self.write("text.json", "not json")], "cannot load MODEL")

    def test_training_diverged_exits_one(self):
        error = TrainingDiverged("fit: loss term 'task' is nan at epoch 1, step 1")
        with mock.patch("clsd.commands.CLSDTrainer.fit", side_effect=error):
            status, out, err = run("train", "--data", "iris", "--out", self.path("m.json"), "--quiet")
        self.assertEqual(status, 1)
        self.assertEqual(err, "clsd: training diverged: fit: loss term 'task' is nan at epoch 1, step 1\n")
        self.assertFalse(os.path.exists(self.path("m.json")))

    def test_overflow_exits_one(self):
        status, _, err = run("train", "--data", "iris", "--hidden", "4", "--epochs", "3", "--optimizer", "sgd",
                             "--learning-rate", "1e308", "--out", self.path("m.json"), "--quiet")
        self.assertEqual(status, 1)
        self.assertIn("training diverged", err)
        self.assertNotIn("Traceback", err)


if __name__ == "__main__":
    unittest.main()
