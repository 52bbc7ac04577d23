"""One cycle of the generated voter file delivered as a snapshot: the voters the certified results counted."""

from __future__ import annotations

import pandas as pd
import pytest

from modelops.collect.scenarios import deliver_cycle
from modelops.collect.world import generate_source
from modelops.core import catalog

ROWS = 600  # 200 voters per cycle over the bundled three cycles


@pytest.fixture
def turnout(workspace, settings):
    spec = settings.dataset("voter_turnout")
    generate_source(spec.source, spec.raw_dir(), rows=ROWS)
    return spec


def test_a_cycle_is_delivered_joined_without_the_target_and_matches_the_certified_counts(turnout):
    voters = pd.read_parquet(turnout.raw_dir() / catalog.VOTER_FILE)
    path = deliver_cycle(turnout, 2022, "cycle-2022")
    assert path == catalog.snapshot_inputs("voter_turnout", "cycle-2022")
    delivered = pd.read_parquet(path)
    expected = voters[voters["cycle"] == 2022]
    assert len(delivered) == len(expected) == ROWS // 3
    assert set(delivered["voter_id"]) == set(expected["voter_id"])
    assert "voted" not in delivered.columns  # the target stays behind
    # joined like a batch: each voter carries their county's economics
    economics = pd.read_parquet(turnout.raw_dir() / catalog.COUNTY_ECONOMICS_FILE).set_index("county_fips")
    rates = economics["unemployment_rate"].reindex(delivered["county_fips"]).to_numpy()
    assert delivered["unemployment_rate"].to_numpy() == pytest.approx(rates)
    # the certified results of 2022 counted exactly these voters, county by county
    certified = pd.read_parquet(turnout.raw_dir() / catalog.CERTIFIED_RESULTS_FILE)
    registered = certified[certified["cycle"] == 2022].set_index("county_fips")["registered"]
    counts = delivered["county_fips"].value_counts()
    assert counts.sort_index().to_dict() == registered[registered > 0].sort_index().to_dict()


def test_a_cycle_the_voter_file_lacks_is_refused_by_name(turnout):
    with pytest.raises(ValueError, match="holds no rows of cycle 2030"):
        deliver_cycle(turnout, 2030, "cycle-2030")
    assert not catalog.snapshot_inputs("voter_turnout", "cycle-2030").exists()


def test_without_a_generated_voter_file_the_delivery_says_what_to_run(workspace, settings):
    with pytest.raises(FileNotFoundError, match=r"no voter file of voter_turnout at .*collect the dataset first"):
        deliver_cycle(settings.dataset("voter_turnout"), 2022, "cycle-2022")
