"""Scoring one partition group chunk by chunk into its part file (reading and writing on threads of their own)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from modelops.core import catalog
from modelops.score.agreement import Shadow, canary_mask
from modelops.score.checks import Reasons, baseline_scores, check_chunk, chunk_guards, inputs_vary
from modelops.score.ids import SeenIds, earlier_ids, id_checks
from modelops.score.models import LoadedModel, predict, try_load
from modelops.score.output import CANARY, DICTIONARY_COLUMNS, FALLBACK, MODEL, SOURCES, chunk_table, output_schema
from modelops.score.plan import RowCountError, ScoringError, ScoringPlan
from modelops.score.readers import iter_chunks
from modelops.score.values import plain_frame

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
    import pyarrow as pa
    import pyarrow.parquet as pq

    plan = plan if isinstance(plan, ScoringPlan) else ScoringPlan.from_dict(plan)
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
    reasons = Reasons()
    reason_counts: dict[str, int] = {}
    source_counts = dict.fromkeys(SOURCES, 0)
    rows_in = rows_out = 0
    score_shift = {"chunks": 0, "judged": 0, "max_psi": None}
    offset = plan.offset(group_index)
    folder = catalog.scoring_staging(plan.dataset, plan.snapshot) / f"group-{group_index:05d}"
    scored_at = pd.Timestamp(plan.scored_at)
    schema = output_schema()
    chunk_alerts: list[str] = []
    from threadpoolctl import threadpool_limits

    with catalog.atomic_dir(folder) as staging, threadpool_limits(1):  # one native thread per predict thread
        part = staging / f"part-{group_index:05d}.parquet"
        with (
            pq.ParquetWriter(part, schema, compression="zstd", use_dictionary=DICTIONARY_COLUMNS) as writer,
            _Background(writer) as background,
        ):
            # the reader thread also runs the checks, so they overlap the previous chunk's predict
            chunks = _checked_chunks(plan, group_index, champion, reasons, seen)
            for frame, X, codes, found, factors, hashes in _prefetch(chunks):
                n = len(frame)
                first = offset + rows_in
                chunk_alerts += found
                if champion is None:
                    reasons.mark(codes, np.ones(n, dtype=bool), "model_unavailable")
                ok = codes == 0
                champ = np.full(n, np.nan)
                chall = np.full(n, np.nan)
                canary = np.zeros(n, dtype=bool)
                if plan.canary_share > 0 and challenger is not None:
                    canary = ok & canary_mask(frame[plan.checks["canary_key"]], plan.canary_share)
                wanted = shadow.rows(ok, hashes, first, rows_in + n) | canary  # rows the challenger scores
                withheld = np.zeros(n, dtype=bool)  # scored by the model, held back by the opt-in PSI guard
                if ok.any():
                    champ[ok] = predict(champion, *_subset(X, factors, ok))
                    # a row's own score must be a probability, or that row falls back
                    with np.errstate(invalid="ignore"):
                        usable = np.isfinite(champ) & (champ >= 0.0) & (champ <= 1.0)
                    reasons.mark(codes, ok & ~usable, "invalid_score")
                    scored = codes == 0
                    vary = functools.partial(inputs_vary, X, factors, scored)  # asked only when scores are flat
                    profile = champion.score_profile if champion else None
                    withheld, reason, found = chunk_guards(
                        plan.options, profile, champ, scored, vary, f"rows {first}..{first + n - 1}", score_shift
                    )
                    chunk_alerts += found
                    if reason:
                        reasons.mark(codes, withheld, reason)
                    if challenger is not None and (ok & wanted).any():
                        take = ok & wanted
                        chall[take] = predict(challenger, *_subset(X, factors, take))
                model_rows = codes == 0
                with np.errstate(invalid="ignore"):  # the challenger decides only with a usable probability
                    canary &= model_rows & np.isfinite(chall) & (chall >= 0.0) & (chall <= 1.0)
                fallback = ~model_rows
                score = np.where(canary, chall, champ)
                if fallback.any():
                    rows_back = frame.loc[fallback].copy()
                    for column in X.columns:  # the rule reads values as the checks did ("1" is 1)
                        rows_back[column] = X.loc[fallback, column]
                    rows_back = plain_frame(rows_back)
                    score[fallback] = baseline_scores(rows_back, plan.baseline)
                source = np.where(fallback, 2, np.where(canary, 1, 0)).astype(np.int8)  # model, canary, fallback
                # Both models scored these rows; a chunk the opt-in guard withheld still tells how far apart
                # they are (the drifted world a challenger is trained for is where it matters most).
                shadow.add(champ, chall, model_rows | withheld, frame, X)
                table = chunk_table(plan, frame, first, score, source, codes, reasons, champ, chall)
                table = table.append_column("scored_at", pa.array(np.full(n, scored_at.value // 1000), pa.int64()))
                background.write(table.cast(schema))
                rows_in += n
                rows_out += table.num_rows
                for name, count in zip(*np.unique(codes[codes > 0], return_counts=True), strict=True):
                    reason = reasons.names[int(name)]
                    reason_counts[reason] = reason_counts.get(reason, 0) + int(count)
                counts = np.bincount(source, minlength=3)
                source_counts[MODEL] += int(counts[0])
                source_counts[CANARY] += int(counts[1])
                source_counts[FALLBACK] += int(counts[2])
        written = pq.ParquetFile(part).metadata.num_rows
        if written != rows_in or rows_out != rows_in:
            raise RowCountError(f"group {group_index}: {rows_in} rows read, {rows_out} scored, {written} written")
        expected = plan.group_rows[group_index]
        if expected is not None and expected != rows_in:
            raise RowCountError(f"group {group_index}: the plan counted {expected} rows, {rows_in} were read")
        result = {
            "group": group_index,
            "rows_in": rows_in,
            "rows_out": rows_out,
            "first_row": offset,
            "sources": source_counts,
            "reasons": dict(sorted(reason_counts.items())),
            "failed_checks": dict(sorted(reasons.failed.items())),
            "alerts": alerts + dedupe(chunk_alerts),
            "score_shift": score_shift,
            "shadow": plan.shadow and challenger is not None,
            "fast_path": {
                who: {"version": m.version, "fast": bool(m.fast), "max_diff": m.max_diff}
                for who, m in (("served", champion), ("challenger", challenger))
                if m is not None and m.fast is not None
            },
            "notes": [m.note for m in (champion, challenger) if m is not None and m.note],
            "part": str(folder / part.name),
            "stats": str(folder / "agreement.json"),
        }
        catalog.write_json(staging / "agreement.json", shadow.stats(rows_in))
        catalog.write_json(staging / "result.json", result)
    return result


def _subset(
    X: pd.DataFrame, factors: dict[str, tuple[np.ndarray, Any]], mask: np.ndarray
) -> tuple[pd.DataFrame, dict[str, tuple[np.ndarray, Any]]]:
    """The model input and its factorized columns restricted to the rows of `mask` (no copy when all)."""
    if mask.all():
        return X, factors
    return X.loc[mask], {c: (row_codes[mask], uniques) for c, (row_codes, uniques) in factors.items()}


def _checked_chunks(
    plan: ScoringPlan, group_index: int, model: LoadedModel | None, reasons: Reasons, seen: SeenIds
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame, np.ndarray, list[str], dict[str, Any], np.ndarray | None]]:
    """The group's non-empty chunks with their checks: (frame, model input, reason codes, alerts, factors, id hashes).

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
            X, found = check_chunk(frame, plan, model, reasons, factors, codes)
            yield frame, X, codes, found, factors, hashes


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
    unique = list(dict.fromkeys(items))
    return unique[:limit] + ([f"... and {len(unique) - limit} more"] if len(unique) > limit else [])
