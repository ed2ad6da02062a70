import unittest

from clsd import Layer, Network, Tensor, losses

from tests.gradcheck import check_gradient


class NetworkTest(unittest.TestCase):
    def test_mlp_sizes_and_activations(self):
        net = Network.mlp([5, 4, 3, 2], activation="tanh", seed=0)
        self.assertEqual(net.sizes, [5, 4, 3, 2])
        self.assertEqual(net.depth, 3)
        self.assertEqual([layer.activation.name for layer in net.layers], ["tanh", "tanh", "identity"])
        self.assertEqual(net.parameter_count(), 5 * 4 + 4 + 4 * 3 + 3 + 3 * 2 + 2)

    def test_mlp_seed(self):
        a = Network.mlp([3, 3, 2], seed=4)
        b = Network.mlp([3, 3, 2], seed=4)
        self.assertEqual([p.data for p in a.parameters()], [p.data for p in b.parameters()])

    def test_states_convention(self):
        net = Network.mlp([4, 3, 2], seed=0)
        x = Tensor.uniform(6, 4, seed=1)
        states = net.states(x)
        self.assertIs(states[0], x)
        self.assertEqual([s.shape for s in states], [(6, 4), (6, 3), (6, 2)])
        self.assertEqual(states[1], net.layers[0].forward(x))
        self.assertEqual(net.forward(x), states[-1])
        self.assertEqual(len(net.states(x, upto=1)), 2)

    def test_layer_widths_checked(self):
        with self.assertRaisesRegex(ValueError, "layer 1 outputs 3 features but layer 2 expects 4"):
            Network([Layer(2, 3), Layer(4, 1)])
        with self.assertRaisesRegex(ValueError, "at least one layer"):
            Network([])
        with self.assertRaisesRegex(TypeError, "layer 2 must be a Layer"):
            Network([Layer(2, 2), "dense"])

    def test_state_index_range(self):
        net = Network.mlp([4, 3, 2], seed=0)
        with self.assertRaisesRegex(IndexError, "upto 3 is out of range; this network has states 0 to 2"):
            net.states(Tensor.ones(1, 4), upto=3)
        net.states(Tensor.ones(1, 4))
        with self.assertRaisesRegex(IndexError, "state index 5 is out of range; this network has states 0 to 2"):
            net.backward({5: Tensor.ones(1, 2)})

    def test_bad_inputs(self):
        net = Network.mlp([4, 2], seed=0)
        with self.assertRaisesRegex(ValueError, r"x has shape \(1, 3\) but the network expects 4 input features"):
            net.forward(Tensor.ones(1, 3))
        with self.assertRaisesRegex(ValueError, "sizes must list at least two widths"):
            Network.mlp([4])
        net.forward(Tensor.ones(2, 4))
        with self.assertRaisesRegex(ValueError, r"gradient at state 1 has shape \(1, 2\) but the state has shape \(2, 2\)"):
            net.backward({1: Tensor.ones(1, 2)})
        with self.assertRaisesRegex(TypeError, "expected a dict"):
            net.backward([Tensor.ones(2, 2)])

    def test_backward_before_forward(self):
        with self.assertRaisesRegex(RuntimeError, "before forward"):
            Network.mlp([2, 2], seed=0).backward({1: Tensor.ones(1, 2)})

    def test_multi_state_backward_gradients(self):
        net = Network.mlp([4, 5, 3, 2], activation="tanh", seed=3)
        x = Tensor.uniform(3, 4, seed=4)
        hint_target = Tensor.uniform(3, 5, seed=5)
        middle_target = Tensor.uniform(3, 3, seed=6)
        labels = [0, 1, 1]

        def total_loss():
            states = net.states(x)
            return (
                losses.mse(states[1], hint_target).value * 0.7
                + losses.mse(states[2], middle_target).value
                + losses.cross_entropy(states[3], labels).value
            )

        states = net.states(x)
        grads = {
            1: losses.mse(states[1], hint_target).grad * 0.7,
            2: losses.mse(states[2], middle_target).grad,
            3: losses.cross_entropy(states[3], labels).grad,
        }
        net.zero_grad()
        grad_x = net.backward(grads, input_gradient=True)
        for index, layer in enumerate(net.layers):
            check_gradient(self, total_loss, layer.weight, layer.grad_weight, label=f"layer {index + 1} dW")
            check_gradient(self, total_loss, layer.bias, layer.grad_bias, label=f"layer {index + 1} db")
        check_gradient(self, total_loss, x, grad_x, label="dx")

    def test_layers_above_highest_state_untouched(self):
        net = Network.mlp([3, 3, 2], seed=0)
        x = Tensor.ones(2, 3)
        net.states(x)
        net.zero_grad()
        self.assertIsNone(net.backward({1: Tensor.ones(2, 3)}))
        self.assertEqual(net.layers[1].grad_weight, Tensor.zeros(3, 2))
        self.assertNotEqual(net.layers[0].grad_weight, Tensor.zeros(3, 3))

    def test_gradient_at_input_state(self):
        net = Network.mlp([2, 2], seed=0)
        net.states(Tensor.ones(1, 2))
        grad = net.backward({0: Tensor([[1.0, 2.0]])}, input_gradient=True)
        self.assertEqual(grad.tolist(), [[1.0, 2.0]])

    def test_empty_gradients_give_zero_input_gradient(self):
        net = Network.mlp([2, 3, 2], seed=0)
        net.states(Tensor.ones(4, 2))
        self.assertEqual(net.backward({}, input_gradient=True), Tensor.zeros(4, 2))
        self.assertIsNone(net.backward({}))

    def test_state_width(self):
        net = Network.mlp([5, 3, 2], seed=0)
        self.assertEqual([net.state_width(i) for i in range(3)], [5, 3, 2])
        with self.assertRaisesRegex(IndexError, "state index 3 is out of range; this network has states 0 to 2"):
            net.state_width(3)

    def test_predict(self):
        net = Network.mlp([2, 2], seed=0)
        net.layers[0].weight = Tensor([[1.0, 0.0], [0.0, 1.0]])
        self.assertEqual(net.predict(Tensor([[3.0, 1.0], [0.0, 2.0]])), [0, 1])


if __name__ == "__main__":
    unittest.main()
