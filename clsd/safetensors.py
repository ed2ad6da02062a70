"""Read and write safetensors files in pure Python, and map a Network to them.

safetensors is the tensor file format of Hugging Face's ``safetensors``
package (https://github.com/huggingface/safetensors). A file is

    8 bytes        N, the header length, an unsigned little-endian integer
    N bytes        a UTF-8 JSON object (the header), maybe padded with spaces
    the rest       the data buffer: every tensor's bytes, little-endian, row-major

The header maps each tensor name to ``{"dtype": "F64", "shape": [8, 4],
"data_offsets": [begin, end]}``, with offsets counted from the start of the
data buffer, and may hold ``"__metadata__"``, a flat object of strings.
Reading a file runs no code and reads no byte outside the buffer: every
number in the header is checked before it is used, and anything malformed
raises ``CheckpointError`` naming the tensor or key and the expected and
actual values.

A clsd ``Network`` of L layers is stored under the parameter names of the
equivalent ``torch.nn.Sequential(Linear, activation, Linear, activation,
...)``: the Linear modules sit at the even indices 0, 2, 4, ..., so layer
k (counted from 1) is stored as ``{2k-2}.weight`` with shape
(out_features, in_features), the transpose of clsd's weight, and
``{2k-2}.bias`` with shape (out_features,). ``torch.nn.Sequential``'s
``load_state_dict`` accepts such a file's tensors directly. The
architecture goes in ``__metadata__`` (see ``network_metadata``).

>>> from clsd import Network
>>> net = Network.mlp([3, 4, 2], seed=0)
>>> sorted(network_tensors(net))
['0.bias', '0.weight', '2.bias', '2.weight']
>>> data = dumps(network_tensors(net), network_metadata(net))
>>> tensors, metadata = loads(data)
>>> tensors["0.weight"].shape, metadata["sizes"]
((4, 3), '[3, 4, 2]')

See docs/safetensors.md for the names and the checks in full.
"""

import json
import math
import struct
import sys
from array import array
from collections import namedtuple

from .atomic import atomic_write
from .errors import CheckpointError

StoredTensor = namedtuple("StoredTensor", "dtype shape values")
StoredTensor.__doc__ = (
    "A tensor read from a file: its dtype name, its shape (a tuple) and its "
    "values as a flat list of floats in row-major order."
)

# Element sizes in bytes of every dtype the format defines. clsd reads the
# float types in READ_DTYPES and writes the ones in WRITE_DTYPES.
DTYPE_SIZES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}
READ_DTYPES = ("F64", "F32", "F16", "BF16")
WRITE_DTYPES = ("F64", "F32")

# The same limit as MAX_HEADER_SIZE in the reference implementation
# (huggingface/safetensors, safetensors/src/tensor.rs).
MAX_HEADER_BYTES = 100_000_000

FORMAT_VERSION = "1"

_TENSOR_KEYS = ("dtype", "shape", "data_offsets")
_FLOAT32_MAX = 3.4028234663852886e38


# ---- bytes <-> tensors -------------------------------------------------------


def _shape_and_values(name, value):
    """Return (shape, flat floats) of a 1-D list or a 2-D list of rows."""
    if hasattr(value, "tolist") and not isinstance(value, (list, tuple)):
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"safetensors: tensor {name!r} must be a non-empty list, got {value!r}")
    if all(isinstance(row, (list, tuple)) for row in value):
        width = len(value[0])
        for index, row in enumerate(value):
            if len(row) != width:
                raise ValueError(
                    f"safetensors: tensor {name!r} has ragged rows: row 0 has {width} "
                    f"values but row {index} has {len(row)}"
                )
        return (len(value), width), [v for row in value for v in row]
    return (len(value),), list(value)


def _checked_floats(name, values, dtype):
    floats = []
    for index, v in enumerate(values):
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise TypeError(f"safetensors: tensor {name!r} element {index} is {v!r}; expected a number")
        try:
            v = float(v)
        except OverflowError:
            v = math.inf
        if not math.isfinite(v):
            raise ValueError(f"safetensors: tensor {name!r} element {index} is {v!r}; expected a finite number")
        if dtype == "F32" and abs(v) > _FLOAT32_MAX:
            raise ValueError(
                f"safetensors: tensor {name!r} element {index} is {v!r}, beyond the "
                f"largest F32 value {_FLOAT32_MAX!r}; save it as F64"
            )
        floats.append(v)
    return floats


def _to_little_endian(floats, typecode):
    packed = array(typecode, floats)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def dumps(tensors, metadata=None, dtype="F64"):
    """Return the bytes of a safetensors file holding ``tensors``.

    Args:
        tensors: a dict {name: values}, where values is a 1-D list of
            numbers or a 2-D list of equal-length rows (a ``Tensor`` works
            too). Tensors are stored in the order of the dict.
        metadata: a dict of str to str for ``__metadata__``, or None.
        dtype: "F64" (exact) or "F32" (rounded to the nearest float32).

    The header is padded with spaces to a multiple of 8 bytes, so that the
    data buffer starts 8-byte aligned. Raises ``ValueError`` for an unknown
    dtype, an empty or ragged tensor, a non-finite value, or a value beyond
    float32's range when ``dtype`` is "F32". Raises ``TypeError`` for a
    value that is not a number or a metadata entry that is not a string.
    """
    if dtype not in WRITE_DTYPES:
        raise ValueError(f"safetensors: dtype must be one of {', '.join(WRITE_DTYPES)}, got {dtype!r}")
    if not isinstance(tensors, dict) or not tensors:
        raise ValueError(f"safetensors: tensors must be a non-empty dict of name: values, got {tensors!r}")
    header = {}
    if metadata:
        for key, value in metadata.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError(f"safetensors: __metadata__ entries must be str: str, got {key!r}: {value!r}")
        header["__metadata__"] = dict(metadata)

    typecode = "d" if dtype == "F64" else "f"
    chunks = []
    offset = 0
    for name, value in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError(f"safetensors: tensor names must be str other than '__metadata__', got {name!r}")
        shape, values = _shape_and_values(name, value)
        chunk = _to_little_endian(_checked_floats(name, values, dtype), typecode)
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(chunk)]}
        chunks.append(chunk)
        offset += len(chunk)

    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + b"".join(chunks)


def _reject_duplicates(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def parse_json(text, source):
    """Parse untrusted JSON text, raising ``CheckpointError`` for anything malformed.

    Duplicate keys and the non-standard constants NaN and Infinity are
    rejected. Deep nesting and oversized integers, which make Python's
    parser raise ``RecursionError`` or ``ValueError``, become
    ``CheckpointError`` too.
    """
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        raise CheckpointError(f"{source}: invalid JSON: {error}") from None


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _parse_header(data, source):
    """Check the header length and JSON, and return (header dict, buffer start)."""
    if len(data) < 8:
        raise CheckpointError(
            f"{source}: the file is {len(data)} bytes long; a safetensors file starts "
            "with an 8-byte header length"
        )
    length = int.from_bytes(data[:8], "little")
    if length > MAX_HEADER_BYTES:
        raise CheckpointError(
            f"{source}: header length {length} is above the limit of {MAX_HEADER_BYTES} bytes"
        )
    if length > len(data) - 8:
        raise CheckpointError(
            f"{source}: header length {length} is longer than the {len(data) - 8} bytes "
            "after the length field; the file is truncated or not safetensors"
        )
    raw = bytes(data[8:8 + length])
    if not raw.startswith(b"{"):
        raise CheckpointError(f"{source}: the header must start with '{{', got {raw[:16]!r}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CheckpointError(f"{source}: the header is not valid UTF-8: {error}") from None
    header = parse_json(text, source)
    if not isinstance(header, dict):
        raise CheckpointError(f"{source}: the header must be a JSON object, got {type(header).__name__}")
    return header, 8 + length


def _check_metadata(metadata, source):
    if not isinstance(metadata, dict):
        raise CheckpointError(
            f"{source}: __metadata__ must be an object of strings, got {type(metadata).__name__}"
        )
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise CheckpointError(f"{source}: __metadata__[{key!r}] must be a string, got {value!r}")
    return metadata


def _check_entry(name, entry, buffer_length, source):
    """Check one tensor's header entry and return (dtype, shape, begin, end)."""
    where = f"{source}: tensor {name!r}"
    if not isinstance(entry, dict):
        raise CheckpointError(f"{where}: expected an object with {', '.join(_TENSOR_KEYS)}, got {entry!r}")
    missing = [key for key in _TENSOR_KEYS if key not in entry]
    extra = sorted(key for key in entry if key not in _TENSOR_KEYS)
    if missing or extra:
        raise CheckpointError(
            f"{where}: expected the keys {', '.join(_TENSOR_KEYS)}; missing {missing}, unexpected {extra}"
        )

    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPE_SIZES:
        raise CheckpointError(f"{where}: unknown dtype {dtype!r}; known dtypes: {', '.join(DTYPE_SIZES)}")
    if dtype not in READ_DTYPES:
        raise CheckpointError(f"{where}: dtype {dtype} is not supported; clsd reads {', '.join(READ_DTYPES)}")
    if not isinstance(shape, list) or not all(map(_is_count, shape)):
        raise CheckpointError(f"{where}: shape must be a list of integers >= 0, got {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_count, offsets))):
        raise CheckpointError(f"{where}: data_offsets must be two integers >= 0, got {offsets!r}")
    begin, end = offsets
    if begin > end:
        raise CheckpointError(f"{where}: data_offsets {offsets} are reversed; expected begin <= end")
    if end > buffer_length:
        raise CheckpointError(
            f"{where}: data_offsets {offsets} end past the data buffer of {buffer_length} bytes"
        )

    count = 1
    for size in shape:
        count *= size
    expected = count * DTYPE_SIZES[dtype]
    if end - begin != expected:
        raise CheckpointError(
            f"{where}: data_offsets {offsets} cover {end - begin} bytes but shape {shape} "
            f"of {dtype} needs {expected} bytes ({count} values of {DTYPE_SIZES[dtype]} bytes)"
        )
    return dtype, tuple(shape), begin, end


def _check_layout(spans, buffer_length, source):
    """Check that the tensors tile the buffer exactly: no gap, overlap or trailing bytes."""
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            problem = "overlaps the previous tensor" if begin < position else "leaves a gap"
            raise CheckpointError(
                f"{source}: tensor {name!r} starts at byte {begin} but the previous tensor "
                f"ends at byte {position}; the data {problem}"
            )
        position = end
    if position != buffer_length:
        raise CheckpointError(
            f"{source}: the tensors cover {position} bytes but the data buffer has "
            f"{buffer_length} bytes"
        )


def _decode(dtype, chunk):
    if dtype in ("F64", "F32"):
        values = array("d" if dtype == "F64" else "f")
        values.frombytes(chunk)
        if sys.byteorder == "big":
            values.byteswap()
        return values.tolist()
    if dtype == "F16":
        return list(struct.unpack(f"<{len(chunk) // 2}e", chunk))
    # BF16 is the upper half of a float32, so shift it into place and reread.
    halves = struct.unpack(f"<{len(chunk) // 2}H", chunk)
    return list(struct.unpack(f"<{len(halves)}f", struct.pack(f"<{len(halves)}I", *(h << 16 for h in halves))))


def loads(data, source="<bytes>"):
    """Parse the bytes of a safetensors file and return (tensors, metadata).

    ``tensors`` maps each name to a ``StoredTensor(dtype, shape, values)``
    with the values as a flat list of Python floats, in header order.
    ``metadata`` is the ``__metadata__`` dict of strings ({} when absent).
    ``source`` names the file in error messages.

    Raises ``CheckpointError`` for a file shorter than 8 bytes, a header
    length past the end of the file or above ``MAX_HEADER_BYTES``, a header
    that is not a UTF-8 JSON object, an entry that is not {dtype, shape,
    data_offsets}, an unknown or unsupported dtype, offsets that are
    reversed or end past the buffer, a byte count that differs from shape x
    dtype size, and tensors that overlap, leave gaps or do not fill the
    buffer. NaN and infinite values are returned as they are.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"safetensors.loads: data must be bytes, got {type(data).__name__}")
    data = memoryview(data).cast("B")
    header, start = _parse_header(data, source)
    buffer_length = len(data) - start
    metadata = _check_metadata(header.pop("__metadata__", {}), source)

    entries = {name: _check_entry(name, entry, buffer_length, source) for name, entry in header.items()}
    _check_layout([(begin, end, name) for name, (_, _, begin, end) in entries.items()], buffer_length, source)

    tensors = {}
    for name, (dtype, shape, begin, end) in entries.items():
        chunk = bytes(data[start + begin:start + end])
        tensors[name] = StoredTensor(dtype, shape, _decode(dtype, chunk))
    return tensors, metadata


def read_file(path):
    """Read a safetensors file and return (tensors, metadata) as ``loads`` does."""
    with open(path, "rb") as handle:
        data = handle.read()
    return loads(data, source=str(path))


def write_file(path, tensors, metadata=None, dtype="F64"):
    """Write ``tensors`` to ``path`` crash-safely (see ``dumps`` and ``clsd.atomic``)."""
    atomic_write(path, dumps(tensors, metadata, dtype))


# ---- networks <-> torch.nn.Sequential names ----------------------------------


def parameter_names(depth):
    """Return the [(weight name, bias name)] of a network of ``depth`` layers.

    >>> parameter_names(3)
    [('0.weight', '0.bias'), ('2.weight', '2.bias'), ('4.weight', '4.bias')]
    """
    return [(f"{2 * k}.weight", f"{2 * k}.bias") for k in range(depth)]


def network_tensors(network):
    """Return {name: values} for ``network`` in torch.nn.Sequential's names and shapes.

    Each weight is transposed to (out_features, in_features), and each bias
    is a flat list of out_features values.
    """
    tensors = {}
    for layer, (weight_name, bias_name) in zip(network.layers, parameter_names(network.depth)):
        tensors[weight_name] = [list(column) for column in zip(*layer.weight.data)]
        tensors[bias_name] = list(layer.bias.data[0])
    return tensors


def network_metadata(network):
    """Return the ``__metadata__`` strings that describe ``network``'s architecture.

    ``format`` is "pt", as in the safetensors files of PyTorch models on the
    Hugging Face Hub. ``sizes`` and
    ``activations`` are JSON lists, and ``torch_modules`` spells out the
    equivalent ``torch.nn.Sequential`` for a reader.
    """
    activations = [layer.activation.name for layer in network.layers]
    return {
        "format": "pt",
        "clsd_format_version": FORMAT_VERSION,
        "sizes": json.dumps(network.sizes),
        "activations": json.dumps(activations),
        "torch_modules": torch_modules(network.sizes, activations),
    }


_TORCH_ACTIVATIONS = {"sigmoid": "Sigmoid()", "tanh": "Tanh()", "relu": "ReLU()", "identity": "Identity()"}


def torch_modules(sizes, activations):
    """Return the torch.nn.Sequential that matches a network, as text.

    A trailing identity is left out, since it changes neither outputs nor names.

    >>> torch_modules([4, 8, 3], ["relu", "identity"])
    'Sequential(Linear(4, 8), ReLU(), Linear(8, 3))'
    """
    modules = []
    for index, activation in enumerate(activations):
        modules.append(f"Linear({sizes[index]}, {sizes[index + 1]})")
        if not (activation == "identity" and index == len(activations) - 1):
            modules.append(_TORCH_ACTIVATIONS[activation])
    return f"Sequential({', '.join(modules)})"
