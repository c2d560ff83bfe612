"""The model card ``train`` writes: its YAML front matter, what it states, and its code, which loads
the saved model without this package and predicts the labels that ``tripleentropy predict`` gives."""

import ast
import csv
import json
import os
import re
import subprocess
import sys

import pytest
import yaml
from transformers import AutoTokenizer

from tests.tiny_models import pairs, sentences, write_csv
from tripleentropy.cli import main
from tripleentropy.data import Example
from tripleentropy.modeling import TripleEntropyForSequenceClassification
from tripleentropy.training import TrainConfig, train_model
from tripleentropy.training.model_card import EXAMPLE_PAIRS, EXAMPLE_TEXTS, MODEL_CARD_NAME, write_model_card

LABELS = ["neg", "pos"]
FAST = ["--max-steps", "2", "--min-steps", "0", "--batch-size", "8", "--max-length", "32"]
# Runs the card's Python blocks one after another in a fresh interpreter where this package cannot be imported.
RUNNER = """
import sys
sys.modules["tripleentropy"] = None
for block in {blocks!r}:
    exec(compile(block, "<model card>", "exec"), {{}})
"""


def _card(directory) -> tuple[dict, str]:
    """The front matter (parsed as YAML) and the body of ``directory``'s model card."""
    text = (directory / MODEL_CARD_NAME).read_text(encoding="utf-8")
    empty, front, body = text.split("---\n", 2)
    assert empty == ""
    return yaml.safe_load(front), body


def _python_blocks(body: str) -> list[str]:
    return re.findall(r"```python\n(.*?)\n```", body, flags=re.DOTALL)


def _write_pairs(path, examples):
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["text", "text_pair", "label"])
        writer.writerows([example.text, example.text_pair, LABELS[example.label]] for example in examples)
    return path


@pytest.mark.parametrize("encoder, pooling, pair", [
    ("tiny_bert", "cls", False), ("tiny_sentence_bert", "mean", False), ("tiny_bert", "cls", True),
])
def test_the_card_states_the_run_and_its_code_predicts_our_labels(request, tmp_path, capsys, encoder, pooling, pair):
    directory = request.getfixturevalue(encoder)
    if pair:
        data = ["--train", str(_write_pairs(tmp_path / "train.csv", pairs(32))),
                "--validation", str(_write_pairs(tmp_path / "valid.csv", pairs(16, seed=1))),
                "--text-pair-column", "text_pair"]
    else:
        data = ["--train", str(write_csv(tmp_path / "train.csv", sentences(32), LABELS)),
                "--validation", str(write_csv(tmp_path / "valid.csv", sentences(16, seed=1), LABELS))]
    out = tmp_path / "model"
    assert main(["train", "--model", str(directory), *data, "--output-dir", str(out), "--pooling", pooling,
                 "--loss", "tripleentropy", "--beta", "0.3", *FAST]) == 0
    capsys.readouterr()

    front, body = _card(out)
    assert front["library_name"] == ("transformers" if pooling == "cls" else "setfit")
    assert front["pipeline_tag"] == "text-classification"
    assert {"tripleentropy", "text-classification", "setfit", "sentence-transformers"} <= set(front["tags"])
    assert front["metrics"] == ["accuracy", "f1"]
    assert "base_model" not in front and "language" not in front  # a local encoder, a file of unknown language
    accuracy = json.loads((out / "metrics.json").read_text())["validation"]["accuracy"]
    for fact in (f"the local model directory `{directory.name}`", f"| Pooling | `{pooling}`", "`neg`, `pos`",
                 "| Maximum length | 32 tokens |", "TripleEntropy: beta × cross-entropy + (1 − beta) × SoftTriple",
                 "`beta` 0.3, `la` 8.0", "| Training data | the file `train.csv`", "| Training examples | 32 |",
                 "Measured on `valid.csv` (16 examples)", f"| Accuracy | {100 * accuracy:.2f}% |",
                 "Sosnowski, Witold and Wr{\\'o}blewska, Anna and Gawrysiak, Piotr", "eprint        = {2112.08462}",
                 "FedCSIS", f"tripleentropy predict --model-dir {out}"):
        assert fact in body, fact

    blocks = _python_blocks(body)
    assert len(blocks) == {"cls": 1 if pair else 3, "mean": 2}[pooling]
    assert all(str(out) in block for block in blocks)
    result = subprocess.run([sys.executable, "-c", RUNNER.format(blocks=blocks)], capture_output=True, text=True,
                            timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    printed = [ast.literal_eval(line) for line in result.stdout.splitlines() if line.strip()]

    if pair:
        inputs = _write_pairs(tmp_path / "input.csv", [Example(first, 0, second) for first, second in EXAMPLE_PAIRS])
        extra = ["--text-pair-column", "text_pair"]
    else:
        inputs, extra = tmp_path / "input.txt", []
        inputs.write_text("\n".join(EXAMPLE_TEXTS) + "\n")
    assert main(["predict", "--model-dir", str(out), "--input", str(inputs), *extra]) == 0
    ours = [json.loads(line)["label"] for line in capsys.readouterr().out.splitlines()]
    assert printed == [ours] * len(blocks)


def test_the_card_of_a_task_run_names_the_base_model_and_the_language(tiny_sentence_bert, tmp_path):
    # A mean-pooled model of a pair task (MRPC) from the bundled MiniLM, with the task's metrics.
    config = TrainConfig(model="minilm", task="MRPC", loss="ce", train_size="8/class").validate()
    names = ["not_paraphrase", "paraphrase"]
    model = TripleEntropyForSequenceClassification.from_encoder(
        str(tiny_sentence_bert), 2, loss="ce", id2label=dict(enumerate(names)), pooling="mean")
    model.save_pretrained(tmp_path, tokenizer=AutoTokenizer.from_pretrained(tiny_sentence_bert))
    metrics = {"accuracy": 0.75, "macro_f1": 0.7, "per_class_f1": {"not_paraphrase": 0.6, "paraphrase": 0.8},
               "num_examples": 20, "majority_rate": 0.65, "f1": 0.8, "positive_label": "paraphrase"}
    write_model_card(tmp_path, config, model, names, 16, metrics)

    front, body = _card(tmp_path)
    assert front["base_model"] == "sentence-transformers/all-MiniLM-L6-v2" and front["language"] == ["en"]
    assert "# sentence-transformers/all-MiniLM-L6-v2 fine-tuned on SentEval MRPC with ce" in body
    for fact in ("| Loss | cross-entropy |", "| Loss settings | none |", "the training split of the SentEval task MRPC",
                 "| Training examples | 16: a sample of 8/class drawn with seed 42 |",
                 "Measured on the validation split of MRPC (20 examples)", "| F1 of `paraphrase` | 80.00 |",
                 "| Majority-class rate | 65.00%", "L2-normalised"):
        assert fact in body, fact
    # SetFit and sentence-transformers read one text: a pair model predicts with this package only.
    assert _python_blocks(body) == []
    assert f"tripleentropy predict --model-dir {tmp_path} --input pairs.csv --text-pair-column text_pair" in body


def test_a_run_without_validation_data_says_so(tiny_bert, tmp_path):
    config = TrainConfig(model=str(tiny_bert), train=str(tmp_path / "train.csv"), pooling="cls").validate()
    model = TripleEntropyForSequenceClassification.from_encoder(str(tiny_bert), 2, pooling="cls")
    model.save_pretrained(tmp_path, tokenizer=AutoTokenizer.from_pretrained(tiny_bert))
    write_model_card(tmp_path, config, model, ["LABEL_0", "LABEL_1"], 8, None)
    front, body = _card(tmp_path)
    assert "metrics" not in front
    assert "No validation data was given, so no metrics were measured." in body


def test_a_run_on_examples_given_in_python_names_no_file(tiny_bert, tmp_path):
    train_model(TrainConfig(model=str(tiny_bert), pooling="cls", max_steps=1, min_steps=0, batch_size=8),
                sentences(8), sentences(8, seed=1), LABELS, output_dir=tmp_path, progress=False)
    front, body = _card(tmp_path)
    assert front["metrics"] == ["accuracy", "f1"]
    assert f"# {tiny_bert.name} fine-tuned with tripleentropy" in body
    assert "| Training data | examples given to `train_model` in Python |" in body
    assert "Measured on the validation data (8 examples)" in body
