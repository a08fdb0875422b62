"""The error every input reader of the project raises: stages turn it into one line and exit 2."""


class InputError(RuntimeError):
    """An input file is missing, unreadable or not in its documented format (the message names it)."""
