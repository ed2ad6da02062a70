"""The ``clsd`` command line: demo, train, distill, evaluate and inspect.

    clsd demo --quick
    clsd train --data digits --hidden 32,32,16 --epochs 20 --out teacher.json
    clsd distill --teacher teacher.json --hidden 16 --match 3:1 --out student.json
    clsd evaluate student.json
    clsd inspect teacher.json student.json --plot cka.svg

``python -m clsd`` runs the same program. Every subcommand but ``demo``
takes ``--config FILE``: a JSON object whose keys are option names
(``"learning_rate"`` or ``"learning-rate"``), used for every option that the
command line does not give.

Standardization travels with the model. ``train`` fits a ``Standardizer``
on the training split and saves its mean and standard deviation in the
checkpoint's training state, under ``"standardizer"``, next to the data
source and the split (``"data"``). ``evaluate``, ``inspect`` and ``distill``
apply those statistics to the raw features before the model sees them, and
``distill`` gives the student the teacher's statistics, because the
teacher's states were learnt on inputs scaled that way.

Exit status: 0 on success, 1 when training diverged, 2 for a usage error
(a bad option value, a missing or invalid file), reported on one line with
no traceback.
"""

import argparse
import json
import math
import os
import sys

from . import checkpoint, cka, datasets, losses, pairing
from .activations import ACTIVATIONS
from .matches import LayerMatch, LogitMatch, needs_equal_widths
from .network import Network
from .optim import OPTIMIZERS
from .pairing import STRATEGIES
from .progress import ProgressBar
from .svg import heatmap, history_chart, write_svg
from .trainer import CLSDTrainer, History, TrainingDiverged, evaluate

BUILTIN_DATA = {"digits": datasets.load_digits, "iris": datasets.load_iris}
CHECKPOINT_SUFFIXES = checkpoint.EXTENSIONS


class UsageError(Exception):
    """A mistake in the command line, a config file or an input file.

    ``main`` prints the message on one line and exits with status 2.
    """


class _Parser(argparse.ArgumentParser):
    """An argument parser that reports errors as ``UsageError`` instead of exiting."""

    def error(self, message):
        raise UsageError(f"{message}; run '{self.prog} --help' for the options")


# ---- option types --------------------------------------------------------------


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _float_in(low, high=math.inf, low_open=False, high_open=True):
    """Return an option type that accepts a float in the given interval."""

    def convert(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        too_low = value <= low if low_open else value < low
        too_high = value >= high if high_open else value > high
        if not math.isfinite(value) or too_low or too_high:
            left = "(" if low_open else "["
            right = ")" if high_open else "]"
            raise argparse.ArgumentTypeError(f"expected a number in {left}{low:g}, {high:g}{right}, got {text!r}")
        return value

    return convert


_positive_float = _float_in(0.0, low_open=True)
_non_negative_float = _float_in(0.0)
_fraction = _float_in(0.0, 1.0, low_open=True, high_open=True)


def _widths(text):
    """Parse hidden-layer widths such as ``32,16``; an empty string means none."""
    if not str(text).strip():
        return []
    try:
        widths = [int(part) for part in str(text).split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected widths separated by commas such as 32,16, got {text!r}") from None
    if any(width < 1 for width in widths):
        raise argparse.ArgumentTypeError(f"every width must be at least 1, got {text!r}")
    return widths


def _match(text):
    """Parse ``T:S`` or ``T:S:WEIGHT`` into (teacher state, student state, weight or None).

    A strategy name from ``pairing.STRATEGIES`` is returned as it is.
    """
    if text in STRATEGIES:
        return text
    parts = str(text).split(":")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        teacher_state, student_state = int(parts[0]), int(parts[1])
        weight = float(parts[2]) if len(parts) == 3 else None
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected TEACHER_STATE:STUDENT_STATE such as 3:1, 3:1:0.5 with a weight, or a strategy "
            f"({', '.join(STRATEGIES)}), got {text!r}"
        ) from None
    if teacher_state < 0 or student_state < 0 or (weight is not None and not (math.isfinite(weight) and weight >= 0)):
        raise argparse.ArgumentTypeError(f"states and weights must be at least 0, got {text!r}")
    return (teacher_state, student_state, weight)


# ---- the parser -------------------------------------------------------------------


class _Options:
    """The options of one subcommand and their defaults, kept outside argparse.

    Every option is declared with ``default=argparse.SUPPRESS``, so that the
    parsed namespace holds only what the command line gave. ``merge`` then
    fills the rest from the config file and from these defaults, in that
    order, which is what lets the command line override the config file.
    """

    def __init__(self, parser):
        self.parser = parser
        self.defaults = {}
        self.actions = {}

    def add(self, *flags, default=None, shown=None, help, **kwargs):
        if shown is None and default is not None and kwargs.get("action") != "store_true":
            shown = ",".join(map(str, default)) if isinstance(default, list) else default
        if shown is not None:
            help = f"{help} (default: {shown})"
        action = self.parser.add_argument(*flags, default=argparse.SUPPRESS, help=help, **kwargs)
        self.defaults[action.dest] = default if kwargs.get("action") != "store_true" else False
        self.actions[action.dest] = action
        return action


def _add_data_options(options, data_default="digits", split_defaults=True):
    shown = None if data_default else "the data recorded in the checkpoint"
    options.add("--data", metavar="NAME_OR_CSV", default=data_default, shown=shown,
                help="the data set: 'digits' (1797 8x8 images, 10 classes), 'iris' "
                     "(150 flowers, 3 classes) or the path of a CSV file of numeric features and a label column")
    options.add("--label-column", type=int, metavar="INDEX", default=-1,
                help="for a CSV file, the 0-based index of the label column; negative counts from the end")
    options.add("--header", action="store_true", help="for a CSV file, skip its first line (column names)")
    if split_defaults:
        options.add("--test-fraction", type=_fraction, metavar="FRACTION", default=0.2,
                    help="share of each class held out as the test split, between 0 and 1")
        options.add("--split-seed", type=int, metavar="INT", default=0,
                    help="seed of the stratified train/test split")


def _add_training_options(options, epochs, learning_rate):
    options.add("--epochs", type=_positive_int, metavar="N", default=epochs,
                help="passes over the training split")
    options.add("--batch-size", type=_positive_int, metavar="ROWS", default=32,
                help="rows per optimizer step")
    options.add("--learning-rate", type=_positive_float, metavar="RATE", default=learning_rate,
                help="step size of the optimizer")
    options.add("--optimizer", choices=sorted(OPTIMIZERS), default="adam",
                help="the optimizer: 'sgd' (plain, no momentum) or 'adam'")
    options.add("--activation", choices=sorted(ACTIVATIONS), default="tanh",
                help="activation of the hidden layers; the output layer is linear (logits)")
    options.add("--seed", type=int, metavar="INT", default=0,
                help="seed of the initial weights and the batch order")


def _add_output_options(options, plot_help):
    options.add("--out", metavar="PATH", default=None,
                help="where to save the JSON checkpoint, which also keeps the standardization statistics, "
                     "the data split and the history (required)")
    options.add("--export", metavar="PATH", default=None,
                help="also write the weights to PATH as .safetensors, for PyTorch; it holds no "
                     "standardization statistics, so feed it inputs standardized as the JSON checkpoint records")
    options.add("--plot", metavar="PATH", default=None, help=plot_help)
    options.add("--quiet", action="store_true", help="show no progress bar and no summary")


def _add_config_option(options):
    options.parser.add_argument(
        "--config", metavar="FILE", default=argparse.SUPPRESS,
        help="a JSON object of option values (keys are option names, such as \"epochs\" or "
             "\"learning_rate\"); options on the command line override it",
    )


def build_parser():
    """Return the top-level parser and a dict subcommand -> ``_Options``."""
    parser = _Parser(
        prog="clsd",
        description="Cross-Layer State Distillation in pure Python: train a teacher, distill a "
                    "student from it, evaluate and inspect checkpoints.",
        epilog="Run 'clsd COMMAND --help' for a command's options. Exit status: 0 on success, "
               "1 when training diverged, 2 for a usage error.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    registry = {}

    commands.add_parser(
        "demo", add_help=False,
        help="run the main demo: a deep teacher's state distilled into a shallow student on digits "
             "(options: --quick, --json PATH, --synthetic, --seeds N, --quiet; see 'clsd demo --help')",
    )

    train = commands.add_parser(
        "train", help="train a network on labelled data and save it",
        description="Train a multilayer perceptron on a data set with cross-entropy and save it. "
                    "The features are standardized with the training split's statistics, which "
                    "are saved with the model.",
    )
    options = registry["train"] = _Options(train)
    _add_data_options(options)
    options.add("--hidden", type=_widths, metavar="WIDTHS", default=[32, 32, 16],
                help="widths of the hidden layers, separated by commas; input and output widths come from the data")
    _add_training_options(options, epochs=20, learning_rate=0.005)
    _add_output_options(options, "write an SVG chart of the loss terms and the test accuracy per epoch to PATH")
    _add_config_option(options)

    distill = commands.add_parser(
        "distill", help="train a student from a saved teacher's states and save it",
        description="Train a student network to reproduce a saved teacher's states (hints), then "
                    "on the labels. The student reads the same standardized inputs as the teacher.",
    )
    options = registry["distill"] = _Options(distill)
    options.add("--teacher", metavar="PATH", default=None, help="the teacher checkpoint (required)")
    _add_data_options(options, data_default=None, split_defaults=False)
    options.add("--test-fraction", type=_fraction, metavar="FRACTION", default=None,
                shown="the teacher's", help="share of each class held out as the test split")
    options.add("--split-seed", type=int, metavar="INT", default=None,
                shown="the teacher's", help="seed of the stratified train/test split")
    options.add("--hidden", type=_widths, metavar="WIDTHS", default=[16],
                help="widths of the student's hidden layers, separated by commas")
    options.add("--match", type=_match, action="append", metavar="T:S[:W]|STRATEGY", default=None,
                help="train student state S toward teacher state T, with weight W (default --hint-weight); "
                     "state 0 is the input and k the output of layer k; repeat for several matches. Or a "
                     "strategy: 'uniform' (student hidden states spread evenly over the teacher's), 'last' "
                     "(last hidden states) or 'suggest' (pairs ranked by linear CKA on the training inputs). "
                     "Required unless --kd-weight is above 0")
    options.add("--hint-loss", default="mse",
                help="the state loss of every match, a name from clsd.losses.STATE_LOSSES")
    options.add("--hint-weight", type=_non_negative_float, metavar="WEIGHT", default=1.0,
                help="weight of each match without its own weight")
    options.add("--adapter", metavar="ACTIVATION", default="identity",
                help="when matched states differ in width, train an adapter layer from the student "
                     "width to the teacher width with this activation ('identity' for linear, or "
                     "another activation name); 'none' requires equal widths")
    options.add("--kd-weight", type=_non_negative_float, metavar="WEIGHT", default=0.0,
                help="weight of Hinton's soft-target loss between the logits in the task stage; 0 turns it off")
    options.add("--temperature", type=_positive_float, metavar="T", default=4.0,
                help="softmax temperature of the soft-target loss")
    options.add("--schedule", choices=["staged", "joint"], default="staged",
                help="'staged': --hint-epochs of hints alone on every training input, then --epochs "
                     "of the task loss; 'joint': --epochs of hints and task loss together")
    options.add("--hint-epochs", type=_positive_int, metavar="N", default=5,
                help="epochs of the hint stage when --schedule is staged")
    options.add("--task-weight", type=_non_negative_float, metavar="WEIGHT", default=1.0,
                help="weight of the cross-entropy on the labels")
    options.add("--labels-per-class", type=_positive_int, metavar="N", default=None,
                shown="all labels", help="use the labels of only N training rows per class for the task "
                "loss, as in a label-scarce setting; the hints still see every training input")
    _add_training_options(options, epochs=20, learning_rate=0.005)
    _add_output_options(options, "write an SVG chart of the loss terms per epoch, over all stages, to PATH")
    _add_config_option(options)

    check = commands.add_parser(
        "evaluate", help="report the accuracy and loss of a checkpoint on a data set",
        description="Report the accuracy and mean cross-entropy of a saved network. By default it "
                    "uses the test split of the data the network was trained on.",
    )
    check.add_argument("model", metavar="MODEL", help="the checkpoint to evaluate (.json or .safetensors)")
    options = registry["evaluate"] = _Options(check)
    _add_data_options(options, data_default=None, split_defaults=False)
    options.add("--split", choices=["test", "train", "all"], default="test",
                help="which rows to use: the test or training split recorded with the model, or all rows")
    options.add("--json", action="store_true", help="print the result as a JSON object")
    _add_config_option(options)

    inspect = commands.add_parser(
        "inspect", help="show a checkpoint's architecture, or the CKA matrix between two checkpoints",
        description="Show the layers, widths, activations and parameter counts of a checkpoint and "
                    "what it was trained on. Given a second checkpoint, compute the linear CKA "
                    "similarity between every state of the first and every state of the second on "
                    "the first model's test split.",
    )
    inspect.add_argument("model", metavar="MODEL", help="the checkpoint to describe")
    inspect.add_argument("other", metavar="OTHER", nargs="?", default=None,
                         help="a second checkpoint, for the CKA matrix between their states")
    options = registry["inspect"] = _Options(inspect)
    _add_data_options(options, data_default=None, split_defaults=False)
    options.add("--split", choices=["test", "train", "all"], default="test",
                help="which rows the CKA matrix is computed on")
    options.add("--rows", type=_positive_int, metavar="N", default=300,
                help="at most this many rows for the CKA matrix, taken from the start of the split")
    options.add("--plot", metavar="PATH", default=None, help="write an SVG heat map of the CKA matrix to PATH")
    options.add("--json", action="store_true", help="print the description as a JSON object")
    _add_config_option(options)
    return parser, registry


# ---- config files and merging --------------------------------------------------


def _read_config(path, options, command):
    """Return the option values of a JSON config file, converted as the command line would."""
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except FileNotFoundError:
        raise UsageError(f"config file {path!r} not found; check the path given to --config") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read config file {path!r}: {error}") from None
    except json.JSONDecodeError as error:
        raise UsageError(f"config file {path!r} is not valid JSON: {error}") from None
    if not isinstance(config, dict):
        raise UsageError(f"config file {path!r} must hold a JSON object of option values, got {type(config).__name__}")

    values = {}
    for key, value in config.items():
        dest = str(key).lstrip("-").replace("-", "_")
        action = options.actions.get(dest)
        if action is None:
            valid = ", ".join(sorted(options.actions))
            raise UsageError(f"config file {path!r}: unknown option {key!r} for 'clsd {command}'; valid keys: {valid}")
        values[dest] = _convert_config_value(action, value, key, path)
    return values


def _convert_config_value(action, value, key, path):
    """Check one config value with the option's own type and choices."""
    where = f"config file {path!r}: {key!r}"
    if isinstance(action, argparse._StoreTrueAction):
        if not isinstance(value, bool):
            raise UsageError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(action, argparse._AppendAction):
        items = value if isinstance(value, list) else [value]
        return [_convert_one(action, item, where) for item in items]
    if action.dest == "hidden" and isinstance(value, list):
        value = ",".join(str(v) for v in value)
    return _convert_one(action, value, where)


def _convert_one(action, value, where):
    if isinstance(value, (dict, list)) or value is None:
        raise UsageError(f"{where} must be a single value, got {value!r}")
    text = str(value).lower() if isinstance(value, bool) else str(value)
    try:
        converted = action.type(text) if action.type else text
    except argparse.ArgumentTypeError as error:
        raise UsageError(f"{where}: {error}") from None
    except ValueError:
        raise UsageError(f"{where}: invalid value {value!r}") from None
    if action.choices is not None and converted not in action.choices:
        valid = ", ".join(map(str, action.choices))
        raise UsageError(f"{where}: invalid choice {value!r}; valid choices: {valid}")
    return converted


def merge(namespace, options, command):
    """Return the options as a dict: command line first, then config file, then defaults."""
    given = vars(namespace)
    config_path = given.pop("config", None)
    config = _read_config(config_path, options, command) if config_path else {}
    merged = dict(options.defaults)
    merged.update(config)
    merged.update({key: value for key, value in given.items() if key != "command"})
    return merged


# ---- data and checkpoints ------------------------------------------------------


def load_data(spec, label_column=-1, header=False):
    """Return a ``Dataset`` for a bundled name or a CSV path, raising ``UsageError``."""
    if spec in BUILTIN_DATA:
        return BUILTIN_DATA[spec]()
    if not os.path.exists(spec):
        raise UsageError(
            f"data file {spec!r} not found; pass --data digits, --data iris or the path of a CSV file"
        )
    try:
        return datasets.load_csv(spec, label_column=label_column, header=header)
    except (ValueError, OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot load data {spec!r}: {error}; fix the file or check --label-column and --header") from None


def _data_record(options, dataset):
    source = options["data"]
    if source not in BUILTIN_DATA:
        source = os.path.abspath(source)
    return {
        "source": source,
        "label_column": options["label_column"],
        "header": options["header"],
        "test_fraction": options["test_fraction"],
        "split_seed": options["split_seed"],
        "classes": list(dataset.classes),
        "features": dataset.features.shape[1],
    }


def split_data(dataset, test_fraction, split_seed):
    """Return the stratified (train, test) split, raising ``UsageError`` when it is impossible."""
    try:
        return datasets.train_test_split(dataset, test_fraction=float(test_fraction), seed=split_seed)
    except ValueError as error:
        raise UsageError(f"{error}; use more rows or another --test-fraction") from None


def standardizer_from(state):
    """Return the ``Standardizer`` saved in a checkpoint's training state, or None."""
    saved = (state or {}).get("standardizer")
    if not saved:
        return None
    scaler = datasets.Standardizer()
    scaler.mean, scaler.std = list(saved["mean"]), list(saved["std"])
    return scaler


def _check_output_path(path, option, suffixes=None):
    """Raise ``UsageError`` before any training when ``path`` cannot be written."""
    if path is None:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{option} {path!r}: folder {folder!r} does not exist; create it or pick another path")
    if suffixes and not path.endswith(suffixes):
        raise UsageError(f"{option} {path!r}: the file name must end in {' or '.join(suffixes)}")


def _check_outputs(options, example):
    """Check --out, --export and --plot before any training starts."""
    _require(options, "out", f"--out PATH, for example --out {example}")
    _check_output_path(options["out"], "--out", (".json",))
    _check_output_path(options["export"], "--export", (".safetensors",))
    _check_output_path(options["plot"], "--plot")


def save_model(network, options, training_state):
    """Save ``network`` with its training state to --out, and its weights to --export if given."""
    try:
        checkpoint.save(network, options["out"], training_state=training_state)
        if options["export"]:
            checkpoint.save(network, options["export"])
    except OSError as error:
        raise UsageError(f"cannot write the checkpoint: {error}") from None


def load_model(path, option="MODEL"):
    """Return (network, training state dict) from a checkpoint, raising ``UsageError``.

    A .safetensors file has no training state, so the dict is empty.
    """
    if not os.path.exists(path):
        raise UsageError(f"{option} {path!r} not found; check the path, or create it with 'clsd train'")
    if not str(path).endswith(CHECKPOINT_SUFFIXES):
        raise UsageError(f"{option} {path!r}: a checkpoint's name must end in .json or .safetensors")
    try:
        network = checkpoint.load(path)
        state = checkpoint.read(path).training_state
    except (ValueError, OSError) as error:
        raise UsageError(f"cannot load {option} {path!r}: {error}") from None
    return network, dict(state or {})


def _model_data(state, options, path):
    """Return (dataset, train, test, standardizer) for a saved model and the data options."""
    record = state.get("data") or {}
    spec = options.get("data")
    if spec is None:
        if "source" not in record:
            raise UsageError(f"{path!r} does not record its training data; pass --data")
        spec = record["source"]
        label_column, header = record.get("label_column", -1), record.get("header", False)
    else:
        label_column, header = options["label_column"], options["header"]
    dataset = load_data(spec, label_column, header)
    test_fraction = options.get("test_fraction")
    if test_fraction is None:
        test_fraction = record.get("test_fraction", 0.2)
    split_seed = options.get("split_seed")
    if split_seed is None:
        split_seed = record.get("split_seed", 0)
    train, test = split_data(dataset, test_fraction, split_seed)
    options = dict(options, data=spec, label_column=label_column, header=header,
                   test_fraction=test_fraction, split_seed=split_seed)
    return dataset, train, test, standardizer_from(state), options


def _apply(scaler, dataset, network, where):
    if dataset.features.shape[1] != network.sizes[0]:
        raise UsageError(
            f"{where}: the data has {dataset.features.shape[1]} features but the model expects "
            f"{network.sizes[0]}; pass the data the model was trained on"
        )
    return scaler.transform_dataset(dataset) if scaler else dataset


# ---- commands -------------------------------------------------------------------


def _progress(options):
    return [] if options["quiet"] else [ProgressBar()]


def _say(options, text, out):
    if not options.get("quiet"):
        print(text, file=out)


def command_train(options, out):
    """Train a network with cross-entropy on the training split and save it."""
    _check_outputs(options, "model.json")

    dataset = load_data(options["data"], options["label_column"], options["header"])
    train, test = split_data(dataset, options["test_fraction"], options["split_seed"])
    scaler = datasets.Standardizer().fit(train.features)
    train, test = scaler.transform_dataset(train), scaler.transform_dataset(test)

    sizes = [dataset.features.shape[1]] + options["hidden"] + [len(dataset.classes)]
    network = Network.mlp(sizes, activation=options["activation"], seed=options["seed"])
    trainer = CLSDTrainer(learning_rate=options["learning_rate"], optimizer=options["optimizer"])
    history = trainer.fit(
        network, train, epochs=options["epochs"], batch_size=options["batch_size"],
        validation=test, seed=options["seed"], callbacks=_progress(options),
    )

    result = evaluate(network, test.features, test.labels)
    state = {
        "command": "train",
        "data": _data_record(options, dataset),
        "standardizer": {"mean": scaler.mean, "std": scaler.std},
        "options": _plain_options(options),
        "test": result,
        "history": _plain_history(history),
    }
    save_model(network, options, state)
    _write_plot(options["plot"], history_chart(history, title=f"Training on {_short(options['data'])}"))
    _say(options, f"saved {options['out']}: {_describe_sizes(network)}, test accuracy "
                  f"{result['accuracy']:.4f}, test loss {result['loss']:.4f} ({len(test)} rows)", out)
    return 0


def _build_matches(options, teacher, student, features):
    """Return the ``LayerMatch`` list from --match, --hint-loss, --hint-weight and --adapter.

    ``features`` are the standardized training inputs that the 'suggest'
    strategy computes CKA on (its first 300 rows).
    """
    if options["hint_loss"] not in losses.STATE_LOSSES:
        valid = ", ".join(sorted(losses.STATE_LOSSES))
        raise UsageError(f"--hint-loss {options['hint_loss']!r} is unknown; valid names: {valid}")
    adapter = options["adapter"]
    if adapter != "none" and adapter not in ACTIVATIONS:
        valid = ", ".join(["none"] + sorted(ACTIVATIONS))
        raise UsageError(f"--adapter {adapter!r} is unknown; valid values: {valid}")
    adapter = None if adapter == "none" else adapter
    loss_needs_equal_widths = needs_equal_widths(losses.get_state_loss(options["hint_loss"]))

    matches = []
    for spec in options["match"] or []:
        try:
            if isinstance(spec, str):
                shown = f"--match {spec}"
                sample = features.rows(range(min(300, len(features))))
                matches += pairing.map_states(spec, teacher, student, features=sample, loss=options["hint_loss"],
                                              weight=options["hint_weight"], adapter=adapter, seed=options["seed"])
                continue
            teacher_state, student_state, weight = spec
            shown = f"--match {teacher_state}:{student_state}"
            teacher.check_state_index(teacher_state, "teacher state")
            student.check_state_index(student_state, "student state")
            widths_differ = teacher.sizes[teacher_state] != student.sizes[student_state]
            if widths_differ and loss_needs_equal_widths and adapter is None:
                raise ValueError(
                    f"teacher state {teacher_state} is {teacher.sizes[teacher_state]} wide but student state "
                    f"{student_state} is {student.sizes[student_state]} wide; pass --adapter identity to learn "
                    "a linear map between them, or pick states of equal width"
                )
            matches.append(LayerMatch.between(
                teacher, student, teacher_state, student_state,
                weight=options["hint_weight"] if weight is None else weight, loss=options["hint_loss"],
                adapter=adapter if widths_differ and loss_needs_equal_widths else None, seed=options["seed"],
            ))
        except (ValueError, IndexError, TypeError) as error:
            raise UsageError(
                f"{shown}: {error}; the teacher has states 0-{teacher.depth} of widths {teacher.sizes} "
                f"and the student states 0-{student.depth} of widths {student.sizes}"
            ) from None
    names = [match.name for match in matches]
    if len(set(names)) != len(names):
        raise UsageError(f"--match pairs the same states twice: {names}; list each pair once")
    return matches


def _kd_match(options):
    if options["kd_weight"] <= 0:
        return []
    return [LogitMatch(temperature=options["temperature"], weight=options["kd_weight"])]


def command_distill(options, out):
    """Train a student from a saved teacher's states, then on the labels, and save it."""
    _require(options, "teacher", "--teacher PATH, a checkpoint saved by 'clsd train'")
    _check_outputs(options, "student.json")
    if not options["match"] and options["kd_weight"] <= 0:
        raise UsageError("nothing to distill; pass --match T:S (for example --match 3:1) or --kd-weight above 0")

    teacher, teacher_state = load_model(options["teacher"], "--teacher")
    dataset, train, test, scaler, options = _model_data(teacher_state, options, options["teacher"])
    train = _apply(scaler, train, teacher, "--data")
    test = _apply(scaler, test, teacher, "--data")
    sizes = [teacher.sizes[0]] + options["hidden"] + [teacher.sizes[-1]]
    if len(dataset.classes) > teacher.sizes[-1]:
        raise UsageError(f"the data has {len(dataset.classes)} classes but the teacher outputs {teacher.sizes[-1]}")
    student = Network.mlp(sizes, activation=options["activation"], seed=options["seed"])
    matches = _build_matches(options, teacher, student, train.features)
    kd = _kd_match(options)
    labelled = train
    if options["labels_per_class"]:
        try:
            labelled = train.per_class(options["labels_per_class"], seed=options["seed"])
        except ValueError as error:
            raise UsageError(f"--labels-per-class: {error}") from None

    def stage(features, labels, stage_matches, epochs, task_weight):
        trainer = CLSDTrainer(learning_rate=options["learning_rate"], optimizer=options["optimizer"])
        return trainer.fit(
            student, features, labels, teacher=teacher, matches=stage_matches, epochs=epochs,
            batch_size=options["batch_size"], task_weight=task_weight, validation=test,
            seed=options["seed"], callbacks=_progress(options),
        )

    # Staged: hints alone on every training input, then the labels (and soft
    # targets). Joint: all terms at once, on the labelled rows.
    history = History()
    if options["schedule"] == "staged" and matches:
        hint_history = stage(train.features, None, matches, options["hint_epochs"], 1.0)
        history.extend(dict(record, stage="hints") for record in hint_history)
        task_history = stage(labelled.features, labelled.labels, kd, options["epochs"], options["task_weight"])
    else:
        task_history = stage(labelled.features, labelled.labels, matches + kd, options["epochs"], options["task_weight"])
    offset = len(history)
    for record in task_history:
        history.append(dict(record, epoch=record["epoch"] + offset, stage="task"))

    result = evaluate(student, test.features, test.labels)
    teacher_result = evaluate(teacher, test.features, test.labels)
    state = {
        "command": "distill",
        "data": _data_record(options, dataset),
        "standardizer": teacher_state.get("standardizer"),
        "teacher": os.path.abspath(options["teacher"]),
        "matches": [repr(match) for match in matches + kd],
        "options": _plain_options(options),
        "test": result,
        "history": _plain_history(history),
    }
    save_model(student, options, state)
    _write_plot(options["plot"], history_chart(history, title=f"Distilling into {_describe_sizes(student)}"))
    _say(options, f"saved {options['out']}: {_describe_sizes(student)}, test accuracy {result['accuracy']:.4f} "
                  f"(teacher {teacher_result['accuracy']:.4f}), test loss {result['loss']:.4f} ({len(test)} rows)", out)
    return 0


def _rows_of_split(options, path):
    network, state = load_model(path)
    dataset, train, test, scaler, options = _model_data(state, options, path)
    rows = {"test": test, "train": train, "all": dataset}[options["split"]]
    if scaler is None:
        print(f"note: {path} has no standardization statistics, so the features are used unscaled",
              file=sys.stderr)
    return network, state, _apply(scaler, rows, network, "--data"), options


def command_evaluate(options, out):
    """Print the accuracy and mean cross-entropy of a checkpoint on a split."""
    network, _, rows, options = _rows_of_split(options, options["model"])
    if len(rows.classes) > network.sizes[-1]:
        raise UsageError(f"the data has {len(rows.classes)} classes but the model outputs {network.sizes[-1]}")
    result = evaluate(network, rows.features, rows.labels)
    summary = {
        "model": options["model"],
        "data": _short(options["data"]),
        "split": options["split"],
        "rows": len(rows),
        "accuracy": result["accuracy"],
        "loss": result["loss"],
    }
    if options["json"]:
        print(json.dumps(summary), file=out)
    else:
        print(f"{options['model']}: accuracy {result['accuracy']:.4f}, loss {result['loss']:.4f} "
              f"on {summary['data']} ({options['split']} split, {len(rows)} rows)", file=out)
    return 0


def _describe_sizes(network):
    return "-".join(map(str, network.sizes))


def _layer_table(network):
    return [
        {
            "layer": index,
            "in_features": layer.in_features,
            "out_features": layer.out_features,
            "activation": layer.activation.name,
            "parameters": layer.in_features * layer.out_features + layer.out_features,
        }
        for index, layer in enumerate(network.layers, start=1)
    ]


def command_inspect(options, out):
    """Describe a checkpoint, and with a second one show the CKA matrix between their states."""
    network, state = load_model(options["model"])
    description = {
        "model": options["model"],
        "sizes": network.sizes,
        "parameters": network.parameter_count(),
        "layers": _layer_table(network),
        "trained_by": state.get("command"),
        "data": state.get("data"),
        "standardized": bool(state.get("standardizer")),
        "test": state.get("test"),
    }
    if options["other"] is not None:
        description["cka"] = _cka_description(options, network, state)

    if options["json"]:
        print(json.dumps(description), file=out)
        return 0
    print(f"{options['model']}: {_describe_sizes(network)}, {network.depth} layers, "
          f"{network.parameter_count()} parameters", file=out)
    print("  layer  in  out  activation  parameters", file=out)
    for row in description["layers"]:
        print(f"  {row['layer']:>5}  {row['in_features']:>3}  {row['out_features']:>3}  "
              f"{row['activation']:<10}  {row['parameters']:>10}", file=out)
    if description["data"]:
        data = description["data"]
        scaled = "standardized inputs" if description["standardized"] else "raw inputs"
        print(f"trained by 'clsd {state.get('command')}' on {_short(data.get('source', '?'))} "
              f"(test fraction {data.get('test_fraction')}, split seed {data.get('split_seed')}), {scaled}", file=out)
    if description["test"]:
        print(f"test accuracy {description['test']['accuracy']:.4f}, test loss {description['test']['loss']:.4f}", file=out)
    if "cka" in description:
        _print_cka(description["cka"], out)
    return 0


def _cka_description(options, network, state):
    """Return the linear CKA matrix between every state of two models, as a dict."""
    _check_output_path(options["plot"], "--plot")
    other, other_state = load_model(options["other"], "OTHER")
    dataset, train, test, _, merged = _model_data(state, options, options["model"])
    raw = {"test": test, "train": train, "all": dataset}[options["split"]]
    raw = raw.subset(range(min(options["rows"], len(raw))))
    first = _apply(standardizer_from(state), raw, network, "--data")
    second = _apply(standardizer_from(other_state), raw, other, "--data")
    # Each model reads the rows scaled by its own saved statistics.
    states = network.states(first.features)
    other_states = other.states(second.features)
    matrix = [[cka.linear_cka(x, y) for y in other_states] for x in states]
    if options["plot"]:
        picture = heatmap(
            matrix, row_labels=[f"{i} ({w})" for i, w in enumerate(network.sizes)],
            column_labels=[f"{j} ({w})" for j, w in enumerate(other.sizes)],
            title=f"Linear CKA on {len(raw)} rows of {_short(merged['data'])}",
            x_label=f"state (width) of {os.path.basename(options['other'])}",
            y_label=f"state (width) of {os.path.basename(options['model'])}", value_range=(0.0, 1.0),
        )
        _write_plot(options["plot"], picture)
    return {"other": options["other"], "rows": len(raw), "matrix": matrix}


def _print_cka(cka_result, out):
    matrix = cka_result["matrix"]
    print(f"linear CKA on {cka_result['rows']} rows: rows are the first model's states, columns {cka_result['other']}'s", file=out)
    print("       " + "".join(f"{j:>7}" for j in range(len(matrix[0]))), file=out)
    for i, row in enumerate(matrix):
        print(f"  {i:>3}  " + "".join(f"{value:7.3f}" for value in row), file=out)


# ---- helpers ----------------------------------------------------------------------


def _require(options, key, hint):
    if options.get(key) is None:
        raise UsageError(f"missing --{key.replace('_', '-')}; pass {hint}")


def _short(source):
    return source if source in BUILTIN_DATA else os.path.basename(str(source))


def _plain_options(options):
    return {key: value for key, value in options.items() if isinstance(value, (str, int, float, bool, list, type(None)))}


def _plain_history(history):
    return [
        {"epoch": r["epoch"], "stage": r.get("stage"), "terms": r["terms"], "total": r["total"],
         "validation": r["validation"]}
        for r in history
    ]


def _write_plot(path, svg_text):
    if path is None:
        return
    try:
        write_svg(svg_text, path)
    except OSError as error:
        raise UsageError(f"cannot write --plot {path!r}: {error.strerror or error}") from None


COMMANDS = {
    "train": command_train,
    "distill": command_distill,
    "evaluate": command_evaluate,
    "inspect": command_inspect,
}


def main(argv=None):
    """Run the command line with ``argv`` (``sys.argv[1:]`` when None); return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "demo":
        from . import demo

        return demo.main(argv[1:])

    parser, registry = build_parser()
    try:
        namespace = parser.parse_args(argv)
        if namespace.command is None:
            parser.print_help(sys.stderr)
            return 2
        options = merge(namespace, registry[namespace.command], namespace.command)
        return COMMANDS[namespace.command](options, sys.stdout)
    except UsageError as error:
        command = f"clsd {argv[0]}" if argv and argv[0] in COMMANDS else "clsd"
        print(f"{command}: error: {error}", file=sys.stderr)
        return 2
    except TrainingDiverged as error:
        print(f"clsd: training diverged: {error}", file=sys.stderr)
        return 1
    except OverflowError as error:
        # A float sum overflowed inside a loss, which only happens when training diverges.
        print(f"clsd: training diverged: {error}; try a lower --learning-rate", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("clsd: interrupted", file=sys.stderr)
        return 130
