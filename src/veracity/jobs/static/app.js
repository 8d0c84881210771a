// Veracity job page: submit media to POST /analyze, follow /jobs/{id}/events (SSE), draw the
// result. Server text goes in only through textContent / setAttribute (never parsed as HTML);
// images load only from this origin. document.body.dataset.state: idle | running | done | failed.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const COLORS = ["#1f5fbf", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0f766e"];
  const $ = (id) => document.getElementById(id);
  let source = null;

  function setText(id, value) {
    $(id).textContent = value === null || value === undefined ? "" : String(value);
  }

  function percent(x) {
    return typeof x === "number" && isFinite(x) ? (100 * x).toFixed(1) + " %" : "n/a";
  }

  function seconds(x) {
    return typeof x === "number" && isFinite(x) ? x.toFixed(2) + " s" : "n/a";
  }

  function setState(state) {
    document.body.dataset.state = state;
  }

  function showError(message) {
    setText("error", message);
    $("error").hidden = false;
  }

  function sameOrigin(url) {
    if (typeof url !== "string" || url === "") return false;
    try {
      const parsed = new URL(url, window.location.href);
      return parsed.origin === window.location.origin && /^https?:$/.test(parsed.protocol);
    } catch (err) {
      return false;
    }
  }

  function svg(name, attrs, text) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  async function loadModalities() {
    const select = $("modality");
    try {
      const reply = await fetch("/modalities", { headers: { accept: "application/json" } });
      const body = await reply.json();
      select.replaceChildren();
      for (const name of body.modalities || []) {
        const option = document.createElement("option");
        option.value = String(name);
        option.textContent = String(name);
        option.selected = name === body.default;
        select.appendChild(option);
      }
      if (!select.options.length) showError("This service has no modality ready for jobs.");
    } catch (err) {
      showError("Could not list the modalities: " + err);
    }
  }

  function setProgress(progress, stage) {
    const value = Math.max(0, Math.min(100, Number(progress) || 0));
    $("progress").value = value;
    setText("progress-text", value + " %");
    setText("stage", stage);
  }

  function resetResult() {
    $("result-section").hidden = true;
    $("error").hidden = true;
    $("timeline").replaceChildren();
    $("frames").replaceChildren();
  }

  async function submit(event) {
    event.preventDefault();
    resetResult();
    const file = $("file").files[0];
    if (!file) {
      showError("Choose a file first.");
      return;
    }
    if (source) source.close();
    const form = new FormData();
    form.append("file", file, file.name);
    form.append("modality", $("modality").value);
    $("submit").disabled = true;
    setState("running");
    let reply, body;
    try {
      reply = await fetch("/analyze", { method: "POST", body: form });
      body = await reply.json();
    } catch (err) {
      return fail("The submission failed: " + err);
    }
    if (reply.status !== 202) {
      const retry = reply.headers.get("retry-after");
      const why = body && body.error ? body.error : JSON.stringify(body);
      return fail(`Refused (${reply.status}): ${why}` + (retry ? ` Retry after ${retry} s.` : ""));
    }
    follow(String(body.job_id));
  }

  function fail(message) {
    showError(message);
    setState("failed");
    $("submit").disabled = false;
  }

  function follow(jobId) {
    $("progress-section").hidden = false;
    setText("job-id", "job " + jobId);
    setProgress(0, "queued");
    source = new EventSource("/jobs/" + encodeURIComponent(jobId) + "/events");
    const end = () => {
      source.close();
      $("submit").disabled = false;
    };
    source.addEventListener("progress", (event) => {
      const data = JSON.parse(event.data);
      setProgress(data.progress, data.stage + (data.note ? " (" + data.note + ")" : ""));
    });
    source.addEventListener("result", (event) => {
      end();
      setProgress(100, "done");
      render(JSON.parse(event.data));
      setState("done");
    });
    source.addEventListener("failed", (event) => {
      end();
      setText("stage", "failed");
      fail("The job failed: " + JSON.parse(event.data).error);
    });
    source.onerror = () => {  // a dropped stream reconnects by itself; a refused one is closed
      if (source.readyState === EventSource.CLOSED) {
        $("submit").disabled = false;
        fail("Lost the job's event stream; poll /jobs/" + jobId + ".");
      }
    };
    source.addEventListener("timeout", () => {
      end();
      fail("The event stream ended before the job did; poll /jobs/" + jobId + ".");
    });
  }

  function render(result) {
    const verdict = result.verdict || {};
    const model = verdict.model || {};
    const label = String(verdict.label || "?");
    const node = $("verdict-label");
    node.textContent = label;
    node.className = "label label-" + label.replace(/[^A-Z]/g, "");
    setText("verdict-confidence", percent(verdict.confidence));
    setText("verdict-score", percent(verdict.score));
    setText("verdict-reason", verdict.reason);
    setText("verdict-model", model.name);
    setText("verdict-version", model.version);
    const meta = result.metadata || {};
    setText("verdict-duration", seconds(meta.video_duration_sec));
    setText("verdict-time", seconds(meta.processing_time_sec));
    drawTimeline(Array.isArray(verdict.timeline) ? verdict.timeline : []);
    const prediction = result.prediction || {};
    showFrames(Array.isArray(prediction.anomalous_frames) ? prediction.anomalous_frames : []);
    $("result-section").hidden = false;
  }

  function drawTimeline(windows) {
    const box = $("timeline");
    box.replaceChildren();
    const ok = windows.filter((w) => typeof w.start_s === "number" && typeof w.end_s === "number");
    if (!ok.length) {
      box.textContent = "No windows in this result.";
      return;
    }
    const names = [];
    for (const w of ok) {
      for (const key of Object.keys(w)) {
        if (key !== "start_s" && key !== "end_s" && typeof w[key] === "number" && !names.includes(key)) names.push(key);
      }
    }
    const W = 640, H = 220, L = 40, R = 14, T = 12, B = 34;
    const t0 = Math.min(...ok.map((w) => w.start_s));
    const t1 = Math.max(...ok.map((w) => w.end_s));
    const span = t1 - t0 || 1;
    const x = (t) => L + ((t - t0) / span) * (W - L - R);
    const y = (s) => T + (1 - Math.max(0, Math.min(1, s))) * (H - T - B);
    const plot = svg("svg", { viewBox: `0 0 ${W} ${H}`, id: "timeline-plot", role: "img",
                              "aria-label": "score of each window over time (0 = human, 1 = AI)" });
    for (const v of [0, 0.25, 0.5, 0.75, 1]) {
      plot.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: v === 0 ? "axis" : "grid" }));
      plot.append(svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, v.toFixed(2)));
    }
    for (const [t, anchor] of [[t0, "start"], [(t0 + t1) / 2, "middle"], [t1, "end"]]) {
      plot.append(svg("text", { x: x(t), y: H - 14, "text-anchor": anchor, class: "tick" }, t.toFixed(1) + " s"));
    }
    const legend = document.createElement("ul");
    legend.className = "legend";
    names.forEach((name, i) => {
      const color = COLORS[i % COLORS.length];
      const pts = ok.filter((w) => typeof w[name] === "number")
        .map((w) => [x((w.start_s + w.end_s) / 2), y(w[name]), w]);
      if (pts.length > 1) {
        const points = pts.map(([px, py]) => px.toFixed(1) + "," + py.toFixed(1)).join(" ");
        plot.append(svg("polyline", { points, stroke: color, class: "series", "data-series": name }));
      }
      for (const [, py, w] of pts) {  // each window's extent at its score
        plot.append(svg("line", { x1: x(w.start_s).toFixed(1), x2: x(w.end_s).toFixed(1), y1: py.toFixed(1),
                                  y2: py.toFixed(1), stroke: color, class: "window" }));
      }
      for (const [px, py, w] of pts) {
        const dot = svg("circle", { cx: px.toFixed(1), cy: py.toFixed(1), r: 3.5, fill: color, class: "point" });
        dot.append(svg("title", {}, `${name}: ${w[name].toFixed(3)} (${w.start_s.toFixed(2)}-${w.end_s.toFixed(2)} s)`));
        plot.append(dot);
      }
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = color;
      item.append(swatch, document.createTextNode(name));
      legend.append(item);
    });
    box.append(plot, legend);
  }

  function showFrames(frames) {
    const list = $("frames");
    list.replaceChildren();
    const empty = $("frames-empty");
    empty.hidden = frames.length > 0;
    empty.textContent = "None reported (audio has no frames; a video lists its most anomalous frames here).";
    for (const frame of frames) {
      const item = document.createElement("li");
      const figure = document.createElement("figure");
      const caption = document.createElement("figcaption");
      let text = "frame " + String(frame.frame_id);
      if (typeof frame.timestamp_s === "number") text += " at " + seconds(frame.timestamp_s);
      text += ", confidence " + percent(frame.confidence);
      caption.textContent = text;
      if (sameOrigin(frame.saliency_url)) {
        const img = document.createElement("img");
        img.src = frame.saliency_url;
        img.alt = "saliency overlay of frame " + String(frame.frame_id);
        img.loading = "lazy";
        figure.append(img);
      } else if (frame.saliency_url) {
        caption.textContent = text + " (saliency at another origin, not loaded: " + String(frame.saliency_url) + ")";
      }
      figure.append(caption);
      item.append(figure);
      list.append(item);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("upload-form").addEventListener("submit", submit);
    loadModalities();
  });
})();
