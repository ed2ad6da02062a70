"""The work behind the ``clsd`` subcommands train, distill, evaluate and inspect.

``clsd.cli`` parses the command line and the config file into a dict of
options and calls one ``command_*`` function here with it. Each function
prints its result to ``out`` and returns the exit status; a user mistake
raises ``UsageError``, which the command line prints on one line.

Standardization travels with the model: ``command_train`` saves the
training split's ``Standardizer`` statistics in the JSON checkpoint's
training state, and the other commands apply them to raw features.
"""

import json
import os
import sys

from . import checkpoint, cka, datasets, losses, pairing
from .activations import ACTIVATIONS
from .matches import LayerMatch, LogitMatch, needs_equal_widths
from .network import Network
from .progress import ProgressBar
from .svg import heatmap, history_chart, write_svg
from .trainer import CLSDTrainer, History, evaluate

BUILTIN_DATA = {"digits": datasets.load_digits, "iris": datasets.load_iris}
CHECKPOINT_SUFFIXES = checkpoint.EXTENSIONS


class UsageError(Exception):
    """A mistake in the command line, a config file or an input file.

    ``clsd.cli.main`` prints the message on one line and exits with status 2.
    """


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
    """Return (dataset, train, test, standardizer, options) for a saved model.

    Data options that the command line left out are taken from the model's
    training state, and the returned options have them filled in.
    """
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
    if options["rows"] < 2 or len(raw) < 2:
        raise UsageError(
            f"--rows: linear CKA needs at least 2 rows, got {min(options['rows'], len(raw))} "
            f"from the {options['split']} split; pass --rows 2 or more, or --split all"
        )
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
