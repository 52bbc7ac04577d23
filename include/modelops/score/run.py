"""Scoring one partition group chunk by chunk into its part file (reading and writing on threads of their own)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from modelops.collect.values import new_registrant_rows, plain_frame
from modelops.core import catalog
from modelops.score.agreement import CanaryStats, Shadow, canary_mask
from modelops.score.checks import Reasons, baseline_scores, check_chunk, chunk_guards, inputs_vary
from modelops.score.ids import SeenIds, earlier_ids, id_checks
from modelops.score.models import LoadedModel, predict, try_load
from modelops.score.output import CANARY, DICTIONARY_COLUMNS, FALLBACK, MODEL, SOURCES, chunk_table, output_schema
from modelops.score.plan import RowCountError, ScoringError, ScoringPlan
from modelops.score.readers import iter_chunks
from modelops.score.registrants import (
    fixed_scores,
    mark_policy_rows,
    missing_column_alert,
    output_codes,
)

_T = TypeVar("_T")


def score_group(
    plan: ScoringPlan | dict[str, Any],
    group_index: int,
    models: dict[tuple[str, str], LoadedModel] | None = None,
    seen: SeenIds | None = None,
) -> dict[str, Any]:
    """Score one group chunk by chunk into its part file in the snapshot's staging area; returns counts.

    `models`, when given, keeps the loaded models for the plan's next groups scored in this process
    (`score_snapshot`); each group still checks the compiled path on its own first chunk. `seen`,
    when given, holds the ids of the groups scored before in this process (else they are read back).
    """
    import pyarrow.parquet as pq
    from threadpoolctl import threadpool_limits

    plan = plan if isinstance(plan, ScoringPlan) else ScoringPlan.from_xcom(plan)
    if not 0 <= group_index < len(plan.groups):
        raise ScoringError(f"group {group_index} does not exist: the plan has {len(plan.groups)} groups")
    alerts: list[str] = []
    champion = try_load(plan, plan.version, plan.run_id, alerts, plan.alias, models)
    challenger = None
    if plan.challenger_version is not None:
        challenger = try_load(plan, plan.challenger_version, plan.challenger_run_id, alerts, "challenger", models)
    if seen is None:
        seen = SeenIds()
        seen.add(earlier_ids(plan, group_index))
    shadow = Shadow(plan, challenger, champion)
    group = _Group(plan, group_index, plan.offset(group_index), champion, challenger, shadow, alerts)
    folder = catalog.scoring_staging(plan.dataset, plan.snapshot) / f"group-{group_index:05d}"
    with catalog.atomic_dir(folder) as staging, threadpool_limits(1):  # one native thread per predict thread
        part = staging / f"part-{group_index:05d}.parquet"
        _write_part(group, seen, part)
        _check_rows(group, pq.ParquetFile(part).metadata.num_rows)
        result = group.result(str(folder / part.name), str(folder / "agreement.json"))
        catalog.write_json(staging / "agreement.json", shadow.stats(group.rows_in))
        catalog.write_json(staging / "result.json", result)
    return result


@dataclass
class _Chunk:
    """One checked chunk: its rows, the model's input, reason codes so far, alerts, factorized columns, id hashes,
    and which rows are new registrants (`scoring.new_registrants`)."""

    frame: pd.DataFrame
    X: pd.DataFrame
    codes: np.ndarray
    alerts: list[str]
    factors: dict[str, tuple[np.ndarray, Any]]
    hashes: np.ndarray | None
    new: np.ndarray


@dataclass
class _Group:
    """One partition group being scored: its models, the challenger's rows, and the running counts."""

    plan: ScoringPlan
    index: int
    offset: int  # position in the snapshot of the group's first row
    champion: LoadedModel | None
    challenger: LoadedModel | None
    shadow: Shadow
    alerts: list[str]  # the models' loading
    reasons: Reasons = field(default_factory=Reasons)
    chunk_alerts: list[str] = field(default_factory=list)
    reason_counts: dict[str, int] = field(default_factory=dict)
    source_counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SOURCES, 0))
    new_counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SOURCES, 0))  # new registrants
    score_shift: dict[str, Any] = field(default_factory=lambda: {"chunks": 0, "judged": 0, "max_psi": None})
    rows_in: int = 0
    rows_out: int = 0
    canary_stats: CanaryStats = field(default_factory=CanaryStats)

    def score(self, chunk: _Chunk) -> Any:
        """The chunk's output table: each row scored by the served model, the challenger (canary) or the fallback."""
        import pyarrow as pa

        plan, codes, n = self.plan, chunk.codes, len(chunk.frame)
        first = self.offset + self.rows_in
        self.chunk_alerts += chunk.alerts
        if self.champion is None:
            self.reasons.mark(codes, np.ones(n, dtype=bool), "model_unavailable")
        ok = codes == 0
        in_slice = np.zeros(n, dtype=bool)
        if plan.canary_share > 0 and self.challenger is not None:
            in_slice = canary_mask(chunk.frame[plan.checks["canary_key"]], plan.canary_share)
        canary = ok & in_slice
        wanted = self.shadow.rows(ok, chunk.hashes, first, self.rows_in + n) | canary  # rows the challenger scores
        champ, chall, withheld = self._model_scores(chunk, ok, wanted, first)
        model_rows = codes == 0
        with np.errstate(invalid="ignore"):  # the challenger decides only with a usable probability
            canary &= model_rows & np.isfinite(chall) & (chall >= 0.0) & (chall <= 1.0)
        fallback = ~model_rows
        score = np.where(canary, chall, champ)
        if fallback.any():
            score[fallback] = _fallback_scores(chunk, fallback, plan.baseline)
        rule = plan.checks.get("new_registrants")
        fixed_scores(rule, codes, self.reasons, score)
        source = np.where(fallback, 2, np.where(canary, 1, 0)).astype(np.int8)  # model, canary, fallback
        self.canary_stats.add(in_slice, canary, fallback, champ, chall, float(plan.options["threshold"]))
        # Both models scored these rows; a chunk the opt-in guard withheld still tells how far apart
        # they are (the drifted world a challenger is trained for is where it matters most).
        self.shadow.add(champ, chall, model_rows | withheld, chunk.frame, chunk.X)
        written = output_codes(rule, chunk.new, codes, self.reasons)
        table = chunk_table(plan, chunk.frame, first, score, source, written, self.reasons, champ, chall)
        scored_at = pd.Timestamp(plan.scored_at).value // 1000
        table = table.append_column("scored_at", pa.array(np.full(n, scored_at), pa.int64()))
        self._tally(codes, source, n, table.num_rows)
        new_by_source = np.bincount(source[chunk.new], minlength=3)
        for name, count in zip((MODEL, CANARY, FALLBACK), new_by_source, strict=True):
            self.new_counts[name] += int(count)
        return table

    def _model_scores(
        self, chunk: _Chunk, ok: np.ndarray, wanted: np.ndarray, first: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(the served model's scores, the challenger's, the rows the whole-chunk guards withheld); NaN: not scored.

        A row whose own score is no probability, and the rows the guards withhold, get their reason in `chunk.codes`.
        """
        n = len(ok)
        champ = np.full(n, np.nan)
        chall = np.full(n, np.nan)
        withheld = np.zeros(n, dtype=bool)  # scored by the model, held back by the opt-in PSI guard
        if not ok.any():
            return champ, chall, withheld
        codes, X, factors = chunk.codes, chunk.X, chunk.factors
        champ[ok] = predict(self.champion, *_subset(X, factors, ok))
        # a row's own score must be a probability, or that row falls back
        with np.errstate(invalid="ignore"):
            usable = np.isfinite(champ) & (champ >= 0.0) & (champ <= 1.0)
        self.reasons.mark(codes, ok & ~usable, "invalid_score")
        scored = codes == 0
        vary = functools.partial(inputs_vary, X, factors, scored)  # asked only when scores are flat
        profile = self.champion.score_profile if self.champion else None
        rows = f"rows {first}..{first + n - 1}"
        withheld, reason, found = chunk_guards(self.plan.options, profile, champ, scored, vary, rows, self.score_shift)
        self.chunk_alerts += found
        if reason:
            self.reasons.mark(codes, withheld, reason)
        if self.challenger is not None and (ok & wanted).any():
            take = ok & wanted
            chall[take] = predict(self.challenger, *_subset(X, factors, take))
        return champ, chall, withheld

    def _tally(self, codes: np.ndarray, source: np.ndarray, rows_in: int, rows_out: int) -> None:
        """Count the chunk's rows, its reasons and its sources."""
        self.rows_in += rows_in
        self.rows_out += rows_out
        for name, count in zip(*np.unique(codes[codes > 0], return_counts=True), strict=True):
            reason = self.reasons.names[int(name)]
            self.reason_counts[reason] = self.reason_counts.get(reason, 0) + int(count)
        counts = np.bincount(source, minlength=3)
        self.source_counts[MODEL] += int(counts[0])
        self.source_counts[CANARY] += int(counts[1])
        self.source_counts[FALLBACK] += int(counts[2])

    def result(self, part: str, stats: str) -> dict[str, Any]:
        """The group's counts, alerts and notes, as `commit_scoring` reads them."""
        champion, challenger = self.champion, self.challenger
        return {
            "group": self.index,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "first_row": self.offset,
            "sources": self.source_counts,
            "new_registrants": self.new_counts,
            "reasons": dict(sorted(self.reason_counts.items())),
            "failed_checks": dict(sorted(self.reasons.failed.items())),
            "alerts": self.alerts + dedupe(self.chunk_alerts),
            "score_shift": self.score_shift,
            "shadow": self.plan.shadow and challenger is not None,
            "canary": self.canary_stats.to_dict() if self.plan.canary_share > 0 and challenger is not None else None,
            "fast_path": {
                who: {"version": m.version, "fast": bool(m.fast), "max_diff": m.max_diff}
                for who, m in (("served", champion), ("challenger", challenger))
                if m is not None and m.fast is not None
            },
            "notes": [m.note for m in (champion, challenger) if m is not None and m.note],
            "part": part,
            "stats": stats,
        }


def _write_part(group: _Group, seen: SeenIds, part: Path) -> None:
    """Score the group's chunks into its part file: read and checked one ahead on a thread, written on another."""
    import pyarrow.parquet as pq

    schema = output_schema(group.plan.use)
    with (
        pq.ParquetWriter(part, schema, compression="zstd", use_dictionary=DICTIONARY_COLUMNS) as writer,
        _Background(writer) as background,
    ):
        # the reader thread also runs the checks, so they overlap the previous chunk's predict
        for chunk in _prefetch(_checked_chunks(group.plan, group.index, group.champion, group.reasons, seen)):
            background.write(group.score(chunk).cast(schema))


def _check_rows(group: _Group, written: int) -> None:
    """Rows read == rows scored == rows written == rows the plan counted, or RowCountError."""
    rows_in, index = group.rows_in, group.index
    if written != rows_in or group.rows_out != rows_in:
        raise RowCountError(f"group {index}: {rows_in} rows read, {group.rows_out} scored, {written} written")
    expected = group.plan.group_rows[index]
    if expected is not None and expected != rows_in:
        raise RowCountError(f"group {index}: the plan counted {expected} rows, {rows_in} were read")


def _fallback_scores(chunk: _Chunk, fallback: np.ndarray, baseline: dict[str, Any]) -> np.ndarray:
    """The rule-based baseline's scores of the fallback rows."""
    rows_back = chunk.frame.loc[fallback].copy()
    for column in chunk.X.columns:  # the rule reads values as the checks did ("1" is 1)
        rows_back[column] = chunk.X.loc[fallback, column]
    return baseline_scores(plain_frame(rows_back), baseline)


def _subset(
    X: pd.DataFrame, factors: dict[str, tuple[np.ndarray, Any]], mask: np.ndarray
) -> tuple[pd.DataFrame, dict[str, tuple[np.ndarray, Any]]]:
    """The model input and its factorized columns restricted to the rows of `mask` (no copy when all)."""
    if mask.all():
        return X, factors
    return X.loc[mask], {c: (row_codes[mask], uniques) for c, (row_codes, uniques) in factors.items()}


def _checked_chunks(
    plan: ScoringPlan, group_index: int, model: LoadedModel | None, reasons: Reasons, seen: SeenIds
) -> Iterator[_Chunk]:
    """The group's non-empty chunks with their checks.

    The id checks come first: a row without an id, or repeating an earlier row's id, cannot be joined
    back to one voter, whatever its values.
    """
    with contextlib.closing(iter_chunks(plan, group_index)) as chunks:
        for frame in chunks:
            if len(frame) == 0:
                continue
            codes = np.zeros(len(frame), dtype=np.int16)
            hashes = id_checks(frame, plan.checks["id_column"], seen, codes, reasons)
            factors: dict[str, tuple[np.ndarray, Any]] = {}
            rule = plan.checks.get("new_registrants")
            new = new_registrant_rows(frame, rule)
            mark_policy_rows(rule, new, codes, reasons)  # the policy decides before the input checks
            X, found = check_chunk(frame, plan, model, reasons, factors, codes)
            yield _Chunk(frame, X, codes, found + missing_column_alert(frame, rule), factors, hashes, new)


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def _prefetch(chunks: Iterator[_T]) -> Iterator[_T]:
    """The items, produced one ahead on a thread (Parquet decoding and the checks overlap the model's predict)."""
    import queue
    import threading

    ready: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()
    end = object()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for chunk in chunks:
                if not put(chunk):
                    return
            put(end)
        except BaseException as exc:  # handed to the consumer, raised there
            put(_Failed(exc))
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:  # a consumer that stopped early: the source's own clean-up runs (SQL engine)
                close()

    reader = threading.Thread(target=read, name="scoring-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = ready.get()
            if item is end:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        reader.join()


class _Background:
    """Writes tables on one thread, in order, at most one pending (compression overlaps the next chunk)."""

    def __init__(self, writer: Any) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.writer = writer
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scoring-writer")
        self.pending = None

    def write(self, table: Any) -> None:
        if self.pending is not None:
            self.pending.result()  # raises the previous write's error here
        self.pending = self.pool.submit(self.writer.write_table, table)

    def __enter__(self) -> _Background:
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if self.pending is not None:
                self.pending.result()
        finally:
            self.pool.shutdown(wait=True)


def dedupe(items: list[str], limit: int = 20) -> list[str]:
    """The distinct items in order, at most `limit` of them and a line saying how many more."""
    unique = list(dict.fromkeys(items))
    return unique[:limit] + ([f"... and {len(unique) - limit} more"] if len(unique) > limit else [])
