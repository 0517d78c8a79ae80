"""xpmbuild: typed experiment files, content-hashed job graphs, local and cluster launchers."""
__version__ = "0.1.0"
