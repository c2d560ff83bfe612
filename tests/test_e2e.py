"""End to end on the bundled MiniLM: train on a few hundred CR examples, evaluate, predict."""

import csv
import json
import os
from pathlib import Path

import pytest

from tripleentropy.cli import main
from tripleentropy.data import load_task, sample_train

SENTEVAL = Path(os.environ.get("TRIPLEENTROPY_DATA", Path(__file__).parents[1] / "../shared/data/senteval"))


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_minilm_on_cr(tmp_path, capsys):
    if not (SENTEVAL / "CR").is_dir():
        pytest.skip(f"no SentEval data at {SENTEVAL}")
    data_dir = str(SENTEVAL.resolve())
    out = tmp_path / "model"
    # One epoch over 300 examples is 38 steps: the learning rate is raised from the default
    # (chosen for three epochs) so that the short run learns.
    assert main(["train", "--task", "CR", "--data-dir", data_dir, "--train-size", "300", "--epochs", "1", "--min-steps", "0",
                 "--batch-size", "8", "--lr", "3e-4", "--output-dir", str(out), "--seed", "0"]) == 0
    capsys.readouterr()

    # A stratified sample of the CR examples left out of training, as a user's CSV file.
    cr = load_task("CR", data_dir)["train"]
    used = set(sample_train(cr.examples, 300, seed=0))
    held_out = sample_train([example for example in cr.examples if example not in used], 200, seed=1)
    with (tmp_path / "held_out.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows([example.text, cr.label_names[example.label]] for example in held_out)

    assert main(["evaluate", "--model-dir", str(out), "--data", str(tmp_path / "held_out.csv"), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["num_examples"] == 200
    assert metrics["accuracy"] > 0.7, metrics  # CR is 64% positive: above the majority class

    (tmp_path / "reviews.txt").write_text("the battery life is excellent\nthe screen broke after a week\n")
    assert main(["predict", "--model-dir", str(out), "--input", str(tmp_path / "reviews.txt")]) == 0
    predictions = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [p["label"] for p in predictions] == ["positive", "negative"]
    assert all(0.5 <= p["score"] <= 1.0 for p in predictions)
