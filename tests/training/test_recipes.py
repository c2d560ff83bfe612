"""The recipes: what a run gets without flags (``default``), the earlier behaviour one switch away
(``classic``), and the step budget of ``epochs auto`` that adapts to the sample."""

import json

import pytest

from tests.tiny_models import sentences
from tripleentropy.cli import main
from tripleentropy.errors import UserError
from tripleentropy.experiments.compare import run_settings
from tripleentropy.training import TrainConfig, train_model
from tripleentropy.training.api import optimizer_steps, training_epochs
from tripleentropy.training.config import RECIPE_FIELDS, RECIPES

# The settings of each method's run keys under the defaults of versions before 0.2, written out
# from that version: `--recipe classic` must key (and so reuse) exactly those runs.
CLASSIC_KEY_SETTINGS = {
    "ce": {"batch_size": 16, "bf16": False, "early_stopping_patience": 0, "epochs": 3.0, "eval_batch_size": 128,
           "gradient_accumulation_steps": 1, "group_by_length": True, "head_init": "random", "lr": 0.0001,
           "max_length": 64, "max_steps": None, "min_steps": 0, "pooling": "cls", "scheduler": "cosine",
           "warmup_ratio": None, "warmup_steps": 10, "weight_decay": 0.01},
    "tripleentropy": {"batch_size": 16, "beta": 0.4, "bf16": False, "center_init": "uniform", "center_lr": 0.01,
                      "centers": 5, "early_stopping_patience": 0, "epochs": 3.0, "eval_batch_size": 128,
                      "gamma": 0.1, "gradient_accumulation_steps": 1, "group_by_length": True,
                      "head_init": "random", "la": 8.0, "lr": 0.0001, "margin": 0.1, "max_length": 64,
                      "max_steps": None, "min_steps": 0, "pooling": "cls", "scheduler": "cosine",
                      "softtriple_input": "tokens", "tau": 0.2, "warmup_ratio": None, "warmup_steps": 10,
                      "weight_decay": 0.01},
    "supcon": {"batch_size": 16, "beta": 0.1, "bf16": False, "early_stopping_patience": 0, "epochs": 3.0,
               "eval_batch_size": 128, "gradient_accumulation_steps": 1, "group_by_length": True,
               "head_init": "random", "lr": 0.0001, "max_length": 64, "max_steps": None, "min_steps": 0,
               "pooling": "cls", "scheduler": "cosine", "temperature": 0.3, "warmup_ratio": None,
               "warmup_steps": 10, "weight_decay": 0.01},
    "logreg": {"max_length": 64, "pooling": "cls"},
}


@pytest.mark.parametrize("method", sorted(CLASSIC_KEY_SETTINGS))
def test_the_classic_recipe_keys_runs_as_before(method):
    assert run_settings(TrainConfig(recipe="classic").validate(), method) == CLASSIC_KEY_SETTINGS[method]
    assert run_settings(TrainConfig().validate(), method) != CLASSIC_KEY_SETTINGS[method]


def test_the_defaults_are_the_default_recipe():
    config = TrainConfig().validate()
    assert config.recipe == "default"
    assert {name: getattr(config, name) for name in RECIPE_FIELDS} == RECIPES["default"]
    assert config.pooling == "auto" and config.head_init == "probe" and config.epochs == "auto"
    assert config.min_steps == 50 and config.lr == 5e-5 and config.center_init == "kmeans"


@pytest.mark.parametrize(
    "examples, epochs, steps",
    [
        (16, 8, 50),      # one step per epoch: 8 epochs, lifted to the 50-step minimum
        (64, 8, 50),
        (256, 8, 128),
        (1000, 8, 504),   # 63 steps per epoch: still 8 epochs
        (2000, 4, 500),   # 125 steps per epoch: 4 epochs make about 500 steps
        (5000, 3, 939),   # 313 steps per epoch: never fewer than 3 epochs
        (10000, 3, 1875),
    ],
)
def test_epochs_auto_adapts_the_budget_to_the_sample(examples, epochs, steps):
    config = TrainConfig().validate()
    assert training_epochs(config, examples) == epochs
    assert optimizer_steps(config, examples) == steps


def test_a_number_of_epochs_and_the_step_settings_still_rule():
    assert optimizer_steps(TrainConfig(epochs=2, min_steps=0).validate(), 5000) == 626
    assert optimizer_steps(TrainConfig(epochs=2).validate(), 16) == 50
    assert optimizer_steps(TrainConfig(max_steps=7, min_steps=0).validate(), 5000) == 7
    assert optimizer_steps(TrainConfig(max_steps=7).validate(), 16) == 7  # exactly: over the recipe's minimum
    assert optimizer_steps(TrainConfig(recipe="classic").validate(), 16) == 3
    # Two processes halve the steps of an epoch.
    assert optimizer_steps(TrainConfig(min_steps=0).validate(), 4000, world_size=2) == 500


def test_given_settings_win_over_either_recipe_and_a_recipe_switch_refills_the_rest(tmp_path):
    classic = TrainConfig(recipe="classic", lr=3e-5).validate()
    assert (classic.lr, classic.epochs, classic.pooling) == (3e-5, 3.0, "cls")
    # A later layer (a flag) switching the recipe keeps what an earlier layer set.
    switched = TrainConfig.from_dict({"recipe": "default"}, base=classic).validate()
    assert (switched.lr, switched.epochs, switched.pooling) == (3e-5, "auto", "auto")
    back = TrainConfig.from_dict({"recipe": "classic"}, base=TrainConfig()).validate()
    assert {name: getattr(back, name) for name in RECIPE_FIELDS} == RECIPES["classic"]
    path = tmp_path / "run.yaml"
    path.write_text("recipe: classic\nepochs: auto\n")
    from_file = TrainConfig.from_file(path).validate()
    assert (from_file.epochs, from_file.head_init, from_file.max_length) == ("auto", "random", 64)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"recipe": "nonsense"}, "unknown recipe 'nonsense'; choose one of default, classic"),
        ({"epochs": "some"}, "epochs is 'auto' or a number > 0, got 'some'"),
        ({"epochs": 0}, "epochs is 'auto' or a number > 0, got 0"),
    ],
)
def test_bad_recipe_values(values, message):
    with pytest.raises(UserError, match=message):
        TrainConfig.from_dict(values).validate()


def test_recipe_nonsense_exits_2_before_training(tmp_path, tiny_bert, capsys):
    with pytest.raises(SystemExit) as stopped:  # argparse's own exit for a bad choice
        main(["train", "--model", str(tiny_bert), "--task", "SST2", "--recipe", "nonsense",
              "--output-dir", str(tmp_path / "out")])
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert "--recipe: invalid choice: 'nonsense'" in error and "Traceback" not in error
    assert not (tmp_path / "out").exists()
    path = tmp_path / "bad.yaml"
    path.write_text("recipe: nonsense\n")
    assert main(["train", "--model", str(tiny_bert), "--task", "SST2", "--config", str(path),
                 "--output-dir", str(tmp_path / "out")]) == 2
    assert "unknown recipe 'nonsense'" in capsys.readouterr().err


def test_a_recipe_that_would_replace_the_paper_presets_settings_is_refused(tmp_path, capsys):
    assert main(["reproduce", "--preset", "paper", "--recipe", "default", "--output-dir", str(tmp_path / "p")]) == 2
    error = capsys.readouterr().err
    assert "the paper preset trains with the authors' settings" in error and "Traceback" not in error
    assert not (tmp_path / "p").exists()


def test_reproduce_with_a_recipe_trains_the_presets_grid_with_it():
    from tripleentropy.cli import build_parser
    from tripleentropy.experiments.cli import validate_reproduce

    parser = build_parser()
    common = ["reproduce", "--preset", "setfit-table", "--model", "minilm", "--output-dir", "unused"]
    own = validate_reproduce(parser.parse_args(common))
    recipe = validate_reproduce(parser.parse_args([*common, "--recipe", "default"]))
    assert own.configs["tripleentropy"].max_length == 64 and own.configs["tripleentropy"].epochs == 8.0
    ce = recipe.configs["ce"]
    assert {name: getattr(ce, name) for name in RECIPE_FIELDS} == RECIPES["default"]
    assert recipe.configs["setfit"].setfit_iterations == 20  # the preset's other settings stay


def test_a_run_under_epochs_auto_trains_and_records_the_steps_it_took(tiny_bert, tmp_path):
    config = TrainConfig(model=str(tiny_bert), loss="ce", min_steps=0, batch_size=8, logging_steps=1)
    result = train_model(config, sentences(16), label_names=["negative", "positive"], output_dir=tmp_path / "model",
                         progress=False)
    # 2 steps per epoch, 8 epochs.
    assert result.train_metrics["optimizer_steps"] == 16 and result.train_metrics["epochs_trained"] == 8.0
    saved = json.loads((tmp_path / "model" / "run_config.json").read_text())
    assert saved["config"]["recipe"] == "default" and saved["config"]["epochs"] == "auto"
    assert saved["config"]["head_init"] == "probe"
