"""Which multiple-choice distractors a tokenizer's digit order makes unbeatable by summed log-probs.

ArithMark scores an ending by the sum of its tokens' log-probabilities. With digit runs written
least significant digit first and no number marker, the ending " 7" is a strict token prefix of
" 17", so its score is the right answer's plus -log p("1"): higher whatever the model knows. The
same holds for any distractor equal to the answer with leading digits dropped (17 -> 7,
104 -> 4, -312 -> -12): a *truncation* distractor. Written-order (msd) tokenizers have the mirror
problem with trailing digits dropped (17 -> 1).
"""

from __future__ import annotations

import re

INTEGER = re.compile(r"^\s*(-?)(\d+)\s*$")


def _sign_and_digits(text: str) -> tuple[str, str] | None:
    match = INTEGER.match(text)
    return (match.group(1), match.group(2)) if match else None


def is_truncation(distractor: str, answer: str, digit_order: str = "lsd") -> bool:
    """True when `distractor` is `answer` with leading (lsd) or trailing (msd) digits dropped."""
    parsed_distractor, parsed_answer = _sign_and_digits(distractor), _sign_and_digits(answer)
    if parsed_distractor is None or parsed_answer is None or parsed_distractor[0] != parsed_answer[0]:
        return False
    short, full = parsed_distractor[1], parsed_answer[1]
    if len(short) >= len(full):
        return False
    return full.endswith(short) if digit_order == "lsd" else full.startswith(short)


def has_truncation_distractor(row: dict, digit_order: str = "lsd") -> bool:
    """Whether a normalised ArithMark row (`endings`, `label`) offers a truncation of its answer."""
    answer = row["endings"][row["label"]]
    return any(is_truncation(ending, answer, digit_order)
               for index, ending in enumerate(row["endings"]) if index != row["label"])


def truncation_accuracy(rows: list[dict], predictions: list[dict], digit_order: str = "lsd") -> dict:
    """Accuracy (percent) on the rows with a truncation distractor and on the others, per difficulty."""
    groups: dict[tuple[str, str], list[int]] = {}
    for row, prediction in zip(rows, predictions):
        kind = "truncation" if has_truncation_distractor(row, digit_order) else "other"
        difficulty = row["metadata"].get("difficulty")
        for group in ("all",) if difficulty is None else ("all", str(difficulty)):
            cell = groups.setdefault((kind, group), [0, 0])
            cell[0] += bool(prediction["correct"])
            cell[1] += 1
    return {f"{kind}/{difficulty}": {"acc": 100.0 * hits / total, "correct": hits, "total": total}
            for (kind, difficulty), (hits, total) in sorted(groups.items())}
