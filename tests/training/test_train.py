import pytest
import torch

from tests.tiny_models import pairs, sentences
from tripleentropy.modeling import TripleEntropyForSequenceClassification, load_pretrained
from tripleentropy.training import (
    NonFiniteLossError,
    TrainConfig,
    TripleEntropyTrainer,
    evaluate_model,
    tokenize_examples,
    train_model,
)

NAMES = ["negative", "positive"]


def _config(model_dir, **changes):
    # The mechanics under test, not the default recipe's budget and head: the classic recipe.
    values = dict(recipe="classic", model=str(model_dir), epochs=5, batch_size=8, lr=5e-3, center_lr=1e-2,
                  warmup_steps=2, logging_steps=4)
    values.update(changes)
    return TrainConfig(**values)


@pytest.mark.parametrize("encoder", ["bert", "mpnet"])
def test_learns_and_logs_the_loss_parts(encoder, request):
    model_dir = request.getfixturevalue(f"tiny_{encoder}")
    result = train_model(_config(model_dir), sentences(96), sentences(48, seed=1), NAMES, progress=False)
    assert result.metrics["accuracy"] >= 0.8
    assert set(result.metrics["per_class_f1"]) == set(NAMES) and result.metrics["num_examples"] == 48
    steps = [record for record in result.log_history if "loss" in record]
    assert len(steps) == 60 // 4
    for record in steps:
        # The total is the beta-weighted mix of the logged parts (averaged over the same window).
        assert record["loss"] == pytest.approx(0.4 * record["ce"] + 0.6 * record["metric"], rel=1e-3)
    assert any("eval_accuracy" in record for record in result.log_history)


def test_same_seed_same_metrics_and_reusable_inputs(tiny_roberta):
    pretrained = load_pretrained(str(tiny_roberta))
    config = _config(tiny_roberta, epochs=1)
    train = tokenize_examples(pretrained.tokenizer, pairs(48), config.max_length)
    validation = tokenize_examples(pretrained.tokenizer, pairs(24, seed=3), config.max_length)
    first = train_model(config, train.subset(range(32)), validation, NAMES, pretrained=pretrained, progress=False)
    second = train_model(config, train.subset(range(32)), validation, NAMES, pretrained=pretrained, progress=False)
    assert first.metrics == second.metrics
    torch.testing.assert_close(first.model.centers, second.model.centers)
    # The pretrained weights were copied, not trained in place.
    assert torch.equal(pretrained.state_dict["embeddings.word_embeddings.weight"],
                       load_pretrained(str(tiny_roberta)).state_dict["embeddings.word_embeddings.weight"])
    by_path = train_model(config, pairs(48)[:32], pairs(24, seed=3), NAMES, progress=False)
    assert by_path.metrics == first.metrics
    assert evaluate_model(first.model, first.tokenizer, validation)["accuracy"] == first.metrics["accuracy"]


def test_parameter_groups(tiny_bert):
    model = TripleEntropyForSequenceClassification.from_encoder(str(tiny_bert), 2, seed=0)
    config = _config(tiny_bert)
    from tripleentropy.training.api import _training_arguments

    args = _training_arguments(config, "unused", save=False, has_validation=False, num_examples=32)
    trainer = TripleEntropyTrainer(model=model, args=args, center_lr=0.5)
    decay, no_decay, centers = trainer.create_optimizer().param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    assert [names[id(p)] for p in centers["params"]] == ["criterion.softtriple.centers"]
    assert centers["lr"] == 0.5 and centers["weight_decay"] == 0.0
    assert decay["lr"] == config.lr and decay["weight_decay"] == config.weight_decay
    assert no_decay["weight_decay"] == 0.0
    no_decay_names = [names[id(p)] for p in no_decay["params"]]
    assert all("bias" in n or "LayerNorm" in n for n in no_decay_names) and no_decay_names
    assert not any("bias" in names[id(p)] or "LayerNorm" in names[id(p)] for p in decay["params"])
    total = sum(len(group["params"]) for group in (decay, no_decay, centers))
    assert total == len(list(model.parameters()))


def test_non_finite_loss_stops_and_keeps_the_last_checkpoint(tiny_bert, tmp_path, monkeypatch):
    original = TripleEntropyForSequenceClassification.forward
    calls = {"training": 0}

    def forward(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        if self.training:
            calls["training"] += 1
            if calls["training"] >= 3:
                out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(TripleEntropyForSequenceClassification, "forward", forward)
    config = _config(tiny_bert, save_steps=1, save_total_limit=5)
    with pytest.raises(NonFiniteLossError, match=r"step 3 .*Lower la"):
        train_model(config, sentences(32), None, NAMES, output_dir=tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
    monkeypatch.setattr(TripleEntropyForSequenceClassification, "forward", original)
    saved = TripleEntropyForSequenceClassification.from_pretrained(tmp_path / "checkpoint-2")
    assert all(torch.isfinite(p).all() for p in saved.parameters())


def test_early_stopping_keeps_the_best_epoch(tiny_bert, tmp_path):
    config = _config(tiny_bert, epochs=6, early_stopping_patience=1, lr=2e-2)
    result = train_model(config, sentences(48), sentences(24, seed=1), NAMES, output_dir=tmp_path, progress=False)
    evaluations = [record["eval_accuracy"] for record in result.log_history if "eval_accuracy" in record]
    assert result.metrics["accuracy"] == pytest.approx(max(evaluations))
    assert (tmp_path / "model.safetensors").is_file()


def test_authors_padding_pads_every_batch_to_the_longest_example_of_the_sample(tiny_bert, monkeypatch):
    seen = []  # (padded width, longest example) of every training batch
    original = TripleEntropyForSequenceClassification.forward

    def forward(self, input_ids, attention_mask=None, *args, **kwargs):
        seen.append((input_ids.shape[1], int(attention_mask.sum(dim=1).max())))
        return original(self, input_ids, attention_mask, *args, **kwargs)

    monkeypatch.setattr(TripleEntropyForSequenceClassification, "forward", forward)
    sample = sentences(8, words=3) + sentences(8, seed=1, words=9)
    longest = max(tokenize_examples(load_pretrained(str(tiny_bert)).tokenizer, sample, 24).lengths)
    assert longest < 24
    train_model(_config(tiny_bert, epochs=1, max_length=24, softtriple_input="tokens-with-padding"),
                sample, None, NAMES, progress=False)
    assert {width for width, _ in seen} == {longest}  # as the authors: the whole sample padded to its longest
    seen.clear()
    train_model(_config(tiny_bert, epochs=1, max_length=5, softtriple_input="tokens-with-padding"),
                sample, None, NAMES, progress=False)
    assert {width for width, _ in seen} == {5}  # ... truncated to max_length first
    seen.clear()
    train_model(_config(tiny_bert, epochs=1, max_length=24), sample, None, NAMES, progress=False)
    assert all(width == batch_longest for width, batch_longest in seen)  # otherwise each batch to its own longest


@pytest.mark.parametrize("loss, settings", [("ce", {}), ("tripleentropy", {"softtriple_input": "cls"})])
def test_gradient_accumulation_equals_one_batch_of_the_same_size(tiny_bert_no_dropout, monkeypatch, loss, settings):
    widths = []
    original = TripleEntropyForSequenceClassification.forward

    def forward(self, input_ids, *args, **kwargs):
        widths.append(input_ids.shape)
        return original(self, input_ids, *args, **kwargs)

    monkeypatch.setattr(TripleEntropyForSequenceClassification, "forward", forward)
    examples = sentences(32, seed=4)
    whole = train_model(_config(tiny_bert_no_dropout, loss=loss, epochs=2, batch_size=16, **settings),
                        examples, None, NAMES, progress=False)
    whole_widths, widths[:] = list(widths), []
    micro = train_model(_config(tiny_bert_no_dropout, loss=loss, epochs=2, batch_size=8,
                                gradient_accumulation_steps=2, **settings), examples, None, NAMES, progress=False)
    assert [shape[0] for shape in whole_widths] == [16] * 4 and [shape[0] for shape in widths] == [8] * 8
    # Each micro-batch is padded to its own longest example: less padding than the whole batch.
    assert sum(s[0] * s[1] for s in widths) < sum(s[0] * s[1] for s in whole_widths)
    for (name, a), b in zip(whole.model.state_dict().items(), micro.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def _trainer(model_dir, tmp_path, **changes):
    from transformers import TrainingArguments

    model = TripleEntropyForSequenceClassification.from_encoder(str(model_dir), 2, seed=0)
    args = TrainingArguments(output_dir=str(tmp_path / "run"), use_cpu=True, report_to="none")
    for name, value in changes.items():
        setattr(args, name, value)
    return TripleEntropyTrainer(model=model, args=args, center_lr=1e-2)


def test_save_writes_the_state_dict_it_is_given(tiny_bert, tmp_path):
    trainer = _trainer(tiny_bert, tmp_path)
    module = trainer.model
    given = {key: value + 1.0 if value.is_floating_point() else value for key, value in module.state_dict().items()}
    trainer._save(str(tmp_path / "saved"), state_dict=given)
    saved = TripleEntropyForSequenceClassification.from_pretrained(tmp_path / "saved").state_dict()
    assert torch.equal(saved["criterion.softtriple.centers"], given["criterion.softtriple.centers"])
    for key in ("model.classifier.weight", "model.bert.embeddings.word_embeddings.weight"):
        assert torch.equal(saved[key], given[key]) and not torch.equal(saved[key], module.state_dict()[key])
    trainer._save(str(tmp_path / "own"))
    own = TripleEntropyForSequenceClassification.from_pretrained(tmp_path / "own").state_dict()
    assert torch.equal(own["model.classifier.weight"], module.state_dict()["model.classifier.weight"])


@pytest.mark.parametrize("setting", [{"fsdp": ["full_shard"]}, {"deepspeed": "ds_config.json"}])
def test_fsdp_and_deepspeed_are_refused_with_a_clear_message(tiny_bert, tmp_path, setting):
    from tripleentropy.errors import UserError

    with pytest.raises(UserError, match="FSDP and DeepSpeed are not supported.*data parallelism"):
        _trainer(tiny_bert, tmp_path, **setting)


def test_transformers_is_pinned_to_the_tested_minor_version():
    from pathlib import Path

    import transformers
    from packaging.requirements import Requirement

    tomllib = pytest.importorskip("tomllib")
    root = Path(__file__).resolve().parents[2]
    dependencies = tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
    spec = next(Requirement(item) for item in dependencies if item.startswith("transformers")).specifier
    pinned = next(line.split("==")[1] for line in (root / "constraints.txt").read_text().splitlines()
                  if line.startswith("transformers=="))
    assert pinned in spec and transformers.__version__ in spec  # what the tests run on is allowed
    major, minor = (int(part) for part in pinned.split(".")[:2])
    assert f"{major}.{minor + 1}.0" not in spec and f"{major}.{minor - 1}.0" not in spec  # nothing else is
