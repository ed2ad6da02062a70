"""The safetensors package and torch read clsd's files, and clsd reads theirs.

Skipped when the ``safetensors`` package (with NumPy) or ``torch`` is missing.
"""

import os
import tempfile
import unittest

import clsd
from clsd import Network, Tensor
from clsd import safetensors as st

try:
    import numpy
    from safetensors.numpy import load_file as numpy_load_file, save_file as numpy_save_file
except ImportError:
    numpy = None

try:
    import torch
    from safetensors.torch import load_file as torch_load_file, save_file as torch_save_file
except ImportError:
    torch = None

TORCH_MODULES = {"tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "ReLU", "identity": "Identity"}


class TemporaryFolder(unittest.TestCase):
    def setUp(self):
        self._folder = tempfile.TemporaryDirectory()
        self.folder = self._folder.name
        self.network = Network.mlp([4, 8, 5, 3], activation="relu", seed=11)

    def tearDown(self):
        self._folder.cleanup()

    def path(self, name):
        return os.path.join(self.folder, name)


@unittest.skipIf(numpy is None, "the safetensors package or NumPy is not installed")
class SafetensorsPackageTest(TemporaryFolder):
    def test_package_reads_our_file(self):
        for dtype, numpy_dtype in (("F64", numpy.float64), ("F32", numpy.float32)):
            with self.subTest(dtype=dtype):
                clsd.save(self.network, self.path("model.safetensors"), dtype=dtype)
                tensors = numpy_load_file(self.path("model.safetensors"))
                self.assertEqual(sorted(tensors), ["0.bias", "0.weight", "2.bias", "2.weight", "4.bias", "4.weight"])
                for index, layer in enumerate(self.network.layers):
                    weight, bias = tensors[f"{2 * index}.weight"], tensors[f"{2 * index}.bias"]
                    self.assertEqual(weight.dtype, numpy_dtype)
                    self.assertEqual(weight.shape, (layer.out_features, layer.in_features))
                    expected_weight = numpy.array(layer.weight.data, dtype=numpy_dtype).T
                    expected_bias = numpy.array(layer.bias.data[0], dtype=numpy_dtype)
                    self.assertTrue(numpy.array_equal(weight, expected_weight))
                    self.assertTrue(numpy.array_equal(bias, expected_bias))

    def test_we_read_package_file(self):
        rng = numpy.random.default_rng(0)
        tensors = {
            "0.weight": rng.standard_normal((6, 3)),
            "0.bias": rng.standard_normal(6).astype(numpy.float32),
            "2.weight": rng.standard_normal((2, 6)).astype(numpy.float16),
            "2.bias": rng.standard_normal(2),
        }
        numpy_save_file(tensors, self.path("theirs.safetensors"), metadata={"note": "written by numpy"})
        network = clsd.load(self.path("theirs.safetensors"), activations=["tanh", "identity"])
        self.assertEqual(network.sizes, [3, 6, 2])
        self.assertEqual(network.layers[0].weight.tolist(), tensors["0.weight"].T.tolist())
        self.assertEqual(network.layers[0].bias.tolist(), [tensors["0.bias"].astype(numpy.float64).tolist()])
        self.assertEqual(network.layers[1].weight.tolist(), tensors["2.weight"].astype(numpy.float64).T.tolist())
        _, metadata = st.read_file(self.path("theirs.safetensors"))
        self.assertEqual(metadata, {"note": "written by numpy"})

    def test_package_metadata_readable(self):
        clsd.save(self.network, self.path("model.safetensors"))
        from safetensors import safe_open

        with safe_open(self.path("model.safetensors"), framework="numpy") as handle:
            metadata = handle.metadata()
        self.assertEqual(metadata["sizes"], "[4, 8, 5, 3]")
        self.assertEqual(metadata["activations"], '["relu", "relu", "identity"]')


@unittest.skipIf(torch is None, "torch or the safetensors package is not installed")
class TorchSequentialTest(TemporaryFolder):
    def sequential(self, network):
        modules = []
        for layer in network.layers:
            modules.append(torch.nn.Linear(layer.in_features, layer.out_features))
            modules.append(getattr(torch.nn, TORCH_MODULES[layer.activation.name])())
        return torch.nn.Sequential(*modules).double()

    def test_load_state_dict_accepts_our_file(self):
        clsd.save(self.network, self.path("model.safetensors"))
        model = self.sequential(self.network)
        result = model.load_state_dict(torch_load_file(self.path("model.safetensors")))
        self.assertEqual((result.missing_keys, result.unexpected_keys), ([], []))
        x = Tensor.normal(7, 4, seed=2)
        with torch.no_grad():
            expected = model(torch.tensor(x.data, dtype=torch.float64)).tolist()
        for row_a, row_b in zip(self.network.forward(x).data, expected):
            for a, b in zip(row_a, row_b):
                self.assertAlmostEqual(a, b, delta=1e-12)

    def test_we_read_torch_state_dict(self):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(4, 7), torch.nn.Tanh(), torch.nn.Linear(7, 2))
        torch_save_file(model.state_dict(), self.path("torch.safetensors"))
        network = clsd.load(self.path("torch.safetensors"), activations=["tanh", "identity"])
        x = Tensor.normal(5, 4, seed=3)
        with torch.no_grad():
            expected = model.double()(torch.tensor(x.data, dtype=torch.float64)).tolist()
        for row_a, row_b in zip(network.forward(x).data, expected):
            for a, b in zip(row_a, row_b):
                self.assertAlmostEqual(a, b, delta=1e-12)


if __name__ == "__main__":
    unittest.main()
