"""Activation functions and their derivatives, selectable by name.

Each activation is an ``Activation`` with two functions on one row (a list of
floats): ``forward(z)`` returns the state a = f(z), and ``derivative(a)``
returns f'(z) written in terms of the state a, which is what a layer keeps
from its forward pass.

>>> get_activation("sigmoid").forward([0.0])
[0.5]
>>> sorted(ACTIVATIONS)
['identity', 'relu', 'sigmoid', 'tanh']
"""

import math
from collections import namedtuple

Activation = namedtuple("Activation", "name forward derivative")
Activation.__doc__ = "An activation: its name, ``forward(z_row)`` and ``derivative(a_row)``."


def sigmoid_forward(z):
    # Two branches so that exp only ever gets a non-positive argument:
    # exp(-|v|) lies in (0, 1] and cannot overflow for any finite v. The
    # branches are inline, not a helper function, because a Python call per
    # element costs about a third of the time.
    exp = math.exp
    return [
        1.0 / (1.0 + exp(-v)) if v >= 0.0 else (e := exp(v)) / (1.0 + e)
        for v in z
    ]


def sigmoid_derivative(a):
    # sigma'(z) = sigma(z) * (1 - sigma(z)) = a * (1 - a)
    return [s - s * s for s in a]


def tanh_forward(z):
    return list(map(math.tanh, z))


def tanh_derivative(a):
    # tanh'(z) = 1 - tanh(z)^2 = 1 - a^2
    return [1.0 - s * s for s in a]


def relu_forward(z):
    return [v if v > 0.0 else 0.0 for v in z]


def relu_derivative(a):
    # relu'(z) is 1 where z > 0, which is exactly where a > 0, and 0 elsewhere
    # (the derivative at z = 0 is taken as 0, as PyTorch does).
    return [1.0 if s > 0.0 else 0.0 for s in a]


def identity_forward(z):
    return list(z)


def identity_derivative(a):
    return [1.0] * len(a)


ACTIVATIONS = {
    "sigmoid": Activation("sigmoid", sigmoid_forward, sigmoid_derivative),
    "tanh": Activation("tanh", tanh_forward, tanh_derivative),
    "relu": Activation("relu", relu_forward, relu_derivative),
    "identity": Activation("identity", identity_forward, identity_derivative),
}


def get_activation(name):
    """Return the ``Activation`` called ``name``.

    Raises ``TypeError`` when ``name`` is not a string and ``ValueError``
    listing the valid names when it is unknown.
    """
    if isinstance(name, Activation):
        return name
    if not isinstance(name, str):
        raise TypeError(f"activation must be a name (str), got {name!r}")
    try:
        return ACTIVATIONS[name]
    except KeyError:
        valid = ", ".join(sorted(ACTIVATIONS))
        raise ValueError(f"unknown activation {name!r}; valid names: {valid}") from None
