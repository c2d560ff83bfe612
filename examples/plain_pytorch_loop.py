"""TripleEntropy in your own PyTorch training loop: a Hugging Face encoder, a linear head on its
mean-pooled sentence embeddings, and ``TripleEntropyLoss`` (cross-entropy on the head's logits plus
SoftTriple on the embeddings), with no Trainer.

    python examples/plain_pytorch_loop.py                  # the bundled all-MiniLM-L6-v2
    python examples/plain_pytorch_loop.py --model DIR      # another local encoder, or a hub id

It fine-tunes on a dozen made-up sentences, printing the loss and its two parts after each epoch,
then the accuracy on the same sentences: put your own data and evaluation in their place.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer

from tripleentropy.losses import TripleEntropyLoss
from tripleentropy.modeling import resolve_model

TEXTS = [
    "the film was great", "a really lovely story", "the acting is superb", "a nice movie",
    "the plot was quite good", "a fine film",
    "the film was awful", "a really dull story", "the acting is poor", "a boring movie",
    "the plot was quite bad", "a very ugly film",
]
LABELS = [1] * 6 + [0] * 6  # 1: positive, 0: negative


def mean_pool(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean of each sentence's token states, padding left out: (B, L, D) -> (B, D)."""
    weights = mask.unsqueeze(-1).to(states.dtype)
    return (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="minilm",
                        help="minilm (the bundled all-MiniLM-L6-v2), a local model directory or a hub id "
                             "(default: minilm)")
    parser.add_argument("--epochs", type=int, default=8, help="passes over the sentences (default: 8)")
    parser.add_argument("--batch-size", type=int, default=4, help="sentences per step (default: 4)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    path = resolve_model(args.model)  # the shortcut minilm is the bundled model's folder
    tokenizer = AutoTokenizer.from_pretrained(path)
    encoder = AutoModel.from_pretrained(path)
    dim = encoder.config.hidden_size
    head = nn.Linear(dim, 2)
    # beta * CE + (1 - beta) * SoftTriple, with the TripleEntropy authors' settings.
    loss_fn = TripleEntropyLoss(beta=0.4, num_classes=2, embedding_dim=dim, centers_per_class=5, la=8.0, margin=0.1)
    # The SoftTriple centers start at random: they get their own, larger learning rate and no weight decay.
    optimizer = torch.optim.AdamW([
        {"params": [*encoder.parameters(), *head.parameters()], "lr": 5e-5, "weight_decay": 0.01},
        {"params": loss_fn.parameters(), "lr": 1e-2, "weight_decay": 0.0},
    ])
    labels = torch.tensor(LABELS)

    encoder.train()
    for epoch in range(1, args.epochs + 1):
        for batch in torch.randperm(len(TEXTS)).split(args.batch_size):
            inputs = tokenizer([TEXTS[i] for i in batch], padding=True, truncation=True, return_tensors="pt")
            embeddings = mean_pool(encoder(**inputs).last_hidden_state, inputs["attention_mask"])
            out = loss_fn(head(embeddings), embeddings, labels[batch])
            optimizer.zero_grad()
            out.loss.backward()
            optimizer.step()
        print(f"epoch {epoch}: loss {out.loss.item():.4f} (cross-entropy {out.ce.item():.4f}, "
              f"SoftTriple {out.metric.item():.4f}; last batch)")

    encoder.eval()
    with torch.no_grad():
        inputs = tokenizer(TEXTS, padding=True, truncation=True, return_tensors="pt")
        predicted = head(mean_pool(encoder(**inputs).last_hidden_state, inputs["attention_mask"])).argmax(dim=-1)
    print(f"accuracy on the training sentences: {(predicted == labels).float().mean().item():.2f}")


if __name__ == "__main__":
    main()
