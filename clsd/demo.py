"""The main job: distill a deep teacher's state into a shallow student on digits.

For each seed the demo

1. splits the bundled handwritten digits (1797 rows) into a stratified
   training set of 1438 rows and a test set of 359, and standardizes both
   with the training statistics;
2. trains a deep teacher, 64-32-32-32-16-10 with four tanh hidden layers,
   on every training label;
3. trains the same shallow, narrower student, 64-16-10 with one tanh hidden
   layer, twice on a label-scarce version of the training set (a few
   labelled rows per class):

   - scratch: cross-entropy on the labelled rows only;
   - clsd: first the hint stage, in which student state 1 learns to
     reproduce teacher state 4 (the teacher's deepest hidden state, also 16
     wide) on all 1438 training inputs without their labels, then the same
     cross-entropy training as scratch.

Both students start from the same initial weights and get the same
cross-entropy epochs; the clsd student also gets the hint epochs. A third
row, ``scratch+``, gives the scratch student as many extra cross-entropy
steps as the hint stage had, so that the comparison does not rest on
optimizer steps alone. The table reports test accuracy (mean and standard
deviation over seeds), the hint MSE of each student before and after
training, and the wall time.

Run it as ``python run_demo.py`` or ``python -m clsd demo``; ``--help`` lists
the options.
"""

import argparse
import json
import math
import os
import random
import statistics
import sys
import time
from collections import Counter

from . import losses
from .atomic import atomic_write
from .datasets import Standardizer, load_digits, train_test_split
from .layer import Layer
from .network import Network
from .tensor import Tensor
from .trainer import CLSDTrainer, LayerMatch, evaluate

TEACHER_SIZES = [64, 32, 32, 32, 16, 10]
STUDENT_SIZES = [64, 16, 10]
TEACHER_STATE = 4
STUDENT_STATE = 1

FULL = {
    "seeds": 3,
    "labels_per_class": 5,
    "teacher_epochs": 6,
    "hint_epochs": 4,
    "task_epochs": 60,
    "task_batch_size": 10,
}
QUICK = {
    "seeds": 2,
    "labels_per_class": 5,
    "teacher_epochs": 2,
    "hint_epochs": 2,
    "task_epochs": 20,
    "task_batch_size": 10,
}


class EpochPrinter:
    """Print one line per epoch: the stage, the epoch and every loss term."""

    def __init__(self, label, out, every=1):
        self.label = label
        self.out = out
        self.every = every

    def on_epoch_end(self, record):
        if self.out is None:
            return
        epoch = record["epoch"]
        if epoch % self.every and epoch != self.total:
            return
        terms = "  ".join(f"{name} {value:.4f}" for name, value in record["terms"].items())
        accuracy = ""
        if record["validation"]:
            accuracy = f"  test accuracy {record['validation']['accuracy']:.3f}"
        print(f"  {self.label} epoch {epoch:3d}/{self.total}  {terms}{accuracy}", file=self.out)

    def on_fit_start(self, plan):
        self.total = plan["epochs"]


def prepare_data(seed, labels_per_class):
    """Return (train, test, labelled) data sets, standardized with training statistics."""
    train, test = train_test_split(load_digits(), test_fraction=0.2, seed=seed)
    scaler = Standardizer().fit(train.features)
    train, test = scaler.transform_dataset(train), scaler.transform_dataset(test)
    labelled = train if labels_per_class is None else train.per_class(labels_per_class, seed=seed)
    return train, test, labelled


def hint_mse(teacher, student, features):
    """Return the MSE between teacher state 4 and student state 1 on ``features``."""
    teacher_state = teacher.states(features, upto=TEACHER_STATE)[-1]
    student_state = student.states(features, upto=STUDENT_STATE)[-1]
    return losses.mse(student_state, teacher_state).value


def copy_network(network):
    """Return a network with the same sizes, activations and weights."""
    layers = []
    for old in network.layers:
        layer = Layer(old.in_features, old.out_features, activation=old.activation.name, seed=0)
        layer.weight = old.weight
        layer.bias = old.bias
        layers.append(layer)
    return Network(layers)


def run_seed(seed, settings, out):
    """Train the teacher and the three students for one seed; return their figures."""
    started = time.perf_counter()
    train, test, labelled = prepare_data(seed, settings["labels_per_class"])
    rng = random.Random(seed)
    printer_every = max(1, settings["task_epochs"] // 4)

    # Teacher: every training label.
    teacher = Network.mlp(TEACHER_SIZES, activation="tanh", seed=rng.getrandbits(32))
    CLSDTrainer(learning_rate=0.005, optimizer="adam").fit(
        teacher, train, epochs=settings["teacher_epochs"], batch_size=32,
        validation=test, seed=rng.getrandbits(32),
        callbacks=[EpochPrinter(f"seed {seed} teacher", out)],
    )
    results = {"teacher": evaluate(teacher, test.features, test.labels)}

    initial = Network.mlp(STUDENT_SIZES, activation="tanh", seed=rng.getrandbits(32))
    hint_before = hint_mse(teacher, initial, test.features)
    task_seed = rng.getrandbits(32)
    hint_steps = settings["hint_epochs"] * math.ceil(len(train) / 32)
    task_steps_per_epoch = math.ceil(len(labelled) / settings["task_batch_size"])
    extra_epochs = math.ceil(hint_steps / task_steps_per_epoch)

    def task_stage(student, epochs, label):
        CLSDTrainer(learning_rate=0.005, optimizer="adam").fit(
            student, labelled, epochs=epochs, batch_size=settings["task_batch_size"],
            validation=test, seed=task_seed,
            callbacks=[EpochPrinter(label, out, every=printer_every)],
        )

    # Scratch student: the labelled rows only.
    scratch = copy_network(initial)
    task_stage(scratch, settings["task_epochs"], f"seed {seed} scratch")

    # Scratch+ student: as many extra task steps as the clsd student's hint steps.
    scratch_plus = copy_network(initial)
    task_stage(scratch_plus, settings["task_epochs"] + extra_epochs, f"seed {seed} scratch+")

    # CLSD student: hint stage on all training inputs without labels, then the task.
    clsd = copy_network(initial)
    CLSDTrainer(learning_rate=0.005, optimizer="adam").fit(
        clsd, train.features, teacher=teacher,
        matches=[LayerMatch(teacher_state=TEACHER_STATE, student_state=STUDENT_STATE)],
        epochs=settings["hint_epochs"], batch_size=32, seed=rng.getrandbits(32),
        callbacks=[EpochPrinter(f"seed {seed} clsd hint", out)],
    )
    hint_after_hint_stage = hint_mse(teacher, clsd, test.features)
    task_stage(clsd, settings["task_epochs"], f"seed {seed} clsd")

    for name, student in (("scratch", scratch), ("scratch+", scratch_plus), ("clsd", clsd)):
        results[name] = evaluate(student, test.features, test.labels)
        results[name]["hint_mse_before"] = hint_before
        results[name]["hint_mse_after"] = hint_mse(teacher, student, test.features)
    results["seconds"] = time.perf_counter() - started
    results["extra_epochs"] = extra_epochs
    results["clsd"]["hint_mse_after_hint_stage"] = hint_after_hint_stage
    return results


def _mean_std(values):
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, std


def summarize(per_seed, settings, seeds, seconds):
    """Collect the per-seed figures into the result dict that ``--json`` writes."""
    def stats(name, key):
        mean, std = _mean_std([result[name][key] for result in per_seed])
        return {"mean": mean, "std": std}

    students = {}
    for name in ("scratch", "scratch+", "clsd"):
        students[name] = {
            "test_accuracy": stats(name, "accuracy")["mean"],
            "test_accuracy_std": stats(name, "accuracy")["std"],
            "test_loss": stats(name, "loss")["mean"],
            "hint_mse_before": stats(name, "hint_mse_before")["mean"],
            "hint_mse_after": stats(name, "hint_mse_after")["mean"],
            "per_seed_accuracy": [result[name]["accuracy"] for result in per_seed],
        }
    return {
        "dataset": "digits",
        "seeds": seeds,
        "settings": dict(settings),
        "teacher": {
            "sizes": TEACHER_SIZES,
            "test_accuracy": stats("teacher", "accuracy")["mean"],
            "test_accuracy_std": stats("teacher", "accuracy")["std"],
            "per_seed_accuracy": [result["teacher"]["accuracy"] for result in per_seed],
        },
        "student_sizes": STUDENT_SIZES,
        "match": {"teacher_state": TEACHER_STATE, "student_state": STUDENT_STATE},
        "students": students,
        "extra_epochs_for_scratch_plus": per_seed[0]["extra_epochs"],
        "clsd_hint_mse_after_hint_stage": stats("clsd", "hint_mse_after_hint_stage")["mean"],
        "seconds": seconds,
        "seconds_per_seed": [result["seconds"] for result in per_seed],
        "python": sys.version.split()[0],
    }


def format_table(summary):
    """Return the final results table as text."""
    settings = summary["settings"]
    per_class = settings["labels_per_class"]
    labels = "every training label" if per_class is None else f"{per_class} labelled rows per class"
    lines = [
        f"digits, {len(summary['seeds'])} seeds {summary['seeds']}, {labels} for the students",
        f"teacher {TEACHER_SIZES}, student {STUDENT_SIZES}, hint: teacher state "
        f"{TEACHER_STATE} -> student state {STUDENT_STATE}",
        "",
        f"{'model':<10} {'test accuracy':>20} {'hint MSE before':>16} {'hint MSE after':>15}",
    ]
    teacher = summary["teacher"]
    lines.append(
        f"{'teacher':<10} {teacher['test_accuracy']:>12.3f} ± {teacher['test_accuracy_std']:.3f} "
        f"{'-':>16} {'-':>15}"
    )
    for name, student in summary["students"].items():
        lines.append(
            f"{name:<10} {student['test_accuracy']:>12.3f} ± {student['test_accuracy_std']:.3f} "
            f"{student['hint_mse_before']:>16.4f} {student['hint_mse_after']:>15.4f}"
        )
    clsd = summary["students"]["clsd"]["test_accuracy"]
    scratch = summary["students"]["scratch"]["test_accuracy"]
    scratch_plus = summary["students"]["scratch+"]["test_accuracy"]
    gain = clsd - max(scratch, scratch_plus)
    verdict = "helped" if gain > 0 else "did not help"
    lines += [
        "",
        f"CLSD {verdict} here: {gain:+.3f} test accuracy against the better scratch student.",
        f"The clsd student's hint MSE was {summary['clsd_hint_mse_after_hint_stage']:.4f} right after "
        "the hint stage; the task epochs moved it to the value above.",
        f"scratch+ had {summary['extra_epochs_for_scratch_plus']} extra task epochs, "
        "as many steps as the hint stage.",
        f"wall time {summary['seconds']:.1f} s (Python {summary['python']})",
    ]
    return "\n".join(lines)


def run_synthetic(out):
    """Reproduce the single-vector demo: a 5 -> 5 student copies a teacher's state.

    Returns a dict of the figures; ``success`` is True when the student's
    state matches the teacher's within 1e-3.
    """
    started = time.perf_counter()
    rng = random.Random(0)
    student = Layer(5, 5, seed=1)
    teacher = Layer(5, 5, seed=2)
    trainer = CLSDTrainer(learning_rate=1.0)
    data = Tensor([[rng.random() for _ in range(5)]])
    teacher_state = teacher.forward(data)
    losses_every_50 = []
    for step in range(1, 201):
        loss = trainer.distill_step(student, data, teacher_state)
        if step % 50 == 0:
            losses_every_50.append(loss)
            print(f"step {step:3d}  distillation loss {loss:.3e}", file=out)
    gap = max(abs(a - b) for a, b in zip(student.forward(data).data[0], teacher_state.data[0]))
    success = gap < 1e-3
    if success:
        print(f"Success: the student's state matches the teacher's (largest difference {gap:.1e}).", file=out)
    else:
        print(f"The student's state is still {gap:.3e} away from the teacher's.", file=out)
    return {
        "dataset": "synthetic",
        "steps": 200,
        "losses_at_steps_50_100_150_200": losses_every_50,
        "largest_state_difference": gap,
        "success": success,
        "seconds": time.perf_counter() - started,
    }


def build_parser():
    parser = argparse.ArgumentParser(
        prog="run_demo.py",
        description="Distill a deep teacher's state into a shallow student on the bundled digits.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="a smaller run (2 seeds, fewer epochs) for CI, about 4 s")
    parser.add_argument("--seeds", type=int, metavar="N",
                        help="number of seeds, 0 to N-1 (default: 3, or 2 with --quick)")
    parser.add_argument("--labels-per-class", type=int, metavar="N",
                        help="labelled training rows per class for the students "
                             "(default: 5; 0 means every training label)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument("--synthetic", action="store_true",
                        help="run the single-vector demo (5 -> 5 layer, 200 steps) instead")
    parser.add_argument("--quiet", action="store_true", help="print only the final table")
    return parser


class UsageError(ValueError):
    """A demo option that cannot work, reported in one line with exit status 2."""


def check_json_path(path):
    """Raise ``UsageError`` unless ``path`` can be written, before any training runs."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"--json {path!r} is a folder; give a file name such as results.json")
    if not os.path.isdir(folder):
        raise UsageError(f"--json {path!r}: the folder {folder!r} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"--json {path!r}: the folder {folder!r} is not writable")


def settings_from(args):
    """Return the run settings for parsed ``args``, or raise ``UsageError``."""
    settings = dict(QUICK if args.quick else FULL)
    if args.seeds is not None:
        if args.seeds < 1:
            raise UsageError(f"--seeds must be at least 1, got {args.seeds}")
        settings["seeds"] = args.seeds
    if args.labels_per_class is not None:
        if args.labels_per_class < 0:
            raise UsageError(f"--labels-per-class must be at least 0, got {args.labels_per_class}")
        settings["labels_per_class"] = args.labels_per_class or None
    per_class = settings["labels_per_class"]
    if per_class is not None:
        smallest = min(
            min(Counter(train_test_split(load_digits(), test_fraction=0.2, seed=seed)[0].labels).values())
            for seed in range(settings["seeds"])
        )
        if per_class > smallest:
            raise UsageError(
                f"--labels-per-class {per_class} is more than the {smallest} training rows of the "
                f"smallest class; use at most {smallest}, or 0 for every training label"
            )
    return settings


def main(argv=None):
    """Run the demo with command-line ``argv``; return the exit status."""
    args = build_parser().parse_args(argv)
    out = sys.stdout
    try:
        if args.json:
            check_json_path(args.json)
        settings = None if args.synthetic else settings_from(args)
    except UsageError as error:
        print(f"run_demo.py: error: {error}", file=sys.stderr)
        return 2

    if args.synthetic:
        summary = run_synthetic(out)
    else:
        seeds = list(range(settings["seeds"]))
        started = time.perf_counter()
        per_seed = []
        for seed in seeds:
            per_seed.append(run_seed(seed, settings, None if args.quiet else out))
        summary = summarize(per_seed, settings, seeds, time.perf_counter() - started)
        print(format_table(summary), file=out)

    if args.json:
        atomic_write(args.json, json.dumps(summary, indent=2) + "\n")
    if args.synthetic and not summary["success"]:
        return 1
    return 0
