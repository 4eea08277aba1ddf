"""The policy language: nodes, types, values, parser, builtins, documents and checks (never polars or numpy)."""
