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
apply those statistics to the raw features before the model reads them, and
``distill`` gives the student the teacher's statistics, because the
teacher's states were learnt on inputs scaled that way.

Exit status: 0 on success, 1 when training diverged, 2 for a usage error
(a bad option value, a missing or invalid file), reported on one line with
no traceback.
"""

import argparse
import json
import math
import sys

from .activations import ACTIVATIONS
from .commands import COMMANDS, UsageError
from .optim import OPTIMIZERS
from .pairing import STRATEGIES
from .trainer import TrainingDiverged


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
                help="also write the weights to PATH as .safetensors, for PyTorch; it contains no "
                     "standardization statistics, so feed it inputs standardized as the JSON checkpoint records")
    options.add("--plot", metavar="PATH", default=None, help=plot_help)
    options.add("--quiet", action="store_true", help="show no progress bar and no summary")


def _add_config_option(options):
    options.parser.add_argument(
        "--config", metavar="FILE", default=argparse.SUPPRESS,
        help="a JSON object of this command's option values, keyed by the option's name "
             "without the leading dashes and with '_' for '-'; options on the command line "
             "override it",
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


def _run_demo(argv):
    """Check the demo's options with its own parser, named ``clsd demo``, then run it."""
    from . import demo

    parser = demo.build_parser()
    parser.prog = "clsd demo"

    def error(message):
        raise UsageError(f"{message}; run 'clsd demo --help' for the options")

    parser.error = error
    parser.parse_args(argv)
    return demo.main(argv)


def main(argv=None):
    """Run the command line with ``argv`` (``sys.argv[1:]`` when None); return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, registry = build_parser()
    try:
        if argv and argv[0] == "demo":
            return _run_demo(argv[1:])
        namespace = parser.parse_args(argv)
        if namespace.command is None:
            parser.print_help(sys.stderr)
            return 2
        options = merge(namespace, registry[namespace.command], namespace.command)
        return COMMANDS[namespace.command](options, sys.stdout)
    except UsageError as error:
        command = f"clsd {argv[0]}" if argv and argv[0] in list(COMMANDS) + ["demo"] else "clsd"
        print(f"{command}: error: {error}", file=sys.stderr)
        return 2
    except TrainingDiverged as error:
        print(f"clsd: training diverged: {error}", file=sys.stderr)
        return 1
    except OverflowError as error:
        # A float sum overflowed inside a loss, as it does when the weights grow without bound.
        print(f"clsd: training diverged: {error}; try a lower --learning-rate", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("clsd: interrupted", file=sys.stderr)
        return 130
