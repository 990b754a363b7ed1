"""Train the fusion tokenizer: byte-level BPE with atomic digits, operators and whitespace.

The whole pipeline is `tokenizers` components (Rust): a regex `Split` pre-tokenizer isolates
each ASCII digit, each of `+ - * / = ( )`, each whitespace run, letter runs and other-symbol
runs; `ByteLevel` maps bytes to the 256-symbol alphabet; BPE merges only inside those pieces, so
digits and operators can never merge. The least-significant-first digit order is applied by
`AtomTokenizer` (tokenization_atom.py) around this pipeline; training is order-independent
because digits are single-byte atoms.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from atomlm.modeling.arithmetic_features import ARITHMETIC_SYMBOLS, DIGITS
from atomlm.modeling.tokenization_atom import NUMBER_END_TOKEN, NUMBER_MARKERS

from atomlm.errors import UserError

SPECIAL_TOKENS = ["<|bos|>", "<|eos|>", "<|pad|>", "<|unk|>", "<|endoftext|>"]
BOS, EOS, PAD, UNK, END_OF_TEXT = SPECIAL_TOKENS
MODEL_MAX_LENGTH = 548
MIN_VOCAB_SIZE = len(SPECIAL_TOKENS) + 256  # the special tokens and the byte alphabet, before any merge

# Order matters: the first alternative that matches at a position wins.
_SYMBOL_CLASS = ARITHMETIC_SYMBOLS.replace("-", r"\-")  # the symbols inside a regex character class
PRE_TOKENIZER_PATTERN = (
    "[0-9]"                                        # every ASCII digit alone
    f"|[{_SYMBOL_CLASS}]"                          # every arithmetic symbol alone
    r"|\s+"                                        # whitespace runs, never glued to text
    r"|[\p{L}\p{M}]+"                              # letter runs (with combining marks)
    f"|[^\\s\\p{{L}}\\p{{M}}0-9{_SYMBOL_CLASS}]+"  # any other run (punctuation, symbols, other numerals)
)


def build_untrained_tokenizer() -> Tokenizer:
    """The fusion pipeline with an empty BPE model."""
    tokenizer = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRE_TOKENIZER_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def special_tokens(number_marker: str = "none") -> list[str]:
    """The special tokens, ids 0.. in this order; `<|number_end|>` (id 5) only with the "end" marker."""
    return SPECIAL_TOKENS + ([NUMBER_END_TOKEN] if number_marker == "end" else [])


def train_tokenizer(texts: Iterable[str], vocab_size: int = 4096, show_progress: bool = True,
                    number_marker: str = "none") -> Tokenizer:
    """Train the fusion BPE on `texts`; the special tokens take the first ids."""
    if vocab_size < MIN_VOCAB_SIZE:
        raise ValueError(f"vocab_size must be at least {MIN_VOCAB_SIZE} (5 special tokens + 256 byte symbols), "
                         f"got {vocab_size}")
    if number_marker not in NUMBER_MARKERS:
        raise ValueError(f"number_marker must be one of {NUMBER_MARKERS}, got {number_marker!r}")
    tokenizer = build_untrained_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=special_tokens(number_marker),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=show_progress,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def arithmetic_vocabulary(tokenizer: Tokenizer) -> dict:
    """Ids the model derives place/role features from (AtomConfig fields)."""
    def token_id(token: str) -> int:
        index = tokenizer.token_to_id(token)
        if index is None:
            raise ValueError(f"tokenizer has no single token for {token!r}; it is not a fusion tokenizer")
        return index

    return {
        "digit_token_ids": [token_id(digit) for digit in DIGITS],
        "operator_token_ids": {symbol: token_id(symbol) for symbol in ARITHMETIC_SYMBOLS},
        "space_token_id": token_id("Ġ"),  # byte-level spelling of " "
        "number_end_token_id": tokenizer.token_to_id(NUMBER_END_TOKEN),  # None without the marker
    }


def save_tokenizer(tokenizer: Tokenizer, out_dir: str | Path, digit_order: str = "lsd",
                   number_marker: str = "none") -> Path:
    """Write the trained pipeline as a Hugging Face tokenizer directory through `save_pretrained`.

    `tokenizer.json`, `tokenizer_config.json` (with `auto_map`, written by transformers because
    `AtomTokenizer` is registered for `AutoTokenizer`, and the digit order and number marker)
    and a copy of `tokenization_atom.py`.
    """
    from atomlm.modeling.tokenization_atom import AtomTokenizer

    wrapped = AtomTokenizer(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        extra_special_tokens=special_tokens(number_marker)[len(SPECIAL_TOKENS) - 1:],
        model_max_length=MODEL_MAX_LENGTH,
        padding_side="right",
        add_bos_token=False,
        add_eos_token=False,
        clean_up_tokenization_spaces=False,
        arithmetic_vocabulary=arithmetic_vocabulary(tokenizer),
        digit_order=digit_order,
        number_marker=number_marker,
    )
    wrapped.save_pretrained(str(out_dir))
    return Path(out_dir)


def default_training_texts(seed: int = 0, arithmetic_lines: int = 20000) -> Iterator[str]:
    """The embedded offline corpus: the King James Bible plus simple generated equations."""
    from atomlm.offline_text import kjv_verses

    yield from kjv_verses()
    rng = random.Random(f"tokenizer-corpus/{seed}")
    for _ in range(arithmetic_lines):
        a, b = rng.randint(-999, 9999), rng.randint(0, 9999)
        symbol = rng.choice("+-*")
        result = a + b if symbol == "+" else a - b if symbol == "-" else a * b
        yield f"({a} {symbol} {b}) = {result}" if rng.random() < 0.2 else f"{a} {symbol} {b} = {result}"


def read_text_files(paths: Iterable[str | Path]) -> Iterator[str]:
    """Lines of plain-text files, or the `text` field of `.jsonl` files.

    Raises UserError naming the file: at once for a missing file; while iterating, with the
    line, for a line that is not UTF-8 or a `.jsonl` line that is not JSON or has no string
    `text` field.
    """
    paths = [Path(path) for path in paths]
    for path in paths:
        if not path.is_file():
            raise UserError(f"{path}: no such input file")
    return _read_lines(paths)


def _read_lines(paths: list[Path]) -> Iterator[str]:
    for path in paths:
        with path.open("rb") as handle:
            for line_number, line_bytes in enumerate(handle, 1):
                try:
                    line = line_bytes.decode("utf-8")
                except UnicodeDecodeError:
                    raise UserError(f"{path}:{line_number}: not UTF-8 text") from None
                if path.suffix != ".jsonl":
                    yield line
                elif line.strip():  # a blank line between records is not an error
                    yield _jsonl_text(path, line_number, line)


def _jsonl_text(path: Path, line_number: int, line: str) -> str:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise UserError(f"{path}:{line_number}: not valid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise UserError(f"{path}:{line_number}: expected an object with a string 'text' field")
    return record["text"]
