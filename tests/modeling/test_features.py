"""The place/role tables derived from token ids."""

import pytest
import torch

from atomlm.modeling.arithmetic_features import ROLE_NAMES, compute_arithmetic_ids, question_tokens
from atomlm.modeling.configuration_atom import AtomConfig
from atomlm.tokenizer.training import arithmetic_vocabulary

pytestmark = pytest.mark.huggingface  # also run against other transformers releases

END = "<|number_end|>"  # the default tokenizer's marker after every number: place 0, role SPACE


def features(tokenizer, text):
    ids = torch.tensor(tokenizer.encode(text, add_special_tokens=False))
    places, roles = compute_arithmetic_ids(ids, AtomConfig(**arithmetic_vocabulary(tokenizer.backend_tokenizer)))
    tokens = tokenizer.convert_ids_to_tokens(ids.tolist())
    return list(zip(tokens, places.tolist(), [ROLE_NAMES[r] for r in roles.tolist()]))


def test_equation_roles_and_places(tokenizer):
    assert features(tokenizer, "(12 + -7) * 3 = -15") == [
        ("(", 0, "PAREN"), ("2", 1, "OPERAND_1"), ("1", 2, "OPERAND_1"), (END, 0, "SPACE"), ("Ġ", 0, "SPACE"),
        ("+", 0, "OPERATOR"), ("Ġ", 0, "SPACE"), ("-", 0, "SIGN"), ("7", 1, "OPERAND_2"), (END, 0, "SPACE"),
        (")", 0, "PAREN"), ("Ġ", 0, "SPACE"), ("*", 0, "OPERATOR"), ("Ġ", 0, "SPACE"),
        ("3", 1, "OPERAND_3"), (END, 0, "SPACE"), ("Ġ", 0, "SPACE"), ("=", 0, "EQUALS"), ("Ġ", 0, "SPACE"),
        ("-", 0, "SIGN"), ("5", 1, "RESULT"), ("1", 2, "RESULT"), (END, 0, "SPACE"),
    ]


def test_binary_minus_after_operand_and_later_operands(tokenizer):
    roles = [r for _, _, r in features(tokenizer, "1 - 2 - 3 - 4 - 5 = -13")]
    assert roles.count("OPERATOR") == 4 and roles.count("SIGN") == 1
    assert roles.count("OPERAND_LATER") == 2 and roles.count("RESULT") == 2


def test_text_resets_the_span(tokenizer):
    rows = features(tokenizer, "5 = 5\nthen 3 + 4")
    assert ("5", 1, "RESULT") in rows
    newline = [r for t, _, r in rows if t == "Ċ"]
    assert newline == ["TEXT"]
    assert rows[-2:] == [("4", 1, "OPERAND_2"), (END, 0, "SPACE")]


def test_long_numbers_share_the_overflow_place(tokenizer):
    rows = features(tokenizer, "9" * 70)
    places = [p for _, p, _ in rows]
    assert places[:64] == list(range(1, 65))
    assert places[64:] == [65] * 6 + [0]  # the marker after the number has place 0


def test_malformed_expressions_do_not_fail(tokenizer):
    for text in ["= = 3", ") ( - -", "--5", "+", "1 2 3 = = 4 5", "", "((((", "=-=-"]:
        ids = torch.tensor([tokenizer.encode(text, add_special_tokens=False) or [2]])
        places, roles = compute_arithmetic_ids(ids, AtomConfig())
        assert places.shape == ids.shape and int(places.max()) < 66 and int(roles.max()) < 12


def test_padding_positions_get_pad_role():
    ids = torch.tensor([[2, 2, 21, 15, 22]])
    mask = torch.tensor([[0, 0, 1, 1, 1]])
    places, roles = compute_arithmetic_ids(ids, AtomConfig(), mask)
    assert roles[0, :2].tolist() == [0, 0] and places[0, :2].tolist() == [0, 0]


def test_question_tokens_are_equations_up_to_their_equals(tokenizer):
    """What `data.loss_on: answers` leaves unsupervised: each equation up to its "=", not the
    answer, not text, not the spaces between words."""
    text = "the sum: 12 + -34 = -22\n5*(3) = 15 ok"
    ids = torch.tensor(tokenizer.encode(text, add_special_tokens=False))
    question = question_tokens(ids, AtomConfig(**arithmetic_vocabulary(tokenizer.backend_tokenizer)))
    marked = "".join(f"[{tokenizer.decode([i])}]" if q else tokenizer.decode([i]) for i, q in zip(ids.tolist(), question))
    assert marked == ("the sum: [2][1][<|number_end|>][ ][+][ ][-][4][3][<|number_end|>][ ][=] -22<|number_end|>\n"
                      "[5][<|number_end|>][*][(][3][<|number_end|>][)][ ][=] 51<|number_end|> ok")
