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
