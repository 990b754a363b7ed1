"""Whether a command draws progress bars: the one rule every verb follows."""

from __future__ import annotations

import sys


def progress_enabled(requested: bool) -> bool:
    """True when progress bars were asked for (no `--no-progress`) and stderr is a terminal:
    written to a log file or a pipe, a bar is a stream of carriage-return noise."""
    return requested and sys.stderr is not None and sys.stderr.isatty()


def silence_library_bars() -> None:
    """Turn off the bars transformers and huggingface_hub draw themselves (loading weights, downloads).

    Called once per command when bars are off, so the libraries follow the same rule as atomlm.
    """
    import huggingface_hub.utils
    import transformers.utils.logging

    transformers.utils.logging.disable_progress_bar()
    huggingface_hub.utils.disable_progress_bars()
