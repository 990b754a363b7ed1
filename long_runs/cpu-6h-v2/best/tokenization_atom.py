"""AtomTokenizer: the fusion tokenizer's Hugging Face wrapper.

`tokenizer.json` (a `tokenizers` byte-level BPE whose pre-tokenizer isolates every digit, the
symbols `+ - * / = ( )` and whitespace) does the tokenizing in Rust. This wrapper adds what a
`tokenizers` pipeline cannot express, as a rewrite of every maximal run of ASCII digits before
the Rust pipeline runs, undone on decode:

- digit order (`digit_order`): "lsd" (Atom2.7m's default) writes each run least significant
  digit first ("1234" -> tokens 4 3 2 1), so the k-th digit of a run is the 10^(k-1) column and
  place value can be read causally; "msd" keeps the written order (for ablations).
- number marker (`number_marker`): "end" (atomlm's default tokenizer) appends the special token
  `<|number_end|>` after every run; "none" is Atom2.7m's original tokenizer (and what a
  tokenizer_config.json without the option means). Without it, under "lsd" the ending " 7" is a
  strict prefix of " 17", so summed-log-prob scoring favours the truncated answer whatever the
  model knows; with it, " 7" must also predict the marker where the model expects another digit.

Both choices are saved in tokenizer_config.json and restored by `from_pretrained`. Decoding
drops the marker and restores written digit order in id space, so any Unicode text comes back
exactly (a literal `<|number_end|>` typed right after a digit is read as the marker).

Ships inside every exported model directory: imports only `transformers` and the standard library.
A saved tokenizer_config.json lists the extra special tokens under `additional_special_tokens`,
which transformers 5 reads as its `extra_special_tokens` and 4.x reads too (4.x takes a list under
`extra_special_tokens` for a dict and fails), so an export loads with either.
Load with `AutoTokenizer.from_pretrained(dir, trust_remote_code=True)` (with or without
`use_fast=False`: both resolve to this class, so both give the same ids).
Offsets from `return_offsets_mapping=True` index the rewritten text.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from transformers import PreTrainedTokenizerFast, TextStreamer

DIGIT_RUN = re.compile(r"[0-9]+")
DIGITS = "0123456789"
DIGIT_ORDERS = ("lsd", "msd")
NUMBER_MARKERS = ("none", "end")
NUMBER_END_TOKEN = "<|number_end|>"


def reverse_digit_runs(text: str) -> str:
    """Reverse every maximal run of ASCII digits; applying it twice gives `text` back."""
    return DIGIT_RUN.sub(lambda match: match.group(0)[::-1], text)


def rewrite_digit_runs(text: str, digit_order: str = "lsd", number_marker: str = "none") -> str:
    """The text the Rust pipeline tokenizes: runs in model digit order, each followed by its marker."""
    def rewrite(match):
        run = match.group(0)[::-1] if digit_order == "lsd" else match.group(0)
        return run + NUMBER_END_TOKEN if number_marker == "end" else run

    return DIGIT_RUN.sub(rewrite, text)


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


def drop_markers_after_digits(items: list, is_digit, marker) -> list:
    """Remove every `marker` that directly follows a digit (where encoding put one)."""
    return [item for index, item in enumerate(items) if not (item == marker and index and is_digit(items[index - 1]))]


def write_config_readable_by_transformers_4(path: Path) -> None:
    """Move a list of `extra_special_tokens` (transformers 5's name) to `additional_special_tokens`."""
    config = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(config.get("extra_special_tokens"), list):
        config["additional_special_tokens"] = config.pop("extra_special_tokens")
        path.write_text(json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


class AtomTokenizer(PreTrainedTokenizerFast):
    """Byte-level BPE with atomic digits, rewritten digit runs and an optional number marker (see module docstring)."""

    model_input_names = ["input_ids", "attention_mask"]

    # The options live in init_kwargs (saved to and read from tokenizer_config.json). No custom
    # __init__: transformers rebuilds the backend of classes that define one, losing the pipeline.
    @property
    def digit_order(self) -> str:
        """"lsd" (least significant digit first) or "msd" (as written)."""
        return self._option("digit_order", "lsd", DIGIT_ORDERS)

    @property
    def number_marker(self) -> str:
        """"none", or "end" (`<|number_end|>` after every digit run)."""
        marker = self._option("number_marker", "none", NUMBER_MARKERS)
        if marker == "end" and self._tokenizer.token_to_id(NUMBER_END_TOKEN) is None:
            raise ValueError(f"AtomTokenizer: number_marker 'end' needs the token {NUMBER_END_TOKEN} in tokenizer.json")
        return marker

    def _option(self, name: str, default: str, allowed: tuple) -> str:
        value = self.init_kwargs.get(name, default)
        if value not in allowed:
            raise ValueError(f"AtomTokenizer: {name} must be one of {allowed}, got {value!r}")
        return value

    def _rewrite(self, value):
        if value is None:
            return None
        if isinstance(value, str):
            return rewrite_digit_runs(value, self.digit_order, self.number_marker)
        if isinstance(value, (list, tuple)):
            return type(value)(self._rewrite(item) for item in value)
        return value

    def _encode_plus(self, text, text_pair=None, *args, **kwargs):
        return super()._encode_plus(self._rewrite(text), self._rewrite(text_pair), *args, **kwargs)

    @property
    def digit_token_ids(self) -> list[int]:
        """Ids of the tokens "0" .. "9"."""
        return [self._tokenizer.token_to_id(digit) for digit in DIGITS]

    def _to_written_order(self, items: list, is_digit, marker) -> list:
        if self.digit_order == "lsd":
            items = reverse_digit_token_runs(items, is_digit)
        if self.number_marker == "end":
            items = drop_markers_after_digits(items, is_digit, marker)
        return items

    def _decode(self, token_ids, skip_special_tokens=False, clean_up_tokenization_spaces=None, **kwargs):
        # Restore written digit order in id space, before special tokens are dropped, so runs
        # separated only by a special token are not merged.
        if isinstance(token_ids, int):
            token_ids = [token_ids]
        if isinstance(token_ids, dict):
            token_ids = token_ids["input_ids"]
        digit_ids = set(self.digit_token_ids)
        marker_id = self._tokenizer.token_to_id(NUMBER_END_TOKEN)
        ordered = self._to_written_order([int(i) for i in token_ids], digit_ids.__contains__, marker_id)
        return super()._decode(
            ordered, skip_special_tokens=skip_special_tokens, clean_up_tokenization_spaces=False, **kwargs
        )

    def _save_pretrained(self, save_directory, file_names, *args, **kwargs):
        # Called after tokenizer_config.json is written and before any upload to the Hub.
        for name in file_names:
            if Path(name).name.endswith("tokenizer_config.json"):
                write_config_readable_by_transformers_4(Path(name))
        return super()._save_pretrained(save_directory, file_names, *args, **kwargs)

    def convert_tokens_to_string(self, tokens):
        digits = set(DIGITS)
        return super().convert_tokens_to_string(self._to_written_order(list(tokens), digits.__contains__, NUMBER_END_TOKEN))


class AtomTextStreamer(TextStreamer):
    """`TextStreamer` for an Atom tokenizer: each digit run is printed once it is complete.

    `TextStreamer` prints digits as soon as they are decoded, assuming text only grows at its end.
    Under "lsd" order a run's later tokens are its leading digits ("1", then "5" decodes "51"), so
    it would print "11". This streamer hands a digit run on with the token that ends it (the
    marker, a space, any other token) or at `end()`. From an exported directory:
    `sys.modules[type(tokenizer).__module__].AtomTextStreamer(tokenizer, skip_special_tokens=True)`.
    """

    def __init__(self, tokenizer, skip_prompt: bool = False, **decode_kwargs):
        super().__init__(tokenizer, skip_prompt, **decode_kwargs)
        self.digit_ids = set(tokenizer.digit_token_ids)
        self.held_back: list[int] = []  # the digit run still being written

    def put(self, value):
        if self.skip_prompt and self.next_tokens_are_prompt:
            super().put(value)  # skipped whole, as TextStreamer skips it
            return
        if len(value.shape) > 1 and value.shape[0] > 1:
            raise ValueError("TextStreamer only supports batch size 1")
        pending = self.held_back + value.reshape(-1).tolist()
        complete = len(pending)
        while complete > 0 and pending[complete - 1] in self.digit_ids:
            complete -= 1
        self.held_back = pending[complete:]
        if complete:
            super().put(value.new_tensor(pending[:complete]))

    def end(self):
        if self.held_back:
            pending, self.held_back = self.held_back, []
            import torch

            super().put(torch.tensor(pending))
        super().end()


# save_pretrained writes `auto_map` and copies this file, so a saved directory loads with trust_remote_code.
AtomTokenizer.register_for_auto_class("AutoTokenizer")
