"""A run directory (`atomlm train --out`): what may be written into it, and its config.json.

config.json is written first and is what marks a directory as an atomlm run: `--resume`
compares the config it holds with the one given now, and a directory without it must be empty.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from atomlm.errors import UserError
from atomlm.training import checkpoint as checkpoints
from atomlm.training.config import ConfigError, TrainConfig, config_from_dict

CONFIG_FILE = "config.json"


def check_run_dir(run_dir: Path, config: TrainConfig, resume: bool) -> None:
    """Refuse an --out that this run must not write into: a file, a directory of someone else's
    files (a run would truncate a metrics.jsonl of the same name), an earlier run without
    --resume, or an earlier run with a different config (where metrics are reported,
    `run.report_to`, how many processes generate streamed rows, `data.stream_workers`, and the
    arithmetic precision, `run.precision` — a replacement machine may lack native bf16 — may
    change: they do not change what is trained). An earlier run that never reached a checkpoint
    starts again."""
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"--out {run_dir}: is a file, not a run directory; choose a new or empty directory")
    saved = _saved_run_config(run_dir)
    if saved is None:
        _require_empty(run_dir)
        return
    has_checkpoint = (checkpoints.checkpoints_dir(run_dir) / checkpoints.LATEST_FILE).exists()
    if has_checkpoint and not resume:
        raise ConfigError(f"{run_dir} already holds a run; pass --resume to continue it or choose another --out")
    if not resume:
        return
    saved = dataclasses.replace(saved, run=dataclasses.replace(saved.run, report_to=config.run.report_to,
                                                               precision=config.run.precision),
                                data=dataclasses.replace(saved.data, stream_workers=config.data.stream_workers))
    if saved != config:
        differences = [
            f"{section}.{key}: saved {value!r}, now {config.to_dict()[section].get(key)!r}"
            for section, values in saved.to_dict().items()
            for key, value in values.items()
            if config.to_dict()[section].get(key) != value
        ]
        raise ConfigError(f"--resume with a config that differs from {run_dir / CONFIG_FILE}: " + "; ".join(differences))


def write_run_config(run_dir: Path, config: TrainConfig) -> None:
    """Write config.json atomically (creating the directory)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    temporary = run_dir / f".{CONFIG_FILE}.tmp"
    temporary.write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    os.replace(temporary, run_dir / CONFIG_FILE)


def _saved_run_config(run_dir: Path) -> TrainConfig | None:
    """The config an earlier atomlm run saved in `run_dir`, None when there is no config.json."""
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        return config_from_dict(json.loads(path.read_text()), source=str(path))
    except (json.JSONDecodeError, ConfigError) as error:
        raise UserError(
            f"--out {run_dir}: not an atomlm run directory ({path} is not a run config: {error}); "
            "choose a new or empty directory"
        ) from None


def _require_empty(run_dir: Path) -> None:
    if not run_dir.is_dir():
        return
    names = sorted(entry.name for entry in run_dir.iterdir())
    if names:
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise UserError(
            f"--out {run_dir}: not an atomlm run directory (no {CONFIG_FILE}) and not empty (holds {shown}); "
            "choose a new or empty directory"
        )
