import json

import pytest

from tripleentropy.cli import build_parser
from tripleentropy.errors import UserError
from tripleentropy.training import TrainConfig
from tripleentropy.training.cli import config_from_args


def _parse(*argv):
    return build_parser().parse_args(["train", "--output-dir", "model", *argv])


def test_file_then_flags(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("lr: 3e-5\nla: 4\ncenter-lr: 0.5\nepochs: 2\nbf16: true\n")  # YAML reads 3e-5 as a string
    config = config_from_args(_parse("--config", str(path), "--la", "6", "--text-column", "sentence"))
    assert config.lr == 3e-5 and config.center_lr == 0.5 and config.epochs == 2 and config.bf16 is True
    assert config.la == 6.0  # the flag wins over the file
    assert config.text_column == "sentence"
    assert config.beta is None and config.loss_kwargs()["la"] == 6.0


def test_json_file_and_unknown_keys(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"batch_size": 8, "learning_rate": 1, "colour": "red"}))
    with pytest.raises(UserError, match="colour, learning_rate"):
        config_from_args(_parse("--config", str(path)))
    path.write_text(json.dumps({"batch_size": 8}))
    assert config_from_args(_parse("--config", str(path))).batch_size == 8


@pytest.mark.parametrize(
    "values, message",
    [
        ({"lr": 0}, "lr must be"),
        ({"batch_size": 0}, "batch_size must be"),
        ({"gradient_accumulation_steps": 0}, "gradient_accumulation_steps must be an integer >= 1"),
        ({"beta": 1.5}, "beta must lie"),
        ({"loss": "hinge"}, "unknown loss"),
        ({"softtriple_input": "pooler"}, "unknown softtriple input"),
        ({"pooling": "max"}, "unknown pooling .max.; choose one of auto, cls, mean"),
        ({"train_size": 0}, "train_size: a training size is a positive integer or N/class, got 0"),
        ({"train_size": "0/class"}, "train_size: a per-class size needs at least 1 example"),
        ({"train_size": "eight"}, "train_size: a training size is a positive integer or N/class, got 'eight'"),
        ({"batch_size": 2.5}, "batch_size must be an int"),
        ({"lr": "fast"}, "lr must be a float"),
        ({"model": None}, "model cannot be null"),
    ],
)
def test_bad_values(values, message):
    with pytest.raises(UserError, match=message):
        TrainConfig.from_dict(values).validate()


def test_a_key_spelled_two_ways_in_a_file_is_refused(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("center_lr: 0.5\nlr: 1e-4\ncenter-lr: 0.1\n")
    with pytest.raises(UserError, match=f"configuration file {path}: center_lr and center-lr both set center_lr"):
        config_from_args(_parse("--config", str(path)))


@pytest.mark.parametrize("command", ["train", "compare"])
def test_each_flag_states_its_default_once(command):
    parser = build_parser()._subparsers._group_actions[0].choices[command]
    helps = {action.option_strings[0]: action.help for action in parser._actions if action.option_strings}
    assert "0.4 for tripleentropy" in helps["--beta"]
    for flag, help_text in helps.items():
        assert (help_text or "").replace("%(default)s", "").lower().count("default") <= 1, (flag, help_text)


def test_every_field_is_a_train_flag_but_the_setfit_setting_which_is_compares():
    commands = build_parser()._subparsers._group_actions[0].choices
    train_help, compare_help = commands["train"].format_help(), commands["compare"].format_help()
    for name in TrainConfig.field_names():
        flag = "--" + name.replace("_", "-")
        assert (flag in train_help) == (name != "setfit_iterations"), name
    assert "--setfit-iterations" in compare_help and "--setfit-iterations" not in commands["tune"].format_help()


@pytest.mark.parametrize("value, size", [(16, 16), ("16", 16), ("8/class", "8/class"), (" 8 / class", "8/class"), (None, None)])
def test_train_size_is_a_total_or_a_per_class_count(value, size):
    assert TrainConfig.from_dict({"train_size": value}).validate().train_size == size
    assert TrainConfig(train_size=value).validate().train_size == size
