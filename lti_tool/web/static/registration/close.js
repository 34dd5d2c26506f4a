// Ends a dynamic registration: tells the LMS page that opened or framed this one to close
// it (LTI Dynamic Registration 1.0: postMessage {subject: "org.imsglobal.lti.close"}).
// A file, not inline script: the tool's Content-Security-Policy forbids inline script.
(function () {
  "use strict";
  var SUBJECT = "org.imsglobal.lti.close";

  function lmsWindow() {
    if (window.opener && window.opener !== window) { return window.opener; }
    if (window.parent && window.parent !== window) { return window.parent; }
    return null;
  }

  function close() {
    var target = lmsWindow();
    if (target) {
      // The LMS's origin is not known to this page, and the message carries nothing secret.
      target.postMessage({subject: SUBJECT}, "*");
    }
    var fallback = document.getElementById("close-fallback");
    if (fallback) { fallback.hidden = false; }
    if (window.opener) { window.close(); }
  }

  var buttons = document.querySelectorAll("[data-lti-close]");
  for (var i = 0; i < buttons.length; i++) {
    buttons[i].addEventListener("click", close);
  }
})();
