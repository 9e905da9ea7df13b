"""Bad input: each case gets a message naming the file, the field and what is allowed."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from socialcredit import PolicyError, PolicyFileError, load_policy
from socialcredit.policy._schema import SCHEMA_FILE, json_schema
from socialcredit.scenarios import scenario_path

REFERENCE = scenario_path("reference").read_text(encoding="utf-8")


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "policy.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_reference_loads():
    assert load_policy(scenario_path("reference")).meta.name == "reference"


def test_empty_file(tmp_path):
    p = write(tmp_path, "  \n")
    with pytest.raises(PolicyFileError, match=r"policy\.toml: the file is empty"):
        load_policy(p)


def test_invalid_toml(tmp_path):
    p = write(tmp_path, "[meta\nname = 'x'")
    with pytest.raises(PolicyFileError, match=r"policy\.toml: not valid TOML.*line 1"):
        load_policy(p)


def test_unknown_field_lists_valid_fields(tmp_path):
    p = write(tmp_path, REFERENCE.replace("window_days = 180", "window_days = 180\nwindow = 3"))
    with pytest.raises(PolicyError) as exc:
        load_policy(p)
    msg = str(exc.value)
    assert "policy.toml" in msg
    assert "person_score: unknown field 'window'" in msg
    assert "valid fields here are aggregate, base, clamp, grades, window_days" in msg


def test_negative_rate(tmp_path):
    p = write(tmp_path, REFERENCE.replace('rate = "1/30"\nmultiplier = "civic"',
                                          'rate = -0.5\nmultiplier = "civic"'))
    with pytest.raises(PolicyError, match=r"behaviours\[0\]\.rate: a daily probability must lie"
                                          r" in \[0, 1\], got -0\.5"):
        load_policy(p)


def test_probability_above_one(tmp_path):
    p = write(tmp_path, REFERENCE.replace("detection = 0.9", "detection = 1.5"))
    with pytest.raises(PolicyError, match=r"channels\.camera\.detection: a probability must"
                                          r" lie in \[0, 1\], got 1\.5"):
        load_policy(p)


def test_grade_bands_out_of_order(tmp_path):
    p = write(tmp_path, REFERENCE.replace('{ name = "AA", min = 1030 }',
                                          '{ name = "AA", min = 1080 }'))
    with pytest.raises(PolicyError, match=r"person_score: grade bands out of order.*"
                                          r"AAA>=1050, AA>=1080"):
        load_policy(p)


def test_unknown_channel(tmp_path):
    p = write(tmp_path, REFERENCE.replace('channel = "camera"', 'channel = "drone"', 1))
    with pytest.raises(PolicyError, match=r"behaviours\[2\]\.channel: unknown channel 'drone';"
                                          r" channels are 'camera', 'court'"):
        load_policy(p)


def test_missing_file(tmp_path):
    with pytest.raises(PolicyFileError, match=r"nope\.toml: no such file"):
        load_policy(tmp_path / "nope.toml")


def test_missing_required_section(tmp_path):
    p = write(tmp_path, "[meta]\nname = 'x'\n")
    with pytest.raises(PolicyError, match=r"regions: this field is required"):
        load_policy(p)


def test_trigger_of_unknown_kind(tmp_path):
    p = write(tmp_path, REFERENCE.replace('kind = "court_judgment_default", days',
                                          'kind = "treason", days'))
    with pytest.raises(PolicyError, match=r"lists\[0\]\.triggers\[0\]\.kind: 'treason' is not"
                                          r" a record kind"):
        load_policy(p)


def test_schema_file_is_current():
    shipped = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert shipped == json_schema(), "run `make schema` to regenerate policy.schema.json"


def test_every_table_forbids_unknown_keys():
    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                assert node.get("additionalProperties") is False, node.get("title")
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(json_schema())


def test_reference_text_round_trips_through_toml():
    assert tomllib.loads(REFERENCE)["meta"]["name"] == "reference"


DISCLOSE_BLACKLIST = '''[[disclosure]]
subject = "person"
list = "blacklist"
'''


@pytest.mark.parametrize(("replacement", "message"), [
    (DISCLOSE_BLACKLIST + 'fields = ["name", "home_address"]\n',
     r"disclosure\[0\]\.fields\[1\]: should be 'name', 'reason'"),
    (DISCLOSE_BLACKLIST + 'grades = ["D"]\n', r"either 'list' or 'grades', not both"),
    (DISCLOSE_BLACKLIST + 'company_kinds = ["restaurant"]\n',
     r"'company_kinds' applies to company disclosure rules only"),
    (DISCLOSE_BLACKLIST.replace('"person"', '"company"').replace('list = "blacklist"',
                                                                 'grades = ["D"]')
     + 'company_kinds = ["bakery"]\n', r"unknown company kind 'bakery'"),
    (DISCLOSE_BLACKLIST + 'fields = ["name", "name"]\n', r"field 'name' is defined twice"),
])
def test_disclosure_rules_are_checked_at_load(tmp_path, replacement, message):
    """What the service cannot publish, or nobody could mean, is refused at load (it used
    to be accepted and then ignored by the service)."""
    p = write(tmp_path, REFERENCE.replace(DISCLOSE_BLACKLIST, replacement))
    with pytest.raises(PolicyError, match=message):
        load_policy(p)


def test_a_summary_share_of_an_unknown_company_kind_is_refused(tmp_path):
    p = write(tmp_path, REFERENCE.replace('company_kind = "restaurant"',
                                          'company_kind = "bakery"'))
    with pytest.raises(PolicyError, match=r"summary\.extra_company_grade_shares\[0\]"
                                          r"\.company_kind: unknown company kind 'bakery'"):
        load_policy(p)


def test_too_many_measures_for_one_subject_type(tmp_path):
    many = "".join(f'\n[[measures]]\nname = "m{i}"\ntype = "sanction"\nlist = "blacklist"\n'
                   for i in range(63))
    with pytest.raises(PolicyError, match=r"68 person measures: at most 62"):
        load_policy(write(tmp_path, REFERENCE + many))


@pytest.mark.parametrize(("old", "new", "message"), [
    # lengths the service could not turn into dates, or memory could not hold
    ("days = 365 }]", "days = 1000000 }]", r"triggers\[0\]\.days: should be less"
                                            r" than or equal to 36500"),
    ("window_days = 180", "window_days = 40000", r"window_days: should be less"),
    # scores are 32-bit: a base or points that could leave that range
    ("base = 1000", "base = 3000000000", r"person_score\.base: should be less"),
    ("points = -100", "points = -1000000", r"points: should be greater"),
    ("score_below = 750", "score_below = 9000000000", r"score_below: should be less"),
    # an empty list of company kinds meant "all" in one place and "none" in another
    ('company_kinds = ["restaurant"]\nrate', 'company_kinds = []\nrate',
     r"company_kinds: should not be empty"),
    # two statistics under one summary key: the second overwrote the first
    ('excludes = ["blacklist"]', 'excludes = ["blacklist"]\nlabel = "blacklisted"',
     r"lists\[1\]\.label: would write the summary statistic 'blacklisted', which"
     r" lists\[0\] writes"),
    ('excludes = ["blacklist"]', 'excludes = ["blacklist"]\nlabel = "mean_score"',
     r"would write the summary statistic 'mean_score', which a built-in statistic"),
    ('name = "restaurants_grade_d"', 'name = "blacklisted"',
     r"extra_company_grade_shares\[0\]\.name: would write the summary statistic"
     r" 'blacklisted'"),
])
def test_values_the_engine_or_service_cannot_honour_are_refused(tmp_path, old, new, message):
    assert old in REFERENCE
    with pytest.raises(PolicyError, match=message):
        load_policy(write(tmp_path, REFERENCE.replace(old, new, 1)))


def test_at_most_62_company_kinds(tmp_path):
    kinds = "".join(f'\n[[population.company_kinds]]\nname = "k{i}"\nshare = "1/63"\n'
                    for i in range(63))
    text = REFERENCE.replace('[[population.company_kinds]]\nname = "restaurant"\nshare = 0.3\n'
                             '\n[[population.company_kinds]]\nname = "firm"\nshare = 0.7\n',
                             kinds)
    assert text != REFERENCE
    with pytest.raises(PolicyError, match=r"company_kinds: should have at most 62"):
        load_policy(write(tmp_path, text))


def test_a_wide_clamp_keeps_the_histogram_small():
    from socialcredit import simulate
    from socialcredit.policy import parse_policy

    policy = parse_policy(REFERENCE.replace("window_days = 180",
                                            "window_days = 180\nclamp = [-1000000000,"
                                            " 1000000000]"))
    run = simulate(policy, population=2000, days=30, seed=1)
    assert run.types["person"].plan.n_bins == 4001
