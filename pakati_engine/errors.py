"""Exceptions with messages that say what is wrong and how to fix it."""


class PakatiError(Exception):
    """Base class of every error Pakati raises on purpose."""


class InvalidInputError(PakatiError, ValueError):
    """Something the user gave (a layout, region, image, file) is not usable."""


class ModelNotFoundError(PakatiError, FileNotFoundError):
    """A model could not be found locally; Pakati never downloads."""
