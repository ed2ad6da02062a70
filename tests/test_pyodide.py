"""Run the quick demo inside Pyodide under Node.js and compare it with CPython.

Pyodide is CPython compiled to WebAssembly, the Python that runs in a web
page and in JupyterLite. The test needs ``node`` on PATH and the npm package
``pyodide``, found in this order:

1. the folder named by the environment variable ``CLSD_PYODIDE_DIR``: either
   the package folder itself (holding ``pyodide.mjs``) or a folder with
   ``node_modules/pyodide`` in it, as ``npm install --prefix DIR pyodide``
   leaves it;
2. ``node_modules/pyodide`` at the top of this repository (git-ignored), as
   ``npm install pyodide`` run there leaves it.

It skips when either is missing. The run loads clsd from this working tree
and fetches nothing (tests/pyodide_demo.mjs rejects every network request).
"""

import contextlib
import io
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from clsd import demo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "tests", "pyodide_demo.mjs")
DEMO_ARGS = ["--quick", "--seeds", "1", "--quiet"]


def find_pyodide():
    """Return the folder of the npm package pyodide, or None."""
    candidates = []
    configured = os.environ.get("CLSD_PYODIDE_DIR")
    if configured:
        candidates += [configured, os.path.join(configured, "node_modules", "pyodide")]
    candidates.append(os.path.join(ROOT, "node_modules", "pyodide"))
    for folder in candidates:
        if os.path.isfile(os.path.join(folder, "pyodide.mjs")):
            return folder
    return None


NODE = shutil.which("node")
PYODIDE = find_pyodide()


@unittest.skipUnless(NODE, "node is not on PATH")
@unittest.skipUnless(PYODIDE, "npm package pyodide not found; set CLSD_PYODIDE_DIR (see this file's docstring)")
class PyodideTest(unittest.TestCase):
    def test_quick_demo_matches_cpython(self):
        with tempfile.TemporaryDirectory() as folder:
            cpython_path = os.path.join(folder, "cpython.json")
            with contextlib.redirect_stdout(io.StringIO()):
                self.assertEqual(demo.main(DEMO_ARGS + ["--json", cpython_path]), 0)
            with open(cpython_path, encoding="utf-8") as handle:
                expected = json.load(handle)

        # The path after --json lives in Pyodide's in-memory file system.
        command = [NODE, SCRIPT, PYODIDE] + DEMO_ARGS + ["--json", "/tmp/demo.json"]
        run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
        self.assertEqual(run.returncode, 0, run.stderr[-2000:])
        lines = [line for line in run.stdout.splitlines() if line.startswith("PYODIDE_RESULT ")]
        self.assertEqual(len(lines), 1, run.stdout[-2000:])
        result = json.loads(lines[0][len("PYODIDE_RESULT "):])

        self.assertEqual(result["status"], 0)
        self.assertEqual(result["platform"], "emscripten")
        report = result["report"]
        self.assertEqual(report["python"], result["python"])
        self.assertEqual(report["students"].keys(), expected["students"].keys())
        # The same seeds give the same figures; the libm of WebAssembly may
        # differ from the host's in the last bit, hence the tolerance.
        self.assertAlmostEqual(report["teacher"]["test_accuracy"], expected["teacher"]["test_accuracy"], places=9)
        for name, figures in expected["students"].items():
            for key in ["test_accuracy", "test_loss", "hint_mse_before", "hint_mse_after"]:
                with self.subTest(student=name, figure=key):
                    self.assertAlmostEqual(report["students"][name][key], figures[key], places=6)


if __name__ == "__main__":
    unittest.main()
