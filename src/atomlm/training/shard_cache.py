"""Where a run's token shards live, and building them on first use.

Shards of one (curriculum, tokenizer, seq_len, seed) live in a directory keyed by their hash,
so two runs with the same data share them and a changed tokenizer never reuses stale tokens.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

from atomlm.cache_dir import CACHE_DIR_VARIABLE, atomlm_cache_dir
from atomlm.training.config import ConfigError, DataSettings


def shard_cache_root(settings: DataSettings) -> Path:
    """`data.shard_cache_dir` if set, else `shards/` in the user cache (`atomlm_cache_dir()`)."""
    if settings.shard_cache_dir:
        return Path(settings.shard_cache_dir)
    if os.environ.get("ATOMLM_SHARD_CACHE"):
        # The variable this one replaced: ignoring it would quietly rebuild every shard elsewhere.
        raise ConfigError(
            f"ATOMLM_SHARD_CACHE is no longer read; set {CACHE_DIR_VARIABLE} instead (shards go to "
            f"${CACHE_DIR_VARIABLE}/shards) or data.shard_cache_dir, and unset ATOMLM_SHARD_CACHE"
        )
    return atomlm_cache_dir() / "shards"


def describe_curriculum(curriculum) -> object:
    """A JSON-serialisable description of a curriculum object (for hashing and run records)."""
    for method in ("to_dict", "to_json"):
        if hasattr(curriculum, method):
            value = getattr(curriculum, method)()
            return json.loads(value) if isinstance(value, str) else value
    if dataclasses.is_dataclass(curriculum):
        return dataclasses.asdict(curriculum)
    return repr(curriculum)


def tokenizer_directory(settings: DataSettings) -> Path:
    from atomlm.tokenizer import default_tokenizer_dir

    return Path(settings.tokenizer_dir) if settings.tokenizer_dir else Path(default_tokenizer_dir())


def shard_directory(settings: DataSettings, curriculum_description) -> Path:
    """The cache directory for these data settings (not created)."""
    tokenizer_json = tokenizer_directory(settings) / "tokenizer.json"
    digest = hashlib.sha256()
    digest.update(json.dumps(curriculum_description, sort_keys=True, default=str).encode())
    digest.update(tokenizer_json.read_bytes() if tokenizer_json.exists() else b"")
    digest.update(f"seq_len={settings.seq_len};seed={settings.seed}".encode())
    name = Path(str(settings.curriculum)).stem.replace(" ", "_")
    return shard_cache_root(settings) / f"{name}-{digest.hexdigest()[:16]}"


def prepare_shards(settings: DataSettings, is_main: bool, barrier, log, *, progress: bool = True) -> tuple[Path, object]:
    """Build (main process only; resumable and idempotent) or reuse the shards; every process
    waits at `barrier` until they exist. Returns (shard directory, curriculum description).

    `progress` is `atomlm train`'s: False (`--no-progress`) builds without a progress bar.
    """
    from atomlm.data.curriculum import load_curriculum

    curriculum = load_curriculum(settings.curriculum)
    description = describe_curriculum(curriculum)
    out_dir = shard_directory(settings, description)
    if is_main:
        from atomlm.data.shards import build_shards

        log(f"data: shards for curriculum {settings.curriculum!r} in {out_dir}")
        build_shards(
            curriculum,
            tokenizer_directory(settings),
            out_dir,
            seq_len=settings.seq_len,
            workers=settings.build_workers,
            seed=settings.seed,
            progress=progress,
        )
    barrier()
    return out_dir, description
