"""Time clsd's matrix products and training steps against reference implementations.

    python benchmarks/run.py            the full run (about 1.5 minutes on a
                                        2-core Xeon, of which one micrograd step
                                        takes 30 s and the default demo 15 s)
    python benchmarks/run.py --quick    a short run (about 20 seconds)

Needs only the standard library. The peers are used when they are
installed and skipped with a line saying so when they are not: NumPy,
PyTorch (timed with one thread and with its default thread count) and
micrograd. Two pure-Python baselines are written here: a textbook
implementation with triple loops and indexing, and a row-by-column
``sum(map(operator.mul, row, column))`` kernel. On Python 3.12 and newer a
row-by-column ``math.sumprod`` kernel is timed too.

The machine may be shared, so every table reports the median of repeats in
which the implementations take turns (interleaved), and ratios measured in
the same run. Absolute times move with the load; the ratios move less.
"""

import argparse
import gc
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from operator import mul

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# Idle BLAS and OpenMP worker threads spin for a while after each call by
# default, which takes the CPU from whatever is timed next on a small
# machine: on 2 cores, NumPy's OpenBLAS threads made the pure-Python steps
# timed after them twice as slow. So NumPy's BLAS runs one thread, and
# PyTorch's OpenMP threads sleep when idle (PyTorch is still timed with one
# thread and with its default count). Both variables must be set before the
# libraries load; a value already in the environment is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from clsd import kernels, losses  # noqa: E402  (needs the path above)
from clsd.network import Network  # noqa: E402
from clsd.optim import SGD  # noqa: E402
from clsd.tensor import Tensor  # noqa: E402
from clsd.trainer import CLSDTrainer  # noqa: E402


def optional_import(name):
    """Return the module ``name``, or None when it is not installed."""
    try:
        return __import__(name)
    except ImportError:
        return None


numpy = optional_import("numpy")
torch = optional_import("torch")
micrograd_engine = None
if optional_import("micrograd") is not None:
    import micrograd.engine as micrograd_engine


def numpy_threads():
    """Describe NumPy's BLAS thread setting for the table."""
    return f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}"


# ---- timing ---------------------------------------------------------------


def interleaved_medians(functions, repeats, min_seconds=0.02):
    """Time each function in turns and return {name: (median, minimum) seconds per call}.

    Every repeat calls each function once in a fixed order, so slow phases of
    a shared machine hit all of them alike. A function faster than
    ``min_seconds`` is called several times per repeat and the time divided.
    """
    calls = {}
    for name, function in functions.items():
        started = time.perf_counter()
        function()
        elapsed = time.perf_counter() - started
        calls[name] = max(1, int(min_seconds / max(elapsed, 1e-9)))
    samples = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            count = calls[name]
            started = time.perf_counter()
            for _ in range(count):
                function()
            samples[name].append((time.perf_counter() - started) / count)
    return {name: (statistics.median(values), min(values)) for name, values in samples.items()}


def print_table(title, rows, header):
    """Print a Markdown table: ``rows`` is a list of tuples of cell strings."""
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def format_seconds(seconds):
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


# ---- pure-Python baselines written for this benchmark ---------------------


def textbook_matmul(a, b):
    """Return a @ b with three nested loops and indexing, as a textbook writes it."""
    rows, inner, columns = len(a), len(b), len(b[0])
    result = [[0.0] * columns for _ in range(rows)]
    for i in range(rows):
        for j in range(columns):
            total = 0.0
            for p in range(inner):
                total += a[i][p] * b[p][j]
            result[i][j] = total
    return result


def sum_map_matmul(a, b):
    """Return a @ b as ``sum(map(mul, row, column))`` for every row and column."""
    columns = list(zip(*b))
    return [[sum(map(mul, row, column)) for column in columns] for row in a]


def polarization_matmul(a, b):
    """Return a @ b as |a| |b| (|u + v|^2 - |u - v|^2) / 4, two math.dist calls per element.

    u and v are the row and the column scaled to unit norm. This is the
    symmetric polarization identity that clsd's kernel does not use.
    """
    dist, hypot = math.dist, math.hypot

    def unit(vectors):
        norms = [hypot(*v) for v in vectors]
        return [tuple(x / n for x in v) if n else tuple(v) for v, n in zip(vectors, norms)], norms

    rows, row_norms = unit(a)
    columns, column_norms = unit(list(zip(*b)))
    negated = [tuple(-x for x in v) for v in columns]
    return [
        [n * m * 0.25 * (dist(u, w) ** 2 - dist(u, v) ** 2) for v, w, m in zip(columns, negated, column_norms)]
        for u, n in zip(rows, row_norms)
    ]


def sumprod_matmul(a, b):
    """Return a @ b as ``math.sumprod(row, column)`` for every row and column."""
    sumprod = math.sumprod
    columns = list(zip(*b))
    return [[sumprod(row, column) for column in columns] for row in a]


class TextbookMLP:
    """A sigmoid MLP with loops and indexing only: forward, backward and SGD by hand."""

    def __init__(self, network):
        self.weights = [layer.weight.tolist() for layer in network.layers]
        self.biases = [layer.bias.tolist()[0] for layer in network.layers]

    def step(self, x, labels, learning_rate):
        # Forward: z = a @ W + b, then the sigmoid on every layer but the last.
        states = [x]
        depth = len(self.weights)
        for index in range(depth):
            z = textbook_matmul(states[-1], self.weights[index])
            bias = self.biases[index]
            for i in range(len(z)):
                for j in range(len(z[i])):
                    z[i][j] += bias[j]
                    if index < depth - 1:
                        z[i][j] = 1.0 / (1.0 + math.exp(-z[i][j]))
            states.append(z)

        # Softmax cross-entropy gradient: (softmax(z) - onehot) / batch.
        batch = len(x)
        grad = []
        for i, row in enumerate(states[-1]):
            top = max(row)
            exps = [math.exp(v - top) for v in row]
            total = sum(exps)
            grad.append([e / total / batch for e in exps])
            grad[i][labels[i]] -= 1.0 / batch

        # Backward and update, layer by layer from the top.
        for index in range(depth - 1, -1, -1):
            a = states[index]
            w = self.weights[index]
            inputs, outputs = len(w), len(w[0])
            grad_w = textbook_matmul([list(column) for column in zip(*a)], grad)
            grad_b = [sum(grad[i][j] for i in range(batch)) for j in range(outputs)]
            if index > 0:
                w_t = [[w[p][j] for p in range(inputs)] for j in range(outputs)]
                grad_a = textbook_matmul(grad, w_t)
                for i in range(batch):
                    for p in range(inputs):
                        s = a[i][p]
                        grad_a[i][p] *= s * (1.0 - s)
            for p in range(inputs):
                for j in range(outputs):
                    w[p][j] -= learning_rate * grad_w[p][j]
            for j in range(outputs):
                self.biases[index][j] -= learning_rate * grad_b[j]
            if index > 0:
                grad = grad_a


# ---- peers ------------------------------------------------------------------


def micrograd_exp(value):
    """Return exp(value) as a micrograd node, with its backward (micrograd has no exp)."""
    out = micrograd_engine.Value(math.exp(value.data), (value,), "exp")

    def _backward():
        value.grad += out.data * out.grad

    out._backward = _backward
    return out


def micrograd_log(value):
    """Return log(value) as a micrograd node, with its backward."""
    out = micrograd_engine.Value(math.log(value.data), (value,), "log")

    def _backward():
        value.grad += out.grad / value.data

    out._backward = _backward
    return out


class MicrogradMLP:
    """The same sigmoid MLP on micrograd's scalar ``Value`` nodes."""

    def __init__(self, network):
        value = micrograd_engine.Value
        self.layers = [
            ([[value(w) for w in row] for row in layer.weight.tolist()],
             [value(b) for b in layer.bias.tolist()[0]])
            for layer in network.layers
        ]

    def parameters(self):
        return [p for weights, biases in self.layers for row in weights + [biases] for p in row]

    def step(self, x, labels, learning_rate):
        depth = len(self.layers)
        total = micrograd_engine.Value(0.0)
        for row, label in zip(x, labels):
            state = row
            for index, (weights, biases) in enumerate(self.layers):
                columns = list(zip(*weights))
                z = [sum((w * s for w, s in zip(column, state)), b) for column, b in zip(columns, biases)]
                state = z if index == depth - 1 else [(1 + micrograd_exp(-v)) ** -1 for v in z]
            top = max(v.data for v in state)
            log_total = micrograd_log(sum(micrograd_exp(v - top) for v in state))
            total = total + (log_total + top - state[label])
        loss = total * (1.0 / len(x))
        parameters = self.parameters()
        for p in parameters:
            p.grad = 0.0
        loss.backward()
        for p in parameters:
            p.data -= learning_rate * p.grad


def numpy_step_function(network, x, labels, learning_rate):
    """Return a function that runs one NumPy training step of the same MLP in float64."""
    weights = [numpy.array(layer.weight.tolist()) for layer in network.layers]
    biases = [numpy.array(layer.bias.tolist()[0]) for layer in network.layers]
    x = numpy.array(x.tolist())
    onehot = numpy.eye(network.sizes[-1])[labels]

    def step():
        states = [x]
        for index, (w, b) in enumerate(zip(weights, biases)):
            z = states[-1] @ w + b
            states.append(z if index == len(weights) - 1 else 1.0 / (1.0 + numpy.exp(-z)))
        logits = states[-1]
        exps = numpy.exp(logits - logits.max(axis=1, keepdims=True))
        grad = (exps / exps.sum(axis=1, keepdims=True) - onehot) / len(x)
        for index in range(len(weights) - 1, -1, -1):
            a = states[index]
            grad_w = a.T @ grad
            grad_b = grad.sum(axis=0)
            if index > 0:
                grad_next = (grad @ weights[index].T) * a * (1.0 - a)
            weights[index] -= learning_rate * grad_w
            biases[index] -= learning_rate * grad_b
            if index > 0:
                grad = grad_next

    return step


def torch_step_function(network, x, labels, learning_rate, threads):
    """Return a function that runs one PyTorch training step with ``threads`` threads."""
    modules = []
    for index, layer in enumerate(network.layers):
        linear = torch.nn.Linear(layer.in_features, layer.out_features).double()
        with torch.no_grad():
            linear.weight.copy_(torch.tensor(layer.weight.tolist(), dtype=torch.float64).T)
            linear.bias.copy_(torch.tensor(layer.bias.tolist()[0], dtype=torch.float64))
        modules.append(linear)
        if index < network.depth - 1:
            modules.append(torch.nn.Sigmoid())
    model = torch.nn.Sequential(*modules)
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)
    inputs = torch.tensor(x.tolist(), dtype=torch.float64)
    targets = torch.tensor(labels)
    loss_function = torch.nn.CrossEntropyLoss()

    def step():
        torch.set_num_threads(threads)
        optimizer.zero_grad()
        loss_function(model(inputs), targets).backward()
        optimizer.step()

    return step


# ---- the sections -------------------------------------------------------------


def random_matrix(rng, rows, columns):
    return [[rng.uniform(-1.0, 1.0) for _ in range(columns)] for _ in range(rows)]


def product_section(shapes, repeats):
    """Time each matrix product shape on every implementation; print ns per multiply-add."""
    rng = random.Random(0)
    default_threads = torch.get_num_threads() if torch else None
    rows = []
    for m, k, n in shapes:
        a, b = random_matrix(rng, m, k), random_matrix(rng, k, n)
        ta, tb = Tensor(a), Tensor(b)
        functions = {"clsd Tensor @": lambda: ta @ tb}
        functions[f"clsd kernel {kernels.choose_kernel(m, k, n)} (chosen)"] = lambda: kernels.matmul(a, b)
        functions["clsd kernel distance"] = lambda: kernels.matmul(a, b, kernel="distance")
        if hasattr(math, "sumprod"):
            functions["math.sumprod row by column"] = lambda: sumprod_matmul(a, b)
        functions["polarization, 2 math.dist calls per element"] = lambda: polarization_matmul(a, b)
        functions["sum(map(mul)) row by column"] = lambda: sum_map_matmul(a, b)
        functions["textbook triple loop"] = lambda: textbook_matmul(a, b)
        if numpy:
            na, nb = numpy.array(a), numpy.array(b)
            functions[f"NumPy float64, {numpy_threads()}"] = lambda: na @ nb
        if torch:
            xa = torch.tensor(a, dtype=torch.float64)
            xb = torch.tensor(b, dtype=torch.float64)

            def torch_product(threads):
                def product():
                    torch.set_num_threads(threads)
                    return xa @ xb
                return product

            functions["PyTorch float64, 1 thread"] = torch_product(1)
            functions[f"PyTorch float64, {default_threads} threads"] = torch_product(default_threads)
        timings = interleaved_medians(functions, repeats)
        reference = timings["clsd Tensor @"][0]
        madds = m * k * n
        for name, (median, minimum) in timings.items():
            rows.append((
                f"{m} x {k} x {n}", name, f"{median * 1e9 / madds:.2f}",
                f"{minimum * 1e9 / madds:.2f}", f"{median / reference:.3g}",
            ))
        if torch:
            torch.set_num_threads(default_threads)
    print_table(
        "Matrix products (a (m, k) @ b (k, n), float64)", rows,
        ("m x k x n", "implementation", "ns per multiply-add (median)", "(minimum)", "median / clsd Tensor @"),
    )


def recorded_products(step):
    """Run ``step`` once and return the kernel calls it made, as (function, a, b)."""
    calls = []
    originals = {name: getattr(kernels, name) for name in ("matmul", "matmul_transposed", "transposed_matmul")}

    def recorder(name):
        def record(a, b, kernel=None):
            # A layer passes W as kernels.Columns; the replay gets W's rows
            # and so pays for the transpose, as a training step does.
            rows = [list(row) for row in zip(*b.vectors)] if isinstance(b, kernels.Columns) else b
            calls.append((originals[name], [row[:] for row in a], [row[:] for row in rows]))
            return originals[name](a, b, kernel)
        return record

    for name in originals:
        setattr(kernels, name, recorder(name))
    try:
        step()
    finally:
        for name, function in originals.items():
            setattr(kernels, name, function)
    return calls


def clsd_step_function(network, x, labels, learning_rate):
    """Return a function that runs one clsd training step: forward, loss, backward, SGD."""
    optimizer = SGD(learning_rate)

    def step():
        logits = network.forward(x)
        _, grad = losses.cross_entropy(logits, labels)
        network.zero_grad()
        network.backward({network.depth: grad})
        optimizer.step(network.parameters(), network.gradients())

    return step


def with_kernel(kernel, function):
    """Return ``function`` wrapped so that every product in it uses ``kernel``."""
    def run():
        original = kernels.choose_kernel
        kernels.choose_kernel = lambda m, k, n: kernel
        try:
            function()
        finally:
            kernels.choose_kernel = original
    return run


def training_section(sizes, batch, repeats, micrograd_allowed):
    """Time one SGD step of a sigmoid MLP on every implementation."""
    rng = random.Random(1)
    network = Network.mlp(sizes, activation="sigmoid", seed=0)
    x = Tensor([[rng.gauss(0.0, 1.0) for _ in range(sizes[0])] for _ in range(batch)])
    labels = [rng.randrange(sizes[-1]) for _ in range(batch)]
    learning_rate = 0.1
    label = f"{'-'.join(map(str, sizes))} at batch {batch}"
    notes = []

    # The products of one clsd step, replayed alone on the same values.
    step = clsd_step_function(Network.mlp(sizes, activation="sigmoid", seed=0), x, labels, learning_rate)
    calls = recorded_products(step)
    madds = 0
    for function, a, b in calls:
        if function is kernels.matmul:
            madds += len(a) * len(a[0]) * len(b[0])
        elif function is kernels.matmul_transposed:
            madds += len(a) * len(a[0]) * len(b)
        else:
            madds += len(a[0]) * len(a) * len(b[0])

    def products_alone():
        for function, a, b in calls:
            function(a, b)

    functions = {
        "clsd step": clsd_step_function(network, x, labels, learning_rate),
        "clsd step, products alone": products_alone,
        "clsd step with the sum(map(mul)) kernel": with_kernel(
            "sum", clsd_step_function(Network.mlp(sizes, activation="sigmoid", seed=0), x, labels, learning_rate)),
        "textbook pure Python": lambda: textbook.step(x.data, labels, learning_rate),
    }
    textbook = TextbookMLP(network)
    if numpy:
        functions[f"NumPy float64, {numpy_threads()}"] = numpy_step_function(network, x, labels, learning_rate)
    else:
        notes.append("NumPy: skipped, not installed")
    if torch:
        default_threads = torch.get_num_threads()
        functions["PyTorch float64, 1 thread"] = torch_step_function(network, x, labels, learning_rate, 1)
        functions[f"PyTorch float64, {default_threads} threads"] = torch_step_function(
            network, x, labels, learning_rate, default_threads)
    else:
        notes.append("PyTorch: skipped, not installed")
    timings = interleaved_medians(functions, repeats)
    if torch:
        torch.set_num_threads(default_threads)

    # micrograd builds a graph of scalar nodes: one step of the large network
    # takes about a minute, so it is timed once, after the others.
    if micrograd_engine is None:
        notes.append("micrograd: skipped, not installed")
    elif not micrograd_allowed:
        notes.append("micrograd: skipped for this size in --quick (one step takes about a minute)")
    else:
        # The graph of a micrograd step is full of reference cycles; collect
        # what earlier sections left, so that this timing pays only its own.
        gc.collect()
        model = MicrogradMLP(network)
        micrograd_repeats = 1 if batch * sum(a * b for a, b in zip(sizes, sizes[1:])) > 1e5 else max(1, repeats // 2)
        times = []
        for _ in range(micrograd_repeats):
            started = time.perf_counter()
            model.step(x.data, labels, learning_rate)
            times.append(time.perf_counter() - started)
        timings["micrograd (scalar autograd)"] = (statistics.median(times), min(times))
        del model
        gc.collect()
        notes.append(f"micrograd: {micrograd_repeats} step(s), not interleaved with the others")

    reference = timings["clsd step"][0]
    rows = [
        (name, format_seconds(median), format_seconds(minimum), f"{median * 1e9 / madds:.2f}",
         f"{median / reference:.3g}")
        for name, (median, minimum) in timings.items()
    ]
    print_table(
        f"Training step, {label} (sigmoid hidden layers, cross-entropy, SGD)", rows,
        ("implementation", "median time", "minimum", "ns per multiply-add of the step", "median / clsd step"),
    )
    step_median, products_median = timings["clsd step"][0], timings["clsd step, products alone"][0]
    print(f"\n{len(calls)} products, {madds} multiply-adds per step. "
          f"clsd step / its products alone: {step_median / products_median:.2f} (medians), "
          f"{timings['clsd step'][1] / timings['clsd step, products alone'][1]:.2f} (minimums)")
    for note in notes:
        print(f"- {note}")


def forward_section(repeats):
    """Time forward passes in batches with an unchanged W, with and without W's cached columns."""
    network = Network.mlp([64, 128, 128, 10], activation="sigmoid", seed=0)
    batches = [Tensor.uniform(32, 64, seed=seed) for seed in range(10)]

    def forward_all(reuse):
        def run():
            for batch in batches:
                if not reuse:
                    for layer in network.layers:
                        layer._columns_cache = None
                network.forward(batch)
        return run

    timings = interleaved_medians({
        "W's columns reused (Layer keeps them while W is unchanged)": forward_all(True),
        "W's columns rebuilt for every batch": forward_all(False),
    }, repeats)
    reference = timings["W's columns reused (Layer keeps them while W is unchanged)"][0]
    rows = [
        (name, format_seconds(median / len(batches)), format_seconds(minimum / len(batches)),
         f"{median / reference:.3g}")
        for name, (median, minimum) in timings.items()
    ]
    print_table(
        "Forward pass of 64-128-128-10 at batch 32, ten batches with the same weights",
        rows, ("implementation", "median time per batch", "minimum", "median / reused"),
    )


def teacher_epoch_section(repeats):
    """Time one training epoch of the demo's teacher on the digits training split."""
    from clsd import demo
    from clsd.datasets import Standardizer, load_digits, train_test_split

    train, _ = train_test_split(load_digits(), test_fraction=0.2, seed=0)
    train = Standardizer().fit(train.features).transform_dataset(train)

    def epoch(kernel=None):
        def run():
            teacher = Network.mlp(demo.TEACHER_SIZES, activation="tanh", seed=0)
            CLSDTrainer(learning_rate=0.005, optimizer="adam").fit(teacher, train, epochs=1, batch_size=32, seed=0)
        return run if kernel is None else with_kernel(kernel, run)

    timings = interleaved_medians({
        "clsd": epoch(),
        "clsd with the sum(map(mul)) kernel": epoch("sum"),
    }, repeats)
    reference = timings["clsd"][0]
    rows = [
        (name, format_seconds(median), format_seconds(minimum), f"{median / reference:.3g}")
        for name, (median, minimum) in timings.items()
    ]
    print_table(
        f"One epoch of the demo's teacher {'-'.join(map(str, demo.TEACHER_SIZES))} "
        f"(tanh, Adam, {len(train)} rows, batch 32, CLSDTrainer.fit)",
        rows, ("implementation", "median time", "minimum", "median / clsd"),
    )


# Runs the demo script and then writes the peak resident memory of this
# process to stderr. VmHWM in /proc/self/status counts only memory mapped
# since exec; ru_maxrss would also count the benchmark's own memory, which
# the child inherits at fork.
DEMO_WRAPPER = """
import runpy, sys
script = sys.argv[1]
sys.argv = sys.argv[1:]
try:
    runpy.run_path(script, run_name="__main__")
except SystemExit as exit:
    status = exit.code
else:
    status = 0
try:
    with open("/proc/self/status") as file:
        peak = [line.split()[1] for line in file if line.startswith("VmHWM:")][0]
except (OSError, IndexError):
    peak = "unknown"
sys.stderr.write("peak-kib " + peak + "\\n")
sys.exit(status)
"""


def demo_section(quick):
    """Run ``python run_demo.py`` in a subprocess; print its wall time and peak memory."""
    script = os.path.join(ROOT, "run_demo.py")
    if not os.path.exists(script):
        print("\n### Demo\n\n- skipped: run_demo.py does not exist")
        return
    options = ["--quick"] if quick else []
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-c", DEMO_WRAPPER, script] + options,
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    seconds = time.perf_counter() - started
    print(f"\n### Demo end to end: `python run_demo.py {' '.join(options)}`\n".replace(" `\n", "`\n"))
    lines = completed.stderr.strip().splitlines()
    if completed.returncode != 0:
        print(f"- failed with exit status {completed.returncode}: {' '.join(lines[-5:])}")
        return
    print(f"- wall time: {seconds:.1f} s")
    peak = lines[-1].split()[-1] if lines and lines[-1].startswith("peak-kib") else "unknown"
    if peak == "unknown":
        print("- peak memory: not measured (/proc/self/status is not available on this platform)")
    else:
        print(f"- peak resident memory of the demo process (VmHWM): {int(peak) / 1024:.1f} MiB")


def describe_machine(arguments):
    """Print the interpreter, the machine, the load and the peers' versions."""
    print("## clsd benchmarks\n")
    print(f"- command: `{' '.join(['python benchmarks/run.py'] + list(arguments))}`")
    print(f"- interpreter: {platform.python_implementation()} {platform.python_version()} ({sys.executable})")
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    print(f"- machine: {model}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}")
    if hasattr(os, "getloadavg"):
        print("- load average at start (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    peers = []
    for name, module in (("NumPy", numpy), ("PyTorch", torch)):
        peers.append(f"{name} {module.__version__}" if module else f"{name} not installed")
    peers.append("micrograd installed" if micrograd_engine else "micrograd not installed")
    print("- peers: " + ", ".join(peers))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, fewer shapes, the quick demo")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved repeats per table (default 9, 3 with --quick)")
    parser.add_argument("--skip-demo", action="store_true", help="do not run run_demo.py")
    parser.add_argument("--skip-micrograd", action="store_true", help="do not time micrograd")
    arguments = parser.parse_args(argv)
    repeats = arguments.repeats or (3 if arguments.quick else 9)
    if repeats < 1:
        parser.error(f"--repeats must be at least 1, got {repeats}")

    describe_machine(sys.argv[1:] if argv is None else argv)
    shapes = [(128, 128, 128), (32, 128, 128), (32, 64, 128), (32, 128, 10), (128, 32, 128), (8, 16, 16), (8, 16, 4)]
    if arguments.quick:
        shapes = [(128, 128, 128), (32, 128, 128), (8, 16, 16)]
    product_section(shapes, repeats)
    training_section([64, 128, 128, 10], 32, repeats,
                     micrograd_allowed=not (arguments.quick or arguments.skip_micrograd))
    training_section([8, 16, 16, 4], 8, repeats, micrograd_allowed=not arguments.skip_micrograd)
    forward_section(repeats)
    teacher_epoch_section(max(1, repeats // 3))
    if arguments.skip_demo:
        print("\n### Demo\n\n- skipped: --skip-demo")
    else:
        demo_section(arguments.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
