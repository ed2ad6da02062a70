import doctest
import importlib
import pkgutil
import unittest

import clsd


def load_tests(loader, tests, ignore):
    """Add the doctests of every clsd module to the suite."""
    for module in _modules():
        tests.addTests(doctest.DocTestSuite(module))
    return tests


def _modules():
    names = ["clsd"] + [f"clsd.{info.name}" for info in pkgutil.iter_modules(clsd.__path__)]
    return [importlib.import_module(name) for name in names if not name.endswith("__main__")]


class DoctestCountTest(unittest.TestCase):
    def test_core_modules_have_examples(self):
        finder = doctest.DocTestFinder()
        for name in ("clsd.tensor", "clsd.layer", "clsd.network", "clsd.losses", "clsd.optim", "clsd.trainer"):
            examples = sum(len(test.examples) for test in finder.find(importlib.import_module(name)))
            self.assertGreater(examples, 0, f"{name} has no doctest examples")


if __name__ == "__main__":
    unittest.main()
