"""The training loop: the same code on one CPU process, one GPU, or N processes under torchrun.

One optimiser step consumes `global_batch_size` sequences whatever the world size: each process
runs `accumulation` micro-steps of `micro_batch_size` rows. The loss is the summed token loss
divided by the number of supervised tokens of the whole global batch (all-reduced before the
backward passes), multiplied by the world size to undo DDP's gradient averaging, so gradients
equal those of one process seeing the global batch at once.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import random
import signal
import time
from pathlib import Path

import numpy as np
import torch

from atomlm.data.shards import shard_fingerprint
from atomlm.errors import UserError
from atomlm.training import checkpoint as checkpoints
from atomlm.training import distributed
from atomlm.training.config import ConfigError, TrainConfig, config_from_dict
from atomlm.training.interrupt import StopOnSignals, TrainingInterrupted
from atomlm.training.metrics import PLOT_FILE, RunRecorder, plot_metrics
from atomlm.training.periodic_eval import ArithmarkProbe, validation_loss
from atomlm.training.schedule import build_scheduler
from atomlm.versions import software_record
from atomlm.training.shard_cache import prepare_shards

class NonFiniteLossError(UserError):
    """The loss became NaN or inf; the run stops and keeps its last good checkpoint."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def atom_config_kwargs(config: TrainConfig, tokenizer) -> dict:
    """AtomConfig arguments: the ids the tokenizer gives its special tokens and its arithmetic
    vocabulary (the digits, operators and space that place/role ids are derived from), then the
    model settings (explicit `model.overrides` win). A tokenizer that is not a fusion tokenizer
    is refused: the model's features would be computed from the wrong ids."""
    from atomlm.tokenizer.training import arithmetic_vocabulary
    from atomlm.training.shard_cache import tokenizer_directory

    where = f"data.tokenizer_dir {tokenizer_directory(config.data)}"
    try:
        kwargs = arithmetic_vocabulary(tokenizer.backend_tokenizer)
    except ValueError as error:
        raise ConfigError(f"{where}: {error}") from None
    for name in ("bos", "eos", "pad"):
        token_id = getattr(tokenizer, f"{name}_token_id")
        if token_id is None:
            raise ConfigError(f"{where}: the tokenizer has no {name} token; it is not a fusion tokenizer")
        kwargs[f"{name}_token_id"] = token_id
    kwargs.update(config.model.atom_config_kwargs())
    return kwargs


def _training_mask(attention_mask: torch.Tensor) -> torch.Tensor | None:
    """None when every row's padding is at the end: causal attention never lets a real token see a
    later pad, and pads carry label -100, so the loss is unchanged while attention takes the
    fast causal path instead of an explicit mask."""
    if bool((attention_mask[:, 1:] <= attention_mask[:, :-1]).all()):
        return None
    return attention_mask


def _autocast_factory(device: torch.device, precision: str):
    if precision == "bf16":
        return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


def _build_optimizer(model: torch.nn.Module, config: TrainConfig, device: torch.device):
    """AdamW; weight decay on matrices only (not norms), fused when the build supports it."""
    settings = config.optim
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": settings.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    options = dict(lr=settings.lr, betas=(settings.beta1, settings.beta2), eps=settings.eps)
    if settings.fused:
        try:
            return torch.optim.AdamW(groups, fused=True, **options), True
        except (RuntimeError, ValueError):
            pass  # this build/device has no fused kernel
    return torch.optim.AdamW(groups, **options), False


CONFIG_FILE = "config.json"


def _check_run_dir(run_dir: Path, config: TrainConfig, resume: bool) -> None:
    """Refuse an --out that this run must not write into: a file, a directory of someone else's
    files (a run would truncate a metrics.jsonl of the same name), an earlier run without
    --resume, or an earlier run with a different config. An earlier run that never reached a
    checkpoint starts again."""
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"--out {run_dir}: is a file, not a run directory; choose a new or empty directory")
    saved = _saved_run_config(run_dir)
    if saved is None:
        _require_empty(run_dir)
        return
    has_checkpoint = (checkpoints.checkpoints_dir(run_dir) / checkpoints.LATEST_FILE).exists()
    if has_checkpoint and not resume:
        raise ConfigError(f"{run_dir} already holds a run; pass --resume to continue it or choose another --out")
    if resume and saved != config:
        differences = [
            f"{section}.{key}: saved {value!r}, now {config.to_dict()[section].get(key)!r}"
            for section, values in saved.to_dict().items()
            for key, value in values.items()
            if config.to_dict()[section].get(key) != value
        ]
        raise ConfigError(f"--resume with a config that differs from {run_dir / CONFIG_FILE}: " + "; ".join(differences))


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


def _write_run_config(run_dir: Path, config: TrainConfig) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    temporary = run_dir / f".{CONFIG_FILE}.tmp"
    temporary.write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    os.replace(temporary, run_dir / CONFIG_FILE)


def _check_same_shards(meta: dict, fingerprint: str, shard_dir: Path, checkpoint: Path) -> None:
    """--resume must read the tokens the run started on: a shard cache rebuilt under the same key
    (another package version, a hand edit) would otherwise silently change the data mid-run."""
    saved = meta.get("record", {}).get("shard_fingerprint")
    if saved is not None and saved != fingerprint:
        raise UserError(
            f"--resume: the shards in {shard_dir} are not those this run trained on (fingerprint {fingerprint[:12]}..., "
            f"{checkpoint / checkpoints.META_FILE} records {saved[:12]}...); the shard cache was rebuilt or changed. "
            "Restore those shards, or train on these in a new run (another --out)"
        )


def _hardware(context, fused: bool) -> dict:
    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": str(context.device),
        "world_size": context.world_size,
        "fused_adamw": fused,
    }
    if context.device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(context.device)
    return info


def _log_curriculum_coverage(loader, config: TrainConfig, log) -> None:
    """Say how much of the curriculum the run's token budget reaches: a budget shorter than the
    curriculum never sees its last phases; a longer one repeats it."""
    run_rows = config.optim.max_steps * config.optim.global_batch_size
    reached = []
    for name, first_row, _end_row in loader.phase_boundaries():
        if first_row < run_rows:
            reached.append(name)
    log(
        f"data: {loader.num_rows:,} train rows of {config.data.seq_len} tokens; the run uses {run_rows:,} rows "
        f"({run_rows / loader.num_rows:.2f} passes), reaching phases {', '.join(reached) or 'none'}"
    )


def _load_initial_weights(model, run_dir, log) -> None:
    """Start from the weights of another run's latest checkpoint (continued pretraining)."""
    initial, record = checkpoints.load_model_from_run(run_dir)
    try:
        model.load_state_dict(initial.state_dict())
    except RuntimeError as error:
        raise ConfigError(
            f"model.init_from={run_dir}: its architecture does not match this config ({str(error).splitlines()[0]})"
        ) from None
    log(f"initialised from {run_dir} (step {record.get('steps')}, {record.get('tokens_seen') or 0:,} tokens)")


def train(config: TrainConfig, run_dir, resume: bool = False, progress: bool = True) -> dict:
    """Train (or continue with `resume`) a model into `run_dir`; returns the final record."""
    context = distributed.init_distributed(config.run.device, config.run.distributed_timeout_minutes)
    try:
        return _train(config, Path(run_dir), resume, progress, context)
    finally:
        distributed.shutdown(context)


def _train(config: TrainConfig, run_dir: Path, resume: bool, progress: bool, context) -> dict:
    from atomlm.data.loader import TokenBatchLoader
    from atomlm.modeling.configuration_atom import AtomConfig
    from atomlm.modeling.modeling_atom import AtomForCausalLM
    from atomlm.training.shard_cache import tokenizer_directory
    from atomlm.tokenizer import load_tokenizer

    started = time.time()
    if config.run.threads > 0:
        torch.set_num_threads(config.run.threads)
    _check_run_dir(run_dir, config, resume)
    distributed.barrier(context)  # every rank has judged the directory before rank 0 writes to it
    if context.is_main:
        _write_run_config(run_dir, config)  # first: it is what marks the directory as a run
    recorder = RunRecorder(run_dir, enabled=context.is_main)
    accumulation = config.accumulation_steps(context.world_size)
    seed_everything(config.run.seed)

    tokenizer = load_tokenizer(tokenizer_directory(config.data))
    shard_dir, curriculum_description = prepare_shards(
        config.data, context.is_main, lambda: distributed.barrier(context), recorder.log
    )
    shards = shard_fingerprint(shard_dir)

    model_kwargs = atom_config_kwargs(config, tokenizer)
    model = AtomForCausalLM(AtomConfig(**model_kwargs)).to(context.device)
    if len(tokenizer) > model.config.vocab_size:
        raise ConfigError(f"tokenizer has {len(tokenizer)} tokens but model.vocab_size is {model.config.vocab_size}")
    optimizer, fused = _build_optimizer(model, config, context.device)
    scheduler = build_scheduler(optimizer, config.optim)

    start_step, tokens_seen, wall_before, next_row = 0, 0, 0.0, 0
    latest = checkpoints.latest_checkpoint(run_dir) if resume else None
    if latest is not None:
        model_state, state, meta = checkpoints.load_checkpoint(latest)
        _check_same_shards(meta, shards, shard_dir, latest)
        model.load_state_dict(model_state)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        checkpoints.restore_rng_states(state["rng"])
        start_step, tokens_seen = meta["step"], meta["tokens_seen"]
        wall_before, next_row = meta.get("wall_time_s", 0.0), state["data"]["next_row"]
        recorder.truncate_after(start_step)
        resumed_record = meta.get("record", {})
        recorder.log(f"resumed from {latest} (step {start_step}, {tokens_seen:,} tokens)")
    else:
        recorder.truncate_after(0)  # metrics of an earlier attempt that never checkpointed
        if resume:
            recorder.log(f"--resume: no checkpoint in {run_dir} yet, starting fresh")
        if config.model.init_from:
            _load_initial_weights(model, config.model.init_from, recorder.log)

    raw_model = model
    if config.run.compile:
        model = torch.compile(model)
    model = distributed.wrap_model(model, context)
    model.train()
    autocast = _autocast_factory(context.device, config.run.precision)

    loader = TokenBatchLoader(
        shard_dir, config.optim.micro_batch_size, split="train",
        rank=context.rank, world_size=context.world_size, start_row=next_row, loop=True,
    )
    batches = iter(loader)
    _log_curriculum_coverage(loader, config, recorder.log)
    probe = ArithmarkProbe(tokenizer, config.run.arithmark_rows, config.run.arithmark_batch_size)

    parameters = sum(p.numel() for p in raw_model.parameters())
    total_steps = config.optim.max_steps
    recorder.log(
        f"parameters {parameters:,} | world size {context.world_size} | device {context.device} | "
        f"tokens/step {config.tokens_per_step():,} (global batch {config.optim.global_batch_size} x "
        f"seq {config.data.seq_len}, micro batch {config.optim.micro_batch_size}, accumulation {accumulation}) | "
        f"total steps {total_steps} | precision {config.run.precision} | fused AdamW {fused} | compile {config.run.compile}"
    )

    record = {
        "config": config.to_dict(),
        "atom_config": model_kwargs,
        "curriculum_name": config.data.curriculum,
        "curriculum": curriculum_description,
        "tokenizer_dir": str(tokenizer_directory(config.data).resolve()),
        "shard_fingerprint": shards,
        "parameters": parameters,
        "hardware": _hardware(context, fused),
        **software_record(),  # versions of torch, transformers, tokenizers, datasets ...; git commit
        "final_loss": None,
        "val_loss": None,
        "arithmark_acc": None,
    }
    if latest is not None:
        record.update({k: resumed_record.get(k) for k in ("final_loss", "val_loss", "arithmark_acc")})

    def save(step: int) -> Path | None:
        """Checkpoint `step` (rank 0 writes it); returns its directory on rank 0."""
        if not context.is_main:
            return None
        wall = wall_before + time.time() - started
        record.update(steps=step, tokens_seen=tokens_seen, wall_time_s=wall)
        state = {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": checkpoints.capture_rng_states(),
            "data": {"next_row": next_row + (step - start_step) * config.optim.global_batch_size},
        }
        meta = {"tokens_seen": tokens_seen, "wall_time_s": wall, "record": record}
        path = checkpoints.save_checkpoint(
            run_dir, step, raw_model.state_dict(), state, meta, keep=config.run.keep_checkpoints
        )
        recorder.log(f"checkpoint {path}")
        return path

    def evaluate(step: int) -> None:
        if context.is_main:
            entry = {"kind": "eval", "step": step, "tokens": tokens_seen}
            with torch.random.fork_rng(devices=[]):  # evaluation must not shift the training RNG
                val = validation_loss(
                    raw_model, shard_dir, batch_size=config.optim.micro_batch_size,
                    batches=config.run.val_batches, device=context.device, autocast=autocast,
                )
                if val is not None:
                    entry["val_loss"] = record["val_loss"] = val
                if probe.enabled:
                    entry["arithmark_acc"] = record["arithmark_acc"] = probe.accuracy(raw_model, context.device)
            recorder.metrics(entry)
            recorder.log(" | ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in entry.items()))
        distributed.barrier(context)

    progress_bar = contextlib.nullcontext()
    if context.is_main and progress:
        from tqdm import tqdm

        progress_bar = tqdm(total=total_steps, initial=start_step, unit="step", dynamic_ncols=True)
    last_checkpoint_time = time.time()
    window_start, window_tokens = time.time(), 0

    with StopOnSignals() as stop, progress_bar as bar:
        for step in range(start_step, total_steps):
            micro_batches = [next(batches) for _ in range(accumulation)]
            supervised = torch.zeros((), dtype=torch.int64, device=context.device)
            for batch in micro_batches:
                supervised += (batch["labels"][:, 1:] != -100).sum().to(context.device)
            distributed.all_reduce_sum(supervised, context)
            if int(supervised) == 0:
                raise RuntimeError(f"step {step + 1}: the global batch has no supervised tokens (all labels are -100)")

            step_loss = torch.zeros((), dtype=torch.float32, device=context.device)
            for index, batch in enumerate(micro_batches):
                with distributed.gradient_sync(model, sync=index == accumulation - 1), autocast():
                    output = model(
                        input_ids=batch["input_ids"].to(context.device),
                        attention_mask=_training_mask(batch["attention_mask"].to(context.device)),
                        labels=batch["labels"].to(context.device),
                        num_items_in_batch=supervised,
                        use_cache=False,
                    )
                (output.loss * context.world_size).backward()
                step_loss += output.loss.detach().float()
            distributed.all_reduce_sum(step_loss, context)
            loss = float(step_loss)
            if not math.isfinite(loss):
                message = (
                    f"loss is {loss} at step {step + 1}; stopping. The last good checkpoint is "
                    f"{checkpoints.latest_checkpoint(run_dir) or 'none (no checkpoint was written yet)'}; "
                    "lower optim.lr or raise warmup, then --resume"
                )
                recorder.log(message)
                raise NonFiniteLossError(message)

            clip = config.optim.grad_clip if config.optim.grad_clip > 0 else float("inf")  # <= 0: measure only
            grad_norm = torch.nn.utils.clip_grad_norm_(raw_model.parameters(), clip)
            learning_rate = scheduler.get_last_lr()[0]
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)

            done = step + 1
            tokens_seen += config.tokens_per_step()
            window_tokens += config.tokens_per_step()
            record["final_loss"] = loss
            if done % config.run.log_every == 0 or done == total_steps:
                elapsed = max(1e-9, time.time() - window_start)
                throughput = window_tokens / elapsed
                recorder.metrics({
                    "kind": "train", "step": done, "tokens": tokens_seen, "loss": loss,
                    "lr": learning_rate, "grad_norm": float(grad_norm), "tokens_per_s": throughput,
                })
                window_start, window_tokens = time.time(), 0
                if bar is not None:
                    bar.set_postfix(loss=f"{loss:.4f}", tok_s=f"{throughput:,.0f}", refresh=False)
            if bar is not None:
                bar.update(1)

            if config.run.eval_every_steps > 0 and (done % config.run.eval_every_steps == 0 or done == total_steps):
                evaluate(done)
            due_by_time = config.run.checkpoint_every_minutes > 0 and (
                time.time() - last_checkpoint_time >= 60 * config.run.checkpoint_every_minutes
            )
            due_by_time = distributed.broadcast_flag(due_by_time, context)
            checkpoint = None
            if done == total_steps or due_by_time or (
                config.run.checkpoint_every_steps > 0 and done % config.run.checkpoint_every_steps == 0
            ):
                checkpoint = save(done)
                last_checkpoint_time = time.time()
            stop_signal = distributed.max_over_ranks(stop.received, context)
            if stop_signal and done < total_steps:
                recorder.log(f"{signal.Signals(stop_signal).name} received: stopping after step {done}")
                checkpoint = checkpoint or save(done)
                distributed.barrier(context)  # no rank exits before the checkpoint is complete
                raise TrainingInterrupted(stop_signal, done, checkpoint, announce=context.is_main)
            if window_tokens == 0:
                window_start = time.time()  # throughput counts training time, not eval/checkpoint pauses

    if context.is_main:
        plot = plot_metrics(recorder.metrics_path, run_dir / PLOT_FILE)
        record["plot_path"] = str(plot) if plot else None
        record["wall_time_s"] = wall_before + time.time() - started
        recorder.log(
            f"done: {total_steps} steps, {tokens_seen:,} tokens, final loss {record['final_loss']}, "
            f"wall {record['wall_time_s']:.1f}s, plot {record['plot_path']}"
        )
    recorder.close()
    return record
