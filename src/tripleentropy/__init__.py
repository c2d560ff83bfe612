"""TripleEntropy: fine-tune language models with cross-entropy plus SoftTriple."""

__version__ = "0.2.0"
