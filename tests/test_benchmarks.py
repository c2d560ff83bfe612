"""Benchmark scripts whose output the README quotes, on records written here."""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write_runs(folder: Path, accuracies: dict[str, list[float]]) -> None:
    (folder / "runs").mkdir(parents=True)
    for method, values in accuracies.items():
        for seed, accuracy in enumerate(values):
            record = {"key": f"{method}{seed}", "method": method, "train_size": 16, "seed": seed,
                      "metrics": {"accuracy": accuracy}, "data_fingerprint": folder.name}
            (folder / "runs" / f"{method}{seed}.json").write_text(json.dumps(record))


def test_pool_tasks_pairs_within_each_task_and_pools_them(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import pool_tasks

    write_runs(tmp_path / "A", {"setfit": [0.50, 0.60, 0.70], "te": [0.52, 0.61, 0.73]})
    write_runs(tmp_path / "B", {"setfit": [0.80, 0.80, 0.80], "te": [0.79, 0.82, 0.83]})
    assert pool_tasks.main([str(tmp_path), "--baseline", "setfit"]) == 0
    rows = {line.split("|")[1].strip(): line for line in capsys.readouterr().out.splitlines()}
    assert "| 60.00 | 62.00 | +2.00 [" in rows["A"] and "3/0/0" in rows["A"]
    assert "| 80.00 | 81.33 | +1.33 [" in rows["B"] and "2/1/0" in rows["B"]
    # Pooled: the 6 differences +2, +1, +3, −1, +2, +3 (mean 1.67), means over both tasks.
    assert "| 70.00 | 71.67 | +1.67 [" in rows["pooled"] and "5/1/0" in rows["pooled"]


def test_pool_tasks_refuses_a_folder_without_runs_or_with_two_runs_of_a_cell(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import pool_tasks

    assert pool_tasks.main([str(tmp_path)]) == 2
    assert "no run records" in capsys.readouterr().err
    write_runs(tmp_path / "A", {"ce": [0.5], "te": [0.6]})
    (tmp_path / "A" / "runs" / "again.json").write_text((tmp_path / "A" / "runs" / "te0.json").read_text())
    assert pool_tasks.main([str(tmp_path)]) == 2
    assert "two runs for method 'te'" in capsys.readouterr().err
