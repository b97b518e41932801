"""fteval: did my fine-tune help, by how much, is the difference real, and what did it cost?"""

from fteval.version import __version__

__all__ = ["__version__"]
