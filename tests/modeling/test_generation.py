"""Generation through the library's own entry points gives the tokens a full forward pass gives.

Every check runs on two models: the shipped checkpoint, loaded as a user loads it (Auto classes,
remote code from its directory), and a random tiny Atom whose init is wide enough that greedy
tokens change from step to step (a model that repeats one token would hide a broken cache).
References are computed without any cache, one full forward pass per step.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

from atomlm.modeling.modeling_atom import AtomForCausalLM
from atomlm.modeling.tokenization_atom import AtomTextStreamer

from .conftest import tiny_config

pytestmark = pytest.mark.huggingface  # also run against other transformers releases

SHIPPED = Path(__file__).resolve().parents[2] / "pretrained" / "atom2.7m"
PROMPTS = ["12 + 34 =", "907 - 958 =", "(12 + -7) * 3 ="]
NEW_TOKENS = 8


@pytest.fixture(scope="module")
def shipped_tokenizer():
    return AutoTokenizer.from_pretrained(str(SHIPPED), trust_remote_code=True)


@pytest.fixture(scope="module")
def shipped_model():
    return AutoModelForCausalLM.from_pretrained(str(SHIPPED), trust_remote_code=True).eval()


@pytest.fixture(scope="module")
def varied_model():
    """A random tiny Atom whose greedy continuations vary (checked in the test below)."""
    torch.manual_seed(3)
    return AtomForCausalLM(tiny_config(initializer_range=0.6)).eval()


@pytest.fixture(params=["shipped", "random"])
def model(request, shipped_model, varied_model):
    return shipped_model if request.param == "shipped" else varied_model


def encode(tokenizer, prompt):
    return tokenizer(prompt, return_tensors="pt", add_special_tokens=False)


def end_token_ids(model) -> list[int]:
    eos = model.generation_config.eos_token_id
    return [eos] if isinstance(eos, int) else list(eos or [])


def greedy_without_cache(model, input_ids, steps=NEW_TOKENS):
    """The reference: argmax of a full forward pass over the whole sequence, step by step.

    End tokens are excluded, as `min_new_tokens` excludes them in `generate`.
    """
    sequence = input_ids
    with torch.no_grad():
        for _ in range(steps):
            logits = model(sequence, use_cache=False).logits[:, -1]
            logits[:, end_token_ids(model)] = float("-inf")
            sequence = torch.cat([sequence, logits.argmax(-1, keepdim=True)], dim=1)
    return sequence


def fixed_length(**options):
    """Generate exactly NEW_TOKENS tokens, so sequences compare position by position."""
    return dict(max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, pad_token_id=2, **options)


def test_random_model_greedy_tokens_vary(varied_model, shipped_tokenizer):
    for prompt in PROMPTS:
        ids = encode(shipped_tokenizer, prompt)["input_ids"]
        new_tokens = greedy_without_cache(varied_model, ids)[0, ids.shape[1]:]
        assert len(set(new_tokens.tolist())) >= 3, "the random model must not repeat one token"


@pytest.mark.parametrize("prompt", PROMPTS)
def test_greedy_generate_equals_full_forward(model, shipped_tokenizer, prompt):
    ids = encode(shipped_tokenizer, prompt)["input_ids"]
    generated = model.generate(ids, do_sample=False, **fixed_length())
    assert torch.equal(generated, greedy_without_cache(model, ids))


def test_static_cache_equals_full_forward(model, shipped_tokenizer):
    ids = encode(shipped_tokenizer, PROMPTS[2])["input_ids"]
    generated = model.generate(ids, do_sample=False, cache_implementation="static", **fixed_length())
    assert torch.equal(generated, greedy_without_cache(model, ids))


def test_seeded_sampling_same_with_and_without_cache(model, shipped_tokenizer):
    inputs = encode(shipped_tokenizer, PROMPTS[1])
    runs = []
    for use_cache in (True, False):
        torch.manual_seed(7)
        runs.append(model.generate(**inputs, do_sample=True, temperature=1.3, use_cache=use_cache,
                                   **fixed_length()))
    assert torch.equal(runs[0], runs[1])


def test_beam_search_same_with_and_without_cache(model, shipped_tokenizer):
    inputs = encode(shipped_tokenizer, PROMPTS[2])
    cached = model.generate(**inputs, num_beams=3, num_return_sequences=3, do_sample=False, **fixed_length())
    uncached = model.generate(**inputs, num_beams=3, num_return_sequences=3, do_sample=False, use_cache=False,
                              **fixed_length())
    assert torch.equal(cached, uncached)


def test_left_padded_batch_equals_one_by_one(model, shipped_tokenizer):
    shipped_tokenizer.padding_side = "left"
    try:
        batch = shipped_tokenizer(PROMPTS, return_tensors="pt", padding=True, add_special_tokens=False)
    finally:
        shipped_tokenizer.padding_side = "right"
    together = model.generate(**batch, do_sample=False, **fixed_length())
    for row, prompt in enumerate(PROMPTS):
        alone = greedy_without_cache(model, encode(shipped_tokenizer, prompt)["input_ids"])
        assert torch.equal(together[row, -NEW_TOKENS:], alone[0, -NEW_TOKENS:]), prompt


def test_pipeline_writes_the_greedy_continuation(model, shipped_tokenizer):
    generator = pipeline("text-generation", model=model, tokenizer=shipped_tokenizer)
    text = generator(PROMPTS[0], do_sample=False, **fixed_length())[0]["generated_text"]
    expected = greedy_without_cache(model, encode(shipped_tokenizer, PROMPTS[0])["input_ids"])
    assert text == shipped_tokenizer.decode(expected[0], skip_special_tokens=True)


def test_text_streamer_prints_the_greedy_continuation(model, shipped_tokenizer, capsys):
    ids = encode(shipped_tokenizer, PROMPTS[1])["input_ids"]
    streamer = AtomTextStreamer(shipped_tokenizer, skip_special_tokens=True)
    model.generate(ids, do_sample=False, streamer=streamer, **fixed_length())
    expected = greedy_without_cache(model, ids)
    assert capsys.readouterr().out.strip() == shipped_tokenizer.decode(expected[0], skip_special_tokens=True).strip()


@pytest.mark.parametrize("skip_prompt", [False, True])
def test_atom_streamer_prints_least_significant_first_runs_in_written_order(shipped_tokenizer, capsys, skip_prompt):
    """Fed one token at a time (as `generate` does), the text comes out as written. (transformers'
    own TextStreamer, from 5.x releases that print digits at once, writes ` 11` for ` 51`: the
    run arrives as `1` then `5`.)"""
    prompt = shipped_tokenizer("907 - 958 =", add_special_tokens=False)["input_ids"]
    answer = shipped_tokenizer(" 51 = 1023", add_special_tokens=False)["input_ids"]
    streamer = AtomTextStreamer(shipped_tokenizer, skip_prompt=skip_prompt, skip_special_tokens=True)
    streamer.put(torch.tensor([prompt]))
    for token in answer:
        streamer.put(torch.tensor([token]))
    streamer.end()
    expected = ("" if skip_prompt else "907 - 958 =") + " 51 = 1023"
    assert capsys.readouterr().out == expected + "\n"


@pytest.mark.parametrize("prompt, answer", [("12 + 34 =", "46"), ("907 - 958 =", "-51"), ("345 + 678 =", "1023")])
def test_shipped_model_writes_the_answer(shipped_model, shipped_tokenizer, prompt, answer):
    output = shipped_model.generate(**encode(shipped_tokenizer, prompt), max_new_tokens=8, do_sample=False)
    text = shipped_tokenizer.decode(output[0], skip_special_tokens=True)
    assert text[len(prompt):].split()[0] == answer


def test_generate_cli_prints_the_answer():
    result = subprocess.run([sys.executable, "-m", "atomlm", "generate", "--model", str(SHIPPED), "12 + 34 ="],
                            capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[0] == "46"
