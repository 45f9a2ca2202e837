"""The package version (one place: the package, results files and the build read it)."""

__version__ = "0.1.0"
