"""Tests for the hand-written SVG charts and the notebook views."""

import doctest
import math
import unittest
import xml.etree.ElementTree as ET

from clsd import CLSDTrainer, History, LayerMatch, Network, Tensor, svg

NS = {"svg": "http://www.w3.org/2000/svg"}


def parse(text):
    return ET.fromstring(text)


def texts(root):
    return [element.text for element in root.iter("{http://www.w3.org/2000/svg}text")]


def series_points(root, name):
    """Return the (x, y) points of every polyline of one series."""
    for group in root.iterfind(".//svg:g[@class='series']", NS):
        if group.get("data-name") == name:
            points = []
            for line in group.iterfind("svg:polyline", NS):
                points.append([tuple(map(float, p.split(","))) for p in line.get("points").split()])
            return points
    raise AssertionError(f"no series {name!r}")


def small_history(validation=True):
    teacher = Network.mlp([3, 4, 4, 2], activation="tanh", seed=0)
    student = Network.mlp([3, 4, 2], activation="tanh", seed=1)
    x = Tensor.uniform(12, 3, seed=2)
    labels = [i % 2 for i in range(12)]
    return CLSDTrainer(learning_rate=0.1).fit(
        student, x, labels, teacher=teacher, matches=[LayerMatch(2, 1)],
        epochs=4, batch_size=6, seed=0,
        validation=(x, labels) if validation else None,
    )


class DoctestTest(unittest.TestCase):
    def test_doctests_pass(self):
        result = doctest.testmod(svg)
        self.assertGreater(result.attempted, 0)
        self.assertEqual(result.failed, 0)


class TicksTest(unittest.TestCase):
    def test_nice_ticks_cover_range(self):
        for low, high in [(0.0, 1.0), (0.013, 0.92), (-3.0, 7.5), (1.0, 40.0), (5.0, 5.0)]:
            ticks = svg.nice_ticks(low, high)
            self.assertLessEqual(ticks[0], low)
            self.assertGreaterEqual(ticks[-1], high)
            self.assertLessEqual(len(ticks), 12)

    def test_log_ticks_are_powers(self):
        self.assertEqual(svg.log_ticks(0.002, 3.0), [0.001, 0.01, 0.1, 1.0, 10.0])


class LineChartTest(unittest.TestCase):
    def test_parses_with_title_axes_legend(self):
        root = parse(svg.line_chart({"task": [3.0, 2.0, 1.5], "hint t3->s1": [0.5, 0.4, 0.3]},
                                    title="Losses", x_label="epoch", y_label="loss"))
        self.assertEqual(root.tag, "{http://www.w3.org/2000/svg}svg")
        self.assertEqual(root.find("svg:title", NS).text, "Losses")
        words = texts(root)
        self.assertIn("Losses", words)
        self.assertIn("epoch", words)
        self.assertIn("loss", words)
        legend = root.find(".//svg:g[@class='legend']", NS)
        self.assertEqual([t.text for t in legend.iterfind("svg:text", NS)], ["task", "hint t3->s1"])

    def test_each_series_has_its_points(self):
        root = parse(svg.line_chart({"a": [4.0, 3.0, 2.0, 1.0]}, log_y=False))
        [line] = series_points(root, "a")
        self.assertEqual(len(line), 4)
        xs = [x for x, _ in line]
        ys = [y for _, y in line]
        self.assertEqual(xs, sorted(xs))
        # A falling value is drawn lower, which in SVG means a larger y.
        self.assertEqual(ys, sorted(ys))

    def test_none_breaks_the_line(self):
        root = parse(svg.line_chart({"a": [1.0, 2.0, None, 3.0, 4.0]}))
        lines = series_points(root, "a")
        self.assertEqual([len(line) for line in lines], [2, 2])

    def test_log_scale_chosen_for_wide_range(self):
        wide = texts(parse(svg.line_chart({"a": [100.0, 1.0, 0.01]})))
        narrow = texts(parse(svg.line_chart({"a": [1.0, 0.8, 0.5]})))
        self.assertIn("loss (log scale)", wide)
        self.assertIn("loss", narrow)
        self.assertNotIn("loss (log scale)", narrow)

    def test_names_are_escaped(self):
        root = parse(svg.line_chart({'a<b & "c"': [1.0, 2.0]}, title="x < y"))
        self.assertIn('a<b & "c"', texts(root))
        self.assertEqual(root.find("svg:title", NS).text, "x < y")

    def test_bad_input_raises(self):
        with self.assertRaisesRegex(ValueError, "non-empty dict"):
            svg.line_chart({})
        with self.assertRaisesRegex(ValueError, "nothing to plot"):
            svg.line_chart({"a": [None, None]})
        with self.assertRaisesRegex(ValueError, r"'a'\[1\] is nan"):
            svg.line_chart({"a": [1.0, math.nan]})
        with self.assertRaisesRegex(ValueError, "log_y=True needs positive values"):
            svg.line_chart({"a": [1.0, 0.0]}, log_y=True)
        with self.assertRaisesRegex(TypeError, "expected a number or None"):
            svg.line_chart({"a": [1.0, "2"]})


class HistoryChartTest(unittest.TestCase):
    def test_every_term_and_validation(self):
        history = small_history()
        root = parse(svg.history_chart(history, title="Run"))
        for name in ["train task", "train hint t2->s1", "train total", "validation loss"]:
            [line] = series_points(root, name)
            self.assertEqual(len(line), len(history))
        [accuracy] = series_points(root, "validation accuracy")
        self.assertEqual(len(accuracy), len(history))
        self.assertIn("Run", texts(root))

    def test_no_validation_panel_without_validation(self):
        root = parse(svg.history_chart(small_history(validation=False)))
        names = [g.get("data-name") for g in root.iterfind(".//svg:g[@class='series']", NS)]
        self.assertEqual(names, ["train task", "train hint t2->s1", "train total"])

    def test_stage_changes_are_marked(self):
        history = History(dict(record, stage="hints" if record["epoch"] <= 2 else "task")
                          for record in small_history())
        root = parse(svg.history_chart(history))
        marks = list(root.iterfind(".//svg:line[@class='mark']", NS))
        # One mark in the loss panel and one in the accuracy panel.
        self.assertEqual(len(marks), 2)
        self.assertEqual(texts(root).count("task"), 2)
        self.assertEqual(list(parse(svg.history_chart(small_history())).iterfind(".//svg:line[@class='mark']", NS)), [])

    def test_repr_svg_matches_chart(self):
        history = small_history()
        self.assertEqual(history._repr_svg_(), svg.history_chart(history))
        self.assertIsNone(History()._repr_svg_())

    def test_empty_history_raises(self):
        with self.assertRaisesRegex(ValueError, "history is empty"):
            svg.history_chart(History())


class HeatmapTest(unittest.TestCase):
    def cells(self, root):
        return [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.find("svg:title", NS) is not None]

    def test_cells_labels_and_colours(self):
        matrix = [[1.0, 0.5, 0.0], [0.25, math.nan, 0.75]]
        root = parse(svg.heatmap(matrix, row_labels=["t1", "t2"], column_labels=["s0", "s1", "s2"],
                                 x_label="student state", y_label="teacher state", value_range=(0, 1)))
        cells = self.cells(root)
        self.assertEqual(len(cells), 6)
        fills = [cell.get("fill") for cell in cells]
        self.assertEqual(fills[0], svg.viridis(1.0))
        self.assertEqual(fills[2], svg.viridis(0.0))
        self.assertEqual(fills[4], "#bbbbbb")
        self.assertEqual(cells[1].find("svg:title", NS).text, "t1, s1: 0.50")
        words = texts(root)
        for word in ["t1", "t2", "s0", "s2", "student state", "teacher state", "CKA similarity"]:
            self.assertIn(word, words)
        self.assertIsNotNone(root.find(".//svg:g[@class='legend']", NS))

    def test_accepts_tensor(self):
        root = parse(svg.heatmap(Tensor([[0.1, 0.2], [0.3, 0.4]])))
        self.assertEqual(len(self.cells(root)), 4)

    def test_bad_input_raises(self):
        with self.assertRaisesRegex(ValueError, "equal length"):
            svg.heatmap([[1.0, 2.0], [3.0]])
        with self.assertRaisesRegex(ValueError, "non-empty list of rows"):
            svg.heatmap([])
        with self.assertRaisesRegex(ValueError, "1 row labels"):
            svg.heatmap([[1.0], [2.0]], row_labels=["a"])
        with self.assertRaisesRegex(TypeError, r"element \[0\]\[1\]"):
            svg.heatmap([[1.0, "x"]])


class TensorHtmlTest(unittest.TestCase):
    def test_small_tensor_is_a_table(self):
        table = ET.fromstring(Tensor([[1.5, -2.0], [3.0, 4.25]])._repr_html_())
        self.assertEqual(table.tag, "table")
        cells = [td.text for td in table.iter("td")]
        self.assertEqual(cells, ["1.5", "-2", "3", "4.25"])

    def test_large_tensor_falls_back(self):
        self.assertIsNone(Tensor.zeros(21, 2)._repr_html_())


class WriteTest(unittest.TestCase):
    def test_write_rejects_non_svg(self):
        with self.assertRaisesRegex(ValueError, "starting with '<svg'"):
            svg.write_svg("hello", "/nonexistent/never-written.svg")


if __name__ == "__main__":
    unittest.main()
