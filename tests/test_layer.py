import math
import unittest

from clsd import Layer, Tensor, losses
from clsd.activations import ACTIVATIONS, get_activation

from tests.gradcheck import check_gradient


def _loss_of_layer(layer, x, target):
    return losses.mse(layer.forward(x), target).value


class ActivationTest(unittest.TestCase):
    def test_values(self):
        self.assertEqual(get_activation("sigmoid").forward([0.0]), [0.5])
        self.assertEqual(get_activation("relu").forward([-1.0, 0.0, 2.0]), [0.0, 0.0, 2.0])
        self.assertEqual(get_activation("identity").forward([-3.0]), [-3.0])
        self.assertAlmostEqual(get_activation("tanh").forward([0.5])[0], math.tanh(0.5))

    def test_sigmoid_never_overflows(self):
        sigmoid = get_activation("sigmoid")
        values = sigmoid.forward([-1e300, -1e4, -710.0, 710.0, 1e4, 1e300])
        self.assertEqual(values, [0.0, 0.0, values[2], 1.0, 1.0, 1.0])
        self.assertGreater(values[2], 0.0)
        self.assertTrue(all(math.isfinite(v) for v in sigmoid.derivative(values)))

    def test_derivatives_match_finite_differences(self):
        step = 1e-6
        for name, activation in ACTIVATIONS.items():
            for z in (-2.3, -0.4, 0.7, 1.9):
                state = activation.forward([z])
                analytic = activation.derivative(state)[0]
                numeric = (activation.forward([z + step])[0] - activation.forward([z - step])[0]) / (2 * step)
                self.assertAlmostEqual(analytic, numeric, places=6, msg=f"{name} at z={z}")

    def test_unknown_name_lists_valid_names(self):
        with self.assertRaisesRegex(ValueError, "unknown activation 'softplus'; valid names: identity, relu, sigmoid, tanh"):
            get_activation("softplus")
        with self.assertRaisesRegex(TypeError, "activation must be a name"):
            get_activation(3)


class LayerTest(unittest.TestCase):
    def test_default_arguments(self):
        layer = Layer(4, 4)
        self.assertEqual(layer.activation.name, "sigmoid")
        self.assertEqual(layer.weight.shape, (4, 4))
        self.assertEqual(layer.bias.shape, (1, 4))

    def test_seed_reproducible(self):
        self.assertEqual(Layer(3, 2, seed=5).weight, Layer(3, 2, seed=5).weight)
        self.assertNotEqual(Layer(3, 2, seed=5).weight, Layer(3, 2, seed=6).weight)

    def test_forward_formula(self):
        layer = Layer(2, 2, activation="sigmoid", seed=0)
        layer.weight = Tensor([[1.0, -1.0], [0.5, 2.0]])
        layer.bias = Tensor([[0.1, -0.2]])
        x = Tensor([[0.3, -0.7]])
        z = [0.3 * 1.0 + -0.7 * 0.5 + 0.1, 0.3 * -1.0 + -0.7 * 2.0 - 0.2]
        expected = [[1 / (1 + math.exp(-v)) for v in z]]
        self.assertTrue(layer.forward(x).allclose(expected, rel_tol=1e-14))

    def test_gradients_every_activation(self):
        x = Tensor.uniform(3, 4, seed=1)
        for name in ACTIVATIONS:
            with self.subTest(activation=name):
                layer = Layer(4, 3, activation=name, seed=2)
                target = Tensor.uniform(3, 3, seed=3)
                value, grad = losses.mse(layer.forward(x), target)
                layer.zero_grad()
                grad_x = layer.backward(grad)
                loss = lambda: _loss_of_layer(layer, x, target)
                check_gradient(self, loss, layer.weight, layer.grad_weight, label=f"{name} dW")
                check_gradient(self, loss, layer.bias, layer.grad_bias, label=f"{name} db")
                check_gradient(self, loss, x, grad_x, label=f"{name} dx")

    def test_gradients_accumulate(self):
        layer = Layer(2, 2, seed=0)
        x = Tensor([[0.5, -0.5]])
        layer.forward(x)
        layer.backward(Tensor([[1.0, 1.0]]))
        once = layer.grad_weight.copy()
        layer.forward(x)
        layer.backward(Tensor([[1.0, 1.0]]))
        self.assertTrue(layer.grad_weight.allclose(once * 2))
        layer.zero_grad()
        self.assertEqual(layer.grad_weight, Tensor.zeros(2, 2))

    def test_bias_gradient_sums_over_batch(self):
        layer = Layer(2, 2, activation="identity", seed=0)
        layer.forward(Tensor.zeros(3, 2))
        layer.backward(Tensor([[1, 2], [3, 4], [5, 6]]))
        self.assertEqual(layer.grad_bias.tolist(), [[9.0, 12.0]])

    def test_extreme_inputs_stay_finite(self):
        layer = Layer(1, 1, seed=0)
        layer.weight = Tensor([[1.0]])
        layer.bias = Tensor([[0.0]])
        state = layer.forward(Tensor([[-1000.0], [-710.0], [0.0], [710.0], [1000.0]]))
        self.assertEqual(state[2, 0], 0.5)
        grad_x = layer.backward(Tensor.ones(5, 1))
        for tensor in (state, grad_x, layer.grad_weight, layer.grad_bias):
            self.assertTrue(all(math.isfinite(v) for row in tensor.data for v in row))

    def test_input_gradient_can_be_skipped(self):
        layer = Layer(2, 2, seed=0)
        layer.forward(Tensor([[1.0, 2.0]]))
        self.assertIsNone(layer.backward(Tensor([[1.0, 1.0]]), input_gradient=False))
        self.assertNotEqual(layer.grad_weight, Tensor.zeros(2, 2))

    def test_bad_construction(self):
        with self.assertRaisesRegex(ValueError, "in_features must be at least 1, got 0"):
            Layer(0, 2)
        with self.assertRaisesRegex(TypeError, "out_features must be an int, got 2.5"):
            Layer(2, 2.5)
        with self.assertRaisesRegex(ValueError, "unknown activation 'sigmod'"):
            Layer(2, 2, activation="sigmod")

    def test_bad_forward_and_backward(self):
        layer = Layer(3, 2, seed=0)
        with self.assertRaisesRegex(RuntimeError, "backward called before forward"):
            layer.backward(Tensor([[1.0, 1.0]]))
        with self.assertRaisesRegex(ValueError, r"x has shape \(1, 2\) but the layer expects 3 input features"):
            layer.forward(Tensor([[1.0, 2.0]]))
        with self.assertRaisesRegex(TypeError, "x must be a Tensor, got list"):
            layer.forward([[1.0, 2.0, 3.0]])
        layer.forward(Tensor([[1.0, 2.0, 3.0]]))
        with self.assertRaisesRegex(ValueError, r"grad_state has shape \(2, 2\) but the state has shape \(1, 2\)"):
            layer.backward(Tensor.ones(2, 2))

    def test_parameter_assignment_checks_shape(self):
        layer = Layer(3, 2, seed=0)
        before = layer.weight.copy()
        with self.assertRaisesRegex(ValueError, r"Layer.weight: expected shape \(3, 2\), got \(2, 3\)"):
            layer.weight = Tensor.zeros(2, 3)
        self.assertEqual(layer.weight, before)
        with self.assertRaisesRegex(ValueError, r"Layer.bias: expected shape \(1, 2\), got \(1, 3\)"):
            layer.bias = [[1.0, 2.0, 3.0]]
        layer.bias = [[1.0, 2.0]]
        self.assertEqual(layer.bias.tolist(), [[1.0, 2.0]])
        with self.assertRaisesRegex(ValueError, r"Layer.weight: element \[0\]\[0\] is nan"):
            layer.weight = Tensor.zeros(3, 2).map(lambda v: math.nan)


if __name__ == "__main__":
    unittest.main()
