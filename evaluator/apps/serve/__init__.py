"""`unclaimed serve`: the evaluator as an HTTP decision service (FastAPI on uvicorn).

Only the ``serve`` command imports this package: ``import evaluator`` never loads FastAPI.
"""
