"""Atomic checkpoints of a training run, and loading a trained model back from a run directory.

Layout inside a run directory:

    checkpoints/step_000100/model.pt            model state_dict (tied weights kept tied)
    checkpoints/step_000100/training_state.pt   optimizer, scheduler, data position, RNG states
    checkpoints/step_000100/meta.json           step, tokens, record, sha256 of the two files
    checkpoints/latest                          name of the newest complete checkpoint

A checkpoint is written into a temporary sibling directory, fsynced, then `os.replace`d into
place, and only then does `latest` (itself replaced atomically) point at it: a run killed at any
moment leaves either the previous checkpoint or the new one, never a half-written file.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

from atomlm.data.shards import file_sha256
from atomlm.errors import UserError

MODEL_FILE = "model.pt"
STATE_FILE = "training_state.pt"
META_FILE = "meta.json"
LATEST_FILE = "latest"


class CheckpointError(UserError):
    """A checkpoint that is missing, incomplete or corrupt; the message names the file."""


def checkpoints_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def checkpoint_name(step: int) -> str:
    """The folder name of checkpoint `step` inside `checkpoints_dir`."""
    return f"step_{step:06d}"


def is_checkpoint(path: Path) -> bool:
    """Whether `path` is one checkpoint folder (it holds the meta file, written last)."""
    return (Path(path) / META_FILE).is_file()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic_text(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _fsync_dir(path.parent)


def save_checkpoint(run_dir: Path, step: int, model_state: dict, training_state: dict, meta: dict, keep: int = 2) -> Path:
    """Write checkpoint `step` atomically, point `latest` at it, and prune to the newest `keep`."""
    import torch

    root = checkpoints_dir(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    name = checkpoint_name(step)
    final = root / name
    temporary = root / f".tmp_{name}"
    if temporary.exists():
        shutil.rmtree(temporary)
    temporary.mkdir()
    for file_name, payload in ((MODEL_FILE, model_state), (STATE_FILE, training_state)):
        with open(temporary / file_name, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
    meta = {
        **meta,
        "step": step,
        "sha256": {f: file_sha256(temporary / f) for f in (MODEL_FILE, STATE_FILE)},
    }
    with open(temporary / META_FILE, "w") as handle:
        json.dump(meta, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    _fsync_dir(temporary)
    if final.exists():  # re-saving the same step (e.g. final save right after an interval save)
        shutil.rmtree(final)
    os.replace(temporary, final)
    _fsync_dir(root)
    point_latest_at(final)
    _prune(root, keep=max(1, keep), protect=name)
    return final


def point_latest_at(checkpoint: Path) -> None:
    """Make `checkpoint` (a folder in a run's checkpoints directory) the one `latest` names,
    atomically: a reader sees the old name or the new one, never a torn file."""
    checkpoint = Path(checkpoint)
    _write_atomic_text(checkpoint.parent / LATEST_FILE, checkpoint.name + "\n")


def _prune(root: Path, keep: int, protect: str) -> None:
    complete = sorted(p for p in root.glob("step_*") if p.is_dir())
    for stale in complete[:-keep]:
        if stale.name != protect:
            shutil.rmtree(stale, ignore_errors=True)


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint `latest` points at, or None when the run has none yet."""
    root = checkpoints_dir(run_dir)
    pointer = root / LATEST_FILE
    if not pointer.exists():
        return None
    name = pointer.read_text().strip()
    target = root / name
    if not name.startswith("step_") or not target.is_dir():
        raise CheckpointError(f"{pointer}: points at {name!r}, which is not a checkpoint directory in {root}")
    return target


def read_checkpoint_meta(checkpoint_dir: Path) -> dict:
    """A checkpoint's meta.json (step, tokens, wall time, record, checksums), without its payloads."""
    checkpoint_dir = Path(checkpoint_dir)
    meta_path = checkpoint_dir / META_FILE
    if not meta_path.exists():
        raise CheckpointError(f"{meta_path}: missing; {checkpoint_dir} is not a complete checkpoint")
    try:
        return json.loads(meta_path.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{meta_path}: line {error.lineno}: corrupt JSON ({error.msg})") from None


def load_checkpoint(checkpoint_dir: Path) -> tuple[dict, dict, dict]:
    """(model_state, training_state, meta) of one checkpoint, after verifying its checksums."""
    import torch

    checkpoint_dir = Path(checkpoint_dir)
    meta = read_checkpoint_meta(checkpoint_dir)
    payloads = []
    for file_name in (MODEL_FILE, STATE_FILE):
        path = checkpoint_dir / file_name
        if not path.exists():
            raise CheckpointError(f"{path}: missing from checkpoint")
        expected = meta.get("sha256", {}).get(file_name)
        actual = file_sha256(path)
        if expected != actual:
            raise CheckpointError(
                f"{path}: corrupt (sha256 {actual[:12]}... does not match {str(expected)[:12]}... recorded in {META_FILE})"
            )
        try:
            payloads.append(torch.load(path, map_location="cpu", weights_only=True))
        except Exception as error:  # torch raises several types for unreadable pickles
            raise CheckpointError(f"{path}: cannot be read by torch.load ({error})") from None
    return payloads[0], payloads[1], meta


def capture_rng_states() -> dict:
    """RNG states of python, numpy and torch (CPU and CUDA) as weights_only-loadable objects."""
    import numpy as np
    import torch

    kind, keys, position, has_gauss, cached = np.random.get_state()
    states = {
        "python": random.getstate(),
        "numpy": [kind, keys.tolist(), int(position), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict) -> None:
    """Inverse of `capture_rng_states`."""
    import numpy as np
    import torch

    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, position, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), position, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def load_model_from_run(run_dir) -> tuple:
    """Rebuild the trained `AtomForCausalLM` of a run directory from its latest checkpoint, or
    from one checkpoint folder itself (a `checkpoints/step_N`, or the `checkpoint/` a long run
    commits).

    Returns (model in eval mode, record) where record holds the resolved config (`config`), the
    AtomConfig arguments (`atom_config`), `curriculum` (its JSON) and `curriculum_name`,
    `tokenizer_dir`, `tokens_seen`, `steps`, `wall_time_s`, `hardware` (of the last process), `processes`
    (each process's steps, tokens, wall seconds and hardware: `run_processes`), `final_loss`, `val_loss`,
    `val_loss_answers`, `arithmark_acc`, `plot_path` (the metrics PNG, or None) and `checkpoint`. Raises `CheckpointError` naming the file when something is missing or corrupt.
    """
    from atomlm.modeling.configuration_atom import AtomConfig
    from atomlm.modeling.modeling_atom import AtomForCausalLM

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: no such run directory")
    checkpoint = run_dir if is_checkpoint(run_dir) else latest_checkpoint(run_dir)
    if checkpoint is None:
        raise CheckpointError(f"{checkpoints_dir(run_dir) / LATEST_FILE}: missing; {run_dir} has no checkpoint yet")
    model_state, _training_state, meta = load_checkpoint(checkpoint)
    record = dict(meta.get("record", {}))
    config_kwargs = record.get("atom_config")
    if config_kwargs is None:
        raise CheckpointError(f"{checkpoint / META_FILE}: lacks record.atom_config (the model architecture)")
    model = AtomForCausalLM(AtomConfig(**config_kwargs))
    missing, unexpected = model.load_state_dict(model_state, strict=False)
    # Tied output weights may be absent from the state dict; anything else is a real mismatch.
    missing = [k for k in missing if k not in ("lm_head.weight",)]
    if missing or unexpected:
        raise CheckpointError(
            f"{checkpoint / MODEL_FILE}: does not match the recorded architecture "
            f"(missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    if model.config.tie_word_embeddings and hasattr(model, "tie_weights"):
        model.tie_weights()
    plot = run_dir / "plot.png"
    record.update(
        steps=meta["step"],
        tokens_seen=meta.get("tokens_seen"),
        plot_path=str(plot) if plot.exists() else None,
        checkpoint=str(checkpoint),
    )
    return model.eval(), record
