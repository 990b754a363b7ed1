"""Fixtures for the evaluation tests: tiny random Hugging Face models with an offline tokenizer."""

from __future__ import annotations

import json
import random

import pytest
import torch

ARITHMETIC_CORPUS = [f"{a} {op} {b} = {c}" for a, op, b, c in
                     [(random.Random(i).randint(0, 999), "+-*/"[i % 4], i * 7 % 97, i * 13 % 1000) for i in range(400)]]


def build_bpe_tokenizer(directory):
    """A tiny byte-level BPE (no special-token post-processing), saved as a HF fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(ARITHMETIC_CORPUS, trainer)
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>",
                                      pad_token="<|endoftext|>", model_max_length=548)
    wrapped.save_pretrained(directory)
    return wrapped


def build_random_model_dir(directory, architecture="gpt2", seed=0):
    """Save a tiny random causal LM and its tokenizer to `directory`; return the directory."""
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    tokenizer = build_bpe_tokenizer(directory)
    torch.manual_seed(seed)
    vocab = len(tokenizer)
    if architecture == "gpt2":
        model = GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_layer=2, n_embd=32, n_head=2, n_positions=548,
                                           bos_token_id=0, eos_token_id=0))
    else:
        model = LlamaForCausalLM(LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64,
                                             num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                             max_position_embeddings=548, bos_token_id=0, eos_token_id=0,
                                             pad_token_id=0))
    # Larger random weights make the endings' scores differ clearly (no near-ties to flip).
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(4.0)
    model.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def gpt2_dir(tmp_path_factory):
    return build_random_model_dir(tmp_path_factory.mktemp("gpt2"), "gpt2", seed=0)


@pytest.fixture(scope="session")
def llama_dir(tmp_path_factory):
    return build_random_model_dir(tmp_path_factory.mktemp("llama"), "llama", seed=1)


@pytest.fixture(scope="session")
def atom_dir(tmp_path_factory):
    """A small random-init Atom exported as a complete HF directory (remote code)."""
    from atomlm.export import export_random_init

    return export_random_init(tmp_path_factory.mktemp("atom"), seed=0, num_hidden_layers=2)


def write_rows(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path
