"""Replace a block of a trained network's layers with one new layer.

    python3 examples/block_replacement.py

The teacher (64-32-32-32-32-10, tanh) is trained on the digits. Each block
of consecutive layers whose end state has the width of its start state is
scored by one minus the mean cosine between the two states (ShortGPT's
measure). The lowest-scoring block of at least two layers is replaced by a
single 32-to-32 layer trained on the MSE to the block's output state, and
the compressed network is fine-tuned on the labels for a few epochs. It
takes a few seconds.
"""

from common import accuracy, load_split, train_teacher

from clsd.blocks import block_scores, compression_report, format_report, replace_block


def main():
    train, test = load_split("digits")
    teacher = train_teacher(train, [64, 32, 32, 32, 32, 10], epochs=6)
    print(f"teacher accuracy: {accuracy(teacher, test):.4f}\n")

    scores = block_scores(teacher, train.features.rows(range(300)), min_length=2)
    print("block (states)  1 - cosine")
    for score, start, end in scores:
        print(f"{start} -> {end}          {score:.4f}")
    _, start, end = scores[0]

    replacement = replace_block(teacher, start, end, train.features, epochs=10, learning_rate=0.01, seed=0)
    print(f"\nstack MSE per epoch: {', '.join(f'{value:.4f}' for value in replacement.losses)}\n")
    report = compression_report(teacher, replacement, train, test, finetune_epochs=3, seed=0)
    print(format_report(report))


if __name__ == "__main__":
    main()
