"""Execute examples/clsd_tour.ipynb with nbclient and check its inline pictures.

Needs the packages nbclient, nbformat and ipykernel; skips without them. The
committed notebook must have its outputs stripped, which is checked with
the standard library alone.
"""

import json
import os
import unittest
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(ROOT, "examples", "clsd_tour.ipynb")

try:
    import ipykernel  # noqa: F401  (the kernel that runs the notebook)
    import nbclient
    import nbformat
except ImportError as error:
    MISSING = str(error)
else:
    MISSING = None


class StrippedTest(unittest.TestCase):
    def test_outputs_are_stripped(self):
        with open(NOTEBOOK, encoding="utf-8") as handle:
            notebook = json.load(handle)
        code_cells = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
        self.assertGreater(len(code_cells), 5)
        for index, cell in enumerate(code_cells):
            with self.subTest(cell=index):
                self.assertEqual(cell["outputs"], [])
                self.assertIsNone(cell["execution_count"])


@unittest.skipIf(MISSING, f"nbclient, nbformat and ipykernel are needed: {MISSING}")
class ExecuteTest(unittest.TestCase):
    def test_notebook_runs_with_pictures(self):
        notebook = nbformat.read(NOTEBOOK, as_version=4)
        client = nbclient.NotebookClient(
            notebook, timeout=120, kernel_name="python3",
            resources={"metadata": {"path": os.path.dirname(NOTEBOOK)}},
        )
        client.execute()

        svgs, tables = [], []
        for cell in notebook.cells:
            for output in cell.get("outputs", []):
                self.assertNotEqual(output.get("output_type"), "error", output)
                data = output.get("data", {})
                if "image/svg+xml" in data:
                    svgs.append(data["image/svg+xml"])
                if "text/html" in data:
                    tables.append(data["text/html"])

        # 4 histories and 3 heat maps (the image and two CKA matrices).
        self.assertEqual(len(svgs), 7)
        for svg in svgs:
            root = ET.fromstring(svg)
            self.assertEqual(root.tag, "{http://www.w3.org/2000/svg}svg")
            self.assertIsNotNone(root.find("{http://www.w3.org/2000/svg}title"))
        self.assertTrue(any("train task" in svg for svg in svgs))
        self.assertTrue(any("train hint t3-&gt;s1" in svg for svg in svgs))
        self.assertTrue(any("Linear CKA after" in svg for svg in svgs))
        self.assertEqual(len(tables), 1)
        self.assertIn("Tensor of shape (8, 8)", tables[0])


if __name__ == "__main__":
    unittest.main()
