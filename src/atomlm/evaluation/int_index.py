"""The Open SLM leaderboard "Int Index" (the leaderboard's published formula).

N(s, c) = 100 (s - c) / (100 - c) rescales a score s (percent) so that chance c maps to 0.
ARC is the mean of ARC-Easy and ARC-Challenge before normalising. All inputs are 0-shot acc_norm.

    Index = [N(HellaSwag, 25) + N(ARC, 25) + N(PIQA, 50) + 0.65 N(ArithMark-3, 25)] / 3.65
"""

from __future__ import annotations

import json
from pathlib import Path

LM_EVAL_TASKS = {"hellaswag": "hellaswag", "arc_easy": "arc_easy", "arc_challenge": "arc_challenge", "piqa": "piqa"}
ARITHMARK3_WEIGHT = 0.65


def normalise(score: float, chance: float) -> float:
    """Rescale a percent score so that chance is 0 and perfect is 100."""
    return 100.0 * (score - chance) / (100.0 - chance)


def int_index(hellaswag: float, arc_easy: float, arc_challenge: float, piqa: float, arithmark3: float) -> float:
    """The Int Index from five percent scores (acc_norm, 0-shot)."""
    arc = (arc_easy + arc_challenge) / 2.0
    total = (normalise(hellaswag, 25.0) + normalise(arc, 25.0) + normalise(piqa, 50.0)
             + ARITHMARK3_WEIGHT * normalise(arithmark3, 25.0))
    return total / (3.0 + ARITHMARK3_WEIGHT)


def _lm_eval_percent(fraction: float) -> float:
    """lm-eval writes metrics as fractions (0.4322); the index works in percent (43.22)."""
    return 100.0 * fraction


def scores_from_lm_eval(paths) -> dict:
    """acc_norm (percent) for hellaswag, arc_easy, arc_challenge and piqa from lm-eval results JSON files."""
    scores = {}
    for path in paths:
        results = json.loads(Path(path).read_text(encoding="utf-8")).get("results", {})
        for task, key in LM_EVAL_TASKS.items():
            if task in results:
                metrics = results[task]
                value = metrics.get("acc_norm,none", metrics.get("acc_norm"))
                if value is None:
                    raise ValueError(f"{path}: task {task} has no acc_norm metric")
                scores[key] = _lm_eval_percent(float(value))
    return scores


def score_from_arithmark3(path) -> float:
    """acc_norm (percent) from a runner output JSON on ArithMark 3 (or an lm-eval results file)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    results = data.get("results", {})
    if "arithmark_3" in results and "acc_norm" in results["arithmark_3"]:
        return float(results["arithmark_3"]["acc_norm"])
    for task, metrics in results.items():
        if task.startswith("arithmark") and "3" in task and "acc_norm,none" in metrics:
            return _lm_eval_percent(float(metrics["acc_norm,none"]))
    raise ValueError(f"{path}: no ArithMark 3 acc_norm found (expected results.arithmark_3.acc_norm)")
