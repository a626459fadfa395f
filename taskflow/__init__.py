"""taskflow: turns implementation plans into tracked work and runs their calendar."""

__version__ = "0.1.0"
