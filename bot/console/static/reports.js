/* kefu console: the Reports page's charts, drawn by the vendored uPlot (uPlot.iife.min.js, MIT)
   from the JSON the server computes (/console/reports/series.json: the report's own series).
   Every element with data-series gets one small chart per headline metric and one of the
   breakdown (a line per category, agent or segment); hovering reads the values, a drag zooms,
   a click on a legend entry hides its line. No inline script: the CSP allows none.

   The page may come by a boosted link (htmx runs this script again then): each chart place is
   drawn once, marked data-drawn. */
(function () {
  "use strict";

  var PALETTE = ["#2481cc", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#0a7ea4", "#bc4c00", "#57606a",
                 "#d63384", "#6f42c1"];

  function headers() {
    var result = {};
    var token = window.sessionStorage.getItem("kefu-console-token");
    if (token) {
      result.Authorization = "Bearer " + token;
    }
    return result;
  }

  /* Shares as %, seconds as minutes, scores as they are; a period without data as a dash. */
  function formatter(unit, units) {
    return function (value) {
      if (value === null || value === undefined) {
        return "—";
      }
      if (unit === "rate") {
        return (value * 100).toFixed(1) + " %";
      }
      if (unit === "seconds") {
        var minutes = value / 60;
        return minutes.toFixed(minutes >= 10 ? 0 : 1) + " " + units.minutes;
      }
      return value.toFixed(0);
    };
  }

  /* Shares from 0 to 100 %, scores from 0 to 100, times from 0: a flat or single value keeps a
     readable scale, and charts side by side compare at a glance. */
  function yRange(unit, max) {
    if (unit === "rate") {
      return [0, Math.max(1, max || 0)];
    }
    if (unit === "score") {
      return [0, 100];
    }
    return [0, Math.max(60, (max || 0) * 1.1)];
  }

  /* The headline charts share the row (up to three side by side); the breakdown takes it whole. */
  function width(place, whole) {
    var room = place.clientWidth || 600;
    var columns = whole ? 1 : Math.max(1, Math.min(3, Math.floor(room / 340)));
    return Math.max(260, Math.floor((room - 16 * (columns - 1)) / columns));
  }

  function chart(place, title, data, lines, unit) {
    var format = formatter(unit, data.units);
    var box = document.createElement("div");
    box.className = "reports-chart";
    place.appendChild(box);
    var series = [{ label: data.units.period, value: function (u, x) { return x === null ? "—" : data.periods[data.x.indexOf(x)] || ""; } }];
    lines.forEach(function (line, n) {
      series.push({
        label: line.label + " · " + line.verdict_label,
        stroke: PALETTE[n % PALETTE.length],
        width: 2,
        points: { show: true, size: 6 },
        value: function (u, v) { return format(v); }
      });
    });
    var options = {
      title: title,
      width: width(place, lines.length > 1),
      height: 220,
      scales: { x: { time: true }, y: { range: function (u, min, max) { return yRange(unit, max); } } },
      series: series,
      axes: [{}, { size: 80, values: function (u, splits) { return splits.map(format); } }]
    };
    var rows = [data.x].concat(lines.map(function (line) { return line.values; }));
    return new uPlot(options, rows, box);
  }

  function draw(root) {
    var scope = root && root.querySelectorAll ? root : document;
    Array.prototype.forEach.call(scope.querySelectorAll("[data-series]:not([data-drawn])"), function (place) {
      place.setAttribute("data-drawn", "1");
      fetch(place.getAttribute("data-series"), { headers: headers(), credentials: "same-origin" }).then(function (response) {
        if (!response.ok) {
          throw new Error(String(response.status));
        }
        return response.json();
      }).then(function (data) {
        place.textContent = "";
        var small = document.createElement("div");
        small.className = "reports-small-multiples";
        place.appendChild(small);
        Object.keys(data.headlines).forEach(function (name) {
          var line = data.headlines[name];
          chart(small, line.label, data, [line], line.unit);
        });
        var breakdown = data.breakdown;
        if (breakdown.series.length) {
          chart(place, breakdown.label, data, breakdown.series, breakdown.unit);
        }
        place.setAttribute("data-ready", "1");
      }).catch(function () {
        place.textContent = place.getAttribute("data-failed") || "";
      });
    });
  }

  if (!window.kefuReportsCharts) {
    window.kefuReportsCharts = true;
    document.addEventListener("htmx:load", function (event) { draw(event.detail.elt); });
    document.addEventListener("DOMContentLoaded", function () { draw(document); });
  }
  draw(document);
}());
