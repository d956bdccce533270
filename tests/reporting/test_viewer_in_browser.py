"""report.html's viewer in a real browser: Debian's Chromium, driven by selenium through
Debian's chromedriver (nothing downloads a browser; `make test` installs both where it can).
The test moves the slider, turns the wheel, toggles the overlays and changes the window,
and reads back what the canvas shows."""

import shutil

import numpy as np
import pytest

from covplan.reporting.report import build_report
from tests.image_files import LESION_TYPE_LABELS, write_nifti, write_png

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
# After the check above: selenium is a test extra, and without it the module is skipped.
from selenium.webdriver.common.action_chains import ActionChains, ScrollOrigin
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="no Chromium: apt-get install chromium chromium-driver (make test does it as root)")

LUNG_INFECTION_JSON = {"labels": {"background": 0, "lung": 1, "infection": 2}, "file_ending": ".nii.gz"}
SLICES, LESION_SLICES = 40, range(18, 24)
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1200,900")

# What the axial canvas shows once the viewer has drawn (it draws on the next animation
# frame): how many pixels are lesion red, uncertainty yellow or lung blue, and the grey of
# its top-left corner (soft tissue, no overlay).
COUNT_COLOURS = """
const [viewer, done] = arguments;
requestAnimationFrame(() => requestAnimationFrame(() => {
  const canvas = viewer.querySelector("canvas.axial");
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const counts = {red: 0, yellow: 0, blue: 0, corner: data[(3 * canvas.width + 3) * 4],
                  where: (viewer.querySelector('output[name="where"]') || {}).value};
  for (let at = 0; at < data.length; at += 4) {
    const [r, g, b] = [data[at], data[at + 1], data[at + 2]];
    if (r > g + 60 && r > b + 60) counts.red++;
    if (r > 150 && g > 130 && b < r - 80) counts.yellow++;
    if (b > r + 40) counts.blue++;
  }
  done(counts);
}));
"""


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def _report_with_lesion_and_uncertainty(tmp_path):
    """Two cases alike; the first with an uncertainty map."""
    label_map = np.zeros((SLICES, 48, 64), np.uint8)
    label_map[5:35, 8:40, 6:58] = 1
    label_map[LESION_SLICES.start:LESION_SLICES.stop, 15:30, 15:30] = 2
    image = np.where(label_map > 0, -850, 30).astype(np.int16)
    for case in ("vol_001", "vol_002"):
        write_nifti(tmp_path / "pred" / f"{case}.nii.gz", label_map, (0.8, 0.8, 2.5))
        write_nifti(tmp_path / "images" / f"{case}_0000.nii.gz", image, (0.8, 0.8, 2.5))
    entropy = np.zeros(label_map.shape, np.float32)
    entropy[LESION_SLICES.start:LESION_SLICES.stop, 13:17, 13:32] = 0.6  # unsure along the lesion's edge
    write_nifti(tmp_path / "pred" / "uncertainty" / "vol_001_entropy.nii.gz", entropy, (0.8, 0.8, 2.5))
    build_report(tmp_path / "pred", tmp_path / "report", LUNG_INFECTION_JSON, images=tmp_path / "images")
    return tmp_path / "report" / "report.html"


def _ready_viewers(driver):
    viewers = driver.find_elements("css selector", ".viewer")
    for viewer in reversed(viewers):
        driver.execute_script("arguments[0].scrollIntoView()", viewer)  # a viewer starts when it comes near
        WebDriverWait(driver, 10).until(lambda _, viewer=viewer: viewer.get_attribute("data-state") in ("ready", "failed"))
        assert viewer.get_attribute("data-state") == "ready", viewer.text
    return viewers


def _colours(driver, viewer) -> dict[str, int]:
    return driver.execute_async_script(COUNT_COLOURS, viewer)


def test_the_viewer_moves_through_slices_and_toggles_overlays(tmp_path, browser):
    browser.get(_report_with_lesion_and_uncertainty(tmp_path).as_uri())
    viewer, other = _ready_viewers(browser)
    assert [canvas.get_attribute("class") for canvas in viewer.find_elements("css selector", "canvas")] == [
        "axial", "coronal", "sagittal"]
    assert not viewer.find_element("css selector", "img.key-slice").is_displayed()
    slider = viewer.find_element("css selector", 'input[name="slice"]')
    shown = _colours(browser, viewer)
    assert shown["where"] == f"{LESION_SLICES.start + 1} of {SLICES}"  # opens at the slice with the most lesion
    assert shown["red"] > 1000 and shown["blue"] > 1000 and shown["yellow"] == 0

    slider.send_keys(Keys.HOME)
    shown = _colours(browser, viewer)
    assert shown["where"] == f"1 of {SLICES}" and shown["red"] == shown["blue"] == 0
    slider.send_keys(Keys.ARROW_RIGHT * (LESION_SLICES.start + 2))
    shown = _colours(browser, viewer)
    assert shown["where"] == f"{LESION_SLICES.start + 3} of {SLICES}" and shown["red"] > 1000
    ActionChains(browser).scroll_from_origin(
        ScrollOrigin.from_element(viewer.find_element("css selector", "canvas.axial")), 0, 100).perform()
    assert _colours(browser, viewer)["where"] == f"{LESION_SLICES.start + 4} of {SLICES}"  # a wheel step, a slice

    lesions = viewer.find_element("css selector", 'input[name="lesion"]')
    lesions.click()
    shown = _colours(browser, viewer)
    assert shown["red"] == 0 and shown["blue"] > 1000
    lesions.click()
    assert _colours(browser, viewer)["red"] > 1000
    viewer.find_element("css selector", 'input[name="uncertainty"]').click()
    assert _colours(browser, viewer)["yellow"] > 100

    lung_window_grey = _colours(browser, viewer)["corner"]  # 30 HU in the lung window (-1350 to 150 HU)
    viewer.find_element("css selector", 'input[name="window"][value="1"]').click()
    mediastinal_grey = _colours(browser, viewer)["corner"]  # ... and in the mediastinal one (-160 to 240 HU)
    assert abs(lung_window_grey - 255 * 1380 / 1500) < 6 and abs(mediastinal_grey - 255 * 190 / 400) < 6
    # Each viewer keeps its own controls.
    assert other.find_element("css selector", 'input[name="window"][value="0"]').is_selected()
    assert other.find_element("css selector", 'input[name="lesion"]').is_selected()
    assert other.find_elements("css selector", 'input[name="uncertainty"]') == []


def test_a_report_of_slices_shows_one_view_without_a_slider(tmp_path, browser):
    label_map = np.zeros((30, 40), np.uint8)
    label_map[5:15, 5:15] = 1
    write_png(tmp_path / "pred" / "slice_a.png", label_map)
    build_report(tmp_path / "pred", tmp_path / "report", {"labels": LESION_TYPE_LABELS, "file_ending": ".png"})
    browser.get((tmp_path / "report" / "report.html").as_uri())
    (viewer,) = _ready_viewers(browser)
    assert [canvas.get_attribute("class") for canvas in viewer.find_elements("css selector", "canvas")] == ["axial"]
    assert viewer.find_elements("css selector", 'input[name="slice"]') == []
    assert _colours(browser, viewer)["red"] > 100
