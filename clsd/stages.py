"""Training stages: runs of epochs, each with its own loss terms.

``CLSDTrainer.fit`` trains one stage by default, built from its ``matches``
and ``task_weight`` arguments. Passing ``stages`` instead runs several in
order, on the same student. Each stage trains only the student layers that
its terms reach, plus the adapters of its matches, and every stage after
the first starts the optimizer's state afresh.

FitNets (Romero et al., "FitNets: Hints for Thin Deep Nets", ICLR 2015)
trains in two stages: first the student's layers up to the guided layer,
with a regressor (an ``Adapter``), on the hint loss alone; then the whole
student on the labels plus Hinton's soft targets, with the soft-target
weight annealed from 4 to 1. ``fitnets_stages`` builds that schedule and
``fitnets_joint`` the single-stage variant that adds all terms at once.

>>> from clsd import LayerMatch
>>> plan = fitnets_stages(LayerMatch(2, 2, adapter=None), hint_epochs=3, kd_epochs=5)
>>> [(stage.name, stage.epochs, [m.name for m in stage.matches]) for stage in plan]
[('hints', 3, ['hint t2->s2']), ('kd', 5, ['kd T=4'])]
"""

from .matches import LayerMatch, LogitMatch, check_int
from .schedules import LinearRamp, as_schedule


class Stage:
    """A run of ``epochs`` epochs with a fixed set of loss terms.

    Args:
        name: a label for the plan and the history, such as "hints".
        epochs: the number of epochs, at least 1.
        matches: ``LayerMatch`` (and ``LogitMatch``) terms.
        task_weight: None for no task loss, or the weight (a number or a
            ``Schedule``) of the cross-entropy on the labels.

    Weight schedules see the epoch counted from 1 within this stage.
    """

    def __init__(self, name, epochs, matches=(), task_weight=None):
        if not isinstance(name, str) or not name:
            raise TypeError(f"Stage: name must be a non-empty str, got {name!r}")
        self.name = name
        self.epochs = check_int(epochs, "epochs", f"Stage {name!r}")
        self.matches = list(matches)
        for index, match in enumerate(self.matches):
            if not isinstance(match, LayerMatch):
                raise TypeError(f"Stage {name!r}: matches[{index}] must be a LayerMatch, got {type(match).__name__}")
        self.task_weight = None if task_weight is None else as_schedule(task_weight, "task_weight", f"Stage {name!r}")
        if self.task_weight is None and not self.matches:
            raise ValueError(f"Stage {name!r}: nothing to train; pass matches, a task_weight or both")

    def __repr__(self):
        return f"Stage({self.name!r}, epochs={self.epochs}, matches={self.matches!r}, task_weight={self.task_weight!r})"


def fitnets_stages(hint, hint_epochs, kd_epochs, temperature=4.0, kd_weight=None, task_weight=1.0):
    """Return FitNets' two stages: hints first, then labels with annealed soft targets.

    Args:
        hint: the ``LayerMatch`` from the guided student state to the
            teacher's hint state, usually with an ``Adapter``.
        hint_epochs, kd_epochs: the epochs of each stage.
        temperature: the soft-target temperature of stage 2.
        kd_weight: the soft-target weight of stage 2; by default a linear
            ramp from 4 to 1 over ``kd_epochs``, as in FitNets.
        task_weight: the weight of the cross-entropy on the labels in stage 2.

    Stage 1 trains the student only up to the guided state, plus the
    adapter. Stage 2 trains the whole student, without the adapter.
    """
    if not isinstance(hint, LayerMatch):
        raise TypeError(f"fitnets_stages: hint must be a LayerMatch, got {type(hint).__name__}")
    check_int(kd_epochs, "kd_epochs", "fitnets_stages")
    if kd_weight is None:
        kd_weight = LinearRamp(4.0, 1.0, epochs=kd_epochs)
    return [
        Stage("hints", hint_epochs, [hint]),
        Stage("kd", kd_epochs, [LogitMatch(temperature=temperature, weight=kd_weight)], task_weight=task_weight),
    ]


def fitnets_joint(hint, epochs, temperature=4.0, kd_weight=1.0, task_weight=1.0):
    """Return one stage that trains the hint, the soft targets and the labels together.

    In this single-stage variant the adapter and the whole student train on
    all terms from the first epoch; the two-stage schedule of the FitNets
    paper is ``fitnets_stages``.
    """
    if not isinstance(hint, LayerMatch):
        raise TypeError(f"fitnets_joint: hint must be a LayerMatch, got {type(hint).__name__}")
    return [
        Stage(
            "joint",
            epochs,
            [hint, LogitMatch(temperature=temperature, weight=kd_weight)],
            task_weight=task_weight,
        )
    ]
