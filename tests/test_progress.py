"""Tests for the progress bar callback."""

import contextlib
import doctest
import io
import unittest

from clsd import CLSDTrainer, Network, Tensor, progress
from clsd.progress import ProgressBar, format_duration


class FakeClock:
    """A clock that moves ``step`` seconds each time it is read."""

    def __init__(self, step=1.0):
        self.now = 0.0
        self.step = step

    def __call__(self):
        self.now += self.step
        return self.now


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def fit(callbacks, epochs=3):
    network = Network.mlp([2, 3, 2], seed=0)
    x = Tensor.uniform(8, 2, seed=1)
    labels = [0, 1] * 4
    return CLSDTrainer(learning_rate=0.1).fit(
        network, x, labels, epochs=epochs, batch_size=4, seed=0,
        validation=(x, labels), callbacks=callbacks,
    )


class ProgressBarTest(unittest.TestCase):
    def test_doctests_pass(self):
        result = doctest.testmod(progress)
        self.assertGreater(result.attempted, 0)
        self.assertEqual(result.failed, 0)

    def test_terminal_redraws_in_place(self):
        stream = FakeTerminal()
        fit([ProgressBar(stream=stream, refresh=0.0, clock=FakeClock())])
        text = stream.getvalue()
        self.assertTrue(text.startswith("\r"))
        self.assertTrue(text.endswith("\n"))
        self.assertEqual(text.count("\n"), 1)
        # 2 batches and 1 epoch end per epoch, 3 epochs.
        self.assertEqual(text.count("\r"), 9)
        last = text.rsplit("\r", 1)[1]
        self.assertIn("epoch 3/3", last)
        self.assertIn("100%", last)
        self.assertIn("task ", last)
        self.assertIn("val acc ", last)
        self.assertIn("took ", last)

    def test_shorter_redraw_clears_longer_line(self):
        stream = FakeTerminal()
        bar = ProgressBar(stream=stream, refresh=0.0, clock=FakeClock())
        bar.on_fit_start({"epochs": 1, "steps_per_epoch": 2})
        bar.on_batch_end({"epoch": 1, "step": 1, "steps": 2, "terms": {"task": 1.0, "hint t1->s1": 2.0}})
        first = stream.getvalue()
        bar.on_batch_end({"epoch": 1, "step": 2, "steps": 2, "terms": {"task": 1.0}})
        second = stream.getvalue()[len(first):]
        self.assertGreaterEqual(len(second), len(first))

    def test_plain_lines_when_not_a_terminal(self):
        stream = io.StringIO()
        bar = ProgressBar(stream=stream, interval=1000.0, clock=FakeClock())
        fit([bar])
        text = stream.getvalue()
        self.assertNotIn("\r", text)
        # With a long interval only the last epoch's line is written.
        self.assertEqual(bar.lines_written, 1)
        self.assertEqual(text.count("\n"), 1)
        self.assertIn("epoch 3/3", text)

    def test_plain_lines_follow_interval(self):
        stream = io.StringIO()
        bar = ProgressBar(stream=stream, interval=0.0, clock=FakeClock())
        fit([bar])
        lines = stream.getvalue().splitlines()
        self.assertEqual(len(lines), 9)
        self.assertIn("epoch 1/3", lines[0])
        self.assertIn("epoch 3/3", lines[-1])

    def test_estimate_of_time_left(self):
        clock = FakeClock(step=0.0)
        bar = ProgressBar(stream=io.StringIO(), terminal=False, interval=1000.0, clock=clock)
        bar.on_fit_start({"epochs": 2, "steps_per_epoch": 5})
        for step in range(1, 6):
            clock.now = float(step)
            bar.on_batch_end({"epoch": 1, "step": step, "steps": 5, "terms": {"task": 0.5}})
        # 5 of 10 batches took 5 s, so about 5 s remain.
        line = bar.line(now=5.0)
        self.assertIn("eta 0:05", line)
        self.assertIn(" 50%", line)
        self.assertIn("task 0.5", line)

    def test_terms_are_epoch_means(self):
        bar = ProgressBar(stream=io.StringIO(), terminal=False, clock=FakeClock())
        bar.on_fit_start({"epochs": 2, "steps_per_epoch": 2})
        bar.on_batch_end({"epoch": 1, "step": 1, "steps": 2, "terms": {"task": 1.0}})
        bar.on_batch_end({"epoch": 1, "step": 2, "steps": 2, "terms": {"task": 3.0}})
        self.assertIn("task 2 ", bar.line() + " ")
        bar.on_batch_end({"epoch": 2, "step": 1, "steps": 2, "terms": {"task": 5.0}})
        self.assertIn("task 5 ", bar.line() + " ")

    def test_isatty_picks_mode(self):
        terminal, plain = FakeTerminal(), io.StringIO()
        fit([ProgressBar(stream=terminal, clock=FakeClock()), ProgressBar(stream=plain, clock=FakeClock())], epochs=1)
        self.assertIn("\r", terminal.getvalue())
        self.assertNotIn("\r", plain.getvalue())

    def test_fit_prints_nothing_by_itself(self):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            fit([])
        self.assertEqual(out.getvalue(), "")
        self.assertEqual(err.getvalue(), "")

    def test_bad_arguments_raise(self):
        with self.assertRaisesRegex(ValueError, "interval must be a number of seconds"):
            ProgressBar(interval=-1)
        with self.assertRaisesRegex(ValueError, "width must be an int"):
            ProgressBar(width=0)

    def test_format_duration(self):
        self.assertEqual(format_duration(0), "0:00")
        self.assertEqual(format_duration(59.6), "1:00")
        self.assertEqual(format_duration(3600), "1:00:00")
        self.assertEqual(format_duration(float("inf")), "?")


if __name__ == "__main__":
    unittest.main()
