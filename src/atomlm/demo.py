"""`atomlm demo` (in progress)."""


def register(subparsers):
    pass
