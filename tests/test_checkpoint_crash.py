"""A process killed while it saves leaves the old complete file or the new one.

Each test starts a child Python process that saves a checkpoint over an
existing one and is killed with SIGKILL part of the way through. Afterwards
the file on disk must load and be bit-for-bit the old network or the new
network.
"""

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import clsd
from clsd import Network

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = [8, 16, 4]
OLD_SEED, NEW_SEED = 1, 2

# The child counts calls to the file-system functions that atomic_write uses
# and kills itself just before call number KILL_AT, so every step of a save
# (open, each 512-byte write, chmod, fsync, close, rename) is a kill point.
STEP_CHILD = """
import os, signal, sys
sys.path.insert(0, {repository!r})
import clsd
from clsd import atomic

atomic._CHUNK_BYTES = 512
kill_at = int(sys.argv[1])
calls = [0]

def counted(function):
    def wrapper(*args, **kwargs):
        calls[0] += 1
        if calls[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return function(*args, **kwargs)
    return wrapper

network = clsd.Network.mlp({sizes!r}, seed={seed})
for name in ("open", "write", "chmod", "fsync", "close", "replace"):
    setattr(os, name, counted(getattr(os, name)))
clsd.save(network, {path!r})
"""

# The child saves the two networks in turn, forever, until it is killed.
LOOP_CHILD = """
import sys
sys.path.insert(0, {repository!r})
import clsd

networks = [clsd.Network.mlp({sizes!r}, seed=seed) for seed in ({old}, {new})]
print("ready", flush=True)
turn = 0
while True:
    clsd.save(networks[turn % 2], {path!r})
    turn += 1
"""


def parameters(network):
    return [p.tolist() for p in network.parameters()]


@unittest.skipUnless(hasattr(signal, "SIGKILL"), "needs SIGKILL (POSIX)")
class KilledWhileSavingTest(unittest.TestCase):
    def setUp(self):
        self._folder = tempfile.TemporaryDirectory()
        self.folder = self._folder.name
        self.old = parameters(Network.mlp(SIZES, seed=OLD_SEED))
        self.new = parameters(Network.mlp(SIZES, seed=NEW_SEED))

    def tearDown(self):
        self._folder.cleanup()

    def version_on_disk(self, path):
        """Return "old" or "new" for the complete file at ``path``; fail otherwise."""
        found = parameters(clsd.load(path))
        if found == self.old:
            return "old"
        if found == self.new:
            return "new"
        self.fail(f"{path} contains neither the old nor the new network")

    def kill_at_every_step(self, name):
        path = os.path.join(self.folder, name)
        seen = []
        for kill_at in range(1, 200):
            clsd.save(Network.mlp(SIZES, seed=OLD_SEED), path)
            code = STEP_CHILD.format(repository=REPOSITORY, sizes=SIZES, seed=NEW_SEED, path=path)
            result = subprocess.run([sys.executable, "-c", code, str(kill_at)], capture_output=True, text=True)
            seen.append(self.version_on_disk(path))
            if result.returncode == 0:
                break
            self.assertEqual(result.returncode, -signal.SIGKILL, result.stderr)
        else:
            self.fail("the save never finished within 200 steps")
        # Killed before the rename: the old file; the save that ran to the end: the new one.
        self.assertGreaterEqual(len(seen), 8, "too few kill points to mean anything")
        self.assertEqual(seen[-1], "new")
        self.assertEqual(seen[0], "old")
        self.assertEqual(seen, sorted(seen, key=["old", "new"].index))
        return seen

    def test_json_killed_at_every_step(self):
        self.kill_at_every_step("model.json")

    def test_safetensors_killed_at_every_step(self):
        self.kill_at_every_step("model.safetensors")

    def test_killed_at_random_times(self):
        path = os.path.join(self.folder, "model.safetensors")
        clsd.save(Network.mlp(SIZES, seed=OLD_SEED), path)
        code = LOOP_CHILD.format(repository=REPOSITORY, sizes=SIZES, old=OLD_SEED, new=NEW_SEED, path=path)
        rng = random.Random(7)
        seen = []
        for _ in range(12):
            child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
            self.assertEqual(child.stdout.readline().strip(), "ready")
            time.sleep(rng.uniform(0.0, 0.05))
            child.kill()
            child.wait()
            child.stdout.close()
            seen.append(self.version_on_disk(path))
        self.assertEqual(len(seen), 12)


if __name__ == "__main__":
    unittest.main()
