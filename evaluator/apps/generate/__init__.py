"""Synthetic snapshot portfolios: ``unclaimed generate --members N --seed S --out FILE``.

Writes an account snapshot table (contract.md, "Account snapshot table") and its FX
table, for trying policies on realistic volumes (up to about 10,000,000 accounts)
without real member data. Every figure the generator uses is a field of
:class:`Assumptions`, with its default, what it means and where it comes from; the
public figures are *calibration targets* (approximate, aggregate), not data, and the
portfolio describes no real credit union. ``docs/synthetic-portfolios.md`` explains
the model in prose.

Output
------
* ``FILE`` (``.csv`` or ``.parquet``, by extension): one row per account, columns
  :data:`evaluator.facts.SNAPSHOT_COLUMNS` in that order, plus ``kind`` when asked
  (``kinds=True``: a share of members get one extra gift-card or prepaid row after
  their deposit accounts; every other row is unchanged). In CSV, dates are ISO text,
  balances decimal text with two decimals and absent dates empty cells; in Parquet,
  dates are ``Date``, balances ``Decimal(18, 2)`` (exact; never floats) and absent
  dates nulls. Rows are ordered by member, then account letter.
* ``<stem>.fx.csv`` beside it: ``currency,date,rate`` with a 30 September rate, four
  decimals, for every non-CAD currency of the mix and every year the payment windows
  could need (:attr:`Assumptions.fx_first_year` .. :attr:`Assumptions.fx_last_year`),
  less the rows dropped on purpose by ``missing_rates``.

Determinism
-----------
The same members, seed, assumptions and options give byte-identical files, whatever
``chunk_members`` is. Four independent streams ``Generator(PCG64(child))`` are spawned
from ``SeedSequence(seed)``: one for members, one for deposit accounts, one for the
optional gift-card/prepaid rows and one for FX rates. Every member consumes exactly
:data:`.builder._MEMBER_DRAWS` uniforms of the member stream and every account
:data:`.builder._ACCOUNT_DRAWS` of the account stream (all distributions are inverse-CDF
transforms of uniforms), members are generated in order, and a member's rows are
never split across chunks, so cutting the member sequence into chunks of any size
consumes the streams identically. Adding ``kinds`` or ``missing_rates`` changes
nothing else in the portfolio. (The identity holds for one platform and one version of
numpy and polars; another libm could in principle move a value by a cent or a day.)

Memory: one chunk (default 200,000 members, about 360,000 rows) is built at a time;
CSV chunks are appended to the file, Parquet chunks are streamed through a polars sink
with fixed row groups. The summary keeps the balances as 8-byte cents for its quantiles
(80 MB for 10,000,000 accounts); past :data:`EXACT_QUANTILE_MEMBERS` members it keeps
those of every k-th member only, so memory stays bounded.

Modules: :mod:`.distributions` (random transforms, day numbers) <- :mod:`.assumptions`
(the figures, their validation and file syntax) <- :mod:`.builder` (rows, FX table,
summary) <- :mod:`.write` (files) <- :mod:`.cli` (``unclaimed generate``).
"""

from evaluator.apps.generate.assumptions import (
    DEFAULT_CHUNK_MEMBERS,
    EXACT_QUANTILE_MEMBERS,
    MAX_MEMBERS,
    PARQUET_ROW_GROUP,
    Assumptions,
    AssumptionsError,
    GenerateError,
    assumptions_from_mapping,
    load_assumptions,
)
from evaluator.apps.generate.builder import Summary, fx_table, iter_chunks
from evaluator.apps.generate.cli import add_parser, assumptions_from_args, main, run
from evaluator.apps.generate.write import fx_path_for, generate

__all__ = [
    "DEFAULT_CHUNK_MEMBERS",
    "EXACT_QUANTILE_MEMBERS",
    "MAX_MEMBERS",
    "PARQUET_ROW_GROUP",
    "Assumptions",
    "AssumptionsError",
    "GenerateError",
    "Summary",
    "add_parser",
    "assumptions_from_args",
    "assumptions_from_mapping",
    "fx_path_for",
    "fx_table",
    "generate",
    "iter_chunks",
    "load_assumptions",
    "main",
    "run",
]
