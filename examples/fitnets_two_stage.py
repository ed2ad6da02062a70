"""FitNets on the digits: a deep, thin sigmoid student trained with a hint.

    python3 examples/fitnets_two_stage.py

The student has six sigmoid hidden layers of width 8 (64-8-8-8-8-8-8-10),
which plain backpropagation trains slowly because the sigmoid's gradient
shrinks at every layer. FitNets (Romero et al., ICLR 2015) trains it in
two stages: first the layers up to the guided state 3, plus a linear
adapter from 8 to 32, on the hint from the teacher's middle state 2 alone;
then the whole student on the labels and the teacher's soft targets, with
the soft-target weight annealed from 4 to 1.

The script prints the plan of the two-stage run, and the test accuracy of
the student trained from scratch, with the two stages, and with the joint
single-stage variant, for the same number of epochs. It takes about
10 seconds.
"""

from common import accuracy, load_split, train_teacher

from clsd import CLSDTrainer, LayerMatch, Network
from clsd.reporting import PlanPrinter
from clsd.stages import fitnets_joint, fitnets_stages

EPOCHS = 16
STUDENT = [64, 8, 8, 8, 8, 8, 8, 10]


def run(train, test, teacher, method, seed=0):
    student = Network.mlp(STUDENT, activation="sigmoid", seed=seed)
    trainer = CLSDTrainer(optimizer="adam", learning_rate=0.01)
    options = {"batch_size": 32, "seed": seed, "validation": test}
    if method == "scratch":
        history = trainer.fit(student, train, epochs=EPOCHS, **options)
    else:
        hint = LayerMatch.between(teacher, student, teacher_state=2, student_state=3, adapter="identity", seed=seed)
        if method == "two stages":
            stages = fitnets_stages(hint, hint_epochs=EPOCHS // 2, kd_epochs=EPOCHS - EPOCHS // 2, temperature=4.0)
            options["callbacks"] = [PlanPrinter()]
        else:
            stages = fitnets_joint(hint, epochs=EPOCHS, temperature=4.0)
        history = trainer.fit(student, train, teacher=teacher, stages=stages, **options)
    return accuracy(student, test), history


def main():
    train, test = load_split("digits")
    teacher = train_teacher(train, [64, 32, 32, 32, 32, 10], epochs=6)
    print(f"teacher accuracy: {accuracy(teacher, test):.4f}\n")
    results = {method: run(train, test, teacher, method) for method in ("scratch", "two stages", "joint")}
    print()
    for method, (result, history) in results.items():
        print(f"{method:<11} test accuracy {result:.4f}   ({history.summary()})")


if __name__ == "__main__":
    main()
