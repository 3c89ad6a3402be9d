// faultline report: the timeline. Hand-written, no libraries.
//
// Everything drawn comes from the JSON block #data (untrusted text from the
// history): it reaches the page only through textContent, option.text and
// canvas fillText, never through innerHTML. Ops are drawn on one <canvas>,
// lane by lane, with a binary search for the first visible op and pixel
// coalescing, so 100,000 ops and more stay smooth.
(function () {
  'use strict';

  var data = JSON.parse(document.getElementById('data').textContent);
  var ops = data.ops;
  var N = ops.id.length;
  var NS = data.clock === 'ns';
  // Nanoseconds per unit of the data's times (1, or 1000 for long runs).
  var UNIT = data.unit_ns || 1;
  var END = Math.max(data.end, 1);
  var COLOURS = ['#3b82c4', '#d6409f', '#f59e0b', '#9a9a9a'];
  var OUTCOME = ['ok', 'fail', 'info', 'no completion'];
  var BAND_COLOURS = { partition: '#e45756', pause: '#8e6cc0', kill: '#5a5a5a', power: '#1f1f1f', corrupt: '#c0392b' };

  // Columns as typed arrays; an op with no completion lasts to the end.
  var S = new Float64Array(N), E = new Float64Array(N), O = new Uint8Array(N);
  var LANE = new Uint32Array(N), K = new Int32Array(N), ND = new Int32Array(N);
  var i;
  for (i = 0; i < N; i++) {
    S[i] = ops.s[i];
    E[i] = ops.e[i] < 0 ? END : Math.max(ops.e[i], ops.s[i]);
    O[i] = ops.o[i];
    LANE[i] = ops.lane[i];
    K[i] = ops.k[i];
    ND[i] = ops.n[i];
  }
  var byId = new Map();
  for (i = 0; i < N; i++) byId.set(ops.id[i], i);

  // Per lane, ops sorted by invoke. Ops of one lane never overlap, so their
  // completions are sorted too: a binary search finds the first visible one.
  var L = Math.max(data.lanes.length, 1);
  var lanes = [];
  for (i = 0; i < L; i++) lanes.push([]);
  for (i = 0; i < N; i++) lanes[LANE[i]].push(i);
  var laneEnds = lanes.map(function (list) {
    list.sort(function (a, b) { return S[a] - S[b] || a - b; });
    var ends = new Float64Array(list.length), max = -Infinity;
    for (var j = 0; j < list.length; j++) { max = Math.max(max, E[list[j]]); ends[j] = max; }
    return ends;
  });

  function firstEndingAfter(lane, t) {
    var ends = laneEnds[lane], lo = 0, hi = ends.length;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (ends[mid] < t) lo = mid + 1; else hi = mid; }
    return lo;
  }

  // ---- state ----
  var view = { t0: 0, t1: END };
  var mask = new Uint8Array(N);
  var shownCount = 0;
  var selected = [];
  var hover = -1;
  var showOutcome = [true, true, true, true];
  var keyFilter = null;   // null, or a Uint8Array over key ids
  var nodeFilter = -1;

  // ---- DOM ----
  var canvas = document.getElementById('timeline');
  var box = document.getElementById('timeline-box');
  var tip = document.getElementById('tip');
  var details = document.getElementById('op-details');
  var status = document.getElementById('timeline-status');
  var keyInput = document.getElementById('key-filter');
  var keyList = document.getElementById('key-list');
  var nodeSelect = document.getElementById('node-filter');
  var ctx = canvas.getContext('2d');

  var LABEL_W = 112, AXIS_H = 22, BAND_H = 18;
  var laneH = 10;
  var width = 800, height = 100, dpr = 1;
  // The lanes drawn, top to bottom: all of them, or with a key or node
  // filter only those with an op shown.
  var rows = [], rowOf = new Int32Array(L);

  function fmtTime(t) {
    if (!NS) return 'event ' + Math.round(t);
    return (t * UNIT / 1e9).toFixed(UNIT === 1 ? 9 : 6).replace(/(\.\d{3}\d*?)0+$/, '$1') + ' s';
  }
  function fmtSpan(d) {
    if (!NS) return Math.round(d) + ' events';
    var ns = d * UNIT;
    if (ns >= 1e9) return (ns / 1e9).toFixed(3) + ' s';
    if (ns >= 1e6) return (ns / 1e6).toFixed(3) + ' ms';
    if (ns >= 1e3) return (ns / 1e3).toFixed(1) + ' µs';
    return ns.toFixed(0) + ' ns';
  }

  function resize() {
    dpr = window.devicePixelRatio || 1;
    width = Math.max(300, box.clientWidth);
    laneH = Math.max(2, Math.min(22, Math.floor(900 / Math.max(rows.length, 1))));
    height = AXIS_H + BAND_H + Math.max(rows.length, 1) * laneH + 6;
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    canvas.style.height = height + 'px';
  }

  function X(t) { return LABEL_W + (t - view.t0) / (view.t1 - view.t0) * (width - LABEL_W); }
  function T(x) { return view.t0 + (x - LABEL_W) / (width - LABEL_W) * (view.t1 - view.t0); }

  function applyFilters() {
    shownCount = 0;
    for (var j = 0; j < N; j++) {
      var on = showOutcome[O[j]] &&
        (keyFilter === null || keyFilter[K[j]] === 1) &&
        (nodeFilter < 0 || ND[j] === nodeFilter);
      mask[j] = on ? 1 : 0;
      if (on) shownCount++;
    }
    var filtering = keyFilter !== null || nodeFilter >= 0;
    var has = new Uint8Array(L);
    for (j = 0; j < N; j++) if (mask[j]) has[LANE[j]] = 1;
    rows = [];
    for (var l = 0; l < L; l++) {
      if (!filtering || has[l]) { rowOf[l] = rows.length; rows.push(l); } else rowOf[l] = -1;
    }
    resize();
  }

  function niceStep(span, ticks) {
    var raw = span / ticks, base = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 5, 10];
    for (var j = 0; j < steps.length; j++) if (steps[j] * base >= raw) return steps[j] * base;
    return 10 * base;
  }

  function opText(j) {
    var value = ops.ov[j] || ops.iv[j];
    return data.fs[ops.f[j]] + (value ? ' ' + value : '');
  }

  var scheduled = false;
  function redraw() {
    if (scheduled) return;
    scheduled = true;
    window.requestAnimationFrame(function () { scheduled = false; draw(); });
  }

  function draw() {
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = '11px sans-serif';
    ctx.textBaseline = 'middle';
    var R = rows.length, top = AXIS_H + BAND_H, lanesBottom = top + Math.max(R, 1) * laneH;

    // Lane stripes and labels.
    for (var r = 0; r < R; r++) {
      if (r % 2 === 0) { ctx.fillStyle = '#f6f6f6'; ctx.fillRect(0, top + r * laneH, width, laneH); }
    }
    ctx.fillStyle = '#333';
    if (laneH >= 9) {
      for (r = 0; r < R; r++) ctx.fillText(String(data.lanes[rows[r]] || '').slice(0, 16), 4, top + r * laneH + laneH / 2);
    } else {
      ctx.fillText(R + ' lanes', 4, top + 8);
    }
    if (R === 0) ctx.fillText('no op matches the filters', LABEL_W + 8, top + laneH / 2);

    ctx.save();
    ctx.beginPath();
    ctx.rect(LABEL_W, 0, width - LABEL_W, height);
    ctx.clip();

    // Fault bands across every lane, labelled in their own row.
    for (var b = 0; b < data.bands.length; b++) {
      var band = data.bands[b];
      var bx0 = X(band.s), bx1 = X(band.e < 0 ? END : band.e);
      if (bx1 < LABEL_W || bx0 > width) continue;
      var bw = Math.max(2, bx1 - bx0);
      ctx.globalAlpha = 0.16;
      ctx.fillStyle = BAND_COLOURS[band.kind] || '#b07d48';
      ctx.fillRect(bx0, AXIS_H, bw, lanesBottom - AXIS_H);
      ctx.globalAlpha = 1;
      ctx.fillStyle = BAND_COLOURS[band.kind] || '#b07d48';
      ctx.fillRect(bx0, AXIS_H + 2, bw, 3);
      ctx.save();
      ctx.beginPath();
      var lx = Math.max(bx0, LABEL_W);
      ctx.rect(lx, AXIS_H, Math.max(bw - (lx - bx0), 40), BAND_H);
      ctx.clip();
      ctx.fillStyle = '#222';
      ctx.fillText(band.label, lx + 3, AXIS_H + 11);
      ctx.restore();
    }

    // Ops, one outcome at a time so the rare ones land on top, coalescing
    // bars that fall into pixels already filled.
    var t0 = view.t0, t1 = view.t1;
    var scale = (width - LABEL_W) / (t1 - t0);
    var barH = Math.max(2, laneH - (laneH > 8 ? 4 : 1));
    var labels = [];
    for (var outcome = 0; outcome < 4; outcome++) {
      if (!showOutcome[outcome]) continue;
      ctx.fillStyle = COLOURS[outcome];
      for (r = 0; r < R; r++) {
        var l = rows[r], list = lanes[l], y = top + r * laneH + (laneH - barH) / 2;
        var filled = -1;
        for (var j = firstEndingAfter(l, t0); j < list.length; j++) {
          var k = list[j];
          if (S[k] > t1) break;
          if (O[k] !== outcome || !mask[k]) continue;
          var x0 = LABEL_W + (S[k] - t0) * scale, x1 = LABEL_W + (E[k] - t0) * scale;
          if (x1 - x0 < 1) x1 = x0 + 1;
          if (x1 <= filled) continue;
          if (x0 < filled) x0 = filled;
          ctx.fillRect(x0, y, x1 - x0, barH);
          filled = x1;
          if (x1 - x0 > 40 && barH >= 9) labels.push(k, x0, x1, y);
        }
      }
    }
    ctx.fillStyle = '#fff';
    for (var q = 0; q < labels.length; q += 4) {
      var op = labels[q], lx0 = Math.max(labels[q + 1], LABEL_W), lw = labels[q + 2] - lx0;
      if (lw < 30) continue;
      var text = opText(op);
      var fit = Math.floor((lw - 6) / 6);
      if (text.length > fit) text = text.slice(0, Math.max(fit - 1, 1)) + '…';
      ctx.fillText(text, lx0 + 3, labels[q + 3] + barH / 2);
    }

    // Selected ops (jump to failure, click) and the hovered one.
    function outline(k, colour, lineWidth, dashed) {
      if (rowOf[LANE[k]] < 0) return;
      var y = top + rowOf[LANE[k]] * laneH + 0.5, x0 = X(S[k]), x1 = Math.max(X(E[k]), x0 + 2);
      ctx.strokeStyle = colour;
      ctx.lineWidth = lineWidth;
      ctx.setLineDash(dashed ? [5, 3] : []);
      ctx.strokeRect(x0 - 1, y, x1 - x0 + 2, laneH - 1);
      ctx.setLineDash([]);
    }
    // The first selected op is the one a failure is about (solid, thick);
    // the others are ops it names (dashed).
    for (q = selected.length - 1; q >= 0; q--) {
      var s = selected[q];
      outline(s, '#b00020', q === 0 ? 3 : 2, q > 0);
      var sx = X(S[s]);
      ctx.fillStyle = '#b00020';
      ctx.beginPath();
      ctx.moveTo(sx - 5, AXIS_H + BAND_H - 6);
      ctx.lineTo(sx + 5, AXIS_H + BAND_H - 6);
      ctx.lineTo(sx, AXIS_H + BAND_H);
      ctx.fill();
    }
    if (hover >= 0) outline(hover, '#000', 1);
    ctx.restore();

    // Time axis.
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, width, AXIS_H);
    ctx.strokeStyle = '#888';
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(LABEL_W, AXIS_H - 0.5);
    ctx.lineTo(width, AXIS_H - 0.5);
    ctx.stroke();
    var step = niceStep(t1 - t0, Math.max(2, (width - LABEL_W) / 110));
    ctx.fillStyle = '#333';
    ctx.textAlign = 'center';
    for (var t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
      var x = X(t);
      ctx.fillRect(x, AXIS_H - 5, 1, 5);
      ctx.fillText(NS ? fmtTick(t, step) : String(Math.round(t)), x, 9);
    }
    ctx.textAlign = 'left';
    ctx.fillText(NS ? 'time (s)' : 'event', 4, 9);

    status.textContent = shownCount + ' of ' + N + ' ops shown; view ' + fmtTime(t0) + ' to ' +
      fmtTime(t1) + ' (' + fmtSpan(t1 - t0) + '). Wheel: zoom; drag: pan; double-click: reset.';
    markDrawn();
  }

  function fmtTick(t, step) {
    var digits = Math.max(0, Math.ceil(-Math.log10(step * UNIT / 1e9) - 1e-9));
    return (t * UNIT / 1e9).toFixed(Math.min(digits, 9));
  }

  function describe(k) {
    var lines = [];
    var node = ND[k] >= 0 ? data.nodes[ND[k]] : 'unknown';
    lines.push('op ' + ops.id[k] + ' · process ' + ops.p[k] + ' · node ' + node);
    lines.push(data.fs[ops.f[k]] + '  key ' + JSON.stringify(data.keys[K[k]]));
    if (ops.iv[k]) lines.push('invoke value: ' + ops.iv[k]);
    var end = OUTCOME[O[k]];
    if (ops.ov[k]) end += ': ' + ops.ov[k];
    if (ops.err[k] >= 0) end += ' (error: ' + data.errors[ops.err[k]] + ')';
    lines.push('→ ' + end);
    var span = 'called ' + fmtTime(S[k]);
    if (ops.e[k] >= 0) span += ', completed ' + fmtTime(E[k]) + ' (' + fmtSpan(E[k] - S[k]) + ')';
    else span += ', never completed';
    lines.push(span);
    return lines.join('\n');
  }

  function opAt(x, y) {
    var top = AXIS_H + BAND_H;
    var row = Math.floor((y - top) / laneH);
    if (row < 0 || row >= rows.length || x < LABEL_W) return -1;
    var lane = rows[row];
    var t = T(x), tol = 3 * (view.t1 - view.t0) / (width - LABEL_W);
    var list = lanes[lane], best = -1;
    for (var j = firstEndingAfter(lane, t - tol); j < list.length; j++) {
      var k = list[j];
      if (S[k] > t + tol) break;
      if (mask[k]) { best = k; if (S[k] <= t && E[k] >= t) return k; }
    }
    return best;
  }

  function markDrawn() {
    var marker = document.getElementById('drawn');
    if (!marker) {
      marker = document.createElement('div');
      marker.id = 'drawn';
      marker.hidden = true;
      document.body.appendChild(marker);
    }
    marker.setAttribute('data-ops', String(N));
    marker.setAttribute('data-shown', String(shownCount));
    marker.setAttribute('data-lanes', String(L));
    marker.setAttribute('data-rows', String(rows.length));
    marker.setAttribute('data-bands', String(data.bands.length));
    marker.setAttribute('data-failures', String(data.failures.length));
    marker.setAttribute('data-selected', selected.map(function (k) { return ops.id[k]; }).join(' '));
    // Times in ns (event positions for histories without times).
    marker.setAttribute('data-view', Math.round(view.t0 * UNIT) + ' ' + Math.round(view.t1 * UNIT));
    marker.setAttribute('data-end', String(END * UNIT));
  }

  // ---- filters ----
  function setKeyFilter(text) {
    if (!text) { keyFilter = null; } else {
      keyFilter = new Uint8Array(data.keys.length);
      var exact = data.keys.indexOf(text);
      if (exact >= 0) keyFilter[exact] = 1;
      else for (var j = 0; j < data.keys.length; j++) if (data.keys[j].indexOf(text) >= 0) keyFilter[j] = 1;
    }
    applyFilters();
    redraw();
  }

  keyInput.addEventListener('input', function () { setKeyFilter(keyInput.value); });
  nodeSelect.addEventListener('change', function () {
    nodeFilter = parseInt(nodeSelect.value, 10);
    applyFilters();
    redraw();
  });
  var boxes = document.querySelectorAll('input[data-outcome]');
  Array.prototype.forEach.call(boxes, function (el) {
    el.addEventListener('change', function () {
      var o = parseInt(el.getAttribute('data-outcome'), 10);
      showOutcome[o] = el.checked;
      if (o === 2) showOutcome[3] = el.checked;
      applyFilters();
      redraw();
    });
  });

  // Key and node choices: option.value/text are properties, never markup.
  var keyLimit = Math.min(data.keys.length, 5000);
  for (i = 0; i < keyLimit; i++) {
    var option = document.createElement('option');
    option.value = data.keys[i];
    keyList.appendChild(option);
  }
  for (i = 0; i < data.nodes.length; i++) {
    var nodeOption = document.createElement('option');
    nodeOption.value = String(i);
    nodeOption.text = data.nodes[i];
    nodeSelect.appendChild(nodeOption);
  }

  // ---- zoom and pan ----
  function setView(t0, t1) {
    var minSpan = NS ? 500 / UNIT : 2, full = END * 1.02 + 1;
    var span = Math.max(minSpan, Math.min(t1 - t0, full * 1.5));
    var mid = (t0 + t1) / 2;
    view.t0 = mid - span / 2;
    view.t1 = mid + span / 2;
    redraw();
  }
  function reset() { setView(-END * 0.01, END * 1.01); }
  function zoomAt(x, factor) {
    var tc = T(x);
    setView(tc - (tc - view.t0) * factor, tc + (view.t1 - tc) * factor);
  }

  canvas.addEventListener('wheel', function (ev) {
    ev.preventDefault();
    var rect = canvas.getBoundingClientRect();
    var x = Math.max(LABEL_W, ev.clientX - rect.left);
    var delta = ev.deltaMode === 1 ? ev.deltaY * 30 : ev.deltaY;
    if (ev.shiftKey || Math.abs(ev.deltaX) > Math.abs(delta)) {
      var shift = (ev.shiftKey ? delta : ev.deltaX) / (width - LABEL_W) * (view.t1 - view.t0);
      setView(view.t0 + shift, view.t1 + shift);
    } else {
      zoomAt(x, Math.exp(delta * 0.0015));
    }
  }, { passive: false });

  var drag = null;
  canvas.addEventListener('mousedown', function (ev) {
    drag = { x: ev.clientX, t0: view.t0, t1: view.t1, moved: false };
    canvas.classList.add('dragging');
  });
  window.addEventListener('mouseup', function (ev) {
    if (!drag) return;
    var clicked = !drag.moved;
    drag = null;
    canvas.classList.remove('dragging');
    if (clicked) {
      var rect = canvas.getBoundingClientRect();
      var k = opAt(ev.clientX - rect.left, ev.clientY - rect.top);
      if (k >= 0) { selected = [k]; details.textContent = describe(k); redraw(); }
    }
  });
  window.addEventListener('mousemove', function (ev) {
    var rect = canvas.getBoundingClientRect();
    if (drag) {
      var dx = ev.clientX - drag.x;
      if (Math.abs(dx) > 2) drag.moved = true;
      var dt = dx / (width - LABEL_W) * (drag.t1 - drag.t0);
      view.t0 = drag.t0 - dt;
      view.t1 = drag.t1 - dt;
      tip.style.display = 'none';
      redraw();
      return;
    }
    var x = ev.clientX - rect.left, y = ev.clientY - rect.top;
    if (x < 0 || y < 0 || x > rect.width || y > rect.height) {
      if (hover >= 0) { hover = -1; tip.style.display = 'none'; redraw(); }
      return;
    }
    var k = opAt(x, y);
    if (k !== hover) { hover = k; redraw(); }
    if (k >= 0) {
      tip.textContent = describe(k);
      tip.style.display = 'block';
      var left = x + 14;
      if (left + tip.offsetWidth > width) left = Math.max(0, x - tip.offsetWidth - 14);
      tip.style.left = left + 'px';
      tip.style.top = (y + 14) + 'px';
    } else {
      tip.style.display = 'none';
    }
  });
  canvas.addEventListener('dblclick', function () { reset(); });
  document.getElementById('zoom-reset').addEventListener('click', reset);
  document.getElementById('zoom-in').addEventListener('click', function () { zoomAt((LABEL_W + width) / 2, 0.5); });
  document.getElementById('zoom-out').addEventListener('click', function () { zoomAt((LABEL_W + width) / 2, 2); });
  document.getElementById('filters-clear').addEventListener('click', function () {
    keyInput.value = '';
    nodeSelect.value = '-1';
    nodeFilter = -1;
    selected = [];
    details.textContent = '';
    setKeyFilter('');
  });
  window.addEventListener('resize', function () { resize(); redraw(); });

  // ---- jump to a failure ----
  function jump(index, scroll) {
    var failure = data.failures[index];
    if (!failure) return;
    var found = [];
    for (var j = 0; j < failure.ops.length; j++) {
      var k = byId.get(failure.ops[j]);
      if (k !== undefined) found.push(k);
    }
    if (failure.key !== null && failure.key !== undefined) {
      keyInput.value = failure.key;
      nodeSelect.value = '-1';
      nodeFilter = -1;
      setKeyFilter(failure.key);
    }
    selected = found;
    if (found.length > 0) {
      var lo = Infinity, hi = -Infinity;
      found.forEach(function (k) { lo = Math.min(lo, S[k]); hi = Math.max(hi, E[k]); });
      var pad = Math.max((hi - lo) * 0.6, NS ? 2e6 / UNIT : 3);
      setView(lo - pad, hi + pad);
      details.textContent = (failure.explanation || failure.label) + '\n\n' + describe(found[0]);
    } else if (failure.time !== null && failure.time !== undefined) {
      var around = NS ? 1e9 / UNIT : 20;
      setView(failure.time - around, failure.time + around);
      details.textContent = failure.explanation || failure.label;
    }
    draw();
    if (scroll) box.scrollIntoView({ block: 'center' });
  }
  Array.prototype.forEach.call(document.querySelectorAll('button[data-failure]'), function (button) {
    button.addEventListener('click', function () { jump(parseInt(button.getAttribute('data-failure'), 10), true); });
  });

  applyFilters();
  view.t0 = -END * 0.01;
  view.t1 = END * 1.01;
  draw();
  var hash = /^#failure-(\d+)$/.exec(window.location.hash);
  if (hash) jump(parseInt(hash[1], 10), false);
})();
