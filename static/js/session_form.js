// Session form: hide a site row once "Remove" is ticked and keep the derived total volume in view.
// Without JavaScript the same ticked box removes the row when the form is saved.
// The server recomputes the total; this is only a convenience while typing.
(function () {
  function totalVolume(form) {
    let total = 0;
    form.querySelectorAll("[data-site-row]").forEach(function (row) {
      if (row.hidden || row.querySelector("input[name$='-DELETE']")?.checked) return;
      const points = parseFloat(row.querySelector("[data-site-points]")?.value);
      const volume = parseFloat(row.querySelector("[data-site-volume]")?.value);
      if (points > 0 && volume > 0) total += points * volume;
    });
    return total;
  }

  function refresh(form) {
    const output = document.getElementById("total-volume");
    if (output) output.textContent = totalVolume(form).toFixed(2);
  }

  function init() {
    const form = document.getElementById("session-form");
    if (!form || form.dataset.ready) return;
    form.dataset.ready = "1";
    form.addEventListener("input", function () { refresh(form); });
    form.addEventListener("change", function (event) {
      if (!event.target.matches("[data-site-row] input[name$='-DELETE']")) return;
      event.target.closest("[data-site-row]").hidden = event.target.checked;
      refresh(form);
    });
    document.body.addEventListener("htmx:afterSwap", function () { refresh(form); });
    refresh(form);
  }

  document.addEventListener("DOMContentLoaded", init);
})();
