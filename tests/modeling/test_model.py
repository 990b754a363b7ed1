"""Atom's architecture: parameter count, ablation flags, XSA, causality, cache, padding, window."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import DynamicCache

from atomlm.modeling.arithmetic_features import compute_arithmetic_ids
from atomlm.modeling.configuration_atom import AtomConfig
from atomlm.modeling.modeling_atom import AtomCache, AtomForCausalLM, exclusive_self_attention

from .conftest import encode, tiny_config

pytestmark = pytest.mark.huggingface  # also run against other transformers releases


def returned_cache(output):
    """The cache a forward returned (`cache` in newer transformers, `past_key_values` in older 5.x)."""
    return output.cache if "cache" in type(output).__dataclass_fields__ else output.past_key_values


def count(model):
    return sum(p.numel() for p in model.parameters())


def test_default_config_is_atom2_7m():
    model = AtomForCausalLM(AtomConfig())
    assert count(model) == 2_738_880
    assert model.lm_head.weight is model.model.embed_tokens.weight


@pytest.mark.parametrize(
    "flag, removed", [("use_place_ids", 66 * 192), ("use_role_ids", 12 * 192), ("use_xsa", 0)]
)
def test_ablation_flags_remove_their_parameters(flag, removed):
    assert count(AtomForCausalLM(AtomConfig(**{flag: False}))) == 2_738_880 - removed


def test_inconsistent_head_counts_are_rejected():
    with pytest.raises(ValueError, match="multiple of num_key_value_heads"):
        AtomConfig(num_attention_heads=4, num_key_value_heads=3)


def test_xsa_projection_is_orthogonal_to_own_value():
    y, v = torch.randn(2, 4, 7, 16), torch.randn(2, 2, 7, 16)
    z = exclusive_self_attention(y, v, 1e-6)
    assert (z * v.repeat_interleave(2, dim=1)).sum(-1).abs().max() < 1e-4
    assert not torch.allclose(z, y)


def test_xsa_forward_and_hand_written_backward_match_autograd_under_gqa():
    """The fused XSA (KV heads broadcast over their query-head group) against the plain formula
    on repeated values, differentiated by autograd."""
    torch.manual_seed(0)
    y = torch.randn(2, 4, 5, 8, dtype=torch.float64, requires_grad=True)
    v = torch.randn(2, 2, 5, 8, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(2, 4, 5, 8, dtype=torch.float64)
    (exclusive_self_attention(y, v, 1e-6) * upstream).sum().backward()
    fused = (y.grad.clone(), v.grad.clone())
    y.grad = v.grad = None
    repeated = v.repeat_interleave(2, dim=1)
    coefficient = (y * repeated).sum(-1, keepdim=True) / (repeated.pow(2).sum(-1, keepdim=True) + 1e-6)
    reference = y - coefficient * repeated
    (reference * upstream).sum().backward()
    assert torch.allclose(exclusive_self_attention(y, v, 1e-6), reference, atol=1e-5)
    assert torch.allclose(fused[0], y.grad, atol=1e-5) and torch.allclose(fused[1], v.grad, atol=1e-5)


def test_xsa_inside_the_model(tiny_model, tokenizer):
    """Head outputs before o_proj are orthogonal to the token's own value; position 0 gives zero."""
    captured = {}
    attention = tiny_model.model.layers[0].attn
    attention.v_proj.register_forward_hook(lambda m, i, o: captured.__setitem__("v", o))
    attention.o_proj.register_forward_pre_hook(lambda m, i: captured.__setitem__("z", i[0]))
    ids = encode(tokenizer, ["12 + 34 = 46 and some words"])["input_ids"]
    tiny_model(ids)
    config = tiny_model.config
    batch, seq = ids.shape
    z = captured["z"].view(batch, seq, config.num_attention_heads, config.head_dim)
    v = captured["v"].view(batch, seq, config.num_key_value_heads, config.head_dim)
    v = v.repeat_interleave(config.num_attention_heads // config.num_key_value_heads, dim=2)
    cosine = (z * v).sum(-1) / (z.norm(dim=-1) * v.norm(dim=-1) + 1e-12)
    assert cosine[:, 1:].abs().max() < 1e-4
    assert (z[:, 0].norm(dim=-1) / v[:, 0].norm(dim=-1)).max() < 1e-4
    assert (z[:, 1:].norm(dim=-1) / v[:, 1:].norm(dim=-1)).min() > 1e-3


ARITHMETIC_TEXT = st.text(alphabet="0123456789+-*/=() abc\n", min_size=2, max_size=40)


@settings(max_examples=25, deadline=None)
@given(prefix=ARITHMETIC_TEXT, suffix_a=ARITHMETIC_TEXT, suffix_b=ARITHMETIC_TEXT)
def test_changing_later_tokens_leaves_earlier_positions_unchanged(tokenizer, prefix, suffix_a, suffix_b):
    torch.manual_seed(0)
    model = AtomForCausalLM(tiny_config()).eval()
    ids_a = tokenizer.encode(prefix + suffix_a, add_special_tokens=False)
    ids_b = tokenizer.encode(prefix + suffix_b, add_special_tokens=False)
    common = 0
    while common < min(len(ids_a), len(ids_b)) and ids_a[common] == ids_b[common]:
        common += 1
    if common == 0:
        return
    a, b = torch.tensor([ids_a]), torch.tensor([ids_b])
    features_a, features_b = compute_arithmetic_ids(a, model.config), compute_arithmetic_ids(b, model.config)
    for fa, fb in zip(features_a, features_b):
        assert torch.equal(fa[:, :common], fb[:, :common])
    with torch.no_grad():
        logits_a, logits_b = model(a).logits, model(b).logits
    torch.testing.assert_close(logits_a[:, :common], logits_b[:, :common], atol=1e-5, rtol=1e-5)


def test_cached_decoding_matches_full_forward(tiny_model, tokenizer):
    ids = encode(tokenizer, ["(12 + -7) * 345 = -1725 then 99 - 100 = -1"])["input_ids"]
    with torch.no_grad():
        full = tiny_model(ids).logits
        out = tiny_model(ids[:, :3], use_cache=True)
        pieces, cache = [out.logits], returned_cache(out)
        position = 3
        for step in (1, 4, 1, 2, 100):  # single tokens and chunks
            out = tiny_model(ids[:, position:position + step], cache=cache, use_cache=True)
            pieces.append(out.logits)
            cache, position = returned_cache(out), position + step
    torch.testing.assert_close(torch.cat(pieces, 1), full, atol=1e-5, rtol=1e-5)


def test_cache_expansion_keeps_features_in_step(tiny_model, tokenizer):
    """A prefix cached once and repeated for four endings scores like four full sequences."""
    context = tokenizer.encode("123 + 45 =", add_special_tokens=False)
    endings = [tokenizer.encode(e, add_special_tokens=False) for e in [" 168", " 169", " 178", " 268"]]
    with torch.no_grad():
        cache = returned_cache(tiny_model(torch.tensor([context]), use_cache=True))
        cache.batch_repeat_interleave(4)
        cached = tiny_model(torch.tensor(endings), cache=cache, use_cache=True).logits
        for row, ending in enumerate(endings):
            full = tiny_model(torch.tensor([context + ending])).logits[0, len(context):]
            torch.testing.assert_close(cached[row], full, atol=1e-5, rtol=1e-5)


def test_generate_matches_greedy_full_forward(tiny_model, tokenizer):
    ids = encode(tokenizer, ["12 + 34 ="])["input_ids"]
    generated = tiny_model.generate(ids, max_new_tokens=6, do_sample=False, eos_token_id=None, pad_token_id=2)
    sequence = ids
    with torch.no_grad():
        for _ in range(6):
            next_token = tiny_model(sequence).logits[:, -1].argmax(-1, keepdim=True)
            sequence = torch.cat([sequence, next_token], 1)
    assert torch.equal(generated, sequence)


@pytest.mark.parametrize("side", ["left", "right"])
def test_padding_does_not_change_real_positions(tiny_model, tokenizer, side):
    texts = ["7 * 8 = 56", "(100 - 1) / 9 = 11 and that is all"]
    tokenizer.padding_side = side
    try:
        batch = encode(tokenizer, texts)
    finally:
        tokenizer.padding_side = "right"
    with torch.no_grad():
        padded = tiny_model(**batch).logits
        for row, text in enumerate(texts):
            single = tiny_model(encode(tokenizer, [text])["input_ids"]).logits[0]
            mask = batch["attention_mask"][row].bool()
            torch.testing.assert_close(padded[row][mask], single, atol=1e-5, rtol=1e-5)


def test_left_padded_generation_matches_unpadded(tiny_model, tokenizer):
    tokenizer.padding_side = "left"
    try:
        batch = encode(tokenizer, ["1 + 1 =", "(123 + 456) * 7 ="])
    finally:
        tokenizer.padding_side = "right"
    out = tiny_model.generate(**batch, max_new_tokens=5, do_sample=False, eos_token_id=None, pad_token_id=2)
    alone = tiny_model.generate(encode(tokenizer, ["1 + 1 ="])["input_ids"], max_new_tokens=5, do_sample=False,
                                eos_token_id=None, pad_token_id=2)
    assert torch.equal(out[0, -5:], alone[0, -5:])


def test_scores_a_548_token_window():
    model = AtomForCausalLM(tiny_config()).eval()
    ids = torch.randint(5, 4096, (1, 548))
    with torch.no_grad():
        logits = model(ids).logits
    assert logits.shape == (1, 548, 4096) and torch.isfinite(logits).all()


def test_explicit_features_equal_derived(tiny_model, tokenizer):
    batch = encode(tokenizer, ["12 + 34 = 46", "(9 - -9) * 2 = 36"])
    place_ids, role_ids = compute_arithmetic_ids(batch["input_ids"], tiny_model.config, batch["attention_mask"])
    with torch.no_grad():
        derived = tiny_model(**batch).logits
        explicit = tiny_model(**batch, place_ids=place_ids, role_ids=role_ids).logits
        shuffled = tiny_model(**batch, place_ids=place_ids.flip(-1), role_ids=role_ids).logits
    torch.testing.assert_close(derived, explicit)
    assert not torch.allclose(derived, shuffled)


def test_loss_normalisation(tiny_model, tokenizer):
    batch = encode(tokenizer, ["12 + 34 = 46", "1 + 1 = 2"])
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    mean_loss = tiny_model(**batch, labels=labels).loss
    supervised = int((labels[:, 1:] != -100).sum())
    summed = tiny_model(**batch, labels=labels, num_items_in_batch=1).loss
    torch.testing.assert_close(summed / supervised, mean_loss)


@pytest.mark.parametrize("cache_class, message", [(DynamicCache, "does not hold"), (AtomCache, "without its token ids")])
def test_cache_without_token_history_is_rejected(tiny_model, tokenizer, cache_class, message):
    """Features of new tokens need the cached tokens' ids: a cache filled elsewhere cannot give them."""
    ids = encode(tokenizer, ["12 + 34 ="])["input_ids"]
    cache = cache_class()
    shape = (1, tiny_model.config.num_key_value_heads, 3, tiny_model.config.head_dim)
    for layer in range(tiny_model.config.num_hidden_layers):
        cache.update(torch.zeros(shape), torch.zeros(shape), layer)
    with pytest.raises(ValueError, match=message):
        tiny_model(ids, cache=cache)


def test_unknown_arguments_are_rejected(tiny_model, tokenizer):
    """A renamed upstream argument must fail loudly, not vanish into **kwargs."""
    ids = encode(tokenizer, ["12 + 34 ="])["input_ids"]
    with pytest.raises(TypeError, match="no_such_argument"):
        tiny_model(ids, no_such_argument=1)


def test_cache_under_either_name(tiny_model, tokenizer):
    """`cache` (current transformers) and `past_key_values` (older 5.x) are the same argument."""
    ids = encode(tokenizer, ["12 + 34 = 46"])["input_ids"]
    with torch.no_grad():
        full = tiny_model(ids).logits[:, -1]
        for name in ("cache", "past_key_values"):
            prefix = tiny_model(ids[:, :-1], use_cache=True)
            cache = prefix.cache if hasattr(prefix, "cache") else prefix.past_key_values
            last = tiny_model(ids[:, -1:], use_cache=True, **{name: cache}).logits[:, -1]
            torch.testing.assert_close(last, full, atol=1e-5, rtol=1e-5)
        with pytest.raises(ValueError, match="not both"):
            tiny_model(ids, cache=AtomCache(), past_key_values=AtomCache())


def test_base_model_returns_a_model_output(tiny_model, tokenizer):
    ids = encode(tokenizer, ["12 + 34 = 46"])["input_ids"]
    with torch.no_grad():
        output = tiny_model.model(ids, output_hidden_states=True)
        as_tuple = tiny_model.model(ids, return_dict=False)
    assert output.last_hidden_state.shape == (1, ids.shape[1], tiny_model.config.hidden_size)
    assert len(output.hidden_states) == tiny_model.config.num_hidden_layers + 1
    torch.testing.assert_close(as_tuple[0], output.last_hidden_state)
