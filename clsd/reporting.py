"""Text for a training plan and a callback that writes it.

``CLSDTrainer.fit`` prints nothing. It hands its plan to each callback's
``on_fit_start`` before the first epoch, and ``format_plan`` turns that
plan into text. ``PlanPrinter`` is a callback that writes the plan, and
the validation summary at the end, to a stream.

    trainer.fit(student, train, teacher=teacher, stages=stages,
                callbacks=[PlanPrinter()])

prints, for example::

    plan: 2 stages, 25 epochs, batch size 32, 45 steps per epoch
    stage 1 'hints', epochs 1-10: trains student layers 1-2 and adapter 16->32 identity
      hint t2->s2  weight 1  (mse: adapter 16->32 identity(student state 2) vs teacher state 2)
    stage 2 'kd', epochs 11-25: trains student layers 1-4
      task         weight 1  (cross-entropy: student state 4 vs labels)
      kd T=4       weight 4 -> 1 over 15 epochs  (kd T=4: student logits vs teacher logits)
    returns: the weights of the last epoch
"""

import sys


def _epoch_range(stage):
    last = stage["first_epoch"] + stage["epochs"] - 1
    if last == stage["first_epoch"]:
        return f"epoch {last}"
    return f"epochs {stage['first_epoch']}-{last}"


def _trained(stage):
    upto = stage["student_upto"]
    parts = ["student layer 1" if upto == 1 else f"student layers 1-{upto}"]
    parts += [adapter.describe() for adapter in stage["adapters"]]
    return " and ".join(parts)


def format_plan(plan):
    """Return a training plan from ``fit`` (its ``on_fit_start`` argument) as text.

    The text has one line for the whole run and one per stage with its
    epochs and what it trains. Each term of a stage gets a line with its
    weight or schedule and what it compares; a term whose weight is 0 is
    still computed and recorded. A last line states which weights ``fit``
    returns.
    """
    stages = plan["stages"]
    count = "1 stage" if len(stages) == 1 else f"{len(stages)} stages"
    lines = [
        f"plan: {count}, {plan['epochs']} epochs, batch size {plan['batch_size']}, "
        f"{plan['steps_per_epoch']} steps per epoch"
    ]
    width = max(len(term["name"]) for stage in stages for term in stage["terms"])
    for number, stage in enumerate(stages, start=1):
        lines.append(f"stage {number} {stage['name']!r}, {_epoch_range(stage)}: trains {_trained(stage)}")
        for term in stage["terms"]:
            lines.append(f"  {term['name']:<{width}}  weight {term['weight']}  ({term['describe']})")
    if plan["restore_best"]:
        lines.append("returns: the weights of the epoch with the best validation accuracy")
    else:
        lines.append("returns: the weights of the last epoch")
    return "\n".join(lines)


class PlanPrinter:
    """A ``fit`` callback that writes the plan before training and a summary after.

    ``stream`` is a text stream (standard output when None, looked up when
    the fit starts). ``quiet=True`` writes nothing, so that a script can
    pass its own quiet option through.
    """

    def __init__(self, stream=None, quiet=False):
        self.stream = stream
        self.quiet = bool(quiet)

    def _write(self, text):
        if not self.quiet:
            (self.stream or sys.stdout).write(text + "\n")

    def on_fit_start(self, plan):
        """Write the plan as ``format_plan`` formats it."""
        self._write(format_plan(plan))

    def on_fit_end(self, history):
        """Write the last-epoch and best-epoch validation results."""
        self._write(history.summary())
