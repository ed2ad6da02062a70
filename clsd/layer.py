"""A dense layer with a hand-derived backward pass.

    z     = x @ weight + bias          x (batch, in), weight (in, out), bias (1, out)
    state = activation(z)              state (batch, out)

``forward`` keeps x and the state; ``backward`` takes dL/dstate, adds
dL/dweight and dL/dbias to ``grad_weight`` and ``grad_bias``, and returns
dL/dx so that the layer below can continue the chain rule.

>>> layer = Layer(2, 1, activation="identity", seed=0)
>>> layer.weight = Tensor([[2.0], [3.0]])
>>> layer.forward(Tensor([[1.0, 1.0]])).tolist()
[[5.0]]
>>> layer.backward(Tensor([[1.0]])).tolist()
[[2.0, 3.0]]
>>> layer.grad_weight.tolist()
[[1.0], [1.0]]
"""

import math
from operator import add, is_, mul

from . import kernels
from .activations import get_activation
from .tensor import Tensor, as_tensor, make_rng


def _check_features(value, name):
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"Layer: {name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"Layer: {name} must be at least 1, got {value!r}")


def _add_into(total, rows):
    """Add the new row lists ``rows`` into the tensor ``total`` elementwise, in place."""
    data = total.data
    if not any(map(any, data)):
        # All zeros, as after zero_grad: the sum is ``rows`` itself, so take
        # its rows and skip the add and the new float per element.
        data[:] = rows
        return
    for i, row in enumerate(rows):
        data[i] = list(map(add, data[i], row))


class Layer:
    """Dense layer ``state = activation(x @ weight + bias)``.

    Args:
        in_features: width of the input x.
        out_features: width of the state.
        activation: "sigmoid" (default), "tanh", "relu" or "identity".
        seed: int, ``random.Random`` or None, for the initial weights.

    The weights start uniform in [-limit, limit], with Glorot's limit
    sqrt(6 / (in + out)) for sigmoid, tanh and identity, and He's limit
    sqrt(6 / in) for relu. The bias starts at zero.

    ``weight`` and ``bias`` are ``Tensor`` attributes that can be read and
    assigned; an assigned tensor must keep the shape.
    """

    def __init__(self, in_features, out_features, activation="sigmoid", seed=None):
        _check_features(in_features, "in_features")
        _check_features(out_features, "out_features")
        self.activation = get_activation(activation)
        self.in_features = in_features
        self.out_features = out_features

        if self.activation.name == "relu":
            limit = math.sqrt(6.0 / in_features)
        else:
            limit = math.sqrt(6.0 / (in_features + out_features))
        rng = make_rng(seed)
        self._weight = Tensor._wrap(
            [[rng.uniform(-limit, limit) for _ in range(out_features)] for _ in range(in_features)]
        )
        self._bias = Tensor.zeros(1, out_features)
        self.grad_weight = Tensor.zeros(in_features, out_features)
        self.grad_bias = Tensor.zeros(1, out_features)
        self._input = None
        self._state = None
        self._columns_cache = None

    # ---- parameters ---------------------------------------------------

    @property
    def weight(self):
        """The weight matrix, shape (in_features, out_features)."""
        return self._weight

    @weight.setter
    def weight(self, value):
        self._weight = self._checked_parameter(value, "weight", (self.in_features, self.out_features))

    @property
    def bias(self):
        """The bias row, shape (1, out_features)."""
        return self._bias

    @bias.setter
    def bias(self, value):
        self._bias = self._checked_parameter(value, "bias", (1, self.out_features))

    def _checked_parameter(self, value, name, shape):
        value = as_tensor(value, f"Layer.{name}", copy=True)
        if value.shape != shape:
            raise ValueError(f"Layer.{name}: expected shape {shape}, got {value.shape}")
        return value

    def parameters(self):
        """Return [weight, bias]; optimizers update these tensors in place."""
        return [self._weight, self._bias]

    def gradients(self):
        """Return [grad_weight, grad_bias], in the order of ``parameters()``."""
        return [self.grad_weight, self.grad_bias]

    def zero_grad(self):
        """Set the accumulated gradients to zero."""
        self.grad_weight = Tensor.zeros(self.in_features, self.out_features)
        self.grad_bias = Tensor.zeros(1, self.out_features)

    def __repr__(self):
        return f"Layer({self.in_features}, {self.out_features}, activation={self.activation.name!r})"

    # ---- forward and backward -----------------------------------------

    def forward(self, x):
        """Return the state for the batch ``x`` of shape (batch, in_features).

        Keeps ``x`` and the state for ``backward``.
        """
        if not isinstance(x, Tensor):
            raise TypeError(f"Layer.forward: x must be a Tensor, got {type(x).__name__}")
        if x.shape[1] != self.in_features:
            raise ValueError(
                f"Layer.forward: x has shape {x.shape} but the layer expects "
                f"{self.in_features} input features"
            )
        activate = self.activation.forward
        bias = self._bias.data[0]

        # z = x @ W + b, shape (batch, out); the bias row is added to every row.
        z = kernels.matmul(x.data, self._weight_columns())
        state = Tensor._wrap([activate(list(map(add, row, bias))) for row in z])

        self._input = x
        self._state = state
        return state

    def _weight_columns(self):
        """Return the columns of W as a ``kernels.Columns``, rebuilt only when W changed.

        Training changes W at every step, but repeated forward passes with
        the same W (evaluation in batches) reuse the columns. W counts as
        unchanged when it has the same row lists as at the last call and
        equal values in them. Optimizers replace the row lists, assigning
        ``weight`` replaces the tensor, and writing an element in place
        changes a value, so each of these rebuilds the columns.
        """
        rows = self._weight.data
        cache = self._columns_cache
        same_rows = cache is not None and len(cache[0]) == len(rows) and all(map(is_, cache[0], rows))
        if same_rows and cache[1] is not None and cache[1] == rows:
            return cache[2]

        # The copy of the values that proves W unchanged is taken only when
        # the same row lists come back, so a training step does not pay for it.
        columns = kernels.Columns(rows)
        snapshot = [row[:] for row in rows] if same_rows else None
        self._columns_cache = (list(rows), snapshot, columns)
        return columns

    def backward(self, grad_state, input_gradient=True):
        """Accumulate parameter gradients and return dL/dx.

        ``grad_state`` is dL/dstate for the state of the last ``forward``, of
        the same shape. Returns dL/dx of shape (batch, in_features), or None
        when ``input_gradient`` is False (a first layer has no use for it).
        """
        if self._state is None:
            raise RuntimeError("Layer.backward called before forward")
        if not isinstance(grad_state, Tensor):
            raise TypeError(
                f"Layer.backward: grad_state must be a Tensor, got {type(grad_state).__name__}"
            )
        if grad_state.shape != self._state.shape:
            raise ValueError(
                f"Layer.backward: grad_state has shape {grad_state.shape} but the "
                f"state has shape {self._state.shape}"
            )
        derivative = self.activation.derivative

        # dL/dz = dL/dstate * f'(z), elementwise, with f'(z) written from the state.
        grad_z = [
            list(map(mul, g, derivative(a)))
            for g, a in zip(grad_state.data, self._state.data)
        ]

        # dL/dW = x.T @ dL/dz, shape (in, out), summed over the batch by the product.
        _add_into(self.grad_weight, kernels.transposed_matmul(self._input.data, grad_z))

        # dL/db = the column sums of dL/dz, shape (1, out), since b is added to every row.
        _add_into(self.grad_bias, [[math.fsum(column) for column in zip(*grad_z)]])

        # dL/dx = dL/dz @ W.T, shape (batch, in).
        if not input_gradient:
            return None
        return Tensor._wrap(kernels.matmul_transposed(grad_z, self._weight.data))
