"""Move networks between clsd and PyTorch through safetensors files, both ways.

1. clsd to torch: train a small clsd network on iris, save it as
   safetensors, load the file into the equivalent ``torch.nn.Sequential``
   with ``load_state_dict``, and show that both give the same outputs to
   1e-12 in float64.
2. torch to clsd: train a teacher on the handwritten digits in PyTorch and
   save its ``state_dict`` with the ``safetensors`` package. clsd loads it
   and distills it into a small student that needs only the standard
   library, and saves the student as JSON.

Run it with ``python examples/pytorch_bridge.py``. It needs ``torch``
(and uses the ``safetensors`` package when it is installed); without torch
it prints a message and exits with status 0.
"""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import clsd  # noqa: E402
from clsd import CLSDTrainer, LayerMatch, LogitMatch, Network, datasets, evaluate  # noqa: E402
from clsd.datasets import Standardizer  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

try:
    from safetensors.torch import load_file, save_file
except ImportError:
    load_file = save_file = None

TORCH_MODULES = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "ReLU", "identity": "Identity"}


def sequential_for(network):
    """Return an untrained float64 ``torch.nn.Sequential`` with ``network``'s architecture."""
    modules = []
    for layer in network.layers:
        modules.append(torch.nn.Linear(layer.in_features, layer.out_features))
        modules.append(getattr(torch.nn, TORCH_MODULES[layer.activation.name])())
    return torch.nn.Sequential(*modules).double()


def read_state_dict(path):
    """Return a safetensors file's tensors as a torch state dict, with or without the package."""
    if load_file is not None:
        return load_file(path)
    tensors, _ = clsd.safetensors.read_file(path)
    return {
        name: torch.tensor(stored.values, dtype=torch.float64).reshape(stored.shape)
        for name, stored in tensors.items()
    }


def write_state_dict(state_dict, path, metadata):
    """Write a torch state dict as safetensors, with or without the package."""
    if save_file is not None:
        save_file({name: tensor.contiguous() for name, tensor in state_dict.items()}, path, metadata=metadata)
        return
    tensors = {name: tensor.double().tolist() for name, tensor in state_dict.items()}
    clsd.safetensors.write_file(path, tensors, metadata)


def clsd_to_torch(folder):
    print("== clsd -> safetensors -> torch.nn.Sequential")
    iris = datasets.load_iris()
    train, test = datasets.train_test_split(iris, test_fraction=0.3, seed=0)
    scaler = Standardizer().fit(train.features)
    train, test = scaler.transform_dataset(train), scaler.transform_dataset(test)

    network = Network.mlp([4, 16, 3], activation="tanh", seed=0)
    CLSDTrainer(learning_rate=0.05, optimizer="adam").fit(network, train, epochs=30, batch_size=16, seed=0)
    print(f"clsd network {network.sizes}: test accuracy {evaluate(network, test.features, test.labels)['accuracy']:.3f}")

    path = os.path.join(folder, "iris.safetensors")
    clsd.save(network, path)
    model = sequential_for(network)
    result = model.load_state_dict(read_state_dict(path))
    print(f"load_state_dict: missing {result.missing_keys}, unexpected {result.unexpected_keys}")

    with torch.no_grad():
        torch_outputs = model(torch.tensor(test.features.data, dtype=torch.float64)).tolist()
    clsd_outputs = network.forward(test.features).data
    difference = max(abs(a - b) for row_a, row_b in zip(clsd_outputs, torch_outputs) for a, b in zip(row_a, row_b))
    print(f"largest output difference over {len(test)} rows: {difference:.3g}")
    if difference > 1e-12:
        raise SystemExit(f"outputs differ by {difference:.3g}, more than 1e-12")


def train_torch_teacher(train, epochs=40):
    torch.manual_seed(0)
    teacher = torch.nn.Sequential(
        torch.nn.Linear(64, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 32), torch.nn.ReLU(),
        torch.nn.Linear(32, 10),
    ).double()
    optimizer = torch.optim.Adam(teacher.parameters(), lr=0.01)
    x = torch.tensor(train.features.data, dtype=torch.float64)
    y = torch.tensor(train.labels)
    generator = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        for batch in torch.randperm(len(y), generator=generator).split(64):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(teacher(x[batch]), y[batch]).backward()
            optimizer.step()
    return teacher


def torch_to_clsd(folder):
    print("== torch -> safetensors -> clsd teacher -> pure-Python student")
    digits = datasets.load_digits()
    train, test = datasets.train_test_split(digits, test_fraction=0.2, seed=0)
    scaler = Standardizer().fit(train.features)
    train, test = scaler.transform_dataset(train), scaler.transform_dataset(test)

    started = time.perf_counter()
    torch_teacher = train_torch_teacher(train)
    print(f"torch teacher trained in {time.perf_counter() - started:.1f} s")

    # The safetensors file carries the architecture in its metadata, so
    # clsd.load needs no other argument; without it, pass activations=[...].
    path = os.path.join(folder, "teacher.safetensors")
    metadata = {"sizes": "[64, 64, 32, 10]", "activations": '["relu", "relu", "identity"]'}
    write_state_dict(torch_teacher.state_dict(), path, metadata)
    teacher = clsd.load(path)
    with torch.no_grad():
        predicted = torch_teacher(torch.tensor(test.features.data, dtype=torch.float64)).argmax(dim=1)
    torch_accuracy = (predicted == torch.tensor(test.labels)).double().mean().item()
    print(f"teacher {teacher.sizes}: test accuracy {torch_accuracy:.3f} in torch, "
          f"{evaluate(teacher, test.features, test.labels)['accuracy']:.3f} in clsd")

    # The student's hidden state (width 32) learns the teacher's second
    # hidden state, and its logits learn the teacher's soft targets.
    student = Network.mlp([64, 32, 10], activation="relu", seed=1)
    started = time.perf_counter()
    CLSDTrainer(learning_rate=0.01, optimizer="adam").fit(
        student, train, teacher=teacher,
        matches=[LayerMatch(teacher_state=2, student_state=1, weight=0.1), LogitMatch(temperature=4.0, weight=0.5)],
        task_weight=0.5, epochs=8, batch_size=32, seed=0,
    )
    result = evaluate(student, test.features, test.labels)
    print(f"student {student.sizes} distilled in {time.perf_counter() - started:.1f} s: "
          f"test accuracy {result['accuracy']:.3f}")

    student_path = os.path.join(folder, "student.json")
    clsd.save(student, student_path)
    reloaded = clsd.load(student_path)
    same = reloaded.forward(test.features) == student.forward(test.features)
    print(f"student saved as JSON ({os.path.getsize(student_path)} bytes); reloaded outputs identical: {same}")


def main():
    if torch is None:
        print("pytorch_bridge: torch is not installed, so there is nothing to bridge to; "
              "install it with 'pip install torch' to run this example.")
        return 0
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        clsd_to_torch(folder)
        torch_to_clsd(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
