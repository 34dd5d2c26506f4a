/* Educator pages, progressive enhancement only: every form works without this file.
   - Buttons with data-confirm ask before doing something that cannot be undone here.
   - A form with data-unsaved-warning warns before leaving with unsaved ratings/comments.
   - An error summary (#problem) takes focus so screen readers announce it. */
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });

  var dirty = false;
  var guarded = document.querySelector("form[data-unsaved-warning]");
  if (guarded) {
    guarded.addEventListener("input", function () { dirty = true; });
    guarded.addEventListener("change", function () { dirty = true; });
    guarded.addEventListener("submit", function () { dirty = false; });
    window.addEventListener("beforeunload", function (event) {
      if (dirty) {
        event.preventDefault();
        event.returnValue = guarded.getAttribute("data-unsaved-warning");
      }
    });
  }

  var problem = document.getElementById("problem");
  if (problem) {
    problem.focus();
  }
}());
