/*
 * Body map widget (assessments/_body_map_input.html).
 *
 * The list of regions is the real form; this script only adds the figures as a faster way to tick it.
 * Each row's "selected" checkbox is the single source of truth: the figures mirror it, never the reverse.
 * Initialisation is idempotent and runs on DOMContentLoaded and on htmx:load, so a widget swapped in by htmx
 * works too. No dependencies.
 */
(function () {
  "use strict";

  if (window.pitBodyMap) {
    // The script tag came back with an htmx swap: the document listeners are in place already.
    window.pitBodyMap.initAll(document);
    return;
  }

  var ROOT = "[data-bodymap]";
  var SHAPE = "[data-region], [data-halo]";
  // A click that follows a pointerup within this time is the same press: do not toggle twice.
  var CLICK_AFTER_POINTER_MS = 700;

  function initAll(scope) {
    var roots = [];
    if (scope.matches && scope.matches(ROOT)) roots.push(scope);
    if (scope.querySelectorAll) roots.push.apply(roots, scope.querySelectorAll(ROOT));
    roots.forEach(function (root) {
      if (!root.hasAttribute("data-bodymap-ready")) init(root);
    });
  }

  function init(root) {
    root.setAttribute("data-bodymap-ready", "");
    var state = {
      root: root,
      colours: JSON.parse(root.getAttribute("data-intensity-colours")),
      noIntensityColour: root.getAttribute("data-no-intensity-colour") || "",
      rows: new Map(),
      shapes: new Map(),
      showAll: false,
      pointer: null,
      dispatching: false,
      lastPointerToggle: -Infinity,
      figures: root.querySelector("[data-bodymap-figures]"),
      caption: root.querySelector("[data-bodymap-caption]"),
      status: root.querySelector("[data-bodymap-status]"),
      toggle: root.querySelector("[data-bodymap-toggle]"),
    };
    state.defaultCaption = state.caption.textContent;
    collectRows(state);
    collectShapes(state);
    bindFigures(state);
    bindList(state);
    state.figures.removeAttribute("inert");
    root.querySelector("[data-bodymap-toolbar]").hidden = false;
    root.classList.add("bodymap-ready");
    state.rows.forEach(function (_, code) {
      renderRegion(state, code);
    });
    renderList(state);
  }

  function collectRows(state) {
    state.root.querySelectorAll("[data-region-row]").forEach(function (row) {
      var control = function (role) {
        return row.querySelector('[data-bodymap-role="' + role + '"]');
      };
      var label = row.querySelector(".form-check-label");
      state.rows.set(row.getAttribute("data-region-row"), {
        row: row,
        selected: control("selected"),
        intensity: control("intensity"),
        label: label ? label.textContent.trim() : row.getAttribute("data-region-row"),
      });
    });
  }

  function collectShapes(state) {
    state.root.querySelectorAll("[data-region]").forEach(function (shape) {
      var code = shape.getAttribute("data-region");
      if (!state.shapes.has(code)) state.shapes.set(code, []);
      state.shapes.get(code).push(shape);
    });
  }

  function codeOf(target) {
    var shape = target && target.closest ? target.closest(SHAPE) : null;
    if (!shape) return null;
    return shape.getAttribute("data-region") || shape.getAttribute("data-halo");
  }

  function bindFigures(state) {
    var figures = state.figures;
    // Pointer events cover mouse, pen and touch alike. A touch that turns into a scroll is cancelled by the
    // browser (touch-action: manipulation), so scrolling across the figure never toggles a region.
    figures.addEventListener("pointerdown", function (event) {
      var code = codeOf(event.target);
      state.pointer = code && event.button === 0 ? { id: event.pointerId, code: code } : null;
    });
    figures.addEventListener("pointercancel", function () {
      state.pointer = null;
    });
    figures.addEventListener("pointerup", function (event) {
      var pressed = state.pointer;
      state.pointer = null;
      if (!pressed || pressed.id !== event.pointerId) return;
      var code = codeOf(event.target) || pressed.code;
      if (code !== pressed.code) return; // pressed on one region, released on another: no toggle
      state.lastPointerToggle = performance.now();
      toggle(state, code, { focusIntensity: true });
    });
    // Assistive technology may activate a region with a bare click and no pointer events.
    figures.addEventListener("click", function (event) {
      var code = codeOf(event.target);
      if (!code || performance.now() - state.lastPointerToggle < CLICK_AFTER_POINTER_MS) return;
      toggle(state, code, { focusIntensity: false });
    });
    figures.addEventListener("keydown", function (event) {
      if (event.key !== "Enter" && event.key !== " ") return;
      var code = event.target.getAttribute && event.target.getAttribute("data-region");
      if (!code) return;
      event.preventDefault(); // Space would scroll the page
      // Keyboard users stay on the figure to mark the next region; the row is revealed all the same.
      toggle(state, code, { focusIntensity: false });
    });
    figures.addEventListener("pointerover", function (event) {
      showCaption(state, codeOf(event.target));
    });
    figures.addEventListener("pointerleave", function () {
      showCaption(state, null);
    });
    figures.addEventListener("focusin", function (event) {
      showCaption(state, codeOf(event.target));
    });
    figures.addEventListener("focusout", function () {
      showCaption(state, null);
    });
  }

  function bindList(state) {
    state.rows.forEach(function (entry, code) {
      entry.selected.addEventListener("change", function () {
        if (state.dispatching) return; // our own echo of a toggle on the figure
        // Unticked in the list: keep the row in view until the next action, so it does not vanish under
        // the clinician's finger.
        entry.row.classList.toggle("is-kept", !entry.selected.checked);
        renderRegion(state, code);
        renderList(state);
        announce(state, code);
      });
      entry.intensity.addEventListener("input", function () {
        // Typing an intensity means the area hurts: tick it rather than silently ignore the value.
        if (entry.intensity.value !== "" && !entry.selected.checked) {
          entry.selected.checked = true;
          announce(state, code);
        }
        renderRegion(state, code);
        renderList(state);
      });
    });
    state.toggle.addEventListener("click", function () {
      state.showAll = !state.showAll;
      forgetKeptRows(state);
      renderList(state);
    });
  }

  function toggle(state, code, options) {
    var entry = state.rows.get(code);
    if (!entry) return;
    var selected = !entry.selected.checked;
    entry.selected.checked = selected;
    if (!selected && entry.intensity && !entry.intensity.checkValidity()) {
      // A hidden, invalid number input would block the form's submission with no visible reason.
      entry.intensity.value = "";
    }
    forgetKeptRows(state);
    renderRegion(state, code);
    renderList(state);
    announce(state, code);
    showCaption(state, code);
    // Let other code (autosave, "unsaved changes" prompts) see the change as if the box had been clicked.
    state.dispatching = true;
    try {
      entry.selected.dispatchEvent(new Event("input", { bubbles: true }));
      entry.selected.dispatchEvent(new Event("change", { bubbles: true }));
    } finally {
      state.dispatching = false;
    }
    if (selected && options.focusIntensity && entry.intensity) {
      entry.intensity.focus({ preventScroll: true });
    }
  }

  function forgetKeptRows(state) {
    state.rows.forEach(function (entry) {
      entry.row.classList.remove("is-kept");
    });
  }

  function renderRegion(state, code) {
    var entry = state.rows.get(code);
    if (!entry) return;
    var selected = entry.selected.checked;
    entry.row.classList.toggle("is-selected", selected);
    var fill = selected ? colourFor(state, entry.intensity ? entry.intensity.value : "") : "";
    (state.shapes.get(code) || []).forEach(function (shape) {
      shape.classList.toggle("is-selected", selected);
      shape.setAttribute("aria-pressed", selected ? "true" : "false");
      if (fill) shape.style.setProperty("--bodymap-fill", fill);
      else shape.style.removeProperty("--bodymap-fill");
    });
  }

  function colourFor(state, value) {
    var text = String(value).trim();
    var intensity = /^\d+$/.test(text) ? Number(text) : NaN;
    return state.colours[intensity] || state.noIntensityColour;
  }

  function renderList(state) {
    var count = 0;
    state.rows.forEach(function (entry) {
      if (entry.selected && entry.selected.checked) count += 1;
    });
    var root = state.root;
    root.classList.toggle("bodymap-show-all", state.showAll);
    root.querySelectorAll("[data-bodymap-group]").forEach(function (group) {
      group.classList.toggle("is-empty", !group.querySelector(".bodymap-row.is-selected, .bodymap-row.is-kept"));
    });
    state.toggle.setAttribute("aria-expanded", state.showAll ? "true" : "false");
    state.toggle.textContent = state.showAll ? "Show marked areas only" : "Show all " + state.rows.size + " regions";
    root.querySelector("[data-bodymap-count]").textContent =
      count === 0 ? "No areas marked" : count + (count === 1 ? " area" : " areas") + " marked";
    root.querySelector("[data-bodymap-empty]").hidden = state.showAll || count > 0;
  }

  function announce(state, code) {
    var entry = state.rows.get(code);
    if (!entry) return;
    state.status.textContent = entry.label + (entry.selected.checked ? ": marked" : ": cleared");
  }

  function showCaption(state, code) {
    var entry = code ? state.rows.get(code) : null;
    if (!entry) {
      state.caption.textContent = state.defaultCaption;
      state.caption.classList.remove("is-active");
      return;
    }
    state.caption.textContent = entry.label + (entry.selected.checked ? " (marked)" : "");
    state.caption.classList.add("is-active");
  }

  window.pitBodyMap = { initAll: initAll };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      initAll(document);
    });
  } else {
    initAll(document);
  }
  document.addEventListener("htmx:load", function (event) {
    initAll(event.detail && event.detail.elt ? event.detail.elt : document);
  });
})();
