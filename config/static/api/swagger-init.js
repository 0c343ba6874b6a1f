/* Swagger UI for the booking API. Signing in rotates Django's CSRF token, so the token is
   read from the csrftoken cookie on every request instead of once when the page loads. */
(function () {
  "use strict";

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : document.body.dataset.csrfToken;
  }

  var config = JSON.parse(document.getElementById("swagger-settings").textContent);
  config.dom_id = "#swagger-ui";
  config.presets = [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset];
  config.requestInterceptor = function (request) {
    if (!/^(GET|HEAD|OPTIONS)$/i.test(request.method || "GET")) {
      request.headers["X-CSRFToken"] = csrfToken();
    }
    return request;
  };
  window.ui = SwaggerUIBundle(config);
})();
