"""clsd: Cross-Layer State Distillation in pure Python.

A student network's layer is trained to reproduce the activations (the
state) of a teacher network's layer, often a deeper one, so that a small or
shallow student learns the teacher's deep representation early. clsd uses
only the standard library, and every gradient is derived by hand.

>>> from clsd import Layer, Tensor
>>> Layer(4, 4).forward(Tensor([[0.1, 0.2, 0.3, 0.4]])).shape
(1, 4)

The main names:

- ``Tensor``: a 2-D float matrix stored as a list of row lists.
- ``Layer``: a dense layer with a hand-derived backward pass.
- ``Network``: a stack of layers; ``states(x)`` returns every state.
- ``LayerMatch`` and ``CLSDTrainer``: distillation of teacher states.
- ``Adapter``, ``LogitMatch``, ``Stage``, ``schedules``: widths, soft
  targets, stages and weight schedules for distillation.
- ``cka``, ``pairing``, ``blocks``: which layers to pair, and block
  replacement.
- ``losses``, ``optim``, ``datasets``, ``activations``: the building blocks.
"""

from . import activations, datasets, kernels, losses, optim
from . import blocks, cka, pairing, reporting, schedules, stages
from . import checkpoint, safetensors
from .adapters import Adapter
from .checkpoint import load, load_into, save
from .errors import CheckpointError
from .layer import Layer
from .network import Network
from .optim import SGD, Adam
from .tensor import Tensor
from .stages import Stage
from .trainer import CLSDTrainer, History, LayerMatch, LogitMatch, TrainingDiverged, evaluate

__version__ = "0.1.0"

__all__ = [
    "Adam",
    "Adapter",
    "CLSDTrainer",
    "CheckpointError",
    "History",
    "Layer",
    "LayerMatch",
    "LogitMatch",
    "Network",
    "SGD",
    "Stage",
    "Tensor",
    "TrainingDiverged",
    "activations",
    "checkpoint",
    "load",
    "load_into",
    "safetensors",
    "save",
    "blocks",
    "cka",
    "datasets",
    "evaluate",
    "kernels",
    "losses",
    "optim",
    "pairing",
    "reporting",
    "schedules",
    "stages",
]
