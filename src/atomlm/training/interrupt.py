"""Stopping a run cleanly on SIGINT (Ctrl-C) or SIGTERM (a scheduler's or torchrun's stop).

The handlers only note the signal. At every step that reads the losses (every `run.log_every`
and each evaluation) the loop asks whether any process got one (`distributed.max_over_ranks`, so
under torchrun every rank stops after the same step), saves a checkpoint and raises
`TrainingInterrupted`; `atomlm train` prints where the checkpoint is and exits 128 + the signal
number (130 for SIGINT, 143 for SIGTERM).

Further signals are ignored rather than escalated: on Ctrl-C torchrun forwards the SIGINT its
workers already received from the terminal, and a checkpoint being written must finish.
SIGKILL still stops a process at once (checkpoints are atomic, so the previous one survives).
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(Exception):
    """A stop signal ended the run after `step`, with a checkpoint saved at `checkpoint`."""

    def __init__(self, signal_number: int, step: int, checkpoint: Path, announce: bool):
        self.exit_code = 128 + signal_number
        # Under torchrun only rank 0 says it, so the user reads the line once.
        self.announce = announce
        super().__init__(
            f"interrupted by {signal.Signals(signal_number).name} after step {step}; "
            f"checkpoint {checkpoint}; continue with --resume"
        )


class StopOnSignals:
    """Context manager: while inside, SIGINT and SIGTERM set `received` (the first signal's
    number; 0 when none) instead of ending the process. Outside the main thread, where Python
    cannot install handlers, it does nothing."""

    def __init__(self):
        self.received = 0
        self._previous: dict = {}

    def __enter__(self) -> "StopOnSignals":
        if threading.current_thread() is threading.main_thread():
            self._previous = {number: signal.signal(number, self._note) for number in STOP_SIGNALS}
        return self

    def __exit__(self, *exc_info) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def _note(self, signal_number: int, _frame) -> None:
        if not self.received:
            self.received = signal_number
