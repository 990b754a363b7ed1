"""Local data for the ArithMark 2.0 lm-eval tasks.

The file comes from the environment variable ATOMLM_ARITHMARK_DATA, or else the compatible set
shipped with atomlm. Rows are read by the runner's validating reader, so lm-eval and
`atomlm eval arithmark` see exactly the same items.
"""

from __future__ import annotations

import os

DATA_ENVIRONMENT_VARIABLE = "ATOMLM_ARITHMARK_DATA"


def data_path() -> str:
    """The ArithMark file these tasks read."""
    from atomlm.evaluation.arithmark_generator import SHIPPED_FILE

    return os.environ.get(DATA_ENVIRONMENT_VARIABLE) or str(SHIPPED_FILE)


def load_arithmark(difficulty=None, **_lm_eval_metadata):
    """lm-eval `custom_dataset` hook: {"test": Dataset} of rows, optionally one difficulty.

    `answer` is the labelled ending without its leading space: the target of the exact-match task.
    """
    import datasets

    from atomlm.evaluation.benchmark_fusion_arithmark import load_arithmark_rows

    rows = load_arithmark_rows(data_path())
    selected = [
        {"ind": str(row["ind"]), "ctx": row["ctx"], "endings": row["endings"], "label": row["label"],
         "answer": row["endings"][row["label"]].strip(), "difficulty": str(row["metadata"].get("difficulty", ""))}
        for row in rows
        if difficulty is None or row["metadata"].get("difficulty") == difficulty
    ]
    if not selected:
        raise ValueError(f"{data_path()}: no rows with difficulty {difficulty!r}")
    return {"test": datasets.Dataset.from_list(selected)}
