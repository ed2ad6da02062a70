"""Layer pairing: which student state should copy which teacher state.

Three mapping strategies return lists of ``LayerMatch``, one per chosen
pair of hidden states (the input state 0 and the output states are left to
the task loss and ``LogitMatch``):

- ``uniform``: spread the student's hidden states evenly over the
  teacher's. Student state s of S layers gets teacher state
  round(s * T / S) of T layers, so the depths need not divide.
- ``last``: only the last hidden states of both networks.
- ``suggest``: pairs ranked by linear CKA on a batch (``cka.cka_matrix``),
  taken best first while they keep depth order: a deeper student state is
  never paired with a shallower teacher state than an earlier pick.

When the two states of a pair differ in width and the loss needs equal
widths, the match gets a new ``Adapter`` (a linear one by default).

>>> from clsd import Network
>>> teacher = Network.mlp([4, 8, 8, 8, 8, 3], seed=0)
>>> student = Network.mlp([4, 8, 8, 3], seed=1)
>>> [match.name for match in map_states("uniform", teacher, student)]
['hint t2->s1', 'hint t3->s2']
"""

from .cka import cka_matrix
from .matches import LayerMatch, check_int, needs_equal_widths
from . import losses
from .network import Network
from .tensor import make_rng


def _check_networks(teacher, student, where):
    for name, network in (("teacher", teacher), ("student", student)):
        if not isinstance(network, Network):
            raise TypeError(f"{where}: {name} must be a Network, got {type(network).__name__}")
    for name, network in (("teacher", teacher), ("student", student)):
        if network.depth < 2:
            raise ValueError(
                f"{where}: the {name} has {network.depth} layer and no hidden state to pair; "
                "it needs at least 2 layers"
            )


def build_matches(pairs, teacher, student, loss="mse", weight=1.0, adapter="identity", seed=0):
    """Return one checked ``LayerMatch`` per (teacher state, student state) pair.

    A pair whose widths differ gets a new ``Adapter`` with activation
    ``adapter`` when the loss needs equal widths. ``seed`` draws the
    adapters' initial weights.
    """
    loss_function = losses.get_state_loss(loss)
    rng = make_rng(seed)
    matches = []
    for teacher_state, student_state in pairs:
        widths_differ = teacher.sizes[teacher_state] != student.sizes[student_state]
        use = adapter if widths_differ and needs_equal_widths(loss_function) else None
        matches.append(
            LayerMatch.between(
                teacher, student, teacher_state, student_state,
                weight=weight, loss=loss, adapter=use, seed=rng.getrandbits(64),
            )
        )
    return matches


def uniform_pairs(teacher, student):
    """Return (teacher state, student state) pairs that spread the student over the teacher.

    Student hidden state s (1 to S - 1) gets teacher state round(s * T / S),
    rounding halves up and kept within the teacher's hidden states 1 to T - 1.
    """
    _check_networks(teacher, student, "uniform_pairs")
    teacher_depth, student_depth = teacher.depth, student.depth
    pairs = []
    for s in range(1, student_depth):
        t = (2 * s * teacher_depth + student_depth) // (2 * student_depth)
        pairs.append((min(max(t, 1), teacher_depth - 1), s))
    return pairs


def last_pairs(teacher, student):
    """Return the single pair of the two networks' last hidden states."""
    _check_networks(teacher, student, "last_pairs")
    return [(teacher.depth - 1, student.depth - 1)]


def rank_pairs(matrix):
    """Return every hidden (CKA, teacher state, student state) triple, highest CKA first.

    ``matrix`` is a ``cka_matrix``; its first and last rows and columns
    (inputs and outputs) are left out. Ties keep depth order.
    """
    ranked = []
    for t in range(1, len(matrix) - 1):
        for s in range(1, len(matrix[0]) - 1):
            ranked.append((matrix[t][s], t, s))
    ranked.sort(key=lambda item: (-item[0], item[1], item[2]))
    return ranked


def suggest_pairs(matrix, count=None):
    """Return up to ``count`` pairs picked by CKA, best first, in depth order.

    Each pick is the highest-ranked pair whose student state is still free
    and that keeps depth order with every earlier pick (for picks (t1, s1)
    and (t2, s2), s1 < s2 implies t1 <= t2). ``count`` defaults to the
    number of student hidden states. The result is sorted by student state.
    """
    student_hidden = len(matrix[0]) - 2
    if count is None:
        count = student_hidden
    check_int(count, "count", "suggest_pairs")
    chosen = []
    for _, t, s in rank_pairs(matrix):
        if len(chosen) == count:
            break
        if any(s == s2 for _, s2 in chosen):
            continue
        if all((s < s2 and t <= t2) or (s > s2 and t >= t2) for t2, s2 in chosen):
            chosen.append((t, s))
    return sorted(chosen, key=lambda pair: pair[1])


STRATEGIES = ("uniform", "last", "suggest")


def map_states(strategy, teacher, student, features=None, loss="mse", weight=1.0, adapter="identity", count=None,
               seed=0, matrix=None):
    """Return the ``LayerMatch`` list that a mapping strategy picks.

    Args:
        strategy: "uniform", "last" or "suggest".
        teacher, student: the two ``Network`` objects.
        features: a batch of inputs; "suggest" computes CKA on it.
        loss, weight: the loss name and weight of every match.
        adapter: the activation of the adapters that pairs of different
            widths get ("identity" for a linear map).
        count: the number of pairs "suggest" picks (one per student hidden
            state by default).
        seed: int or ``random.Random`` for the adapters' initial weights.
        matrix: a ``cka_matrix`` for "suggest" to use in place of computing
            one on ``features``, for example one measured on a student that
            was trained briefly, before a fresh student is distilled.

    Raises ``ValueError`` listing the valid strategies for an unknown name.
    """
    if strategy == "uniform":
        pairs = uniform_pairs(teacher, student)
    elif strategy == "last":
        pairs = last_pairs(teacher, student)
    elif strategy == "suggest":
        _check_networks(teacher, student, "map_states")
        if matrix is None:
            if features is None:
                raise ValueError("map_states: strategy 'suggest' needs features to compute CKA on, or a matrix")
            matrix = cka_matrix(teacher, student, features)
        shape = (len(matrix), len(matrix[0]))
        if shape != (teacher.depth + 1, student.depth + 1):
            raise ValueError(
                f"map_states: the CKA matrix is {shape[0]} x {shape[1]} but the networks have "
                f"{teacher.depth + 1} and {student.depth + 1} states"
            )
        pairs = suggest_pairs(matrix, count)
    else:
        raise ValueError(f"map_states: unknown strategy {strategy!r}; valid strategies: {', '.join(STRATEGIES)}")
    return build_matches(pairs, teacher, student, loss, weight, adapter, seed)
