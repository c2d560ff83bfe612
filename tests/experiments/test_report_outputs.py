import json

import pytest

from tripleentropy.experiments import format_summary_table, summarize, write_outputs
from tripleentropy.experiments.plots import plot_paired_differences
from tripleentropy.experiments.report import verdict, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(loss, size, seed, accuracy):
    return {"key": f"{loss}-{size}-{seed}", "method": loss, "train_size": size, "seed": seed,
            "metrics": {"accuracy": accuracy, "macro_f1": accuracy}, "config": {}, "data_fingerprint": "d",
            "seconds": 1.0, "finished_at": "t"}


# tripleentropy - ce = 1.0, 1.2, 1.4, 1.6 points at every size (mean 1.3); supcon - ce = -0.4 points.
RECORDS = [run(loss, size, seed, base + 0.01 * ((seed * 7) % 5) + bonus + (0.002 * seed if loss == "tripleentropy" else 0.0))
           for size, base in ((20, 0.6), (100, 0.7), ("full", 0.85))
           for seed in range(4)
           for loss, bonus in (("ce", 0.0), ("tripleentropy", 0.01), ("supcon", -0.004))]


def comparison(mean, ci, n_pairs=10, p=0.01, note=None, unmatched=0):
    return {"method": "tripleentropy", "baseline": "ce", "train_size": 20, "n_pairs": n_pairs, "mean_diff": mean, "ci95": ci,
            "p_value": p, "note": note, "n_unmatched": unmatched}


def test_write_outputs_writes_summary_report_and_plots(tmp_path):
    gains = [{"label": "small training sets", "gain": 0.7, "train_size": 20}]
    summary = write_outputs(RECORDS, tmp_path, title="Study", context={"command": "`tripleentropy compare`", "model": "tiny"},
                            paper_gains=gains, max_eval=50)
    assert json.loads((tmp_path / "summary.json").read_text()) == json.loads(json.dumps(summary))
    assert {"comparisons", "results", "baseline", "test", "max_eval"} <= set(summary)
    for name in ("accuracy.png", "differences.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG_MAGIC)
    report = (tmp_path / "report.md").read_text()
    assert report.startswith("# Study\n")
    assert "**Command**: `tripleentropy compare`" in report and "**Model**: tiny" in report
    assert "--max-eval 50" in report
    assert "two-sided paired t-test" in report and "Wilcoxon" in report
    assert "| 20 | tripleentropy | 4 | +1.30 |" in report
    assert "The paper's published gains beside the measured ones" in report and "| small training sets | tripleentropy | +0.70 | 20 | +1.30 |" in report
    assert "![Accuracy by training size](accuracy.png)" in report and "(differences.png)" in report
    assert not list(tmp_path.glob(".*.tmp"))


def test_report_says_when_evaluation_was_not_capped_and_omits_missing_sections(tmp_path):
    write_report(summarize(RECORDS), tmp_path, "Study", {})
    report = (tmp_path / "report.md").read_text()
    assert "whole evaluation set" in report
    assert "paper" not in report.lower() and "## Plots" not in report


@pytest.mark.parametrize("entry, expected", [
    (comparison(0.5, [-0.2, 1.2]), "no significant difference between tripleentropy and ce (+0.50 points; the 95% CI [-0.20, +1.20] includes 0"),
    (comparison(0.8, [0.1, 1.5]), "tripleentropy is higher than ce by 0.80 points (95% CI [+0.10, +1.50] excludes 0, p = 0.010, 10 pairs)"),
    (comparison(-0.8, [-1.5, -0.1], p=0.0001), "tripleentropy is lower than ce by 0.80 points (95% CI [-1.50, -0.10] excludes 0, p = <0.001"),
    (comparison(0.8, [0.1, 1.5], n_pairs=3), "treat this as indicative only"),
    (comparison(2.0, None, n_pairs=1, p=None, note="one pair only (+2.00 points): no interval or test"),
     "tripleentropy against ce: one pair only (+2.00 points): no interval or test; no conclusion possible"),
    (comparison(None, None, n_pairs=0, p=None, note="no pairs", unmatched=2), "nothing to compare; 2 run(s) without a partner left out"),
])
def test_verdicts_never_claim_more_than_the_interval(entry, expected):
    assert expected in verdict(entry)


def test_terminal_table_lists_every_cell_with_its_paired_comparison():
    table = format_summary_table(summarize(RECORDS, max_eval=50))
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["size", "method", "accuracy"]
    assert len(lines) == 2 + 9 + 1
    row = next(line for line in lines if line.startswith("100") and "tripleentropy" in line)
    assert "+1.30" in row and "4/0/0" in row
    assert "capped at 50" in lines[-1] and "paired t-test" in lines[-1]


def test_differences_plot_without_any_pair_still_draws(tmp_path):
    plot_paired_differences([run("tripleentropy", 20, 0, 0.5)], "ce", tmp_path / "d.png")
    assert (tmp_path / "d.png").read_bytes().startswith(PNG_MAGIC)


def test_max_eval_with_folds_says_each_fold_has_its_own_sample(tmp_path):
    folded = [{**record, "fold": record["seed"] % 2} for record in RECORDS]
    write_outputs(folded, tmp_path, title="Folds", context={}, max_eval=50, eval_folds=2)
    report = (tmp_path / "report.md").read_text()
    assert "each of the 2 folds evaluates on its own fixed stratified sample of 50" in report
    assert "the same for every run;" not in report
    write_outputs(RECORDS, tmp_path / "test", title="Test split", context={}, max_eval=50)
    assert "one fixed stratified sample of 50 evaluation examples, the same for every run" in (tmp_path / "test" / "report.md").read_text()


def test_mrpc_reports_the_f1_of_the_paraphrase_class_beside_macro_f1(tmp_path):
    from tripleentropy.experiments.presets import PRESETS
    from tripleentropy.experiments.reproduce import write_overall_report
    from tripleentropy.training import classification_metrics

    metrics = classification_metrics([0, 1, 1, 1, 0], [0, 1, 0, 1, 1], ["not_paraphrase", "paraphrase"], "paraphrase")
    assert metrics["f1"] == pytest.approx(2 / 3) and metrics["f1"] == metrics["per_class_f1"]["paraphrase"]
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 1 / 2) / 2) and metrics["positive_label"] == "paraphrase"

    records = [{**record, "metrics": {**record["metrics"], "f1": record["metrics"]["accuracy"] - 0.1,
                                      "positive_label": "paraphrase"}}
               for record in RECORDS if record["method"] != "supcon"]
    summary = write_outputs(records, tmp_path / "MRPC", title="MRPC", context={})
    assert summary["positive_label"] == "paraphrase"
    ce20 = next(entry for entry in summary["results"] if entry["train_size"] == 20 and entry["method"] == "ce")
    assert ce20["f1_mean"] == pytest.approx(ce20["mean"] - 10.0) and ce20["macro_f1_mean"] == pytest.approx(ce20["mean"])
    assert "## F1 of the `paraphrase` class" in (tmp_path / "MRPC" / "report.md").read_text()
    assert "F1 (paraphrase)" in format_summary_table(summary) and "macro F1" in format_summary_table(summary)
    write_overall_report(PRESETS["smoke"], {"MRPC": summary}, {"MRPC": records}, tmp_path, {})
    overall = (tmp_path / "report.md").read_text()
    assert "## F1 where the literature reports it" in overall and "| [MRPC](MRPC/report.md) | 20 | paraphrase |" in overall


def test_evaluate_reports_the_paraphrase_f1_on_mrpc(tiny_bert, tmp_path, capsys):
    from tripleentropy.cli import main
    from tripleentropy.data import resolve_data_dir, tasks

    if not tasks.task_is_present(tasks.get_task("MRPC"), resolve_data_dir()):
        pytest.skip("SentEval data not found (set TRIPLEENTROPY_DATA)")
    model = tmp_path / "model"
    assert main(["train", "--task", "MRPC", "--train-size", "8", "--epochs", "1", "--min-steps", "0", "--model", str(tiny_bert),
                 "--max-length", "16", "--output-dir", str(model)]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--model-dir", str(model), "--task", "MRPC", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["positive_label"] == "paraphrase" and metrics["f1"] == metrics["per_class_f1"]["paraphrase"]
    assert main(["evaluate", "--model-dir", str(model), "--task", "MRPC"]) == 0
    assert "(of the paraphrase class)" in capsys.readouterr().out


def with_majority(record, rate):
    return {**record, "metrics": {**record["metrics"], "majority_rate": rate}}


def test_the_majority_rate_is_the_accuracy_of_always_predicting_the_most_frequent_class():
    from tripleentropy.training import classification_metrics

    metrics = classification_metrics([1, 1, 0, 1], [0, 1, 0, 0], ["neg", "pos"])
    assert metrics["majority_rate"] == 0.75 and metrics["accuracy"] == 0.5
    assert classification_metrics([1, 1, 0, 1], [1, 1, 1, 1], ["neg", "pos"])["accuracy"] == metrics["majority_rate"]
    assert classification_metrics([], [], ["neg", "pos"])["majority_rate"] == 0.0
    summary = summarize([with_majority(record, 0.75) for record in RECORDS])
    assert {entry["majority_rate_mean"] for entry in summary["results"]} == {75.0}


# Each seed (fold) evaluates on its own examples: majority rates 60.5 and 61.5 at size 20, mean 61.0.
# supcon's mean accuracy there, 61.35, is less than 0.5 points above it; ce's, 61.75, is not.
MAJORITY_RECORDS = [with_majority(record, 0.605 + 0.01 * (record["seed"] % 2) if record["train_size"] == 20 else 0.5)
                    for record in RECORDS]


def test_reports_show_macro_f1_and_the_majority_rate_beside_accuracy(tmp_path):
    from tripleentropy.experiments.presets import PRESETS
    from tripleentropy.experiments.reproduce import write_overall_report

    summary = write_outputs(MAJORITY_RECORDS, tmp_path / "SST2", title="Study", context={})
    results = {(entry["train_size"], entry["method"]): entry for entry in summary["results"]}
    assert results[(20, "ce")]["majority_rate_mean"] == pytest.approx(61.0)
    assert results[(100, "supcon")]["majority_rate_mean"] == pytest.approx(50.0)
    assert results[(20, "ce")]["macro_f1_mean"] == pytest.approx(results[(20, "ce")]["mean"])
    assert results[(20, "ce")]["macro_f1_std"] == pytest.approx(results[(20, "ce")]["std"])
    assert json.loads((tmp_path / "SST2" / "summary.json").read_text())["results"] == json.loads(json.dumps(summary["results"]))

    report = (tmp_path / "SST2" / "report.md").read_text()
    main_table = report.split("## Accuracy, macro F1 and the majority class\n")[1].split("\n## ")[0]
    assert "| Training size | Method | Accuracy | Macro F1 | Majority class |" in main_table
    rows = {tuple(cell.strip() for cell in line.split("|")[1:3]): line for line in main_table.splitlines()
            if line.startswith("| 20 |") or line.startswith("| 100 |")}
    assert rows[("20", "ce")].startswith("| 20 | ce | 61.75 ± ") and rows[("20", "ce")].endswith(" | 61.00 |")
    assert rows[("20", "supcon")].startswith("| 20 | supcon | 61.35 ± ")
    assert rows[("20", "supcon")].endswith(" | 61.00 (not beaten) |")
    assert rows[("100", "tripleentropy")].endswith(" | 50.00 |")
    assert "Majority class: the accuracy of always predicting the most frequent class" in report

    table = format_summary_table(summary).splitlines()
    assert table[0].split()[:6] == ["size", "method", "accuracy", "(points)", "macro", "F1"] and "majority" in table[0]
    supcon = next(line for line in table if line.startswith("20") and "supcon" in line)
    assert "61.00 (not beaten)" in supcon and "majority" in table[-1]

    write_overall_report(PRESETS["smoke"], {"SST2": summary}, {"SST2": MAJORITY_RECORDS}, tmp_path, {})
    overall = (tmp_path / "report.md").read_text()
    assert "| Size | Method | Runs | Accuracy | Macro F1 | Majority class | Seconds per run |" in overall
    assert "| 20 | supcon | 4 | 61.35 | 61.35 | 61.00 (not beaten) |" in overall
    assert "| [SST2](SST2/report.md) | 20 | supcon | 61.75 | 61.35 | 61.35 ± " in overall
    pooled = json.loads((tmp_path / "summary.json").read_text())["pooled_results"]
    assert next(entry for entry in pooled if entry["train_size"] == 20)["majority_rate_mean"] == pytest.approx(61.0)


def test_records_written_before_the_majority_rate_still_report(tmp_path):
    from tripleentropy.experiments.presets import PRESETS
    from tripleentropy.experiments.reproduce import write_overall_report

    old = [{**record, "metrics": {"accuracy": record["metrics"]["accuracy"]}} for record in RECORDS]
    mixed = old[:1] + MAJORITY_RECORDS[1:]  # one cell of old and new runs: no rate for that cell
    for records, name in ((old, "old"), (mixed, "mixed")):
        summary = write_outputs(records, tmp_path / name, title="Old runs", context={})
        ce20 = next(entry for entry in summary["results"] if (entry["train_size"], entry["method"]) == (20, "ce"))
        assert "majority_rate_mean" not in ce20
        report = (tmp_path / name / "report.md").read_text()
        assert any(line.startswith("| 20 | ce | 61.75 ± ") and line.endswith(" | – |") for line in report.splitlines())
        row = next(line.split() for line in format_summary_table(summary).splitlines() if line.split()[:2] == ["20", "ce"])
        assert row[2:8] == ["61.75", "±", "1.71", "(n=4)", "–", "–"]
    assert "| 20 | supcon | 61.35 ± 1.71 (n=4) | – | – |" in (tmp_path / "old" / "report.md").read_text()
    write_overall_report(PRESETS["smoke"], {"SST2": summary}, {"SST2": mixed}, tmp_path, {})
    assert "| 20 | ce | 4 | 61.75 | – | – |" in (tmp_path / "report.md").read_text()
