"""`atomlm export`: write a self-contained Hugging Face model directory.

The directory loads anywhere with `trust_remote_code=True` and needs only torch + transformers:
its code files are the package's own files in `atomlm/modeling/` (copied, never rewritten), plus
the standalone ArithMark runner and its data. Writing goes to a temporary sibling directory that
replaces the target only when complete, so a failed export never leaves a half-written model.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

MODELING_FILES = ["configuration_atom.py", "modeling_atom.py", "arithmetic_features.py", "tokenization_atom.py"]
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json"]
AUTO_MAP = {
    "AutoConfig": "configuration_atom.AtomConfig",
    "AutoModelForCausalLM": "modeling_atom.AtomForCausalLM",
}
# Generation stops at either end marker: training data ends every document with <|endoftext|>.
EOS_TOKENS = ["<|eos|>", "<|endoftext|>"]


def register(subparsers) -> None:
    parser = subparsers.add_parser("export", help="write a Hugging Face model directory (trust_remote_code)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--random-init", action="store_true", help="export an untrained default Atom2.7m")
    source.add_argument("--checkpoint", type=Path, help="a training run directory (atomlm train --out)")
    parser.add_argument("--tokenizer", type=Path, default=None, help="tokenizer directory (default: shipped)")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32", help="weights dtype")
    parser.add_argument("--seed", type=int, default=0, help="seed for --random-init")
    parser.set_defaults(handler=run_export)


def run_export(args) -> int:
    if args.random_init:
        out = export_random_init(args.out, tokenizer_dir=args.tokenizer, seed=args.seed, dtype=args.dtype)
    else:
        from atomlm.training.checkpoint import load_model_from_run

        model, record = load_model_from_run(args.checkpoint)
        tokenizer_dir = args.tokenizer or record.get("tokenizer_dir")
        out = export_hf_directory(
            model, tokenizer_dir, args.out,
            curriculum=record.get("curriculum"), training_record=record, dtype=args.dtype,
        )
    parameters = json.loads((out / "config.json").read_text()).get("num_parameters")
    print(f"exported {out} ({parameters:,} parameters)")
    return 0


def modeling_source_dir() -> Path:
    """The directory holding the model's own Hugging Face files."""
    from atomlm import modeling

    return Path(modeling.__file__).resolve().parent


def _arithmark_runner_files() -> list[tuple[Path, str]]:
    """(source, name in export) for the standalone ArithMark runner and its default data."""
    evaluation_dir = Path(__file__).resolve().parent / "evaluation"
    candidates = [
        (evaluation_dir / "benchmark_fusion_arithmark.py", "benchmark_fusion_arithmark.py"),
        (evaluation_dir / "data" / "arithmark_2.0_compat.jsonl", "arithmark_2.0.jsonl"),
    ]
    return [(source, name) for source, name in candidates if source.is_file()]


def verbatim_files(tokenizer_dir: Path) -> list[tuple[Path, str]]:
    """(source, name in export) for every file an export copies unchanged."""
    files = [(modeling_source_dir() / name, name) for name in MODELING_FILES]
    files.append((Path(tokenizer_dir) / "tokenizer.json", "tokenizer.json"))
    return files + _arithmark_runner_files()


def _default_curriculum_json() -> dict:
    from atomlm.data.curriculum import load_curriculum

    return load_curriculum("atom2.7m").to_json()


def check_tokenizer_matches(config, tokenizer_dir: Path) -> None:
    """The model derives place/role ids from token ids: its ids must be the tokenizer's."""
    from tokenizers import Tokenizer

    from atomlm.tokenizer.training import arithmetic_vocabulary

    tokenizer = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    for field, expected in arithmetic_vocabulary(tokenizer).items():
        if getattr(config, field) != expected:
            raise ValueError(
                f"model config {field}={getattr(config, field)} does not match tokenizer {tokenizer_dir} "
                f"({expected}); the model was trained with another tokenizer"
            )
    size = tokenizer.get_vocab_size()
    if size > config.vocab_size:
        raise ValueError(f"tokenizer {tokenizer_dir} has {size} tokens but the model only {config.vocab_size}")


def export_hf_directory(
    model,
    tokenizer_dir: str | Path | None,
    out_dir: str | Path,
    *,
    curriculum: dict | str | None = None,
    training_record: dict | None = None,
    dtype: str = "float32",
) -> Path:
    """Write `model` with its tokenizer, code, card, curriculum and ArithMark runner to `out_dir`."""
    import torch

    from atomlm.tokenizer import default_tokenizer_dir

    tokenizer_dir = Path(tokenizer_dir) if tokenizer_dir else default_tokenizer_dir()
    for name in TOKENIZER_FILES:
        if not (tokenizer_dir / name).is_file():
            raise FileNotFoundError(f"tokenizer directory {tokenizer_dir} lacks {name}")
    check_tokenizer_matches(model.config, tokenizer_dir)

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        _write_directory(model, tokenizer_dir, staging, curriculum, training_record, getattr(torch, dtype))
        _make_world_readable(staging)
        if out_dir.exists():
            backup = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            os.replace(out_dir, backup)
            os.replace(staging, out_dir)
            shutil.rmtree(backup)
        else:
            os.replace(staging, out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return out_dir


def _make_world_readable(directory: Path) -> None:
    directory.chmod(0o755)  # mkdtemp creates 0700
    for path in directory.iterdir():
        path.chmod(0o644)


def _write_directory(model, tokenizer_dir, out_dir, curriculum, training_record, dtype) -> None:
    from transformers import GenerationConfig

    config = model.config
    config.auto_map = dict(AUTO_MAP)
    config.architectures = ["AtomForCausalLM"]
    parameters = sum(p.numel() for p in model.parameters())
    config.num_parameters = parameters
    original_dtype = next(model.parameters()).dtype
    model.to(dtype)
    try:
        model.save_pretrained(out_dir, safe_serialization=True)
    finally:
        model.to(original_dtype)

    tokenizer_config = json.loads((tokenizer_dir / "tokenizer_config.json").read_text())
    vocabulary = json.loads((tokenizer_dir / "tokenizer.json").read_text())["added_tokens"]
    token_ids = {token["content"]: token["id"] for token in vocabulary}
    generation = GenerationConfig(
        bos_token_id=token_ids.get("<|bos|>"),
        eos_token_id=[token_ids[token] for token in EOS_TOKENS if token in token_ids],
        pad_token_id=token_ids.get("<|pad|>"),
        do_sample=False,
        max_new_tokens=32,
    )
    generation.save_pretrained(out_dir)

    for source, name in verbatim_files(tokenizer_dir):
        shutil.copyfile(source, out_dir / name)
    (out_dir / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n")

    if isinstance(curriculum, str):
        curriculum = json.loads(curriculum)
    curriculum = curriculum if curriculum is not None else _default_curriculum_json()
    (out_dir / "pretraining_curriculum.json").write_text(json.dumps(curriculum, indent=2) + "\n")
    if training_record is not None:
        (out_dir / "training_record.json").write_text(json.dumps(training_record, indent=2, default=str) + "\n")
        plot = training_record.get("plot_path")
        if plot and Path(plot).is_file():
            shutil.copyfile(plot, out_dir / "training_curves.png")

    from atomlm.model_card import render_model_card

    (out_dir / "README.md").write_text(render_model_card(config, parameters, training_record))


def export_random_init(
    out_dir: str | Path,
    tokenizer_dir: str | Path | None = None,
    seed: int = 0,
    dtype: str = "float32",
    **config_overrides,
) -> Path:
    """Export an untrained Atom (default: Atom2.7m) - for tests and for checking the load path."""
    import torch

    from atomlm.modeling.configuration_atom import AtomConfig
    from atomlm.modeling.modeling_atom import AtomForCausalLM
    from atomlm.tokenizer import default_tokenizer_dir
    from atomlm.tokenizer.training import arithmetic_vocabulary
    from tokenizers import Tokenizer

    tokenizer_dir = Path(tokenizer_dir) if tokenizer_dir else default_tokenizer_dir()
    vocabulary = arithmetic_vocabulary(Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json")))
    torch.manual_seed(seed)
    model = AtomForCausalLM(AtomConfig(**{**vocabulary, **config_overrides}))
    return export_hf_directory(model, tokenizer_dir, out_dir, dtype=dtype)
