// dialer web: small progressive enhancements (every page works without them).
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    // Refuse a file that is over the upload limit before sending it (the server refuses it too).
    document.querySelectorAll("form[data-upload-limit]").forEach(function (form) {
      var limit = Number(form.getAttribute("data-upload-limit"));
      var input = form.querySelector("input[type=file]");
      var box = form.querySelector(".upload-error");
      form.addEventListener("submit", function (event) {
        var file = input && input.files && input.files[0];
        if (file && limit && file.size > limit) {
          event.preventDefault();
          if (box) {
            box.textContent = "The file is too large: " + (file.size / 1e6).toFixed(1) +
              " MB, and uploads are limited to " + (limit / 1e6) + " MB. Split the list into smaller files.";
            box.hidden = false;
          }
        }
      });
    });
    document.querySelectorAll("[data-confirm]").forEach(function (button) {
      button.addEventListener("click", function (event) {
        if (!window.confirm(button.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
    document.querySelectorAll("[data-back]").forEach(function (link) {
      link.addEventListener("click", function (event) {
        if (window.history.length > 1) { event.preventDefault(); window.history.back(); }
      });
    });
  });
})();
