"""`atomlm data stats DIR`: tokens per source and phase against the curriculum's targets."""

from __future__ import annotations

import json
from pathlib import Path

from atomlm.errors import UserError


def load_manifest(shard_dir: str | Path) -> dict:
    """The manifest of a built shard directory (with a clear error when it is missing)."""
    path = Path(shard_dir) / "manifest.json"
    if not path.is_file():
        raise UserError(f"{path} not found: build shards first with `atomlm data build --out {shard_dir}`")
    return json.loads(path.read_text(encoding="utf-8"))


def stats_rows(manifest: dict) -> list[dict]:
    """One row per train (phase, source) plus per-source totals, each with target, built and error %."""
    rows = []
    per_source: dict[str, dict] = {}
    for entry in manifest["totals"]:
        if entry["split"] != "train":
            continue
        row = {
            "phase": f"{entry['phase_index']}:{entry['phase']}",
            "source": entry["source"],
            "documents": entry["documents"],
            "rows": entry["rows"],
            "target_tokens": entry["target_tokens"],
            "tokens": entry["tokens"],
        }
        rows.append(row)
        total = per_source.setdefault(entry["source"], {"phase": "all", "source": entry["source"], "documents": 0,
                                                         "rows": 0, "target_tokens": 0, "tokens": 0})
        for key in ("documents", "rows", "target_tokens", "tokens"):
            total[key] += row[key]
    rows.extend(per_source.values())
    for row in rows:
        row["error_percent"] = 100.0 * (row["tokens"] - row["target_tokens"]) / row["target_tokens"]
    return rows


def format_stats(manifest: dict) -> str:
    """A plain-text table of `stats_rows`, then the validation split and padding summary."""
    header = f"{'phase':<24} {'source':<22} {'documents':>11} {'rows':>9} {'target tokens':>15} {'tokens':>15} {'error':>8}"
    lines = [header, "-" * len(header)]
    for row in stats_rows(manifest):
        lines.append(
            f"{row['phase']:<24} {row['source']:<22} {row['documents']:>11,} {row['rows']:>9,} "
            f"{row['target_tokens']:>15,} {row['tokens']:>15,} {row['error_percent']:>+7.2f}%"
        )
    seq_len = manifest["seq_len"]
    for split in ("train", "val"):
        shards = manifest["shards"].get(split, [])
        rows = sum(s["rows"] for s in shards)
        tokens = sum(s["tokens"] for s in shards)
        fill = 100.0 * tokens / (rows * seq_len) if rows else 0.0
        lines.append(f"{split}: {len(shards)} shards, {rows:,} rows x {seq_len}, {tokens:,} tokens ({fill:.1f}% non-pad)")
    lines.append(f"curriculum {manifest['curriculum']['name']!r}, tokenizer sha256 {manifest['tokenizer_sha256'][:16]}...")
    return "\n".join(lines)
