"""The training loop: the same code on one CPU process, one GPU, or N processes under torchrun.

One optimiser step consumes `global_batch_size` sequences whatever the world size: each process
runs `accumulation` micro-steps of `micro_batch_size` rows. The loss is the summed token loss
divided by the number of supervised tokens of the whole global batch (all-reduced before the
backward passes), multiplied by the world size to undo DDP's gradient averaging, so gradients
equal those of one process seeing the global batch at once.

Read in order: `train` builds a `Trainer`, whose `__init__` sets the run up (run directory,
data, model, optimizer, the checkpoint it resumes from) and whose `fit` is the loop: each step
`train_step`, then, when due, `evaluate` and `save_checkpoint`, and a checkpointed stop on
SIGINT/SIGTERM. Where the run is (step, tokens, data position, latest results) lives in one
`TrainingState`; a checkpoint stores it with the model, optimizer, scheduler and RNG states.

A step never waits for the device, so on a GPU the host queues the next step while the device
runs this one: batches go to CUDA from pinned memory without blocking, the padding check and the
supervised-token count are taken on the loader's CPU tensors, and the loss stays on the device
until `check_losses` reads it, every `run.log_every` steps and before each evaluation and
checkpoint. A NaN/inf loss is therefore reported up to `log_every` steps after it happened (the
message names both steps), but never checkpointed as good. The stop signals, `--stop-after-minutes`
and `run.checkpoint_every_minutes` are acted on at those same steps (and under torchrun agreed on
there, in one collective), so they too wait up to `log_every` steps.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import random
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from atomlm.errors import UserError
from atomlm.training import checkpoint as checkpoints
from atomlm.training import distributed
from atomlm.training.config import ConfigError, TrainConfig
from atomlm.training.interrupt import StopOnSignals, TrainingInterrupted
from atomlm.training.metrics import (
    PLOT_FILE,
    RunRecorder,
    WandbReporter,
    open_reporter,
    plot_metrics,
    require_report_library,
)
from atomlm.training.optimizers import build_optimizer
from atomlm.training.periodic_eval import ArithmarkProbe, validation_losses
from atomlm.training.run_directory import check_run_dir, write_run_config
from atomlm.training.run_processes import process_entry
from atomlm.training.schedule import build_scheduler
from atomlm.training.shard_cache import tokenizer_directory
from atomlm.training.train_data import TrainingData, prepare_training_data
from atomlm.versions import software_record


class NonFiniteLossError(UserError):
    """The loss became NaN or inf; the run stops and keeps its last good checkpoint."""


def train(config: TrainConfig, run_dir, resume: bool = False, progress: bool = True,
          stop_after_minutes: float | None = None, branch_from=None) -> dict:
    """Train (or continue with `resume`) a model into `run_dir`; returns the final record.

    `stop_after_minutes`: end this process's share of the run early, after the first step that
    finds that many minutes passed since it started, with a checkpoint (the record then has
    `"stopped_early": True`); `--resume` continues exactly. The schedule is the full run's.

    `branch_from`: a checkpoint of another run (same model and training data) that a new run
    starts from, model, optimizer, step, data position and RNG, e.g. to decay a WSD run early
    (`atomlm train --branch-from ... --decay-steps N`). Once the branch has its own checkpoint,
    `resume` continues it like any run."""
    context = distributed.init_distributed(config.run.device, config.run.distributed_timeout_minutes)
    try:
        with contextlib.closing(Trainer(config, Path(run_dir), resume, context, progress=progress,
                                        branch_from=branch_from)) as trainer:
            return trainer.fit(stop_after_minutes)
    finally:
        distributed.shutdown(context)


# What `_shared_decisions` passes through `max_over_ranks` when the time budget is spent: below
# the numbers of the stop signals (SIGINT 2, SIGTERM 15), so a signal on any rank wins, and above
# 0 (nothing).
TIME_UP = 1


@dataclass
class TrainingState:
    """Where the run is after `step` optimiser steps (and the W&B run it reports to). Saved in
    every checkpoint and restored by --resume; `train_step` and `evaluate` change it."""

    step: int = 0
    tokens_seen: int = 0
    next_row: int = 0  # the global train row the next step starts at
    wall_time_before: float = 0.0  # seconds trained by the processes before this --resume
    final_loss: float | None = None
    val_loss: float | None = None
    val_loss_answers: float | None = None  # metrics.VALIDATION_LOSSES
    arithmark_acc: float | None = None
    wandb_run_id: str | None = None  # the W&B run that --resume continues (run.report_to=wandb)
    branched_from: dict | None = None  # checkpoint, step and tokens of the run a --branch-from run left
    initialised_from: dict | None = None  # model.init_from: its checkpoint, step and tokens in all (see below)
    processes: tuple[dict, ...] = ()  # the processes before this --resume: steps, tokens, time, hardware of each


@dataclass(frozen=True)
class StepResult:
    """What one optimiser step gives. The tensors stay on the device, since reading one waits for
    it: `Trainer.check_losses` reads them when the steps are checked, `fit` when one is logged."""

    step: int
    loss: torch.Tensor  # the global batch's mean loss per supervised token
    supervised_tokens: torch.Tensor  # of the global batch, summed over the ranks
    learning_rate: float
    grad_norm: torch.Tensor


class Trainer:
    """One training run: set up by `__init__`, run by `fit`."""

    def __init__(self, config: TrainConfig, run_dir: Path, resume: bool, context: distributed.DistributedContext,
                 progress: bool = True, branch_from: Path | None = None):
        from atomlm.modeling.configuration_atom import AtomConfig
        from atomlm.modeling.modeling_atom import AtomForCausalLM
        from atomlm.tokenizer import load_tokenizer

        from atomlm.progress import progress_enabled

        self.config, self.run_dir, self.context = config, run_dir, context
        self.progress = progress_enabled(progress)  # bars only on a terminal, and not with --no-progress
        self.started = time.time()
        require_report_library(config.run.report_to)
        if config.run.threads > 0:
            torch.set_num_threads(config.run.threads)
        use_tf32_matmuls(context.device)
        if config.run.compile:
            check_compile_toolchain(context.device)
        check_run_dir(run_dir, config, resume)
        starts_fresh = branch_from is None and not (resume and checkpoints.latest_checkpoint(run_dir))
        if starts_fresh and config.model.init_from and not Path(config.model.init_from).exists():
            # Before the data is built, which can take minutes.
            raise ConfigError(f"model.init_from={config.model.init_from}: no such file or directory "
                              f"(a relative path is read from {Path.cwd()})")
        distributed.barrier(context)  # every rank has judged the directory before rank 0 writes to it
        if context.is_main:
            write_run_config(run_dir, config)  # first: it is what marks the directory as a run
        self.recorder = RunRecorder(run_dir, enabled=context.is_main)
        self.accumulation = config.accumulation_steps(context.world_size)
        seed_everything(config.run.seed)

        tokenizer = load_tokenizer(tokenizer_directory(config.data))
        self.data = prepare_training_data(
            config.data, context.is_main, lambda: distributed.barrier(context), self.recorder.log,
            progress=self.progress,
        )

        model_kwargs = atom_config_kwargs(config, tokenizer)
        self.raw_model = AtomForCausalLM(AtomConfig(**model_kwargs)).to(context.device)
        if len(tokenizer) > self.raw_model.config.vocab_size:
            raise ConfigError(f"tokenizer has {len(tokenizer)} tokens but model.vocab_size is {self.raw_model.config.vocab_size}")
        precision = resolve_precision(config.run.precision, context.device)  # "bf16" | "fp32" on this machine
        self.optimizer, fused = build_optimizer(self.raw_model, config.optim, bf16_run=precision == "bf16")
        self.scheduler = build_scheduler(self.optimizer, config.optim)
        self.state = self._restore_or_start(resume, Path(branch_from) if branch_from else None)
        self.first_step, self.first_tokens = self.state.step, self.state.tokens_seen  # this process's share starts

        # The model the steps run: compiled and DDP-wrapped; `raw_model` is what is saved and evaluated.
        self.model = self.raw_model
        if config.run.compile:
            self.model = torch.compile(self.model)
        self.model = distributed.wrap_model(self.model, context)
        self.model.train()
        self.autocast = _autocast_factory(context.device, precision)

        loader = self.data.train_loader(
            config.optim.micro_batch_size, rank=context.rank, world_size=context.world_size,
            start_row=self.state.next_row, loss_on=config.data.loss_on, model_config=self.raw_model.config,
        )
        self.batches = iter(loader)
        self.unchecked: list[StepResult] = []  # the steps since the last `check_losses`
        _log_curriculum_coverage(loader, config, self.recorder.log)
        self.probe = ArithmarkProbe(tokenizer, config.run.arithmark_rows, config.run.arithmark_batch_size)

        parameters = sum(p.numel() for p in self.raw_model.parameters())
        self.recorder.log(
            f"parameters {parameters:,} | world size {context.world_size} | device {context.device} | "
            f"tokens/step {config.tokens_per_step():,} (global batch {config.optim.global_batch_size} x "
            f"seq {config.data.seq_len}, micro batch {config.optim.micro_batch_size}, accumulation {self.accumulation}) | "
            f"total steps {config.optim.max_steps} | optimizer {config.optim.optimizer} | "
            f"precision {_precision_note(config.run.precision, context.device)} | fused AdamW {fused} | "
            f"compile {config.run.compile}"
        )
        # What the run is; `record()` adds how far it got.
        self.description = {
            "config": config.to_dict(),
            "atom_config": model_kwargs,
            "curriculum_name": config.data.curriculum,
            "curriculum": self.data.curriculum_description,
            "tokenizer_dir": str(tokenizer_directory(config.data).resolve()),
            "shard_fingerprint": self.data.fingerprint,  # of the stream's rows when data.stream
            "parameters": parameters,
            "hardware": _hardware(context, fused, precision),
            **software_record(),  # versions of torch, transformers, tokenizers, datasets ...; git commit
        }
        if context.is_main:  # last: nothing after it can fail and leave a W&B run open
            reporter = open_reporter(config.run.report_to, run_dir, first_step=self.state.step,
                                     config=config.to_dict(), wandb_run_id=self.state.wandb_run_id)
            self.recorder.report_to(reporter)
            if isinstance(reporter, WandbReporter):
                self.state.wandb_run_id = reporter.wandb_run_id

    def _restore_or_start(self, resume: bool, branch_from: Path | None) -> TrainingState:
        """With --resume and a checkpoint: load model, optimizer, scheduler and RNG states and
        return the state it saved. Otherwise the same from `branch_from` where given, else a
        fresh state (and `model.init_from`'s weights)."""
        latest = checkpoints.latest_checkpoint(self.run_dir) if resume else None
        if latest is None and branch_from is not None:
            return self._restore(branch_from, branched=True)
        if latest is None:
            self.recorder.truncate_after(0)  # metrics of an earlier attempt that never checkpointed
            if resume:
                self.recorder.log(f"--resume: no checkpoint in {self.run_dir} yet, starting fresh")
            initialised_from = None
            if self.config.model.init_from:
                initialised_from = _load_initial_weights(self.raw_model, self.config.model.init_from, self.recorder.log)
            return TrainingState(initialised_from=initialised_from)
        return self._restore(latest, branched=False)

    def _restore(self, checkpoint: Path, branched: bool) -> TrainingState:
        model_state, saved, meta = checkpoints.load_checkpoint(checkpoint)
        _check_same_data(meta, self.data, checkpoint)
        try:
            self.raw_model.load_state_dict(model_state)
            self.optimizer.load_state_dict(saved["optimizer"])
        except (RuntimeError, ValueError, KeyError) as error:
            raise ConfigError(
                f"{checkpoint}: its model or optimizer differs from this config's ({str(error).splitlines()[0]}); "
                "branch or resume with the model and optim settings it was trained with"
            ) from None
        self.scheduler.load_state_dict(saved["scheduler"])
        if branched:  # its next step already takes this run's learning rate, not the saved run's
            self.scheduler.last_epoch = meta["step"] - 1
            self.scheduler.step()
        checkpoints.restore_rng_states(saved["rng"])
        self.recorder.truncate_after(meta["step"])
        verb = "branched from" if branched else "resumed from"
        self.recorder.log(f"{verb} {checkpoint} (step {meta['step']}, {meta['tokens_seen']:,} tokens)")
        results = meta.get("record", {})
        if branched:  # a run of its own: not the trunk's W&B run, and it says where it left the trunk
            results = {**results, "wandb_run_id": None, "branched_from": {
                "checkpoint": str(checkpoint), "step": meta["step"], "tokens_seen": meta["tokens_seen"]}}
        return TrainingState(
            step=meta["step"], tokens_seen=meta["tokens_seen"], next_row=saved["data"]["next_row"],
            wall_time_before=meta.get("wall_time_s", 0.0), final_loss=results.get("final_loss"),
            val_loss=results.get("val_loss"), val_loss_answers=results.get("val_loss_answers"),
            arithmark_acc=results.get("arithmark_acc"),
            wandb_run_id=results.get("wandb_run_id"), branched_from=results.get("branched_from"),
            initialised_from=results.get("initialised_from"), processes=tuple(results.get("processes", ())),
        )

    def fit(self, stop_after_minutes: float | None = None) -> dict:
        """Run the steps from `state.step` to `optim.max_steps` (or until `stop_after_minutes`,
        see `train`); returns the final record.

        The losses are checked (`check_losses`, the one wait for the device) at every logged step
        (every `run.log_every`, and the last) and before each evaluation and checkpoint."""
        config, state, total = self.config, self.state, self.config.optim.max_steps
        every = config.run.eval_every_steps
        last_checkpoint_time = time.time()
        # Throughput since the last metrics line: wall time less evaluation and saving. The steps
        # do not wait for the device, so the window ends after the check that does.
        window_tokens, window_started = 0, time.perf_counter()
        with StopOnSignals() as stop, self._progress_bar() as bar:
            while state.step < total:
                result = self.train_step()
                window_tokens += config.tokens_per_step()
                logging = state.step % config.run.log_every == 0 or state.step == total
                evaluating = every > 0 and (state.step % every == 0 or state.step == total)
                # Whether to checkpoint by time or stop is decided where the losses are read anyway:
                # under torchrun that decision is a collective, which waits for the device.
                due_by_time, stop_signal = (self._shared_decisions(last_checkpoint_time, stop.received,
                                                                   stop_after_minutes)
                                            if logging or evaluating else (False, 0))
                checkpointing = due_by_time or self._checkpoint_due_by_steps()
                if logging or evaluating or checkpointing:
                    self.check_losses()
                if logging:
                    self._record_step(result, window_tokens / max(1e-9, time.perf_counter() - window_started), bar)
                    window_tokens, window_started = 0, time.perf_counter()
                if bar is not None:
                    bar.update(1)

                paused = time.perf_counter()
                if evaluating:
                    self.evaluate()
                checkpoint = None
                if checkpointing:
                    checkpoint = self.save_checkpoint()
                    last_checkpoint_time = time.time()
                window_started += time.perf_counter() - paused  # evaluating and saving are not training
                if stop_signal == TIME_UP and state.step < total:
                    self.recorder.log(f"--stop-after-minutes {stop_after_minutes:g} reached: stopping after step "
                                      f"{state.step} of {total}; continue with --resume")
                    if checkpoint is None:
                        self.save_checkpoint()
                    distributed.barrier(self.context)
                    return self._finish(stopped_early=True)
                if stop_signal and state.step < total:
                    self.recorder.log(f"{signal.Signals(stop_signal).name} received: stopping after step {state.step}")
                    checkpoint = checkpoint or self.save_checkpoint()
                    distributed.barrier(self.context)  # no rank exits before the checkpoint is complete
                    raise TrainingInterrupted(stop_signal, state.step, checkpoint, announce=self.context.is_main)
        return self._finish()

    def train_step(self) -> StepResult:
        """One optimiser step over the next global batch; advances `state`. Nothing in it waits
        for the device: its loss is checked later, by `check_losses`."""
        config, context, state = self.config, self.context, self.state
        micro_batches = [next(self.batches) for _ in range(self.accumulation)]
        # Counted on the loader's CPU tensors; summed over the ranks on the device.
        supervised = sum(int((batch["labels"][:, 1:] != -100).sum()) for batch in micro_batches)
        supervised = distributed.all_reduce_sum(_to_device(torch.tensor(supervised), context.device), context)

        step_loss = torch.zeros((), dtype=torch.float32, device=context.device)
        for index, batch in enumerate(micro_batches):
            with distributed.gradient_sync(self.model, sync=index == self.accumulation - 1), self.autocast():
                output = self.model(
                    **_model_inputs(batch, context.device), num_items_in_batch=supervised, use_cache=False,
                )
            (output.loss * context.world_size).backward()
            step_loss += output.loss.detach().float()
        distributed.all_reduce_sum(step_loss, context)

        clip = config.optim.grad_clip if config.optim.grad_clip > 0 else float("inf")  # <= 0: measure only
        grad_norm = torch.nn.utils.clip_grad_norm_(self.raw_model.parameters(), clip)
        learning_rate = self.scheduler.get_last_lr()[0]
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)

        state.step += 1
        state.tokens_seen += config.tokens_per_step()
        state.next_row += config.optim.global_batch_size
        result = StepResult(step=state.step, loss=step_loss, supervised_tokens=supervised,
                            learning_rate=learning_rate, grad_norm=grad_norm)
        self.unchecked.append(result)
        return result

    def check_losses(self) -> None:
        """Read the losses of the steps since the last check (waiting for the device once) and
        keep the latest in `state.final_loss`. Stops the run at the first of them whose global
        batch had no supervised tokens (RuntimeError) or whose loss is NaN or inf
        (NonFiniteLossError, naming the step and the last good checkpoint). `save_checkpoint`
        calls it first, so a model past a non-finite loss is never saved."""
        unchecked, self.unchecked = self.unchecked, []
        if not unchecked:
            return
        losses = torch.stack([result.loss for result in unchecked]).tolist()
        supervised = torch.stack([result.supervised_tokens for result in unchecked]).tolist()
        for result, loss, tokens in zip(unchecked, losses, supervised):
            if tokens == 0:
                raise RuntimeError(f"step {result.step}: the global batch has no supervised tokens (all labels are -100)")
            if not math.isfinite(loss):
                found = "" if result.step == self.state.step else (
                    f" (found at step {self.state.step}: losses are read every run.log_every="
                    f"{self.config.run.log_every} steps and before each evaluation and checkpoint)"
                )
                message = (
                    f"loss is {loss} at step {result.step}{found}; stopping. The last good checkpoint is "
                    f"{checkpoints.latest_checkpoint(self.run_dir) or 'none (no checkpoint was written yet)'}; "
                    "lower optim.lr or raise warmup, then --resume"
                )
                self.recorder.log(message)
                raise NonFiniteLossError(message)
        self.state.final_loss = losses[-1]

    def _record_step(self, result: StepResult, tokens_per_second: float, bar) -> None:
        """The metrics line of a checked step (`check_losses` has read its loss)."""
        loss = self.state.final_loss
        self.recorder.metrics({
            "kind": "train", "step": result.step, "tokens": self.state.tokens_seen, "loss": loss,
            "lr": result.learning_rate, "grad_norm": float(result.grad_norm), "tokens_per_s": tokens_per_second,
        })
        if bar is not None:
            bar.set_postfix(loss=f"{loss:.4f}", tok_s=f"{tokens_per_second:,.0f}", refresh=False)

    def evaluate(self) -> None:
        """Validation loss and the ArithMark probe on rank 0 (the other ranks wait), recorded in
        metrics.jsonl and in `state`."""
        if self.context.is_main:
            state = self.state
            entry = {"kind": "eval", "step": state.step, "tokens": state.tokens_seen}
            with torch.random.fork_rng(devices=[]):  # evaluation must not shift the training RNG
                losses = validation_losses(
                    self.raw_model, self.data.validation_loader(self.config.optim.micro_batch_size),
                    batches=self.config.run.val_batches, device=self.context.device, autocast=self.autocast,
                ) or {}
                entry.update(losses)
                state.val_loss = losses.get("val_loss", state.val_loss)
                state.val_loss_answers = losses.get("val_loss_answers", state.val_loss_answers)
                if self.probe.enabled:
                    entry["arithmark_acc"] = state.arithmark_acc = self.probe.accuracy(self.raw_model, self.context.device)
            self.recorder.metrics(entry)
            self.recorder.log(" | ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in entry.items()))
        distributed.barrier(self.context)

    def _shared_decisions(self, last_checkpoint_time: float, signal_received: int,
                          stop_after_minutes: float | None) -> tuple[bool, int]:
        """`(checkpoint due by time, stop)`, the same on every rank, from one collective.

        A checkpoint is due once `checkpoint_every_minutes` have passed on rank 0's clock (the
        other ranks take its answer, so all save together). The stop is the largest signal number
        any rank received, else TIME_UP once `stop_after_minutes` have passed on any rank, else 0."""
        run = self.config.run
        now = time.time()
        due_by_time = (self.context.is_main and run.checkpoint_every_minutes > 0
                       and now - last_checkpoint_time >= 60 * run.checkpoint_every_minutes)
        out_of_time = stop_after_minutes is not None and now - self.started >= 60 * stop_after_minutes
        due, stop_signal = distributed.max_over_ranks(
            (int(due_by_time), signal_received or (TIME_UP if out_of_time else 0)), self.context
        )
        return bool(due), stop_signal

    def _checkpoint_due_by_steps(self) -> bool:
        """After the last step, and every `checkpoint_every_steps`."""
        run, step = self.config.run, self.state.step
        return step == self.config.optim.max_steps or (run.checkpoint_every_steps > 0
                                                       and step % run.checkpoint_every_steps == 0)

    def save_checkpoint(self) -> Path | None:
        """Checkpoint the state after `state.step` (rank 0 writes it); its directory on rank 0.
        Every rank checks the losses first: a non-finite one stops the run instead."""
        self.check_losses()
        if not self.context.is_main:
            return None
        record = self.record()
        training_state = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": checkpoints.capture_rng_states(),
            "data": {"next_row": self.state.next_row},
        }
        meta = {"tokens_seen": self.state.tokens_seen, "wall_time_s": record["wall_time_s"], "record": record}
        path = checkpoints.save_checkpoint(
            self.run_dir, self.state.step, self.raw_model.state_dict(), training_state, meta,
            keep=self.config.run.keep_checkpoints,
        )
        self.recorder.log(f"checkpoint {path}")
        return path

    def record(self) -> dict:
        """What the run is and how far it got (stored in checkpoints; `load_model_from_run` reads it)."""
        state = self.state
        this_process = process_entry(self.first_step, state.step, state.tokens_seen - self.first_tokens,
                                     time.time() - self.started, self.description["hardware"])
        return {
            **self.description,
            "final_loss": state.final_loss,
            "val_loss": state.val_loss,
            "val_loss_answers": state.val_loss_answers,
            "arithmark_acc": state.arithmark_acc,
            "steps": state.step,
            "tokens_seen": state.tokens_seen,
            "wall_time_s": state.wall_time_before + time.time() - self.started,
            "wandb_run_id": state.wandb_run_id,
            "branched_from": state.branched_from,
            "initialised_from": state.initialised_from,
            "processes": [*state.processes, this_process],  # `hardware` above is the last one's
        }

    def _finish(self, stopped_early: bool = False) -> dict:
        record = {**self.record(), "stopped_early": stopped_early}
        if self.context.is_main:
            plot = plot_metrics(self.recorder.metrics_path, self.run_dir / PLOT_FILE)
            record["plot_path"] = str(plot) if plot else None
            self.recorder.log(
                f"{'stopped early' if stopped_early else 'done'}: {record['steps']} steps, {record['tokens_seen']:,} tokens, final loss {record['final_loss']}, "
                f"wall {record['wall_time_s']:.1f}s, plot {record['plot_path']}"
            )
        return record

    def _progress_bar(self):
        if not (self.progress and self.context.is_main):
            return contextlib.nullcontext()
        from tqdm import tqdm

        return tqdm(total=self.config.optim.max_steps, initial=self.state.step, unit="step", dynamic_ncols=True)

    def close(self) -> None:
        """Flush and close what the run writes to, and end the processes that stream its rows
        (also when it stops on an error or a signal)."""
        self.batches.close()
        self.recorder.close()


# Setup helpers, in the order `Trainer.__init__` uses them.


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


# The AtomConfig fields that tie a model to its tokenizer's ids: a starting model must agree on
# every one, or its embeddings and place/role features would be read under the wrong tokens.
TOKENIZER_ID_FIELDS = ("vocab_size", "bos_token_id", "eos_token_id", "pad_token_id", "digit_token_ids",
                       "operator_token_ids", "space_token_id", "number_end_token_id")


def _load_initial_weights(model, source, log) -> dict:
    """Start from other weights (continued pretraining): a run directory's latest checkpoint, one
    checkpoint folder, or an exported model directory such as `pretrained/atom2.7m`. Returns
    where they came from: the source, its step, and `tokens_in_all` - the tokens those weights
    had seen, over every stage before this one (so a model card can count the whole lineage)."""
    initial, record = _initial_model(Path(source))
    for name in TOKENIZER_ID_FIELDS:
        theirs, ours = getattr(initial.config, name, None), getattr(model.config, name, None)
        if theirs != ours:
            trained_with = f" ({record['tokenizer_dir']})" if record.get("tokenizer_dir") else ""
            raise ConfigError(
                f"model.init_from={source}: it was trained with another tokenizer ({name} {theirs!r} there, "
                f"{ours!r} from this run's data.tokenizer_dir); set data.tokenizer_dir to its tokenizer{trained_with}"
            )
    try:
        model.load_state_dict(initial.state_dict())
    except RuntimeError as error:
        raise ConfigError(
            f"model.init_from={source}: its architecture does not match this config ({str(error).splitlines()[0]})"
        ) from None
    earlier_stages = (record.get("initialised_from") or {}).get("tokens_in_all", 0)
    tokens_in_all = (record.get("tokens_seen") or 0) + earlier_stages
    log(f"initialised from {source} (step {record.get('steps')}, {record.get('tokens_seen') or 0:,} tokens"
        + (f"; {tokens_in_all:,} with the stages before it)" if earlier_stages else ")"))
    return {"checkpoint": str(record["checkpoint"]), "step": record.get("steps"), "tokens_in_all": tokens_in_all}


def _initial_model(source: Path) -> tuple:
    """(model, record) of `model.init_from`. An exported directory's record is its
    `training_record.json` where it has one (else its lineage is unknown and counts 0 tokens)."""
    from atomlm.model_loading import WEIGHTS_FILE, load_atom_export

    if not (source / WEIGHTS_FILE).is_file() or checkpoints.is_checkpoint(source):
        return checkpoints.load_model_from_run(source)
    try:
        model, record, _ = load_atom_export(source)  # each error names the file at fault
    except UserError as error:
        raise ConfigError(f"model.init_from={error}") from None
    return model, {**(record or {}), "checkpoint": str(source)}


def _check_same_data(meta: dict, data: TrainingData, checkpoint: Path) -> None:
    """--resume must read the tokens the run started on: a shard cache rebuilt under the same key
    (another package version, a hand edit), or a stream whose generator or tokenizer changed,
    would otherwise silently change the data mid-run."""
    saved = meta.get("record", {}).get("shard_fingerprint")
    if saved is not None and saved != data.fingerprint:
        if data.shard_dir is not None:
            cause = "the shard cache was rebuilt or changed. Restore those shards"
        else:
            cause = "the generator or the tokenizer changed. Resume with the atomlm version the run started with"
        raise UserError(
            f"--resume: {data.describe()} are not those this run trained on (fingerprint {data.fingerprint[:12]}..., "
            f"{checkpoint / checkpoints.META_FILE} records {saved[:12]}...); {cause}, "
            "or train on these in a new run (another --out)"
        )


def use_tf32_matmuls(device: torch.device) -> None:
    """On CUDA, let float32 matmuls (all of them in an fp32 run; the few outside bf16 autocast
    otherwise) use TF32 tensor cores. The hardware record says what is in effect."""
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")  # the setter torch.compile's own checks read


CPU_COMPILERS = ("g++", "c++", "clang++")


def check_compile_toolchain(device: torch.device) -> None:
    """`torch.compile` on the CPU builds C++ kernels: without a compiler it fails only at the
    first step, after the shards are built, with a long traceback. Say so before anything runs."""
    if device.type != "cpu":
        return
    candidates = [os.environ.get("CXX"), *CPU_COMPILERS]
    if not any(name and shutil.which(name) for name in candidates):
        raise ConfigError(
            "run.compile on the CPU needs a C++ compiler (g++, c++, clang++ or $CXX), and none is on PATH: "
            "install one, or train uncompiled with --set run.compile=false (about a third slower here)"
        )


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes bfloat16 in hardware: CUDA with bf16 support, or a CPU that
    oneDNN runs bf16 kernels on (AVX-512 or AMX). An AVX2-only CPU emulates bf16 matmuls, about
    12x slower than fp32 for Atom's training step (benchmarks/train_throughput.py)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu" and torch.backends.mkldnn.is_available():
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):  # a build without the probe: assume emulated
            return False
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """`run.precision` as this machine runs it: "auto" is bf16 where it is native, else fp32."""
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def _precision_note(requested: str, device: torch.device) -> str:
    """What the log says about the precision, with a warning where bf16 is emulated."""
    resolved = resolve_precision(requested, device)
    if requested == "auto":
        why = "native bf16" if resolved == "bf16" else f"no native bf16 on this {device.type}"
        return f"{resolved} (auto: {why})"
    if resolved == "bf16" and not native_bf16(device):
        return (f"bf16 (WARNING: this {device.type} has no native bf16 and emulates it, about 12x slower "
                "than fp32; --set run.precision=auto picks fp32 here)")
    return resolved


def _autocast_factory(device: torch.device, precision: str):
    """A context-manager factory for the resolved `precision` ("bf16" or "fp32")."""
    if precision == "bf16":
        return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


def _log_curriculum_coverage(loader, config: TrainConfig, log) -> None:
    """Say how much of the curriculum the run's token budget reaches: a budget shorter than the
    curriculum never sees its last phases; a longer one repeats it."""
    run_rows = config.optim.max_steps * config.optim.global_batch_size
    reached = [name for name, first_row, _end_row in loader.phase_boundaries() if first_row < run_rows]
    log(
        f"data: {loader.num_rows:,} train rows of {config.data.seq_len} tokens; the run uses {run_rows:,} rows "
        f"({run_rows / loader.num_rows:.2f} passes), reaching phases {', '.join(reached) or 'none'}"
    )


def _hardware(context, fused: bool, precision: str) -> dict:
    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": str(context.device),
        "world_size": context.world_size,
        "fused_adamw": fused,
        "precision": precision,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    if context.device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(context.device)
        info["cuda_matmul_fp32_precision"] = torch.backends.cuda.matmul.fp32_precision  # "tf32"
    return info


def _model_inputs(batch: dict, device: torch.device) -> dict:
    """A loader batch (CPU tensors) as model inputs on `device`. The padding decision is taken on
    the CPU mask, before the copy: taken on the device it would wait for the device every step."""
    mask = _training_mask(batch["attention_mask"])
    return {
        "input_ids": _to_device(batch["input_ids"], device),
        "attention_mask": None if mask is None else _to_device(mask, device),
        "labels": _to_device(batch["labels"], device),
    }


def _to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A CPU tensor on `device`. To CUDA from pinned memory without blocking: a pageable copy
    would make the host wait until the device has finished all the work queued before it."""
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def _training_mask(attention_mask: torch.Tensor) -> torch.Tensor | None:
    """None when every row's padding is at the end: causal attention never lets a real token see a
    later pad, and pads carry label -100, so the loss is unchanged while attention takes the
    fast causal path instead of an explicit mask. Give it the loader's CPU mask (`_model_inputs`)."""
    if bool((attention_mask[:, 1:] <= attention_mask[:, :-1]).all()):
        return None
    return attention_mask
