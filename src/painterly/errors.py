"""Errors that carry a one-line message meant for the person running painterly.

Front ends (CLI, server) catch :class:`PainterlyError` and show ``str(err)`` as it is; anything
else is a bug and may show a traceback.
"""


class PainterlyError(Exception):
    """Base class: the message is one line, names the file or field, and says what is wrong.

    ``field``: the parameter or upload the message is about, when there is one, so front ends
    (the server's JSON ``field``) never have to read it back out of the text.
    """

    def __init__(self, message: str = "", *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ImageError(PainterlyError):
    """An image could not be read or written (names the file)."""


class PixelLimitError(ImageError):
    """An image has more pixels than the limit allows (checked on its header, before decoding)."""


class ModelError(PainterlyError):
    """A backbone, layer or weights file is unknown or unavailable."""


class ParameterError(PainterlyError, ValueError):
    """A parameter has an invalid value (names the field)."""


class ResourceError(ParameterError):
    """A run would need more memory than the machine has (names the setting to lower)."""
