"""Checkpoint round trips, fit checks, and hostile JSON and safetensors files."""

import json
import os
import re
import stat
import struct
import tempfile
import unittest
from array import array
from unittest import mock

import clsd
from clsd import CheckpointError, Layer, Network, Tensor, atomic
from clsd import safetensors as st
from clsd.checkpoint import records_from_json, records_from_safetensors


def snapshot(network):
    return [p.tolist() for p in network.parameters()]


def encode(header, buffer):
    """Return a safetensors file made of ``header`` (a dict) and the data ``buffer``."""
    text = json.dumps(header).encode("utf-8")
    return len(text).to_bytes(8, "little") + text + buffer


def split(data):
    """Return (header dict, data buffer) of safetensors bytes."""
    length = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + length]), data[8 + length:]


class TemporaryFolder(unittest.TestCase):
    def setUp(self):
        self._folder = tempfile.TemporaryDirectory()
        self.folder = self._folder.name

    def tearDown(self):
        self._folder.cleanup()

    def path(self, name):
        return os.path.join(self.folder, name)

    def write(self, name, data):
        path = self.path(name)
        with open(path, "wb") as handle:
            handle.write(data if isinstance(data, bytes) else data.encode("utf-8"))
        return path


class RoundTripTest(TemporaryFolder):
    def setUp(self):
        super().setUp()
        self.network = Network.mlp([4, 8, 5, 3], activation="tanh", seed=3)
        # Values that a decimal format with too few digits would change.
        self.network.layers[0].weight.data[0][0] = 0.1 + 0.2
        self.network.layers[1].bias.data[0][2] = 5e-324

    def test_json_round_trip_bit_for_bit(self):
        clsd.save(self.network, self.path("model.json"))
        loaded = clsd.load(self.path("model.json"))
        self.assertEqual(loaded.sizes, self.network.sizes)
        self.assertEqual([layer.activation.name for layer in loaded.layers], ["tanh", "tanh", "identity"])
        self.assertEqual(snapshot(loaded), snapshot(self.network))

    def test_safetensors_round_trip_bit_for_bit(self):
        clsd.save(self.network, self.path("model.safetensors"))
        loaded = clsd.load(self.path("model.safetensors"))
        self.assertEqual(loaded.sizes, self.network.sizes)
        self.assertEqual([layer.activation.name for layer in loaded.layers], ["tanh", "tanh", "identity"])
        self.assertEqual(snapshot(loaded), snapshot(self.network))

    def test_safetensors_f32_rounds_to_float32(self):
        clsd.save(self.network, self.path("model.safetensors"), dtype="F32")
        loaded = clsd.load(self.path("model.safetensors"))
        for original, restored in zip(self.network.parameters(), loaded.parameters()):
            for row_a, row_b in zip(original.data, restored.data):
                expected = list(array("f", row_a))
                self.assertEqual(row_b, expected)

    def test_safetensors_f32_rejects_out_of_range(self):
        self.network.layers[0].weight.data[1][1] = 1e39
        with self.assertRaisesRegex(ValueError, r"'0.weight' element \d+ is 1e\+39.*F32"):
            clsd.save(self.network, self.path("model.safetensors"), dtype="F32")
        self.assertFalse(os.path.exists(self.path("model.safetensors")))

    def test_names_and_layout_follow_torch(self):
        clsd.save(self.network, self.path("model.safetensors"))
        with open(self.path("model.safetensors"), "rb") as handle:
            header, buffer = split(handle.read())
        metadata = header.pop("__metadata__")
        self.assertEqual(list(header), ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"])
        self.assertEqual(header["0.weight"]["shape"], [8, 4])
        self.assertEqual(header["0.bias"]["shape"], [8])
        self.assertEqual(header["4.weight"]["shape"], [3, 5])
        self.assertEqual(metadata["sizes"], "[4, 8, 5, 3]")
        self.assertEqual(metadata["torch_modules"],
                         "Sequential(Linear(4, 8), Tanh(), Linear(8, 5), Tanh(), Linear(5, 3))")
        # Weight row i of the file is output i: the transpose of clsd's weight.
        first = struct.unpack("<4d", buffer[:32])
        self.assertEqual(list(first), [row[0] for row in self.network.layers[0].weight.data])

    def test_header_is_padded_to_eight_bytes(self):
        data = st.dumps({"a": [1.0, 2.0, 3.0]})
        length = int.from_bytes(data[:8], "little")
        self.assertEqual(length % 8, 0)

    def test_training_state_round_trip(self):
        state = {"epoch": 3, "rng": [3, list(range(5)), None], "history": [{"loss": 0.5}]}
        clsd.save(self.network, self.path("run.json"), training_state=state)
        restored = clsd.load_into(Network.mlp([4, 8, 5, 3], activation="tanh", seed=9), self.path("run.json"))
        self.assertEqual(restored, state)

    def test_load_into_keeps_tensor_identity(self):
        clsd.save(self.network, self.path("model.json"))
        target = Network.mlp([4, 8, 5, 3], activation="tanh", seed=99)
        tensors = target.parameters()
        self.assertIsNone(clsd.load_into(target, self.path("model.json")))
        self.assertEqual(snapshot(target), snapshot(self.network))
        for before, after in zip(tensors, target.parameters()):
            self.assertIs(before, after)


class SaveArgumentTest(TemporaryFolder):
    def test_unknown_extension(self):
        with self.assertRaisesRegex(ValueError, r"'.pt'.*\.json, \.safetensors"):
            clsd.save(Network.mlp([2, 2]), self.path("model.pt"))

    def test_training_state_needs_json(self):
        with self.assertRaisesRegex(ValueError, "training_state.*json"):
            clsd.save(Network.mlp([2, 2]), self.path("m.safetensors"), training_state={"epoch": 1})

    def test_training_state_must_be_json_data(self):
        with self.assertRaisesRegex(ValueError, "training_state must be JSON data"):
            clsd.save(Network.mlp([2, 2]), self.path("m.json"), training_state={"x": object()})
        with self.assertRaisesRegex(ValueError, "training_state must be JSON data"):
            clsd.save(Network.mlp([2, 2]), self.path("m.json"), training_state={"x": float("nan")})
        self.assertEqual(os.listdir(self.folder), [])

    def test_network_type(self):
        with self.assertRaisesRegex(TypeError, "network must be a Network, got Layer"):
            clsd.save(Layer(2, 2), self.path("m.json"))

    def test_dtype_for_json(self):
        with self.assertRaisesRegex(ValueError, "dtype applies to .safetensors"):
            clsd.save(Network.mlp([2, 2]), self.path("m.json"), dtype="F32")
        with self.assertRaisesRegex(ValueError, "dtype must be one of F64, F32, got 'F16'"):
            clsd.save(Network.mlp([2, 2]), self.path("m.safetensors"), dtype="F16")


class FitCheckTest(TemporaryFolder):
    """A file that does not fit the model raises and leaves the model unchanged."""

    def check_rejected(self, saved, target, pattern, extension):
        path = self.path("model" + extension)
        clsd.save(saved, path)
        before = snapshot(target)
        with self.assertRaisesRegex(CheckpointError, pattern):
            clsd.load_into(target, path)
        self.assertEqual(snapshot(target), before)

    def test_wider_hidden_layer_json(self):
        self.check_rejected(
            Network.mlp([4, 8, 3], seed=0), Network.mlp([4, 6, 3], seed=1),
            r"layers\[0\]\.weight has shape \(4, 8\) in the file but the model expects \(4, 6\)", ".json")

    def test_wider_hidden_layer_safetensors(self):
        self.check_rejected(
            Network.mlp([4, 8, 3], seed=0), Network.mlp([4, 6, 3], seed=1),
            r"0\.weight has shape \(8, 4\) in the file but the model expects \(6, 4\)", ".safetensors")

    def test_layer_count(self):
        for extension in (".json", ".safetensors"):
            self.check_rejected(
                Network.mlp([4, 8, 8, 3], seed=0), Network.mlp([4, 8, 3], seed=1),
                r"the file has 3 layers \(sizes \[4, 8, 8, 3\]\) but the model has 2 \(sizes \[4, 8, 3\]\)",
                extension)

    def test_activation(self):
        for extension in (".json", ".safetensors"):
            self.check_rejected(
                Network.mlp([4, 8, 3], activation="relu", seed=0), Network.mlp([4, 8, 3], seed=1),
                r"activation 'relu' in the file but the model uses 'sigmoid'", extension)

    def test_error_is_a_value_error(self):
        self.assertTrue(issubclass(CheckpointError, ValueError))

    def test_foreign_file_needs_activations(self):
        path = self.path("foreign.safetensors")
        st.write_file(path, {"0.weight": [[1.0, 2.0]], "0.bias": [0.5]})
        with self.assertRaisesRegex(ValueError, "does not record its activations.*activations="):
            clsd.load(path)
        network = clsd.load(path, activations=["relu"])
        self.assertEqual(network.sizes, [2, 1])
        self.assertEqual(network.layers[0].weight.tolist(), [[1.0], [2.0]])
        with self.assertRaisesRegex(ValueError, "activations lists 2 names but .* has 1 layers"):
            clsd.load(path, activations=["relu", "relu"])


class HostileJsonTest(TemporaryFolder):
    """Malformed JSON checkpoints: each case names the key and both values."""

    def setUp(self):
        super().setUp()
        self.network = Network.mlp([3, 4, 2], seed=0)
        self.document = json.loads(clsd.checkpoint.to_json(self.network))

    def check(self, document, pattern):
        text = document if isinstance(document, (str, bytes)) else json.dumps(document)
        path = self.write("model.json", text)
        target = Network.mlp([3, 4, 2], seed=5)
        before = snapshot(target)
        with self.assertRaisesRegex(CheckpointError, pattern):
            clsd.load_into(target, path)
        self.assertEqual(snapshot(target), before)

    def edited(self, edit):
        document = json.loads(json.dumps(self.document))
        edit(document)
        return document

    def test_not_json(self):
        self.check("{", "invalid JSON")
        self.check(b"\xff\xfe", "not valid UTF-8")
        self.check("[1, 2]", "expected a JSON object at the top level, got list")
        self.check('{"a": NaN}', "invalid JSON: NaN is not valid JSON")
        self.check("[" * 100000 + "]" * 100000, "invalid JSON")
        self.check('{"format": 1, "format": 2}', "duplicate key 'format'")

    def test_missing_and_unknown_keys(self):
        self.check(self.edited(lambda d: d.pop("layers")), r"missing keys \['layers'\]")
        self.check(self.edited(lambda d: d.update(optimizer=1)), r"unknown keys \['optimizer'\]")

    def test_format_and_version(self):
        self.check(self.edited(lambda d: d.update(format="other")), "format is 'other'; expected 'clsd.checkpoint'")
        self.check(self.edited(lambda d: d.update(format_version=2)), "format_version is 2, newer than 1")
        self.check(self.edited(lambda d: d.update(format_version="1")), "format_version is '1'; expected 1")

    def test_architecture(self):
        self.check(self.edited(lambda d: d.update(sizes=[3])), r"sizes must list at least two integers >= 1, got \[3\]")
        self.check(self.edited(lambda d: d.update(sizes=[3, 0, 2])), "sizes must list")
        self.check(self.edited(lambda d: d.update(activations=["sigmoid"])), "activations must list 2 names")
        self.check(self.edited(lambda d: d["activations"].__setitem__(0, "gelu")),
                   r"activations\[0\] is 'gelu'; valid names: identity, relu, sigmoid, tanh")

    def test_layers(self):
        self.check(self.edited(lambda d: d["layers"].pop()), "layers must list 2 objects")
        self.check(self.edited(lambda d: d["layers"][1].update(scale=1)),
                   r"layers\[1\] must have exactly the keys bias and weight")
        self.check(self.edited(lambda d: d["layers"][0]["weight"].pop()),
                   r"layers\[0\]\.weight has 2 rows but the sizes give shape \(3, 4\)")
        self.check(self.edited(lambda d: d["layers"][0]["weight"][1].append(1.0)),
                   r"layers\[0\]\.weight\[1\] has 5 values but the sizes give shape \(3, 4\)")
        self.check(self.edited(lambda d: d["layers"][1]["bias"][0].__setitem__(1, "x")),
                   r"layers\[1\]\.bias\[0\]\[1\] is 'x'; expected a finite number")
        self.check(self.edited(lambda d: d["layers"][1]["bias"][0].__setitem__(1, True)),
                   r"layers\[1\]\.bias\[0\]\[1\] is True")
        self.check(self.edited(lambda d: d["layers"][0].update(weight=5)), r"layers\[0\]\.weight must be a list of rows")

    def test_overflowing_number(self):
        text = json.dumps(self.document).replace(json.dumps(self.document["layers"][0]["weight"][0][0]), "1e999", 1)
        self.check(text, r"layers\[0\]\.weight\[0\]\[0\] is inf; expected a finite number")

    def test_training_state_type(self):
        self.check(self.edited(lambda d: d.update(training_state=[1])), "training_state must be an object, got list")


class HostileSafetensorsTest(TemporaryFolder):
    """Malformed safetensors files, one per kind of fault the format allows."""

    def setUp(self):
        super().setUp()
        self.network = Network.mlp([3, 4, 2], seed=0)
        self.data = st.dumps(st.network_tensors(self.network), st.network_metadata(self.network))
        self.header, self.buffer = split(self.data)

    def check(self, data, pattern):
        path = self.write("model.safetensors", data)
        target = Network.mlp([3, 4, 2], seed=5)
        before = snapshot(target)
        with self.assertRaisesRegex(CheckpointError, pattern):
            clsd.load_into(target, path)
        self.assertEqual(snapshot(target), before)

    def edited(self, edit, buffer=None):
        header = json.loads(json.dumps(self.header))
        edit(header)
        return encode(header, self.buffer if buffer is None else buffer)

    def test_too_short(self):
        self.check(b"", "the file is 0 bytes long")
        self.check(self.data[:7], "the file is 7 bytes long")

    def test_header_length(self):
        self.check((10 ** 6).to_bytes(8, "little") + self.data[8:], r"header length 1000000 is longer than the \d+ bytes")
        self.check((2 ** 64 - 1).to_bytes(8, "little") + self.data[8:], "above the limit")
        self.check((5).to_bytes(8, "little") + self.data[8:], "invalid JSON")
        self.check(self.data[:60], "longer than the 52 bytes")

    def test_header_text(self):
        self.check(encode([], b""), "must start with '{'")
        self.check((4).to_bytes(8, "little") + b"{\xff}}", "not valid UTF-8")
        self.check(b"\x02" + bytes(7) + b"{}", "no weight tensors; expected '0.weight', '0.bias'")

    def test_offsets_reversed(self):
        def edit(header):
            header["0.bias"]["data_offsets"] = header["0.bias"]["data_offsets"][::-1]
        self.check(self.edited(edit), r"tensor '0.bias': data_offsets \[\d+, \d+\] are reversed")

    def test_offsets_past_end(self):
        def edit(header):
            begin = header["2.bias"]["data_offsets"][0]
            header["2.bias"]["data_offsets"] = [begin, begin + 10 ** 6]
        self.check(self.edited(edit), r"tensor '2.bias': data_offsets \[\d+, \d+\] end past the data buffer of 208 bytes")

    def test_byte_count_against_shape(self):
        def edit(header):
            header["0.weight"]["shape"] = [4, 2]
        self.check(self.edited(edit), r"tensor '0.weight': data_offsets \[0, 96\] cover 96 bytes but shape \[4, 2\] of F64 needs 64 bytes")

    def test_huge_shape(self):
        def edit(header):
            header["0.weight"]["shape"] = [2 ** 40, 2 ** 40]
        self.check(self.edited(edit), "needs 9671406556917033397649408 bytes")

    def test_bad_fields(self):
        cases = [
            ("dtype", "F128", "unknown dtype 'F128'; known dtypes"),
            ("dtype", "I64", "dtype I64 is not supported; clsd reads F64, F32, F16, BF16"),
            ("dtype", ["F64"], r"unknown dtype \['F64'\]"),
            ("shape", [4, -3], r"shape must be a list of integers >= 0, got \[4, -3\]"),
            ("shape", [4, 3.0], "shape must be a list of integers"),
            ("shape", [True, 3], "shape must be a list of integers"),
            ("data_offsets", [0], r"data_offsets must be two integers >= 0, got \[0\]"),
            ("data_offsets", [-8, 88], "data_offsets must be two integers"),
            ("data_offsets", "0-96", "data_offsets must be two integers"),
        ]
        for field, value, pattern in cases:
            with self.subTest(field=field, value=value):
                self.check(self.edited(lambda h: h["0.weight"].__setitem__(field, value)), "tensor '0.weight': " + pattern)

    def test_entry_keys(self):
        self.check(self.edited(lambda h: h["0.bias"].pop("dtype")), r"tensor '0.bias': expected the keys .* missing \['dtype'\]")
        self.check(self.edited(lambda h: h["0.bias"].update(stride=[1])), r"unexpected \['stride'\]")
        self.check(self.edited(lambda h: h.update({"0.bias": [1, 2]})), r"tensor '0.bias': expected an object")

    def test_overlap_gap_and_trailing_bytes(self):
        def overlap(header):
            header["0.bias"]["data_offsets"] = [0, 32]
        self.check(self.edited(overlap), "overlaps the previous tensor")
        self.check(self.data + b"\x00" * 8, "the tensors cover 208 bytes but the data buffer has 216 bytes")

        def gap(header):
            for entry in header.values():
                if "data_offsets" in entry:
                    entry["data_offsets"] = [offset + 8 for offset in entry["data_offsets"]]
        self.check(self.edited(gap, bytes(8) + self.buffer), "leaves a gap")

    def test_missing_and_extra_tensors(self):
        header = json.loads(json.dumps(self.header))
        begin, end = header.pop("2.bias")["data_offsets"]
        self.check(encode(header, self.buffer[:begin]), r"missing \['2.bias'\], unexpected \[\]")
        header = json.loads(json.dumps(self.header))
        header["extra"] = {"dtype": "F64", "shape": [1], "data_offsets": [208, 216]}
        self.check(encode(header, self.buffer + bytes(8)), r"missing \[\], unexpected \['extra'\]")

    def test_tensor_shapes(self):
        def flat(header):
            header["0.weight"]["shape"] = [12]
        self.check(self.edited(flat), r"tensor '0.weight' has shape \[12\]; expected 2-D")

        def bias(header):
            header["0.weight"]["shape"] = [3, 4]
        self.check(self.edited(bias), r"tensor '0.bias' has shape \[4\]; expected \[3\]")

    def test_non_finite_value(self):
        buffer = bytearray(self.buffer)
        buffer[8:16] = struct.pack("<d", float("nan"))
        self.check(encode(self.header, bytes(buffer)), "tensor '0.weight' element 1 is nan; expected a finite number")

    def test_metadata(self):
        self.check(self.edited(lambda h: h.update(__metadata__=[1])), "__metadata__ must be an object of strings")
        self.check(self.edited(lambda h: h["__metadata__"].update(sizes=[3, 4, 2])), r"__metadata__\['sizes'\] must be a string")
        self.check(self.edited(lambda h: h["__metadata__"].update(sizes="[3, 5, 2]")),
                   r"__metadata__ sizes are \[3, 5, 2\] but the tensors give \[3, 4, 2\]")
        self.check(self.edited(lambda h: h["__metadata__"].update(activations="oops")),
                   r"__metadata__\['activations'\] must be a JSON list")
        self.check(self.edited(lambda h: h["__metadata__"].update(activations='["swish", "identity"]')),
                   r"activations\[0\] is 'swish'")
        self.check(self.edited(lambda h: h["__metadata__"].pop("sizes")), "has 'activations' but not 'sizes'")

    def test_readers_work_on_bytes(self):
        self.assertEqual(len(records_from_safetensors(self.data).layers), 2)
        self.assertEqual(len(records_from_json(clsd.checkpoint.to_json(self.network).encode()).layers), 2)


class ReadOtherDtypesTest(unittest.TestCase):
    def test_f16_and_bf16(self):
        # 1.5 in F16 is 0x3E00; 1.5 in BF16 is 0x3FC0 (the top half of float32 0x3FC00000).
        data = encode(
            {"h": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]},
             "b": {"dtype": "BF16", "shape": [1], "data_offsets": [2, 4]}},
            struct.pack("<HH", 0x3E00, 0x3FC0))
        tensors, metadata = st.loads(data)
        self.assertEqual(tensors["h"], st.StoredTensor("F16", (1,), [1.5]))
        self.assertEqual(tensors["b"], st.StoredTensor("BF16", (1,), [1.5]))
        self.assertEqual(metadata, {})


class AtomicWriteTest(TemporaryFolder):
    def test_failure_keeps_old_file(self):
        path = self.path("model.json")
        atomic.atomic_write(path, "old")
        with mock.patch("os.fsync", side_effect=OSError("disk full")):
            with self.assertRaisesRegex(OSError, "disk full"):
                atomic.atomic_write(path, "new")
        with open(path) as handle:
            self.assertEqual(handle.read(), "old")
        self.assertEqual(os.listdir(self.folder), ["model.json"])

    @unittest.skipUnless(os.name == "posix", "permission bits are POSIX")
    def test_keeps_permissions(self):
        path = self.path("model.json")
        atomic.atomic_write(path, "old")
        os.chmod(path, 0o640)
        atomic.atomic_write(path, "new")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o640)

    def test_rejects_other_data(self):
        with self.assertRaisesRegex(TypeError, "data must be str or bytes, got list"):
            atomic.atomic_write(self.path("x"), [1])

    def test_missing_folder(self):
        with self.assertRaises(FileNotFoundError):
            atomic.atomic_write(self.path("no/such/file.json"), "x")


class NoPickleTest(unittest.TestCase):
    def test_no_module_uses_pickle(self):
        folder = os.path.dirname(clsd.__file__)
        for name in sorted(os.listdir(folder)):
            if name.endswith(".py"):
                with open(os.path.join(folder, name), encoding="utf-8") as handle:
                    text = handle.read()
                for word in ("import pickle", "from pickle", "marshal", "shelve", "eval(", "exec("):
                    self.assertNotIn(word, text, f"clsd/{name} uses {word}")

    def test_examples_use_no_pickle(self):
        # torch.load unpickles, so the examples move weights through safetensors instead.
        folder = os.path.join(os.path.dirname(os.path.dirname(clsd.__file__)), "examples")
        for name in sorted(os.listdir(folder)):
            if name.endswith(".py"):
                with open(os.path.join(folder, name), encoding="utf-8") as handle:
                    text = handle.read()
                for word in ("pickle", "torch.load(", "torch.save("):
                    self.assertNotIn(word, text, f"examples/{name} uses {word}")


class WritesTest(unittest.TestCase):
    def test_library_writes_only_through_atomic_write(self):
        folder = os.path.dirname(clsd.__file__)
        write_call = re.compile(r"""open\([^)]*['"][wax]b?\+?['"]|\.write_(text|bytes)\(|os\.open\(""")
        for name in sorted(os.listdir(folder)):
            if name.endswith(".py") and name != "atomic.py":
                with open(os.path.join(folder, name), encoding="utf-8") as handle:
                    for number, line in enumerate(handle, start=1):
                        self.assertIsNone(write_call.search(line), f"clsd/{name}:{number} writes a file directly: {line.strip()}")


if __name__ == "__main__":
    unittest.main()
