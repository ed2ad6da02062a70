"""Save and load networks as JSON or safetensors checkpoints.

``save(network, path)`` picks the format from the file extension:

- ``.json``: clsd's own format (docs/checkpoint-format.md), with a format
  version, the architecture, the weights in clsd's shapes, and optional
  training state (epoch, optimizer state, random generator state, history)
  for resuming a run.
- ``.safetensors``: the weights under ``torch.nn.Sequential``'s parameter
  names, for PyTorch and the ``safetensors`` package (see
  ``clsd.safetensors`` and docs/safetensors.md). It stores no training state.

>>> import os, tempfile
>>> from clsd import Network
>>> net = Network.mlp([4, 8, 3], seed=0)
>>> path = os.path.join(tempfile.mkdtemp(), "model.json")
>>> save(net, path)
>>> load(path).layers[0].weight == net.layers[0].weight
True

Every write is crash-safe (``clsd.atomic``). Reading runs no code (no
pickle), checks every key, shape and number before it builds anything, and
raises ``CheckpointError`` (a ``ValueError``) naming the key or tensor and
the expected and actual values. ``load_into`` leaves the model unchanged
when it raises.
"""

import json
import math
import os
from collections import namedtuple

from . import safetensors
from .activations import ACTIVATIONS
from .atomic import atomic_write
from .errors import CheckpointError
from .layer import Layer
from .network import Network

FORMAT = "clsd.checkpoint"
FORMAT_VERSION = 1
EXTENSIONS = (".json", ".safetensors")

_REQUIRED_KEYS = ("format", "format_version", "sizes", "activations", "layers")
_OPTIONAL_KEYS = ("clsd_version", "training_state")

LayerRecord = namedtuple("LayerRecord", "weight_name bias_name weight bias activation transposed")
LayerRecord.__doc__ = """One layer read from a file, checked but not yet applied to a model.

``weight`` is a list of rows of shape (in_features, out_features), already
transposed back when the file stores (out_features, in_features), which
``transposed`` records so that messages show the file's own shapes.
``bias`` is a list of out_features floats. ``activation`` is a name, or
None when the file does not record it.
"""

Checkpoint = namedtuple("Checkpoint", "source layers training_state")
Checkpoint.__doc__ = "A checked checkpoint: its file name, a list of ``LayerRecord``, and the training state or None."


def _format_of(path, where):
    extension = os.path.splitext(os.fspath(path))[1].lower()
    if extension not in EXTENSIONS:
        raise ValueError(
            f"{where}: cannot tell the format of {os.fspath(path)!r} from its extension "
            f"{extension!r}; use one of {', '.join(EXTENSIONS)}"
        )
    return extension[1:]


def _check_network(network, where):
    if not isinstance(network, Network):
        raise TypeError(f"{where}: network must be a Network, got {type(network).__name__}")


# ---- writing -----------------------------------------------------------------


def to_json(network, training_state=None):
    """Return the JSON checkpoint text of ``network`` (and ``training_state``, if given).

    Floats are written with ``repr``, which round-trips every float64
    exactly. Raises ``ValueError`` when ``training_state`` is not JSON data
    (dicts, lists, strings, finite numbers, booleans, None).
    """
    from . import __version__

    _check_network(network, "to_json")
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "clsd_version": __version__,
        "sizes": network.sizes,
        "activations": [layer.activation.name for layer in network.layers],
        "layers": [{"weight": layer.weight.data, "bias": layer.bias.data} for layer in network.layers],
    }
    if training_state is not None:
        try:
            json.dumps(training_state, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ValueError(
                "save: training_state must be JSON data (dicts, lists, strings, finite "
                f"numbers, booleans, None): {error}"
            ) from None
        document["training_state"] = training_state
    return json.dumps(document, allow_nan=False) + "\n"


def save(network, path, *, training_state=None, dtype="F64"):
    """Write ``network`` to ``path`` as JSON or safetensors, chosen by the extension.

    Args:
        network: the ``Network`` to save.
        path: a file name ending in ``.json`` or ``.safetensors``.
        training_state: JSON data to store with a ``.json`` checkpoint,
            such as what ``CLSDTrainer`` needs to resume; None stores none.
        dtype: "F64" (exact, the default) or "F32" for ``.safetensors``.

    The file is written crash-safely: a kill or crash leaves the old file or
    the new one, never a partial file. Raises ``ValueError`` for another
    extension, for ``training_state`` with ``.safetensors``, or for a
    non-finite weight, and ``OSError`` when the file cannot be written.
    """
    _check_network(network, "save")
    kind = _format_of(path, "save")
    if kind == "json":
        if dtype != "F64":
            raise ValueError(f"save: dtype applies to .safetensors only; JSON keeps every float64, got {dtype!r}")
        data = to_json(network, training_state)
    else:
        if training_state is not None:
            raise ValueError(
                "save: a .safetensors file stores tensors only; save training_state to a .json checkpoint"
            )
        data = safetensors.dumps(
            safetensors.network_tensors(network), safetensors.network_metadata(network), dtype
        )
    atomic_write(path, data)


# ---- reading: JSON -----------------------------------------------------------


def _finite_float(value):
    """Return ``value`` as a finite float, or None when it is not one.

    An int too large for a float (JSON allows any number of digits) is None
    too, instead of the ``OverflowError`` that ``float()`` raises.
    """
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        value = float(value)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def _float_rows(value, name, shape, source):
    """Check that ``value`` is a list of ``shape`` rows of finite numbers; return float rows."""
    rows, columns = shape
    if not isinstance(value, list) or not all(isinstance(row, list) for row in value):
        raise CheckpointError(f"{source}: {name} must be a list of rows (lists of numbers)")
    if len(value) != rows:
        raise CheckpointError(f"{source}: {name} has {len(value)} rows but the sizes give shape {shape}")
    result = []
    for i, row in enumerate(value):
        if len(row) != columns:
            raise CheckpointError(
                f"{source}: {name}[{i}] has {len(row)} values but the sizes give shape {shape}"
            )
        floats = [_finite_float(number) for number in row]
        if None in floats:
            j = floats.index(None)
            raise CheckpointError(f"{source}: {name}[{i}][{j}] is {row[j]!r:.40}; expected a finite number")
        result.append(floats)
    return result


def _check_keys(document, source):
    if not isinstance(document, dict):
        raise CheckpointError(f"{source}: expected a JSON object at the top level, got {type(document).__name__}")
    missing = [key for key in _REQUIRED_KEYS if key not in document]
    if missing:
        raise CheckpointError(f"{source}: missing keys {missing}; a clsd checkpoint has {list(_REQUIRED_KEYS)}")
    unknown = sorted(key for key in document if key not in _REQUIRED_KEYS + _OPTIONAL_KEYS)
    if unknown:
        raise CheckpointError(
            f"{source}: unknown keys {unknown}; valid keys are {list(_REQUIRED_KEYS + _OPTIONAL_KEYS)}"
        )
    if document["format"] != FORMAT:
        raise CheckpointError(f"{source}: format is {document['format']!r}; expected {FORMAT!r}")
    version = document["format_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f"{source}: format_version is {version!r}; expected {FORMAT_VERSION}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{source}: format_version is {version}, newer than {FORMAT_VERSION}, the "
            "newest this clsd reads; upgrade clsd"
        )


def _check_architecture(sizes, activations, source):
    if not (isinstance(sizes, list) and len(sizes) >= 2
            and all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in sizes)):
        raise CheckpointError(f"{source}: sizes must list at least two integers >= 1, got {sizes!r}")
    depth = len(sizes) - 1
    if not isinstance(activations, list) or len(activations) != depth:
        raise CheckpointError(
            f"{source}: activations must list {depth} names (one per layer), got {activations!r}"
        )
    for index, name in enumerate(activations):
        if not isinstance(name, str) or name not in ACTIVATIONS:
            raise CheckpointError(
                f"{source}: activations[{index}] is {name!r}; valid names: {', '.join(sorted(ACTIVATIONS))}"
            )


def records_from_json(data, source="<bytes>"):
    """Check a JSON checkpoint's bytes and return a ``Checkpoint``.

    Raises ``CheckpointError`` for text that is not UTF-8 JSON, for missing
    or unknown keys, and for another format or a newer format version. It
    also raises it for invalid sizes or activations, and for weights or
    biases whose shapes do not follow the sizes or that contain anything
    but finite numbers.
    """
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as error:
        raise CheckpointError(f"{source}: the file is not valid UTF-8: {error}") from None
    document = safetensors.parse_json(text, source)
    _check_keys(document, source)
    sizes, activations, layers = document["sizes"], document["activations"], document["layers"]
    _check_architecture(sizes, activations, source)
    if not isinstance(layers, list) or len(layers) != len(activations):
        raise CheckpointError(
            f"{source}: layers must list {len(activations)} objects (one per layer), "
            f"got {type(layers).__name__} of length {len(layers) if isinstance(layers, list) else '-'}"
        )

    records = []
    for k, layer in enumerate(layers):
        name = f"layers[{k}]"
        if not isinstance(layer, dict) or sorted(layer) != ["bias", "weight"]:
            keys = sorted(layer) if isinstance(layer, dict) else type(layer).__name__
            raise CheckpointError(f"{source}: {name} must have exactly the keys bias and weight, got {keys}")
        weight = _float_rows(layer["weight"], f"{name}.weight", (sizes[k], sizes[k + 1]), source)
        bias = _float_rows(layer["bias"], f"{name}.bias", (1, sizes[k + 1]), source)
        records.append(LayerRecord(f"{name}.weight", f"{name}.bias", weight, bias[0], activations[k], False))

    training_state = document.get("training_state")
    if training_state is not None and not isinstance(training_state, dict):
        raise CheckpointError(f"{source}: training_state must be an object, got {type(training_state).__name__}")
    return Checkpoint(source, records, training_state)


# ---- reading: safetensors ----------------------------------------------------


def _metadata_list(metadata, key, source):
    try:
        value = json.loads(metadata[key])
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, list):
        raise CheckpointError(f"{source}: __metadata__[{key!r}] must be a JSON list, got {metadata[key]!r}")
    return value


def _architecture_from_metadata(metadata, source):
    """Return (sizes, activations) from the metadata, or (None, None) when it has neither."""
    present = [key for key in ("sizes", "activations") if key in metadata]
    if not present:
        return None, None
    if len(present) == 1:
        missing = "activations" if present == ["sizes"] else "sizes"
        raise CheckpointError(f"{source}: __metadata__ has {present[0]!r} but not {missing!r}")
    sizes = _metadata_list(metadata, "sizes", source)
    activations = _metadata_list(metadata, "activations", source)
    _check_architecture(sizes, activations, f"{source}: __metadata__")
    return sizes, activations


def _finite_values(stored, name, source):
    for index, value in enumerate(stored.values):
        if not math.isfinite(value):
            raise CheckpointError(f"{source}: tensor {name!r} element {index} is {value!r}; expected a finite number")
    return stored.values


def records_from_safetensors(data, source="<bytes>"):
    """Check a safetensors file's bytes against the nn.Sequential names; return a ``Checkpoint``.

    The tensors must be exactly ``0.weight, 0.bias, 2.weight, ...`` for
    the number of layers that ``__metadata__`` gives (or, without
    metadata, the number of ``.weight`` tensors), with 2-D weights of shape
    (out_features, in_features) that chain, and 1-D biases of out_features.
    Raises ``CheckpointError`` naming the tensor for anything else.
    """
    tensors, metadata = safetensors.loads(data, source)
    sizes, activations = _architecture_from_metadata(metadata, source)
    depth = len(activations) if activations is not None else sum(name.endswith(".weight") for name in tensors)
    if depth == 0:
        raise CheckpointError(f"{source}: no weight tensors; expected '0.weight', '0.bias', ...")

    names = safetensors.parameter_names(depth)
    expected = [name for pair in names for name in pair]
    missing = [name for name in expected if name not in tensors]
    extra = [name for name in tensors if name not in expected]
    if missing or extra:
        raise CheckpointError(
            f"{source}: expected the tensors {expected} for {depth} layers; "
            f"missing {missing}, unexpected {extra}"
        )

    records = []
    width = None
    for k, (weight_name, bias_name) in enumerate(names):
        weight, bias = tensors[weight_name], tensors[bias_name]
        if len(weight.shape) != 2:
            raise CheckpointError(
                f"{source}: tensor {weight_name!r} has shape {list(weight.shape)}; expected 2-D (out_features, in_features)"
            )
        out_features, in_features = weight.shape
        if bias.shape != (out_features,):
            raise CheckpointError(
                f"{source}: tensor {bias_name!r} has shape {list(bias.shape)}; expected [{out_features}] "
                f"to match {weight_name!r} of shape {list(weight.shape)}"
            )
        if width is not None and in_features != width:
            raise CheckpointError(
                f"{source}: tensor {weight_name!r} has shape {list(weight.shape)} but the layer below "
                f"outputs {width} features; expected [{out_features}, {width}]"
            )
        if out_features == 0 or in_features == 0:
            raise CheckpointError(f"{source}: tensor {weight_name!r} has shape {list(weight.shape)}; expected no zero sizes")
        values = _finite_values(weight, weight_name, source)
        # The file stores (out, in) row-major; clsd's weight is (in, out).
        rows = [values[i::in_features] for i in range(in_features)]
        bias_values = _finite_values(bias, bias_name, source)
        activation = activations[k] if activations is not None else None
        records.append(LayerRecord(weight_name, bias_name, rows, bias_values, activation, True))
        width = out_features

    found = [len(records[0].weight)] + [len(record.bias) for record in records]
    if sizes is not None and sizes != found:
        raise CheckpointError(f"{source}: __metadata__ sizes are {sizes} but the tensors give {found}")
    return Checkpoint(source, records, None)


# ---- reading: both -----------------------------------------------------------


def read(path):
    """Read and check the checkpoint at ``path``; return a ``Checkpoint``.

    Raises ``ValueError`` for an extension other than .json or
    .safetensors, ``CheckpointError`` for a malformed file, and ``OSError``
    when the file cannot be read.
    """
    kind = _format_of(path, "load")
    with open(path, "rb") as handle:
        data = handle.read()
    source = os.fspath(path)
    if kind == "json":
        return records_from_json(data, source)
    return records_from_safetensors(data, source)


def _shown(record, rows, columns):
    return (columns, rows) if record.transposed else (rows, columns)


def check_fits(network, checkpoint):
    """Raise ``CheckpointError`` unless every layer of ``checkpoint`` fits ``network`` exactly.

    The number of layers, every parameter's shape and, when the file
    records them, the activations must match.
    """
    source, records = checkpoint.source, checkpoint.layers
    if len(records) != network.depth:
        found = [len(records[0].weight)] + [len(r.bias) for r in records]
        raise CheckpointError(
            f"{source}: the file has {len(records)} layers (sizes {found}) but the model "
            f"has {network.depth} (sizes {network.sizes})"
        )
    for record, layer in zip(records, network.layers):
        file_shape = _shown(record, len(record.weight), len(record.weight[0]))
        model_shape = _shown(record, layer.in_features, layer.out_features)
        if file_shape != model_shape:
            raise CheckpointError(
                f"{source}: {record.weight_name} has shape {file_shape} in the file but "
                f"the model expects {model_shape}"
            )
        if record.activation is not None and record.activation != layer.activation.name:
            raise CheckpointError(
                f"{source}: layer {record.weight_name.rsplit('.', 1)[0]} has activation "
                f"{record.activation!r} in the file but the model uses {layer.activation.name!r}"
            )


def load_into(network, path):
    """Copy the weights of the checkpoint at ``path`` into ``network``, in place.

    The parameter tensors keep their identity, so an optimizer that keeps
    references to them stays valid. The whole file is checked against the model first,
    and on any error the model is left unchanged.

    Returns the checkpoint's training state (a dict) or None. Raises
    ``CheckpointError`` naming the parameter and both shapes when the file
    does not fit the model, or for a malformed file; ``TypeError`` when
    ``network`` is not a Network.
    """
    _check_network(network, "load_into")
    checkpoint = read(path)
    check_fits(network, checkpoint)
    copy_into(network, checkpoint)
    return checkpoint.training_state


def copy_into(network, checkpoint):
    """Copy a checked ``Checkpoint``'s weights into ``network``'s parameter tensors.

    Call ``check_fits`` first; this function assumes the shapes match.
    """
    for record, layer in zip(checkpoint.layers, network.layers):
        layer.weight.data[:] = [row[:] for row in record.weight]
        layer.bias.data[:] = [list(record.bias)]


def load(path, *, activations=None):
    """Build a new ``Network`` from the checkpoint at ``path``.

    ``activations`` lists one activation name per layer. Only a safetensors
    file without clsd's ``__metadata__`` (one written by another tool) needs
    it, and it must agree with the file when the file records them.
    Raises ``CheckpointError`` for a malformed file and ``ValueError`` when
    the activations are missing or do not fit.
    """
    checkpoint = read(path)
    records = checkpoint.layers
    if activations is not None:
        activations = list(activations)
        if len(activations) != len(records):
            raise ValueError(
                f"load: activations lists {len(activations)} names but {path!r} has {len(records)} layers"
            )
    layers = []
    for index, record in enumerate(records):
        name = record.activation
        if activations is not None:
            if name is not None and name != activations[index]:
                raise ValueError(
                    f"load: activations[{index}] is {activations[index]!r} but {path!r} records {name!r}"
                )
            name = activations[index]
        if name is None:
            raise ValueError(
                f"load: {path!r} does not record its activations (no clsd __metadata__); "
                "pass activations=[...], one name per layer"
            )
        layer = Layer(len(record.weight), len(record.bias), activation=name, seed=0)
        layer.weight.data[:] = record.weight
        layer.bias.data[:] = [list(record.bias)]
        layers.append(layer)
    return Network(layers)
