"""Weight schedules: a loss term's weight as a function of the epoch.

Every term that ``CLSDTrainer.fit`` trains has a weight. A plain number is
a constant weight; a schedule changes it from one epoch to the next. The
epoch a schedule receives is counted from 1 within the training stage it
belongs to, so a schedule in the second stage of a plan starts over at 1.

>>> ramp = LinearRamp(4.0, 1.0, epochs=4)
>>> [ramp(epoch) for epoch in range(1, 6)]
[4.0, 3.0, 2.0, 1.0, 1.0]
>>> Step([1.0, 0.5, 0.1], boundaries=[3, 5])(4)
0.5
>>> as_schedule(0.3).describe()
'0.3'

The ramp from 4 to 1 is the annealing of the soft-target weight in the
second stage of FitNets (Romero et al., "FitNets: Hints for Thin Deep
Nets", ICLR 2015).
"""

import math


def _check_weight(value, name, where):
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{where}: {name} must be a number, got {value!r}")
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"{where}: {name} must be a finite number at least 0, got {value!r}")
    return float(value)


def _check_epoch(epoch, where):
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 1:
        raise ValueError(f"{where}: epoch must be an int from 1, got {epoch!r}")


def _format(value):
    return f"{value:g}"


class Schedule:
    """Base class: ``schedule(epoch)`` returns the weight at that epoch (from 1)."""

    def __call__(self, epoch):
        """Return the weight at ``epoch``, checked to be a finite number at least 0.

        The check also covers ``value`` methods of user subclasses, so that a
        negative weight cannot turn a loss term into gradient ascent.
        """
        where = type(self).__name__
        _check_epoch(epoch, where)
        return _check_weight(self.value(epoch), f"weight at epoch {epoch}", where)


class Constant(Schedule):
    """The same weight at every epoch."""

    def __init__(self, weight):
        self.weight = _check_weight(weight, "weight", "Constant")

    def value(self, epoch):
        return self.weight

    def describe(self):
        """Return the schedule as short text for a training plan."""
        return _format(self.weight)

    def __repr__(self):
        return f"Constant({self.weight!r})"


class LinearRamp(Schedule):
    """A weight that moves linearly from ``start`` to ``end`` over ``epochs`` epochs.

    Epoch 1 has ``start``, epoch ``epochs`` has ``end``, and later epochs
    keep ``end``. With ``epochs`` = 1 the weight is ``end`` from the start.
    """

    def __init__(self, start, end, epochs):
        self.start = _check_weight(start, "start", "LinearRamp")
        self.end = _check_weight(end, "end", "LinearRamp")
        if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
            raise ValueError(f"LinearRamp: epochs must be an int of at least 1, got {epochs!r}")
        self.epochs = epochs

    def value(self, epoch):
        if self.epochs == 1 or epoch >= self.epochs:
            return self.end
        fraction = (epoch - 1) / (self.epochs - 1)
        return self.start + fraction * (self.end - self.start)

    def describe(self):
        """Return the schedule as short text for a training plan."""
        return f"{_format(self.start)} -> {_format(self.end)} over {self.epochs} epochs"

    def __repr__(self):
        return f"LinearRamp({self.start!r}, {self.end!r}, epochs={self.epochs})"


class Step(Schedule):
    """A piecewise-constant weight.

    ``values[0]`` applies before the first boundary, and ``values[k]`` from
    epoch ``boundaries[k - 1]`` on. ``boundaries`` are increasing epochs,
    one fewer than ``values``.
    """

    def __init__(self, values, boundaries):
        values = list(values)
        boundaries = list(boundaries)
        if not values:
            raise ValueError("Step: values must list at least one weight, got none")
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                f"Step: got {len(values)} values and {len(boundaries)} boundaries; "
                "expected one boundary fewer than values"
            )
        self.values = [_check_weight(v, f"values[{i}]", "Step") for i, v in enumerate(values)]
        for index, boundary in enumerate(boundaries):
            if not isinstance(boundary, int) or isinstance(boundary, bool) or boundary < 2:
                raise ValueError(f"Step: boundaries[{index}] must be an int epoch of at least 2, got {boundary!r}")
            if index and boundary <= boundaries[index - 1]:
                raise ValueError(f"Step: boundaries must increase, got {boundaries!r}")
        self.boundaries = boundaries

    def value(self, epoch):
        passed = sum(1 for boundary in self.boundaries if epoch >= boundary)
        return self.values[passed]

    def describe(self):
        """Return the schedule as short text for a training plan."""
        parts = [_format(self.values[0])]
        for boundary, value in zip(self.boundaries, self.values[1:]):
            parts.append(f"{_format(value)} from epoch {boundary}")
        return ", ".join(parts)

    def __repr__(self):
        return f"Step({self.values!r}, boundaries={self.boundaries!r})"


def as_schedule(weight, name="weight", where="schedule"):
    """Return ``weight`` as a ``Schedule``: a number becomes a ``Constant``.

    Raises ``TypeError`` for anything that is neither a number nor a
    ``Schedule``, and ``ValueError`` for a negative or non-finite number.
    """
    if isinstance(weight, Schedule):
        return weight
    if not isinstance(weight, (int, float)) or isinstance(weight, bool):
        raise TypeError(f"{where}: {name} must be a number or a Schedule, got {weight!r}")
    if not (math.isfinite(weight) and weight >= 0.0):
        raise ValueError(f"{where}: {name} must be a finite number at least 0, got {weight!r}")
    return Constant(weight)
