"""Pakati's version, from the installed package's metadata (pyproject's ``version``), in a
module of its own so that reading it imports nothing heavy."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pakati")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
