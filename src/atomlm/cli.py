"""The `atomlm` command line: one verb per job, each registered by the module that owns it.

Registration only builds argument parsers; the heavy imports (torch, transformers) happen
inside the handlers so that `atomlm --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# (verb, module that defines `register(subparsers)`) - each module owns its verb's flags.
VERB_MODULES = [
    ("tokenizer", "atomlm.tokenizer.cli"),
    ("data", "atomlm.data.cli"),
    ("train", "atomlm.training.cli"),
    ("eval", "atomlm.evaluation.cli"),
    ("export", "atomlm.export"),
    ("generate", "atomlm.generate"),
    ("demo", "atomlm.demo"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atomlm", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB")
    subparsers.required = True
    for _verb, module_name in VERB_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
