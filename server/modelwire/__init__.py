"""ModelWire: a language-server sidecar that runs AI agents on the open file."""

__version__ = "0.1.0"
