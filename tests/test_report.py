"""report/index.html in headless Chromium, and amending a finished bundle."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from test_bundle_writer import small_bundle

from conftest import run_cli
from edgekit.bundle import manifest as mf
from edgekit.bundle.amend import amend_bundle
from edgekit.bundle.verify import verify
from edgekit.errors import BundleError

HEADINGS = [
    "Data card",
    "Training curves",
    "Forgetting",
    "Quantization",
    "Answers (QA)",
    "Behaviour",
    "Retrieval",
]


@pytest.fixture
def chromium(tmp_path: Path):
    """Debian chromium + chromedriver, headless, private profile (as in test_web.py)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_exe = shutil.which("chromedriver")
    if not (exe and driver_exe):
        pytest.fail("chromium and chromedriver are required: apt-get install chromium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = exe
    flags = "--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run"
    for flag in [*flags.split(), "--disable-background-networking", "--disable-sync"]:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={tmp_path / 'chrome-profile'}")
    driver = webdriver.Chrome(service=Service(driver_exe), options=opts)
    yield driver
    driver.quit()


def _png(title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 2))
    ax.plot([0, 1, 2], [2.0, 1.2, 0.9])
    ax.set_title(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=60)
    plt.close(fig)
    return buf.getvalue()


QUANT = {
    "reference": "F16",
    "budget": {"max_kld": 0.05, "max_ppl_increase": 3.0},
    "rows": [
        {
            "type": "Q4_K_M",
            "size": 105_000_000,
            "bits_per_weight": 4.9,
            "ppl": 10.2,
            "dppl_pct": 5.1,
            "kld": 0.09,
            "top1": 0.85,
            "within_budget": False,
        },
        {
            "type": "Q8_0",
            "size": 145_000_000,
            "bits_per_weight": 8.5,
            "ppl": 9.72,
            "dppl_pct": 0.2,
            "kld": 0.002,
            "top1": 0.98,
            "within_budget": True,
        },
    ],
    "chosen": "Q8_0",
    "reason": "smallest type within the budget",
}


def _page(browser, index: Path) -> dict:
    from selenium.webdriver.common.by import By

    browser.get(index.as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    images = browser.find_elements(By.TAG_NAME, "img")
    return {
        "headings": [h.text for h in browser.find_elements(By.TAG_NAME, "h2")],
        "images": {
            i.get_attribute("src").rsplit("/", 1)[-1]: browser.execute_script(
                "return arguments[0].complete && arguments[0].naturalWidth", i
            )
            for i in images
        },
        "text": browser.find_element(By.TAG_NAME, "body").text,
        "external": browser.execute_script(
            "return [...document.querySelectorAll('[src],[href],link,script')]"
            ".map(e => e.getAttribute('src') || e.getAttribute('href') || e.tagName)"
            ".filter(u => !u.startsWith('#') && !/^[\\w.-]+\\.png$/.test(u))"
        ),
    }


def test_fresh_bundle_report_renders_and_says_not_measured(tiny_project, chromium):
    _, result = tiny_project
    page = _page(chromium, result.bundle / mf.REPORT_INDEX)
    assert page["headings"] == HEADINGS
    assert page["external"] == []
    assert all(width > 0 for width in page["images"].values())
    if (result.bundle / mf.REPORT_QUANT).is_file():  # the build measured its quant types
        assert "Chosen:" in page["text"] and page["images"].get("quant.png", 1) > 0
    else:
        assert "Not measured: no quantization quality table" in page["text"]
    assert "Not measured: run `edgekit eval behaviour BUNDLE`" in page["text"]
    assert "No training data" in page["text"] and "chunks" in page["text"]


def test_full_report_every_image_loads(tiny_project, chromium, tmp_path: Path):
    """A bundle with every kind of result (training, quant, behaviour) added by amending."""
    from edgekit.behaviour.save import save_behaviour

    _, result = tiny_project
    bundle = tmp_path / result.bundle.name
    shutil.copytree(result.bundle, bundle)
    training = {
        mf.K_METHOD: "lora",
        mf.K_FORGETTING: {
            "domain": {"base_ppl": 20.0, "tuned_ppl": 9.0, "ratio": 0.45, "tokens": 900},
            "general": {"base_ppl": 8.0, "tuned_ppl": 8.4, "ratio": 1.05, "tokens": 700},
            "kl_base_tuned_general": 0.012,
        },
        mf.K_DATA_CARD: {"per_rule": {"faq": 2}, "train_domain": 5, "dedupe_rate": 0.1},
    }
    files = {
        f"{mf.REPORT_DIR}/loss.png": _png("loss"),
        f"{mf.REPORT_DIR}/data-card.png": _png("data card"),
        mf.REPORT_QUANT: json.dumps(QUANT).encode(),
        mf.REPORT_QUANT_PNG: _png("size vs quality"),
    }
    amend_bundle(bundle, files, {mf.K_TRAINING: training}, note="test results")
    metrics = {
        "correctness": {"token_f1_kb_on": 0.5, "token_f1_kb_off": 0.25},
        "safety": {"refusal_rate": 0.75, "prompts": 16},
        "fluency": {"perplexity": 12.5, "tokens": 300},
    }
    behaviour = {"model": "model/model-q8_0.gguf", "items": 1, "kb": True, "metrics": metrics}
    behaviour["records"] = [
        {"question": "Q <b>?</b>", "reference": "R", "answer": "A", "scores": {"token_f1": 0.0}}
    ]
    save_behaviour(bundle, behaviour)
    assert verify(bundle).ok

    page = _page(chromium, bundle / mf.REPORT_INDEX)
    assert page["headings"] == HEADINGS
    assert page["external"] == []
    assert set(page["images"]) == {
        "data-card.png",
        "loss.png",
        "quant.png",
        "qa.png",
        "behaviour.png",
    }
    assert all(width > 0 for width in page["images"].values()), page["images"]
    text = page["text"]
    assert "Chosen: Q8_0" in text and "Q4_K_M" in text and "0.012" in text
    assert "budget: KLD ≤ 0.05, ΔPPL ≤ 3 %" in text
    assert "refusal_rate" in text and "Q <b>?</b>" in text  # escaped, shown as text
    assert "Changed after the build" in text


def test_amend_rewrites_manifest_tar_and_drops_the_signature(tmp_path: Path):
    bundle = small_bundle(tmp_path)
    (bundle / "manifest.sig").write_text("{}")
    before = (bundle / "model/m.gguf").stat().st_ino
    out = amend_bundle(bundle, {"report/x.json": b"{}"}, {"extra": 1}, note="test")
    assert out.signature_removed and not (bundle / "manifest.sig").exists()
    assert out.changed == [mf.REPORT_INDEX, "report/x.json"]  # the page is re-rendered
    assert (bundle / "model/m.gguf").stat().st_ino == before  # hard-linked, not copied
    assert verify(bundle).ok and verify(out.tar).ok
    manifest = mf.read_manifest(bundle)
    paths = [f[mf.K_PATH] for f in manifest[mf.K_FILES]]
    assert "report/x.json" in paths and mf.REPORT_INDEX in paths and manifest["extra"] == 1
    assert manifest[mf.K_AMENDED][0]["note"] == "test"
    again = amend_bundle(bundle, {"report/x.json": b"{}"}, {"extra": 1}, note="test")
    assert again.changed == [] and len(mf.read_manifest(bundle)[mf.K_AMENDED]) == 1


def test_amend_keeps_tampering_visible_and_refuses_bad_paths(tmp_path: Path):
    bundle = small_bundle(tmp_path)
    (bundle / "a.txt").write_bytes(b"HELLO")  # changed before the amend
    amend_bundle(bundle, {"report/x.json": b"{}"}, {}, note="test")
    report = verify(bundle)
    assert report.problems == ["a.txt: sha256 mismatch (file changed)"]
    (bundle / "stray.txt").write_text("not listed")
    with pytest.raises(BundleError, match="stray.txt"):
        amend_bundle(bundle, {"report/y.json": b"{}"}, {}, note="test")
    assert (bundle / "stray.txt").is_file()
    for bad in ("../evil", "/abs", mf.MANIFEST_FILE, "manifest.sig"):
        with pytest.raises(BundleError, match="invalid bundle path"):
            amend_bundle(bundle, {bad: b"x"}, {}, note="test")


def test_bundle_report_command(tiny_project, tmp_path: Path):
    _, result = tiny_project
    bundle = tmp_path / result.bundle.name
    shutil.copytree(result.bundle, bundle)
    out = run_cli("bundle", "report", str(bundle), check=True)
    assert out.stdout.strip() == str((bundle / mf.REPORT_INDEX).resolve())
    amended = mf.read_manifest(bundle).get(mf.K_AMENDED)  # the build's QA eval amended it
    run_cli("bundle", "report", str(bundle), "--render", check=True)
    assert mf.read_manifest(bundle).get(mf.K_AMENDED) == amended  # unchanged page: no rewrite
    # a manifest change made without rendering (as an older edgekit would): --render catches up
    amend_bundle(bundle, {}, {mf.K_BEHAVIOUR: {"items": 3, "metrics": {}}}, "x", render=False)
    assert "Not measured: run" in (bundle / mf.REPORT_INDEX).read_text()
    proc = run_cli("bundle", "report", str(bundle), "--render", check=True)
    assert "re-rendered" in proc.stderr and verify(bundle).ok
    assert "Not measured: run" not in (bundle / mf.REPORT_INDEX).read_text()
