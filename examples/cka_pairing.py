"""Choose which student state to pair with which teacher state, by linear CKA.

    python3 examples/cka_pairing.py

The teacher (64-32-32-32-32-10, tanh) is trained on the digits, and a
shallower student (64-32-16-10) is trained briefly on the labels. The
script prints the CKA matrix of every teacher state against every student
state on 300 training rows, the pairs each mapping strategy picks
(uniform, last, suggest), and the test accuracy of a fresh student trained
with each strategy's hints. It takes under 10 seconds.
"""

from common import accuracy, load_split, train_teacher

from clsd import CLSDTrainer, Network
from clsd.cka import cka_matrix, format_cka_table
from clsd.pairing import map_states

STUDENT = [64, 32, 16, 10]


def main():
    train, test = load_split("digits")
    teacher = train_teacher(train, [64, 32, 32, 32, 32, 10], epochs=6)
    print(f"teacher accuracy: {accuracy(teacher, test):.4f}")

    # CKA needs a student whose states mean something, so train one briefly.
    probe = Network.mlp(STUDENT, activation="tanh", seed=1)
    CLSDTrainer(optimizer="adam", learning_rate=0.01).fit(probe, train, epochs=2, batch_size=32, seed=0)
    batch = train.features.rows(range(300))
    matrix = cka_matrix(teacher, probe, batch)

    suggested = [(m.teacher_state, m.student_state) for m in map_states("suggest", teacher, probe, matrix=matrix)]
    print("\nlinear CKA, teacher states down, student states across (* = suggested):")
    print(format_cka_table(matrix, marks=suggested))

    print(f"\n{'strategy':<10}{'pairs':<40}{'accuracy':>9}")
    for strategy in ("uniform", "last", "suggest"):
        student = Network.mlp(STUDENT, activation="tanh", seed=1)
        # "suggest" reuses the CKA measured on the briefly trained probe.
        matches = map_states(strategy, teacher, student, batch, matrix=matrix, seed=2)
        CLSDTrainer(optimizer="adam", learning_rate=0.01).fit(
            student, train, teacher=teacher, matches=matches, epochs=3, batch_size=32, seed=0
        )
        pairs = ", ".join(f"{m.name}{' +adapter' if m.adapter else ''}" for m in matches)
        print(f"{strategy:<10}{pairs:<40}{accuracy(student, test):>9.4f}")


if __name__ == "__main__":
    main()
