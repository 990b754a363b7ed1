"""`atomlm export` (in progress)."""


def register(subparsers):
    pass
