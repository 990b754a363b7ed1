"""Training configuration: one frozen dataclass per concern, loaded from a preset or a JSON file.

A config file is a JSON object with up to four sections, each optional (missing keys keep
their defaults):

    {"model": {...ModelSettings}, "data": {...DataSettings},
     "optim": {...OptimSettings}, "run": {...RunSettings}}

A file may name another one to start from, `"extends": "<preset or path>"` (a path relative to
the file), and set only what differs: its sections' fields replace the base's field by field
(objects such as `model.overrides` merge key by key).

Presets live beside this module in `presets/<name>.json`. The resolved config (every field,
after overrides) is what a run saves as `config.json` and what `--resume` compares against.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atomlm.data import LOSS_ON
from atomlm.errors import UserError

OPTIMIZERS = ("adamw", "muon")
# optim.muon_matrices: the blocks' modules whose projection matrices Muon takes (the rest: AdamW).
MUON_MATRICES = {"all": (".attn.", ".mlp."), "attention": (".attn.",), "mlp": (".mlp.",)}

PRESET_DIR = Path(__file__).parent / "presets"
# Where metrics go besides metrics.jsonl (`run.report_to`, `atomlm train --report-to`).
REPORT_TARGETS = ("none", "tensorboard", "wandb")
PRECISIONS = ("auto", "bf16", "fp32")
# optim.schedule: after the warmup, cosine decay, warmup-stable-decay (WSD) or a constant rate.
SCHEDULES = ("cosine", "wsd", "constant")
DEVICES = ("auto", "cpu", "cuda")


class ConfigError(UserError):
    """A training config that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class ModelSettings:
    """Architecture. The ablation flags are explicit; any other `AtomConfig` field goes in
    `overrides` (e.g. {"num_hidden_layers": 2, "hidden_size": 64} for a tiny test model)."""

    use_place_ids: bool = True
    use_role_ids: bool = True
    use_xsa: bool = True
    overrides: dict = field(default_factory=dict)
    # A run directory whose latest checkpoint gives the starting weights, one checkpoint folder,
    # or an exported model directory such as pretrained/atom2.7m (continued pretraining);
    # optimizer, schedule and data position start fresh. Same architecture and tokenizer only.
    init_from: str | None = None

    def atom_config_kwargs(self) -> dict:
        """Keyword arguments for `AtomConfig(**kwargs)`."""
        return {
            **self.overrides,
            "use_place_ids": self.use_place_ids,
            "use_role_ids": self.use_role_ids,
            "use_xsa": self.use_xsa,
        }


@dataclass(frozen=True)
class DataSettings:
    """Which tokens the model sees, in which order.

    `shard_cache_dir` None means `shards/` in the user cache directory (`$ATOMLM_CACHE_DIR`, else
    `$XDG_CACHE_HOME/atomlm`, else `~/.cache/atomlm`); the shards of one
    curriculum+tokenizer+seq_len live in a sub-directory keyed by their hash.

    `stream`: generate the rows while training runs instead of building shards first
    (`atomlm.data.stream`; curricula of Synthetic-Arithmetic, mathematics and KJV sources), in
    `stream_workers` processes per rank (0: in the training process). The rows do not depend on
    `stream_workers`, so it may change on --resume.

    `loss_on`: "all" supervises every real token; "answers" leaves the question of each equation
    (its arithmetic span up to and including "=") unsupervised, so the loss is on answers and
    text only. The validation loss stays on all tokens.
    """

    curriculum: str = "offline"
    tokenizer_dir: str | None = None
    seq_len: int = 512
    shard_cache_dir: str | None = None
    build_workers: int = 1
    seed: int = 0
    stream: bool = False
    stream_workers: int = 1
    loss_on: str = "all"


@dataclass(frozen=True)
class OptimSettings:
    """Optimiser, schedule and batch geometry.

    `global_batch_size` sequences make one optimiser step whatever the world size: each process
    runs `global_batch_size / (micro_batch_size * world_size)` micro-steps (gradient
    accumulation), which must be a whole number.
    """

    max_steps: int = 1000
    global_batch_size: int = 32
    micro_batch_size: int = 16
    lr: float = 3e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 50
    schedule: str = "cosine"  # one of SCHEDULES
    decay_fraction: float = 0.2  # wsd: the last fraction of steps that decays linearly
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0
    fused: bool = True  # fused AdamW where the build supports it
    # "adamw", or "muon": torch.optim.Muon on the blocks' projection matrices (lr matched to
    # AdamW's update RMS), AdamW on embeddings and norms (training/optimizers.py).
    optimizer: str = "adamw"
    muon_momentum: float = 0.95
    muon_matrices: str = "all"  # muon: "all" | "attention" (q, k, v, o) | "mlp" (gate, up, down)


@dataclass(frozen=True)
class RunSettings:
    """How the run executes and what it records."""

    seed: int = 1337
    device: str = "auto"  # one of DEVICES
    # "auto": bf16 autocast where the device computes bf16 natively (CUDA with bf16, a CPU with
    # AVX-512/AMX bf16), else fp32 (on an AVX2-only CPU bf16 runs about 12x slower); "bf16" | "fp32".
    # May change on --resume: it is how this machine computes, not what is trained.
    precision: str = "auto"
    compile: bool = False
    threads: int = 0  # torch intra-op threads; 0 keeps torch's default
    log_every: int = 1
    checkpoint_every_steps: int = 100
    checkpoint_every_minutes: float = 0.0  # 0 disables time-based checkpoints
    keep_checkpoints: int = 2
    eval_every_steps: int = 100
    val_batches: int = 4
    arithmark_rows: int = 200
    arithmark_batch_size: int = 64
    # "tensorboard": event files in RUN_DIR/tensorboard; "wandb": a Weights & Biases run
    # (WANDB_MODE=offline keeps it in RUN_DIR/wandb). May change on --resume.
    report_to: str = "none"
    # Bounds each collective, including other ranks waiting while rank 0 builds shards on first
    # use; for big curricula run `atomlm data build` first rather than raising this.
    distributed_timeout_minutes: float = 60.0


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs, one section per concern."""

    model: ModelSettings = field(default_factory=ModelSettings)
    data: DataSettings = field(default_factory=DataSettings)
    optim: OptimSettings = field(default_factory=OptimSettings)
    run: RunSettings = field(default_factory=RunSettings)

    def to_dict(self) -> dict:
        """Plain JSON-serialisable dict (the resolved config saved in a run directory)."""
        return dataclasses.asdict(self)

    def tokens_per_step(self) -> int:
        return self.optim.global_batch_size * self.data.seq_len

    def accumulation_steps(self, world_size: int) -> int:
        """Micro-steps per optimiser step on each process; raises if the batch does not divide."""
        per_step = self.optim.micro_batch_size * world_size
        if self.optim.global_batch_size % per_step != 0:
            raise ConfigError(
                f"optim.global_batch_size ({self.optim.global_batch_size}) must be a multiple of "
                f"optim.micro_batch_size ({self.optim.micro_batch_size}) x world size ({world_size})"
            )
        return self.optim.global_batch_size // per_step


_SECTIONS = {"model": ModelSettings, "data": DataSettings, "optim": OptimSettings, "run": RunSettings}


def config_from_dict(raw: dict, source: str = "<dict>") -> TrainConfig:
    """Build a validated `TrainConfig` from a dict shaped like a config file."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a JSON object with sections {sorted(_SECTIONS)}")
    unknown = set(raw) - set(_SECTIONS)
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {sorted(unknown)}; expected {sorted(_SECTIONS)}")
    sections = {}
    for name, cls in _SECTIONS.items():
        values = raw.get(name, {})
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: section '{name}' must be an object, got {type(values).__name__}")
        known = {f.name: f for f in dataclasses.fields(cls)}
        bad = set(values) - set(known)
        if bad:
            raise ConfigError(f"{source}: section '{name}' has unknown field(s) {sorted(bad)}; known: {sorted(known)}")
        sections[name] = cls(**checked_fields(cls, values, f"{source}: {name}"))
    config = TrainConfig(**sections)
    validate(config, source)
    return config


def checked_fields(cls, values: dict, where: str) -> dict:
    """`values` with each field checked against its annotation in `cls` (ints widened to float
    where a float is expected), so a wrong type stops here, before a run directory exists,
    instead of failing mid-run or (a string "no" for a bool) silently meaning true."""
    hints = typing.get_type_hints(cls)
    return {key: _checked_value(value, hints[key], f"{where}.{key}") for key, value in values.items()}


def _checked_value(value: Any, expected: Any, where: str) -> Any:
    allowed = typing.get_args(expected) if isinstance(expected, types.UnionType) else (expected,)
    for kind in allowed:
        if kind is type(None) and value is None:
            return None
        if kind is bool and isinstance(value, bool):
            return value
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if kind in (str, dict) and isinstance(value, kind):
            return value
    wanted = " or ".join(_TYPE_WORDS[kind] for kind in allowed)
    raise ConfigError(f"{where}: expected {wanted}, got {json.dumps(value)}")


# How a config error names the JSON value a field expects.
_TYPE_WORDS = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    dict: "an object",
    type(None): "null",
}


def validate(config: TrainConfig, source: str = "<config>") -> None:
    """Reject values that would fail later in a less readable way."""
    o, r, d = config.optim, config.run, config.data
    checks = [
        (o.max_steps > 0, "optim.max_steps must be positive"),
        (o.micro_batch_size > 0, "optim.micro_batch_size must be positive"),
        (o.global_batch_size % o.micro_batch_size == 0, "optim.global_batch_size must be a multiple of optim.micro_batch_size"),
        (o.schedule in SCHEDULES, f"optim.schedule must be {'|'.join(SCHEDULES)}, got {o.schedule!r}"),
        (o.optimizer in OPTIMIZERS, f"optim.optimizer must be {'|'.join(OPTIMIZERS)}, got {o.optimizer!r}"),
        (0.0 <= o.muon_momentum < 1.0, "optim.muon_momentum must be in [0, 1)"),
        (o.muon_matrices in MUON_MATRICES, f"optim.muon_matrices must be {'|'.join(MUON_MATRICES)}, "
                                           f"got {o.muon_matrices!r}"),
        (0.0 <= o.min_lr_ratio <= 1.0, "optim.min_lr_ratio must be in [0, 1]"),
        (0.0 < o.decay_fraction <= 1.0, "optim.decay_fraction must be in (0, 1]"),
        (o.warmup_steps >= 0, "optim.warmup_steps must be >= 0"),
        (r.precision in PRECISIONS, f"run.precision must be {'|'.join(PRECISIONS)}, got {r.precision!r}"),
        (r.device in DEVICES, f"run.device must be {'|'.join(DEVICES)}, got {r.device!r}"),
        (d.seq_len > 1, "data.seq_len must be > 1"),
        (d.build_workers >= 1, "data.build_workers must be >= 1"),
        (d.loss_on in LOSS_ON, f"data.loss_on must be {'|'.join(LOSS_ON)}, got {d.loss_on!r}"),
        (d.stream_workers >= 0, f"data.stream_workers must be >= 0 (0 generates streamed rows in the training "
                                f"process), got {d.stream_workers}"),
        (r.log_every > 0, "run.log_every must be positive"),
        (r.report_to in REPORT_TARGETS, f"run.report_to must be {'|'.join(REPORT_TARGETS)}, got {r.report_to!r}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"{source}: {message}")


def config_file(preset_or_path: str) -> Path:
    """The JSON file of a preset name (`smoke`, `cpu`, `atom2.7m`, ...) or of a config file path."""
    path = Path(preset_or_path)
    if not path.suffix == ".json" or not path.exists():
        candidate = PRESET_DIR / f"{preset_or_path}.json"
        if candidate.exists():
            return candidate
        if not path.exists():
            raise ConfigError(
                f"no preset or config file named {preset_or_path!r}; presets: {', '.join(list_presets())}"
            )
    return path


def load_config(preset_or_path: str) -> TrainConfig:
    """Load a preset by name (`smoke`, `cpu`, `atom2.7m`) or a JSON config file by path."""
    path = config_file(preset_or_path)
    return config_from_dict(_merged_config_dict(path, chain=()), source=str(path))


EXTENDS = "extends"


def load_config_dict(preset_or_path: str) -> dict:
    """A preset's or config file's sections as written, with its `extends` chain merged in."""
    return _merged_config_dict(config_file(preset_or_path), chain=())


def _merged_config_dict(path: Path, chain: tuple[Path, ...]) -> dict:
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}: line {error.lineno}: invalid JSON ({error.msg})") from None
    if not isinstance(raw, dict) or EXTENDS not in raw:
        return raw
    base_name = raw.pop(EXTENDS)
    if not isinstance(base_name, str):
        raise ConfigError(f"{path}: \"{EXTENDS}\" must be a preset name or a config file path, got {json.dumps(base_name)}")
    relative = path.parent / base_name
    base_path = config_file(str(relative) if relative.suffix == ".json" and relative.is_file() else base_name)
    if base_path.resolve() in {*chain, path.resolve()}:
        loop = " -> ".join(str(p) for p in (*chain, path.resolve(), base_path.resolve()))
        raise ConfigError(f"{path}: \"{EXTENDS}\" makes a loop: {loop}")
    return _merge(_merged_config_dict(base_path, (*chain, path.resolve())), raw)


def _merge(base: Any, override: Any) -> Any:
    """`override` over `base`: objects merge key by key, anything else replaces."""
    if not isinstance(base, dict) or not isinstance(override, dict):
        return override
    return {**base, **{key: _merge(base.get(key), value) for key, value in override.items()}}


def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


def apply_overrides(config: TrainConfig, assignments: list[str]) -> TrainConfig:
    """Apply `section.field=value` assignments (value parsed as JSON, else taken as a string).

    `model.overrides.<name>=value` sets one AtomConfig field.
    """
    raw = config.to_dict()
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) < 2 or parts[0] not in raw:
            raise ConfigError(f"--set {assignment!r}: expected section.field=value with section in {sorted(raw)}")
        try:
            value: Any = json.loads(text)
        except json.JSONDecodeError:
            value = text
        target = raw[parts[0]]
        for part in parts[1:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return config_from_dict(raw, source="--set")
