"""The scripts' sources and replies: the layout constants come from Python once, replies are parsed in one place."""

import re
from importlib.resources import files

from apps.gateway.quota.headers import RateValues
from apps.gateway.quota.layers import Dimension
from apps.gateway.quota.scripts import ADMIT, CHARGE, SETTLE, SWEEP, Admitted, Refused, Unloaded, admit_reply
from apps.quotas.reservations import HELD_TTL_S, PLAN_RECORD_TTL_S
from apps.quotas.windows import RING_FIELD, RING_HEAD, RING_TTL_MS, WINDOW_S


def test_the_lua_files_write_no_layout_number_of_their_own():
    layout = {WINDOW_S, WINDOW_S - 1, RING_FIELD, RING_HEAD, RING_TTL_MS, HELD_TTL_S, PLAN_RECORD_TTL_S}
    for path in (files("apps.gateway.quota") / "lua").iterdir():
        numbers = {int(number) for number in re.findall(r"(?<![\w.])\d+(?![\w.])", path.read_text())}
        assert not numbers & layout, path.name


def test_each_script_is_given_the_layout_and_has_its_own_sha():
    for script in (ADMIT, CHARGE, SETTLE, SWEEP):
        assert f"local WINDOW = {WINDOW_S}\n" in script.source
        assert f"local HEAD = {RING_HEAD}\n" in script.source
    assert len({script.sha for script in (ADMIT, CHARGE, SETTLE, SWEEP)}) == 4


def test_an_admission_reply_is_read_by_its_status():
    admitted = admit_reply([1, 10, 9, 1000, -1, -1, 60000, 1_900_000_000, 1, 5, -1, -1, -1, 700])
    assert isinstance(admitted, Admitted)
    assert admitted.rates == RateValues(10, 9, 1000, -1, -1, 60000)
    assert admitted.second == 1_900_000_000
    assert [tuple(usage) for usage in admitted.used()] == [(1, 5, -1), (-1, -1, 700)]
    assert admit_reply([0, 2, int(Dimension.TPM), 100, 2500]) == Refused(1, Dimension.TPM, 100, 2500)
    assert admit_reply([-1, 3]) == Unloaded(2)
