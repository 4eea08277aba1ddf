"""The scalar backend: formulas compiled to closures, evaluated record by record."""
