"""Crash-safe file writes: a file on disk is always the old or the new version.

``atomic_write(path, data)`` writes ``data`` to a new temporary file in the
same folder as ``path``, flushes it, calls ``os.fsync`` on it, and then
renames it over ``path`` with ``os.replace``. On POSIX systems that rename
is atomic (Python's documentation of ``os.replace`` notes it as a POSIX
requirement). So a reader, or a process restarted after a crash or a kill,
finds either the complete old file or the complete new file, never a mix.
Every file that clsd writes goes through this function.

NOTE: on Windows ``os.replace`` swaps the file in one call, but Windows does
not promise that the swap is atomic, and only POSIX is tested.

>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> atomic_write(os.path.join(folder, "note.txt"), "hello")
>>> with open(os.path.join(folder, "note.txt")) as handle:
...     handle.read()
'hello'

NOTE: a process killed between creating the temporary file and the rename
leaves that file behind, named ``.<target name>.<random hex>.tmp``. It never
replaces the target and can be deleted.
"""

import os

# Bytes per os.write call. Tests lower it to stop a writer at many points.
_CHUNK_BYTES = 1 << 20


def _temporary_path(path):
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.{os.urandom(6).hex()}.tmp")


def _write_all(descriptor, data):
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view[:_CHUNK_BYTES])
        view = view[written:]


def _sync_folder(folder):
    # The rename is durable only once the folder entry is on disk. Windows
    # cannot open a folder this way, so there the rename's own guarantee is all.
    if os.name != "posix":
        return
    descriptor = os.open(folder or ".", os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def atomic_write(path, data, encoding="utf-8"):
    """Write ``data`` (str or bytes) to ``path`` so that a crash never leaves a partial file.

    A str is encoded with ``encoding``. An existing file at ``path`` keeps its
    permission bits; a new file gets the default permissions (0o666 minus
    the umask). Raises ``TypeError`` when ``data`` is neither str nor bytes,
    and ``OSError`` when the folder does not exist or is not writable, in
    which case ``path`` is left as it was.
    """
    if isinstance(data, str):
        data = data.encode(encoding)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"atomic_write: data must be str or bytes, got {type(data).__name__}")
    path = os.fspath(path)
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode = None

    temporary = _temporary_path(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    descriptor = os.open(temporary, flags, 0o666)
    try:
        try:
            _write_all(descriptor, data)
            if mode is not None:
                os.chmod(temporary, mode)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except BaseException:
        # Any failure before the rename leaves the target untouched.
        try:
            os.remove(temporary)
        except OSError:
            pass
        raise
    _sync_folder(os.path.dirname(path))
