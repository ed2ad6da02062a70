"""Exceptions that clsd raises beyond the built-in ones.

``CheckpointError`` is a ``ValueError``, so code that catches ``ValueError``
for bad input also catches a bad checkpoint file.

>>> issubclass(CheckpointError, ValueError)
True
"""


class CheckpointError(ValueError):
    """A checkpoint file is malformed, truncated, or does not fit the model.

    The message names the file, the tensor or key at fault, and the expected
    and actual values, for example::

        model.json: layers[0].weight has shape (4, 8) but the model expects (4, 6)

    When ``load_into`` raises it, the model keeps the weights it had before
    the call.
    """
