"""Where atomlm keeps what it can rebuild (token shards): the user's cache directory, never the
current directory, so a run started from another folder finds the same cache and a checkout is
not filled with gigabytes of shards."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_DIR_VARIABLE = "ATOMLM_CACHE_DIR"


def atomlm_cache_dir() -> Path:
    """`$ATOMLM_CACHE_DIR` if set, else `$XDG_CACHE_HOME/atomlm`, else `~/.cache/atomlm`.

    As the XDG base directory specification asks, an XDG_CACHE_HOME that is not an absolute path
    is ignored.
    """
    chosen = os.environ.get(CACHE_DIR_VARIABLE)
    if chosen:
        return Path(chosen).expanduser()
    xdg_cache_home = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg_cache_home):
        return Path(xdg_cache_home) / "atomlm"
    return Path.home() / ".cache" / "atomlm"
