"""scripts/release_gate.py: every evaluation really run on the shipped model (small files), results
reused by weights and data, the verdict's rules, and a one-line refusal of a folder without weights."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from atomlm.evaluation.arithmark_generator import SHIPPED_FILE

REPO = Path(__file__).resolve().parents[1]
SHIPPED_MODEL = REPO / "pretrained" / "atom2.7m"


@pytest.fixture()
def release_gate(import_script, tmp_path, monkeypatch):
    module = import_script("release_gate")
    lines = SHIPPED_FILE.read_text(encoding="utf-8").splitlines()
    compat = tmp_path / "compat_slice.jsonl"
    compat.write_text("\n".join(lines[:8] + lines[1250:1256] + lines[2000:2006]) + "\n", encoding="utf-8")
    v1 = tmp_path / "v1_slice.jsonl"
    v1.write_text("\n".join(module.V1_ROWS.read_text(encoding="utf-8").splitlines()[:12]) + "\n", encoding="utf-8")
    monkeypatch.setattr(module, "COMPAT_FILE", compat)
    monkeypatch.setattr(module, "V1_ROWS", v1)
    monkeypatch.setattr(module, "HELD_OUT_SIZE", ("--n-easy", "4", "--n-medium", "4", "--n-hard", "4"))
    return module


def _commands_run(work: Path) -> list[str]:
    return [line for line in (work / "gate.log").read_text().splitlines() if line.startswith("$ ")]


def test_a_real_gate_on_the_shipped_model_reuses_results_and_rescores_changed_data(release_gate, tmp_path):
    work = tmp_path / "work"
    passes, report = release_gate.gate(SHIPPED_MODEL, SHIPPED_MODEL, work)
    assert not passes  # the same model is not ahead of itself
    # every row the same number on both sides (the slice has no truncation distractor: n/a)
    assert report.count("| +0.00 |") == len(release_gate.METRICS) - 1 and "| compat truncation rows | n/a |" in report
    assert "Verdict: FAIL" in report and "ahead: **no**" in report and "not behind: yes" in report
    assert "--add-digits 1-4 --mul-digits 1-3 --max-answer 999999" in report  # the held-out files' commands
    assert "--seed 2029 --distractors one-digit" in report
    first = _commands_run(work)
    # the held-out files written, then each evaluation once: both sides have the same weights
    assert len(first) == len(release_gate.HELD_OUT) + len(release_gate.EVALUATIONS)
    assert len(list((work / "results").glob("*.json"))) == len(release_gate.EVALUATIONS)

    assert release_gate.gate(SHIPPED_MODEL, SHIPPED_MODEL, work) == (passes, report)
    assert _commands_run(work) == first  # nothing scored again

    compat = release_gate.COMPAT_FILE
    compat.write_text("\n".join(compat.read_text().splitlines()[:10]) + "\n")  # new data: compat and exact again
    release_gate.gate(SHIPPED_MODEL, SHIPPED_MODEL, work)
    again = _commands_run(work)[len(first):]
    assert len(again) == 2 and all(str(compat) in command for command in again)


def _results(module, **candidate_overrides) -> dict:
    """Result files as the evaluations write them: both sides at 90, the candidate's headline
    overridden per evaluation name."""
    def result(acc):
        levels = {level: {"acc": acc} for level in ("easy", "medium", "hard")}
        return {"results": {"b": {"acc": acc}}, "breakdowns": {"difficulty": copy.deepcopy(levels)},
                "truncation_distractors": {"truncation/all": {"acc": acc}}}

    results = {}
    for evaluation in module.EVALUATIONS:
        results["baseline", evaluation.name] = result(90.0)
        results["candidate", evaluation.name] = result(candidate_overrides.get(evaluation.name.replace("-", "_"), 91.0))
    return results


def test_verdict_needs_ahead_on_the_compat_set_and_not_behind_on_held_out_files(release_gate):
    def passes(**overrides):
        return release_gate.compare(_results(release_gate, **overrides), "candidate", "baseline")[0]

    assert passes()
    assert passes(second=90.0, wide=90.0, one_digit=90.0, v1=80.0, wide_exact=50.0)  # level on held-out files
    assert not passes(compat=90.0)  # level is not ahead
    assert not passes(exact=89.9)
    assert not passes(wide=89.9)
    assert not passes(second=89.9)
    assert not passes(one_digit=89.9)


def test_a_folder_without_weights_is_refused_in_one_line(release_gate, tmp_path, capsys):
    slimmed = tmp_path / "best"
    slimmed.mkdir()
    (slimmed / "config.json").write_text("{}")
    (slimmed / "RESTORE.md").write_text("git checkout abc -- best\n")
    assert release_gate.main(["--candidate", str(slimmed), "--work", str(tmp_path / "work")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "no model.safetensors" in error[0] and "RESTORE.md" in error[0]
    assert not (tmp_path / "work").exists()  # refused before anything ran
