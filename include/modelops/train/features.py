"""Feature preparation: the preprocessing half of every candidate's Pipeline, from the column roles."""

from __future__ import annotations

from modelops.config.settings import DatasetSpec


def build_preprocessor(spec: DatasetSpec, missing_indicators: bool = True):
    """ColumnTransformer: impute (+ was-missing indicators) and scale numeric columns, one-hot categorical ones."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    # The indicator keeps "this value was missing" as a feature: in surveys it often carries signal.
    # It is added only for columns that had gaps when fitted; its 0/1 is scaled like the rest.
    numeric = Pipeline(
        [("impute", SimpleImputer(strategy="median", add_indicator=missing_indicators)), ("scale", StandardScaler())]
    )
    # Only stock scikit-learn parts, so the model saves in skops format with a vetted type list;
    # OneHotEncoder treats a missing value as a category of its own.
    categorical = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5, sparse_output=False)
    return ColumnTransformer(
        [("numeric", numeric, list(spec.numeric)), ("categorical", categorical, list(spec.categorical))],
        verbose_feature_names_out=False,
    )
