"""Cross-check against PyTorch's autograd in float64 (skipped when torch is missing).

The same weights and data go through clsd and through torch. Forward states,
every loss value, every parameter gradient, and ten SGD and Adam steps must
agree within a relative error of 1e-9.
"""

import math
import os
import re
import subprocess
import sys
import unittest

from clsd import Adam, Layer, Network, SGD, Tensor, losses
from clsd.losses import EPSILON

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    torch = None

REL_TOL = 1e-9
ABS_TOL = 1e-12

TORCH_ACTIVATIONS = {
    "tanh": lambda z: torch.tanh(z),
    "sigmoid": lambda z: torch.sigmoid(z),
    "relu": lambda z: torch.relu(z),
    "identity": lambda z: z,
}


def to_torch(tensor, grad=False):
    return torch.tensor(tensor.data, dtype=torch.float64, requires_grad=grad)


def build_student():
    return Network([
        Layer(4, 6, activation="tanh", seed=1),
        Layer(6, 5, activation="sigmoid", seed=2),
        Layer(5, 5, activation="relu", seed=3),
        Layer(5, 3, activation="identity", seed=4),
    ])


def torch_parameters(network):
    """Return [weight, bias, ...] as leaf tensors that require gradients, in clsd's shapes."""
    return [to_torch(p, grad=True) for p in network.parameters()]


def torch_states(network, parameters, x):
    states = [x]
    for index, layer in enumerate(network.layers):
        weight, bias = parameters[2 * index], parameters[2 * index + 1]
        states.append(TORCH_ACTIVATIONS[layer.activation.name](states[-1] @ weight + bias))
    return states


def unit_rows(x):
    return x / torch.sqrt((x * x).sum(dim=1, keepdim=True) + EPSILON)


def torch_state_loss(name, prediction, target):
    if name == "mse":
        return F.mse_loss(prediction, target)
    if name == "normalized_mse":
        return F.mse_loss(unit_rows(prediction), unit_rows(target))
    if name == "cosine":
        return (1.0 - (unit_rows(prediction) * unit_rows(target)).sum(dim=1)).mean()
    if name == "relation":
        student, teacher = unit_rows(prediction @ prediction.T), unit_rows(target @ target.T)
        return F.mse_loss(student, teacher)
    if name == "kd":
        return torch_distillation(prediction, target, 1.0)
    raise KeyError(name)


def torch_distillation(student, teacher, temperature):
    log_q = F.log_softmax(student / temperature, dim=1)
    p = F.softmax(teacher / temperature, dim=1)
    return F.kl_div(log_q, p, reduction="batchmean") * temperature ** 2


@unittest.skipIf(torch is None, "torch is not installed")
class TorchCrossCheckTest(unittest.TestCase):
    def setUp(self):
        self.student = build_student()
        self.teacher = Network.mlp([4, 7, 5, 3], activation="tanh", seed=9)
        self.x = Tensor.normal(6, 4, seed=5)
        self.labels = [0, 2, 1, 1, 0, 2]

    def assert_close(self, actual, expected, label):
        """Compare a clsd Tensor or float with a torch tensor or float, element by element."""
        if isinstance(actual, Tensor):
            actual = [v for row in actual.data for v in row]
            expected = expected.detach().reshape(-1).tolist()
        else:
            actual, expected = [actual], [float(expected.detach()) if torch.is_tensor(expected) else float(expected)]
        self.assertEqual(len(actual), len(expected), label)
        for index, (a, e) in enumerate(zip(actual, expected)):
            if not math.isclose(a, e, rel_tol=REL_TOL, abs_tol=ABS_TOL):
                self.fail(
                    f"{label}: element {index} is {a!r}, torch gives {e!r} "
                    f"(absolute error {abs(a - e):.3g}, relative error {abs(a - e) / max(abs(e), 1e-300):.3g})"
                )

    def test_forward_states(self):
        states = self.student.states(self.x)
        expected = torch_states(self.student, torch_parameters(self.student), to_torch(self.x))
        for index, (state, wanted) in enumerate(zip(states, expected)):
            self.assert_close(state, wanted, f"state {index}")

    def test_state_losses(self):
        prediction, target = Tensor.normal(5, 4, seed=1), Tensor.normal(5, 4, seed=2)
        for name, loss in sorted(losses.STATE_LOSSES.items()):
            with self.subTest(loss=name):
                value, grad = loss(prediction, target)
                p = to_torch(prediction, grad=True)
                expected = torch_state_loss(name, p, to_torch(target))
                expected.backward()
                self.assert_close(value, expected, f"{name} value")
                self.assert_close(grad, p.grad, f"{name} gradient")

    def test_kd_loss_at_temperatures(self):
        student, teacher = Tensor.normal(5, 4, seed=3), Tensor.normal(5, 4, std=3.0, seed=4)
        for temperature in (0.5, 1.0, 4.0, 20.0):
            with self.subTest(temperature=temperature):
                value, grad = losses.distillation(student, teacher, temperature)
                s = to_torch(student, grad=True)
                expected = torch_distillation(s, to_torch(teacher), temperature)
                expected.backward()
                self.assert_close(value, expected, "kd value")
                self.assert_close(grad, s.grad, "kd gradient")

        value, grad = losses.distillation_with_labels(student, teacher, [0, 1, 2, 3, 0], 4.0, 0.7)
        s = to_torch(student, grad=True)
        labels = torch.tensor([0, 1, 2, 3, 0])
        expected = 0.7 * torch_distillation(s, to_torch(teacher), 4.0) + 0.3 * F.cross_entropy(s, labels)
        expected.backward()
        self.assert_close(value, expected, "distillation_with_labels value")
        self.assert_close(grad, s.grad, "distillation_with_labels gradient")

    def test_every_gradient_of_a_combined_loss(self):
        # Task loss at the output, an MSE hint from teacher state 2 to student
        # state 2, a relation hint at student state 1, and soft targets at T = 3.
        student_states = self.student.states(self.x)
        teacher_states = self.teacher.states(self.x)
        task, task_grad = losses.cross_entropy(student_states[4], self.labels)
        hint, hint_grad = losses.mse(student_states[2], teacher_states[2])
        relation, relation_grad = losses.relation(student_states[1], teacher_states[1])
        soft, soft_grad = losses.distillation(student_states[4], teacher_states[3], 3.0)
        self.student.zero_grad()
        self.student.backward({4: task_grad + soft_grad * 0.5, 2: hint_grad * 2.0, 1: relation_grad * 0.3})

        parameters = torch_parameters(self.student)
        states = torch_states(self.student, parameters, to_torch(self.x))
        teacher = [s.detach() for s in torch_states(self.teacher, torch_parameters(self.teacher), to_torch(self.x))]
        total = (
            F.cross_entropy(states[4], torch.tensor(self.labels))
            + 0.5 * torch_distillation(states[4], teacher[3], 3.0)
            + 2.0 * F.mse_loss(states[2], teacher[2])
            + 0.3 * torch_state_loss("relation", states[1], teacher[1])
        )
        total.backward()
        self.assert_close(task + 0.5 * soft + 2.0 * hint + 0.3 * relation, total, "total loss")
        for index, (grad, parameter) in enumerate(zip(self.student.gradients(), parameters)):
            self.assert_close(grad, parameter.grad, f"gradient of parameter {index}")

    def check_optimizer(self, make_clsd, make_torch):
        network = build_student()
        optimizer = make_clsd()
        parameters = torch_parameters(network)
        torch_optimizer = make_torch(parameters)
        for step in range(10):
            x = Tensor.normal(4, 4, seed=100 + step)
            labels = [step % 3, (step + 1) % 3, 2, 0]

            network.zero_grad()
            _, grad = losses.cross_entropy(network.forward(x), labels)
            network.backward({network.depth: grad})
            optimizer.step(network.parameters(), network.gradients())

            torch_optimizer.zero_grad()
            loss = F.cross_entropy(torch_states(network, parameters, to_torch(x))[-1], torch.tensor(labels))
            loss.backward()
            torch_optimizer.step()
        for index, (p, q) in enumerate(zip(network.parameters(), parameters)):
            self.assert_close(p, q, f"parameter {index} after 10 steps")

    def test_ten_sgd_steps(self):
        self.check_optimizer(
            lambda: SGD(learning_rate=0.1, momentum=0.9, weight_decay=0.01),
            lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01))

    def test_ten_plain_sgd_steps(self):
        self.check_optimizer(lambda: SGD(learning_rate=0.3), lambda ps: torch.optim.SGD(ps, lr=0.3))

    def test_ten_adam_steps(self):
        self.check_optimizer(
            lambda: Adam(learning_rate=0.01, beta1=0.8, beta2=0.99, eps=1e-7, weight_decay=0.01),
            lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-7, weight_decay=0.01))


class BridgeExampleTest(unittest.TestCase):
    """examples/pytorch_bridge.py runs both ways with torch, and exits cleanly without it."""

    def test_example_runs(self):
        script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "pytorch_bridge.py")
        result = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=300)
        self.assertEqual(result.returncode, 0, result.stderr)
        if torch is None:
            self.assertIn("torch is not installed", result.stdout)
            return
        difference = float(re.search(r"largest output difference over \d+ rows: (\S+)", result.stdout).group(1))
        self.assertLessEqual(difference, 1e-12)
        self.assertIn("load_state_dict: missing [], unexpected []", result.stdout)
        self.assertIn("reloaded outputs identical: True", result.stdout)
        accuracy = float(re.search(r"student \[64, 32, 10\] distilled .*test accuracy (\S+)", result.stdout).group(1))
        self.assertGreater(accuracy, 0.9)


if __name__ == "__main__":
    unittest.main()
