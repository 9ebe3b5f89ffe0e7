"""Exceptions with messages that say what is wrong and how to fix it."""


class PakatiError(Exception):
    """Base class of every error Pakati raises on purpose."""


class InvalidInputError(PakatiError, ValueError):
    """Something the user gave (a layout, region, image, file) is not usable."""


class UsageError(InvalidInputError):
    """A command-line argument is out of range or contradicts another (exit status 2)."""


class OutputExistsError(PakatiError, FileExistsError):
    """An output already exists (or is one of the run's inputs) and may not be replaced."""


class ModelNotFoundError(PakatiError, FileNotFoundError):
    """A model could not be found locally; Pakati never downloads."""


class ResourceLimitError(InvalidInputError):
    """The work asked for is larger than Pakati reads or allocates (stated limits)."""
