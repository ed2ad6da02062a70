"""Seeded mutation fuzzing of checkpoint files: only CheckpointError may escape.

Valid JSON and safetensors checkpoints are mutated at random, at the byte
level (flips, overwrites, cuts, insertions, a new header length) and at the
structure level (a header or document value replaced by a value of another
kind), and each result is loaded into a network. Every case must either
load or raise ``CheckpointError``, and a failed load must leave the network
unchanged. The seed is fixed, so a failure names a case that can be rerun.
"""

import json
import os
import random
import tempfile
import unittest

import clsd
from clsd import CheckpointError, Network
from clsd import safetensors as st

SEED = 20261204
CASES_PER_FORMAT = 2500

ODD_VALUES = [
    None, True, False, 0, 1, -1, 7, 2 ** 31, 2 ** 63, 2 ** 64 + 1, -(2 ** 70), 10 ** 400,
    0.5, -0.0, 1e308, 1e-320, "", "F64", "F32", "BF16", "I64", "x" * 50, "0.weight",
    [], [0], [1, 2], [2, 1], [0, 8], [1, 2, 3], [[1.0, 2.0]], [None], ["a"], {}, {"a": 1},
    {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]},
]


def snapshot(network):
    return [p.tolist() for p in network.parameters()]


def mutate_bytes(rng, data):
    """Return ``data`` with one random byte-level change, and its description."""
    data = bytearray(data)
    kind = rng.choice(["flip", "set", "cut", "insert", "truncate", "duplicate", "length"])
    position = rng.randrange(len(data))
    if kind == "flip":
        data[position] ^= 1 << rng.randrange(8)
    elif kind == "set":
        data[position] = rng.randrange(256)
    elif kind == "cut":
        del data[position:position + rng.randint(1, 16)]
    elif kind == "insert":
        data[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    elif kind == "truncate":
        del data[position:]
    elif kind == "duplicate":
        data[position:position] = data[position:position + rng.randint(1, 32)]
    else:
        length = rng.choice([0, 1, 2 ** 64 - 1, rng.randrange(2 ** 64), int.from_bytes(data[:8], "little") + rng.randint(-9, 9)])
        data[:8] = max(length, 0).to_bytes(8, "little")
    return bytes(data), f"{kind} at byte {position}"


def paths_of(value, prefix=()):
    """Yield the path (a tuple of keys and indices) of every node inside ``value``."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths_of(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value[:6]):
            yield from paths_of(item, prefix + (index,))


def replace_random_node(rng, document):
    """Replace or delete one random node of a JSON document in place; return a description."""
    path = rng.choice(list(paths_of(document))[1:])
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    if rng.random() < 0.2:
        del parent[path[-1]]
        return f"delete {path}"
    parent[path[-1]] = rng.choice(ODD_VALUES)
    return f"replace {path} with {parent[path[-1]]!r:.40}"


class MutationFuzzTest(unittest.TestCase):
    def setUp(self):
        self._folder = tempfile.TemporaryDirectory()
        self.folder = self._folder.name
        self.saved = Network.mlp([3, 4, 2], seed=0)
        self.target = Network.mlp([3, 4, 2], seed=1)

    def tearDown(self):
        self._folder.cleanup()

    def run_cases(self, extension, valid, mutate_structure):
        rng = random.Random(SEED)
        path = os.path.join(self.folder, "model" + extension)
        outcomes = {"loaded": 0, "rejected": 0}
        for case in range(CASES_PER_FORMAT):
            if rng.random() < 0.5:
                data, change = mutate_bytes(rng, valid)
            else:
                data, change = mutate_structure(rng)
            with open(path, "wb") as handle:
                handle.write(data)
            before = snapshot(self.target)
            try:
                clsd.load_into(self.target, path)
            except CheckpointError:
                outcomes["rejected"] += 1
                self.assertEqual(snapshot(self.target), before, f"case {case} ({change}) changed the model")
            except Exception as error:  # noqa: BLE001 (the test is that nothing else escapes)
                self.fail(f"case {case} ({change}) raised {type(error).__name__}: {error}")
            else:
                outcomes["loaded"] += 1
            # Start each case from the same weights, so "unchanged" is checked afresh.
            for p, q in zip(self.target.parameters(), Network.mlp([3, 4, 2], seed=1).parameters()):
                p.data[:] = q.data
        # Both outcomes must occur, or the mutations are too weak or too strong to test anything.
        self.assertGreater(outcomes["rejected"], CASES_PER_FORMAT // 2, outcomes)
        self.assertGreater(outcomes["loaded"], 0, outcomes)
        return outcomes

    def test_json_mutations(self):
        valid = clsd.checkpoint.to_json(self.saved, training_state={"epoch": 2}).encode()

        def mutate_structure(rng):
            document = json.loads(valid)
            change = replace_random_node(rng, document)
            return json.dumps(document).encode(), change

        self.run_cases(".json", valid, mutate_structure)

    def test_safetensors_mutations(self):
        valid = st.dumps(st.network_tensors(self.saved), st.network_metadata(self.saved))
        length = int.from_bytes(valid[:8], "little")
        header, buffer = json.loads(valid[8:8 + length]), valid[8 + length:]

        def mutate_structure(rng):
            document = json.loads(json.dumps(header))
            change = replace_random_node(rng, document)
            text = json.dumps(document).encode()
            cut = rng.choice([0, 0, 0, 8, -8])
            data = buffer[:len(buffer) + cut] if cut < 0 else buffer + bytes(cut)
            return len(text).to_bytes(8, "little") + text + data, f"{change}, buffer {cut:+d} bytes"

        self.run_cases(".safetensors", valid, mutate_structure)


if __name__ == "__main__":
    unittest.main()
