/* shipyard web UI: charts with uPlot. No inline script anywhere (the pages' CSP forbids it).
 *
 * [data-chart]         metric charts of runs: data from /series.json, downsampled on the server to
 *                      about four points per pixel; a drag zooms in and fetches that range's detail,
 *                      a double-click zooms back out to the overview.
 * [data-series-chart]  charts whose data is embedded in the page (a monitor's checks over time).
 */
(function () {
  "use strict";
  var PALETTE = ["#1f5fa8", "#e07b39", "#2e9d5b", "#c2474a", "#8a5cc2", "#8c564b", "#d45fa8", "#17a2b8",
                 "#a3a032", "#6b7785"];

  function near(a, b) { return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b)); }

  function align(tables) {
    if (!tables.length) { return null; }
    return tables.length === 1 ? [tables[0][0], tables[0][1]] : uPlot.join(tables);
  }

  // A series of a few points is drawn with markers (a line needs two points, so a metric logged
  // once would otherwise be invisible); a single x value gets a range around it instead of none.
  var FEW_POINTS = 50;

  function padded(u, min, max) {
    if (min == null || max == null) { return [min, max]; }
    if (min === max) { var pad = Math.max(1, Math.abs(min) * 0.01); return [min - pad, max + pad]; }
    return [min, max];
  }

  function options(box, axis, series, extra) {
    return Object.assign({
      width: Math.max(box.clientWidth, 300), height: 320,
      scales: { x: { time: axis === "time", range: padded } },
      series: [{ label: axis }].concat(series.map(function (s, i) {
        var n = s.y ? s.y.length : FEW_POINTS;
        if (s.style === "band") {  // an estimate's 95 % band: thin dashed grey edges
          return { label: s.label, stroke: "#9aa4b1", width: 1, dash: [4, 3], spanGaps: true, points: { show: false } };
        }
        var colour = s.style === "realized" ? "#2e9d5b" : PALETTE[i % PALETTE.length];
        return { label: s.label, stroke: colour, width: 1.5, spanGaps: true,
                 points: { show: n < FEW_POINTS, size: n === 1 ? 9 : 6, fill: colour } };
      })),
      cursor: { drag: { x: true, y: false } },
      legend: { live: true }
    }, extra || {});
  }

  function setupMetricChart(panel) {
    var runs = JSON.parse(panel.dataset.runs);
    var box = panel.querySelector(".chart");
    var status = panel.querySelector(".chart-status");
    if (!box) { return; }
    var st = { plot: null, overview: null, full: null, applied: null, axis: "step", keys: [], seq: 0, timer: 0 };

    function url(range) {
      var p = new URLSearchParams();
      runs.forEach(function (r) { p.append("run", r); });
      st.keys.forEach(function (k) { p.append("key", k); });
      p.set("x", st.axis);
      p.set("buckets", String(Math.max(100, Math.round(box.clientWidth || 800))));
      if (range) { p.set("min", String(range[0])); p.set("max", String(range[1])); }
      return "/series.json?" + p.toString();
    }

    function describe(body) {
      if (!body.series.length) { return "no points"; }
      var total = 0, shown = 0, single = [];
      body.series.forEach(function (s) {
        total += s.total; shown += s.shown;
        if (s.total === 1 && s.y.length === 1) { single.push(s.label + " = " + Number(s.y[0]).toPrecision(6).replace(/\.?0+$/, "")); }
      });
      return shown.toLocaleString("en") + " of " + total.toLocaleString("en") + " points" +
        (body.range ? " in the zoomed range" : "") + (shown < total ? " (downsampled: first, last, min and max per pixel)" : "") +
        (single.length ? "; one value each: " + single.join(", ") : "");
    }

    function fetchSeries(range) {
      var seq = ++st.seq;
      status.textContent = "loading…";
      panel.dataset.state = "loading";
      return fetch(url(range), { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (res) {
          return res.json().then(function (body) {
            if (seq !== st.seq) { return null; }  // a newer request took over
            if (!res.ok) { status.textContent = body.message || ("error " + res.status); panel.dataset.state = "error"; return null; }
            return body;
          });
        })
        .catch(function (err) { status.textContent = "could not load the chart: " + err; panel.dataset.state = "error"; return null; });
    }

    function done(body) {
      status.textContent = describe(body);
      panel.dataset.state = body.range ? "zoomed" : "overview";
      panel.dataset.shown = String(body.series.reduce(function (a, s) { return a + s.shown; }, 0));
    }

    function zoomed(u) {
      var min = u.scales.x.min, max = u.scales.x.max;
      if (min == null || max == null || !st.full) { return; }
      if (st.applied && near(min, st.applied[0]) && near(max, st.applied[1])) { return; }
      st.applied = [min, max];
      clearTimeout(st.timer);
      st.timer = setTimeout(function () {
        if (min <= st.full[0] && max >= st.full[1]) { return; }  // the overview shows it all
        fetchSeries([min, max]).then(function (body) {
          if (!body || !st.plot) { return; }
          var data = align(body.series.map(function (s) { return [s.x, s.y]; }));
          if (!data) { status.textContent = "no points in this range"; return; }
          st.plot.setData(data, false);
          st.plot.setScale("x", { min: min, max: max });  // re-ranges y to the detail
          done(body);
        });
      }, 120);
    }

    function reset() {
      if (!st.plot || !st.overview) { return; }
      st.applied = st.full.slice();
      st.plot.setData(st.overview, true);
      status.textContent = st.overviewText;
      panel.dataset.state = "overview";
    }

    function load() {
      st.keys = Array.prototype.map.call(panel.querySelectorAll("input[name=key]:checked"), function (e) { return e.value; });
      var radio = panel.querySelector("input[type=radio]:checked");
      st.axis = radio ? radio.value : "step";
      if (st.plot) { st.plot.destroy(); st.plot = null; }
      box.replaceChildren();
      if (!st.keys.length) { status.textContent = "Choose a metric."; panel.dataset.state = "empty"; return; }
      fetchSeries(null).then(function (body) {
        if (!body) { return; }
        var data = align(body.series.map(function (s) { return [s.x, s.y]; }));
        if (!data || !data[0].length) { status.textContent = "These metrics have no points."; panel.dataset.state = "empty"; return; }
        st.overview = data;
        st.full = [data[0][0], data[0][data[0].length - 1]];
        st.applied = null;
        var opts = options(box, st.axis, body.series, {
          hooks: { setScale: [function (u, key) { if (key === "x") { zoomed(u); } }] }
        });
        opts.cursor.bind = { dblclick: function () { return function () { reset(); return null; }; } };
        if (st.plot) { st.plot.destroy(); }
        box.replaceChildren();
        st.plot = new uPlot(opts, data, box);
        st.overviewText = describe(body);
        done(body);
      });
    }

    panel.addEventListener("change", load);
    window.addEventListener("resize", function () { if (st.plot) { st.plot.setSize({ width: Math.max(box.clientWidth, 300), height: 320 }); } });
    load();
  }

  function setupSeriesChart(panel) {
    var charts = JSON.parse(panel.querySelector(".series-data").textContent);
    var box = panel.querySelector(".chart");
    var select = panel.querySelector("select");
    var status = panel.querySelector(".chart-status");
    var plot = null;

    function draw() {
      var chart = charts[select.value];
      if (plot) { plot.destroy(); plot = null; }
      box.replaceChildren();
      if (!chart || !chart.series.length) { status.textContent = "no values"; return; }
      var series = chart.series.slice();
      var tables = series.map(function (s) { return [s.x, s.y]; });
      if (chart.threshold !== null) {
        var xs = [];
        tables.forEach(function (t) { xs = xs.concat(t[0]); });
        var lo = Math.min.apply(null, xs), hi = Math.max.apply(null, xs);
        tables.push([lo === hi ? [lo] : [lo, hi], lo === hi ? [chart.threshold] : [chart.threshold, chart.threshold]]);
        series.push({ label: "threshold (" + (chart.op || "") + ")" });
      }
      var opts = options(box, "time", series);
      if (chart.threshold !== null) { opts.series[opts.series.length - 1].dash = [6, 4]; opts.series[opts.series.length - 1].stroke = "#888"; }
      opts.series.forEach(function (s, i) {
        if (i > 0 && i <= chart.series.length && chart.series[i - 1].style !== "band") { s.points = { show: true, size: 5 }; }
      });
      plot = new uPlot(opts, align(tables), box);
      var points = chart.series.reduce(function (a, s) { return a + s.y.length; }, 0);
      status.textContent = points + " results of " + (chart.metric || select.value);
      panel.dataset.state = "ready";
    }

    select.addEventListener("change", draw);
    draw();
  }

  function init(root) {
    root.querySelectorAll("[data-chart]:not([data-ready])").forEach(function (el) { el.dataset.ready = "1"; setupMetricChart(el); });
    root.querySelectorAll("[data-series-chart]:not([data-ready])").forEach(function (el) { el.dataset.ready = "1"; setupSeriesChart(el); });
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function (e) { init(e.target); });
})();
