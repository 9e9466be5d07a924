// The console's only script: confirmations and charts. No inline handlers (the CSP forbids them).
(function () {
  "use strict";

  // A button with data-confirm asks before its form is sent.
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var question = button && button.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // <div data-chart="ID"> draws the ECharts option held in <script type="application/json" id="ID">.
  function drawCharts(root) {
    if (!window.echarts) { return; }
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      var source = document.getElementById(el.getAttribute("data-chart"));
      if (!source) { return; }
      var chart = window.echarts.getInstanceByDom(el) || window.echarts.init(el, null, {renderer: "svg"});
      chart.setOption(JSON.parse(source.textContent), true);
    });
  }

  function resizeCharts() {
    if (!window.echarts) { return; }
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var chart = window.echarts.getInstanceByDom(el);
      if (chart) { chart.resize(); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
  document.addEventListener("htmx:load", function (event) { drawCharts(event.target); });
  window.addEventListener("resize", resizeCharts);
})();
