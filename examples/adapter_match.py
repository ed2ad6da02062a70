"""Train a thin student's hidden state toward a wider teacher state through an adapter.

    python3 examples/adapter_match.py

The teacher (64-32-32-10, tanh) is trained on the digits first. The student
(64-12-10) has a 12-wide hidden state, so its hint to the teacher's
32-wide state 2 goes through a linear adapter from 12 to 32, which is
trained with the student. The script prints the training plan, the
accuracy of both networks, and shows that the trained student runs
without the adapter. It takes a few seconds.
"""

from common import accuracy, load_split, train_teacher

from clsd import CLSDTrainer, LayerMatch, Network
from clsd.reporting import PlanPrinter


def main():
    train, test = load_split("digits")
    teacher = train_teacher(train, [64, 32, 32, 10], epochs=5)
    print(f"teacher accuracy: {accuracy(teacher, test):.4f}")

    student = Network.mlp([64, 12, 10], activation="tanh", seed=1)
    hint = LayerMatch.between(teacher, student, teacher_state=2, student_state=1, adapter="identity", seed=2)
    print(f"match: {hint!r}")
    adapter_before = hint.adapter.weight.copy()

    trainer = CLSDTrainer(optimizer="adam", learning_rate=0.01)
    history = trainer.fit(
        student, train, teacher=teacher, matches=[hint], epochs=5, batch_size=32,
        validation=test, seed=0, callbacks=[PlanPrinter()],
    )
    for record in history:
        terms = ", ".join(f"{name} {value:.4f}" for name, value in record["terms"].items())
        print(f"epoch {record['epoch']}: {terms}, validation accuracy {record['validation']['accuracy']:.4f}")

    changed = hint.adapter.weight != adapter_before
    print(f"adapter weights changed during training: {changed}")
    print(f"student sizes (no adapter inside): {student.sizes}")
    print(f"student accuracy without the adapter: {accuracy(student, test):.4f}")


if __name__ == "__main__":
    main()
