"""`python -m evaluator ...` is the same as the `unclaimed` command."""

from evaluator.apps.cli import main_entry

main_entry()
