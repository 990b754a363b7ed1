"""Pretraining curricula: phases, each with a token budget and per-source weights.

A curriculum file (`pretraining_curriculum.json`) looks like

    {"name": "offline", "description": "...",
     "sources": {"my-web": {"path": "data/web/"}},            # optional: local/overridden sources
     "phases": [{"name": "language", "tokens": 6000000,
                 "sources": {"kjv": {"weight": 3},
                             "synthetic-arithmetic": {"weight": 2, "stage": [1, 2]}}}]}

Within a phase, a source's token target is `tokens * weight / sum(weights)`. `stage` (an int or
a list of ints, mixed uniformly) applies to `synthetic-arithmetic` only. Shipped curricula live
in `atomlm/data/curricula/` and load by name (`shipped_curricula()` lists them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from atomlm.data.arithmetic import STAGES
from atomlm.data.sources import SOURCES, SourceError, SourceSpec, resolve_source
from atomlm.errors import UserError

CURRICULA_DIR = Path(__file__).resolve().parent / "curricula"
ARITHMETIC_SOURCE = "synthetic-arithmetic"


class CurriculumError(UserError):
    """A curriculum file is malformed; the message names the file, phase and source."""


@dataclass(frozen=True)
class PhaseSource:
    """One source's share of a phase."""

    name: str
    weight: float
    stages: tuple[int, ...] = ()


@dataclass(frozen=True)
class Phase:
    name: str
    tokens: int
    sources: tuple[PhaseSource, ...]

    def source_targets(self) -> dict[str, int]:
        """Token target per source; the rounding remainder goes to the largest share so the
        targets sum exactly to the phase budget."""
        total_weight = sum(Fraction(str(source.weight)) for source in self.sources)
        targets = {
            source.name: int(Fraction(self.tokens) * Fraction(str(source.weight)) / total_weight)
            for source in self.sources
        }
        largest = max(self.sources, key=lambda source: source.weight).name
        targets[largest] += self.tokens - sum(targets.values())
        return targets


@dataclass(frozen=True)
class Curriculum:
    name: str
    phases: tuple[Phase, ...]
    description: str = ""
    source_definitions: dict = field(default_factory=dict)
    path: str = ""

    @property
    def total_tokens(self) -> int:
        return sum(phase.tokens for phase in self.phases)

    def source_spec(self, name: str) -> SourceSpec:
        """The resolved spec of a source used by this curriculum."""
        return resolve_source(name, self.source_definitions.get(name))

    def source_totals(self) -> dict[str, int]:
        """Token target per source summed over phases."""
        totals: dict[str, int] = {}
        for phase in self.phases:
            for name, tokens in phase.source_targets().items():
                totals[name] = totals.get(name, 0) + tokens
        return totals

    def with_source_paths(self, paths: dict[str, str]) -> "Curriculum":
        """A copy whose named sources read local files (`--source-path NAME=PATH`)."""
        definitions = {name: dict(value) for name, value in self.source_definitions.items()}
        for name, path in paths.items():
            definitions.setdefault(name, {})["path"] = path
        data = self.to_json()
        data["sources"] = definitions
        return parse_curriculum(data, origin=self.path or "<curriculum>")

    def to_json(self) -> dict:
        data: dict = {"name": self.name}
        if self.description:
            data["description"] = self.description
        if self.source_definitions:
            data["sources"] = {name: dict(value) for name, value in self.source_definitions.items()}
        data["phases"] = []
        for phase in self.phases:
            sources = {}
            for source in phase.sources:
                entry: dict = {"weight": source.weight}
                if source.stages:
                    entry["stage"] = source.stages[0] if len(source.stages) == 1 else list(source.stages)
                sources[source.name] = entry
            data["phases"].append({"name": phase.name, "tokens": phase.tokens, "sources": sources})
        return data


def shipped_curricula() -> list[str]:
    """Names of the curricula shipped in `atomlm/data/curricula/`."""
    return sorted(path.stem for path in CURRICULA_DIR.glob("*.json"))


def load_curriculum(path_or_name: str | Path) -> Curriculum:
    """Load and validate a curriculum from a JSON file or a shipped name (one of `shipped_curricula()`)."""
    path = Path(path_or_name)
    if not path.is_file():
        shipped = CURRICULA_DIR / f"{path_or_name}.json"
        if not shipped.is_file():
            raise CurriculumError(
                f"{path_or_name}: no such file and not a shipped curriculum ({', '.join(shipped_curricula())})"
            )
        path = shipped
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise CurriculumError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from error
    return parse_curriculum(data, origin=str(path))


def parse_curriculum(data: dict, origin: str = "<curriculum>") -> Curriculum:
    """Validate a curriculum's JSON object; every error names `origin`, the phase and the source."""

    def fail(message: str):
        raise CurriculumError(f"{origin}: {message}")

    if not isinstance(data, dict):
        fail("expected a JSON object with 'name' and 'phases'")
    unknown = set(data) - {"name", "description", "sources", "phases"}
    if unknown:
        fail(f"unknown top-level keys {sorted(unknown)}")
    definitions = data.get("sources") or {}
    if not isinstance(definitions, dict):
        fail("'sources' must be an object mapping source names to {path|dataset_id, ...}")
    for name, definition in definitions.items():
        if not isinstance(definition, dict):
            fail(f"sources.{name}: expected an object such as {{\"path\": \"data/web/\"}}")
        try:
            resolve_source(name, definition)
        except SourceError as error:
            fail(f"sources.{name}: {error}")
    phases_data = data.get("phases")
    if not isinstance(phases_data, list) or not phases_data:
        fail("'phases' must be a non-empty list")
    phases = []
    seen_names = set()
    for index, phase_data in enumerate(phases_data, start=1):
        label = f"phase {index}"
        if not isinstance(phase_data, dict):
            fail(f"{label}: expected an object with 'name', 'tokens', 'sources'")
        phase_name = phase_data.get("name", f"phase-{index}")
        label = f"phase {index} ({phase_name!r})"
        if phase_name in seen_names:
            fail(f"{label}: duplicate phase name")
        seen_names.add(phase_name)
        unknown = set(phase_data) - {"name", "tokens", "sources", "description"}
        if unknown:
            fail(f"{label}: unknown keys {sorted(unknown)}")
        tokens = phase_data.get("tokens")
        if isinstance(tokens, float) and tokens.is_integer():
            tokens = int(tokens)
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens <= 0:
            fail(f"{label}: 'tokens' must be a positive integer, got {tokens!r}")
        sources_data = phase_data.get("sources")
        if not isinstance(sources_data, dict) or not sources_data:
            fail(f"{label}: empty phase - 'sources' must map at least one source to {{\"weight\": ...}}")
        sources = []
        for source_name, entry in sources_data.items():
            where = f"{label}, source {source_name!r}"
            if source_name not in SOURCES and source_name not in definitions:
                fail(
                    f"{where}: unknown source; known: {', '.join(sorted(SOURCES))} "
                    "(or define it under the top-level 'sources' with a 'path')"
                )
            if isinstance(entry, (int, float)) and not isinstance(entry, bool):
                entry = {"weight": entry}
            if not isinstance(entry, dict):
                fail(f"{where}: expected {{\"weight\": number}}")
            unknown = set(entry) - {"weight", "stage"}
            if unknown:
                fail(f"{where}: unknown keys {sorted(unknown)}")
            weight = entry.get("weight")
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
                fail(f"{where}: weight must be a positive number, got {weight!r}")
            stages = _parse_stages(entry.get("stage"), source_name, where, fail)
            sources.append(PhaseSource(source_name, weight, stages))
        phases.append(Phase(str(phase_name), tokens, tuple(sources)))
    return Curriculum(
        name=str(data.get("name") or Path(origin).stem),
        phases=tuple(phases),
        description=str(data.get("description", "")),
        source_definitions={name: dict(value) for name, value in definitions.items()},
        path=origin,
    )


def _parse_stages(value, source_name: str, where: str, fail) -> tuple[int, ...]:
    if value is None:
        return (4,) if source_name == ARITHMETIC_SOURCE else ()
    if source_name != ARITHMETIC_SOURCE:
        fail(f"{where}: 'stage' applies only to {ARITHMETIC_SOURCE}")
    stages = value if isinstance(value, list) else [value]
    if not stages or any(isinstance(s, bool) or not isinstance(s, int) or s not in STAGES for s in stages):
        fail(f"{where}: stage must be one of {sorted(STAGES)} or a non-empty list of them, got {value!r}")
    return tuple(stages)
