"""Feature preparation: the preprocessing half of every candidate's Pipeline, from the column roles."""

from __future__ import annotations

from typing import Any

from modelops.config.checks import PREP_PARAMETERS, PREP_PREFIX
from modelops.config.settings import DatasetSpec

# What a search space that samples no preprocessing key gets (and what every model had before the search did).
PREP_DEFAULTS: dict[str, Any] = {"min_frequency": 5, "imputer_strategy": "median"}


def split_params(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A sampled configuration's (preprocessing, estimator) parameters: `prep__<key>` entries go to the features."""
    prep = {k.removeprefix(PREP_PREFIX): v for k, v in params.items() if k.startswith(PREP_PREFIX)}
    unknown = sorted(set(prep) - set(PREP_PARAMETERS))
    if unknown:
        raise ValueError(f"unknown preprocessing parameters {unknown}; known: {sorted(PREP_PARAMETERS)}")
    return prep, {k: v for k, v in params.items() if not k.startswith(PREP_PREFIX)}


def build_preprocessor(
    spec: DatasetSpec,
    missing_indicators: bool = True,
    min_frequency: int = PREP_DEFAULTS["min_frequency"],
    imputer_strategy: str = PREP_DEFAULTS["imputer_strategy"],
):
    """ColumnTransformer: impute (+ was-missing indicators) and scale numeric columns, one-hot categorical ones.

    `imputer_strategy` fills a numeric gap (the column's mean, median or most frequent value at fit);
    categories seen fewer than `min_frequency` times at fit share one `infrequent` column.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    # The indicator keeps "this value was missing" as a feature: in surveys it often carries signal.
    # It is added only for columns that had gaps when fitted; its 0/1 is scaled like the rest.
    numeric = Pipeline(
        [
            ("impute", SimpleImputer(strategy=imputer_strategy, add_indicator=missing_indicators)),
            ("scale", StandardScaler()),
        ]
    )
    # Only stock scikit-learn parts, so the model saves in skops format with a vetted type list;
    # OneHotEncoder treats a missing value as a category of its own.
    categorical = OneHotEncoder(
        handle_unknown="infrequent_if_exist", min_frequency=int(min_frequency), sparse_output=False
    )
    return ColumnTransformer(
        [("numeric", numeric, list(spec.numeric)), ("categorical", categorical, list(spec.categorical))],
        verbose_feature_names_out=False,
    )


def output_owners(features: Any) -> list[str]:
    """Per output of a fitted preprocessor (the ColumnTransformer `build_preprocessor` makes, in order): the
    input column it comes from. Every step works column by column, so a column's outputs are exactly the ones
    it owns: removing them equals preprocessing without that column."""
    from sklearn.pipeline import Pipeline

    sources: list[str] = []
    for name, transformer, columns in features.transformers_:
        if name == "remainder" or transformer in ("drop", "passthrough") or not len(columns):
            continue  # an empty selection is never fitted and gives no output
        steps = transformer.steps if isinstance(transformer, Pipeline) else [("encode", transformer)]
        owners = list(columns)
        for _, step in steps:
            owners = _step_owners(step, owners)
        sources += owners
    return sources


def _step_owners(step: Any, owners: list[str]) -> list[str]:
    """The owning column of each of `step`'s outputs, given the owners of its inputs."""
    import pandas as pd
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if isinstance(step, StandardScaler):
        return owners  # one output per input
    if isinstance(step, SimpleImputer):
        indicated = step.indicator_.features_ if step.indicator_ is not None else []
        # a column without one value at fit has no statistic and is dropped (keep_empty_features=False)
        kept = owners
        if not step.keep_empty_features:
            kept = [owner for owner, stat in zip(owners, step.statistics_, strict=True) if not pd.isna(stat)]
        return [*kept, *(owners[int(i)] for i in indicated)]
    if isinstance(step, OneHotEncoder):
        # the encoder's width per input column (what fastpath reads too); one per category otherwise
        widths = getattr(step, "_n_features_outs", None) or [len(c) for c in step.categories_]
        return [owner for owner, width in zip(owners, widths, strict=True) for _ in range(int(width))]
    # a step that mixes columns (a KNN imputer, a projection) has outputs no single column owns
    raise TypeError(f"{type(step).__name__} is not a step whose outputs each come from one input column")
