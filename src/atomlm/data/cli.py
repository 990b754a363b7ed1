"""`atomlm data` verbs: `arithmetic` (equations to JSONL), `build` (token shards), `stats` (report)."""

from __future__ import annotations

import sys


def register(subparsers):
    """Add the `data` verb and its sub-verbs to the top-level parser."""
    parser = subparsers.add_parser("data", help="pretraining data: synthetic arithmetic, token shards, stats")
    data_sub = parser.add_subparsers(dest="data_verb", metavar="DATA_VERB",
                                     help="what to do; `atomlm data DATA_VERB --help` lists its flags")
    data_sub.required = True

    arithmetic = data_sub.add_parser("arithmetic", help="write Synthetic-Arithmetic equations as JSONL")
    arithmetic.add_argument("--count", type=int, required=True, metavar="N", help="number of equations to write")
    arithmetic.add_argument("--seed", type=int, default=0, help="random seed; the same seed writes the same equations (default 0)")
    arithmetic.add_argument("--stage", type=int, default=4, help="difficulty stage 1-6, see docs/data.md (default 4)")
    arithmetic.add_argument("--out", required=True, metavar="FILE", help="JSONL file to write, in an existing folder ('-' for standard output)")
    arithmetic.set_defaults(handler=_arithmetic)

    build = data_sub.add_parser("build", help="tokenize a curriculum into uint16 shards (resumable)")
    build.add_argument("--curriculum", default="offline", help="curriculum JSON file or the name of one shipped in atomlm/data/curricula/ (default offline; a wrong name lists them)")
    build.add_argument("--tokenizer", default=None, metavar="DIR", help="tokenizer directory (default: the tokenizer shipped with atomlm)")
    build.add_argument("--out", required=True, metavar="DIR", help="directory for the shards and manifest.json (an interrupted build continues there)")
    build.add_argument("--workers", type=int, default=1, metavar="N", help="worker processes, at least 1 (default 1)")
    build.add_argument("--seq-len", type=int, default=512, metavar="N", help="tokens per training window the shards are packed for (default 512)")
    build.add_argument("--seed", type=int, default=0, help="random seed of the generated sources and the document order (default 0)")
    build.add_argument("--shard-tokens", type=int, default=None, help="tokens per shard file (default 1Mi)")
    build.add_argument("--val-rows", type=int, default=None, help="held-out rows per (phase, source) (default 8)")
    build.add_argument("--source-path", action="append", default=[], metavar="NAME=PATH",
                       help="read source NAME from local .jsonl/.parquet/.txt files (repeatable)")
    build.add_argument("--no-progress", action="store_true", help="no progress bar (there is none anyway when stderr is not a terminal; the summary is still printed)")
    build.set_defaults(handler=_build)

    stats = data_sub.add_parser("stats", help="tokens per source and phase against the curriculum")
    stats.add_argument("dir", metavar="DIR", help="a shard directory written by `atomlm data build`")
    stats.set_defaults(handler=_stats)

    _register_extra(data_sub)
    return data_sub


def _register_extra(data_sub) -> None:
    # Benchmark-file generators live with the evaluation code that reads those files.
    from atomlm.evaluation.cli import register_generator_commands

    register_generator_commands(data_sub)


def _arithmetic(args) -> int:
    import json

    from tqdm import tqdm

    from atomlm.data.arithmetic import ArithmeticGenerator
    from atomlm.errors import UserError
    from atomlm.progress import progress_enabled

    if args.count < 0:
        raise UserError(f"--count must be >= 0, got {args.count}")
    try:
        generator = ArithmeticGenerator(args.seed, args.stage)
    except ValueError as error:
        raise UserError(str(error)) from None
    handle = sys.stdout if args.out == "-" else _open_output_file(args.out)
    try:
        # Equations written to stdout would interleave with a bar on the same terminal.
        show_bar = progress_enabled(args.out != "-")
        for _ in tqdm(range(args.count), unit="eq", desc="equations", disable=not show_bar, file=sys.stderr):
            handle.write(json.dumps(generator.equation().to_json()) + "\n")
    finally:
        if handle is not sys.stdout:
            handle.close()
    return 0


def _open_output_file(path: str):
    """`path` opened for writing, or a `UserError` naming it (a missing folder is not created:
    a typo in --out should not scatter directories)."""
    from pathlib import Path

    from atomlm.errors import UserError

    folder = Path(path).parent
    if not folder.is_dir():
        raise UserError(f"--out {path}: folder {folder} does not exist")
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as error:
        raise UserError(f"--out {path}: cannot write ({error.strerror})") from None


def _build(args) -> int:
    from atomlm.data.curriculum import CurriculumError, load_curriculum
    from atomlm.data.shards import DEFAULT_SHARD_TOKENS, DEFAULT_VAL_ROWS, BuildInterrupted, build_shards
    from atomlm.errors import UserError

    if args.workers < 1:
        raise UserError(f"--workers must be >= 1, got {args.workers}")
    curriculum = load_curriculum(args.curriculum)
    paths = {}
    for item in args.source_path:
        name, separator, path = item.partition("=")
        if not separator or not name or not path:
            raise CurriculumError(f"--source-path expects NAME=PATH, got {item!r}")
        paths[name] = path
    if paths:
        curriculum = curriculum.with_source_paths(paths)
    try:
        manifest = build_shards(
            curriculum, args.tokenizer, args.out, seq_len=args.seq_len, workers=args.workers, seed=args.seed,
            shard_tokens=args.shard_tokens or DEFAULT_SHARD_TOKENS,
            val_rows=DEFAULT_VAL_ROWS if args.val_rows is None else args.val_rows,
            progress=not args.no_progress,
        )
    except FileNotFoundError as error:  # e.g. a --tokenizer directory without its files
        raise UserError(str(error)) from None
    except BuildInterrupted as stop:
        print(f"atomlm data build: {stop}", file=sys.stderr)
        return stop.exit_code
    print(f"wrote {manifest}")
    return 0


def _stats(args) -> int:
    from atomlm.data.stats import format_stats, load_manifest

    print(format_stats(load_manifest(args.dir)))
    return 0
