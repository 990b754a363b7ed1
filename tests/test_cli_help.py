"""`atomlm --version`, and a --help text for every flag of every verb."""

from __future__ import annotations

import argparse
import importlib.metadata
import subprocess
import sys

import pytest

from atomlm.cli import build_parser

# (path of sub-verbs from the top level)
COMMANDS = [(), ("generate",), ("eval",), ("eval", "arithmark"), ("eval", "exact-match"), ("eval", "int-index"),
            ("tokenizer",), ("tokenizer", "train"), ("data",), ("data", "arithmetic"), ("data", "build"),
            ("data", "stats"), ("data", "arithmark"), ("data", "arithmark-v1"), ("train",), ("export",), ("demo",)]
# Wording that only makes sense inside the standalone runner copied into a model directory.
STANDALONE_WORDING = ("this directory", "this script")


def sub_parser(parser: argparse.ArgumentParser, verb: str) -> argparse.ArgumentParser:
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return subparsers.choices[verb]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: " ".join(("atomlm", *command)))
def test_every_flag_has_help_in_the_clis_own_words(command):
    parser = build_parser()
    for verb in command:
        parser = sub_parser(parser, verb)
    flags = [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]
    assert flags
    for action in flags:
        name = "/".join(action.option_strings) or action.dest
        assert action.help and action.help != argparse.SUPPRESS, f"{name} has no help"
        assert not any(words in action.help for words in STANDALONE_WORDING), f"{name}: {action.help}"


def test_version(atomlm):
    result = atomlm.run("--version")
    assert result.returncode == 0
    assert result.stdout == f"atomlm {importlib.metadata.version('atomlm')}\n"


def test_building_the_parser_imports_no_torch():
    """`atomlm --help` stays fast: verbs import torch in their handlers, never while registering."""
    code = "import sys; from atomlm.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout == "False\n"
