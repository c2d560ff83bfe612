"""Tiny random BERT, RoBERTa and MPNet classifiers with tokenizers made locally (no download)."""

from __future__ import annotations

import csv

import json
import random
from pathlib import Path

import torch

from transformers import (
    BertConfig,
    BertModel,
    BertTokenizerFast,
    MPNetConfig,
    MPNetModel,
    MPNetTokenizerFast,
    RobertaConfig,
    RobertaModel,
    RobertaTokenizerFast,
)

from tripleentropy.data import Example

POSITIVE = ["good", "great", "fine", "nice", "superb", "lovely"]
NEGATIVE = ["bad", "awful", "poor", "dull", "boring", "ugly"]
FILLER = ["the", "a", "movie", "film", "plot", "was", "is", "very", "really", "quite", "story", "acting"]
WORDS = POSITIVE + NEGATIVE + FILLER


def sentences(count: int, seed: int = 0, words: int | None = None) -> list[Example]:
    """Sentences whose label is carried by a sentiment word: learnable by a tiny model.

    With ``words`` every sentence has that many words (equal token counts, no padding).
    """
    rng = random.Random(seed)
    examples = []
    for index in range(count):
        label = index % 2
        size = words if words is not None else rng.randint(3, 9)
        filler = [rng.choice(FILLER) for _ in range(size - 1)]
        filler.insert(rng.randrange(size), rng.choice(POSITIVE if label else NEGATIVE))
        examples.append(Example(" ".join(filler), label))
    return examples


def pairs(count: int, seed: int = 0) -> list[Example]:
    rng = random.Random(seed)
    examples = []
    for index in range(count):
        label = index % 2
        first = rng.choice(POSITIVE + NEGATIVE)
        same = first in POSITIVE
        second = rng.choice(POSITIVE if same == bool(label) else NEGATIVE)
        examples.append(Example(f"the film was {first}", label, f"the story is {second}"))
    return examples


def _sizes(**extra) -> dict:
    return dict(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
        max_position_embeddings=64, **extra,
    )


def make_tiny_bert(directory: Path, dropout: float = 0.1, pooler: bool = True, seed: int | None = None) -> Path:
    """A tiny BERT; ``pooler=False`` saves it without its pooler (as some checkpoints are), and
    ``seed`` draws its random weights from that seed."""
    directory.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *"abcdefghijklmnopqrstuvwxyz"]
    tokenizer = BertTokenizerFast(vocab={token: index for index, token in enumerate(vocab)}, do_lower_case=True)
    config = BertConfig(
        vocab_size=len(vocab), hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
        type_vocab_size=2, **_sizes(),
    )
    if seed is not None:
        torch.manual_seed(seed)
    BertModel(config, add_pooling_layer=pooler).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def make_tiny_roberta(directory: Path, dropout: float = 0.1) -> Path:
    from tokenizers import ByteLevelBPETokenizer

    directory.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    corpus = [" ".join(WORDS)] * 4 + [example.text for example in sentences(50)]
    bpe.train_from_iterator(
        corpus, vocab_size=300, min_frequency=1, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    )
    vocab_file, merges_file = bpe.save_model(str(directory))
    merges = [tuple(line.split()) for line in Path(merges_file).read_text().splitlines()[1:] if line.strip()]
    tokenizer = RobertaTokenizerFast(vocab=json.loads(Path(vocab_file).read_text()), merges=merges)
    config = RobertaConfig(
        vocab_size=len(tokenizer), hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=0, eos_token_id=2, type_vocab_size=1,
        **{**_sizes(), "max_position_embeddings": 80},
    )
    RobertaModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def make_tiny_mpnet(directory: Path, dropout: float = 0.1) -> Path:
    """MPNet as all-mpnet-base-v2 has it: a lower-cased WordPiece vocabulary with <s> </s> <pad>
    specials, positions offset past the padding index, no token type ids."""
    directory.mkdir(parents=True, exist_ok=True)
    vocab = ["<s>", "<pad>", "</s>", "<unk>", "[UNK]", *WORDS, *"abcdefghijklmnopqrstuvwxyz", "<mask>"]
    tokenizer = MPNetTokenizerFast(vocab={token: index for index, token in enumerate(vocab)}, do_lower_case=True)
    config = MPNetConfig(
        vocab_size=len(vocab), hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=0, eos_token_id=2,
        **{**_sizes(), "max_position_embeddings": 80},
    )
    MPNetModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def make_tiny_sentence_transformer(directory: Path, normalize: bool = True) -> Path:
    """A tiny BERT laid out as a sentence-transformers checkpoint read through mean pooling (and a
    Normalize module), like all-MiniLM-L6-v2, in the format of sentence-transformers 2."""
    make_tiny_bert(directory)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    (directory / "modules.json").write_text(json.dumps(modules))
    (directory / "1_Pooling").mkdir()
    (directory / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": 32, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False,
    }))
    return directory


def write_csv(path: Path, examples, names=("negative", "positive")) -> Path:
    """``examples`` as a text,label CSV file with the label names ``names``."""
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["text", "label"])
        for example in examples:
            writer.writerow([example.text, names[example.label]])
    return path
