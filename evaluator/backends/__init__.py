"""Ways to evaluate a checked policy (importing this package loads no dataframe library)."""
