"""Adapters: trainable maps from a student state's width to a teacher state's width.

A thin student's state of width 16 cannot be compared with a teacher's
state of width 64 by ``mse``. An adapter is a dense layer from 16 to 64,
optionally followed by an activation, placed on the student side of a
``LayerMatch``: the hint loss compares adapter(student state) with the
teacher state. This is the regressor of FitNets (Romero et al., "FitNets:
Hints for Thin Deep Nets", ICLR 2015), which trains it jointly with the
student's layers below the guided layer.

>>> adapter = Adapter(2, 3, seed=0)
>>> adapter.forward(Tensor([[1.0, 0.5]])).shape
(1, 3)

Adapters are for training only. They sit outside the student ``Network``,
so the trained student runs, predicts and is saved without them. A saved
training run must keep them, with the optimizer state, to resume.
"""

from .layer import Layer
from .tensor import Tensor  # noqa: F401 (used by the doctest)


class Adapter(Layer):
    """A dense layer ``activation(x @ weight + bias)`` used as a hint regressor.

    Args:
        in_features: the student state's width.
        out_features: the teacher state's width.
        activation: "identity" (default, a linear map), "sigmoid", "tanh"
            or "relu".
        seed: int, ``random.Random`` or None, for the initial weights.

    It has the ``forward``, ``backward``, ``parameters``, ``gradients`` and
    ``zero_grad`` of a ``Layer``: ``backward`` returns dL/d(student state).
    """

    def __init__(self, in_features, out_features, activation="identity", seed=None):
        super().__init__(in_features, out_features, activation=activation, seed=seed)

    def __repr__(self):
        return f"Adapter({self.in_features}, {self.out_features}, activation={self.activation.name!r})"

    def describe(self):
        """Return the adapter as short text, such as "adapter 16->64 identity"."""
        return f"adapter {self.in_features}->{self.out_features} {self.activation.name}"
