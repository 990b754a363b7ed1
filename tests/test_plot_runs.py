"""scripts/plot_runs.py overlays runs' curves in one PNG and refuses bad input with exit 2."""

import json

import pytest


def write_metrics(path, losses, evals):
    lines = [{"kind": "train", "step": step, "tokens": 64 * step, "loss": loss} for step, loss in enumerate(losses, 1)]
    lines += [{"kind": "eval", "step": step, "val_loss": 1.0, "val_loss_answers": 0.8, "arithmark_acc": acc}
              for step, acc in evals]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_running_mean(import_script):
    plot_runs = import_script("plot_runs")
    assert plot_runs.running_mean([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]


def test_two_runs_one_png(import_script, tmp_path, capsys):
    plot_runs = import_script("plot_runs")
    run = tmp_path / "run_a"
    run.mkdir()
    write_metrics(run / "metrics.jsonl", [3.0, 2.5, 2.0], [(3, 40.0)])
    other = write_metrics(tmp_path / "b.jsonl", [3.1, 2.4, 1.9, 1.8], [(2, 30.0), (4, 50.0)])
    out = tmp_path / "figures" / "runs.png"
    assert plot_runs.main(["--run", f"a={run}", "--run", f"b={other}", "--out", str(out), "--window", "2"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    answers = tmp_path / "answers.png"
    assert plot_runs.main(["--run", f"a={run}", "--out", str(answers), "--validation", "val_loss_answers"]) == 0
    assert answers.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("content, message", [
    (None, "no such metrics file"),
    ('{"kind": "eval", "step": 1}\n', "no training records"),
    ('not json\n{"kind": "train", "step": 1, "loss": 1.0}\n', "line 1: not a JSON object"),
])
def test_bad_input_exits_2(import_script, tmp_path, capsys, content, message):
    plot_runs = import_script("plot_runs")
    metrics = tmp_path / "metrics.jsonl"
    if content is not None:
        metrics.write_text(content)
    assert plot_runs.main(["--run", f"a={metrics}", "--out", str(tmp_path / "x.png")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_run_without_label_is_a_usage_error(import_script, tmp_path):
    plot_runs = import_script("plot_runs")
    with pytest.raises(SystemExit) as exit_info:
        plot_runs.main(["--run", str(tmp_path), "--out", str(tmp_path / "x.png")])
    assert exit_info.value.code == 2
