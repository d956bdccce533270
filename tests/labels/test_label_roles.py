import pytest

from covplan.errors import CovplanError
from covplan.labels.roles import (automatic_regions, column_name, dataset_label_manager, label_roles,
                                           parse_region)


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


def test_region_based_labels_are_sorted_by_region_and_named_by_their_painted_value():
    roles = label_roles({"labels": {"background": 0, "lung": [1, 2], "infection": 2, "ignore": 3},
                         "regions_class_order": [1, 2]})
    assert roles.regions == {"lung": (1, 2), "infection": (2,)}
    assert (roles.names, roles.lung_labels, roles.lesion_labels) == ({1: "lung", 2: "infection"}, (1,), (2,))
    assert roles.lung_region == (1, 2) and roles.ignore_label == 3
    assert automatic_regions(roles) == roles.regions


def test_region_based_labels_without_regions_class_order_are_refused():
    with pytest.raises(CovplanError, match="2 regions need a 'regions_class_order' list of 2 label values"):
        label_roles({"labels": {"background": 0, "whole": [1, 2], "core": 2}})


def test_an_ignore_label_that_is_not_the_highest_is_refused_in_one_line():
    with pytest.raises(CovplanError, match=r"^raw/dataset.json: its labels do not follow nnU-Net's rules \(If you use "
                                           r"the ignore label it must have the highest label value!"):
        dataset_label_manager({"labels": {"background": 0, "ignore": 1, "lung": 2}}, "raw/dataset.json")


def test_region_text_is_parsed_and_bad_text_refused():
    assert parse_region("lungs = 2,1") == ("lungs", (1, 2))
    with pytest.raises(CovplanError, match="NAME=LABEL"):
        parse_region("lungs:1,2")


def test_column_names_are_lower_case_words():
    assert column_name("Ground-glass opacity") == "ground_glass_opacity"
