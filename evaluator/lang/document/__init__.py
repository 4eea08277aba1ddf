"""Policy documents: reading the YAML files, their positions, and the index of shipped policies."""
