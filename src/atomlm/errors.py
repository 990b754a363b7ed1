"""The one kind of error a user can act on: raised anywhere, printed by the CLI as one line.

`atomlm.cli.main` catches `UserError` and prints `atomlm VERB: error: MESSAGE` to stderr and
exits 2 (bad input), with no traceback. The message names the file (and line or field) and
says what was expected. Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: a missing or malformed file, a bad flag or config value."""

    exit_code = 2
