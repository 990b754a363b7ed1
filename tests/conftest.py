"""Fixtures shared by every test folder: the `atomlm` command run as a real, offline subprocess."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
VERBS_WITH_SUB_VERBS = ("tokenizer", "data", "eval")


class AtomlmCommand:
    """`python -m atomlm ...` in a subprocess, and the checks every user-facing error must pass."""

    def run(self, *args, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
        """Run offline (HF_HUB_OFFLINE=1) unless `env` overrides it; `None` values unset a variable."""
        environment = {**os.environ, **OFFLINE, **(env or {})}
        environment = {name: value for name, value in environment.items() if value is not None}
        return subprocess.run([sys.executable, "-m", "atomlm", *map(str, args)], capture_output=True, text=True,
                              env=environment, cwd=cwd)

    def error(self, *args, **options) -> str:
        """Run a command that must fail as a user error; return the message after the prefix.

        A user error is exit status 2 and exactly one stderr line `atomlm VERB: error: MESSAGE`.
        """
        result = self.run(*args, **options)
        verb = " ".join(map(str, args[:2] if args[0] in VERBS_WITH_SUB_VERBS else args[:1]))
        prefix = f"atomlm {verb}: error: "
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode == 2, (result.returncode, result.stderr)
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(prefix), result.stderr
        return lines[0][len(prefix):]


@pytest.fixture(scope="session")
def atomlm() -> AtomlmCommand:
    return AtomlmCommand()


def pytest_report_header(config):
    """The versions the suite runs against, in its header (CI logs show them)."""
    import importlib.metadata

    versions = []
    for name in ("torch", "transformers", "tokenizers", "huggingface_hub", "datasets", "lm_eval"):
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} not installed")
    return "atomlm suite against: " + ", ".join(versions)


@pytest.fixture(scope="session")
def tokenizer():
    """The tokenizer shipped with atomlm (AtomTokenizer)."""
    from atomlm.tokenizer import load_tokenizer

    return load_tokenizer()


@pytest.fixture(scope="session")
def import_script():
    """Load a file of `scripts/` (not a package) as a module: `import_script("long_run")`."""
    scripts = Path(__file__).resolve().parents[1] / "scripts"
    if str(scripts) not in sys.path:  # as when the script runs: its folder first (scripts import git_state)
        sys.path.insert(0, str(scripts))

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, scripts / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while it executes
        spec.loader.exec_module(module)
        return module

    return load
