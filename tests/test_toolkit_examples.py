import os
import subprocess
import sys
import unittest

from clsd import LayerMatch, LogitMatch, Network, Tensor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = ["adapter_match.py", "loss_kinds.py", "fitnets_two_stage.py", "cka_pairing.py", "block_replacement.py", "results.py"]


class ExampleScriptsTest(unittest.TestCase):
    def test_examples_compile(self):
        for name in EXAMPLES:
            with self.subTest(example=name):
                path = os.path.join(ROOT, "examples", name)
                with open(path, encoding="utf-8") as handle:
                    compile(handle.read(), path, "exec")

    def test_results_help_lists_sections(self):
        result = subprocess.run(
            [sys.executable, os.path.join(ROOT, "examples", "results.py"), "--help"],
            capture_output=True, text=True, check=True,
        )
        for section in ("digits-scarce", "iris-scarce", "fitnets", "blocks"):
            self.assertIn(section, result.stdout)


class OutputMatchTest(unittest.TestCase):
    def test_kd_layer_match_equals_logit_match(self):
        teacher = Network.mlp([3, 5, 4], seed=0)
        student = Network.mlp([3, 4], seed=1)
        x = Tensor.normal(6, 3, seed=2)
        teacher_states, student_states = teacher.states(x), student.states(x)
        as_layer_match = LayerMatch(2, 1, loss="kd", temperature=3.0)
        as_logit_match = LogitMatch(temperature=3.0)
        first = as_layer_match.compute(teacher_states, student_states, weight=0.5)
        second = as_logit_match.compute(teacher_states, student_states, weight=0.5)
        self.assertEqual(first.value, second.value)
        self.assertEqual(first.grad, second.grad)
        self.assertEqual(as_layer_match.name, "kd t2->s1")


if __name__ == "__main__":
    unittest.main()
