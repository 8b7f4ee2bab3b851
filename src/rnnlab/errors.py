"""The one exception type that rnnlab raises for bad user input.

The CLI prints it as a single line and exits with status 2; anything else is a bug.
"""


class RnnlabError(Exception):
    """User-facing error: the message names the input, the rule it broke and the fix."""


class DataError(RnnlabError):
    """A data source (file, column, row or generator) cannot be used."""


class ConfigError(RnnlabError):
    """A parameter name, type or value is not valid."""


class CheckpointError(RnnlabError):
    """A checkpoint or run directory cannot be read safely."""


class NotFittedError(RnnlabError):
    """predict / forecast / save was called before fit."""
