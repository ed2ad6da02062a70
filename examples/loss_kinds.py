"""Compare the state losses on one hint: mse, normalized_mse, cosine and relation.

    python3 examples/loss_kinds.py

A 64-16-10 student learns the digits with a hint from the teacher's state 2
(width 32) to its state 1 (width 16). mse, normalized_mse and cosine
compare the states elementwise, so they go through a linear adapter from
16 to 32; relation compares the batch's row-similarity matrices and needs
no adapter. The script prints each run's final hint value and test
accuracy, next to a student trained on the labels alone. It takes a few
seconds.
"""

from common import accuracy, load_split, train_teacher

from clsd import CLSDTrainer, LayerMatch, Network


def train_student(train, test, teacher, loss):
    student = Network.mlp([64, 16, 10], activation="tanh", seed=1)
    matches = []
    if loss is not None:
        adapter = None if loss == "relation" else "identity"
        matches = [LayerMatch.between(teacher, student, 2, 1, loss=loss, adapter=adapter, seed=2)]
    trainer = CLSDTrainer(optimizer="adam", learning_rate=0.01)
    history = trainer.fit(student, train, teacher=teacher, matches=matches, epochs=4, batch_size=32, seed=0)
    hint = history[-1]["terms"].get("hint t2->s1")
    return hint, accuracy(student, test)


def main():
    train, test = load_split("digits")
    teacher = train_teacher(train, [64, 32, 32, 10], epochs=5)
    print(f"teacher accuracy: {accuracy(teacher, test):.4f}")
    print(f"{'hint loss':<16}{'final hint':>12}{'accuracy':>10}")
    for loss in (None, "mse", "normalized_mse", "cosine", "relation"):
        hint, result = train_student(train, test, teacher, loss)
        hint_text = "-" if hint is None else f"{hint:.4f}"
        print(f"{loss or 'none (labels)':<16}{hint_text:>12}{result:>10.4f}")


if __name__ == "__main__":
    main()
