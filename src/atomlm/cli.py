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


# Verbs that load models or datasets through transformers / huggingface_hub (imported only for these).
LIBRARY_BAR_VERBS = ("train", "eval", "export", "generate", "demo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="atomlm", description="Train, evaluate, export and run Atom, a small arithmetic-aware language model."
    )
    parser.add_argument("--version", action="version", version=f"atomlm {installed_version()}",
                        help="print the installed atomlm version and exit")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB",
                                       help="what to do; `atomlm VERB --help` lists its flags")
    subparsers.required = True
    for _verb, module_name in VERB_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def installed_version() -> str:
    """The version pip installed (the package metadata), as bug reports should quote it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("atomlm")
    except PackageNotFoundError:
        return "(unknown: not installed, run from a source tree)"


def main(argv: list[str] | None = None) -> int:
    from atomlm.errors import UserError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _follow_the_progress_rule(args)
        result = args.handler(args)
    except UserError as error:
        print(f"{command_name(args)}: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"{command_name(args)}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


def _follow_the_progress_rule(args: argparse.Namespace) -> None:
    """Libraries' own bars go off with atomlm's: with --no-progress or off a terminal."""
    from atomlm.progress import progress_enabled, silence_library_bars

    if args.verb in LIBRARY_BAR_VERBS and not progress_enabled(not getattr(args, "no_progress", False)):
        silence_library_bars()


def command_name(args: argparse.Namespace) -> str:
    """`atomlm VERB` (with the sub-verb where there is one), the prefix of every error line."""
    parts = ["atomlm", args.verb]
    for attribute in ("tokenizer_verb", "data_verb", "eval_verb"):
        if getattr(args, attribute, None):
            parts.append(getattr(args, attribute))
    return " ".join(parts)


if __name__ == "__main__":
    raise SystemExit(main())
