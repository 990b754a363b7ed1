"""The fusion tokenizer: training, the shipped default, and loading."""

from __future__ import annotations

from pathlib import Path

DEFAULT_TOKENIZER_DIR = Path(__file__).resolve().parent.parent / "assets" / "tokenizer"
# sha256 of the tokenizer.json of Atom2.7m's original tokenizer (no number marker), which
# `atomlm tokenizer train --number-marker none` reproduces byte for byte.
ATOM_2_7M_TOKENIZER_SHA256 = "4b55e4d84bc61914d5cc7dbf4903d1d7fa49000f9dcf6f449bae1779b46710a3"


def default_tokenizer_dir() -> Path:
    """Directory of the tokenizer shipped with atomlm (trained by `atomlm tokenizer train`)."""
    return DEFAULT_TOKENIZER_DIR


def load_tokenizer(path: str | Path | None = None):
    """Load an `AtomTokenizer` from a tokenizer or model directory (default: the shipped one)."""
    from atomlm.modeling.tokenization_atom import AtomTokenizer

    directory = Path(path) if path is not None else DEFAULT_TOKENIZER_DIR
    tokenizer_file = directory / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise FileNotFoundError(
            f"no tokenizer.json in {directory}: train one with `atomlm tokenizer train --out {directory}`"
        )
    tokenizer = AtomTokenizer.from_pretrained(str(directory))
    # save_pretrained writes auto_map from the class registration; a stale entry read from disk
    # (older exports wrote a bare list) would only get in its way.
    tokenizer.init_kwargs.pop("auto_map", None)
    return tokenizer
