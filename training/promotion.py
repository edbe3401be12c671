"""Promotion: moving the champion alias, refusing a version worse than the champion."""

from __future__ import annotations

from dataclasses import dataclass

from models.registry import champion_version, set_champion, version_run


class PromotionRefused(Exception):
    """The candidate is worse than the champion on the selection metric."""


@dataclass(frozen=True)
class Promotion:
    """What a promotion did."""

    version: str
    previous: str | None
    metric: str
    candidate_value: float | None
    champion_value: float | None
    forced: bool

    def describe(self) -> str:
        if self.previous is None:
            return f"version {self.version} is now champion (there was none)"
        change = ""
        if self.candidate_value is not None and self.champion_value is not None:
            difference = self.candidate_value - self.champion_value
            change = (f" ({self.metric} {self.candidate_value:.4f} vs "
                      f"{self.champion_value:.4f}, {difference:+.4f})")
        forced = " by --force" if self.forced else ""
        return f"version {self.version} replaces {self.previous} as champion{forced}{change}"


def promote(tracking_uri: str, version: str, *, force: bool = False) -> Promotion:
    """Point the champion alias at ``version`` unless it is worse than the champion.

    The comparison uses the candidate's own selection metric (a run tag), as validated
    during training; ``force`` promotes anyway, e.g. to roll back.
    """
    candidate = version_run(tracking_uri, version)
    metric = candidate["tags"].get("selection_metric", "precision_at_2pct")
    previous = champion_version(tracking_uri)
    candidate_value = candidate["metrics"].get(metric)
    champion_value = None
    if previous is not None and previous != str(version) and not force:
        champion = version_run(tracking_uri, previous)
        champion_value = champion["metrics"].get(metric)
        label, champion_label = candidate["params"].get("label"), champion["params"].get("label")
        # A model of another label scores another question: its precision is not
        # comparable, and promoting it would silently change what served scores mean.
        if label != champion_label:
            raise PromotionRefused(
                f"version {version} predicts label {label!r}, champion {previous} predicts "
                f"{champion_label!r}: their {metric} is not comparable; use --force to "
                "change what the served scores mean"
            )
        if candidate_value is None or champion_value is None:
            raise PromotionRefused(
                f"cannot compare version {version} with champion {previous}: {metric} is "
                "missing from a run; use --force to promote anyway"
            )
        if candidate_value < champion_value:
            raise PromotionRefused(
                f"version {version} is worse than champion {previous} on {metric}: "
                f"{candidate_value:.4f} vs {champion_value:.4f} "
                f"({candidate_value - champion_value:+.4f}); use --force to promote anyway"
            )
    set_champion(tracking_uri, str(version))
    if force and previous is not None and previous != str(version):
        champion_value = version_run(tracking_uri, previous)["metrics"].get(metric)
    return Promotion(str(version), previous if previous != str(version) else None, metric,
                     candidate_value, champion_value, force)
