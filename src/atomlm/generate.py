"""`atomlm generate` (in progress)."""


def register(subparsers):
    pass
