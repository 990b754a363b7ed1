"""`atomlm export`: write a self-contained Hugging Face model directory.

The directory loads anywhere with `trust_remote_code=True` and needs only torch + transformers.
Model, config and tokenizer are written by their own `save_pretrained` (the classes are
registered for the Auto classes, so transformers writes `auto_map` and copies the package's own
code files from `atomlm/modeling/`); the standalone ArithMark runner and its data are copied.
Writing goes to a temporary sibling directory first, so a failed export never leaves a
half-written model, and an existing directory is only touched with `--overwrite`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from atomlm.errors import UserError
from atomlm.model_loading import CURRICULUM_FILE, TRAINING_RECORD_FILE

MODELING_FILES = ["configuration_atom.py", "modeling_atom.py", "arithmetic_features.py", "tokenization_atom.py"]
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json"]
TRAINING_CURVES_FILE = "training_curves.png"
# Generation stops at either end marker: training data ends every document with <|endoftext|>.
EOS_TOKENS = ["<|eos|>", "<|endoftext|>"]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="write a Hugging Face model directory (loads with trust_remote_code=True)",
        description="Write weights, config, tokenizer, model code, model card, curriculum and the standalone "
        "ArithMark runner into one directory that loads anywhere with torch + transformers.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, help="training run directory to export (atomlm train --out: its latest checkpoint), "
                        "or one checkpoint folder (checkpoints/step_N, a long run's checkpoint/)")
    source.add_argument("--model", type=Path,
                        help="an exported model directory to export again with today's code and card "
                        "(its training_record.json and curriculum are kept)")
    source.add_argument("--random-init", action="store_true", help="export an untrained default Atom2.7m")
    parser.add_argument("--tokenizer", type=Path, default=None,
                        help="tokenizer directory (default: the run's tokenizer, else the one shipped with atomlm)")
    parser.add_argument("--out", type=Path, required=True, help="directory to write the model into")
    parser.add_argument("--overwrite", action="store_true",
                        help="allow --out to exist: replace the files an export writes, keep every other file")
    parser.add_argument("--results", type=Path, action="append", default=[], metavar="JSON",
                        help="result file of `atomlm eval arithmark` or `atomlm eval exact-match` to record in the "
                        "model card's model-index (repeatable)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                        help="dtype of the saved weights (default float32)")
    parser.add_argument("--seed", type=int, default=0, help="random seed for --random-init (default 0)")
    parser.set_defaults(handler=run_export)


def run_export(args) -> int:
    from atomlm.model_card import read_eval_results

    _check_target(args.out, args.overwrite)  # before any loading: fail fast
    results = read_eval_results(args.results)
    common = dict(overwrite=args.overwrite, eval_results=results, dtype=args.dtype)
    if args.random_init:
        out = export_random_init(args.out, tokenizer_dir=args.tokenizer, seed=args.seed, **common)
    elif args.model is not None:
        out = _export_again(args.model, args.out, args.tokenizer, common)
    else:
        from atomlm.training.checkpoint import load_model_from_run

        model, record = load_model_from_run(args.checkpoint)
        tokenizer_dir = args.tokenizer or record.get("tokenizer_dir")
        out = export_hf_directory(model, tokenizer_dir, args.out, curriculum=record.get("curriculum"),
                                  training_record=record, training_curves=record.get("plot_path"), **common)
    parameters = json.loads((out / "config.json").read_text()).get("num_parameters")
    print(f"exported {out} ({parameters:,} parameters)")
    return 0


def _export_again(model_dir: Path, out_dir: Path, tokenizer_dir, common: dict) -> Path:
    """Re-export an exported directory: same weights and records, today's code, tokenizer files and card."""
    from atomlm.model_loading import load_atom_export

    model, record, curriculum = load_atom_export(model_dir)
    return export_hf_directory(model, tokenizer_dir or model_dir, out_dir, curriculum=curriculum,
                               training_record=record, training_curves=model_dir / TRAINING_CURVES_FILE, **common)


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
    """(source, name in export) for every file an export holds unchanged from its source.

    The code files are copied by `save_pretrained` (the classes are registered for the Auto
    classes), tokenizer.json is re-serialised by it, and the runner files are copied here.
    """
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
            raise UserError(
                f"model config {field}={getattr(config, field)} does not match tokenizer {tokenizer_dir} "
                f"({expected}); the model was trained with another tokenizer"
            )
    size = tokenizer.get_vocab_size()
    if size > config.vocab_size:
        raise UserError(f"tokenizer {tokenizer_dir} has {size} tokens but the model only {config.vocab_size}")


def export_hf_directory(
    model,
    tokenizer_dir: str | Path | None,
    out_dir: str | Path,
    *,
    curriculum: dict | str | None = None,
    training_record: dict | None = None,
    training_curves: str | Path | None = None,
    eval_results: list[dict] | None = None,
    dtype: str = "float32",
    overwrite: bool = False,
) -> Path:
    """Write `model` with its tokenizer, code, card, curriculum and ArithMark runner to `out_dir`.

    Everything is written to a temporary sibling first. A new `out_dir` is then renamed into
    place in one step; an existing one (only with `overwrite`) has each written file replaced,
    and files the export does not write (e.g. an earlier stage's training record) are kept.
    """
    import torch

    from atomlm.tokenizer import default_tokenizer_dir

    out_dir = Path(out_dir)
    _check_target(out_dir, overwrite)
    tokenizer_dir = Path(tokenizer_dir) if tokenizer_dir else default_tokenizer_dir()
    for name in TOKENIZER_FILES:
        if not (tokenizer_dir / name).is_file():
            raise UserError(f"tokenizer directory {tokenizer_dir} lacks {name}")
    check_tokenizer_matches(model.config, tokenizer_dir)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        _write_directory(model, tokenizer_dir, staging, curriculum, training_record, training_curves,
                         eval_results or [], getattr(torch, dtype))
        _make_world_readable(staging)
        _publish(staging, out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return out_dir


def _check_target(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} is a file, not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise UserError(
            f"--out {out_dir} already exists and is not empty; pass --overwrite to replace the files an export "
            "writes (other files in it are kept)"
        )


def _publish(staging: Path, out_dir: Path) -> None:
    """Move the finished export into place without deleting anything the export did not write."""
    if not out_dir.exists():
        os.replace(staging, out_dir)
        return
    for path in sorted(staging.iterdir()):
        os.replace(path, out_dir / path.name)  # atomic per file


def _make_world_readable(directory: Path) -> None:
    directory.chmod(0o755)  # mkdtemp creates 0700
    for path in directory.iterdir():
        path.chmod(0o644)


def _write_directory(model, tokenizer_dir, out_dir, curriculum, training_record, training_curves, eval_results,
                     dtype) -> None:
    import copy

    from transformers import GenerationConfig
    from transformers.dynamic_module_utils import custom_object_save

    from atomlm.tokenizer import load_tokenizer

    parameters = sum(p.numel() for p in model.parameters())
    exported = copy.deepcopy(model).to(dtype)  # the caller's model and config stay as they were
    config = exported.config
    config.architectures = ["AtomForCausalLM"]
    config.num_parameters = parameters
    # save_pretrained records the class it saves (AutoModelForCausalLM) and the config; the base
    # model's AutoModel entry is added the same way transformers adds those.
    custom_object_save(exported.model, out_dir, config=config)
    exported.save_pretrained(out_dir)
    tokenizer = load_tokenizer(tokenizer_dir)
    tokenizer.save_pretrained(str(out_dir))

    token_ids = {token["content"]: token["id"] for token in
                 json.loads((tokenizer_dir / "tokenizer.json").read_text())["added_tokens"]}
    GenerationConfig(
        bos_token_id=token_ids.get("<|bos|>"),
        eos_token_id=[token_ids[token] for token in EOS_TOKENS if token in token_ids],
        pad_token_id=token_ids.get("<|pad|>"),
        do_sample=False,
        max_new_tokens=32,
    ).save_pretrained(out_dir)

    for source, name in _arithmark_runner_files():
        shutil.copyfile(source, out_dir / name)
    if isinstance(curriculum, str):
        curriculum = json.loads(curriculum)
    curriculum = curriculum if curriculum is not None else _default_curriculum_json()
    (out_dir / CURRICULUM_FILE).write_text(json.dumps(curriculum, indent=2) + "\n")
    if training_record is not None:
        (out_dir / TRAINING_RECORD_FILE).write_text(json.dumps(training_record, indent=2, default=str) + "\n")
    if training_curves and Path(training_curves).is_file():
        shutil.copyfile(training_curves, out_dir / TRAINING_CURVES_FILE)

    from atomlm.model_card import render_model_card

    render_model_card(config, parameters, training_record, eval_results,
                      digit_order=tokenizer.digit_order, number_marker=tokenizer.number_marker).save(out_dir / "README.md")


def export_random_init(
    out_dir: str | Path,
    tokenizer_dir: str | Path | None = None,
    seed: int = 0,
    dtype: str = "float32",
    overwrite: bool = False,
    eval_results: list[dict] | None = None,
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
    return export_hf_directory(model, tokenizer_dir, out_dir, dtype=dtype, overwrite=overwrite,
                               eval_results=eval_results)
