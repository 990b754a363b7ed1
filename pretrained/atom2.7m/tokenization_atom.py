"""AtomTokenizer: the fusion tokenizer's Hugging Face wrapper.

`tokenizer.json` (a `tokenizers` byte-level BPE whose pre-tokenizer isolates every digit, the
symbols `+ - * / = ( )` and whitespace) does the tokenizing in Rust. This wrapper adds the one
step a `tokenizers` pipeline cannot express: every maximal run of ASCII digits is written least
significant digit first ("1234" -> tokens 4 3 2 1), so the k-th digit of a run is the 10^(k-1)
column and place value can be read causally. Decoding applies the same reversal again (it is
its own inverse on maximal digit runs) to the token sequence, restoring the original text exactly.

Ships inside every exported model directory: imports only `transformers` and the standard library.
Load with `AutoTokenizer.from_pretrained(dir, trust_remote_code=True)` (with or without
`use_fast=False`: both resolve to this class, so both give the same ids).
Offsets from `return_offsets_mapping=True` index the digit-reversed text.
"""

from __future__ import annotations

import re

from transformers import PreTrainedTokenizerFast

DIGIT_RUN = re.compile(r"[0-9]+")


def reverse_digit_runs(text: str) -> str:
    """Reverse every maximal run of ASCII digits; applying it twice gives `text` back."""
    return DIGIT_RUN.sub(lambda match: match.group(0)[::-1], text)


def _reverse_inputs(value):
    if value is None:
        return None
    if isinstance(value, str):
        return reverse_digit_runs(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_reverse_inputs(item) for item in value)
    return value


def reverse_digit_token_runs(items: list, is_digit) -> list:
    """Reverse every maximal run of items for which `is_digit(item)` holds (token ids or strings)."""
    result, run = [], []
    for item in items:
        if is_digit(item):
            run.append(item)
            continue
        result.extend(reversed(run))
        run = []
        result.append(item)
    result.extend(reversed(run))
    return result


class AtomTokenizer(PreTrainedTokenizerFast):
    """Byte-level BPE with atomic digits written least-significant first (see module docstring)."""

    model_input_names = ["input_ids", "attention_mask"]

    def _encode_plus(self, text, text_pair=None, *args, **kwargs):
        return super()._encode_plus(_reverse_inputs(text), _reverse_inputs(text_pair), *args, **kwargs)

    @property
    def digit_token_ids(self) -> list[int]:
        """Ids of the tokens "0" .. "9"."""
        return [self._tokenizer.token_to_id(digit) for digit in "0123456789"]

    def _decode(self, token_ids, skip_special_tokens=False, clean_up_tokenization_spaces=None, **kwargs):
        # Restore written digit order in id space, before special tokens are dropped, so runs
        # separated only by a special token are not merged.
        if isinstance(token_ids, int):
            token_ids = [token_ids]
        if isinstance(token_ids, dict):
            token_ids = token_ids["input_ids"]
        digit_ids = set(self.digit_token_ids)
        ordered = reverse_digit_token_runs([int(i) for i in token_ids], digit_ids.__contains__)
        return super()._decode(
            ordered, skip_special_tokens=skip_special_tokens, clean_up_tokenization_spaces=False, **kwargs
        )

    def convert_tokens_to_string(self, tokens):
        digits = set("0123456789")
        return super().convert_tokens_to_string(reverse_digit_token_runs(list(tokens), digits.__contains__))


# save_pretrained writes `auto_map` and copies this file, so a saved directory loads with trust_remote_code.
AtomTokenizer.register_for_auto_class("AutoTokenizer")
