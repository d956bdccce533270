import pytest

from covplan.reporting.severity import SEVERITY_BANDS, band_descriptions, severity_band


@pytest.mark.parametrize(("percent", "name"), [(0, "none"), (0.01, "minimal"), (4.99, "minimal"), (5, "mild"),
                                               (24.9, "mild"), (25, "moderate"), (50, "severe"),
                                               (74.9, "severe"), (75, "critical"), (100, "critical")])
def test_infection_share_falls_into_the_documented_band(percent, name):
    assert severity_band(percent).name == name


def test_every_band_is_described_once_in_grade_order():
    lines = band_descriptions()
    assert [line.split()[0] for line in lines] == [str(band.grade) for band in SEVERITY_BANDS]
    assert lines[2] == "2 mild: >= 5 % and < 25 %"
