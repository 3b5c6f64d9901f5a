"""Errors whose message is one line for the person running capsnet (the CLI prints it as it is)."""


class CapsNetError(Exception):
    """Base class: one line that names the file or setting and says what is wrong."""


class DataError(CapsNetError):
    """A data set is missing, unknown or malformed (names the file)."""


class CheckpointError(CapsNetError):
    """A checkpoint cannot be read, or belongs to another architecture (says which settings differ)."""


class SettingError(CapsNetError, ValueError):
    """A setting has an invalid value (names the setting)."""
