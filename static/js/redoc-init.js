/* Starts Redoc on the API docs page (templates/drf_spectacular/redoc.html); a file, not an inline script (CSP). */
(function () {
  "use strict";
  const container = document.getElementById("redoc-container");
  if (!container || !window.Redoc) return;
  const settings = container.dataset.settings ? JSON.parse(container.dataset.settings) : {};
  window.Redoc.init(container.dataset.specUrl, settings, container);
})();
