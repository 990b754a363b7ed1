"""`atomlm tokenizer train`: trains the size asked for, and refuses bad input or --out in one line."""

from __future__ import annotations

import json
from itertools import islice

import pytest

from atomlm.offline_text import kjv_verses
from atomlm.tokenizer import load_tokenizer

VOCAB_SIZE = 300


def write_corpus(path, lines=400):
    """A .jsonl corpus of Bible verses (with a blank line, which is allowed): ample for 300 tokens."""
    records = [json.dumps({"text": verse}) for verse in islice(kjv_verses(), lines)]
    path.write_text("\n".join(records[:10] + [""] + records[10:]) + "\n")
    return path


def test_trains_the_size_asked_for(atomlm, tmp_path):
    out = tmp_path / "tok"
    result = atomlm.run("tokenizer", "train", "--out", out, "--input", write_corpus(tmp_path / "corpus.jsonl"),
                        "--vocab-size", VOCAB_SIZE)
    assert result.returncode == 0, result.stderr
    trained = load_tokenizer(out)
    assert len(trained) == VOCAB_SIZE
    assert trained.tokenize("42") == ["2", "4", "<|number_end|>"]  # atomic digits, least significant first, marker


def test_force_overwrites_a_tokenizer(atomlm, tmp_path):
    out = tmp_path / "tok"
    out.mkdir()
    (out / "tokenizer.json").write_text("{}")
    corpus = write_corpus(tmp_path / "corpus.jsonl")
    message = atomlm.error("tokenizer", "train", "--out", out, "--input", corpus, "--vocab-size", VOCAB_SIZE)
    assert message == f"{out}/tokenizer.json exists; pass --force to overwrite it"
    result = atomlm.run("tokenizer", "train", "--out", out, "--input", corpus, "--vocab-size", VOCAB_SIZE, "--force")
    assert result.returncode == 0, result.stderr
    assert len(load_tokenizer(out)) == VOCAB_SIZE


def small_corpus(path):
    path.write_text("\n".join(json.dumps({"text": f"the {i} cats sat on {i * 7} mats"}) for i in range(300)))
    return path


INPUTS = {
    "empty": (lambda p: p.with_suffix(".txt").write_text("\n  \n") and p.with_suffix(".txt"),
              "{p}: no text to train on (the input is empty)"),
    "too small": (small_corpus, "{p}: too little text for 300 tokens: training stopped at "),
    "missing": (lambda p: p, "{p}: no such input file"),
    "no text field": (lambda p: p.write_text('{"text": "fine"}\n{"txt": "wrong field"}\n') and p,
                      "{p}:2: expected an object with a string 'text' field"),
    "not JSON": (lambda p: p.write_text('{"text": "fine"\n') and p, "{p}:1: not valid JSON"),
    "not UTF-8": (lambda p: p.write_bytes(b'{"text": "caf\xe9"}\n') and p, "{p}:1: not UTF-8 text"),
}


@pytest.mark.parametrize("problem", INPUTS)
def test_bad_input_is_refused_without_writing(atomlm, tmp_path, problem):
    make_input, expected = INPUTS[problem]
    path = make_input(tmp_path / "corpus.jsonl")
    out = tmp_path / "tok"
    message = atomlm.error("tokenizer", "train", "--out", out, "--input", path, "--vocab-size", VOCAB_SIZE)
    assert message.startswith(expected.format(p=path))
    assert not out.exists()


def test_too_small_vocab_size(atomlm, tmp_path):
    message = atomlm.error("tokenizer", "train", "--out", tmp_path / "tok", "--vocab-size", "100")
    assert message == "--vocab-size 100: must be at least 261 (5 special tokens + 256 byte symbols)"


@pytest.mark.parametrize("model_file", ["config.json", "model.safetensors"])
def test_will_not_write_into_a_model_directory(atomlm, tmp_path, model_file):
    (tmp_path / model_file).write_text("{}")
    message = atomlm.error("tokenizer", "train", "--out", tmp_path, "--input", small_corpus(tmp_path / "c.jsonl"))
    assert message == f"will not overwrite the tokenizer of the model in {tmp_path}; choose another --out"
    assert not (tmp_path / "tokenizer.json").exists()


def test_out_that_is_a_file(atomlm, tmp_path):
    (tmp_path / "tok").write_text("")
    assert atomlm.error("tokenizer", "train", "--out", tmp_path / "tok") == f"{tmp_path}/tok: not a directory"
