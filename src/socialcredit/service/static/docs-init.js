// Starts Swagger UI on /docs. A file of its own, not an inline script, so that the
// Content-Security-Policy can stay at script-src 'self'. The options are FastAPI's
// defaults (fastapi.openapi.docs.swagger_ui_default_parameters).
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();
