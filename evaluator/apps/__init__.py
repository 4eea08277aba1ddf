"""What users run: the command line and the tools built on the evaluator."""
