"""`atomlm data` verbs (work in progress)."""


def register(subparsers):
    pass
