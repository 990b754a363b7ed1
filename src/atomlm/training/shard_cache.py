"""Where a run's token shards live, and building them on first use.

Shards of one (curriculum, tokenizer, seq_len, seed, data code) live in a directory keyed by
their hash, so two runs with the same data share them, and neither a changed tokenizer nor a
changed generator or text source ever reuses stale tokens.
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


# What the shards' tokens are computed by, relative to the atomlm package: the data package
# (generators, readers, curricula, the shard format), the offline text, the tokenizer's Python side.
DATA_CODE = ("data", "offline_text.py", "tokenizer", "modeling/tokenization_atom.py", "assets")
PACKAGE = Path(__file__).resolve().parents[1]


def data_code_fingerprint(package: Path = PACKAGE) -> str:
    """sha256 over the files in DATA_CODE (names and bytes): any edit of them keys a new cache
    directory. A rebuild that gives the same tokens still resumes a run (`--resume` compares the
    shards' own sha256s, not the directory)."""
    files = set()
    for name in DATA_CODE:
        path = package / name
        if path.is_dir():
            files.update(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            files.add(path)
    digest = hashlib.sha256()
    for path in sorted(p for p in files if "__pycache__" not in p.parts):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def shard_directory(settings: DataSettings, curriculum_description) -> Path:
    """The cache directory for these data settings and this data code (not created)."""
    tokenizer_json = tokenizer_directory(settings) / "tokenizer.json"
    digest = hashlib.sha256()
    digest.update(json.dumps(curriculum_description, sort_keys=True, default=str).encode())
    digest.update(tokenizer_json.read_bytes() if tokenizer_json.exists() else b"")
    digest.update(f"seq_len={settings.seq_len};seed={settings.seed}".encode())
    digest.update(data_code_fingerprint().encode())
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
