// Session form: hide a site row once "Remove" is ticked and keep the derived total volume and the dextrose given
// in view. Without JavaScript the same ticked box removes the row when the form is saved.
// The server recomputes both (treatments/doses.py); this is only a convenience while typing.
(function () {
  function liveRows(form) {
    return Array.from(form.querySelectorAll("[data-site-row]")).filter(function (row) {
      return !row.hidden && !row.querySelector("input[name$='-DELETE']")?.checked;
    });
  }

  function totalVolume(form) {
    let total = 0;
    liveRows(form).forEach(function (row) {
      const points = parseFloat(row.querySelector("[data-site-points]")?.value);
      const volume = parseFloat(row.querySelector("[data-site-volume]")?.value);
      if (points > 0 && volume > 0) total += points * volume;
    });
    return total;
  }

  // The dextrose in whole units, so the sums are exact as on the server: mL in hundredths (mL per point has two
  // decimals), strength in tenths of a percent, grams in hundred-thousandths (g = mL x % / 100).
  function noteHundredthsOfMl(form) {
    let total = 0;
    liveRows(form).forEach(function (row) {
      const points = Number(row.querySelector("[data-site-points]")?.value);
      const volume = Number(row.querySelector("[data-site-volume]")?.value);
      if (Number.isInteger(points) && points > 0 && volume > 0) total += points * Math.round(volume * 100);
    });
    return total;
  }

  function strengthInTenths(form) {
    const field = form.querySelector("[name='dextrose_percent']");
    const percent = field && field.value !== "" ? Number(field.value) : NaN;
    return percent > 0 ? Math.round(percent * 10) : null;
  }

  // Half up to two decimals, as the server's figures: `units` of 1 / `per` each.
  function twoPlaces(units, per) {
    return (Math.round(units / (per / 100)) / 100).toFixed(2);
  }

  function show(id, units, per) {
    const output = document.getElementById(id);
    if (!output) return;
    if (units === null) { output.textContent = "—"; return; }
    const signed = Math.round(Number(output.dataset.signed || 0) * per);
    output.textContent = twoPlaces(units + signed, per);
  }

  function refreshDose(form) {
    const ml = noteHundredthsOfMl(form);
    const tenths = strengthInTenths(form);
    const grams = tenths === null ? null : ml * tenths;
    show("dose-note-ml", ml, 100);
    show("dose-course-ml", ml, 100);
    show("dose-recent-ml", ml, 100);
    show("dose-note-g", grams, 100000);
    show("dose-course-g", grams, 100000);
    show("dose-recent-g", grams, 100000);
  }

  function refresh(form) {
    const output = document.getElementById("total-volume");
    if (output) output.textContent = totalVolume(form).toFixed(2);
    refreshDose(form);
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
