"""openability: telecom capability-exposure platform."""

__version__ = "0.1.0"
