"""Commit one folder of the work tree, and nothing else: what a long job must not lose when its
session ends (scripts/long_run.py's state, scripts/ablation_table.py's finished rows)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def _git(folder: Path, *arguments: str) -> str:
    return subprocess.run(["git", "-C", str(folder), *arguments], capture_output=True, text=True,
                          check=True).stdout.strip()


def repo_root(folder: Path) -> Path:
    """The top of the work tree that holds `folder`."""
    return Path(_git(folder.resolve(), "rev-parse", "--show-toplevel"))


def head_commit(folder: Path) -> str:
    """The full hash of HEAD in the repository that holds `folder`."""
    return _git(folder.resolve(), "rev-parse", "HEAD")


def commit_folder(folder: Path, message: str) -> bool:
    """git add and commit `folder` alone (other changes in the work tree are left as they are).
    Returns False when the folder had nothing new to commit."""
    folder = folder.resolve()
    root = str(repo_root(folder))
    subprocess.run(["git", "-C", root, "add", "-A", "--", str(folder)], check=True)
    staged = subprocess.run(["git", "-C", root, "diff", "--cached", "--quiet", "--", str(folder)])
    if staged.returncode == 0:
        return False
    subprocess.run(["git", "-C", root, "commit", "-q", "-m", message, "--", str(folder)], check=True)
    return True
