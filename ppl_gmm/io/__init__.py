"""Files: JSON save / load of fits (:mod:`.serial`) and CSV input (:mod:`.csvdata`)."""

from .serial import FileFormatError, load, save

__all__ = ["FileFormatError", "load", "save"]
