"""atomlm: the open system behind Atom2.7m, an arithmetic-aware small language model."""

__version__ = "0.1.0"
