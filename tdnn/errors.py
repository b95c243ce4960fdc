"""Errors a user can cause; the CLI prints them as one line and exits non-zero."""


class UserError(Exception):
    """Bad input or option: the message names the thing and says what to do."""


class AudioError(UserError):
    """An audio file that cannot be read as speech audio."""


class ConfigError(UserError):
    """A config file or override that does not fit the config dataclass."""


class LayoutError(UserError):
    """A corpus folder that does not have the expected layout."""
