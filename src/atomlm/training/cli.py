"""`atomlm training` verbs (work in progress)."""


def register(subparsers):
    pass
