import math
import random

import pytest

from tripleentropy.experiments.stats import paired_differences, paired_test, summarize


def run(loss, size, seed, accuracy, fold=None, fingerprint="d", macro_f1=None):
    record = {"key": f"{loss}-{size}-{seed}-{fold}", "method": loss, "train_size": size, "seed": seed,
              "metrics": {"accuracy": accuracy, "macro_f1": accuracy if macro_f1 is None else macro_f1},
              "config": {}, "data_fingerprint": fingerprint, "seconds": 1.0, "finished_at": "t"}
    if fold is not None:
        record["fold"] = fold
    return record


# ce and tripleentropy at size 20: differences of exactly 1, 2, 3 and -1 accuracy points.
CE = [0.80, 0.70, 0.60, 0.90]
TE = [0.81, 0.72, 0.63, 0.89]
RECORDS = [run("ce", 20, seed, acc) for seed, acc in enumerate(CE)] + [run("tripleentropy", 20, seed, acc) for seed, acc in enumerate(TE)]


def test_paired_t_statistics_against_a_hand_computed_case():
    summary = summarize(RECORDS)
    (comparison,) = summary["comparisons"]
    # By hand, differences d = [1, 2, 3, -1] points, n = 4:
    mean = (1 + 2 + 3 - 1) / 4  # 1.25
    std = math.sqrt(((1 - mean) ** 2 + (2 - mean) ** 2 + (3 - mean) ** 2 + (-1 - mean) ** 2) / 3)  # sqrt(8.75/3)
    standard_error = std / math.sqrt(4)
    t_critical = 3.182446305284263  # Student t, 3 degrees of freedom, 97.5% quantile (tables)
    t = mean / standard_error
    # Closed-form CDF of Student t with 3 degrees of freedom: F(t) = 1/2 + (x/(1+x^2) + atan x)/pi, x = t/sqrt(3).
    x = t / math.sqrt(3)
    p = 1 - 2 * (x / (1 + x * x) + math.atan(x)) / math.pi
    assert comparison["train_size"] == 20 and comparison["method"] == "tripleentropy" and comparison["baseline"] == "ce"
    assert comparison["n_pairs"] == 4 and comparison["n_unmatched"] == 0
    assert comparison["mean_diff"] == pytest.approx(1.25, abs=1e-12)
    assert comparison["std_diff"] == pytest.approx(std, rel=1e-12)
    assert comparison["ci95"] == pytest.approx([mean - t_critical * standard_error, mean + t_critical * standard_error], rel=1e-9)
    assert comparison["ci95"] == pytest.approx([-1.4675, 3.9675], abs=1e-4)
    assert comparison["p_value"] == pytest.approx(p, rel=1e-9)
    assert (comparison["wins"], comparison["losses"], comparison["ties"]) == (3, 1, 0)
    assert comparison["note"] is None
    assert summary["test"].startswith("two-sided paired t-test")


def test_wilcoxon_p_value_against_the_exact_distribution():
    # Differences 1, 2, 3, -4: ranks 1..4, W- = 4. Of the 16 equally likely sign patterns, 7 give W+ <= 4
    # ({}, {1}, {2}, {3}, {4}, {1,2}, {1,3}), so the exact two-sided p is 2 * 7/16.
    result = paired_test([1.0, 2.0, 3.0, -4.0])
    assert result["wilcoxon_p"] == pytest.approx(14 / 16)


def test_results_are_mean_and_sample_std_in_points():
    summary = summarize(RECORDS)
    ce = next(entry for entry in summary["results"] if entry["method"] == "ce")
    assert ce["n"] == 4 and ce["mean"] == pytest.approx(75.0)
    assert ce["std"] == pytest.approx(math.sqrt((25 + 25 + 225 + 225) / 3))
    assert ce["macro_f1_mean"] == pytest.approx(75.0)
    single = summarize([run("ce", 20, 0, 0.5)])["results"][0]
    assert single["n"] == 1 and single["std"] is None


def test_pairs_are_matched_on_size_seed_and_fold_whatever_the_order():
    shuffled = list(RECORDS)
    random.Random(3).shuffle(shuffled)
    assert summarize(shuffled) == summarize(RECORDS)
    folds = [run(loss, 20, 0, acc, fold=fold) for loss, accs in (("ce", CE), ("tripleentropy", TE)) for fold, acc in enumerate(accs)]
    random.Random(4).shuffle(folds)
    (paired,) = paired_differences(folds)
    assert paired.pair_ids == ((0, 0), (0, 1), (0, 2), (0, 3))
    assert paired.differences == (1.0, 2.0, 3.0, -1.0)


def test_unmatched_runs_are_left_out_and_counted():
    records = RECORDS + [run("tripleentropy", 20, 7, 0.99), run("ce", 20, 8, 0.10), run("supcon", 100, 0, 0.5)]
    comparisons = {(c["train_size"], c["method"]): c for c in summarize(records)["comparisons"]}
    assert comparisons[(20, "tripleentropy")]["n_pairs"] == 4
    assert comparisons[(20, "tripleentropy")]["n_unmatched"] == 2
    assert comparisons[(20, "tripleentropy")]["mean_diff"] == pytest.approx(1.25)
    assert comparisons[(100, "supcon")]["n_pairs"] == 0 and comparisons[(100, "supcon")]["n_unmatched"] == 1
    assert comparisons[(100, "supcon")]["mean_diff"] is None


def test_training_sizes_sort_numerically_with_full_last():
    records = [run(loss, size, 0, 0.5) for size in ("full", 100, 20, 1000) for loss in ("ce", "tripleentropy")]
    summary = summarize(records)
    assert summary["train_sizes"] == [20, 100, 1000, "full"]
    assert [c["train_size"] for c in summary["comparisons"]] == [20, 100, 1000, "full"]
    assert summary["methods"] == ["ce", "tripleentropy"]


def test_two_runs_of_one_cell_are_an_error():
    with pytest.raises(ValueError, match="two runs"):
        summarize(RECORDS + [run("ce", 20, 0, 0.5)])


def test_pairs_over_different_data_are_an_error():
    with pytest.raises(ValueError, match="different data"):
        summarize([run("ce", 20, 0, 0.5), run("tripleentropy", 20, 0, 0.5, fingerprint="other")])


@pytest.mark.parametrize("differences, note", [([], "no pairs"), ([2.0], "one pair"), ([1.0, 1.0, 1.0], "all 3 differences equal")])
def test_undefined_intervals_and_tests_are_none_with_a_reason(differences, note):
    result = paired_test(differences)
    assert result["ci95"] is None and result["p_value"] is None and result["wilcoxon_p"] is None
    assert note in result["note"]


def test_float_noise_does_not_break_ties():
    # 0.3 - 0.2 and 0.2 - 0.1 differ in the last bit; both are 10 points.
    records = [run("ce", 20, 0, 0.2), run("tripleentropy", 20, 0, 0.3), run("ce", 20, 1, 0.1), run("tripleentropy", 20, 1, 0.2),
               run("ce", 20, 2, 0.5), run("tripleentropy", 20, 2, 0.5)]
    (paired,) = paired_differences(records)
    assert paired.differences == (10.0, 10.0, 0.0)
    comparison = summarize(records)["comparisons"][0]
    assert (comparison["wins"], comparison["losses"], comparison["ties"]) == (2, 0, 1)


def test_paper_gains_are_put_beside_the_measured_comparison():
    summary = summarize(RECORDS, paper_gains=[{"label": "small", "gain": 0.7, "train_size": 20}, {"label": "xl", "gain": 0.04}],
                        notes=["a note"], max_eval=100)
    small, extra_large = summary["paper_comparison"]
    assert small["paper_gain"] == 0.7 and small["measured_mean_diff"] == pytest.approx(1.25) and small["measured_n_pairs"] == 4
    assert extra_large["measured_mean_diff"] is None and extra_large["measured_n_pairs"] == 0
    assert summary["notes"] == ["a note"] and summary["max_eval"] == 100
