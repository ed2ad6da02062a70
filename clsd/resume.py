"""Save a training run every N epochs and resume it, to the last bit.

``CLSDTrainer.fit(..., checkpoint="run.json", checkpoint_every=N)`` saves a
JSON checkpoint every N epochs and after the last one. Besides the
student's weights it stores everything the rest of the run depends on. That
is the number of epochs done, the random generator's state (it draws the
batch order), the optimizer's state (momentum buffers, Adam moments and step
count), the adapters' weights, the history so far, and the best epoch's
weights for ``restore_best``.

A later ``fit(..., checkpoint="run.json", resume=True)`` with the same
student architecture, data, teacher, matches, stages and seed loads all of
it and continues with the next epoch. It ends with weights identical, to
the last bit, to those of a run that was never interrupted. When the file
does not exist yet, ``resume=True`` starts from epoch 1, so one command can
both start and continue a run.

>>> import os, tempfile
>>> from clsd import CLSDTrainer, Network, Tensor
>>> x, labels = Tensor.uniform(6, 3, seed=0), [0, 1, 0, 1, 1, 0]
>>> path = os.path.join(tempfile.mkdtemp(), "run.json")
>>> def crash_after_epoch_2(record):
...     if record["epoch"] == 2:
...         raise KeyboardInterrupt
>>> try:
...     CLSDTrainer(0.1).fit(Network.mlp([3, 2], seed=1), x, labels, epochs=4, seed=5,
...                          checkpoint=path, callbacks=[crash_after_epoch_2])
... except KeyboardInterrupt:
...     pass
>>> resumed = Network.mlp([3, 2], seed=1)
>>> history = CLSDTrainer(0.1).fit(resumed, x, labels, epochs=4, seed=5, checkpoint=path, resume=True)
>>> whole = Network.mlp([3, 2], seed=1)
>>> _ = CLSDTrainer(0.1).fit(whole, x, labels, epochs=4, seed=5)
>>> resumed.parameters() == whole.parameters(), len(history)
(True, 4)

A checkpoint that does not match the run, or whose training state is
malformed, raises ``CheckpointError`` before anything is changed.
"""

import math
import os
import random

from . import checkpoint as checkpoints
from .errors import CheckpointError

FIT_STATE = "clsd.fit"


def check_arguments(checkpoint, checkpoint_every, resume):
    """Check ``fit``'s checkpoint arguments; return the path as a str, or None."""
    if not isinstance(checkpoint_every, int) or isinstance(checkpoint_every, bool):
        raise TypeError(f"fit: checkpoint_every must be an int, got {checkpoint_every!r}")
    if checkpoint_every < 1:
        raise ValueError(f"fit: checkpoint_every must be at least 1, got {checkpoint_every!r}")
    if not isinstance(resume, bool):
        raise TypeError(f"fit: resume must be True or False, got {resume!r}")
    if checkpoint is None:
        if resume:
            raise ValueError("fit: resume=True needs checkpoint=PATH, the file to resume from")
        return None
    if not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(f"fit: checkpoint must be a path, got {type(checkpoint).__name__}")
    path = os.fspath(checkpoint)
    if not path.lower().endswith(".json"):
        raise ValueError(
            f"fit: checkpoint must name a .json file, because safetensors stores no training state; got {path!r}"
        )
    return path


def _signature(plan, student):
    """Return what must be the same for a resumed run to continue the saved one."""
    return {
        "sizes": student.sizes,
        "epochs": plan["epochs"],
        "batch_size": plan["batch_size"],
        "rows": plan["rows"],
        "stages": [[stage["name"], stage["epochs"]] for stage in plan["stages"]],
    }


def _adapters(plan):
    """Return every adapter of every stage, each once, in order."""
    found = []
    for stage in plan["stages"]:
        for adapter in stage["adapters"]:
            if not any(adapter is seen for seen in found):
                found.append(adapter)
    return found


def _values(tensors):
    return [[row[:] for row in tensor.data] for tensor in tensors]


def save(path, plan, student, optimizer, rng, history, epoch, best):
    """Write the student and the run's state after ``epoch`` to ``path``, crash-safely.

    ``best`` is (best accuracy or None, (epoch, parameter values) or None).
    """
    version, internal, gauss_next = rng.getstate()
    best_accuracy, best_weights = best
    state = {
        "kind": FIT_STATE,
        "epoch": epoch,
        "signature": _signature(plan, student),
        "rng": [version, list(internal), gauss_next],
        "optimizer": optimizer.state_dict(),
        "adapters": [_values(adapter.parameters()) for adapter in _adapters(plan)],
        "history": list(history),
        "best_accuracy": best_accuracy,
        "best_weights": None if best_weights is None else [best_weights[0], best_weights[1]],
    }
    checkpoints.save(student, path, training_state=state)


def _stage_parameters(plan, student, epoch):
    """Return the parameters that the optimizer stepped in the stage of ``epoch``, in order."""
    last_epoch = 0
    for stage in plan["stages"]:
        last_epoch += stage["epochs"]
        if epoch <= last_epoch:
            break
    trained = student.layers[:stage["student_upto"]] + stage["adapters"]
    return [p for layer in trained for p in layer.parameters()]


def _check_optimizer_state(saved, optimizer, parameters, source):
    """Check a saved optimizer state against this run's optimizer and parameters."""
    name = type(optimizer).__name__
    if not isinstance(saved, dict) or saved.get("name") != optimizer.name:
        _fail(source, f"optimizer must be the state of a {name} ({optimizer.name!r}), got {saved!r:.60}")
    settings = saved.get("settings")
    if settings != optimizer.settings():
        _fail(source, f"optimizer settings {settings!r} differ from this run's {optimizer.settings()!r}; "
                      "resume with the same optimizer settings")
    slots = saved.get("state")
    if not isinstance(slots, list) or len(slots) > len(parameters):
        _fail(source, f"optimizer state must list at most {len(parameters)} parameter states, got {slots!r:.60}")
    expected_keys = set(optimizer._new_state(parameters[0]) if parameters else ())
    for index, (slot, parameter) in enumerate(zip(slots, parameters)):
        if not isinstance(slot, dict) or set(slot) != expected_keys:
            _fail(source, f"optimizer state[{index}] must have the keys {sorted(expected_keys)}, got {slot!r:.60}")
        for key, value in slot.items():
            if value is not None:
                _check_matrices([value], [parameter], f"optimizer state[{index}][{key!r}]", source)
    if optimizer.name == "adam":
        steps = saved.get("steps")
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
            _fail(source, f"optimizer steps must be an int of at least 0, got {steps!r:.40}")


def _fail(source, message):
    raise CheckpointError(f"{source}: {message}")


def _check_matrices(values, tensors, name, source):
    """Check that ``values`` lists one matrix of finite floats per tensor, of the same shapes."""
    if not isinstance(values, list) or len(values) != len(tensors):
        _fail(source, f"{name} must list {len(tensors)} matrices, got {values!r:.60}")
    for index, (rows, tensor) in enumerate(zip(values, tensors)):
        shape = tensor.shape
        if not (isinstance(rows, list) and len(rows) == shape[0]
                and all(isinstance(row, list) and len(row) == shape[1] for row in rows)):
            _fail(source, f"{name}[{index}] must have shape {shape}")
        for row in rows:
            for value in row:
                if not isinstance(value, float) or not math.isfinite(value):
                    _fail(source, f"{name}[{index}] contains {value!r:.40}; expected finite floats")


def _checked_state(state, plan, student, optimizer, source):
    """Check a saved training state against this run; return (epoch, rng state, best)."""
    if not isinstance(state, dict) or state.get("kind") != FIT_STATE:
        _fail(source, "no training state from fit(checkpoint=...); it contains weights only, so start "
                      "a new run or load the weights with clsd.load_into")
    signature = _signature(plan, student)
    saved = state.get("signature")
    if not isinstance(saved, dict):
        _fail(source, f"signature must be an object, got {saved!r:.60}")
    for key, value in signature.items():
        if saved.get(key) != value:
            _fail(source, f"the checkpoint was written for {key} {saved.get(key)!r} but this fit has "
                          f"{key} {value!r}; resume with the same arguments")

    epoch = state.get("epoch")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or not 1 <= epoch <= plan["epochs"]:
        _fail(source, f"epoch must be an int from 1 to {plan['epochs']}, got {epoch!r}")

    rng_state = state.get("rng")
    try:
        version, internal, gauss_next = rng_state
        rng_state = (version, tuple(internal), gauss_next)
        random.Random().setstate(rng_state)
    except (TypeError, ValueError, OverflowError):
        _fail(source, "rng is not a random.Random state")

    _check_optimizer_state(state.get("optimizer"), optimizer, _stage_parameters(plan, student, epoch), source)

    adapters = _adapters(plan)
    saved_adapters = state.get("adapters")
    if not isinstance(saved_adapters, list) or len(saved_adapters) != len(adapters):
        _fail(source, f"adapters must list {len(adapters)} adapters, got {saved_adapters!r:.60}")
    for index, (values, adapter) in enumerate(zip(saved_adapters, adapters)):
        _check_matrices(values, adapter.parameters(), f"adapters[{index}]", source)

    history = state.get("history")
    if not isinstance(history, list) or len(history) != epoch or not all(isinstance(r, dict) for r in history):
        _fail(source, f"history must list {epoch} epoch records")

    best_accuracy, best_weights = state.get("best_accuracy"), state.get("best_weights")
    if best_accuracy is not None and not isinstance(best_accuracy, (int, float)):
        _fail(source, f"best_accuracy must be a number or null, got {best_accuracy!r:.40}")
    if best_weights is not None:
        if not (isinstance(best_weights, list) and len(best_weights) == 2 and isinstance(best_weights[0], int)):
            _fail(source, "best_weights must be [epoch, parameter values] or null")
        _check_matrices(best_weights[1], student.parameters(), "best_weights", source)
        best_weights = (best_weights[0], best_weights[1])
    return epoch, rng_state, (best_accuracy, best_weights)


def restore(path, plan, student, optimizer, rng, history):
    """Load the run saved at ``path`` into the student, optimizer, rng and history.

    Returns (the last epoch done, best) with best as in ``save``; (0, (None,
    None)) and no change when ``path`` does not exist. Everything is checked
    before anything is changed, so a ``CheckpointError`` leaves the student,
    the optimizer, the adapters, the rng and the history as they were.
    """
    if not os.path.exists(path):
        return 0, (None, None)
    saved = checkpoints.read(path)
    checkpoints.check_fits(student, saved)
    epoch, rng_state, best = _checked_state(saved.training_state, plan, student, optimizer, saved.source)
    state = saved.training_state

    checkpoints.copy_into(student, saved)
    rng.setstate(rng_state)
    optimizer.load_state_dict(state["optimizer"])
    for values, adapter in zip(state["adapters"], _adapters(plan)):
        for tensor, rows in zip(adapter.parameters(), values):
            tensor.data[:] = [row[:] for row in rows]
    history.extend(state["history"])
    return epoch, best
