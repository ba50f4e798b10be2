"""atmptrack: a command-line tracker for European ATMP initiatives."""

__version__ = "0.1.0"
