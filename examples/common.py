"""Shared setup for the distillation examples: data splits and a trained teacher.

The example scripts import this module from their own folder, so run them
from anywhere as ``python3 examples/NAME.py``.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from clsd import CLSDTrainer, Network, evaluate  # noqa: E402
from clsd.datasets import Standardizer, load_digits, load_iris, train_test_split  # noqa: E402


def load_split(name, seed=0):
    """Return (train, test) of a bundled data set, standardized with the training statistics.

    digits: 1438 training and 359 test rows; iris: 120 and 30.
    """
    data = {"digits": load_digits, "iris": load_iris}[name]()
    train, test = train_test_split(data, test_fraction=0.2, seed=seed)
    scaler = Standardizer().fit(train.features)
    return scaler.transform_dataset(train), scaler.transform_dataset(test)


def train_teacher(train, sizes, epochs, activation="tanh", learning_rate=0.005, seed=0):
    """Return a teacher ``Network`` trained with Adam on the labels of ``train``."""
    teacher = Network.mlp(sizes, activation=activation, seed=seed)
    trainer = CLSDTrainer(optimizer="adam", learning_rate=learning_rate)
    trainer.fit(teacher, train, epochs=epochs, batch_size=32, seed=seed)
    return teacher


def accuracy(network, dataset):
    """Return the network's accuracy on a ``Dataset``."""
    return evaluate(network, dataset.features, dataset.labels)["accuracy"]
