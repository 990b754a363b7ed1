"""How the scripts run atomlm's commands: the argument list, and one step whose output goes to a log
(scripts/long_run.py's exports and scoring, scripts/release_gate.py's evaluations)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def atomlm(*arguments: str) -> list[str]:
    """`atomlm ARGUMENTS` with this interpreter."""
    return [sys.executable, "-m", "atomlm", *arguments]


def shown(command: list[str]) -> str:
    """The command as a reader would type it: `atomlm ...` for atomlm's own."""
    return " ".join(["atomlm", *command[3:]] if command[:3] == atomlm() else command)


class CommandFailed(Exception):
    """A step exited non-zero; the message is one line and names the log."""


def run_logged(command: list[str], log: Path, cwd: Path | None = None) -> None:
    """Append `$ COMMAND` and the command's output to `log`; raise `CommandFailed` on failure.
    The command runs in its own session: a Ctrl-C at the terminal must not cut a step the caller
    still owes (an exception in the caller, KeyboardInterrupt included, still ends it)."""
    with log.open("a") as handle:
        handle.write(f"$ {shown(command)}\n")
        handle.flush()
        result = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True)
    if result.returncode != 0:
        raise CommandFailed(f"{shown(command)} failed (exit {result.returncode}); see {log}")
