"""`atomlm tokenizer train`: train the fusion tokenizer."""

from __future__ import annotations

import sys
import time
from pathlib import Path

# Files that mark a model directory: its tokenizer belongs to its weights, so training must not replace it.
MODEL_FILES = ("config.json", "model.safetensors")


def register(subparsers) -> None:
    parser = subparsers.add_parser("tokenizer", help="train the fusion tokenizer")
    verbs = parser.add_subparsers(dest="tokenizer_verb", metavar="VERB",
                                  help="what to do; `atomlm tokenizer train --help` lists its flags")
    verbs.required = True
    train = verbs.add_parser("train", help="train a byte-level BPE with atomic digits (LSD-first by default)")
    train.add_argument("--out", required=True, type=Path, metavar="DIR",
                       help="directory to write tokenizer.json, tokenizer_config.json and tokenization_atom.py "
                       "into (created if missing; never a model directory)")
    train.add_argument(
        "--input", action="append", type=Path, default=[], metavar="FILE",
        help="text file (one document per line) or .jsonl with a string 'text' field per line; repeatable "
        "(default: the embedded offline corpus, King James Bible + generated arithmetic)",
    )
    train.add_argument("--vocab-size", type=int, default=4096, metavar="N",
                       help="tokens in the trained vocabulary, special tokens and the 256 byte symbols included; "
                       "the input must hold enough text to reach it (default 4096)")
    train.add_argument("--digit-order", default="lsd", metavar="lsd|msd",
                       help="order digit runs are tokenized in: lsd = least significant digit first (Atom2.7m), "
                       "msd = as written (an ablation) (default lsd)")
    train.add_argument("--number-marker", default="end", metavar="end|none",
                       help="end = a <|number_end|> token after every digit run, so a truncated answer ( 7 for 17) "
                       "is not a prefix of the right one (atomlm's default tokenizer); none = exactly Atom2.7m's "
                       "original tokenizer (default end)")
    train.add_argument("--force", action="store_true", help="overwrite a tokenizer.json already in --out")
    train.set_defaults(handler=run_train)


def run_train(args) -> int:
    from atomlm.modeling.tokenization_atom import DIGIT_ORDERS, NUMBER_MARKERS
    from atomlm.tokenizer.training import arithmetic_vocabulary, default_training_texts, read_text_files, save_tokenizer

    # Everything that can be checked before training is checked first: training can take minutes.
    check_vocab_size(args.vocab_size)
    check_choice("--digit-order", args.digit_order, DIGIT_ORDERS)
    check_choice("--number-marker", args.number_marker, NUMBER_MARKERS)
    check_output_directory(args.out, force=args.force)
    texts = read_text_files(args.input) if args.input else default_training_texts()
    source = ", ".join(map(str, args.input)) if args.input else "embedded offline corpus"
    print(f"training a {args.vocab_size}-token fusion tokenizer on {source}")
    started = time.perf_counter()
    tokenizer = train_full_vocabulary(texts, args.vocab_size, source, args.number_marker)
    save_tokenizer(tokenizer, args.out, digit_order=args.digit_order, number_marker=args.number_marker)
    vocabulary = arithmetic_vocabulary(tokenizer)
    print(f"wrote {args.out} ({tokenizer.get_vocab_size()} tokens, {time.perf_counter() - started:.1f} s)")
    print(f"digit ids {vocabulary['digit_token_ids']}, operator ids {vocabulary['operator_token_ids']}, "
          f"space id {vocabulary['space_token_id']}")
    return 0


def check_vocab_size(vocab_size: int) -> None:
    from atomlm.errors import UserError
    from atomlm.tokenizer.training import MIN_VOCAB_SIZE

    if vocab_size < MIN_VOCAB_SIZE:
        raise UserError(f"--vocab-size {vocab_size}: must be at least {MIN_VOCAB_SIZE} "
                        "(5 special tokens + 256 byte symbols)")


def check_choice(flag: str, value: str, allowed: tuple) -> None:
    """Checked here, not by argparse: the allowed values live in the shipped tokenizer module (slow to import)."""
    from atomlm.errors import UserError

    if value not in allowed:
        raise UserError(f"{flag} {value}: expected one of {', '.join(allowed)}")


def check_output_directory(out: Path, *, force: bool) -> None:
    """Refuse an --out that is a file or a model directory, or that holds a tokenizer, unless --force."""
    from atomlm.errors import UserError

    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: not a directory")
    if any((out / name).exists() for name in MODEL_FILES):
        raise UserError(f"will not overwrite the tokenizer of the model in {out}; choose another --out")
    if (out / "tokenizer.json").exists() and not force:
        raise UserError(f"{out / 'tokenizer.json'} exists; pass --force to overwrite it")


def train_full_vocabulary(texts, vocab_size: int, source: str, number_marker: str = "none"):
    """Train on `texts`; refuse an empty input, or one too small to reach `vocab_size` tokens.

    BPE stops merging when no pair occurs twice, so a small corpus silently yields fewer tokens
    than asked, and a model configured for `vocab_size` would not match its tokenizer.
    """
    from atomlm.errors import UserError
    from atomlm.tokenizer.training import train_tokenizer

    non_empty = 0

    def counted(texts):
        nonlocal non_empty
        for text in texts:
            non_empty += bool(text.strip())
            yield text

    # Off a terminal the progress bars are blank lines on stdout.
    tokenizer = train_tokenizer(counted(texts), vocab_size=vocab_size, show_progress=sys.stdout.isatty(),
                                number_marker=number_marker)
    if not non_empty:
        raise UserError(f"{source}: no text to train on (the input is empty)")
    trained = tokenizer.get_vocab_size()
    if trained < vocab_size:
        raise UserError(f"{source}: too little text for {vocab_size} tokens: training stopped at {trained}; "
                        f"give more text or --vocab-size {trained}")
    return tokenizer
