/* Learner pages, progressively enhanced: every page works without this file.
 *
 * - Autosave: a form[data-autosave] is posted (as JSON-answering fetch) a few seconds
 *   after a change and before the learner leaves for another level. The page carries the
 *   attempt version; a 409 (attempt_stale) stops autosaving, keeps every typed word on
 *   the page and offers to reload or to save over the other tab's work on purpose.
 * - Warns, as the learner types, about text that looks patient-identifiable (a valid NHS
 *   number, a date of birth, a titled name). The server checks again before saving.
 * - Character counters for examples; duplicate positions in rank questions.
 * - form[data-auto-submit] submits itself (the deep-linking response to the platform).
 * - button[data-print] prints the page.
 */
(function () {
  "use strict";

  var AUTOSAVE_DELAY_MS = 4000;

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) {
    return Array.prototype.slice.call((root || document).querySelectorAll(selector));
  }

  /* -- patient-identifiable details (mirrors services/attempts.py) ----------------------- */

  function validNhsNumber(digits) {
    if (!/^\d{10}$/.test(digits)) { return false; }
    var total = 0;
    for (var i = 0; i < 9; i++) { total += parseInt(digits.charAt(i), 10) * (10 - i); }
    var check = 11 - (total % 11);
    if (check === 11) { check = 0; }
    if (check === 10) { return false; }
    return check === parseInt(digits.charAt(9), 10);
  }

  function identifiableDetails(text) {
    var found = [];
    var nhs = /(^|[^\d])(\d{3})[ \-]?(\d{3})[ \-]?(\d{4})(?!\d)/g;
    var match;
    while ((match = nhs.exec(text)) !== null) {
      if (validNhsNumber(match[2] + match[3] + match[4])) {
        found.push("“" + match[0].replace(/^[^\d]/, "") + "” looks like an NHS number.");
      }
    }
    var dob = /\b(?:d\.?\s?o\.?\s?b\.?|date\s+of\s+birth|born\s+on)\b/gi;
    while ((match = dob.exec(text)) !== null) {
      found.push("“" + match[0] + "” suggests a date of birth.");
    }
    var titled = /\b(?:Mr|Mrs|Ms|Miss|Mx)\.?\s+[A-Z][a-z'\-]+/g;
    while ((match = titled.exec(text)) !== null) {
      found.push("“" + match[0] + "” looks like a person's name.");
    }
    var named = /\b(?:patient|service user|resident|client)\s+(?:called|named)\s+[A-Z][a-z'\-]+/gi;
    while ((match = named.exec(text)) !== null) {
      found.push("“" + match[0] + "” looks like a person's name.");
    }
    return found;
  }

  function checkIdentifiable(textarea) {
    var note = $('[data-identifiable-for="' + textarea.id + '"]');
    if (!note) { return; }
    var found = identifiableDetails(textarea.value);
    note.textContent = found.length
      ? "Check before saving: " + found.join(" ") +
        " Remove anything that could identify a patient or colleague."
      : "";
  }

  /* -- character counters ----------------------------------------------------------------- */

  function updateCount(textarea) {
    var counter = $('[data-count-for="' + textarea.id + '"]');
    var max = parseInt(textarea.getAttribute("data-max-length"), 10);
    if (!counter || !max) { return; }
    var length = textarea.value.length;
    if (length > max) {
      counter.textContent = length.toLocaleString("en-GB") + " characters: " +
        (length - max).toLocaleString("en-GB") + " over the limit of " +
        max.toLocaleString("en-GB") + ". Shorten it before saving.";
      counter.classList.add("over");
    } else {
      counter.textContent = length.toLocaleString("en-GB") + " of " +
        max.toLocaleString("en-GB") + " characters";
      counter.classList.remove("over");
    }
  }

  /* -- rank questions: point out a position used twice ------------------------------------ */

  function checkRankGroup(group) {
    var selects = $all('select[data-rank-group="' + group + '"]');
    var counts = {};
    selects.forEach(function (s) { if (s.value) { counts[s.value] = (counts[s.value] || 0) + 1; } });
    selects.forEach(function (s) {
      var duplicate = s.value && counts[s.value] > 1;
      s.classList.toggle("duplicate", !!duplicate);
      if (duplicate) { s.setAttribute("aria-invalid", "true"); } else { s.removeAttribute("aria-invalid"); }
    });
  }

  /* -- autosave --------------------------------------------------------------------------- */

  function Autosave(form) {
    this.form = form;
    this.status = $("#save-status");
    this.versionField = $("input[data-version]", form);
    this.dirty = false;
    this.saving = null;
    this.timer = null;
    this.stopped = false;
    this.confirmIdentifiable = false;
    this.submitting = false;
    var self = this;
    form.addEventListener("input", function () { self.changed(); });
    form.addEventListener("change", function () { self.changed(); });
    form.addEventListener("submit", function (event) {
      // A button press posts the page normally; stop the timer so no autosave races it.
      window.clearTimeout(self.timer);
      self.dirty = false;
      self.submitting = true;
      var submitter = event.submitter;
      if (self.saving && submitter) {
        // Let the running autosave finish first, then post with the fresh version.
        event.preventDefault();
        self.saving.then(function () { self.submitWith(submitter); });
      }
    });
    $all("a[data-save-before]").forEach(function (link) {
      link.addEventListener("click", function (event) {
        if (!self.dirty || self.stopped) { return; }
        event.preventDefault();
        self.save().then(function (ok) {
          if (ok) { window.location.href = link.href; }
        });
      });
    });
    window.addEventListener("beforeunload", function (event) {
      if (!self.submitting && (self.dirty || self.stopped)) {
        event.preventDefault();
        event.returnValue = "";
      }
    });
  }

  Autosave.prototype.submitWith = function (button) {
    var hidden = document.createElement("input");
    hidden.type = "hidden";
    hidden.name = button.name;
    hidden.value = button.value;
    if (button.name) { this.form.appendChild(hidden); }
    this.dirty = false;
    HTMLFormElement.prototype.submit.call(this.form);
  };

  Autosave.prototype.say = function (text, isError) {
    if (!this.status) { return; }
    this.status.textContent = text;
    this.status.classList.toggle("error", !!isError);
  };

  Autosave.prototype.changed = function () {
    if (this.stopped) { return; }
    this.dirty = true;
    this.say("Changes not saved yet…");
    var self = this;
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(function () { self.save(); }, AUTOSAVE_DELAY_MS);
  };

  Autosave.prototype.save = function () {
    var self = this;
    if (this.stopped) { return Promise.resolve(false); }
    if (this.saving) { return this.saving; }
    window.clearTimeout(this.timer);
    var body = new FormData(this.form);
    body.set("action", "autosave");
    if (this.confirmIdentifiable) { body.set("confirm_identifiable", "1"); }
    this.dirty = false;
    this.say("Saving…");
    // getAttribute: a control named "action" shadows the form.action property.
    this.saving = fetch(this.form.getAttribute("action"), {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return self.handle(response.status, data);
      });
    }).catch(function () {
      self.dirty = true;
      self.say("Not saved: the connection failed. We will try again; your text stays here.", true);
      self.timer = window.setTimeout(function () { self.save(); }, AUTOSAVE_DELAY_MS * 3);
      return false;
    }).then(function (ok) {
      self.saving = null;
      return ok;
    });
    return this.saving;
  };

  Autosave.prototype.handle = function (status, data) {
    if (status === 200 && data.saved) {
      this.versionField.value = data.version;
      this.updateProgress(data.progress);
      this.showIncomplete(data.incomplete || {});
      var held = data.held_back || [];
      if (held.length) {
        this.dirty = true;
        this.showIdentifiable(data.warnings || {});
        this.say("Saved, except " + held.length + " example" + (held.length === 1 ? "" : "s") +
          " that may identify someone: see the message by " +
          (held.length === 1 ? "it" : "them") + ".", true);
        // Not everything was kept: stay on the page so the example is not lost.
        return false;
      } else {
        this.clearIdentifiable();
        var now = new Date();
        this.say("Saved at " + now.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" }) + ".");
      }
      return true;
    }
    if (status === 409 && data.error === "attempt_stale") {
      this.stopped = true;
      this.showStale(data.current_version);
      this.say("Not saved: another tab saved newer work.", true);
      return false;
    }
    if (status === 401) {
      this.stopped = true;
      this.say("Not saved: your session has ended. Copy your text, then open the activity again from your course.", true);
      return false;
    }
    this.dirty = true;
    this.say("Not saved: " + (data.message || "something went wrong") + " Your text stays here.", true);
    return false;
  };

  Autosave.prototype.updateProgress = function (progress) {
    if (!progress || !progress.levels) { return; }
    Object.keys(progress.levels).forEach(function (number) {
      var item = $('[data-progress-level="' + number + '"]');
      if (!item) { return; }
      var figures = progress.levels[number];
      var done = $("[data-progress-done]", item);
      var bar = $("progress", item);
      if (done) { done.textContent = figures.done; }
      if (bar) { bar.value = figures.done; }
      item.classList.toggle("complete", figures.total > 0 && figures.done >= figures.total);
    });
  };

  Autosave.prototype.showIncomplete = function (incomplete) {
    $all("[data-question]").forEach(function (box) {
      var id = box.getAttribute("data-question");
      var note = $("[data-incomplete-live]", box);
      if (incomplete[id]) {
        if (!note) {
          note = document.createElement("p");
          note.className = "error-message";
          note.setAttribute("data-incomplete-live", "");
          var scenario = $(".scenario", box);
          scenario.parentNode.insertBefore(note, scenario.nextSibling);
        }
        note.textContent = "Not finished: " + incomplete[id] + " What you chose is kept.";
      } else if (note) {
        note.parentNode.removeChild(note);
      }
    });
  };

  Autosave.prototype.showIdentifiable = function (warnings) {
    var self = this;
    Object.keys(warnings).forEach(function (id) {
      var box = document.getElementById("ev-" + id.replace(/[^A-Za-z0-9_\-]/g, "-"));
      if (!box) { return; }
      var note = $("[data-identifiable-server]", box);
      if (!note) {
        note = document.createElement("div");
        note.className = "identifiable-warning";
        note.setAttribute("data-identifiable-server", "");
        note.setAttribute("role", "alert");
        var legend = $("legend", box);
        legend.parentNode.insertBefore(note, legend.nextSibling);
      }
      note.textContent = "";
      var heading = document.createElement("p");
      heading.innerHTML = "<strong>Not saved yet: this example may identify someone.</strong>";
      note.appendChild(heading);
      var list = document.createElement("ul");
      warnings[id].forEach(function (message) {
        var li = document.createElement("li");
        li.textContent = message;
        list.appendChild(li);
      });
      note.appendChild(list);
      var advice = document.createElement("p");
      advice.textContent = "Edit the text to remove it, or save it as it is if it does not identify a real person.";
      note.appendChild(advice);
      var button = document.createElement("button");
      button.type = "button";
      button.className = "secondary";
      button.textContent = "Save anyway";
      button.addEventListener("click", function () {
        self.confirmIdentifiable = true;
        self.save().then(function () { self.confirmIdentifiable = false; });
      });
      note.appendChild(button);
    });
  };

  Autosave.prototype.clearIdentifiable = function () {
    $all("[data-identifiable-server]").forEach(function (note) { note.parentNode.removeChild(note); });
  };

  Autosave.prototype.showStale = function (currentVersion) {
    var self = this;
    if ($("#stale-notice")) { return; }
    var notice = document.createElement("div");
    notice.id = "stale-notice";
    notice.className = "notice error stale-notice";
    notice.setAttribute("role", "alert");
    var title = document.createElement("h2");
    title.textContent = "Another tab saved newer work";
    var text = document.createElement("p");
    text.textContent = "This attempt was saved from another tab or window after you opened this page, " +
      "so your latest changes here are not saved. Your text is still on this page: copy anything " +
      "you want to keep before reloading.";
    var actions = document.createElement("div");
    actions.className = "actions";
    var reload = document.createElement("a");
    reload.className = "button";
    reload.href = window.location.pathname + window.location.search;
    reload.textContent = "Reload the saved version";
    reload.addEventListener("click", function () { self.stopped = false; self.dirty = false; });
    var keep = document.createElement("button");
    keep.type = "button";
    keep.className = "secondary";
    keep.textContent = "Save this page over the other tab's work";
    keep.addEventListener("click", function () {
      self.versionField.value = currentVersion;
      self.stopped = false;
      notice.parentNode.removeChild(notice);
      self.save();
    });
    actions.appendChild(reload);
    actions.appendChild(keep);
    notice.appendChild(title);
    notice.appendChild(text);
    notice.appendChild(actions);
    var main = $("main");
    main.insertBefore(notice, main.firstChild);
    notice.setAttribute("tabindex", "-1");
    notice.focus();
  };

  /* -- start -------------------------------------------------------------------------------- */

  function init() {
    $all("form[data-auto-submit]").forEach(function (form) {
      HTMLFormElement.prototype.submit.call(form);
    });
    $all("button[data-print]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { window.print(); });
    });
    $all("textarea[data-max-length]").forEach(function (textarea) {
      updateCount(textarea);
      textarea.addEventListener("input", function () { updateCount(textarea); });
    });
    $all("textarea[data-identifiable-check]").forEach(function (textarea) {
      var timer = null;
      checkIdentifiable(textarea);
      textarea.addEventListener("input", function () {
        window.clearTimeout(timer);
        timer = window.setTimeout(function () { checkIdentifiable(textarea); }, 400);
      });
    });
    var groups = {};
    $all("select[data-rank-group]").forEach(function (select) {
      var group = select.getAttribute("data-rank-group");
      groups[group] = true;
      select.addEventListener("change", function () { checkRankGroup(group); });
    });
    Object.keys(groups).forEach(checkRankGroup);
    var summary = $("#error-summary");
    if (summary) { summary.focus(); }
    var form = $("form[data-autosave]");
    if (form && window.fetch && window.FormData) { new Autosave(form); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
