"""What the Model monitor shows of offline/online agreement on a dataset's page: each version's holdout figure
beside its labelled windows' metric, and the correlation across versions (`monitor.offline_online`; the same
figures as the model card's "Offline and online metrics")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

if TYPE_CHECKING:  # scipy and the registry wait for a request (the plugin imports this module)
    from modelops.monitor.offline_online import Agreement


class VersionAgreementRow(BaseModel):
    """One version: its holdout figure beside its labelled production windows' metric."""

    version: str
    holdout: float | None = Field(description="the version's evaluation on its holdout, recorded at training")
    online: float | None = Field(description="the mean of its labelled windows' metric")
    windows: int
    lowest: float | None
    highest: float | None
    gap_windows: int = Field(
        description="windows whose interval lies entirely worse than the holdout beyond the tolerance"
    )


class OfflineOnlineView(BaseModel):
    """Holdout beside online per version, and their correlation across versions (None: fewer than 3 versions)."""

    metric: str
    versions: list[VersionAgreementRow]
    compared: int = Field(description="versions with both figures")
    spearman: float | None
    spearman_p: float | None
    pearson: float | None
    pearson_p: float | None
    note: str = Field(description='over how many versions, or why none (e.g. "not enough versions")')
    unattributed: int = Field(description="labelled windows whose serving version is not recorded")


def offline_online_view(found: Agreement) -> OfflineOnlineView:
    """The page's record of an `Agreement`."""
    c = found.correlation
    return OfflineOnlineView(
        metric=found.metric,
        versions=[
            VersionAgreementRow(
                version=v.version,
                holdout=v.holdout,
                online=v.online,
                windows=v.windows,
                lowest=v.lowest,
                highest=v.highest,
                gap_windows=v.gap_windows,
            )
            for v in found.versions
        ],
        compared=c.versions,
        spearman=c.spearman,
        spearman_p=c.spearman_p,
        pearson=c.pearson,
        pearson_p=c.pearson_p,
        note=c.note,
        unattributed=found.unattributed,
    )
