"""Load benchmarks: dockfaq against a naive server and txtai (see bench/README.md)."""
