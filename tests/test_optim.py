import json
import math
import unittest

from clsd import SGD, Adam, Tensor
from clsd.optim import get_optimizer


def _reference_sgd(p, grads, lr, momentum=0.0, decay=0.0):
    velocity = None
    for g in grads:
        g = g + decay * p
        if momentum:
            velocity = g if velocity is None else momentum * velocity + g
            g = velocity
        p = p - lr * g
    return p


def _reference_adam(p, grads, lr, b1=0.9, b2=0.999, eps=1e-8, decay=0.0):
    m = v = 0.0
    for t, g in enumerate(grads, start=1):
        g = g + decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1 ** t)
        v_hat = v / (1 - b2 ** t)
        p = p - lr * m_hat / (math.sqrt(v_hat) + eps)
    return p


class SGDTest(unittest.TestCase):
    def run_steps(self, optimizer, grads, start=1.0):
        w = Tensor([[start]])
        for g in grads:
            optimizer.step([w], [Tensor([[g]])])
        return w.item()

    def test_plain(self):
        grads = [0.5, -1.0, 2.0]
        self.assertAlmostEqual(self.run_steps(SGD(0.1), grads), _reference_sgd(1.0, grads, 0.1), places=15)

    def test_momentum_and_weight_decay(self):
        grads = [0.5, -1.0, 2.0, 0.3]
        got = self.run_steps(SGD(0.1, momentum=0.9, weight_decay=0.01), grads)
        self.assertAlmostEqual(got, _reference_sgd(1.0, grads, 0.1, 0.9, 0.01), places=14)

    def test_updates_in_place(self):
        w = Tensor([[1.0, 2.0]])
        rows = w.data
        SGD(1.0).step([w], [Tensor([[1.0, 1.0]])])
        self.assertIs(w.data, rows)
        self.assertEqual(w.tolist(), [[0.0, 1.0]])

    def test_bad_settings(self):
        with self.assertRaisesRegex(ValueError, "SGD: learning_rate must be a finite number above 0.0, got 0.0"):
            SGD(0.0)
        with self.assertRaisesRegex(ValueError, "learning_rate must be a finite number above 0.0, got -1.0"):
            SGD(-1)
        with self.assertRaisesRegex(ValueError, "momentum must be a finite number at least 0.0 and below 1.0"):
            SGD(0.1, momentum=1.5)
        with self.assertRaisesRegex(TypeError, "learning_rate must be a number, got '0.1'"):
            SGD("0.1")
        with self.assertRaisesRegex(ValueError, "learning_rate must be a finite number"):
            SGD(float("nan"))

    def test_mismatched_lists(self):
        w = Tensor([[1.0]])
        with self.assertRaisesRegex(ValueError, "got 1 parameters but 2 gradients"):
            SGD(0.1).step([w], [w, w])
        with self.assertRaisesRegex(ValueError, r"parameter 0 has shape \(1, 1\) but its gradient has shape \(1, 2\)"):
            SGD(0.1).step([w], [Tensor([[1.0, 2.0]])])


class AdamTest(unittest.TestCase):
    def test_matches_reference(self):
        grads = [0.5, -1.0, 2.0, 0.3, -0.2]
        w = Tensor([[1.0]])
        adam = Adam(0.01, weight_decay=0.1)
        for g in grads:
            adam.step([w], [Tensor([[g]])])
        self.assertAlmostEqual(w.item(), _reference_adam(1.0, grads, 0.01, decay=0.1), places=13)

    def test_state_dict_resumes_identically(self):
        grads = [Tensor([[0.3, -0.1]]), Tensor([[0.2, 0.4]]), Tensor([[-0.5, 0.1]]), Tensor([[0.1, 0.1]])]
        straight = Tensor([[1.0, -1.0]])
        adam = Adam(0.05)
        for g in grads:
            adam.step([straight], [g])

        resumed = Tensor([[1.0, -1.0]])
        first = Adam(0.05)
        for g in grads[:2]:
            first.step([resumed], [g])
        saved = json.loads(json.dumps(first.state_dict()))
        second = Adam(0.001)
        second.load_state_dict(saved)
        for g in grads[2:]:
            second.step([resumed], [g])
        self.assertEqual(resumed, straight)

    def test_state_shape_checked(self):
        adam = Adam(0.1)
        adam.step([Tensor([[1.0]])], [Tensor([[1.0]])])
        with self.assertRaisesRegex(ValueError, "optimizer state for it has shape"):
            adam.step([Tensor([[1.0, 2.0]])], [Tensor([[1.0, 2.0]])])

    def test_bad_settings(self):
        with self.assertRaisesRegex(ValueError, "beta1 must be a finite number at least 0.0 and below 1.0, got 1.0"):
            Adam(beta1=1.0)
        with self.assertRaisesRegex(ValueError, "eps must be a finite number above 0.0"):
            Adam(eps=0)


class GetOptimizerTest(unittest.TestCase):
    def test_names(self):
        self.assertIsInstance(get_optimizer("sgd", 0.1), SGD)
        self.assertEqual(get_optimizer("adam", 0.1).learning_rate, 0.1)

    def test_unknown(self):
        with self.assertRaisesRegex(ValueError, "unknown optimizer 'rmsprop'; valid names: adam, sgd"):
            get_optimizer("rmsprop", 0.1)


if __name__ == "__main__":
    unittest.main()
