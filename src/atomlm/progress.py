"""Whether a command draws progress bars: the one rule every verb follows."""

from __future__ import annotations

import sys


def progress_enabled(requested: bool) -> bool:
    """True when progress bars were asked for (no `--no-progress`) and stderr is a terminal:
    written to a log file or a pipe, a bar is a stream of carriage-return noise."""
    return requested and sys.stderr is not None and sys.stderr.isatty()
