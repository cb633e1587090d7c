"""`prodml privacy erase --key COLUMN=VALUE`: a person's right to erasure (GDPR Art. 17).

Their records go from every prediction log (matched by the value, or by its keyed hash,
as the log keeps personal values), with the labels and overrides of those requests and
their rows in the ingestion quarantine. The erasure is recorded in the audit log with
its counts but not the value, and the chain stays verifiable: no audit event is touched.
Snapshots (the training data) are immutable and content-addressed; they are not changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from io import BytesIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from prodml.predlog import PredictionLog
from prodml.predlog.erase import erase_records
from prodml.workspace import Workspace


@dataclass
class Erasure:
    """What was removed of one person (the value itself is not kept)."""

    column: str
    predictions: int = 0
    labels: int = 0
    overrides: int = 0
    quarantined: int = 0
    models: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.predictions or self.labels or self.overrides or self.quarantined)

    def sentence(self) -> str:
        if not self.found:
            return (
                f"No record with that {self.column} was found in the prediction logs, labels, "
                "overrides or quarantine; nothing was erased (the request is recorded)."
            )
        return (
            f"Erased {self.predictions:,} prediction records, {self.labels:,} labels, "
            f"{self.overrides:,} overrides and {self.quarantined:,} quarantined rows with that "
            f"{self.column} (models: {', '.join(self.models) or 'none'})."
        )


def erase_subject(
    ws: Workspace, column: str, value: str, *, actor: str | None = None, reason: str = ""
) -> Erasure:
    """Erase every record whose `column` is `value` (see the module docstring)."""
    wanted = {value, ws.redactor.hash(value)}
    erasure = Erasure(column)
    logs = ws.state_dir / "predictions"
    for folder in sorted(logs.iterdir()) if logs.is_dir() else []:
        erased = erase_records(PredictionLog(folder), column, wanted)
        erasure.predictions += erased.records
        for model, request_ids in erased.requests.items():
            forgotten = ws.metadata.forget_requests(model, request_ids)
            erasure.labels += forgotten["labels"]
            erasure.overrides += forgotten["overrides"]
            erasure.models = sorted({*erasure.models, model})
    for ingestion in ws.metadata.list_ingestions():
        if ingestion.rejected:
            erasure.quarantined += _quarantine(ws, ingestion.batch_id, column, wanted)
    ws.audit.record(
        actor,
        "privacy.erase",
        column,
        reason or "erasure requested (GDPR Art. 17)",
        {
            "predictions": erasure.predictions,
            "labels": erasure.labels,
            "overrides": erasure.overrides,
            "quarantined": erasure.quarantined,
            "models": erasure.models,
        },
    )
    return erasure


def _quarantine(ws: Workspace, batch_id: str, column: str, wanted: set[str]) -> int:
    """Rewrite one ingestion's quarantine file without the rows whose `column` is wanted."""
    key = f"quarantine/{batch_id}.parquet"
    table = pq.read_table(BytesIO(ws.artifacts.get_bytes(key)))
    if column not in table.column_names:
        return 0
    values = pc.cast(table[column], pa.string())
    hit = pc.fill_null(pc.is_in(values, pa.array(sorted(wanted))), False)
    count = pc.sum(hit).as_py() or 0
    if count:
        out = BytesIO()
        pq.write_table(table.filter(pc.invert(hit)), out, compression="zstd")
        ws.artifacts.put_bytes(key, out.getvalue())
    return int(count)
