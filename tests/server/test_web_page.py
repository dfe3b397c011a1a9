"""The web page in headless Chromium against a live server: upload, faces listed, overlay drawn, compare."""

from __future__ import annotations

import shutil

import pytest

from shared_data import data_path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,1000")

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                 reason="Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")]

# Counts the canvas's pixels that differ from its top-left pixel: 0 for a blank canvas.
CANVAS_INK = """
const c = document.getElementById(arguments[0]);
if (!c.width || !c.height) return 0;
const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
let n = 0;
for (let i = 0; i < d.length; i += 4) {
  if (d[i + 3] > 0 && (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2])) n++;
}
return n;
"""


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def wait(driver, condition, timeout: float = 60.0):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition)


# The canvas's place on the screen (CSS pixels), the device pixel ratio and its pixels as a PNG data URL.
CANVAS_ON_SCREEN = """
const c = document.getElementById(arguments[0]);
const r = c.getBoundingClientRect();
return [r.left, r.top, r.width, r.height, window.devicePixelRatio, c.toDataURL('image/png')];
"""


def assert_shows_canvas(driver, shot, canvas_id: str) -> None:
    """The screenshot shows the canvas's drawing where the page places it (not a blank or other page)."""
    import base64

    import cv2
    import numpy as np

    left, top, width, height, ratio, url = driver.execute_script(CANVAS_ON_SCREEN, canvas_id)
    screen = cv2.imread(str(shot))
    drawn = cv2.imdecode(np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
    x0, y0 = int(round(left * ratio)), int(round(top * ratio))
    x1, y1 = min(int(round((left + width) * ratio)), screen.shape[1]), min(int(round((top + height) * ratio)), screen.shape[0])
    assert x1 - x0 > 100 and y1 - y0 > 100, (x0, y0, x1, y1, screen.shape)
    seen = screen[y0:y1, x0:x1].astype(np.float32)
    full = cv2.resize(drawn, (int(round(width * ratio)), int(round(height * ratio))), interpolation=cv2.INTER_AREA)
    expected = full[: y1 - y0, : x1 - x0].astype(np.float32)
    assert seen.std() > 20  # a picture, not a flat panel
    assert np.corrcoef(seen.ravel(), expected.ravel())[0, 1] > 0.9


def test_upload_lists_faces_and_draws_overlay(browser, live_server, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(live_server + "/")
    assert browser.title == "facelens"
    browser.find_element(By.ID, "file").send_keys(str(data_path("detection", "multi_face.jpg")))
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#faces tbody tr")
         or "error" in d.find_element(By.ID, "status").get_attribute("class"))
    status = browser.find_element(By.ID, "status")
    assert "error" not in status.get_attribute("class"), status.text
    rows = browser.find_elements(By.CSS_SELECTOR, "#faces tbody tr")
    assert len(rows) == 5
    assert [r.find_element(By.TAG_NAME, "td").text for r in rows] == [f"#{i}" for i in range(5)]
    assert browser.find_element(By.ID, "table-title").get_attribute("textContent") == "5 faces"
    assert "5 faces found" in status.text
    heads = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#emotion-bars thead th")]
    assert heads == ["", "#0", "#1", "#2", "#3", "#4"]  # one column of emotion bars per face
    assert len(browser.find_elements(By.CSS_SELECTOR, "#emotion-bars .cell.top")) == 5
    width, height = browser.execute_script("const c = document.getElementById('overlay'); return [c.width, c.height];")
    assert (width, height) == (1000, 667)  # the photo's size: the overlay is drawn at full resolution
    assert browser.execute_script(CANVAS_INK, "overlay") > 0.5 * width * height
    rows[2].click()  # selecting a row highlights that face
    assert "selected" in rows[2].get_attribute("class")
    browser.execute_script("window.scrollTo(0, 0)")
    shot = tmp_path / "analyze.png"
    assert browser.save_screenshot(str(shot))
    assert_shows_canvas(browser, shot, "overlay")


def test_bad_file_shows_error_and_page_recovers(browser, live_server, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(live_server + "/")
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a picture")
    browser.find_element(By.ID, "file").send_keys(str(bad))
    wait(browser, lambda d: "error" in d.find_element(By.ID, "status").get_attribute("class"))
    assert "HTTP 415" in browser.find_element(By.ID, "status").text
    browser.find_element(By.ID, "file").send_keys(str(data_path("detection", "single_face.jpg")))
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#faces tbody tr"))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#faces tbody tr")) == 1


def test_compare_tab_verifies_two_faces(browser, live_server, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(live_server + "/")
    browser.find_element(By.ID, "tab-compare").click()
    assert browser.find_element(By.ID, "panel-analyze").get_attribute("hidden") is not None
    browser.find_element(By.ID, "compare-a").send_keys(str(data_path("identity", "obama.jpg")))
    browser.find_element(By.ID, "compare-b").send_keys(str(data_path("identity", "obama2.jpg")))
    wait(browser, lambda d: d.find_element(By.ID, "compare-run").is_enabled())
    browser.find_element(By.ID, "compare-run").click()
    verdict = browser.find_element(By.ID, "compare-result")
    wait(browser, lambda d: "distance" in verdict.text or "HTTP" in verdict.text)
    assert verdict.text.startswith("Same person"), verdict.text
    assert browser.execute_script(CANVAS_INK, "canvas-b") > 0
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(tmp_path / "compare.png"))


def test_video_shows_progress_then_timeline(browser, live_server, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(live_server + "/")
    every = browser.find_element(By.ID, "every")
    every.clear()
    every.send_keys("5")
    browser.find_element(By.ID, "file").send_keys(str(data_path("video", "single_face.mp4")))
    wait(browser, lambda d: d.find_element(By.ID, "status").text.startswith(("Done", "Analysing frames", "Waiting")))
    wait(browser, lambda d: d.find_element(By.ID, "status").text.startswith("Done")
         or "error" in d.find_element(By.ID, "status").get_attribute("class"), timeout=120)
    status = browser.find_element(By.ID, "status").text
    assert status == "Done: 15 frames, 1 track(s)", status
    assert len(browser.find_elements(By.CSS_SELECTOR, "#faces tbody tr")) == 15
    assert browser.find_element(By.ID, "progress").get_attribute("hidden") is not None
    assert browser.execute_script(CANVAS_INK, "timeline") > 500
    assert browser.execute_script(CANVAS_INK, "pose-chart") > 500
    assert [b.text for b in browser.find_elements(By.CSS_SELECTOR, "#downloads button")] == ["CSV", "Parquet", "JSON"]
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(tmp_path / "video.png"))
