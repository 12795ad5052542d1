/* casemgr therapy forms: switch note formats, Ctrl+Enter to save, group attendee picking.
   Loaded as a file because the Content-Security-Policy forbids inline script. */
(function () {
  "use strict";

  // Individual forms: every format's fieldset is rendered; show the chosen one, disable the rest.
  function showFormat(form, chosen) {
    form.querySelectorAll("fieldset.note-format").forEach(function (fs) {
      var on = fs.dataset.format === chosen;
      fs.hidden = !on;
      fs.disabled = !on;
    });
  }

  document.querySelectorAll("form.therapy-form").forEach(function (form) {
    var select = form.querySelector("select[name=format]");
    if (select && form.querySelector("fieldset.note-format")) {
      select.addEventListener("change", function () { showFormat(form, select.value); });
    }
    // Ctrl/Cmd+Enter anywhere in the form saves (as a draft: signing stays a deliberate click).
    form.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        var draft = form.querySelector("button[name=action][value=draft]");
        if (draft) { form.requestSubmit(draft); } else { form.requestSubmit(); }
      }
    });
  });

  // Group form.
  var group = document.getElementById("group-form");
  if (!group) { return; }
  var countBadge = document.getElementById("chosen-count");

  function refresh() {
    var n = 0;
    group.querySelectorAll("li.attendee").forEach(function (li) {
      var box = li.querySelector(".attendee-check");
      li.classList.toggle("chosen", box.checked);
      if (box.checked) { n += 1; }
    });
    if (countBadge) { countBadge.textContent = String(n); }
  }
  group.addEventListener("change", function (event) {
    if (event.target.classList.contains("attendee-check")) { refresh(); }
  });

  var filter = document.getElementById("attendee-filter");
  if (filter) {
    filter.addEventListener("input", function () {
      var q = filter.value.trim().toLowerCase();
      group.querySelectorAll("li.attendee").forEach(function (li) {
        li.hidden = q !== "" && li.dataset.search.indexOf(q) === -1 && !li.querySelector(".attendee-check").checked;
      });
    });
    // Enter in the search box ticks the only visible match instead of submitting the form.
    filter.addEventListener("keydown", function (event) {
      if (event.key !== "Enter") { return; }
      event.preventDefault();
      var visible = Array.prototype.filter.call(group.querySelectorAll("li.attendee"), function (li) {
        return !li.hidden && !li.querySelector(".attendee-check").checked;
      });
      if (visible.length === 1) {
        visible[0].querySelector(".attendee-check").checked = true;
        filter.value = "";
        filter.dispatchEvent(new Event("input"));
        refresh();
      }
    });
  }

  var roster = document.getElementById("use-roster");
  if (roster) {
    roster.addEventListener("click", function (event) {
      event.preventDefault();  // tick them here, keeping whatever was typed
      roster.dataset.roster.split(" ").forEach(function (id) {
        var box = document.getElementById("attendee-" + id);
        if (box) { box.checked = true; }
      });
      refresh();
    });
  }

  var copy = document.getElementById("copy-summary");
  if (copy) {
    copy.addEventListener("click", function () {
      group.querySelectorAll("li.attendee.chosen textarea[data-field]").forEach(function (area) {
        var shared = document.getElementById("shared-" + area.dataset.field);
        if (shared && area.value.trim() === "") { area.value = shared.value; }
      });
    });
  }

  // Changing the group's note format rebuilds the note fields, keeping same-named text.
  var formats = JSON.parse(group.dataset.formats || "{}");
  var formatSelect = group.querySelector("select[name=format]");
  function rebuild(container, prefix, labelSuffix, rows, small) {
    var old = {};
    container.querySelectorAll("textarea").forEach(function (t) { old[t.dataset.field || t.name.slice(prefix.length)] = t.value; });
    container.textContent = "";
    formats[formatSelect.value].forEach(function (pair) {
      var name = pair[0];
      var label = document.createElement("label");
      label.className = "form-label small mb-0" + (small ? "" : " fw-semibold");
      label.htmlFor = prefix + name;
      label.textContent = pair[1] + labelSuffix;
      var area = document.createElement("textarea");
      area.className = "form-control mb-1" + (small ? " form-control-sm" : "");
      area.id = prefix + name;
      area.name = prefix + name;
      area.rows = rows;
      area.maxLength = 20000;
      area.dataset.field = name;
      area.value = old[name] || "";
      container.appendChild(label);
      container.appendChild(area);
    });
  }
  if (formatSelect) {
    formatSelect.addEventListener("change", function () {
      rebuild(document.getElementById("shared-fields"), "shared-", "", 3, false);
      group.querySelectorAll("li.attendee").forEach(function (li) {
        var note = li.querySelector(".attendee-note");
        var first = li.querySelector(".form-check-label").firstChild.textContent.split(",")[1] || "";
        rebuild(note, "a" + li.dataset.episode + "-", " · " + first.trim(), 2, true);
      });
    });
  }
  refresh();
}());
