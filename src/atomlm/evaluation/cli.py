"""`atomlm evaluation` verbs (work in progress)."""


def register(subparsers):
    pass
