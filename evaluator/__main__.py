"""`python -m evaluator ...` is the same as the `unclaimed` command."""

from evaluator.cli import main_entry

main_entry()
