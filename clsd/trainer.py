"""Cross-layer state distillation: matches, the trainer and its history.

A ``LayerMatch`` pairs a teacher state with a student state. Training adds
one hint loss per match, weight * loss(student state j, teacher state k),
to an optional task loss on the labels, and backpropagates all of them
through the student in one pass. The teacher is frozen: its parameters are
never given to the optimizer.

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
"""

import math
import time

from . import losses
from .layer import Layer
from .network import Network
from .optim import Optimizer, SGD, get_optimizer
from .tensor import Tensor, make_rng
from .datasets import Dataset, batches
from .svg import history_chart


class TrainingDiverged(ArithmeticError):
    """A loss or a parameter became NaN or infinite during ``fit``.

    The message names the epoch, the step and the loss term. The model is
    left at the weights it had before the step that failed.
    """


def _check_number(value, name, where, above=None, minimum=None):
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{where}: {name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{where}: {name} must be finite, got {value!r}")
    if above is not None and not value > above:
        raise ValueError(f"{where}: {name} must be above {above}, got {value!r}")
    if minimum is not None and not value >= minimum:
        raise ValueError(f"{where}: {name} must be at least {minimum}, got {value!r}")
    return float(value)


def _check_int(value, name, where, minimum=1):
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{where}: {name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{where}: {name} must be at least {minimum}, got {value!r}")
    return value


class LayerMatch:
    """Pair teacher state ``teacher_state`` with student state ``student_state``.

    State numbering is ``Network.states``: 0 is the input and k the output of
    layer k. ``loss`` is a state-loss name from ``losses.STATE_LOSSES``
    ("mse" by default) and ``weight`` scales it in the total loss.
    """

    def __init__(self, teacher_state, student_state, weight=1.0, loss="mse"):
        self.teacher_state = _check_int(teacher_state, "teacher_state", "LayerMatch", minimum=0)
        self.student_state = _check_int(student_state, "student_state", "LayerMatch", minimum=0)
        self.weight = _check_number(weight, "weight", "LayerMatch", minimum=0.0)
        self.loss_name = loss if isinstance(loss, str) else getattr(loss, "__name__", "custom")
        self.loss = losses.get_state_loss(loss)

    @property
    def name(self):
        """The term's name in the history, such as "hint t3->s1"."""
        return f"hint t{self.teacher_state}->s{self.student_state}"

    def __repr__(self):
        return (
            f"LayerMatch(teacher_state={self.teacher_state}, student_state={self.student_state}, "
            f"weight={self.weight!r}, loss={self.loss_name!r})"
        )

    def check(self, teacher, student):
        """Raise unless both states exist and have the same width."""
        teacher.check_state_index(self.teacher_state, "LayerMatch teacher_state")
        student.check_state_index(self.student_state, "LayerMatch student_state")
        teacher_width = teacher.sizes[self.teacher_state]
        student_width = student.sizes[self.student_state]
        if teacher_width != student_width:
            raise ValueError(
                f"LayerMatch: teacher state {self.teacher_state} has width {teacher_width} but "
                f"student state {self.student_state} has width {student_width}; matched "
                "states must have equal widths"
            )

    def compute(self, teacher_states, student_states):
        """Return the ``Loss`` of the student state against the teacher state."""
        return self.loss(student_states[self.student_state], teacher_states[self.teacher_state])


class History(list):
    """The per-epoch records that ``fit`` returns, as a list of dicts.

    Each record has ``epoch`` (from 1), ``terms`` (each loss term's mean
    over the epoch's batches), ``weights`` (each term's weight), ``total``
    (the sum of weight * term), ``validation`` (a dict with ``loss`` and
    ``accuracy``, or None) and ``seconds``.
    """

    def series(self, name):
        """Return one term's values over the epochs, or ``total``'s."""
        if name == "total":
            return [record["total"] for record in self]
        return [record["terms"].get(name) for record in self]

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


class CLSDTrainer:
    """Train a student to reproduce a frozen teacher's states.

    ``optimizer`` is None (plain SGD at ``learning_rate``, no momentum, no
    weight decay), a name ("sgd" or "adam") or an ``Optimizer`` instance,
    whose own learning rate is then used.

    ``compute_loss`` and ``distill_step`` work on a single ``Layer``;
    ``fit`` trains a whole ``Network`` with any number of ``LayerMatch``
    terms and an optional task loss.
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
        epochs=10,
        batch_size=32,
        task_weight=1.0,
        validation=None,
        callbacks=(),
        seed=None,
    ):
        """Train ``student`` for ``epochs`` passes over ``features``.

        Args:
            student: the ``Network`` to train.
            features: a ``Tensor`` of inputs, one row per sample, or a
                ``Dataset`` (then ``labels`` come from it).
            labels: class indices for a cross-entropy task loss on the
                student's output, or None to train on the matches alone.
            teacher: the frozen ``Network`` whose states the matches read.
            matches: ``LayerMatch`` objects; each adds a weighted hint term.
            epochs, batch_size: passes over the data and rows per step.
            task_weight: weight of the task loss.
            validation: a ``Dataset`` or (features, labels) evaluated after
                each epoch.
            callbacks: functions called with each epoch's record, or objects
                with any of ``on_fit_start(plan)``, ``on_batch_end(info)``,
                ``on_epoch_end(record)`` and ``on_fit_end(history)``.
            seed: int or ``random.Random`` for the batch order.

        Returns a ``History``. Raises ``TrainingDiverged`` when a loss or a
        parameter stops being finite, with the model left at the weights
        before that step.
        """
        if isinstance(features, Dataset):
            if labels is not None:
                raise ValueError("fit: pass labels either in the Dataset or as labels, not both")
            features, labels = features.features, features.labels
        plan = self._plan(student, features, labels, teacher, matches, epochs, batch_size, task_weight)
        validation = _validation_pair(validation, student)
        rng = make_rng(seed)
        history = History()
        callbacks = list(callbacks)
        _call(callbacks, "on_fit_start", plan)

        for epoch in range(1, epochs + 1):
            started = time.perf_counter()
            sums = dict.fromkeys(plan["weights"], 0.0)
            steps = 0
            for x, y in batches(features, labels, batch_size, seed=rng):
                steps += 1
                terms = self._train_step(student, teacher, x, y, plan, epoch, steps)
                for name, value in terms.items():
                    sums[name] += value
                _call(callbacks, "on_batch_end", {"epoch": epoch, "step": steps, "steps": plan["steps_per_epoch"], "terms": terms})

            terms = {name: total / steps for name, total in sums.items()}
            record = {
                "epoch": epoch,
                "terms": terms,
                "weights": dict(plan["weights"]),
                "total": math.fsum(plan["weights"][name] * value for name, value in terms.items()),
                "validation": evaluate(student, *validation) if validation else None,
                "seconds": time.perf_counter() - started,
            }
            history.append(record)
            _call(callbacks, "on_epoch_end", record)

        _call(callbacks, "on_fit_end", history)
        return history

    def _plan(self, student, features, labels, teacher, matches, epochs, batch_size, task_weight):
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
        _check_int(epochs, "epochs", "fit")
        _check_int(batch_size, "batch_size", "fit")
        task_weight = _check_number(task_weight, "task_weight", "fit", minimum=0.0)
        if labels is not None:
            labels = losses.check_labels(labels, len(features), student.sizes[-1], "fit")

        matches = list(matches)
        for index, match in enumerate(matches):
            if not isinstance(match, LayerMatch):
                raise TypeError(f"fit: matches[{index}] must be a LayerMatch, got {type(match).__name__}")
        if matches:
            if not isinstance(teacher, Network):
                raise TypeError(f"fit: matches need a teacher Network, got {type(teacher).__name__}")
            if teacher.sizes[0] != student.sizes[0]:
                raise ValueError(
                    f"fit: the teacher takes {teacher.sizes[0]} input features but the "
                    f"student takes {student.sizes[0]}; they must read the same inputs"
                )
            for match in matches:
                match.check(teacher, student)
        names = [match.name for match in matches]
        if len(set(names)) != len(names):
            raise ValueError(f"fit: two matches pair the same states: {names}")

        weights = {}
        if labels is not None:
            weights["task"] = task_weight
        for match in matches:
            weights[match.name] = match.weight
        if not weights:
            raise ValueError("fit: nothing to train; pass labels, matches or both")

        student_upto = student.depth if labels is not None else max(m.student_state for m in matches)
        teacher_upto = max((m.teacher_state for m in matches), default=0)
        return {
            "epochs": epochs,
            "batch_size": batch_size,
            "steps_per_epoch": -(-len(features) // batch_size),
            "weights": weights,
            "matches": matches,
            "labels": labels,
            "student_upto": student_upto,
            "teacher_upto": teacher_upto,
        }

    def _train_step(self, student, teacher, x, y, plan, epoch, step):
        """Run one forward, backward and optimizer step; return each term's value."""
        weights = plan["weights"]
        student_states = student.states(x, upto=plan["student_upto"])
        teacher_states = teacher.states(x, upto=plan["teacher_upto"]) if plan["matches"] else None

        # Each term adds weight * dL/dstate at the state it reads.
        terms = {}
        grads = {}
        if y is not None:
            terms["task"], grad = losses.cross_entropy(student_states[-1], y)
            grads[len(student_states) - 1] = grad * weights["task"]
        for match in plan["matches"]:
            terms[match.name], grad = match.compute(teacher_states, student_states)
            grad = grad * weights[match.name]
            index = match.student_state
            grads[index] = grad if index not in grads else grads[index] + grad

        for name, value in terms.items():
            if not math.isfinite(value):
                raise TrainingDiverged(
                    f"fit: loss term {name!r} is {value!r} at epoch {epoch}, step {step}; "
                    "the model keeps its weights from before this step. Try a lower learning rate."
                )

        student.zero_grad()
        student.backward(grads)
        parameters = student.parameters()
        saved = [list(p.data) for p in parameters]
        saved_optimizer = self.optimizer.state_dict()
        self.optimizer.step(parameters, student.gradients())
        if not _all_finite(parameters):
            for p, rows in zip(parameters, saved):
                p.data[:] = rows
            self.optimizer.load_state_dict(saved_optimizer)
            raise TrainingDiverged(
                f"fit: a parameter became NaN or infinite at epoch {epoch}, step {step} "
                f"(loss terms {terms}); the model keeps its weights from before this step. "
                "Try a lower learning rate."
            )
        return terms


def _validation_pair(validation, student):
    if validation is None:
        return None
    if isinstance(validation, Dataset):
        return validation.features, validation.labels
    if isinstance(validation, tuple) and len(validation) == 2 and isinstance(validation[0], Tensor):
        features, labels = validation
        if features.shape[1] != student.sizes[0]:
            raise ValueError(
                f"fit: validation features have shape {features.shape} but the student "
                f"expects {student.sizes[0]} input features"
            )
        return features, losses.check_labels(labels, len(features), student.sizes[-1], "fit validation")
    raise TypeError("fit: validation must be a Dataset or a (features Tensor, labels) pair")
