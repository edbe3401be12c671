"""Rules the contract states once and every reader shares."""

from __future__ import annotations

import pandas as pd

from data.contract import recovered_abroad


def test_a_trace_is_abroad_when_its_known_country_is_not_the_united_states() -> None:
    countries = pd.Series(["US", "MX", "CA", None, "GT"], dtype=object)
    assert recovered_abroad(countries).tolist() == [False, True, True, False, True]
    # Arrow-backed text, as the store's columnar reads give it, reads the same.
    assert recovered_abroad(countries.astype("string")).tolist() == [
        False, True, True, False, True]

