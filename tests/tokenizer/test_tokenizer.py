"""The default fusion tokenizer: exact round trip, atomic LSD-first digits each run followed by
`<|number_end|>`, isolation, split consistency. Atom2.7m's original tokenizer (no marker) and the
other variants are tested in tests/tokenizer/test_tokenizer_options.py.

`atomlm tokenizer train` is tested in tests/tokenizer/test_tokenizer_cli.py."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.huggingface  # also run against other transformers releases

DIGITS = set("0123456789")
END = "<|number_end|>"


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=80))
def test_round_trip_on_arbitrary_unicode(tokenizer, text):
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert tokenizer.decode(ids) == text


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet="0123456789+-*/=() x\n", max_size=60))
def test_digits_and_symbols_are_atomic(tokenizer, text):
    tokens = tokenizer.convert_ids_to_tokens(tokenizer.encode(text, add_special_tokens=False))
    for token in tokens:
        if set(token) & (DIGITS | set("+-*/=()")):
            assert len(token) == 1, token
    assert [t for t in tokens if t in DIGITS] == list("".join(c for c in _reverse_runs(text) if c in DIGITS))
    assert tokens.count(END) == len(re.findall(r"[0-9]+", text))


def _reverse_runs(text):
    return re.sub(r"[0-9]+", lambda m: m.group(0)[::-1], text)


def test_digit_runs_are_least_significant_first_then_the_marker(tokenizer):
    assert tokenizer.convert_ids_to_tokens(tokenizer.encode("1234", add_special_tokens=False)) == [*"4321", END]
    assert tokenizer.tokenize("x=10, y=-205") == ["x", "=", "0", "1", END, ",", "Ġ", "y", "=", "-", "5", "0", "2", END]
    assert tokenizer.decode(tokenizer.encode("x=10, y=-205", add_special_tokens=False)) == "x=10, y=-205"


def test_whitespace_is_isolated_from_words(tokenizer):
    for token in tokenizer.tokenize("And God said, Let there be light: and there was light."):
        assert token == "Ġ" * len(token) or "Ġ" not in token


@settings(max_examples=200, deadline=None)
@given(
    context=st.from_regex(r"[0-9a-z+\-*/=() ]{0,20}[0-9a-z=)]", fullmatch=True),
    ending=st.from_regex(r" [0-9a-z\-][0-9a-z]{0,6}", fullmatch=True),
)
def test_context_and_ending_apart_equal_together(tokenizer, context, ending):
    apart = tokenizer.encode(context, add_special_tokens=False) + tokenizer.encode(ending, add_special_tokens=False)
    assert apart == tokenizer.encode(context + ending, add_special_tokens=False)


def test_special_tokens_and_window(tokenizer):
    assert tokenizer.convert_ids_to_tokens([0, 1, 2, 3, 4]) == ["<|bos|>", "<|eos|>", "<|pad|>", "<|unk|>", "<|endoftext|>"]
    assert tokenizer.model_max_length == 548
    assert len(tokenizer) == 4096
    assert tokenizer.decode(tokenizer.encode("12<|endoftext|>34", add_special_tokens=False), skip_special_tokens=True) == "1234"
