"""The software a result was produced with: package versions and the atomlm git commit.

Stored in training records (and so in exported model directories) so that a number can be
traced to the exact code and libraries behind it.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
from pathlib import Path

RECORDED_PACKAGES = ("atomlm", "torch", "transformers", "tokenizers", "datasets", "safetensors", "huggingface_hub")
REPO_ROOT = Path(__file__).resolve().parents[2]


def package_versions() -> dict[str, str | None]:
    """Installed version of each recorded package (None where it is not installed)."""
    versions = {}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit() -> str | None:
    """The commit of the atomlm checkout, with `+dirty` when it has uncommitted changes; None outside git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if dirty else commit


def software_record() -> dict:
    """`{"versions": {...}, "git_commit": ...}` for a training record."""
    return {"versions": package_versions(), "git_commit": git_commit()}
