"""The reproduce presets say what they run."""

from tripleentropy.experiments.presets import FEW_SHOT_RECIPE, PRESETS
from tripleentropy.training import TrainConfig


def test_paper_preset_is_the_authors_setup():
    config = TrainConfig.from_dict({**PRESETS["paper"].settings, "loss": "tripleentropy"}).validate()
    # pytorch-metric-learning's SoftTriple: no regulariser, kaiming-uniform centers; every token's
    # state with the padding of the sample; batches at random, not grouped by length.
    assert (config.tau, config.center_init, config.softtriple_input, config.group_by_length) == (
        0.0, "kaiming", "tokens-with-padding", False)
    assert (config.la, config.gamma, config.margin, config.centers, config.beta) == (8.0, 0.1, 0.1, 5, 0.4)
    assert (config.lr, config.center_lr, config.batch_size, config.max_length, config.warmup_steps) == (
        1e-5, 1e-5, 64, 64, 10)
    assert config.scheduler == "cosine"


def test_the_cpu_presets_train_with_the_few_shot_recipe():
    for name in ("quick", "fewshot", "smoke", "setfit-table"):
        ce = TrainConfig.from_dict({**PRESETS[name].settings, "loss": "ce"}).validate()
        te = TrainConfig.from_dict({**PRESETS[name].settings, "loss": "tripleentropy"}).validate()
        # the pooling MiniLM was trained for, the head from a probe, at least 50 steps at lr 5e-5 ...
        for config in (ce, te):
            assert (config.pooling, config.head_init, config.min_steps, config.lr, config.epochs) == (
                "auto", "probe", 50, 5e-5, 8.0), name
        # ... and SoftTriple on that pooled vector, its centers from k-means of each class
        assert (te.softtriple_input, te.center_init) == ("mean", "kmeans"), name


def test_the_setfit_table_preset_sets_every_cell_beside_setfits_published_accuracy():
    preset = PRESETS["setfit-table"]
    assert (preset.model, preset.tasks, preset.train_sizes) == ("mpnet", ("CR", "SST5"), ("8/class", "16/class", "64/class"))
    assert preset.methods == ("ce", "tripleentropy", "setfit", "logreg") and preset.baselines == ("ce", "setfit")
    assert preset.max_eval is None and preset.paper_gains() == []  # the paper's size classes are not these
    # SetFit as its paper's table ran it; the fine-tuning runs do not read the setting
    assert preset.settings == {**FEW_SHOT_RECIPE, "setfit_iterations": 20}
    published = {(e["task"], e["train_size"], e["label"].split()[0]): e["accuracy"] for e in preset.published}
    assert len(published) == 12 == len(preset.published)
    assert [published[("CR", f"{n}/class", "SetFit")] for n in (8, 16, 64)] == [88.5, 89.0, 90.4]
    assert [published[("SST5", f"{n}/class", "SetFit")] for n in (8, 16, 64)] == [43.6, 47.0, 51.9]
    assert [published[("CR", f"{n}/class", "RoBERTa-large")] for n in (8, 16, 64)] == [58.8, 73.2, 88.9]
    assert [published[("SST5", f"{n}/class", "RoBERTa-large")] for n in (8, 16, 64)] == [33.5, 38.9, 45.9]
