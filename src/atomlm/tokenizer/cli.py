"""`atomlm tokenizer train`: train the fusion tokenizer."""

from __future__ import annotations

import time
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("tokenizer", help="train the fusion tokenizer")
    verbs = parser.add_subparsers(dest="tokenizer_verb", metavar="VERB")
    verbs.required = True
    train = verbs.add_parser("train", help="train a byte-level BPE with atomic, LSD-first digits")
    train.add_argument("--out", required=True, type=Path, help="output directory")
    train.add_argument(
        "--input", action="append", type=Path, default=[],
        help="text file (one document per line) or .jsonl with a 'text' field; repeatable. "
        "Default: the embedded offline corpus (King James Bible + generated arithmetic)",
    )
    train.add_argument("--vocab-size", type=int, default=4096)
    train.set_defaults(handler=run_train)


def run_train(args) -> int:
    from atomlm.tokenizer.training import (
        arithmetic_vocabulary, default_training_texts, read_text_files, save_tokenizer, train_tokenizer,
    )

    texts = read_text_files(args.input) if args.input else default_training_texts()
    source = ", ".join(map(str, args.input)) if args.input else "embedded offline corpus"
    print(f"training a {args.vocab_size}-token fusion tokenizer on {source}")
    started = time.perf_counter()
    tokenizer = train_tokenizer(texts, vocab_size=args.vocab_size)
    save_tokenizer(tokenizer, args.out)
    vocabulary = arithmetic_vocabulary(tokenizer)
    print(f"wrote {args.out} ({tokenizer.get_vocab_size()} tokens, {time.perf_counter() - started:.1f} s)")
    print(f"digit ids {vocabulary['digit_token_ids']}, operator ids {vocabulary['operator_token_ids']}, "
          f"space id {vocabulary['space_token_id']}")
    return 0
