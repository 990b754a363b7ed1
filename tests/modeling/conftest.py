"""Fixtures for the model, generation and export tests: tiny configs on the shipped tokenizer."""

import pytest
import torch

from atomlm.modeling.configuration_atom import AtomConfig
from atomlm.modeling.modeling_atom import AtomForCausalLM


def tiny_config(**overrides) -> AtomConfig:
    settings = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, head_dim=8)
    settings.update(overrides)
    return AtomConfig(**settings)


@pytest.fixture
def tiny_model():
    torch.manual_seed(0)
    return AtomForCausalLM(tiny_config()).eval()


@pytest.fixture(scope="session")
def exported_dir(tmp_path_factory):
    from atomlm.export import export_random_init

    return export_random_init(tmp_path_factory.mktemp("export") / "atom-random", seed=0)


def encode(tokenizer, texts):
    """Right-padded batch of `texts` as tensors (no special tokens)."""
    return tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
