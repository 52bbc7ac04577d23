"""Score: batch scoring of a snapshot, streamed in chunks, rows in = rows out, shadow and canary, atomic commit.

Flow: `plan.plan_scoring` resolves everything a run needs once (the input and its partition groups,
the exact model version behind the alias, the challenger's version, the baseline's rates, the input
checks compiled from the spec) into a small frozen `ScoringPlan`; `run.score_group` streams one group
of files chunk by chunk (`readers`: Arrow record batches, so memory stays flat), checks them (`checks`,
`ids`), scores them (`models`, `fastpath`) and writes one part file (`output`) to the snapshot's
staging area; `commit.commit_scoring` publishes every part and the manifest in one folder swap,
checks rows in == rows out, reports the shadow agreement (`agreement`, `report`), logs an MLflow run
and optionally loads the rows into PostgreSQL. `snapshot.score_snapshot` chains the three in one process.

Every input row leaves with exactly one prediction (`row` is its position in the snapshot):
- `source = model`: the served model scored it;
- `source = fallback`: the rule-based baseline scored it, `reason` says why (a required value is
  missing, a number is out of range, infinite or not a number, a code is not allowed, too many
  categories unseen at training, the chunk's scores look unlike the reference, the model could
  not be loaded or returned no score);
- `source = canary`: a stable-hash share of rows decided by the challenger.

A run serves one permitted use of the dataset (`config.uses.check_use`, refused before any work otherwise),
carried on every output; with `scoring.population` it scores another dataset's snapshot through a column
map (`readers`); `scoring.new_registrants` scores new registrants by a policy (`registrants`).

`debug_row` replays one row (a scored snapshot's, by id, or one given as JSON) through the same per-row
steps, with each preprocessing step's output and what moved its score (`explain`); `debug_page` renders it.
"""
