from xml.etree import ElementTree

from covplan.reporting.overview_plot import patients_overview_svg

SVG = "{http://www.w3.org/2000/svg}"


def _rows(*shares):
    return [{"patient_id": f"p{index}", "infection_ml": 10.0 * index, "infection_percent_of_lung": share,
             "severity_grade": None if share is None else (0 if share == 0 else 2 if share >= 5 else 1)}
            for index, share in enumerate(shares)]


def _texts(svg: str) -> list[str]:
    return [element.text for element in ElementTree.fromstring(svg).iter(f"{SVG}text")]


def test_patients_come_largest_share_first_over_the_bands_their_shares_reach():
    texts = _texts(patients_overview_svg(_rows(2.0, 8.04, None, 0.0), "ml"))
    assert [text for text in texts if text.startswith("p")] == ["p1", "p0", "p3", "p2"]
    assert [text for text in texts if "%" in text and text[0].isdigit() and " " in text] == [
        "25 %", "8.0 %", "2.0 %", "0.0 %"]  # the axis ends with the band of the largest share
    assert "n/a" in texts and "minimal" in texts and "mild" in texts and "moderate" not in texts


def test_without_any_lung_the_bars_are_amounts_and_no_band_is_drawn():
    svg = patients_overview_svg(_rows(None, None), "ml")
    texts = _texts(svg)
    assert "10.0 ml" in texts and "minimal" not in texts and "lung unknown" in svg
