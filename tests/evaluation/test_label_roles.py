import pytest

from covplan.errors import CovplanError
from covplan.evaluation.label_roles import automatic_regions, column_name, label_roles, parse_region


def test_left_right_lungs_and_one_infection_give_a_lungs_region():
    roles = label_roles({"labels": {"background": 0, "left lung": 1, "right lung": 2, "infection": 3}})
    assert (roles.lung_labels, roles.lesion_labels) == ((1, 2), (3,))
    assert automatic_regions(roles) == {"lungs": (1, 2)}


def test_lesion_types_give_an_infection_region_and_ignore_is_kept_apart():
    roles = label_roles({"labels": {"background": 0, "GGO": 1, "consolidation": 2, "fibrosis": 3, "ignore": 4}})
    assert roles.lung_labels == ()
    assert roles.ignore_label == 4
    assert automatic_regions(roles) == {"infection": (1, 2, 3)}


def test_msd_style_v1_labels_are_read():
    roles = label_roles({"labels": {"0": "background", "1": "cancer"}})
    assert roles.names == {1: "cancer"} and automatic_regions(roles) == {}


def test_region_based_labels_are_refused():
    with pytest.raises(CovplanError, match="region-based"):
        label_roles({"labels": {"background": 0, "whole": [1, 2]}})


def test_region_text_is_parsed_and_bad_text_refused():
    assert parse_region("lungs = 2,1") == ("lungs", (1, 2))
    with pytest.raises(CovplanError, match="NAME=LABEL"):
        parse_region("lungs:1,2")


def test_column_names_are_lower_case_words():
    assert column_name("Ground-glass opacity") == "ground_glass_opacity"
