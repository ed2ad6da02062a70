"""A single student layer learns to reproduce a teacher layer's state.

Run it from the repository's root folder:

    python3 examples/quickstart.py

It prints the distillation loss before and after one plain SGD step.
"""

import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from clsd import CLSDTrainer, Layer, Tensor  # noqa: E402

input_size = 4
hidden_size = 4
student_layer = Layer(input_size, hidden_size)
teacher_layer = Layer(input_size, hidden_size)
trainer = CLSDTrainer(learning_rate=0.1)

data = Tensor([[random.random() for _ in range(input_size)]])
teacher_state = teacher_layer.forward(data)
student_state = student_layer.forward(data)
print(f"Initial Distillation Loss: {trainer.compute_loss(student_state, teacher_state):.4f}")

trainer.distill_step(student_layer, data, teacher_state)
new_student_state = student_layer.forward(data)
print(f"Post-Distillation Loss: {trainer.compute_loss(new_student_state, teacher_state):.4f}")
