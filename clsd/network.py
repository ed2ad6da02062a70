"""An ordered stack of dense layers, with access to every state.

States are numbered so that a teacher and a student can be compared layer by
layer: state 0 is the input, and state k is the output of layer k (counted
from 1). A network of L layers has states 0 to L, and state L is its output.

>>> net = Network.mlp([4, 3, 2], seed=0)
>>> [s.shape for s in net.states(Tensor.ones(5, 4))]
[(5, 4), (5, 3), (5, 2)]

``backward`` takes gradients at any number of states at once, as a dict
{state index: dL/dstate}, so that hint losses at inner states and a task
loss at the output are combined in one pass.
"""

from .layer import Layer
from .tensor import Tensor, make_rng


def _check_state_gradients(grads, depth, states_shapes):
    if not isinstance(grads, dict):
        raise TypeError(
            f"Network.backward: expected a dict {{state index: gradient}}, got {type(grads).__name__}"
        )
    for index, grad in grads.items():
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index <= depth:
            raise IndexError(
                f"Network.backward: state index {index!r} is out of range; this "
                f"network has states 0 to {depth}"
            )
        if not isinstance(grad, Tensor):
            raise TypeError(
                f"Network.backward: gradient at state {index} must be a Tensor, "
                f"got {type(grad).__name__}"
            )
        if grad.shape != states_shapes[index]:
            raise ValueError(
                f"Network.backward: gradient at state {index} has shape {grad.shape} "
                f"but the state has shape {states_shapes[index]}"
            )


class Network:
    """An ordered stack of ``Layer`` objects.

    ``Network(layers)`` checks that each layer's ``in_features`` equals the
    previous layer's ``out_features``.
    """

    def __init__(self, layers):
        layers = list(layers)
        if not layers:
            raise ValueError("Network: expected at least one layer, got none")
        for index, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(
                    f"Network: layer {index + 1} must be a Layer, got {type(layer).__name__}"
                )
        for index in range(1, len(layers)):
            below, above = layers[index - 1], layers[index]
            if below.out_features != above.in_features:
                raise ValueError(
                    f"Network: layer {index} outputs {below.out_features} features but "
                    f"layer {index + 1} expects {above.in_features}"
                )
        self.layers = layers
        self._batch_shapes = None

    @classmethod
    def mlp(cls, sizes, activation="sigmoid", output_activation="identity", seed=None):
        """Build a multilayer perceptron from a list of widths.

        ``sizes`` is [input, hidden..., output], so ``[64, 32, 10]`` is two
        layers: 64 to 32 with ``activation`` and 32 to 10 with
        ``output_activation`` (identity by default, so the output is logits).
        ``seed`` makes the initial weights reproducible.
        """
        if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
            raise TypeError(f"Network.mlp: sizes must be a list of widths such as [64, 32, 10], got {sizes!r}")
        sizes = list(sizes)
        if not isinstance(sizes, list) or len(sizes) < 2:
            raise ValueError(f"Network.mlp: sizes must list at least two widths, got {sizes!r}")
        rng = make_rng(seed)
        layers = []
        for index in range(len(sizes) - 1):
            last = index == len(sizes) - 2
            layers.append(
                Layer(
                    sizes[index],
                    sizes[index + 1],
                    activation=output_activation if last else activation,
                    seed=rng.getrandbits(64),
                )
            )
        return cls(layers)

    # ---- description --------------------------------------------------

    @property
    def depth(self):
        """The number of layers, which is also the index of the output state."""
        return len(self.layers)

    @property
    def sizes(self):
        """The widths of states 0 to depth, as a list."""
        return [self.layers[0].in_features] + [layer.out_features for layer in self.layers]

    def state_width(self, index):
        """Return the width of state ``index``, checking that it exists."""
        self.check_state_index(index)
        return self.sizes[index]

    def check_state_index(self, index, name="state index"):
        """Raise ``IndexError`` unless 0 <= index <= depth."""
        if not isinstance(index, int) or isinstance(index, bool):
            raise TypeError(f"{name} must be an int, got {index!r}")
        if not 0 <= index <= self.depth:
            raise IndexError(
                f"{name} {index} is out of range; this network has states 0 to {self.depth}"
            )

    def parameter_count(self):
        """Return the number of trainable numbers (weights and biases)."""
        return sum(layer.in_features * layer.out_features + layer.out_features for layer in self.layers)

    def __repr__(self):
        activations = ", ".join(layer.activation.name for layer in self.layers)
        return f"Network(sizes={self.sizes}, activations=[{activations}])"

    def parameters(self):
        """Return every parameter tensor, layer by layer (weight, bias, ...)."""
        return [p for layer in self.layers for p in layer.parameters()]

    def gradients(self):
        """Return every gradient tensor, in the order of ``parameters()``."""
        return [g for layer in self.layers for g in layer.gradients()]

    def zero_grad(self):
        """Set every layer's accumulated gradients to zero."""
        for layer in self.layers:
            layer.zero_grad()

    # ---- forward and backward -----------------------------------------

    def states(self, x, upto=None):
        """Return [state 0, ..., state upto] for the batch ``x``.

        State 0 is ``x`` itself. ``upto`` defaults to the output state; a
        smaller value runs only the layers below it.
        """
        if upto is None:
            upto = self.depth
        self.check_state_index(upto, "upto")
        self._check_input(x, "Network.states")
        states = [x]
        for layer in self.layers[:upto]:
            states.append(layer.forward(states[-1]))
        self._batch_shapes = [state.shape for state in states]
        return states

    def _check_input(self, x, where):
        if not isinstance(x, Tensor):
            raise TypeError(f"{where}: x must be a Tensor, got {type(x).__name__}")
        if x.shape[1] != self.sizes[0]:
            raise ValueError(
                f"{where}: x has shape {x.shape} but the network expects "
                f"{self.sizes[0]} input features"
            )

    def forward(self, x):
        """Return the output state for the batch ``x``."""
        self._check_input(x, "Network.forward")
        return self.states(x)[-1]

    def predict(self, x):
        """Return the index of the largest output for each row of ``x``."""
        self._check_input(x, "Network.predict")
        outputs = self.forward(x)
        return [max(range(len(row)), key=row.__getitem__) for row in outputs.data]

    def backward(self, grads, input_gradient=False):
        """Backpropagate gradients injected at any set of states.

        ``grads`` maps state indices to dL/dstate tensors. The pass starts at
        the highest injected state, adds each injected gradient as it reaches
        that state, and accumulates every layer's parameter gradients on the
        way down. Layers above the highest injected state get no gradient.

        Returns dL/d(state 0) when ``input_gradient`` is True, and None
        otherwise, which saves the first layer's input-gradient product.

        Uses the states of the last ``states``/``forward`` call.
        """
        if self._batch_shapes is None:
            raise RuntimeError("Network.backward called before forward or states")
        reached = len(self._batch_shapes) - 1
        _check_state_gradients(grads, reached, self._batch_shapes)
        if not grads:
            return Tensor.zeros(*self._batch_shapes[0]) if input_gradient else None

        top = max(grads)
        grad = None
        for index in range(top, 0, -1):
            if index in grads:
                grad = grads[index] if grad is None else grad + grads[index]
            if grad is None:
                continue
            grad = self.layers[index - 1].backward(grad, input_gradient=index > 1 or input_gradient)
        if not input_gradient:
            return None
        if 0 in grads:
            grad = grads[0] if grad is None else grad + grads[0]
        if grad is None:
            grad = Tensor.zeros(*self._batch_shapes[0])
        return grad
