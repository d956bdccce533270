import numpy as np
import pytest

from covplan.labels.roles import label_roles
from covplan.reporting.measure import measure_case, summarise_patients
from tests.image_files import LESION_TYPE_LABELS

LUNG_INFECTION = label_roles({"labels": {"background": 0, "lung": 1, "infection": 2}})
LESION_TYPES = label_roles({"labels": LESION_TYPE_LABELS})


def test_a_10_cube_at_1x1x2_mm_is_2_ml_and_lesions_count_as_lung():
    label_map = np.zeros((12, 12, 12), np.int32)
    label_map[1:11, 1:11, 1:11] = 1
    label_map[2:7, 2:4, 2:4] = 2  # 20 voxels of 2 mm^3 = 0.04 ml, written over lung
    case = measure_case("c", "c", label_map, (2.0, 1.0, 1.0), LUNG_INFECTION)
    assert case.unit == "ml"
    assert case.lung == pytest.approx(2.0)
    assert case.lesions == {"infection": pytest.approx(0.04)}
    assert case.positive


def test_the_overlay_slice_is_the_one_with_the_largest_lesion_area():
    label_map = np.zeros((6, 8, 8), np.int32)
    label_map[1, 0, 0] = 2
    label_map[4, 2:5, 2:5] = 2
    assert measure_case("c", "c", label_map, (1.0, 1.0, 1.0), LUNG_INFECTION).overlay_slice == 4


def test_a_slice_is_measured_in_mm2_of_its_in_plane_spacing():
    label_map = np.zeros((1, 10, 10), np.int32)
    label_map[0, :2, :5] = 1  # 10 pixels of GGO
    label_map[0, 5, :3] = 2  # 3 pixels of consolidation
    case = measure_case("s", "p", label_map, (999.0, 0.5, 0.8), LESION_TYPES)
    assert case.unit == "mm2"
    assert case.lesions == {"GGO": pytest.approx(4.0), "consolidation": pytest.approx(1.2)}
    assert case.lung is None


def test_a_lung_mask_gives_lesion_models_a_lung():
    label_map = np.zeros((1, 10, 10), np.int32)
    label_map[0, 0, :4] = 1
    lung_mask = np.zeros_like(label_map)
    lung_mask[0, 1:3, :] = 1  # 20 pixels; the 4 lesion pixels outside it count as lung too
    case = measure_case("s", "p", label_map, (999.0, 1.0, 1.0), LESION_TYPES, lung_mask)
    assert case.lung == pytest.approx(24.0)


def test_patients_sum_their_slices_and_any_positive_slice_makes_them_positive():
    negative = np.zeros((1, 10, 10), np.int32)
    ggo = negative.copy()
    ggo[0, :5, :4] = 1  # 20 mm2
    lung = np.ones_like(negative)  # 100 mm2 per slice
    cases = [measure_case(name, "p1", array, (999.0, 1.0, 1.0), LESION_TYPES, lung)
             for name, array in (("a", negative), ("b", ggo))]
    cases.append(measure_case("c", "p2", negative, (999.0, 1.0, 1.0), LESION_TYPES, lung))
    first, second = summarise_patients(cases, {"p1": {"severity": "mild"}})
    assert (first.patient_id, first.lung, first.lesions["GGO"]) == ("p1", 200.0, 20.0)
    assert first.positive and first.positive_case_ids == ["b"]
    assert first.percent_of_lung(first.infection) == pytest.approx(10.0)
    assert first.severity == (2, "mild")
    assert first.source == {"severity": "mild"}
    assert not second.positive and second.severity == (0, "none")


def test_without_a_lung_the_grade_is_unknown_unless_there_is_no_lesion():
    lesion = np.zeros((1, 4, 4), np.int32)
    lesion[0, 0, 0] = 2
    positive, negative = summarise_patients([
        measure_case("a", "a", lesion, (999.0, 1.0, 1.0), LESION_TYPES),
        measure_case("b", "b", np.zeros_like(lesion), (999.0, 1.0, 1.0), LESION_TYPES)])
    assert positive.lung is None and positive.severity is None
    assert positive.percent_of_lung(positive.infection) is None
    assert negative.severity == (0, "none")


def test_with_regions_the_share_counts_the_lesion_inside_the_lung_and_the_rest_apart():
    # Values: 1 lung alone, 2 infection inside the lung, 3 infection outside it (a reference
    # map; nnU-Net paints predictions with one value per region, here 1 and 3).
    regions = label_roles({"labels": {"background": 0, "lung": [1, 2], "infection": [2, 3]},
                           "regions_class_order": [1, 3]})
    assert regions.lung_region == (1, 2) and regions.lesion_values(3) == (2, 3)
    label_map = np.zeros((1, 10, 10), np.int32)
    label_map[0, :8] = 1  # 80 pixels of lung, of which
    label_map[0, :2] = 2  # 20 infected
    label_map[0, 9, :5] = 3  # and 5 pixels of infection outside the lung (pleural effusion, say)
    case = measure_case("s", "p", label_map, (999.0, 1.0, 1.0), regions)
    assert case.lung == 80.0 and case.lesions == {"infection": 20.0} and case.lesion_outside_lung == 5.0
    (patient,) = summarise_patients([case])
    assert patient.percent_of_lung(patient.infection) == 25.0 and patient.severity == (3, "moderate")
    assert patient.lesion_outside_lung == 5.0


def test_a_lesion_only_outside_the_lung_is_positive_but_grades_none():
    regions = label_roles({"labels": {"background": 0, "lung": [1, 2], "infection": [2, 3]},
                           "regions_class_order": [1, 3]})
    label_map = np.zeros((1, 10, 10), np.int32)
    label_map[0, :8] = 1
    label_map[0, 9, :5] = 3
    case = measure_case("s", "p", label_map, (999.0, 1.0, 1.0), regions)
    assert case.positive and case.infection == 0.0
    (patient,) = summarise_patients([case])
    assert patient.severity == (0, "none")
