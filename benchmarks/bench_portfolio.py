"""Portfolio throughput and peak memory: hand-written reference, compiled policy, scalar.

    python benchmarks/bench_portfolio.py --accounts 1000000 [--seed 1] [--as-of 2026-11-21]
                                         [--scalar-sample 20000] [--repeat N]
    python benchmarks/bench_portfolio.py --accounts 10000000      # the 4 GB memory target

Generates one snapshot portfolio (``evaluator.generate`` when it exists and gives a
snapshot, else a local NumPy generator), writes it to a temporary Parquet file (and the
CSV forms the other evaluators read), then measures in the same run, each in a fresh
subprocess so that peak memories do not mix (the child's own ``ru_maxrss``):

* ``reference``: ``benchmarks/reference.py`` - read the Parquet file and compute every
  determination (status, dates, notices, payment window, CAD amount, findings);
* ``compiled``: ``policy.evaluate(load_facts(file), as_of=..., backend="columnar")``,
  or "not available" while that backend does not exist;
* ``scalar``: ``policy.evaluate(load_facts(csv), as_of=...)`` (no trace) on the first
  ``--scalar-sample`` accounts, whole members, its rate extrapolated.

It prints the command and the machine first, then accounts/s, wall time, the ratio of
each to the reference, peak memory, and the issue's targets with ok / MISSED.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

POLICY = ROOT / "policies" / "fsra-2024-001"
EXAMPLES = ROOT / "examples"
SNAPSHOT_COLUMNS = ["member_id", "account_id", "currency", "balance", "opened",
                    "last_transaction", "last_statement_ack", "last_response"]
GiB = 2**30
MiB = 2**20

# targets of the issue, checked at the end
COMPILED_SECONDS_1M = 2.0
COMPILED_VS_REFERENCE = 1.5
PEAK_1M = 1.5 * 10**9
PEAK_10M = 4 * 10**9
SCALAR_RATE = 20_000
# policy.evaluate(table) of 1M accounts (issue 15): a result that stays columnar
API_SECONDS_1M = 1.5
API_PEAK_1M = 1 * 10**9


# ----------------------------------------------------------------------------- data


def _day(d: dt.date) -> int:
    return (d - dt.date(1970, 1, 1)).days


def generate_local(accounts: int, seed: int, as_of: dt.date,
                   balance: str = "decimal") -> tuple[pl.DataFrame, pl.DataFrame]:
    """(snapshot, fx) with ``accounts`` rows, vectorised, deterministic for a seed.

    The shape of ``bench_scalar.py``'s portfolio, as a snapshot: 1-3 accounts per
    member (1.67 on average), opened from 1985, a quarter of the profiles dormant
    (last used 3-25 years ago) so every status occurs, 15% USD and 3% EUR accounts
    with 30 Sep rates for every year, balances log-uniform from 0.01 to 1,000,000,
    a statement acknowledgement for 30% of members and a response for 9%, repeated on
    each row of the member. Rows are sorted by member, every date is on or before
    ``as_of``.
    """
    rng = np.random.default_rng(seed)
    sizes = np.array([1, 1, 1, 2, 2, 3], dtype=np.int64)
    per = rng.choice(sizes, size=accounts // 1 + 1)  # enough: every member has >= 1
    ends = np.cumsum(per)
    members = int(np.searchsorted(ends, accounts)) + 1
    per = per[:members].copy()
    per[-1] -= int(ends[members - 1]) - accounts
    member = np.repeat(np.arange(members, dtype=np.int64), per)
    first_row = np.repeat(np.cumsum(per) - per, per)
    within = (np.arange(accounts, dtype=np.int64) - first_row).astype(np.uint32)
    del first_row, ends
    A = _day(as_of)
    never = np.int32(np.iinfo(np.int32).min)

    dormant = (rng.random(members) < 0.25)[member]
    opened = rng.integers(_day(dt.date(1985, 1, 1)), A - 30 + 1, accounts, dtype=np.int32)
    newest = np.where(dormant, A - rng.integers(3 * 365, 25 * 365 + 1, accounts,
                                                dtype=np.int32), A).astype(np.int32)
    used = np.where(dormant, rng.random(accounts) < 0.75, rng.random(accounts) < 0.85)
    used &= newest > opened
    lo = np.maximum(opened, newest - 730)
    tx = lo + (rng.random(accounts) * (newest - lo + 1)).astype(np.int32)
    tx = np.where(used, np.minimum(tx, newest), never).astype(np.int32)
    del newest, used, lo
    ack_m = np.where(rng.random(members) < 0.30,
                     rng.integers(_day(dt.date(1995, 1, 1)), A + 1, members), never)
    resp_m = np.where((rng.random(members) < 0.09),
                      rng.integers(_day(dt.date(2000, 1, 1)), A + 1, members), never)
    ack = ack_m.astype(np.int32)[member]
    resp = resp_m.astype(np.int32)[member]
    r = rng.random(accounts)
    currency = np.where(r < 0.15, 1, np.where(r < 0.18, 2, 0)).astype(np.uint32)
    cents = (10 ** rng.uniform(0, 8, accounts)).astype(np.int64)
    del r, dormant

    def dates(a: np.ndarray) -> pl.Series:
        s = pl.Series(a)
        return s.scatter(np.flatnonzero(a == never), None).cast(pl.Date) \
            if (a == never).any() else s.cast(pl.Date)

    mid = pl.Series("m", member).cast(pl.String).str.zfill(9)
    frame = pl.DataFrame({"m": mid, "w": pl.Series(["A", "B", "C"]).gather(within)}).select(
        ("M" + pl.col("m")).alias("member_id"),
        pl.concat_str([pl.lit("M"), pl.col("m"), pl.lit("-"), pl.col("w")]).alias("account_id"),
    )
    del mid, member, within
    if balance == "decimal":
        bal = pl.Series(cents).cast(pl.Decimal(18, 0)).cast(pl.Decimal(18, 2)) / 100
        bal = bal.cast(pl.Decimal(18, 2))
    else:
        bal = pl.DataFrame({"c": cents}).select(pl.format(
            "{}.{}", pl.col("c") // 100,
            (pl.col("c") % 100).cast(pl.String).str.zfill(2))).to_series()
    frame = frame.with_columns(
        pl.Series("currency", ["CAD", "USD", "EUR"]).gather(currency),
        bal.alias("balance"),
        dates(opened).alias("opened"),
        dates(tx).alias("last_transaction"),
        dates(ack).alias("last_statement_ack"),
        dates(resp).alias("last_response"),
    )
    fx = pl.DataFrame(
        [(c, f"{y}-09-30", f"{base + (y % 7) * 0.0125:.4f}")
         for c, base in (("USD", 1.30), ("EUR", 1.45)) for y in range(1995, 2061)],
        schema=["currency", "date", "rate"], orient="row")
    return frame, fx


def generate(accounts: int, seed: int, as_of: dt.date, which: str,
             balance: str) -> tuple[pl.DataFrame, pl.DataFrame, str]:
    """(snapshot, fx, description) from ``evaluator.generate`` when it exists (or is
    asked for), else from :func:`generate_local`."""
    note = ""
    if which != "local":
        try:
            snapshot, fx, members = _generate_with_evaluator(accounts, seed, as_of)
        except Exception as e:  # any failure: say why, and use the local generator
            if which == "evaluator":
                raise
            if not isinstance(e, ImportError):
                note = f" (evaluator.generate not used: {type(e).__name__}: {e})"
        else:
            return snapshot, fx, (f"evaluator.generate.iter_chunks({members:,} members, "
                                  f"seed {seed}), cut to whole members")
    snapshot, fx = generate_local(accounts, seed, as_of, balance)
    return snapshot, fx, "local NumPy generator" + note


def _generate_with_evaluator(accounts: int, seed: int,
                             as_of: dt.date) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """The first whole members of ``evaluator.generate``'s portfolio reaching
    ``accounts`` rows (Parquet column types), its FX table, and the members asked for."""
    import dataclasses

    from evaluator import generate as g

    assumptions = dataclasses.replace(g.Assumptions(), as_of=as_of)
    probe = pl.concat(list(g.iter_chunks(20_000, seed, assumptions)))
    per_member = probe.height / 20_000
    members = max(int(accounts / per_member * 1.02) + 10, 1)
    snapshot = pl.concat(list(g.iter_chunks(members, seed, assumptions)), rechunk=True)
    while snapshot.height < accounts:  # unlikely: ask for more
        members = int(members * 1.1) + 10
        snapshot = pl.concat(list(g.iter_chunks(members, seed, assumptions)), rechunk=True)
    ids = snapshot.get_column("member_id")
    cut = accounts
    while 0 < cut < snapshot.height and ids[cut] == ids[cut - 1]:
        cut += 1
    snapshot = snapshot.head(cut).select(SNAPSHOT_COLUMNS)
    fx = pl.DataFrame([(c, d.isoformat(), r) for c, d, r in g.fx_table(seed, assumptions)],
                      schema=["currency", "date", "rate"], orient="row")
    return snapshot, fx, members


# ----------------------------------------------------------------------------- children


def max_rss_bytes() -> int:
    """This process's peak resident set. On Linux ``VmHWM`` (the peak of this process's
    own address space): ``ru_maxrss`` also counts the parent's resident set at the time
    of the fork, which an exec does not reset."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return ru_maxrss_bytes()


def ru_maxrss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux reports KiB


def _peaks(base: int) -> dict[str, int]:
    return {"base_rss": base, "peak_rss": max_rss_bytes(), "ru_maxrss": ru_maxrss_bytes()}


def _statuses(frame: pl.DataFrame, error: str) -> dict[str, int]:
    """Rows per status (``error`` for rows in error); the compiled frame names its
    output columns ``out:<name>``."""
    name = next((c for c in ("status", "out:status") if c in frame.columns), None)
    if name is None:
        return {}
    status = pl.when(pl.col(error).is_null()).then(pl.col(name).cast(pl.String)) \
        .otherwise(pl.lit("error"))
    return dict(frame.select(status.alias("s")).get_column("s").value_counts().iter_rows())


def _measure(repeat: int, run: Any) -> dict[str, Any]:
    """Best of ``repeat`` calls of ``run() -> (read s, compute s, summary)``."""
    import gc

    best: dict[str, Any] = {}
    for _ in range(repeat):
        gc.collect()
        read_s, compute_s, summary = run()
        if not best or read_s + compute_s < best["seconds"]:
            best = {"seconds": read_s + compute_s, "read_seconds": read_s,
                    "compute_seconds": compute_s, **summary}
    return best


def child_reference(args: argparse.Namespace) -> dict[str, Any]:
    """Read the snapshot file and compute every determination, by hand."""
    from benchmarks.reference import read_fx, read_snapshot, reference

    as_of = dt.date.fromisoformat(args.as_of)
    base = max_rss_bytes()

    def run() -> tuple[float, float, dict[str, Any]]:
        t0 = time.perf_counter()
        frame = read_snapshot(args.input).collect()
        t1 = time.perf_counter()
        out = reference(frame, read_fx(args.fx), as_of)
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1, {"accounts": out.height,
                                  "errors": int(out.get_column("error").is_not_null().sum()),
                                  "statuses": _statuses(out, "error")}

    return {**_measure(args.repeat, run), **_peaks(base)}


def child_compiled(args: argparse.Namespace) -> dict[str, Any]:
    """``evaluator.columnar``: read_table, then the compiled policy's result frame."""
    from evaluator import load_policy
    from evaluator.columnar import evaluate_frame, read_table

    as_of = dt.date.fromisoformat(args.as_of)
    policy = load_policy(POLICY)
    params = policy.resolve_params(None)
    base = max_rss_bytes()

    def run() -> tuple[float, float, dict[str, Any]]:
        t0 = time.perf_counter()
        table = read_table(args.input, fx=args.fx)
        t1 = time.perf_counter()
        frame = evaluate_frame(policy, table, as_of, params).frame
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1, {"accounts": frame.height + len(table.errors),
                                  "errors": int(frame.get_column("__error").is_not_null().sum())
                                  + len(table.errors),
                                  "statuses": _statuses(frame, "__error")}

    return {**_measure(args.repeat, run), **_peaks(base)}


def child_api(args: argparse.Namespace) -> dict[str, Any]:
    """The public API: ``policy.evaluate(table, as_of, backend="columnar")``, whose
    result keeps the frame (an account made into Python only when read)."""
    from evaluator import load_policy

    as_of = dt.date.fromisoformat(args.as_of)
    policy = load_policy(POLICY)
    read = _columnar_reader()
    base = max_rss_bytes()

    def run() -> tuple[float, float, dict[str, Any]]:
        t0 = time.perf_counter()
        table = read(args.input, fx=args.fx)
        t1 = time.perf_counter()
        result = policy.evaluate(table, as_of=as_of, backend="columnar")
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1, {"accounts": len(result.accounts) + len(result.errors),
                                  "errors": len(result.errors)}

    return {**_measure(args.repeat, run), **_peaks(base)}


def child_scalar(args: argparse.Namespace) -> dict[str, Any]:
    """The scalar evaluator, no trace: ``load_facts`` of the sample CSV, ``evaluate``."""
    from evaluator import load_policy
    from evaluator.facts import load_facts

    as_of = dt.date.fromisoformat(args.as_of)
    policy = load_policy(POLICY)
    base = max_rss_bytes()

    def run() -> tuple[float, float, dict[str, Any]]:
        t0 = time.perf_counter()
        facts = load_facts(args.input, fx=args.fx)
        t1 = time.perf_counter()
        result = policy.evaluate(facts, as_of=as_of)
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1, {"accounts": len(result.accounts) + len(result.errors),
                                  "errors": len(result.errors)}

    return {**_measure(args.repeat, run), **_peaks(base)}


def child_generate(args: argparse.Namespace) -> dict[str, Any]:
    """Generate the portfolio and write its files (in a subprocess, so the parent stays
    small: a child's ``ru_maxrss`` starts from its parent's resident set)."""
    work = Path(args.out)
    as_of = dt.date.fromisoformat(args.as_of)
    t0 = time.perf_counter()
    snapshot, fx, source = generate(args.accounts, args.seed, as_of, args.generator,
                                    args.balance)
    generate_s = time.perf_counter() - t0
    n = snapshot.height
    t0 = time.perf_counter()
    portfolio = work / f"portfolio.{args.format}"
    if args.format == "parquet":
        snapshot.write_parquet(portfolio)
    else:
        snapshot.write_csv(portfolio)
    fx.write_csv(work / "fx.csv")
    write_s = time.perf_counter() - t0
    if args.scalar_sample:  # whole members, from the first row
        cut = min(args.scalar_sample, n)
        ids = snapshot.get_column("member_id")
        while 0 < cut < n and ids[cut] == ids[cut - 1]:
            cut += 1
        snapshot.head(cut).write_csv(work / "scalar-sample.csv")
    return {"accounts": n, "members": snapshot.get_column("member_id").n_unique(),
            "source": source, "generate_seconds": generate_s, "write_seconds": write_s,
            "bytes": portfolio.stat().st_size}


CHILDREN = {"generate": child_generate, "reference": child_reference, "compiled": child_compiled, "api": child_api,
            "scalar": child_scalar}


def _columnar_reader() -> Any:
    """How the columnar backend reads a snapshot file: ``evaluator.columnar.read_table``
    where it exists, else ``load_facts``."""
    try:
        from evaluator.columnar import read_table
    except ImportError:
        from evaluator.facts import load_facts
        return load_facts
    return read_table


def compiled_available() -> tuple[str | None, bool]:
    """(None when ``backend="columnar"`` evaluates the bundled snapshot, else why not;
    whether ``evaluator.columnar.evaluate_frame`` gives the result frame directly)."""
    from evaluator import load_policy
    from evaluator.errors import PolicyError

    try:
        policy = load_policy(POLICY)
        facts = _columnar_reader()(EXAMPLES / "members.csv", fx=EXAMPLES / "fx.csv")
        policy.evaluate(facts, as_of="2026-11-21", backend="columnar")
    except NotImplementedError as e:
        return f"NotImplementedError: {e}", False
    except PolicyError as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else e!r}", False
    except Exception as e:
        return f"{type(e).__name__}: {e}", False
    try:
        from evaluator.columnar import evaluate_frame, read_table  # noqa: F401
    except ImportError:
        return None, False
    return None, True


def run_child(kind: str, args: argparse.Namespace, input_path: Path | None, fx_path: Path | None,
              repeat: int, timeout: float, extra: list[str] | None = None) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", kind, "--as-of", args.as_of,
           "--repeat", str(repeat), *(extra or [])]
    if input_path is not None and fx_path is not None:
        cmd += ["--input", str(input_path), "--fx", str(fx_path)]
    cap = int(args.memory_cap * GiB)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        start = time.monotonic()
        stopped = None
        while child.poll() is None:  # watch it: stop it before it can hurt the machine
            if time.monotonic() - start > timeout:
                stopped = f"did not finish in {timeout:.0f} s (--timeout)"
            elif _rss(child.pid) > cap:
                stopped = f"stopped above {args.memory_cap:g} GiB resident (--memory-cap)"
            if stopped:
                child.kill()
                child.wait()
                return {"failed": stopped}
            time.sleep(0.05)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if child.returncode != 0 or not lines:
        tail = (stderr.strip().splitlines() or ["?"])[-1]
        killed = " (killed: out of memory?)" if child.returncode < 0 else ""
        return {"failed": f"exit {child.returncode}{killed}: {tail}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _rss(pid: int) -> int:
    """Resident bytes of a running process (0 when unknown)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


# ----------------------------------------------------------------------------- report


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f"{pages / GiB:.1f} GiB RAM"
    except (ValueError, OSError, AttributeError):
        memory = "RAM unknown"
    try:
        load = "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "load unknown"
    return (f"python {platform.python_version()} on {platform.platform()}; {cpu}, "
            f"{os.cpu_count()} CPUs, {memory}, {load}; polars {pl.__version__} "
            f"({pl.thread_pool_size()} threads), numpy {np.__version__}")


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else "ok" if ok else "MISSED"


LABELS = {
    "reference": "reference: read + compute",
    "compiled": "compiled: read_table + frame",
    "api": "compiled: policy.evaluate",
    "scalar": "scalar: load_facts + evaluate",
}


def report(results: dict[str, dict[str, Any]], n: int) -> None:
    ref = results["reference"]
    print(f"  {'':31} {'wall s':>8} {'read s':>7} {'eval s':>7} {'accounts/s':>11} "
          f"{'vs ref':>7} {'peak MiB':>9} {'base MiB':>9}")
    for name, r in results.items():
        label = LABELS[name]
        if "failed" in r:
            print(f"  {label:31} {r['failed']}")
            continue
        count = r["accounts"]
        ratio = f"{r['seconds'] / ref['seconds']:.2f}x" \
            if "seconds" in ref and name != "scalar" else "-"
        print(f"  {label:31} {r['seconds']:8.3f} {r['read_seconds']:7.3f} "
              f"{r['compute_seconds']:7.3f} {count / r['seconds']:11,.0f} {ratio:>7} "
              f"{r['peak_rss'] / MiB:9.0f} {r['base_rss'] / MiB:9.0f}")
        if name == "scalar":
            per_s = count / r["compute_seconds"]
            print(f"  {'  evaluate alone':31} {r['compute_seconds']:8.3f} {'':7} {'':7} "
                  f"{per_s:11,.0f}   sample of {count:,} accounts; {n:,} would take "
                  f"{n / per_s:,.0f} s")
    print()
    for name, r in results.items():
        if r.get("statuses"):
            print(f"  {name} statuses: " + ", ".join(
                f"{k} {v:,}" for k, v in sorted(r["statuses"].items())))
    comp = results.get("compiled", {})
    if ref.get("statuses") and comp.get("statuses"):
        same = ref["statuses"] == comp["statuses"]
        print(f"  status counts of the reference and the compiled policy: "
              f"{'identical' if same else 'DIFFERENT'}")


def targets(results: dict[str, dict[str, Any]], n: int) -> None:
    ref = results["reference"]
    comp = results.get("compiled", {})
    if "seconds" not in comp:
        comp = results.get("api", {})
    scal = results["scalar"]
    print("\ntargets (compiled = the result frame when available, else policy.evaluate):")
    have = "seconds" in comp
    if abs(n - 1_000_000) <= 50_000:
        print(f"  compiled <= {COMPILED_SECONDS_1M:.0f} s over 1M accounts: "
              + (f"{comp['seconds']:.2f} s " if have else "")
              + _verdict(comp["seconds"] <= COMPILED_SECONDS_1M if have else None))
    if have and "seconds" in ref:
        ratio = comp["seconds"] / ref["seconds"]
        print(f"  compiled within {COMPILED_VS_REFERENCE}x of the reference: {ratio:.2f}x "
              f"{_verdict(ratio <= COMPILED_VS_REFERENCE)}")
    else:
        print(f"  compiled within {COMPILED_VS_REFERENCE}x of the reference: n/a")
    limit = PEAK_10M if n > 1_500_000 else PEAK_1M
    for name, r in results.items():
        if name == "scalar":
            continue
        ok = r["peak_rss"] <= limit if "peak_rss" in r else None
        peak = f"{r['peak_rss'] / 1e9:.2f} GB " if "peak_rss" in r else ""
        print(f"  {LABELS[name]}: peak <= {limit / 1e9:.1f} GB for {n:,} accounts: "
              f"{peak}{_verdict(ok)}")
    api = results.get("api", {})
    if "seconds" in api and abs(n - 1_000_000) <= 50_000:
        ok = api["seconds"] <= API_SECONDS_1M and api["peak_rss"] <= API_PEAK_1M
        print(f"  policy.evaluate(table) <= {API_SECONDS_1M} s and <= "
              f"{API_PEAK_1M / 1e9:.0f} GB over 1M accounts (read + evaluate): "
              f"{api['seconds']:.2f} s, {api['peak_rss'] / 1e9:.2f} GB {_verdict(ok)}")
    if "compute_seconds" in scal:
        rate = scal["accounts"] / scal["compute_seconds"]
        print(f"  scalar >= {SCALAR_RATE:,} accounts/s without trace: {rate:,.0f} "
              f"{_verdict(rate >= SCALAR_RATE)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--as-of", default="2026-11-21")
    parser.add_argument("--scalar-sample", type=int, default=20_000,
                        help="accounts the scalar evaluator runs on (0: skip it)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="runs per measurement, best kept (default 3; 1 from 5M accounts)")
    parser.add_argument("--generator", choices=("auto", "local", "evaluator"), default="auto",
                        help="auto: evaluator.generate when it exists, else local")
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet",
                        help="the portfolio file the reference and the compiled policy read")
    parser.add_argument("--balance", choices=("decimal", "text"), default="decimal",
                        help="local generator's Parquet balance: Decimal(18,2) or text")
    parser.add_argument("--api", choices=("auto", "yes", "no"), default="auto",
                        help="time policy.evaluate(..., backend='columnar'), whose result "
                             "stays columnar (auto: up to 2M accounts)")
    parser.add_argument("--skip-compiled", action="store_true")
    parser.add_argument("--keep", metavar="DIR", help="write the portfolio files here, keep them")
    parser.add_argument("--memory-cap", type=float, default=8.0, metavar="GIB",
                        help="stop a measurement whose resident set grows past this")
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds allowed per measurement subprocess")
    parser.add_argument("--api-timeout", type=float, default=300,
                        help="seconds allowed for the policy.evaluate measurement")
    parser.add_argument("--child", choices=tuple(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--fx", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(CHILDREN[args.child](args)))
        return 0

    repeat = args.repeat or (3 if args.accounts < 5_000_000 else 1)
    as_of = dt.date.fromisoformat(args.as_of)
    print("command: " + shlex.join(["python", os.path.relpath(__file__, Path.cwd()),
                                    *sys.argv[1:]]))
    print("machine: " + machine())
    sys.stdout.flush()

    with tempfile.TemporaryDirectory(prefix="bench-portfolio-") as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        made = run_child("generate", args, None, None, 1, args.timeout, [
            "--accounts", str(args.accounts), "--seed", str(args.seed),
            "--generator", args.generator, "--balance", args.balance, "--format", args.format,
            "--scalar-sample", str(args.scalar_sample), "--out", str(work)])
        if "failed" in made:
            print(f"generating the portfolio failed: {made['failed']}")
            return 1
        n = made["accounts"]
        portfolio = work / f"portfolio.{args.format}"
        fx_csv = work / "fx.csv"
        sample = work / "scalar-sample.csv"
        print(f"portfolio: {n:,} accounts, {made['members']:,} members, seed {args.seed}, "
              f"as of {as_of}; {made['source']}; generated in {made['generate_seconds']:.1f} s;"
              f" {args.format} {made['bytes'] / MiB:.0f} MiB written in "
              f"{made['write_seconds']:.1f} s")
        why_not, has_frame = (("skipped (--skip-compiled)", False) if args.skip_compiled
                              else compiled_available())
        print(f"each measurement in a fresh subprocess, best of {repeat} run(s) "
              "(policy.evaluate: 1 run); peak = that subprocess's own peak resident set "
              "(VmHWM), base = the same after its imports\n")
        sys.stdout.flush()

        results: dict[str, dict[str, Any]] = {}
        results["reference"] = run_child("reference", args, portfolio, fx_csv, repeat,
                                         args.timeout)
        if why_not is not None:
            results["compiled"] = {"failed": f"not available ({why_not})"}
        else:
            if has_frame:
                results["compiled"] = run_child("compiled", args, portfolio, fx_csv, repeat,
                                                args.timeout)
            if args.api == "yes" or (args.api == "auto" and n <= 2_000_000):
                results["api"] = run_child("api", args, portfolio, fx_csv, 1, args.api_timeout)
            else:
                results["api"] = {"failed": "skipped (--api auto: above 2M accounts)"}
        results["scalar"] = (run_child("scalar", args, sample, fx_csv, repeat, args.timeout)
                             if args.scalar_sample else {"failed": "skipped (--scalar-sample 0)"})

    report(results, n)
    targets(results, n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
