"""Matches: which student state is trained toward which teacher state, and how.

A ``LayerMatch`` pairs teacher state k with student state j and adds the
term weight * loss(student state j, teacher state k) to the training loss.
The loss is a name from ``losses.STATE_LOSSES`` or a function; the weight
is a number or a ``Schedule``. When the two states differ in width, an
``Adapter`` maps the student state to the teacher's width first.
``LogitMatch`` is Hinton's soft-target loss between the two networks'
outputs (the logits).

State numbering is ``Network.states``: 0 is the input and k the output of
layer k.

>>> from clsd import Network
>>> teacher = Network.mlp([4, 8, 8, 3], seed=1)
>>> student = Network.mlp([4, 5, 3], seed=2)
>>> match = LayerMatch.between(teacher, student, 2, 1, adapter="identity", seed=0)
>>> match
LayerMatch(teacher_state=2, student_state=1, weight=1.0, loss='mse', adapter=Adapter(5, 8, activation='identity'))
>>> LayerMatch(2, 1).check(teacher, student)
Traceback (most recent call last):
  ...
ValueError: LayerMatch: teacher state 2 has width 8 but student state 1 has width 5; pass an adapter from 5 to 8, or a loss that compares widths freely such as 'relation'
"""

import functools
import math

from . import losses
from .activations import ACTIVATIONS
from .adapters import Adapter
from .schedules import Constant, as_schedule


def check_number(value, name, where, above=None, minimum=None):
    """Return ``value`` as a float, or raise naming ``where`` and ``name``."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{where}: {name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{where}: {name} must be finite, got {value!r}")
    if above is not None and not value > above:
        raise ValueError(f"{where}: {name} must be above {above}, got {value!r}")
    if minimum is not None and not value >= minimum:
        raise ValueError(f"{where}: {name} must be at least {minimum}, got {value!r}")
    return float(value)


def check_int(value, name, where, minimum=1):
    """Return ``value`` when it is an int of at least ``minimum``, or raise."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{where}: {name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{where}: {name} must be at least {minimum}, got {value!r}")
    return value


def needs_equal_widths(loss):
    """Return False for a state loss that compares states of any widths (``relation``)."""
    return getattr(loss, "needs_equal_widths", True)


class LayerMatch:
    """Pair teacher state ``teacher_state`` with student state ``student_state``.

    Args:
        teacher_state, student_state: state indices (0 is the input).
        weight: a number at least 0 or a ``Schedule`` over epochs.
        loss: a name from ``losses.STATE_LOSSES`` ("mse" by default,
            "normalized_mse", "cosine", "relation", "kd") or a function
            ``loss(prediction, target)`` that returns a ``losses.Loss``.
        adapter: None, or an ``Adapter`` applied to the student state before
            the loss. Its parameters are trained with the student's.
        temperature: the temperature of the "kd" loss (default 1); only
            valid with that loss.

    ``weight`` is a float for a constant weight and the ``Schedule``
    otherwise; ``schedule`` is always a ``Schedule``. The widths are checked
    by ``check`` (or at once by ``LayerMatch.between``).
    """

    def __init__(self, teacher_state, student_state, weight=1.0, loss="mse", adapter=None, temperature=None):
        self.teacher_state = check_int(teacher_state, "teacher_state", "LayerMatch", minimum=0)
        self.student_state = check_int(student_state, "student_state", "LayerMatch", minimum=0)
        self._set_common(weight, loss, adapter, temperature, "LayerMatch")

    def _set_common(self, weight, loss, adapter, temperature, where):
        self.schedule = as_schedule(weight, "weight", where)
        self.weight = self.schedule.weight if isinstance(self.schedule, Constant) else self.schedule
        self.loss_name = loss if isinstance(loss, str) else getattr(loss, "__name__", "custom")
        self.loss = losses.get_state_loss(loss)
        if adapter is not None and not isinstance(adapter, Adapter):
            raise TypeError(f"{where}: adapter must be an Adapter or None, got {type(adapter).__name__}")
        self.adapter = adapter
        self.temperature = None
        if temperature is not None:
            if self.loss is not losses.distillation:
                raise ValueError(f"{where}: temperature={temperature!r} applies only to loss='kd', not {self.loss_name!r}")
            self.temperature = check_number(temperature, "temperature", where, above=0.0)
            self.loss = functools.partial(losses.distillation, temperature=self.temperature)

    @classmethod
    def between(cls, teacher, student, teacher_state, student_state, weight=1.0, loss="mse", adapter=None, seed=None):
        """Build a match for two networks and check it at once.

        ``adapter`` is None, an ``Adapter``, or an activation name
        ("identity" for a linear map) for a new adapter from the student
        state's width to the teacher state's width, drawn with ``seed``.
        Raises as ``check`` does.
        """
        if isinstance(adapter, str):
            if adapter not in ACTIVATIONS:
                valid = ", ".join(sorted(ACTIVATIONS))
                raise ValueError(f"LayerMatch.between: unknown adapter activation {adapter!r}; valid names: {valid}")
            teacher.check_state_index(teacher_state, "LayerMatch teacher_state")
            student.check_state_index(student_state, "LayerMatch student_state")
            adapter = Adapter(student.sizes[student_state], teacher.sizes[teacher_state], activation=adapter, seed=seed)
        match = cls(teacher_state, student_state, weight=weight, loss=loss, adapter=adapter)
        match.check(teacher, student)
        return match

    @property
    def name(self):
        """The term's name in the history, such as "hint t3->s1" ("kd t3->s2" for loss "kd")."""
        kind = "kd" if self.loss_name == "kd" else "hint"
        return f"{kind} t{self.teacher_state}->s{self.student_state}"

    def __repr__(self):
        weight = self.weight if isinstance(self.weight, float) else self.schedule
        text = (
            f"LayerMatch(teacher_state={self.teacher_state}, student_state={self.student_state}, "
            f"weight={weight!r}, loss={self.loss_name!r}"
        )
        if self.adapter is not None:
            text += f", adapter={self.adapter!r}"
        if self.temperature is not None:
            text += f", temperature={self.temperature!r}"
        return text + ")"

    def states(self, teacher, student):
        """Return the pair (teacher state index, student state index) for two networks."""
        return self.teacher_state, self.student_state

    def check(self, teacher, student):
        """Raise unless both states exist and the widths fit.

        The widths fit when they are equal, when the adapter maps the student
        width to the teacher width, or when the loss compares states of any
        widths. Messages name both widths and both state indices.
        """
        teacher_state, student_state = self.states(teacher, student)
        teacher.check_state_index(teacher_state, "LayerMatch teacher_state")
        student.check_state_index(student_state, "LayerMatch student_state")
        if student_state == 0:
            raise ValueError(
                f"{type(self).__name__}: student state 0 is the input, which training cannot "
                f"change; match a student state from 1 to {student.depth}"
            )
        teacher_width = teacher.sizes[teacher_state]
        student_width = student.sizes[student_state]
        where = (
            f"{type(self).__name__}: teacher state {teacher_state} has width {teacher_width} "
            f"but student state {student_state} has width {student_width}"
        )
        if self.adapter is not None:
            if self.adapter.in_features != student_width:
                raise ValueError(f"{where}; the adapter takes {self.adapter.in_features} features, not {student_width}")
            if needs_equal_widths(self.loss) and self.adapter.out_features != teacher_width:
                raise ValueError(f"{where}; the adapter outputs {self.adapter.out_features} features, not {teacher_width}")
            return
        if teacher_width != student_width and needs_equal_widths(self.loss):
            raise ValueError(
                f"{where}; pass an adapter from {student_width} to {teacher_width}, or a loss "
                "that compares widths freely such as 'relation'"
            )

    def compute(self, teacher_states, student_states, weight=1.0):
        """Return the ``Loss`` of the student state against the teacher state.

        ``value`` is the unweighted loss. ``grad`` is d(weight * loss)/d(student
        state); with an adapter it is backpropagated through the adapter,
        whose parameter gradients accumulate weight * dloss/dparameter.
        """
        student_state = student_states[self._student_index(student_states)]
        teacher_state = teacher_states[self._teacher_index(teacher_states)]
        if self.adapter is None:
            value, grad = self.loss(student_state, teacher_state)
            return losses.Loss(value, grad * weight if weight != 1.0 else grad)

        # loss(adapter(s), t): the adapter's backward turns dL/d(adapter output) into dL/ds.
        mapped = self.adapter.forward(student_state)
        value, grad = self.loss(mapped, teacher_state)
        return losses.Loss(value, self.adapter.backward(grad * weight))

    def _student_index(self, student_states):
        return self.student_state

    def _teacher_index(self, teacher_states):
        return self.teacher_state

    def describe(self):
        """Return what the term compares, as short text for a training plan."""
        student = f"student state {self.student_state}"
        if self.adapter is not None:
            student = f"{self.adapter.describe()}(student state {self.student_state})"
        loss = self.loss_name if self.temperature is None else f"{self.loss_name} T={self.temperature:g}"
        return f"{loss}: {student} vs teacher state {self.teacher_state}"


class LogitMatch(LayerMatch):
    """Hinton's soft-target loss between the student's and the teacher's outputs.

    The term is weight * distillation(student logits, teacher logits, T), with
    the T^2 factor of ``losses.distillation``. Together with the task loss
    (``task_weight``) this is the usual mix of soft and hard targets:
    ``task_weight`` = 1 - a and ``weight`` = a gives
    ``losses.distillation_with_labels`` with ``soft_weight`` = a.

    >>> LogitMatch(temperature=4.0, weight=0.9).name
    'kd T=4'
    """

    def __init__(self, temperature=4.0, weight=1.0):
        self.teacher_state = None
        self.student_state = None
        self._set_common(weight, "kd", None, temperature, "LogitMatch")

    @property
    def name(self):
        """The term's name in the history, such as "kd T=4"."""
        return f"kd T={self.temperature:g}"

    def __repr__(self):
        weight = self.weight if isinstance(self.weight, float) else self.schedule
        return f"LogitMatch(temperature={self.temperature!r}, weight={weight!r})"

    def states(self, teacher, student):
        """Return the two output states, (teacher.depth, student.depth)."""
        return teacher.depth, student.depth

    def _student_index(self, student_states):
        return len(student_states) - 1

    def _teacher_index(self, teacher_states):
        return len(teacher_states) - 1

    def describe(self):
        """Return what the term compares, as short text for a training plan."""
        return f"kd T={self.temperature:g}: student logits vs teacher logits"
