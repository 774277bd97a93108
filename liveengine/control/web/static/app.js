// liveengine web panel. Every action is a command of the engine's one table, sent as
// {"address": "/pad", "args": [row, col, velocity], "t": event time}; what comes back is the
// engine's feedback as arrays ["/pad/playing", row, col, 1]. Rows count from 0 at the bottom.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const surface = $("surface"), grid = $("grid"), xy = $("xy");
  const state = {
    ws: null, session: null, rows: 0, cols: 0, square: 2, params: {}, values: {}, pads: [], descriptions: {},
    mode: "pads", block: [0, 0], blockKeys: ["zxcv", "asdf", "qwer", "1234"], retry: 250, held: new Set(),
  };
  // What this page sent, with each event's time (ms since the epoch): read by tests and the latency bench.
  const log = [];
  window.liveengine = { log, state, ready: false, sessions: 0, unsent: 0 };

  // ---- the socket ----
  function connect() {
    if (state.ws && state.ws.readyState <= 1) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/ws${location.search}`);
    state.ws = ws;
    setConn("connecting");
    ws.onopen = () => { state.retry = 250; state.heard = Date.now(); setConn("connected"); };
    ws.onmessage = (event) => {
      state.heard = Date.now();
      let messages;
      try { messages = JSON.parse(event.data); } catch (e) { return; }
      for (const m of messages) receive(m);
    };
    ws.onclose = (event) => {
      window.liveengine.ready = false;
      if (state.ws !== ws) return;
      setConn(event.code === 1006 && !window.liveengine.sessions ? "refused" : "reconnecting");
      setTimeout(connect, state.retry);
      state.retry = Math.min(state.retry * 2, 2000);
    };
  }
  document.addEventListener("visibilitychange", () => { if (!document.hidden) connect(); });
  // The engine sends the level ten times a second: a socket silent for 3 s is dead (a phone that slept
  // on a dropped Wi-Fi link may never hear the close), so close it and reconnect.
  setInterval(() => {
    if (state.ws && state.ws.readyState === 1 && Date.now() - state.heard > 3000) state.ws.close();
  }, 1000);
  window.addEventListener("online", connect);

  function setConn(text) {
    const c = $("conn");
    c.dataset.state = text;
    c.textContent = text === "connected" || !window.liveengine.unsent ? text : `${text} (${window.liveengine.unsent} not sent)`;
  }

  function send(address, args, t) {
    const message = { address, args };
    if (t !== undefined) message.t = t;
    if (log.length >= 10000) log.splice(0, 5000);
    log.push(message);
    if (state.ws && state.ws.readyState === 1) state.ws.send(JSON.stringify(message));
    else { window.liveengine.unsent += 1; setConn(state.ws && state.ws.readyState === 0 ? "connecting" : "reconnecting"); }  // counted and shown, not queued: a late hit is worse than none
  }
  function eventTime(e) { return performance.timeOrigin + e.timeStamp; }

  // ---- what the engine says ----
  const handlers = {
    "/hello": (h) => {
      state.session = h.session; state.square = h.square; state.params = h.params;
      if (h.block_keys) state.blockKeys = h.block_keys;
      state.descriptions = {};
      buildMapping(h.mappings); buildDials(h.params); buildGrid(h.rows, h.cols);
      window.liveengine.sessions += 1;
    },
    "/grid": (rows, cols) => { if (rows !== state.rows || cols !== state.cols) buildGrid(rows, cols); },
    "/param": (name, value) => setParam(name, value),
    "/mapping": (name) => { $("mapping").value = name; },
    "/patch/name": (name) => { $("patch").textContent = name; },
    "/pad/description": (row, col, cls, prob, loud, bright, r, g, b) => {
      state.descriptions[`${row},${col}`] = { cls, prob, loud, bright, color: [r, g, b] };
      const pad = padAt(row, col);
      if (pad) { pad.style.backgroundColor = `rgb(${r}, ${g}, ${b})`; pad.title = `row ${row}, col ${col}${cls ? ": " + cls : ""}`; }
    },
    "/pad/playing": (row, col, on) => { const pad = padAt(row, col); if (pad) pad.classList.toggle("playing", !!on); },
    "/progress": (done, total) => {
      $("progress-bar").style.width = `${total ? (100 * done) / total : 0}%`;
      $("progress-text").textContent = done === total ? "" : `${done}/${total}`;
      window.liveengine.ready = true;
    },
    "/level": (peak) => { $("level-bar").style.width = `${Math.min(100, 100 * Math.sqrt(peak || 0))}%`; },
    "/status": (voices, xruns, drops, late, cpu) => {
      $("status").textContent = `voices ${voices}  xruns ${xruns}  drops ${drops}  cpu ${Math.round(100 * (cpu || 0))}%`;
    },
    "/report": (text) => note(text),
    "/error": (address, reason) => note(`${address}: ${reason}`, true),
    "/pad/info": (info) => showDetails(info),
  };
  function receive(m) {
    const handler = handlers[m[0]];
    if (handler) handler(...m.slice(1));
    else if (typeof m[0] === "string") note(m.map(String).join(" "));  // replies: /capture path, /patch name ok, ...
  }

  function note(text, error) {
    const list = $("messages"), item = document.createElement("li");
    item.textContent = text;
    if (error) item.className = "error";
    list.prepend(item);
    while (list.children.length > 30) list.lastChild.remove();
  }

  // ---- the grid ----
  function padAt(row, col) { return state.pads[row * state.cols + col]; }
  function buildGrid(rows, cols) {
    state.rows = rows; state.cols = cols; state.pads = new Array(rows * cols);
    grid.textContent = "";
    grid.style.gridTemplateColumns = `repeat(${cols}, 1fr)`;
    grid.style.gridTemplateRows = `repeat(${rows}, 1fr)`;
    for (let row = rows - 1; row >= 0; row--) {  // row 0 at the bottom, as on a pad controller
      for (let col = 0; col < cols; col++) {
        const pad = document.createElement("div");
        pad.className = "pad"; pad.dataset.row = row; pad.dataset.col = col;
        grid.appendChild(pad);
        state.pads[row * cols + col] = pad;
      }
    }
    moveBlock(0, 0);
    sizeCanvas();
  }

  function velocityOf(e, rect) {
    // Pressure where the device measures it (pens, some touch screens); else the height of the touch in the pad.
    if (e.pointerType !== "mouse" && e.pressure > 0 && e.pressure !== 0.5) return Math.min(1, Math.max(0.05, e.pressure));
    const y = (e.clientY - rect.top) / rect.height;
    return Math.round(Math.min(1, Math.max(0.2, 1 - 0.8 * y)) * 1000) / 1000;
  }

  let hover = null, holdTimer = null;
  grid.addEventListener("pointerdown", (e) => {
    const pad = e.target.closest(".pad");
    if (!pad || state.mode !== "pads") return;
    e.preventDefault();
    const row = +pad.dataset.row, col = +pad.dataset.col;
    send("/pad", [row, col, velocityOf(e, pad.getBoundingClientRect())], eventTime(e));
    pad.classList.add("pressed");
    if (e.pointerType !== "mouse") {
      clearTimeout(holdTimer);
      holdTimer = setTimeout(() => askDetails(row, col), 450);
    }
  });
  const release = (e) => {
    clearTimeout(holdTimer);
    const pad = e.target.closest && e.target.closest(".pad");
    if (pad) pad.classList.remove("pressed");
  };
  grid.addEventListener("pointerup", release);
  grid.addEventListener("pointercancel", release);
  grid.addEventListener("pointerleave", release, true);
  grid.addEventListener("pointerover", (e) => {
    const pad = e.target.closest(".pad");
    if (!pad || e.pointerType !== "mouse" || pad === hover) return;
    hover = pad;
    clearTimeout(holdTimer);
    holdTimer = setTimeout(() => askDetails(+pad.dataset.row, +pad.dataset.col), 200);
  });
  surface.addEventListener("contextmenu", (e) => e.preventDefault());

  function askDetails(row, col) {
    if (state.ws && state.ws.readyState === 1) state.ws.send(JSON.stringify({ view: "pad", row, col }));
  }
  function showDetails(info) {
    const f = (v, digits) => (v === null || v === undefined ? "?" : Number(v).toFixed(digits));
    const lines = [`pad row ${info.row}, col ${info.col} (${info.mapping})`];
    lines.push(info.class ? `class ${info.class} (p ${f(info.probability, 2)})` : "class: no classifier");
    lines.push(`loudness ${f(info.loudness_db, 1)} dB, brightness ${f(info.brightness, 2)}, ${f(info.seconds, 2)} s`);
    if (info.point) lines.push(`latent [${info.point.slice(0, 8).map((v) => v.toFixed(2)).join(", ")}${info.point.length > 8 ? `, ... (${info.point.length})` : ""}]`);
    if (info.nearest) lines.push(`nearest sample ${info.nearest.file} at ${info.nearest.start} s`);
    $("details-text").textContent = lines.join("\n");
    $("details-text").style.whiteSpace = "pre-line";
    const canvas = $("spectrogram"), ctx = canvas.getContext("2d");
    ctx.fillStyle = "#000"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (!info.spectrogram) return;
    const [frames, bins] = info.spectrogram_shape, w = canvas.width / frames, h = canvas.height / bins;
    for (let t = 0; t < frames; t++) {
      for (let b = 0; b < bins; b++) {
        const v = info.spectrogram[t * bins + b];
        ctx.fillStyle = `rgb(${v}, ${Math.round(v * 0.75)}, ${Math.round(255 - v * 0.6) * (v > 8 ? 1 : 0)})`;
        ctx.fillRect(t * w, canvas.height - (b + 1) * h, Math.ceil(w), Math.ceil(h));
      }
    }
  }

  // ---- the XY surface: play between pads, or slide, zoom and turn the map ----
  document.querySelectorAll(".modes button").forEach((button) => button.addEventListener("click", () => setMode(button.dataset.mode)));
  function setMode(mode) {
    state.mode = mode; surface.dataset.mode = mode;
    document.querySelectorAll(".modes button").forEach((b) => b.classList.toggle("on", b.dataset.mode === mode));
    sizeCanvas();
  }
  function sizeCanvas() {
    const rect = surface.getBoundingClientRect();
    xy.width = Math.max(1, Math.round(rect.width)); xy.height = Math.max(1, Math.round(rect.height));
  }
  window.addEventListener("resize", sizeCanvas);

  const pointers = new Map();  // pointerId -> {x, y, lastX, lastY} in 0..1 (y up)
  let gesture = null;  // move mode: the start of a slide or pinch
  function at(e) {
    const rect = xy.getBoundingClientRect();
    return [Math.min(1, Math.max(0, (e.clientX - rect.left) / rect.width)), Math.min(1, Math.max(0, 1 - (e.clientY - rect.top) / rect.height))];
  }
  function hitXY(x, y, e) {
    send("/xy", [Math.round(x * 10000) / 10000, Math.round(y * 10000) / 10000, 0.8], eventTime(e));
    const ctx = xy.getContext("2d");
    ctx.fillStyle = "rgba(255,255,255,.8)";
    ctx.beginPath(); ctx.arc(x * xy.width, (1 - y) * xy.height, 6, 0, 2 * Math.PI); ctx.fill();
    clearTimeout(hitXY.fade); hitXY.fade = setTimeout(() => ctx.clearRect(0, 0, xy.width, xy.height), 400);
  }
  // Stream mode: the surface is the stream voice's timbre pad; a drag sends /stream/xy at most every 20 ms.
  function moveStream(x, y, e, now) {
    const t = performance.now();
    if (!now && t - (moveStream.last || 0) < 20) return;
    moveStream.last = t;
    send("/stream/xy", [Math.round(x * 10000) / 10000, Math.round(y * 10000) / 10000], eventTime(e));
    const ctx = xy.getContext("2d");
    ctx.clearRect(0, 0, xy.width, xy.height);
    ctx.strokeStyle = "rgba(120,200,255,.9)";
    ctx.beginPath(); ctx.arc(x * xy.width, (1 - y) * xy.height, 9, 0, 2 * Math.PI); ctx.stroke();
  }
  xy.addEventListener("pointerdown", (e) => {
    e.preventDefault();
    xy.setPointerCapture(e.pointerId);
    const [x, y] = at(e);
    pointers.set(e.pointerId, { x, y, lastX: x, lastY: y });
    if (state.mode === "xy") hitXY(x, y, e);
    else if (state.mode === "stream") moveStream(x, y, e, true);
    else startGesture();
  });
  xy.addEventListener("pointermove", (e) => {
    const p = pointers.get(e.pointerId);
    if (!p) return;
    const [x, y] = at(e);
    p.x = x; p.y = y;
    if (state.mode === "xy") {
      // A drag plays a hit each time it has moved half a pad from the last one.
      const step = 0.5 / Math.max(state.cols, state.rows, 1);
      if (Math.hypot(x - p.lastX, y - p.lastY) >= step) { p.lastX = x; p.lastY = y; hitXY(x, y, e); }
    } else if (state.mode === "stream") moveStream(x, y, e, false);
    else moveGesture();
  });
  const up = (e) => { pointers.delete(e.pointerId); if (state.mode === "move") startGesture(); };
  xy.addEventListener("pointerup", up);
  xy.addEventListener("pointercancel", up);

  function startGesture() {
    const list = [...pointers.values()];
    gesture = list.length ? { points: list.map((p) => [p.x, p.y]), center: [state.values.center_x, state.values.center_y],
                               zoom: state.values.zoom, rotation: state.values.rotation } : null;
  }
  function moveGesture() {
    if (!gesture) return;
    const list = [...pointers.values()];
    const g = gesture;
    if (list.length === 1 && g.points.length === 1) {
      // The map follows the finger: a drag across the whole surface moves it by the grid's span.
      const dx = list[0].x - g.points[0][0], dy = list[0].y - g.points[0][1];
      const span = (2 * state.square) / g.zoom, angle = (g.rotation * Math.PI) / 180;
      const vx = dx * span, vy = dy * span;
      queueParam("center_x", g.center[0] - (vx * Math.cos(angle) - vy * Math.sin(angle)));
      queueParam("center_y", g.center[1] - (vx * Math.sin(angle) + vy * Math.cos(angle)));
    } else if (list.length >= 2 && g.points.length >= 2) {
      const [a0, b0] = g.points, a = [list[0].x, list[0].y], b = [list[1].x, list[1].y];
      const d0 = Math.hypot(b0[0] - a0[0], b0[1] - a0[1]), d = Math.hypot(b[0] - a[0], b[1] - a[1]);
      if (d0 > 0.01) queueParam("zoom", g.zoom * (d / d0));
      const turn = Math.atan2(b[1] - a[1], b[0] - a[0]) - Math.atan2(b0[1] - a0[1], b0[0] - a0[0]);
      queueParam("rotation", g.rotation - (turn * 180) / Math.PI);
    }
  }

  // ---- parameters: one message per animation frame at most, the last value wins ----
  const pending = new Map();
  let frameQueued = false;
  function queueParam(name, value) {
    const [low, high] = state.params[name] || [-Infinity, Infinity];
    value = Math.min(high, Math.max(low, value));
    if (name === "rotation") value = ((value + 540) % 360) - 180;
    pending.set(name, value);
    state.values[name] = value;
    if (!frameQueued) { frameQueued = true; requestAnimationFrame(flushParams); }
  }
  function flushParams() {
    frameQueued = false;
    for (const [name, value] of pending) send("/param", [name, name === "seed" ? Math.round(value) : Math.round(value * 10000) / 10000]);
    pending.clear();
  }
  const dials = {};
  const DIALS = ["zoom", "rotation", "variance", "gain", "center_x", "center_y"];
  function buildDials(params) {
    const box = $("dials");
    box.textContent = "";
    for (const name of DIALS) {
      if (!params[name]) continue;
      const [low, high, doc] = params[name], log = name === "zoom";
      const label = document.createElement("label"), text = document.createElement("span"), input = document.createElement("input");
      label.className = "dial"; label.title = doc;
      input.type = "range"; input.id = `dial-${name}`; input.dataset.param = name;
      input.min = log ? Math.log(low) : low; input.max = log ? Math.log(high) : high; input.step = "any";
      if (name === "rotation") { input.min = -180; input.max = 180; }
      const value = document.createElement("b");
      text.append(name.replace("_", " "), value);
      label.append(text, input);
      box.appendChild(label);
      input.addEventListener("input", () => queueParam(name, log ? Math.exp(+input.value) : +input.value));
      dials[name] = { input, value, log };
    }
  }
  function setParam(name, value) {
    state.values[name] = value;
    const dial = dials[name];
    if (dial) {
      if (document.activeElement !== dial.input && !pending.has(name)) dial.input.value = dial.log ? Math.log(value) : value;
      dial.value.textContent = Number(value).toFixed(name === "rotation" ? 0 : 2);
    }
    if (name === "seed" && document.activeElement !== $("seed")) $("seed").value = Math.round(value);
  }
  function buildMapping(names) {
    const select = $("mapping");
    select.textContent = "";
    for (const name of names) { const o = document.createElement("option"); o.value = o.textContent = name; select.appendChild(o); }
  }
  $("mapping").addEventListener("change", (e) => send("/mapping", [e.target.value]));
  $("seed").addEventListener("change", (e) => queueParam("seed", Math.max(0, Math.round(+e.target.value || 0))));
  $("panic").addEventListener("click", () => send("/panic", []));
  $("capture").addEventListener("click", () => send("/capture", []));
  $("patch-load").addEventListener("click", () => { const name = $("patch-name").value.trim(); if (name) send("/patch", [name]); });
  $("state-save").addEventListener("click", () => { const name = $("state-name").value.trim(); if (name) send("/state/save", [name]); });

  // ---- the computer keyboard: a 4x4 block of pads, arrows move it (the table liveengine/control/keys.py uses) ----
  function moveBlock(dRow, dCol) {
    const maxRow = Math.max(0, state.rows - state.blockKeys.length), maxCol = Math.max(0, state.cols - state.blockKeys[0].length);
    state.block = [Math.min(maxRow, Math.max(0, state.block[0] + dRow)), Math.min(maxCol, Math.max(0, state.block[1] + dCol))];
    state.pads.forEach((pad) => pad && pad.classList.remove("inblock"));
    for (let r = 0; r < state.blockKeys.length; r++) {
      for (let c = 0; c < state.blockKeys[r].length; c++) {
        const pad = padAt(state.block[0] + r, state.block[1] + c);
        if (pad) pad.classList.add("inblock");
      }
    }
  }
  const ARROWS = { ArrowUp: [1, 0], ArrowDown: [-1, 0], ArrowRight: [0, 1], ArrowLeft: [0, -1] };
  document.addEventListener("keydown", (e) => {
    if (e.target.closest && e.target.closest("input, select, textarea") || e.ctrlKey || e.metaKey || e.altKey) return;
    if (ARROWS[e.key]) { e.preventDefault(); moveBlock(...ARROWS[e.key]); return; }
    if (e.repeat) return;
    const key = e.code.startsWith("Key") ? e.code.slice(3).toLowerCase() : e.code.startsWith("Digit") ? e.code.slice(5) : e.key.toLowerCase();
    for (let r = 0; r < state.blockKeys.length; r++) {
      const c = state.blockKeys[r].indexOf(key);
      if (c < 0) continue;
      e.preventDefault();
      const row = state.block[0] + r, col = state.block[1] + c;
      if (row < state.rows && col < state.cols) send("/pad", [row, col, e.shiftKey ? 1.0 : 0.8], eventTime(e));
      return;
    }
  });

  setMode("pads");
  connect();
})();
