"""The AtomConfig a run builds from its tokenizer and config (fast, no training)."""

import pytest
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

from atomlm.modeling.arithmetic_features import ARITHMETIC_SYMBOLS, DIGITS
from atomlm.training.config import ConfigError, TrainConfig, apply_overrides
from atomlm.training.loop import atom_config_kwargs


def test_ids_come_from_the_tokenizer_and_overrides_win(tokenizer):
    config = apply_overrides(TrainConfig(), ["model.use_xsa=false", "model.overrides.bos_token_id=4"])
    kwargs = atom_config_kwargs(config, tokenizer)
    assert kwargs["digit_token_ids"] == [tokenizer.convert_tokens_to_ids(digit) for digit in DIGITS]
    assert kwargs["operator_token_ids"] == {symbol: tokenizer.convert_tokens_to_ids(symbol) for symbol in ARITHMETIC_SYMBOLS}
    assert kwargs["space_token_id"] == tokenizer.convert_tokens_to_ids("Ġ")
    assert (kwargs["eos_token_id"], kwargs["pad_token_id"]) == (tokenizer.eos_token_id, tokenizer.pad_token_id)
    assert kwargs["bos_token_id"] == 4 and kwargs["use_xsa"] is False


def test_a_tokenizer_that_is_not_a_fusion_tokenizer_is_refused():
    vocabulary = {token: index for index, token in enumerate(["<unk>", "<s>", "</s>", "<pad>", *DIGITS, "+", "-"])}
    word_level = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel(vocabulary, unk_token="<unk>")),
        bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
    )
    with pytest.raises(ConfigError, match=r"data.tokenizer_dir .*no single token for '\*'; it is not a fusion tokenizer"):
        atom_config_kwargs(TrainConfig(), word_level)
