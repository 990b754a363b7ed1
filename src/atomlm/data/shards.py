"""Tokenize a curriculum into fixed-length uint16 token shards, in parallel and resumably.

Layout of an output directory:

    build_config.json        what was asked for (curriculum, tokenizer hash, seq_len, seed, ...)
    train/p01-kjv-00000.bin  rows x seq_len uint16 tokens (np.memmap-able), one (phase, source) part
    train/p01-kjv-00000.json its record: rows, documents, tokens, sha256 - written last, so it marks
                             the shard as complete
    val/p01-kjv.bin/.json    held-out rows of that (phase, source)
    manifest.json            everything above in curriculum order, written when all shards exist

Every shard is a pure function of (curriculum, tokenizer, seq_len, seed, shard id): rerunning a
killed build skips complete shards and rebuilds the rest to the same bytes, so nothing is lost or
duplicated. Packing: each document ends with `<|endoftext|>`; a document that fits in a row is
never split (a few rows stay open and each document goes to the fullest row it fits in; a closed
row is padded with `<|pad|>`); longer documents are cut into seq_len pieces.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import os
import signal
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from atomlm.data.curriculum import Curriculum, load_curriculum
from atomlm.data.source_readers import check_source_available, iter_documents
from atomlm.data.sources import SourceSpec, in_split, stream_seed
from atomlm.errors import UserError
from atomlm.progress import progress_enabled

FORMAT_VERSION = 1
DEFAULT_SHARD_TOKENS = 1 << 20
DEFAULT_VAL_ROWS = 8
OPEN_ROWS = 8
ENCODE_BATCH = 256


class BuildError(UserError):
    """The build cannot start or continue; the message says why and what to do."""


class BuildInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped a build. Complete shards are kept (a rerun builds only the
    rest); the worker processes are ended and temporary files removed. A KeyboardInterrupt, so
    code that does not know it still treats it as an interruption, not an error."""

    def __init__(self, signal_number: int):
        self.exit_code = 128 + signal_number
        super().__init__(
            f"interrupted by {signal.Signals(signal_number).name} while building shards; the complete "
            "shards are kept and the same command builds the rest"
        )


@dataclass(frozen=True)
class BuildContext:
    """What every shard of one build shares. Sent to each worker process, so it pickles."""

    tokenizer_dir: Path
    seq_len: int
    seed: int
    out_dir: Path
    specs: dict[str, SourceSpec]  # every source of the curriculum, by name


@dataclass(frozen=True)
class ShardJob:
    """One output file: a slice of one (phase, source) stream."""

    split: str  # "train" or "val"
    phase_index: int  # 1-based
    phase: str
    source: str
    shard_index: int
    shard_count: int
    token_target: int
    stages: tuple[int, ...]

    @property
    def stem(self) -> str:
        base = f"p{self.phase_index:02d}-{self.source}"
        return f"{self.split}/{base}-{self.shard_index:05d}" if self.split == "train" else f"{self.split}/{base}"


def plan_jobs(curriculum: Curriculum, shard_tokens: int, val_rows: int, seq_len: int) -> list[ShardJob]:
    """All shards of a build, in curriculum order (phase, then source as listed, then shard)."""
    jobs = []
    for phase_index, phase in enumerate(curriculum.phases, start=1):
        targets = phase.source_targets()
        for source in phase.sources:
            target = targets[source.name]
            count = max(1, math.ceil(target / shard_tokens))
            for shard_index in range(count):
                share = target // count + (1 if shard_index < target % count else 0)
                jobs.append(
                    ShardJob("train", phase_index, phase.name, source.name, shard_index, count, share, source.stages)
                )
            if val_rows > 0:
                jobs.append(
                    ShardJob("val", phase_index, phase.name, source.name, 0, 1, val_rows * seq_len, source.stages)
                )
    return jobs


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shard_fingerprint(shard_dir: str | Path) -> str:
    """sha256 over the built shards' files and sha256s, in manifest order: it changes whenever any
    shard's tokens do (a rebuilt cache), without reading the shards themselves (gigabytes)."""
    manifest_path = Path(shard_dir) / "manifest.json"
    if not manifest_path.is_file():
        raise BuildError(f"{manifest_path}: missing; build the shards first (atomlm data build --out {shard_dir})")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    files = [(split, shard["file"], shard["sha256"]) for split, shards in manifest["shards"].items() for shard in shards]
    return hashlib.sha256(json.dumps(files).encode()).hexdigest()


def tokenizer_fingerprint(tokenizer_dir: Path) -> str:
    """sha256 of the tokenizer's `tokenizer.json` (its vocabulary, merges and pre-tokenizer)."""
    path = Path(tokenizer_dir) / "tokenizer.json"
    if not path.is_file():
        raise BuildError(f"no tokenizer.json in {tokenizer_dir}; pass --tokenizer DIR of a trained tokenizer")
    return file_sha256(path)


def build_shards(
    curriculum: Curriculum | str | Path,
    tokenizer_dir: str | Path | None,
    out_dir: str | Path,
    *,
    seq_len: int = 512,
    workers: int = 1,
    seed: int = 0,
    shard_tokens: int = DEFAULT_SHARD_TOKENS,
    val_rows: int = DEFAULT_VAL_ROWS,
    progress: bool = True,
) -> Path:
    """Build (or finish building) the token shards of `curriculum` in `out_dir`; return the manifest path.

    `progress` asks for a progress bar; it is drawn only when stderr is a terminal (`progress_enabled`).
    """
    if not isinstance(curriculum, Curriculum):
        curriculum = load_curriculum(curriculum)
    if seq_len < 2 or seq_len > 65536:
        raise BuildError(f"seq_len must be in [2, 65536], got {seq_len}")
    if workers < 1:
        raise BuildError(f"workers must be >= 1, got {workers}")
    if tokenizer_dir is None:
        from atomlm.tokenizer import default_tokenizer_dir

        tokenizer_dir = default_tokenizer_dir()
    tokenizer_dir = Path(tokenizer_dir).resolve()
    tokenizer_hash = tokenizer_fingerprint(tokenizer_dir)
    # Fail before any work if a source cannot be read.
    specs = {name: curriculum.source_spec(name) for phase in curriculum.phases for name in (s.name for s in phase.sources)}
    for spec in specs.values():
        check_source_available(spec)

    out_dir = Path(out_dir)
    (out_dir / "train").mkdir(parents=True, exist_ok=True)
    (out_dir / "val").mkdir(parents=True, exist_ok=True)
    config = {
        "format_version": FORMAT_VERSION,
        "curriculum": curriculum.to_json(),
        "tokenizer_sha256": tokenizer_hash,
        "seq_len": seq_len,
        "seed": seed,
        "shard_tokens": shard_tokens,
        "val_rows": val_rows,
    }
    _claim_output_dir(out_dir, config)

    jobs = plan_jobs(curriculum, shard_tokens, val_rows, seq_len)
    pending = [job for job in jobs if not _is_complete(out_dir, job)]
    context = BuildContext(tokenizer_dir=tokenizer_dir, seq_len=seq_len, seed=seed, out_dir=out_dir, specs=specs)
    _run_jobs(pending, context, workers, progress_enabled(progress), already_done=len(jobs) - len(pending))
    return _write_manifest(out_dir, jobs, config, curriculum, tokenizer_dir)


def _claim_output_dir(out_dir: Path, config: dict) -> None:
    path = out_dir / "build_config.json"
    if path.exists():
        existing = json.loads(path.read_text(encoding="utf-8"))
        if existing != config:
            changed = sorted(key for key in set(existing) | set(config) if existing.get(key) != config.get(key))
            raise BuildError(
                f"{out_dir} holds a build with different settings ({', '.join(changed)}); "
                "use a new --out directory or delete this one"
            )
        return
    _write_json_atomically(path, config)


def _is_complete(out_dir: Path, job: ShardJob) -> bool:
    record_path = out_dir / f"{job.stem}.json"
    data_path = out_dir / f"{job.stem}.bin"
    if not (record_path.is_file() and data_path.is_file()):
        return False
    record = json.loads(record_path.read_text(encoding="utf-8"))
    return data_path.stat().st_size == record["rows"] * record["seq_len"] * 2


def _run_jobs(jobs: list[ShardJob], context: BuildContext, workers: int, progress: bool, already_done: int) -> None:
    from tqdm import tqdm

    total = already_done + len(jobs)
    bar = tqdm(total=total, initial=already_done, unit="shard", desc="building shards", disable=not progress,
               file=sys.stderr)
    tokens_done = 0
    try:
        with _interrupt_on_stop_signals():
            if workers == 1 or len(jobs) <= 1:
                records = (build_one_shard(job, context) for job in jobs)
                for record in records:
                    tokens_done += record["tokens"]
                    bar.set_postfix(tokens=f"{tokens_done:,}")
                    bar.update()
            else:
                with worker_pool(workers) as pool:  # leaving it ends the workers, also on an interrupt
                    records = pool.imap_unordered(_build_one_shard_star, [(job, context) for job in jobs])
                    for record in records:
                        tokens_done += record["tokens"]
                        bar.set_postfix(tokens=f"{tokens_done:,}")
                        bar.update()
    except BuildInterrupted:
        _remove_temporary_files(context.out_dir)
        raise
    finally:
        bar.close()


@contextlib.contextmanager
def _interrupt_on_stop_signals():
    """Inside, SIGINT and SIGTERM raise `BuildInterrupted` (once; later signals are ignored while
    the build cleans up). Only the main thread can install handlers; elsewhere it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signal_number, _frame):
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_IGN)
        raise BuildInterrupted(signal_number)

    previous = {number: signal.signal(number, interrupt) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def worker_pool(workers: int):
    """`workers` spawned processes (shard builds, `atomlm.data.stream` blocks). They ignore SIGINT
    (Ctrl-C reaches the whole process group; the parent alone handles it and ends them) from birth:
    an ignored signal stays ignored in a spawned child, so a worker still importing never prints a
    KeyboardInterrupt traceback."""
    import multiprocessing

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        # spawn: the parent may hold tokenizer/threads state that must not be forked.
        return multiprocessing.get_context("spawn").Pool(workers, initializer=_exit_with_parent,
                                                         initargs=(os.getpid(),))
    finally:
        signal.signal(signal.SIGINT, previous)


def _remove_temporary_files(out_dir: Path) -> None:
    """Partial files of shards that were being written when the build stopped (never trusted:
    only a renamed `.bin` with its `.json` record counts as a shard)."""
    for temporary in out_dir.rglob("*.tmp"):
        temporary.unlink(missing_ok=True)


def _exit_with_parent(parent_pid: int) -> None:
    # A killed build must not leave workers writing shards behind it.
    import time

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _build_one_shard_star(arguments):
    return build_one_shard(*arguments)


_TOKENIZERS: dict = {}


def packing_tokenizer(tokenizer_dir: Path):
    """The tokenizer in `tokenizer_dir`, loaded once per process, with no length limit."""
    if tokenizer_dir not in _TOKENIZERS:
        from atomlm.tokenizer import load_tokenizer

        tokenizer = load_tokenizer(tokenizer_dir)
        tokenizer.model_max_length = 1 << 62  # documents are packed here, not truncated
        _TOKENIZERS[tokenizer_dir] = tokenizer
    return _TOKENIZERS[tokenizer_dir]


def special_token_ids(tokenizer) -> tuple[int, int]:
    """(`<|endoftext|>` id, `<|pad|>` id) of an Atom tokenizer."""
    end_id = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    pad_id = tokenizer.convert_tokens_to_ids("<|pad|>")
    if end_id is None or pad_id is None or end_id == tokenizer.unk_token_id or pad_id == end_id:
        raise BuildError("the tokenizer lacks distinct <|endoftext|> and <|pad|> tokens")
    return end_id, pad_id


def encoded_documents(texts: Iterator[str], tokenizer, end_id: int,
                      first_batch: int = ENCODE_BATCH) -> Iterator[list[int]]:
    """The token ids of each text followed by `<|endoftext|>`, tokenized `first_batch` texts at a
    time, doubling up to `ENCODE_BATCH` (the texts are read lazily, a batch ahead: a caller that
    needs only a few documents passes a small `first_batch`, so it neither makes nor tokenizes
    hundreds it drops)."""
    batch_size = first_batch
    while True:
        batch = list(itertools.islice(texts, batch_size))
        batch_size = min(2 * batch_size, ENCODE_BATCH)
        if not batch:
            return
        for ids in tokenizer(batch, add_special_tokens=False)["input_ids"]:
            ids.append(end_id)
            yield ids


class RowPacker:
    """Packs documents into fixed-length rows without splitting any document that fits in a row."""

    def __init__(self, seq_len: int, pad_id: int, open_rows: int = OPEN_ROWS):
        self.seq_len, self.pad_id, self.max_open = seq_len, pad_id, open_rows
        self.open: list[list[int]] = []
        self.closed: list[list[int]] = []

    def add(self, ids: list[int]) -> None:
        seq_len = self.seq_len
        whole = len(ids) - len(ids) % seq_len
        for start in range(0, whole, seq_len):
            self.closed.append(ids[start : start + seq_len])
        piece = ids[whole:]
        if not piece:
            return
        # Best fit: the open row with the least room that still holds the piece.
        best = None
        for index, row in enumerate(self.open):
            room = seq_len - len(row)
            if room >= len(piece) and (best is None or room < seq_len - len(self.open[best])):
                best = index
        if best is None:
            if len(self.open) >= self.max_open:
                fullest = max(range(len(self.open)), key=lambda index: len(self.open[index]))
                self._close(self.open.pop(fullest))
            best = len(self.open)
            self.open.append([])
        self.open[best].extend(piece)
        if len(self.open[best]) == seq_len:
            self._close(self.open.pop(best))

    def _close(self, row: list[int]) -> None:
        self.closed.append(row + [self.pad_id] * (self.seq_len - len(row)))

    def finish(self) -> np.ndarray:
        for row in self.open:
            self._close(row)
        self.open = []
        if not self.closed:
            return np.zeros((0, self.seq_len), dtype=np.uint16)
        return np.asarray(self.closed, dtype=np.uint16)


def build_one_shard(job: ShardJob, context: BuildContext) -> dict:
    """Tokenize and pack one shard, write it atomically, and return its record."""
    tokenizer = packing_tokenizer(context.tokenizer_dir)
    end_id, pad_id = special_token_ids(tokenizer)
    if len(tokenizer) > 65536:
        raise BuildError(f"vocabulary of {len(tokenizer)} tokens does not fit uint16 shards")
    spec = context.specs[job.source]
    seq_len = context.seq_len
    # A source not held out by hash draws its validation rows from a seed stream of their own.
    split_seed = 0 if (job.split == "train" or spec.held_out_by_hash) else 1
    seed = stream_seed(context.seed, job.phase_index, job.source, split_seed)
    documents = iter_documents(
        spec,
        shard_index=job.shard_index,
        shard_count=job.shard_count,
        seed=seed,
        stages=job.stages or (4,),
        single_pass=(job.split == "val" and spec.repeats_in_epochs),
    )
    texts = (text for text in documents if in_split(spec, text, job.split))
    packer = RowPacker(seq_len, pad_id)
    tokens = documents_used = 0
    try:
        # The documents run out only in a single-pass validation source (its held-out documents).
        for ids in encoded_documents(texts, tokenizer, end_id):
            overshoot = tokens + len(ids) - job.token_target
            if documents_used and overshoot > job.token_target - tokens:
                break  # stopping short is closer to the target than taking this document
            packer.add(ids)
            tokens += len(ids)
            documents_used += 1
            if tokens >= job.token_target:
                break
    finally:
        close = getattr(documents, "close", None)
        if close:
            close()
    rows = packer.finish()
    out_dir = context.out_dir
    data_path = out_dir / f"{job.stem}.bin"
    temporary = data_path.with_suffix(f".bin.{os.getpid()}.tmp")  # one per process: never shared
    rows.tofile(temporary)
    os.replace(temporary, data_path)
    record = {
        **asdict(job),
        "stages": list(job.stages),
        "file": f"{job.stem}.bin",
        "seq_len": seq_len,
        "rows": int(rows.shape[0]),
        "documents": documents_used,
        "tokens": tokens,
        "sha256": file_sha256(data_path),
    }
    _write_json_atomically(out_dir / f"{job.stem}.json", record)
    return record


def _write_json_atomically(path: Path, data: dict) -> None:
    temporary = path.with_suffix(f"{path.suffix}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def _write_manifest(out_dir: Path, jobs: list[ShardJob], config: dict, curriculum: Curriculum,
                    tokenizer_dir: Path) -> Path:
    tokenizer = packing_tokenizer(tokenizer_dir)
    end_id, pad_id = special_token_ids(tokenizer)
    shards = {"train": [], "val": []}
    totals: dict = {}
    for job in jobs:
        record = json.loads((out_dir / f"{job.stem}.json").read_text(encoding="utf-8"))
        shards[job.split].append(record)
        key = f"{job.split}/{job.phase_index}/{job.source}"
        entry = totals.setdefault(key, {"split": job.split, "phase_index": job.phase_index, "phase": job.phase,
                                        "source": job.source, "documents": 0, "tokens": 0, "rows": 0})
        for field_name in ("documents", "tokens", "rows"):
            entry[field_name] += record[field_name]
    for phase_index, phase in enumerate(curriculum.phases, start=1):
        for source, target in phase.source_targets().items():
            totals[f"train/{phase_index}/{source}"]["target_tokens"] = target
    manifest = {
        **config,
        "dtype": "uint16",
        "tokenizer_dir": str(tokenizer_dir),
        "endoftext_id": end_id,
        "pad_id": pad_id,
        "shards": shards,
        "totals": list(totals.values()),
    }
    path = out_dir / "manifest.json"
    _write_json_atomically(path, manifest)
    return path
