"""Bundled data sets, CSV loading, splits, standardization and mini-batches.

Two real data sets ship inside the package, both from the UCI Machine
Learning Repository under CC BY 4.0:

- ``load_digits()``: Optical Recognition of Handwritten Digits, E. Alpaydin
  and C. Kaynak (1998); 1797 images of 8 x 8 pixel counts in 0..16, 10 classes.
- ``load_iris()``: Iris, R. A. Fisher (1936); 150 flowers, 4 measurements,
  3 classes.

>>> digits = load_digits()
>>> digits.features.shape, len(digits.classes)
((1797, 64), 10)
>>> train, test = train_test_split(digits, test_fraction=0.2, seed=0)
>>> len(train), len(test)
(1438, 359)
"""

import csv
import gzip
import io
import math
from importlib import resources

from .tensor import Tensor, make_rng


class Dataset:
    """Features (a ``Tensor``, one row per sample), integer labels and class names."""

    def __init__(self, features, labels, classes, name="dataset"):
        if not isinstance(features, Tensor):
            features = Tensor(features)
        labels = list(labels)
        if len(labels) != len(features):
            raise ValueError(
                f"Dataset: {len(features)} feature rows but {len(labels)} labels"
            )
        classes = list(classes)
        if not classes:
            raise ValueError(f"Dataset: classes must name at least one class, got {classes!r}")
        for index, label in enumerate(labels):
            if not isinstance(label, int) or isinstance(label, bool):
                raise TypeError(
                    f"Dataset: labels[{index}] is {label!r} of type {type(label).__name__}; "
                    f"expected an int from 0 to {len(classes) - 1}"
                )
            if not 0 <= label < len(classes):
                raise ValueError(
                    f"Dataset: labels[{index}] is {label!r}; expected an int from 0 to {len(classes) - 1}"
                )
        self.features = features
        self.labels = labels
        self.classes = classes
        self.name = name

    def __len__(self):
        return len(self.labels)

    def __repr__(self):
        rows, columns = self.features.shape
        return f"Dataset({self.name!r}, {rows} rows x {columns} features, {len(self.classes)} classes)"

    def subset(self, indices, name=None):
        """Return a new ``Dataset`` with the rows at ``indices``, in that order."""
        indices = list(indices)
        if not indices:
            raise ValueError(f"Dataset.subset: expected at least one index for {self.name!r}")
        return Dataset(
            self.features.rows(indices),
            [self.labels[i] for i in indices],
            self.classes,
            name or self.name,
        )

    def per_class(self, count, seed=0):
        """Return a subset with ``count`` rows of each class, drawn with ``seed``.

        Used to simulate a label-scarce setting. Raises ``ValueError`` when a
        class has fewer than ``count`` rows.
        """
        _check_positive_int(count, "count", "Dataset.per_class")
        rng = make_rng(seed)
        chosen = []
        for label, rows in enumerate(_rows_by_class(self.labels, len(self.classes))):
            if len(rows) < count:
                raise ValueError(
                    f"Dataset.per_class: class {label} ({self.classes[label]!r}) has "
                    f"{len(rows)} rows, fewer than count={count}"
                )
            rng.shuffle(rows)
            chosen.extend(rows[:count])
        chosen.sort()
        return self.subset(chosen, f"{self.name} ({count} per class)")


def _check_positive_int(value, name, where):
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{where}: {name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{where}: {name} must be at least 1, got {value!r}")


def _rows_by_class(labels, classes):
    groups = [[] for _ in range(classes)]
    for index, label in enumerate(labels):
        groups[label].append(index)
    return groups


# ---- bundled data ----------------------------------------------------------


def _read_bundled(name):
    return resources.files("clsd").joinpath("data", name).read_bytes()


def load_digits():
    """Return the handwritten-digits data set: 1797 rows, 64 features, 10 classes."""
    text = gzip.decompress(_read_bundled("digits.csv.gz")).decode("ascii")
    features, labels = [], []
    for row in csv.reader(io.StringIO(text)):
        features.append([float(v) for v in row[:-1]])
        labels.append(int(row[-1]))
    return Dataset(Tensor._wrap(features), labels, [str(d) for d in range(10)], "digits")


def load_iris():
    """Return the iris data set: 150 rows, 4 features, 3 classes."""
    text = _read_bundled("iris.csv").decode("ascii")
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    classes = header[2:]
    features, labels = [], []
    for row in reader:
        features.append([float(v) for v in row[:-1]])
        labels.append(int(row[-1]))
    return Dataset(Tensor._wrap(features), labels, classes, "iris")


# ---- CSV files ---------------------------------------------------------------


def _parse_cell(text, path, line, column):
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value):
        shown = "an empty cell" if not text.strip() else repr(text)
        raise ValueError(
            f"{path}: line {line}, column {column}: expected a finite number, got {shown}"
        )
    return value


def load_csv(path, label_column=-1, header=False, delimiter=","):
    """Load a CSV file of numeric features and one label column.

    Args:
        path: the file to read.
        label_column: index of the label column (negative counts from the end).
        header: True when the first line contains column names to skip.
        delimiter: the field separator.

    Integer labels 0..k-1 are used as class indices as they are. Other
    integer labels, such as 1..k or values with gaps, are numbered in
    increasing order and keep their values as class names. Text labels are
    numbered in sorted order. Returns a ``Dataset``.

    Raises ``ValueError`` naming the file, the 1-based line and column and
    the text for a missing, non-numeric, NaN or infinite cell, for a row of
    the wrong length, and for a file with no data rows.
    """
    path = str(path)
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter=delimiter))
    numbered = [(line, row) for line, row in enumerate(rows, start=1) if any(cell.strip() for cell in row)]
    if header and numbered:
        numbered = numbered[1:]
    if not numbered:
        raise ValueError(f"{path}: no data rows" + (" after the header" if header else ""))

    if not isinstance(label_column, int) or isinstance(label_column, bool):
        raise TypeError(f"load_csv: label_column must be an int column index, got {label_column!r}")
    width = len(numbered[0][1])
    if width < 2:
        raise ValueError(f"{path}: line {numbered[0][0]}: expected at least 2 columns (features and a label), got {width}")
    if not -width <= label_column < width:
        raise ValueError(f"load_csv: label_column={label_column} is outside the {width} columns of {path}")
    label_index = label_column % width

    features, raw_labels = [], []
    for line, row in numbered:
        if len(row) != width:
            raise ValueError(f"{path}: line {line}: expected {width} columns, got {len(row)}")
        features.append([
            _parse_cell(text, path, line, column + 1)
            for column, text in enumerate(row)
            if column != label_index
        ])
        label = row[label_index].strip()
        if not label:
            raise ValueError(f"{path}: line {line}, column {label_index + 1}: the label is missing")
        raw_labels.append(label)

    labels, classes = _number_labels(raw_labels, path)
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    return Dataset(Tensor._wrap(features), labels, classes, name)


def _number_labels(raw_labels, path):
    try:
        as_ints = [int(label) for label in raw_labels]
    except ValueError:
        as_ints = None
    if as_ints is not None:
        values = sorted(set(as_ints))
        if values == list(range(len(values))):
            return as_ints, [str(c) for c in values]
        # Labels such as 1..k, or with gaps, are numbered in increasing order
        # so that no class index is left without rows.
        index = {value: i for i, value in enumerate(values)}
        return [index[value] for value in as_ints], [str(value) for value in values]
    classes = sorted(set(raw_labels))
    index = {name: i for i, name in enumerate(classes)}
    return [index[label] for label in raw_labels], classes


# ---- splits, scaling and batches ---------------------------------------------


def train_test_split(dataset, test_fraction=0.2, seed=0):
    """Split ``dataset`` into (train, test), stratified by class, with ``seed``.

    Each class contributes round(test_fraction * its size) rows to the test
    split, at least one when it has two or more rows. Row order within each
    split follows the original order.
    """
    if not isinstance(dataset, Dataset):
        raise TypeError(f"train_test_split: expected a Dataset, got {type(dataset).__name__}")
    if not isinstance(test_fraction, float) or not 0.0 < test_fraction < 1.0:
        raise ValueError(f"train_test_split: test_fraction must be a float between 0 and 1, got {test_fraction!r}")
    rng = make_rng(seed)
    train, test = [], []
    for rows in _rows_by_class(dataset.labels, len(dataset.classes)):
        rng.shuffle(rows)
        count = round(test_fraction * len(rows))
        if len(rows) >= 2:
            count = min(max(count, 1), len(rows) - 1)
        test.extend(rows[:count])
        train.extend(rows[count:])
    if not train or not test:
        raise ValueError(
            f"train_test_split: {len(dataset)} rows are too few to split with test_fraction={test_fraction}"
        )
    return dataset.subset(sorted(train)), dataset.subset(sorted(test))


class Standardizer:
    """Scale each feature to mean 0 and standard deviation 1.

    Fit it on the training split only, then transform every split with the
    training statistics. A constant feature has its standard deviation taken
    as 1, so it maps to 0 instead of dividing by zero.
    """

    def __init__(self):
        self.mean = None
        self.std = None

    def fit(self, features):
        """Compute each column's mean and population standard deviation; returns self."""
        if not isinstance(features, Tensor):
            raise TypeError(f"Standardizer.fit: expected a Tensor, got {type(features).__name__}")
        rows = len(features)
        columns = list(zip(*features.data))
        mean = [math.fsum(column) / rows for column in columns]
        std = []
        for column, m in zip(columns, mean):
            s = math.sqrt(math.fsum((v - m) ** 2 for v in column) / rows)
            std.append(s if s > 0.0 else 1.0)
        self.mean, self.std = mean, std
        return self

    def transform(self, features):
        """Return ``(features - mean) / std`` with the fitted statistics."""
        if self.mean is None:
            raise RuntimeError("Standardizer.transform called before fit")
        if not isinstance(features, Tensor):
            raise TypeError(f"Standardizer.transform: expected a Tensor, got {type(features).__name__}")
        if features.shape[1] != len(self.mean):
            raise ValueError(
                f"Standardizer.transform: features have shape {features.shape} but the "
                f"standardizer was fitted on {len(self.mean)} columns"
            )
        mean, std = self.mean, self.std
        return Tensor._wrap([[(v - m) / s for v, m, s in zip(row, mean, std)] for row in features.data])

    def transform_dataset(self, dataset):
        """Return a copy of ``dataset`` with standardized features."""
        return Dataset(self.transform(dataset.features), dataset.labels, dataset.classes, dataset.name)


def batches(features, labels=None, batch_size=32, seed=None, shuffle=True):
    """Yield (x, y) mini-batches that cover every row once.

    ``x`` is a ``Tensor`` of at most ``batch_size`` rows, and ``y`` the
    matching labels (None when ``labels`` is None). The last batch may be
    smaller, so a batch size larger than the data gives one batch. With
    ``shuffle``, the order is drawn from ``seed`` (an int or a
    ``random.Random``).
    """
    if not isinstance(features, Tensor):
        raise TypeError(f"batches: features must be a Tensor, got {type(features).__name__}")
    _check_positive_int(batch_size, "batch_size", "batches")
    rows = len(features)
    if labels is not None and len(labels) != rows:
        raise ValueError(f"batches: {rows} feature rows but {len(labels)} labels")
    order = list(range(rows))
    if shuffle:
        make_rng(seed).shuffle(order)
    for start in range(0, rows, batch_size):
        indices = order[start:start + batch_size]
        y = None if labels is None else [labels[i] for i in indices]
        yield features.rows(indices), y
