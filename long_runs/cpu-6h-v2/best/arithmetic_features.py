"""Digit place ids and arithmetic role ids, derived causally from token ids.

This is the one place these features are computed: the model calls it inside `forward`, the
training data loader and the evaluation code reach it through the model. It ships inside every
exported model directory, so it imports only `torch`.

Everything is a prefix scan (cumsum / cummax / shift), so the id of token t depends only on
tokens <= t. That is what keeps training free of leaks from later tokens and makes cached
generation see exactly the ids a full forward pass computes.

Place ids (`place_vocab_size` values, 66 by default)
    0            not a digit (text, operator, whitespace, padding)
    1 .. P-2     the k-th digit emitted in its digit run. The tokenizer writes runs least
                 significant digit first, so place k is the 10^(k-1) column: "1234" is emitted
                 4,3,2,1 with places 1,2,3,4.
    P-1          (65) a digit beyond place P-2 (64): numbers longer than the table share it.

Role ids (12 values)
    0  PAD            masked position (attention_mask == 0)
    1  TEXT           any token outside an arithmetic span (words, punctuation, newlines)
    2  OPERAND_1      digit of the first number of the current arithmetic span
    3  OPERAND_2      digit of the second number
    4  OPERAND_3      digit of the third number
    5  OPERAND_LATER  digit of the fourth or a later number
    6  RESULT         digit of a number after "=" in the same span
    7  OPERATOR       binary "+", "-", "*", "/"
    8  SIGN           unary minus: a "-" not preceded (ignoring spaces) by a digit or ")"
    9  PAREN          "(" or ")"
    10 EQUALS         "="
    11 SPACE          the single-space token " ", and the <|number_end|> marker of tokenizers
                      that have one (both separate tokens inside a span; place id 0)

An arithmetic span is a maximal run of digits, operators, parentheses, "=" and single spaces;
any other token (including padding and newlines) ends it. Malformed input never fails: the
rules above apply token by token, e.g. "= = 3" gives EQUALS, SPACE, EQUALS, SPACE, RESULT.
"""

from __future__ import annotations

import torch

# The arithmetic vocabulary: each symbol is one atomic token, and the model's config names its id.
BINARY_OPERATORS = "+-*/"
ARITHMETIC_SYMBOLS = BINARY_OPERATORS + "=()"
DIGITS = "0123456789"

ROLE_PAD = 0
ROLE_TEXT = 1
ROLE_OPERAND_1 = 2
ROLE_OPERAND_2 = 3
ROLE_OPERAND_3 = 4
ROLE_OPERAND_LATER = 5
ROLE_RESULT = 6
ROLE_OPERATOR = 7
ROLE_SIGN = 8
ROLE_PAREN = 9
ROLE_EQUALS = 10
ROLE_SPACE = 11
NUM_ROLES = 12

ROLE_NAMES = [
    "PAD", "TEXT", "OPERAND_1", "OPERAND_2", "OPERAND_3", "OPERAND_LATER",
    "RESULT", "OPERATOR", "SIGN", "PAREN", "EQUALS", "SPACE",
]


def _isin(input_ids: torch.Tensor, ids) -> torch.Tensor:
    return torch.isin(input_ids, torch.as_tensor(list(ids), dtype=input_ids.dtype, device=input_ids.device))


def _exclusive_shift(values: torch.Tensor, fill) -> torch.Tensor:
    """values[t-1] at position t, `fill` at position 0."""
    shifted = torch.roll(values, shifts=1, dims=-1)
    shifted[..., 0] = fill
    return shifted


def _value_at(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """values[b, index[b, t]], and 0 where index is -1."""
    gathered = torch.gather(values, -1, index.clamp(min=0))
    return torch.where(index >= 0, gathered, torch.zeros_like(gathered))


class _TokenClasses:
    """Which tokens are digits, operators, parentheses, "=", separators, and inside an arithmetic
    span, and for each position the last span break at or before it (-1: none)."""

    def __init__(self, input_ids: torch.Tensor, config, attention_mask: torch.Tensor | None):
        ops = config.operator_token_ids
        valid = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
        self.valid = valid
        self.is_digit = _isin(input_ids, config.digit_token_ids) & valid
        self.is_binary_symbol = _isin(input_ids, [ops[symbol] for symbol in BINARY_OPERATORS]) & valid
        self.is_minus = (input_ids == ops["-"]) & valid
        self.is_paren = _isin(input_ids, [ops["("], ops[")"]]) & valid
        self.is_close_paren = (input_ids == ops[")"]) & valid
        self.is_equals = (input_ids == ops["="]) & valid
        is_space = (input_ids == config.space_token_id) & valid
        number_end = getattr(config, "number_end_token_id", None)
        if number_end is not None:
            is_space = is_space | ((input_ids == number_end) & valid)  # a separator inside the span, as a space is
        self.is_space = is_space
        self.in_span = self.is_digit | self.is_binary_symbol | self.is_paren | self.is_equals | is_space

        self.positions = torch.arange(input_ids.shape[-1], device=input_ids.device).expand_as(input_ids)
        self.minus_one = torch.full_like(self.positions, -1)
        self.last_span_break = torch.cummax(torch.where(self.in_span, self.minus_one, self.positions), dim=-1).values

    def count_in_span(self, marks: torch.Tensor) -> torch.Tensor:
        """How many `marks` the current span holds up to and including each position."""
        so_far = torch.cumsum(marks.long(), dim=-1)
        return so_far - _value_at(so_far, self.last_span_break)


def question_tokens(input_ids: torch.Tensor, config, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """True on the tokens of an arithmetic span from its first digit, operator or parenthesis up
    to and including its first "=" (the question of an equation); False on its answer, on text,
    on separators before any arithmetic (the spaces between words) and on padding. Same shape as
    `input_ids`. Training with `data.loss_on: answers` leaves these tokens unsupervised."""
    classes = _TokenClasses(input_ids, config, attention_mask)
    equals_before = classes.count_in_span(classes.is_equals) - classes.is_equals.long()
    arithmetic_so_far = classes.count_in_span(classes.in_span & ~classes.is_space)
    return classes.in_span & (equals_before == 0) & (arithmetic_so_far > 0)


def compute_arithmetic_ids(
    input_ids: torch.Tensor,
    config,
    attention_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return `(place_ids, role_ids)`, each shaped like `input_ids` ([batch, seq]).

    `config` supplies `digit_token_ids` (ids of "0".."9"), `operator_token_ids` (a mapping for
    "+ - * / = ( )"), `space_token_id`, `place_vocab_size` and optionally `number_end_token_id`.
    """
    if input_ids.dim() == 1:
        place_ids, role_ids = compute_arithmetic_ids(
            input_ids[None], config, None if attention_mask is None else attention_mask[None]
        )
        return place_ids[0], role_ids[0]

    classes = _TokenClasses(input_ids, config, attention_mask)
    valid, is_digit, is_space, is_equals = classes.valid, classes.is_digit, classes.is_space, classes.is_equals
    positions, minus_one = classes.positions, classes.minus_one

    # Place: how far into the current digit run this digit is (1 = units column).
    last_non_digit = torch.cummax(torch.where(is_digit, minus_one, positions), dim=-1).values
    digit_rank = positions - last_non_digit
    max_place = config.place_vocab_size - 1
    place_ids = torch.where(is_digit, digit_rank.clamp(max=max_place), torch.zeros_like(digit_rank))

    # Role: count numbers and "=" since the current span began.
    run_starts = is_digit & ~_exclusive_shift(is_digit, False)
    operand_number = classes.count_in_span(run_starts)
    after_equals = classes.count_in_span(is_equals) > 0

    # A "-" is a sign unless the previous non-space token closes an operand.
    last_non_space = torch.cummax(torch.where(is_space, minus_one, positions), dim=-1).values
    previous_non_space = _exclusive_shift(last_non_space, -1)
    closes_operand = is_digit | classes.is_close_paren
    previous_closes_operand = torch.gather(closes_operand, -1, previous_non_space.clamp(min=0)) & (
        previous_non_space >= 0
    )
    is_sign = classes.is_minus & ~previous_closes_operand

    operand_role = ROLE_OPERAND_1 + (operand_number - 1).clamp(min=0, max=ROLE_OPERAND_LATER - ROLE_OPERAND_1)
    digit_role = torch.where(after_equals, torch.full_like(operand_role, ROLE_RESULT), operand_role)

    role_ids = torch.full_like(input_ids, ROLE_TEXT)
    role_ids = torch.where(is_space, ROLE_SPACE, role_ids)
    role_ids = torch.where(classes.is_binary_symbol, ROLE_OPERATOR, role_ids)
    role_ids = torch.where(is_sign, ROLE_SIGN, role_ids)
    role_ids = torch.where(classes.is_paren, ROLE_PAREN, role_ids)
    role_ids = torch.where(is_equals, ROLE_EQUALS, role_ids)
    role_ids = torch.where(is_digit, digit_role, role_ids)
    role_ids = torch.where(valid, role_ids, ROLE_PAD)
    return place_ids, role_ids
