"""The one rule for progress bars: asked for, and stderr is a terminal."""

from __future__ import annotations

import io

import pytest

from atomlm.progress import progress_enabled


class _Stream(io.StringIO):
    def __init__(self, terminal: bool):
        super().__init__()
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal


@pytest.mark.parametrize(("requested", "terminal", "expected"),
                         [(True, True, True), (True, False, False), (False, True, False), (False, False, False)])
def test_bars_need_a_request_and_a_terminal(monkeypatch, requested, terminal, expected):
    monkeypatch.setattr("sys.stderr", _Stream(terminal))
    assert progress_enabled(requested) is expected


def test_no_stderr_means_no_bars(monkeypatch):
    monkeypatch.setattr("sys.stderr", None)  # pythonw, or a daemon that closed it
    assert progress_enabled(True) is False


@pytest.mark.parametrize("verb", [["eval", "exact-match"], ["eval", "arithmark"], ["demo"]], ids=" ".join)
def test_scoring_verbs_draw_no_bar_off_a_terminal(verb, atomlm, tmp_path):
    from pathlib import Path

    from atomlm.evaluation.arithmark_generator import SHIPPED_FILE

    rows = tmp_path / "rows.jsonl"
    rows.write_text("\n".join(SHIPPED_FILE.read_text(encoding="utf-8").splitlines()[:4]) + "\n")
    model = Path(__file__).resolve().parents[1] / "pretrained" / "atom2.7m"
    result = atomlm.run(*verb, "--model", model, "--data-path", rows)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "batch/s" not in result.stderr and "it/s" not in result.stderr
