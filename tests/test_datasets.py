import math
import os
import tempfile
import unittest
from collections import Counter

from clsd import Tensor
from clsd.datasets import (
    Dataset,
    Standardizer,
    batches,
    load_csv,
    load_digits,
    load_iris,
    train_test_split,
)


class BundledDataTest(unittest.TestCase):
    def test_digits(self):
        digits = load_digits()
        self.assertEqual(digits.features.shape, (1797, 64))
        self.assertEqual(len(digits.classes), 10)
        self.assertEqual(sorted(set(digits.labels)), list(range(10)))
        values = {v for row in digits.features.data for v in row}
        self.assertEqual(min(values), 0.0)
        self.assertEqual(max(values), 16.0)

    def test_iris(self):
        iris = load_iris()
        self.assertEqual(iris.features.shape, (150, 4))
        self.assertEqual(iris.classes, ["setosa", "versicolor", "virginica"])
        self.assertEqual(Counter(iris.labels), {0: 50, 1: 50, 2: 50})
        self.assertEqual(iris.features[0], [5.1, 3.5, 1.4, 0.2])


class SplitTest(unittest.TestCase):
    def test_stratified_and_disjoint(self):
        iris = load_iris()
        train, test = train_test_split(iris, test_fraction=0.2, seed=3)
        self.assertEqual(Counter(test.labels), {0: 10, 1: 10, 2: 10})
        self.assertEqual(len(train) + len(test), 150)
        train_rows = {tuple(r) + (y,) for r, y in zip(train.features.data, train.labels)}
        test_rows = {tuple(r) + (y,) for r, y in zip(test.features.data, test.labels)}
        all_rows = {tuple(r) + (y,) for r, y in zip(iris.features.data, iris.labels)}
        self.assertEqual(train_rows | test_rows, all_rows)

    def test_seeded(self):
        digits = load_digits()
        a = train_test_split(digits, 0.2, seed=1)[1]
        b = train_test_split(digits, 0.2, seed=1)[1]
        c = train_test_split(digits, 0.2, seed=2)[1]
        self.assertEqual(a.features, b.features)
        self.assertNotEqual(a.features, c.features)

    def test_bad_fraction(self):
        with self.assertRaisesRegex(ValueError, "test_fraction must be a float between 0 and 1, got 1.5"):
            train_test_split(load_iris(), 1.5)

    def test_per_class(self):
        subset = load_iris().per_class(4, seed=0)
        self.assertEqual(Counter(subset.labels), {0: 4, 1: 4, 2: 4})
        with self.assertRaisesRegex(ValueError, "class 0 .* has 50 rows, fewer than count=51"):
            load_iris().per_class(51)


class StandardizerTest(unittest.TestCase):
    def test_fit_on_training_split_only(self):
        train = Tensor([[1.0, 5.0], [3.0, 5.0]])
        test = Tensor([[5.0, 7.0]])
        scaler = Standardizer().fit(train)
        self.assertEqual(scaler.mean, [2.0, 5.0])
        self.assertEqual(scaler.std, [1.0, 1.0])
        self.assertEqual(scaler.transform(train).tolist(), [[-1.0, 0.0], [1.0, 0.0]])
        self.assertEqual(scaler.transform(test).tolist(), [[3.0, 2.0]])

    def test_standardized_columns(self):
        features = load_iris().features
        scaled = Standardizer().fit(features).transform(features)
        for column in zip(*scaled.data):
            self.assertAlmostEqual(math.fsum(column) / len(column), 0.0, places=12)
            self.assertAlmostEqual(math.fsum(v * v for v in column) / len(column), 1.0, places=12)

    def test_errors(self):
        with self.assertRaisesRegex(RuntimeError, "before fit"):
            Standardizer().transform(Tensor([[1.0]]))
        scaler = Standardizer().fit(Tensor([[1.0, 2.0]]))
        with self.assertRaisesRegex(ValueError, r"features have shape \(1, 3\) but the standardizer was fitted on 2 columns"):
            scaler.transform(Tensor([[1.0, 2.0, 3.0]]))


class BatchesTest(unittest.TestCase):
    def test_last_batch_smaller(self):
        x = Tensor([[float(i)] for i in range(5)])
        sizes = [xb.shape for xb, _ in batches(x, list(range(5)), batch_size=2, shuffle=False)]
        self.assertEqual(sizes, [(2, 1), (2, 1), (1, 1)])

    def test_batch_larger_than_data(self):
        x = Tensor([[1.0], [2.0]])
        self.assertEqual([xb.shape for xb, _ in batches(x, None, batch_size=10)], [(2, 1)])

    def test_covers_every_row_once_and_is_seeded(self):
        x = Tensor([[float(i)] for i in range(10)])
        labels = list(range(10))
        seen = [(xb.tolist(), yb) for xb, yb in batches(x, labels, batch_size=3, seed=1)]
        again = [(xb.tolist(), yb) for xb, yb in batches(x, labels, batch_size=3, seed=1)]
        self.assertEqual(seen, again)
        rows = [int(r[0]) for xb, _ in seen for r in xb]
        self.assertEqual(sorted(rows), labels)
        self.assertEqual([y for _, yb in seen for y in yb], rows)

    def test_bad_batch_size(self):
        with self.assertRaisesRegex(ValueError, "batch_size must be at least 1, got 0"):
            list(batches(Tensor([[1.0]]), None, batch_size=0))


class LoadCSVTest(unittest.TestCase):
    def write(self, text):
        handle, path = tempfile.mkstemp(suffix=".csv")
        with os.fdopen(handle, "w") as f:
            f.write(text)
        self.addCleanup(os.remove, path)
        return path

    def test_numeric_labels_and_header(self):
        path = self.write("a,b,label\n1,2,0\n3,4,1\n")
        data = load_csv(path, header=True)
        self.assertEqual(data.features.tolist(), [[1.0, 2.0], [3.0, 4.0]])
        self.assertEqual(data.labels, [0, 1])

    def test_one_based_integer_labels_renumbered(self):
        data = load_csv(self.write("1,2,1\n3,4,3\n5,6,2\n7,8,3\n"))
        self.assertEqual(data.classes, ["1", "2", "3"])
        self.assertEqual(data.labels, [0, 2, 1, 2])

    def test_zero_based_integer_labels_kept(self):
        data = load_csv(self.write("1,2,2\n3,4,0\n5,6,1\n"))
        self.assertEqual(data.classes, ["0", "1", "2"])
        self.assertEqual(data.labels, [2, 0, 1])

    def test_named_labels_in_first_column(self):
        path = self.write("cat,1,2\ndog,3,4\ncat,5,6\n")
        data = load_csv(path, label_column=0)
        self.assertEqual(data.classes, ["cat", "dog"])
        self.assertEqual(data.labels, [0, 1, 0])
        self.assertEqual(data.features.tolist(), [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])

    def test_bad_cells_name_line_and_column(self):
        cases = {
            "1,2,0\n3,,1\n": r"line 2, column 2: expected a finite number, got an empty cell",
            "1,2,0\n3,nan,1\n": r"line 2, column 2: expected a finite number, got 'nan'",
            "1,inf,0\n": r"line 1, column 2: expected a finite number, got 'inf'",
            "1,abc,0\n": r"line 1, column 2: expected a finite number, got 'abc'",
            "1,2,0\n1,2\n": r"line 2: expected 3 columns, got 2",
        }
        for text, message in cases.items():
            with self.subTest(text=text):
                path = self.write(text)
                with self.assertRaisesRegex(ValueError, message) as caught:
                    load_csv(path)
                self.assertIn(path, str(caught.exception))

    def test_empty_files(self):
        with self.assertRaisesRegex(ValueError, "no data rows after the header"):
            load_csv(self.write("a,b,label\n"), header=True)
        with self.assertRaisesRegex(ValueError, "no data rows"):
            load_csv(self.write(""))

    def test_bad_label_column(self):
        with self.assertRaisesRegex(ValueError, "label_column=5 is outside the 3 columns"):
            load_csv(self.write("1,2,0\n"), label_column=5)


class DatasetTest(unittest.TestCase):
    def test_label_range_checked(self):
        with self.assertRaisesRegex(ValueError, "labels\\[1\\] is 2; expected an int from 0 to 1"):
            Dataset(Tensor([[1.0], [2.0]]), [0, 2], ["a", "b"])
        with self.assertRaisesRegex(TypeError, r"labels\[1\] is 1.0 of type float; expected an int from 0 to 1"):
            Dataset(Tensor([[1.0], [2.0]]), [0, 1.0], ["a", "b"])
        with self.assertRaisesRegex(ValueError, "2 feature rows but 1 labels"):
            Dataset(Tensor([[1.0], [2.0]]), [0], ["a"])


if __name__ == "__main__":
    unittest.main()
