"""Block replacement: swap a run of a trained network's layers for a smaller one.

A block is the layers between teacher states ``start`` and ``end`` (layers
start + 1 to end). ``replace_block`` trains a new layer, or a small stack,
on the mean squared error to map state ``start`` to state ``end`` of the
training inputs. It then builds the compressed network from the teacher's
layers below the block, the new stack and the teacher's layers above it.
The teacher itself is not changed.

``block_scores`` suggests which block to replace. Following ShortGPT (Men
et al., "ShortGPT: Layers in Large Language Models are More Redundant Than
You Expect", 2024), a block that changes its input little is cheap to
replace. The score is one minus the cosine between state ``start`` and
state ``end``, averaged over the rows of a batch (``losses.cosine``).

NOTE: ShortGPT scores the layers of residual networks, whose states share
one basis. Consecutive states of a plain ``Network`` need not share a basis,
so there a high score does not prove that a block matters.

>>> from clsd import Network, Tensor
>>> teacher = Network.mlp([4, 6, 6, 6, 3], activation="tanh", seed=0)
>>> x = Tensor.uniform(16, 4, seed=1)
>>> [(start, end) for _, start, end in block_scores(teacher, x)]
[(2, 3), (1, 2), (1, 3)]
>>> result = replace_block(teacher, 1, 3, x, epochs=2, seed=0)
>>> result.network.sizes, result.layers_removed
([4, 6, 6, 3], 1)
"""

from . import losses
from .layer import Layer
from .matches import check_int
from .network import Network
from .optim import get_optimizer
from .tensor import Tensor, make_rng
from .trainer import CLSDTrainer, _batch_indices, evaluate


def _check_block(network, start, end, where):
    if not isinstance(network, Network):
        raise TypeError(f"{where}: teacher must be a Network, got {type(network).__name__}")
    network.check_state_index(start, f"{where} start")
    network.check_state_index(end, f"{where} end")
    if not start < end:
        raise ValueError(f"{where}: a block needs start < end, got start={start}, end={end}")


def block_scores(network, features, min_length=1):
    """Return (score, start, end) for every block whose end state has its start state's width.

    The score is 1 - mean cosine(state start, state end) over the rows of
    ``features``, from 0 (the block keeps the direction of every row) to 2.
    Blocks of at least ``min_length`` layers are scored, lowest score first,
    and ties go to the longer block. Blocks whose two states differ in width
    have no cosine and are left out.
    """
    if not isinstance(network, Network):
        raise TypeError(f"block_scores: network must be a Network, got {type(network).__name__}")
    check_int(min_length, "min_length", "block_scores")
    states = network.states(features)
    scores = []
    for start in range(network.depth):
        for end in range(start + min_length, network.depth + 1):
            if states[start].shape == states[end].shape:
                scores.append((losses.cosine(states[end], states[start]).value, start, end))
    scores.sort(key=lambda item: (item[0], -(item[2] - item[1]), item[1]))
    return scores


def _copy_layer(layer):
    copy = Layer(layer.in_features, layer.out_features, activation=layer.activation)
    copy.weight = layer.weight
    copy.bias = layer.bias
    return copy


class BlockReplacement:
    """The result of ``replace_block``.

    Attributes: ``network`` (the compressed network), ``stack`` (the new
    layers, as a ``Network`` from state ``start`` to state ``end``),
    ``start`` and ``end``, ``losses`` (the stack's mean MSE per epoch),
    ``layers_removed`` and ``parameters_removed`` (teacher minus compressed;
    negative when the stack is larger than the block).
    """

    def __init__(self, network, stack, start, end, epoch_losses, teacher):
        self.network = network
        self.stack = stack
        self.start = start
        self.end = end
        self.losses = epoch_losses
        self.layers_removed = teacher.depth - network.depth
        self.parameters_removed = teacher.parameter_count() - network.parameter_count()


def replace_block(teacher, start, end, features, hidden=(), epochs=20, batch_size=32,
                  learning_rate=0.01, optimizer="adam", seed=0):
    """Train a stack to map teacher state ``start`` to state ``end``; return a ``BlockReplacement``.

    Args:
        teacher: the trained ``Network``; it is not changed.
        start, end: the block's first and last state (start < end).
        features: the training inputs of the teacher, a ``Tensor``.
        hidden: widths of hidden layers in the stack; () is a single layer.
        epochs, batch_size, learning_rate, optimizer: how the stack trains on
            the MSE between its output and teacher state ``end``.
        seed: int or ``random.Random`` for the initial weights and batches.

    The stack's hidden layers use the activation of the block's first
    layer, and its last layer that of the block's last layer, so that it
    outputs states in the range the layers above expect.
    """
    _check_block(teacher, start, end, "replace_block")
    check_int(epochs, "epochs", "replace_block")
    check_int(batch_size, "batch_size", "replace_block")
    hidden = list(hidden)
    rng = make_rng(seed)
    states = teacher.states(features, upto=end)
    inputs, targets = states[start], states[end]

    # The new stack: start width -> hidden widths -> end width.
    widths = [teacher.sizes[start]] + hidden + [teacher.sizes[end]]
    inner = teacher.layers[start].activation.name
    outer = teacher.layers[end - 1].activation.name
    stack = Network.mlp(widths, activation=inner, output_activation=outer, seed=rng.getrandbits(64))
    optimizer = get_optimizer(optimizer, learning_rate)

    epoch_losses = []
    for _ in range(epochs):
        total = 0.0
        steps = 0
        for indices in _batch_indices(len(inputs), batch_size, rng):
            output = stack.forward(inputs.rows(indices))
            value, grad = losses.mse(output, targets.rows(indices))
            stack.zero_grad()
            stack.backward({stack.depth: grad})
            optimizer.step(stack.parameters(), stack.gradients())
            total += value
            steps += 1
        epoch_losses.append(total / steps)

    layers = [_copy_layer(layer) for layer in teacher.layers[:start]]
    layers += stack.layers
    layers += [_copy_layer(layer) for layer in teacher.layers[end:]]
    return BlockReplacement(Network(layers), stack, start, end, epoch_losses, teacher)


def compression_report(teacher, replacement, train, test, finetune_epochs=3, learning_rate=0.01,
                       optimizer="adam", batch_size=32, seed=0):
    """Fine-tune the compressed network on the labels and return what it cost and saved.

    ``train`` and ``test`` are ``Dataset`` objects. The compressed network in
    ``replacement`` is fine-tuned in place for ``finetune_epochs`` epochs
    with the cross-entropy on ``train``. Returns a dict with the test
    accuracy of the teacher, of the compressed network before and after
    fine-tuning, and ``layers_removed`` and ``parameters_removed``.
    """
    if not isinstance(replacement, BlockReplacement):
        raise TypeError(f"compression_report: replacement must be a BlockReplacement, got {type(replacement).__name__}")
    report = {
        "block": (replacement.start, replacement.end),
        "teacher_accuracy": evaluate(teacher, test.features, test.labels)["accuracy"],
        "before_finetune_accuracy": evaluate(replacement.network, test.features, test.labels)["accuracy"],
    }
    trainer = CLSDTrainer(learning_rate=learning_rate, optimizer=optimizer)
    trainer.fit(replacement.network, train, epochs=finetune_epochs, batch_size=batch_size, seed=seed)
    report["after_finetune_accuracy"] = evaluate(replacement.network, test.features, test.labels)["accuracy"]
    report["finetune_epochs"] = finetune_epochs
    report["layers_removed"] = replacement.layers_removed
    report["parameters_removed"] = replacement.parameters_removed
    report["teacher_parameters"] = teacher.parameter_count()
    return report


def format_report(report):
    """Return a ``compression_report`` as a few lines of text."""
    start, end = report["block"]
    share = report["parameters_removed"] / report["teacher_parameters"]
    rows = [
        ("teacher accuracy", report["teacher_accuracy"]),
        ("compressed, before fine-tuning", report["before_finetune_accuracy"]),
        (f"compressed, after {report['finetune_epochs']} epochs of fine-tuning", report["after_finetune_accuracy"]),
    ]
    width = max(len(label) for label, _ in rows) + 2
    lines = [f"block: states {start} to {end} replaced"]
    lines += [f"{label + ':':<{width}}{value:.4f}" for label, value in rows]
    lines.append(f"removed: {report['layers_removed']} layers, {report['parameters_removed']} parameters ({share:.1%})")
    return "\n".join(lines)
