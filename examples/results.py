"""Measure the distillation methods on digits and iris; print the tables of docs/results.md.

    python3 examples/results.py                 # every section, 5 seeds
    python3 examples/results.py --only iris     # one section
    python3 examples/results.py --seeds 2       # fewer seeds, for a quick look

Sections: ``digits`` (the full training split), ``digits-scarce`` (20
labelled rows per class), ``iris``, ``iris-scarce`` (5 labelled rows per
class), ``fitnets`` (a deep, thin sigmoid
student) and ``blocks`` (block replacement on the digits teacher). Each
teacher is trained once, with seed 0; the seeds vary the student's initial
weights, its adapters and the batch order. Accuracies are on the held-out
test split after the last epoch (no epoch is picked on the test split).
The whole run takes about 4 minutes on one core of a shared machine.
"""

import argparse
import math
import sys
import time

from common import accuracy, load_split, train_teacher

from clsd import CLSDTrainer, LayerMatch, LogitMatch, Network, Stage
from clsd.blocks import block_scores, compression_report, replace_block
from clsd.pairing import build_matches, uniform_pairs
from clsd.stages import fitnets_joint, fitnets_stages
from clsd.schedules import LinearRamp

TEMPERATURE = 4.0
SOFT_WEIGHT = 0.9  # KD only: 0.9 * soft targets + 0.1 * labels

SETTINGS = {
    "digits": {
        "data": "digits", "per_class": None, "teacher": [64, 32, 32, 32, 32, 10], "teacher_epochs": 8,
        "student": [64, 16, 16, 10], "activation": "tanh", "epochs": 10, "learning_rate": 0.01,
    },
    "digits-scarce": {
        "data": "digits", "per_class": 20, "teacher": [64, 32, 32, 32, 32, 10], "teacher_epochs": 8,
        "student": [64, 16, 16, 10], "activation": "tanh", "epochs": 30, "learning_rate": 0.01,
    },
    "iris": {
        "data": "iris", "per_class": None, "teacher": [4, 16, 16, 16, 16, 3], "teacher_epochs": 100,
        "student": [4, 4, 4, 3], "activation": "tanh", "epochs": 60, "learning_rate": 0.01,
    },
    "iris-scarce": {
        "data": "iris", "per_class": 5, "teacher": [4, 16, 16, 16, 16, 3], "teacher_epochs": 100,
        "student": [4, 4, 4, 3], "activation": "tanh", "epochs": 60, "learning_rate": 0.01,
    },
    "fitnets": {
        "data": "digits", "per_class": None, "teacher": [64, 32, 32, 32, 32, 10], "teacher_epochs": 8,
        "student": [64, 8, 8, 8, 8, 8, 8, 10], "activation": "sigmoid", "epochs": 20, "learning_rate": 0.01,
        # FitNets guides the student's middle state from the teacher's middle state.
        "guided": (2, 3),
    },
}

METHODS = ["scratch", "KD only", "hints (mse, adapter)", "two-stage FitNets", "joint FitNets", "relation"]
FITNETS_METHODS = ["scratch", "two-stage FitNets", "joint FitNets"]


def log(message, quiet):
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def mean_std(values):
    """Return the mean and the sample standard deviation (0 for one value)."""
    mean = math.fsum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))


def format_cell(values):
    mean, std = mean_std(values)
    return f"{mean:.4f} ± {std:.4f}"


def student_run(method, setting, train, test, teacher, seed):
    """Train one student with ``method`` and return its test accuracy."""
    student = Network.mlp(setting["student"], activation=setting["activation"], seed=seed)
    trainer = CLSDTrainer(optimizer="adam", learning_rate=setting["learning_rate"])
    epochs = setting["epochs"]
    options = {"batch_size": 32, "seed": seed}
    pairs = uniform_pairs(teacher, student)
    guided = setting.get("guided", pairs[-1])

    if method == "scratch":
        trainer.fit(student, train, epochs=epochs, **options)
    elif method == "KD only":
        trainer.fit(student, train, teacher=teacher, matches=[LogitMatch(TEMPERATURE, SOFT_WEIGHT)],
                    task_weight=1.0 - SOFT_WEIGHT, epochs=epochs, **options)
    elif method == "hints (mse, adapter)":
        matches = build_matches(pairs, teacher, student, loss="mse", seed=seed)
        trainer.fit(student, train, teacher=teacher, matches=matches, epochs=epochs, **options)
    elif method == "relation":
        matches = build_matches(pairs, teacher, student, loss="relation", seed=seed)
        trainer.fit(student, train, teacher=teacher, matches=matches, epochs=epochs, **options)
    elif method == "two-stage FitNets":
        hint = LayerMatch.between(teacher, student, *guided, adapter="identity", seed=seed)
        stages = fitnets_stages(hint, hint_epochs=epochs // 2, kd_epochs=epochs - epochs // 2, temperature=TEMPERATURE)
        trainer.fit(student, train, teacher=teacher, stages=stages, **options)
    elif method == "joint FitNets":
        hint = LayerMatch.between(teacher, student, *guided, adapter="identity", seed=seed)
        stages = fitnets_joint(hint, epochs=epochs, temperature=TEMPERATURE)
        trainer.fit(student, train, teacher=teacher, stages=stages, **options)
    else:
        raise ValueError(f"unknown method {method!r}")
    return accuracy(student, test)


def describe_method(method, setting, teacher):
    """Return one line that describes what the method trains, for the table's notes."""
    student = Network.mlp(setting["student"], activation=setting["activation"], seed=0)
    pairs = uniform_pairs(teacher, student)
    hints = ", ".join(f"t{t}->s{s}" for t, s in pairs)
    guided = "t{}->s{}".format(*setting.get("guided", pairs[-1]))
    epochs = setting["epochs"]
    return {
        "scratch": f"labels only, {epochs} epochs",
        "KD only": f"{1 - SOFT_WEIGHT:.1f} * labels + {SOFT_WEIGHT} * KD (T={TEMPERATURE:g}), {epochs} epochs",
        "hints (mse, adapter)": f"labels + mse hints {hints} (linear adapters where widths differ), {epochs} epochs",
        "two-stage FitNets": (
            f"hint {guided} with adapter for {epochs // 2} epochs, then labels + "
            f"KD (T={TEMPERATURE:g}, weight 4 -> 1) for {epochs - epochs // 2}"
        ),
        "joint FitNets": f"labels + hint {guided} + KD (T={TEMPERATURE:g}, weight 1), {epochs} epochs",
        "relation": f"labels + relation hints {hints} (no adapters), {epochs} epochs",
    }[method]


def run_setting(name, seeds, quiet):
    setting = SETTINGS[name]
    started = time.perf_counter()
    train, test = load_split(setting["data"])
    if setting["per_class"]:
        train = train.per_class(setting["per_class"], seed=0)
    teacher_train, _ = load_split(setting["data"])
    teacher = train_teacher(teacher_train, setting["teacher"], epochs=setting["teacher_epochs"])
    teacher_accuracy = accuracy(teacher, test)
    log(f"[{name}] teacher {teacher_accuracy:.4f}", quiet)

    methods = FITNETS_METHODS if name == "fitnets" else METHODS
    rows = []
    for method in methods:
        values = [student_run(method, setting, train, test, teacher, seed) for seed in range(seeds)]
        log(f"[{name}] {method}: {format_cell(values)}", quiet)
        rows.append((method, values))

    command = f"python3 examples/results.py --only {name} --seeds {seeds}"
    lines = [
        f"### {name}",
        "",
        f"Teacher {setting['teacher']} tanh, {setting['teacher_epochs']} epochs of Adam on all "
        f"{len(teacher_train)} training rows: test accuracy {teacher_accuracy:.4f}. "
        f"Student {setting['student']} {setting['activation']}, trained on {len(train)} rows with "
        f"Adam (learning rate {setting['learning_rate']}), batch size 32; test split of {len(test)} rows.",
        "",
        f"| method | test accuracy (mean ± std, {seeds} seeds) | what it trains |",
        "|---|---|---|",
    ]
    for method, values in rows:
        lines.append(f"| {method} | {format_cell(values)} | {describe_method(method, setting, teacher)} |")
    lines += ["", f"Command: `{command}` ({time.perf_counter() - started:.0f} s).", ""]
    return "\n".join(lines)


def run_blocks(seeds, quiet):
    started = time.perf_counter()
    setting = SETTINGS["digits"]
    train, test = load_split("digits")
    teacher = train_teacher(train, setting["teacher"], epochs=setting["teacher_epochs"])
    scores = block_scores(teacher, train.features.rows(range(300)), min_length=2)
    log(f"[blocks] scores {[(round(s, 4), a, b) for s, a, b in scores]}", quiet)

    lines = [
        "### blocks",
        "",
        f"Teacher {setting['teacher']} tanh as in the digits section, test accuracy "
        f"{accuracy(teacher, test):.4f}, {teacher.depth} layers, {teacher.parameter_count()} parameters. "
        "Each block of at least 2 layers whose end state has its start state's width is scored by "
        "1 - mean cosine between the two states on 300 training rows; the lowest score comes first and is "
        "the suggested block. Each block is replaced by one new tanh layer trained for 10 epochs on the MSE "
        "to the block's end state (Adam, learning rate 0.01). Then the compressed network is fine-tuned "
        "for 3 epochs on the labels.",
        "",
        "| block (states) | score | accuracy before fine-tuning | after 3 epochs | layers removed | parameters removed |",
        "|---|---|---|---|---|---|",
    ]
    for score, start, end in scores:
        reports = []
        for seed in range(seeds):
            replacement = replace_block(teacher, start, end, train.features, epochs=10, learning_rate=0.01, seed=seed)
            reports.append(compression_report(teacher, replacement, train, test, finetune_epochs=3, seed=seed))
        after = format_cell([r["after_finetune_accuracy"] for r in reports])
        log(f"[blocks] {start} -> {end}: after fine-tuning {after}", quiet)
        report = reports[0]
        share = report["parameters_removed"] / report["teacher_parameters"]
        lines.append(
            f"| {start} -> {end} | {score:.3f} | {format_cell([r['before_finetune_accuracy'] for r in reports])} | "
            f"{after} | {report['layers_removed']} | {report['parameters_removed']} ({share:.1%}) |"
        )
    lines += [
        "",
        f"Accuracies are mean ± std over {seeds} seeds of the new layer and the batch order.",
        "",
        f"Command: `python3 examples/results.py --only blocks --seeds {seeds}` ({time.perf_counter() - started:.0f} s).",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=list(SETTINGS) + ["blocks"], help="run one section (default: all)")
    parser.add_argument("--seeds", type=int, default=5, help="student seeds per method (default: 5)")
    parser.add_argument("--quiet", action="store_true", help="print only the tables, no progress on stderr")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1, got {args.seeds}")

    sections = [args.only] if args.only else list(SETTINGS) + ["blocks"]
    started = time.perf_counter()
    for name in sections:
        text = run_blocks(args.seeds, args.quiet) if name == "blocks" else run_setting(name, args.seeds, args.quiet)
        print(text, flush=True)
    log(f"total: {time.perf_counter() - started:.0f} s", args.quiet)


if __name__ == "__main__":
    main()
