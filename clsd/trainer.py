"""Cross-layer state distillation: the trainer and its history.

A ``LayerMatch`` pairs a teacher state with a student state. Training adds
one hint loss per match, weight * loss(student state j, teacher state k),
to an optional task loss on the labels, and backpropagates all of them
through the student in one pass. The teacher is frozen: its parameters are
never given to the optimizer. An ``Adapter`` on a match is trained with the
student. A ``Schedule`` changes a weight from epoch to epoch. A list of
``Stage`` objects runs one set of terms after another, such as the two
stages of FitNets (``stages.fitnets_stages``).

>>> from clsd import Network, Tensor
>>> teacher = Network.mlp([4, 3, 3, 2], seed=1)
>>> student = Network.mlp([4, 3, 2], seed=2)
>>> trainer = CLSDTrainer(learning_rate=0.5)
>>> x = Tensor.uniform(8, 4, seed=3)
>>> history = trainer.fit(student, x, teacher=teacher,
...                       matches=[LayerMatch(teacher_state=2, student_state=1)],
...                       epochs=3, batch_size=4, seed=0)
>>> len(history), list(history[-1]["terms"])
(3, ['hint t2->s1'])

Before the first epoch, ``fit`` hands its plan (stages, epochs, active
terms and their weights) to each callback's ``on_fit_start``;
``reporting.format_plan`` turns it into text.
"""

import math
import time

from . import losses
from . import resume as resume_module
from .datasets import Dataset
from .layer import Layer
from .matches import LayerMatch, LogitMatch, check_int as _check_int, check_number as _check_number
from .network import Network
from .optim import SGD, get_optimizer
from .schedules import as_schedule
from .stages import Stage
from .svg import history_chart
from .tensor import Tensor, make_rng

__all__ = ["CLSDTrainer", "History", "LayerMatch", "LogitMatch", "TrainingDiverged", "evaluate"]


class TrainingDiverged(ArithmeticError):
    """A loss or a parameter became NaN or infinite during ``fit``.

    The message names the epoch, the step and the loss term. The model is
    left at the weights it had before the step that failed.
    """


class History(list):
    """The per-epoch records that ``fit`` returns, as a list of dicts.

    Each record has these keys:

    - ``epoch``: from 1, counted over all stages.
    - ``stage`` and ``stage_epoch``: the stage's name, and the epoch from 1
      within the stage.
    - ``terms``: each loss term's mean over the epoch's batches.
    - ``weights``: each term's weight in that epoch.
    - ``total``: the sum of weight * term.
    - ``validation``: a dict with ``loss`` and ``accuracy``, or None.
    - ``seconds``: the epoch's wall time.

    ``returned_epoch`` is the epoch whose student weights ``fit`` returned:
    the last one, or the best one with ``restore_best=True``.
    """

    returned_epoch = None

    def series(self, name):
        """Return one term's values over the epochs, or ``total``'s."""
        if name == "total":
            return [record["total"] for record in self]
        return [record["terms"].get(name) for record in self]

    def best(self):
        """Return the record with the highest validation accuracy, or None without validation.

        Ties go to the earlier epoch.
        """
        best = None
        for record in self:
            result = record.get("validation")
            if result and (best is None or result["accuracy"] > best["validation"]["accuracy"]):
                best = record
        return best

    def summary(self):
        """Return the last-epoch and best-epoch validation results as one line of text."""
        if not self:
            return "no epochs were trained"
        last = self[-1]
        returned = self.returned_epoch or last["epoch"]
        kept = "the last epoch" if returned == last["epoch"] else f"epoch {returned} (the best)"
        best = self.best()
        if best is None:
            return f"trained {last['epoch']} epochs without validation; the student has the weights of {kept}"
        return (
            f"validation accuracy: last epoch {last['epoch']}: {last['validation']['accuracy']:.4f}, "
            f"best epoch {best['epoch']}: {best['validation']['accuracy']:.4f}; "
            f"the student has the weights of {kept}"
        )

    def _repr_svg_(self):
        """Return the loss chart that Jupyter shows inline, or None when empty."""
        if not self:
            return None
        return history_chart(self)


def evaluate(network, features, labels):
    """Return {"loss": mean cross-entropy, "accuracy": fraction correct} on a data set."""
    if not isinstance(network, Network):
        raise TypeError(f"evaluate: network must be a Network, got {type(network).__name__}")
    logits = network.forward(features)
    loss = losses.cross_entropy(logits, labels).value
    predicted = [max(range(len(row)), key=row.__getitem__) for row in logits.data]
    correct = sum(1 for p, y in zip(predicted, labels) if p == y)
    return {"loss": loss, "accuracy": correct / len(labels)}


def _all_finite(tensors):
    isfinite = math.isfinite
    return all(all(map(isfinite, row)) for tensor in tensors for row in tensor.data)


def _call(callbacks, event, payload):
    for callback in callbacks:
        method = getattr(callback, event, None)
        if method is not None:
            method(payload)
        elif event == "on_epoch_end" and callable(callback):
            callback(payload)


def _batch_indices(rows, batch_size, rng):
    """Yield lists of row indices that cover every row once, in an order drawn from ``rng``.

    The order is the one ``datasets.batches`` draws from the same ``rng``.
    """
    order = list(range(rows))
    rng.shuffle(order)
    for start in range(0, rows, batch_size):
        yield order[start:start + batch_size]


def _copy_values(tensors):
    return [[row[:] for row in tensor.data] for tensor in tensors]


def _restore_values(tensors, values):
    for tensor, rows in zip(tensors, values):
        tensor.data[:] = [row[:] for row in rows]


def _reset_optimizer(optimizer):
    """Clear the optimizer's per-parameter state (momentum, Adam moments, step count)."""
    fresh = {"name": optimizer.name, "settings": optimizer.settings(), "state": [], "steps": 0}
    optimizer.load_state_dict(fresh)


class CLSDTrainer:
    """Train a student to reproduce a frozen teacher's states.

    ``optimizer`` is None (plain SGD at ``learning_rate``, no momentum, no
    weight decay), a name ("sgd" or "adam") or an ``Optimizer`` instance,
    whose own learning rate is then used.

    ``compute_loss`` and ``distill_step`` work on a single ``Layer``;
    ``fit`` trains a whole ``Network`` with any number of ``LayerMatch``
    terms, an optional task loss, weight schedules and stages.
    """

    def __init__(self, learning_rate=0.01, optimizer=None):
        self.learning_rate = _check_number(learning_rate, "learning_rate", "CLSDTrainer", above=0.0)
        if optimizer is None:
            optimizer = SGD(learning_rate=self.learning_rate)
        self.optimizer = get_optimizer(optimizer, self.learning_rate)

    # ---- the single-layer API ------------------------------------------

    def compute_loss(self, student_state, teacher_state):
        """Return the mean squared error between two states, as a float."""
        return losses.mse(student_state, teacher_state).value

    def distill_step(self, student_layer, data, teacher_state):
        """Take one optimizer step of ``student_layer`` on the MSE to ``teacher_state``.

        Returns the loss before the step.
        """
        if not isinstance(student_layer, Layer):
            raise TypeError(
                f"distill_step: student_layer must be a Layer, got {type(student_layer).__name__}"
            )
        if not isinstance(teacher_state, Tensor):
            raise TypeError(
                f"distill_step: teacher_state must be a Tensor, got {type(teacher_state).__name__}"
            )
        student_state = student_layer.forward(data)
        value, grad = losses.mse(student_state, teacher_state)
        if not math.isfinite(value):
            raise TrainingDiverged(f"distill_step: the loss is {value!r}; lower the learning rate")
        student_layer.zero_grad()
        student_layer.backward(grad, input_gradient=False)
        self.optimizer.step(student_layer.parameters(), student_layer.gradients())
        return value

    # ---- whole networks ------------------------------------------------

    def fit(
        self,
        student,
        features,
        labels=None,
        *,
        teacher=None,
        matches=(),
        epochs=None,
        batch_size=32,
        task_weight=None,
        validation=None,
        callbacks=(),
        seed=None,
        stages=None,
        restore_best=False,
        checkpoint=None,
        checkpoint_every=1,
        resume=False,
    ):
        """Train ``student`` for ``epochs`` passes over ``features``, or stage by stage.

        Args:
            student: the ``Network`` to train.
            features: a ``Tensor`` of inputs, one row per sample, or a
                ``Dataset`` (then ``labels`` come from it).
            labels: class indices for a cross-entropy task loss on the
                student's output, or None to train on the matches alone.
            teacher: the frozen ``Network`` whose states the matches read.
            matches: ``LayerMatch`` objects; each adds a weighted term.
            epochs: passes over the data (10 when None).
            batch_size: rows per optimizer step.
            task_weight: weight of the task loss, a number or a
                ``Schedule`` (1 when None).
            validation: a ``Dataset`` or (features, labels) evaluated after
                each epoch.
            callbacks: functions called with each epoch's record, or objects
                with any of ``on_fit_start(plan)``, ``on_batch_end(info)``,
                ``on_epoch_end(record)`` and ``on_fit_end(history)``.
            seed: int or ``random.Random`` for the batch order.
            stages: a list of ``Stage`` objects to run in order, in place of
                ``matches``, ``epochs`` and ``task_weight``.
            restore_best: with ``validation``, return the student with the
                weights of the epoch of best validation accuracy instead of
                the last epoch.
            checkpoint: a ``.json`` path where the run is saved, crash-safely,
                every ``checkpoint_every`` epochs and after the last epoch
                (see ``clsd.resume``); None saves nothing.
            checkpoint_every: epochs between checkpoints.
            resume: continue the run saved at ``checkpoint``, when that file
                exists, from the epoch after the saved one. With the same
                arguments and seed, the final weights equal those of an
                uninterrupted run to the last bit.

        Each stage trains the student layers up to the highest state that
        its terms read, plus its matches' adapters. The optimizer's state
        (momentum, Adam's moments and step count) starts afresh at the start
        of every ``fit`` and of every stage after the first. A resumed run
        restores the saved state instead.

        Returns a ``History``; its ``summary()`` gives the last-epoch and
        best-epoch validation accuracy and which weights the student kept.
        Raises ``TrainingDiverged`` when a loss or a parameter stops being
        finite, with the model left at the weights before that step.
        """
        if isinstance(features, Dataset):
            if labels is not None:
                raise ValueError("fit: pass labels either in the Dataset or as labels, not both")
            features, labels = features.features, features.labels
        stages = _stage_list(stages, matches, epochs, task_weight, labels)
        plan = self._plan(student, features, labels, teacher, stages, batch_size, validation, restore_best)
        validation = _validation_pair(validation, student)
        labels = plan["labels"]
        rng = make_rng(seed)
        history = History()
        callbacks = list(callbacks)
        checkpoint = resume_module.check_arguments(checkpoint, checkpoint_every, resume)

        # The teacher is frozen, so its states are computed once for all rows.
        teacher_states = None
        if plan["teacher_upto"] is not None:
            teacher_states = teacher.states(features, upto=plan["teacher_upto"])

        best_accuracy = None
        best_weights = None
        resumed_epoch = 0
        if resume:
            resumed_epoch, (best_accuracy, best_weights) = resume_module.restore(
                checkpoint, plan, student, self.optimizer, rng, history
            )
        if resumed_epoch == 0:
            # A new run starts with no momentum or Adam moments from an earlier fit.
            _reset_optimizer(self.optimizer)
        _call(callbacks, "on_fit_start", plan)

        epoch = 0
        for stage_index, stage in enumerate(plan["stages"]):
            # A resumed run saved inside this stage already has this stage's optimizer state.
            if stage_index > 0 and epoch >= resumed_epoch:
                _reset_optimizer(self.optimizer)
            for stage_epoch in range(1, stage["epochs"] + 1):
                epoch += 1
                if epoch <= resumed_epoch:
                    continue
                record = self._run_epoch(
                    student, features, labels, teacher_states, plan, stage, epoch, stage_epoch, rng, callbacks
                )
                record["validation"] = evaluate(student, *validation) if validation else None
                history.append(record)

                # Keep a copy of the weights of the best epoch so far.
                if validation and (best_accuracy is None or record["validation"]["accuracy"] > best_accuracy):
                    best_accuracy = record["validation"]["accuracy"]
                    if restore_best:
                        best_weights = (epoch, _copy_values(student.parameters()))
                if checkpoint is not None and (epoch % checkpoint_every == 0 or epoch == plan["epochs"]):
                    resume_module.save(
                        checkpoint, plan, student, self.optimizer, rng, history, epoch, (best_accuracy, best_weights)
                    )
                _call(callbacks, "on_epoch_end", record)

        history.returned_epoch = epoch
        if best_weights is not None:
            history.returned_epoch, values = best_weights
            _restore_values(student.parameters(), values)
        _call(callbacks, "on_fit_end", history)
        return history

    def _run_epoch(self, student, features, labels, teacher_states, plan, stage, epoch, stage_epoch, rng, callbacks):
        """Train one epoch of ``stage`` and return its record (without validation)."""
        started = time.perf_counter()
        weights = {term["name"]: term["schedule"](stage_epoch) for term in stage["terms"]}
        sums = dict.fromkeys(weights, 0.0)
        steps = 0
        for indices in _batch_indices(len(features), plan["batch_size"], rng):
            steps += 1
            x = features.rows(indices)
            y = None if labels is None else [labels[i] for i in indices]
            teacher_batch = None if teacher_states is None else [state.rows(indices) for state in teacher_states]
            terms = self._train_step(student, stage, weights, x, y, teacher_batch, epoch, steps)
            for name, value in terms.items():
                sums[name] += value
            info = {"epoch": epoch, "step": steps, "steps": plan["steps_per_epoch"], "terms": terms}
            _call(callbacks, "on_batch_end", info)

        terms = {name: total / steps for name, total in sums.items()}
        return {
            "epoch": epoch,
            "stage": stage["name"],
            "stage_epoch": stage_epoch,
            "terms": terms,
            "weights": weights,
            "total": math.fsum(weights[name] * value for name, value in terms.items()),
            "validation": None,
            "seconds": time.perf_counter() - started,
        }

    def _plan(self, student, features, labels, teacher, stages, batch_size, validation, restore_best):
        """Check every argument of ``fit`` and return the training plan."""
        if not isinstance(student, Network):
            raise TypeError(f"fit: student must be a Network, got {type(student).__name__}")
        if not isinstance(features, Tensor):
            raise TypeError(f"fit: features must be a Tensor or a Dataset, got {type(features).__name__}")
        if features.shape[1] != student.sizes[0]:
            raise ValueError(
                f"fit: features have shape {features.shape} but the student expects "
                f"{student.sizes[0]} input features"
            )
        _check_int(batch_size, "batch_size", "fit")
        if labels is not None:
            labels = losses.check_labels(
                labels, len(features), student.sizes[-1], "fit", context="student's output state"
            )
        if restore_best and validation is None:
            raise ValueError("fit: restore_best=True needs a validation set to pick the best epoch")

        all_matches = [match for stage in stages for match in stage.matches]
        if all_matches:
            _check_teacher(teacher, student)
        stage_plans = []
        first_epoch = 1
        for stage in stages:
            stage_plans.append(_stage_plan(stage, teacher, student, labels, first_epoch))
            first_epoch += stage.epochs

        teacher_upto = max((s["teacher_upto"] for s in stage_plans if s["teacher_upto"] is not None), default=None)
        first = stage_plans[0]
        return {
            "epochs": first_epoch - 1,
            "batch_size": batch_size,
            "steps_per_epoch": -(-len(features) // batch_size),
            "rows": len(features),
            "stages": stage_plans,
            "labels": labels,
            "teacher_upto": teacher_upto,
            "validation": validation is not None,
            "restore_best": bool(restore_best),
            # The first stage's terms, as a single-stage fit reports them.
            "weights": {term["name"]: term["schedule"](1) for term in first["terms"]},
            "matches": first["matches"],
            "student_upto": first["student_upto"],
        }

    def _train_step(self, student, stage, weights, x, y, teacher_states, epoch, step):
        """Run one forward, backward and optimizer step; return each term's value."""
        student_states = student.states(x, upto=stage["student_upto"])
        for adapter in stage["adapters"]:
            adapter.zero_grad()

        # Each term adds weight * dL/dstate at the student state it reads.
        terms = {}
        grads = {}
        for term in stage["terms"]:
            weight = weights[term["name"]]
            if term["kind"] == "task":
                value, grad = losses.cross_entropy(student_states[-1], y)
                grad = grad * weight
            else:
                value, grad = term["match"].compute(teacher_states, student_states, weight)
            terms[term["name"]] = value
            index = term["student_state"]
            grads[index] = grad if index not in grads else grads[index] + grad

        for name, value in terms.items():
            if not math.isfinite(value):
                raise TrainingDiverged(
                    f"fit: loss term {name!r} is {value!r} at epoch {epoch}, step {step}; "
                    "the model keeps its weights from before this step. Try a lower learning rate."
                )

        # Update the student layers this stage trains, then the adapters.
        student.zero_grad()
        student.backward(grads)
        trained = student.layers[:stage["student_upto"]] + stage["adapters"]
        parameters = [p for layer in trained for p in layer.parameters()]
        gradients = [g for layer in trained for g in layer.gradients()]
        saved = _copy_values(parameters)
        saved_optimizer = self.optimizer.state_dict()
        self.optimizer.step(parameters, gradients)
        if not _all_finite(parameters):
            _restore_values(parameters, saved)
            self.optimizer.load_state_dict(saved_optimizer)
            raise TrainingDiverged(
                f"fit: a parameter became NaN or infinite at epoch {epoch}, step {step} "
                f"(loss terms {terms}); the model keeps its weights from before this step. "
                "Try a lower learning rate."
            )
        return terms


def _stage_list(stages, matches, epochs, task_weight, labels):
    """Return the stages to run: ``stages`` itself, or one stage built from the other arguments."""
    if stages is None:
        epochs = 10 if epochs is None else _check_int(epochs, "epochs", "fit")
        matches = list(matches)
        for index, match in enumerate(matches):
            if not isinstance(match, LayerMatch):
                raise TypeError(f"fit: matches[{index}] must be a LayerMatch, got {type(match).__name__}")
        if labels is None:
            task = None
        else:
            task = as_schedule(1.0 if task_weight is None else task_weight, "task_weight", "fit")
        if task is None and not matches:
            raise ValueError("fit: nothing to train; pass labels, matches or both")
        return [Stage("train", epochs, matches, task_weight=task)]

    if epochs is not None or task_weight is not None or list(matches):
        raise ValueError("fit: pass either stages, or matches, epochs and task_weight, not both")
    stages = list(stages)
    if not stages:
        raise ValueError("fit: stages must list at least one Stage, got none")
    for index, stage in enumerate(stages):
        if not isinstance(stage, Stage):
            raise TypeError(f"fit: stages[{index}] must be a Stage, got {type(stage).__name__}")
        if stage.task_weight is not None and labels is None:
            raise ValueError(f"fit: stage {stage.name!r} has a task_weight but no labels were given")
    return stages


def _check_teacher(teacher, student):
    if not isinstance(teacher, Network):
        raise TypeError(f"fit: matches need a teacher Network, got {type(teacher).__name__}")
    if teacher.sizes[0] != student.sizes[0]:
        raise ValueError(
            f"fit: the teacher takes {teacher.sizes[0]} input features but the "
            f"student takes {student.sizes[0]}; they must read the same inputs"
        )


def _stage_plan(stage, teacher, student, labels, first_epoch):
    """Check a stage's matches against the networks and describe its terms."""
    terms = []
    if stage.task_weight is not None:
        terms.append({
            "name": "task", "kind": "task", "schedule": stage.task_weight,
            "weight": stage.task_weight.describe(), "student_state": student.depth,
            "teacher_state": None, "describe": f"cross-entropy: student state {student.depth} vs labels",
            "match": None,
        })
    for match in stage.matches:
        match.check(teacher, student)
        teacher_state, student_state = match.states(teacher, student)
        terms.append({
            "name": match.name, "kind": "kd" if isinstance(match, LogitMatch) else "hint",
            "schedule": match.schedule, "weight": match.schedule.describe(),
            "student_state": student_state, "teacher_state": teacher_state,
            "describe": match.describe(), "match": match,
        })
    names = [term["name"] for term in terms]
    if len(set(names)) != len(names):
        raise ValueError(f"fit: stage {stage.name!r} has two terms with the same name: {names}")

    # Evaluate every weight of the stage now, so that a schedule that returns
    # an invalid weight at a late epoch fails before any training.
    for term in terms:
        for stage_epoch in range(1, stage.epochs + 1):
            term["schedule"](stage_epoch)

    # The student runs, and trains, only up to the highest state a term reads.
    student_upto = max(term["student_state"] for term in terms)
    teacher_states = [term["teacher_state"] for term in terms if term["teacher_state"] is not None]
    adapters = [match.adapter for match in stage.matches if match.adapter is not None]
    return {
        "name": stage.name,
        "epochs": stage.epochs,
        "first_epoch": first_epoch,
        "terms": terms,
        "matches": list(stage.matches),
        "adapters": adapters,
        "student_upto": student_upto,
        "teacher_upto": max(teacher_states) if teacher_states else None,
    }


def _validation_pair(validation, student):
    """Return validation data as a checked (features, labels) pair, or None."""
    if validation is None:
        return None
    if isinstance(validation, Dataset):
        features, labels = validation.features, validation.labels
    elif isinstance(validation, tuple) and len(validation) == 2 and isinstance(validation[0], Tensor):
        features, labels = validation
    else:
        raise TypeError("fit: validation must be a Dataset or a (features Tensor, labels) pair")
    if features.shape[1] != student.sizes[0]:
        raise ValueError(
            f"fit: validation features have shape {features.shape} but the student "
            f"expects {student.sizes[0]} input features"
        )
    return features, losses.check_labels(
        labels, len(features), student.sizes[-1], "fit validation", context="student's output state"
    )
