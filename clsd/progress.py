"""A text progress bar for ``CLSDTrainer.fit``, written with the standard library.

The bar is a callback, so the library itself never prints: pass it to
``fit`` and it writes to the stream it was given (standard error by default).

    trainer.fit(student, features, labels, callbacks=[ProgressBar()])

On a terminal it redraws one line in place with a carriage return::

    epoch  3/20 [######..............]  15%  task 0.4312  hint t3->s1 0.0123  eta 0:12

When the stream is not a terminal (a log file, a pipe, CI), carriage returns
would pile up into one huge line, so it writes plain lines instead: one at
most every ``interval`` seconds, and always one for the last epoch.

The time left is an estimate: the mean time per batch so far times the
batches still to run. It ignores validation time still to come.
"""

import math
import shutil
import sys
import time


def format_duration(seconds):
    """Format a duration in seconds as ``m:ss`` or ``h:mm:ss``.

    >>> format_duration(75.4), format_duration(3725)
    ('1:15', '1:02:05')
    """
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def _format_value(value):
    if value is None:
        return "-"
    return f"{value:.4g}"


class ProgressBar:
    """Show epoch, loss terms and an estimate of the time left during ``fit``.

    Args:
        stream: a text stream with ``write`` and ``flush``; standard error
            when None, looked up when the fit starts.
        width: characters of the bar between the brackets.
        interval: seconds between two plain lines when the stream is not a
            terminal.
        refresh: minimum seconds between two redraws on a terminal.
        terminal: force terminal mode (True) or plain lines (False); None
            uses ``stream.isatty()``.
        clock: a function returning seconds, for tests; ``time.monotonic``
            by default.

    The loss terms shown are each term's mean over the batches of the
    current epoch so far. After an epoch with validation, the validation
    accuracy is shown as well.
    """

    def __init__(self, stream=None, width=20, interval=10.0, refresh=0.1, terminal=None, clock=None):
        for name, value in (("interval", interval), ("refresh", refresh)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
                raise ValueError(f"ProgressBar: {name} must be a number of seconds >= 0, got {value!r}")
        if not isinstance(width, int) or isinstance(width, bool) or width < 1:
            raise ValueError(f"ProgressBar: width must be an int >= 1, got {width!r}")
        self.stream = stream
        self.width = width
        self.interval = float(interval)
        self.refresh = float(refresh)
        self.terminal = terminal
        self.clock = clock or time.monotonic
        self.lines_written = 0

    # ---- callback methods ----------------------------------------------

    def on_fit_start(self, plan):
        """Reset the counters for a fit of ``plan["epochs"]`` epochs."""
        if self.stream is None:
            self._out = sys.stderr
        else:
            self._out = self.stream
        if self.terminal is None:
            isatty = getattr(self._out, "isatty", None)
            self._in_place = bool(isatty and isatty())
        else:
            self._in_place = bool(self.terminal)
        self._epochs = plan["epochs"]
        self._steps_per_epoch = plan["steps_per_epoch"]
        self._total_steps = self._epochs * self._steps_per_epoch
        self._done_steps = 0
        self._epoch = 1
        self._sums = {}
        self._batches = 0
        self._validation = None
        self._started = self.clock()
        self._last_draw = None
        self._drawn_length = 0

    def on_batch_end(self, info):
        """Add the batch's loss terms to the running means and maybe redraw."""
        if info["epoch"] != self._epoch:
            self._epoch = info["epoch"]
            self._sums = {}
            self._batches = 0
        for name, value in info["terms"].items():
            self._sums[name] = self._sums.get(name, 0.0) + value
        self._batches += 1
        self._done_steps = (info["epoch"] - 1) * self._steps_per_epoch + info["step"]
        self._maybe_draw(final=False)

    def on_epoch_end(self, record):
        """Show the epoch's mean loss terms and its validation result."""
        self._epoch = record["epoch"]
        self._sums = dict(record["terms"])
        self._batches = 1
        self._done_steps = record["epoch"] * self._steps_per_epoch
        self._validation = record.get("validation")
        self._maybe_draw(final=record["epoch"] == self._epochs)

    def on_fit_end(self, history):
        """End the line on a terminal, so that later output starts on its own line."""
        if self._in_place and self._drawn_length:
            self._out.write("\n")
            self._out.flush()

    # ---- drawing ---------------------------------------------------------

    def _maybe_draw(self, final):
        now = self.clock()
        wait = self.refresh if self._in_place else self.interval
        if not final and self._last_draw is not None and now - self._last_draw < wait:
            return
        if not final and not self._in_place and self._last_draw is None and now - self._started < wait:
            return
        self._last_draw = now
        self._draw(self.line(now))

    def line(self, now=None):
        """Return the current status line, without a line ending."""
        now = self.clock() if now is None else now
        fraction = self._done_steps / self._total_steps if self._total_steps else 1.0
        filled = int(round(fraction * self.width))
        bar = "#" * filled + "." * (self.width - filled)
        digits = len(str(self._epochs))
        parts = [f"epoch {self._epoch:>{digits}}/{self._epochs} [{bar}] {fraction:4.0%}"]
        batches = max(self._batches, 1)
        for name, total in self._sums.items():
            parts.append(f"{name} {_format_value(total / batches)}")
        if self._validation:
            parts.append(f"val acc {self._validation['accuracy']:.3f}")
        elapsed = now - self._started
        if self._done_steps >= self._total_steps:
            parts.append(f"took {format_duration(elapsed)}")
        elif self._done_steps:
            left = elapsed / self._done_steps * (self._total_steps - self._done_steps)
            parts.append(f"eta {format_duration(left)}")
        return "  ".join(parts)

    def _draw(self, text):
        if self._in_place:
            columns = shutil.get_terminal_size((100, 24)).columns
            text = text[: max(columns - 1, 10)]
            padding = " " * max(self._drawn_length - len(text), 0)
            self._out.write("\r" + text + padding)
            self._drawn_length = len(text)
        else:
            self._out.write(text + "\n")
        self._out.flush()
        self.lines_written += 1
