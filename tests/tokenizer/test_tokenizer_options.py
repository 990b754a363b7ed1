"""Digit order (lsd | msd) and the number marker (none | end) keep every promise of the fusion tokenizer.

Each variant is trained once (`atomlm tokenizer train` on the embedded corpus) and loaded the way
users load it, through `AutoTokenizer` with remote code.
"""

import hashlib
import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from atomlm.modeling.arithmetic_features import ROLE_NAMES, compute_arithmetic_ids
from atomlm.modeling.configuration_atom import AtomConfig
from atomlm.modeling.tokenization_atom import NUMBER_END_TOKEN
from atomlm.tokenizer import ATOM_2_7M_TOKENIZER_SHA256
from atomlm.tokenizer.training import arithmetic_vocabulary

pytestmark = pytest.mark.huggingface  # also run against other transformers releases

VARIANTS = [("lsd", "end"), ("lsd", "none"), ("msd", "none"), ("msd", "end")]  # (lsd, end) is the default



@pytest.fixture(scope="module", params=VARIANTS, ids=lambda variant: f"{variant[0]}-{variant[1]}")
def variant(request, tmp_path_factory):
    digit_order, number_marker = request.param
    out = tmp_path_factory.mktemp(f"tokenizer-{digit_order}-{number_marker}")
    subprocess.run([sys.executable, "-m", "atomlm", "tokenizer", "train", "--out", str(out), "--force",
                    "--digit-order", digit_order, "--number-marker", number_marker],
                   check=True, capture_output=True, text=True)
    fast = AutoTokenizer.from_pretrained(str(out), trust_remote_code=True)
    slow = AutoTokenizer.from_pretrained(str(out), trust_remote_code=True, use_fast=False)
    return digit_order, number_marker, fast, slow


def tokens(tokenizer, text):
    return tokenizer.convert_ids_to_tokens(tokenizer.encode(text, add_special_tokens=False))


def test_atom2_7m_tokenizer_is_one_flag_away(tmp_path):
    """`--number-marker none` trains exactly Atom2.7m's original tokenizer, byte for byte."""
    out = tmp_path / "atom2.7m"
    subprocess.run([sys.executable, "-m", "atomlm", "tokenizer", "train", "--out", str(out), "--number-marker", "none"],
                   check=True, capture_output=True, text=True)
    assert hashlib.sha256((out / "tokenizer.json").read_bytes()).hexdigest() == ATOM_2_7M_TOKENIZER_SHA256


def test_options_are_saved_and_restored(variant):
    digit_order, number_marker, fast, slow = variant
    assert (fast.digit_order, fast.number_marker) == (digit_order, number_marker)
    assert (slow.digit_order, slow.number_marker) == (digit_order, number_marker)


def test_digit_runs_in_the_chosen_order_with_their_marker(variant):
    digit_order, number_marker, fast, _ = variant
    digits = ["4", "3", "2", "1"] if digit_order == "lsd" else ["1", "2", "3", "4"]
    marker = [NUMBER_END_TOKEN] if number_marker == "end" else []
    assert tokens(fast, "1234") == digits + marker
    assert tokens(fast, "x 1234 y").count(NUMBER_END_TOKEN) == len(marker)


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=60))
def test_round_trip_on_arbitrary_unicode(variant, text):
    _, _, fast, slow = variant
    ids = fast.encode(text, add_special_tokens=False)
    assert fast.decode(ids) == text
    assert slow.encode(text, add_special_tokens=False) == ids


@settings(max_examples=150, deadline=None)
@given(
    context=st.from_regex(r"[0-9a-z+\-*/=() ]{0,20}[0-9a-z=)]", fullmatch=True),
    ending=st.from_regex(r" [0-9a-z\-][0-9a-z]{0,6}", fullmatch=True),
)
def test_context_and_ending_apart_equal_together(variant, context, ending):
    _, _, fast, _ = variant
    apart = fast.encode(context, add_special_tokens=False) + fast.encode(ending, add_special_tokens=False)
    assert apart == fast.encode(context + ending, add_special_tokens=False)


def test_marker_ends_the_truncated_answer(variant):
    """With the marker no shorter number is a token prefix of a longer one (` 7`, ` 1` vs ` 17`).

    Without it, the truncated answer scores above the right one under summed log-probs: ` 7` under
    lsd order, ` 1` under msd order (the mirror problem).
    """
    digit_order, number_marker, fast, _ = variant

    def is_prefix(short, full):
        short, full = fast.encode(short, add_special_tokens=False), fast.encode(full, add_special_tokens=False)
        return full[:len(short)] == short

    if number_marker == "end":
        assert not is_prefix(" 7", " 17") and not is_prefix(" 1", " 17")
    else:
        assert is_prefix(" 1" if digit_order == "msd" else " 7", " 17")


def test_marker_keeps_the_arithmetic_span(variant):
    """The marker separates numbers like a space: operands are counted across it, and it is causal."""
    _, number_marker, fast, _ = variant
    ids = torch.tensor(fast.encode("12 + 345 = 357", add_special_tokens=False))
    config = AtomConfig(**arithmetic_vocabulary(fast.backend_tokenizer))
    places, roles = compute_arithmetic_ids(ids, config)
    names = [ROLE_NAMES[r] for r in roles.tolist()]
    assert names.count("OPERAND_1") == 2 and names.count("OPERAND_2") == 3 and names.count("RESULT") == 3
    markers = [i for i, t in enumerate(fast.convert_ids_to_tokens(ids.tolist())) if t == NUMBER_END_TOKEN]
    assert len(markers) == (3 if number_marker == "end" else 0)
    assert all(names[i] == "SPACE" and places[i] == 0 for i in markers)
    for cut in range(1, len(ids)):
        prefix_places, prefix_roles = compute_arithmetic_ids(ids[:cut], config)
        assert torch.equal(prefix_places, places[:cut]) and torch.equal(prefix_roles, roles[:cut])
