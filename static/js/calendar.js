// Calendar conveniences. Without JavaScript every control still works: the date and clinician
// filter has a Go button, status buttons are plain forms that come back to the page, and an
// appointment is moved with its Move form.
(function () {
  // The filter applies as soon as a date or clinician is picked.
  function autoSubmit() {
    document.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
      form.querySelectorAll("[data-autosubmit-go]").forEach(function (button) { button.hidden = true; });
      form.addEventListener("change", function (event) {
        if (event.target.type === "date" && !event.target.value) return; // half-typed date
        form.requestSubmit();
      });
    });
  }

  // htmx leaves 4xx answers unswapped; the status endpoint answers a refusal (400, 409) with the
  // appointment block and the reason inside it, which is exactly what should be shown.
  document.addEventListener("htmx:beforeSwap", function (event) {
    const status = event.detail.xhr.status;
    if (status === 400 || status === 409) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  function clock(minute) {
    const hours = Math.floor(minute / 60), minutes = minute % 60;
    return String(hours).padStart(2, "0") + ":" + String(minutes).padStart(2, "0");
  }

  // Drag a booked appointment to another time or clinician: this opens its Move form with the
  // new time filled in, so the move is confirmed (and checked by the server) like any other.
  function dragToMove() {
    const grid = document.getElementById("calendar-grid");
    if (!grid) return;
    const axis = Number(grid.dataset.axis), span = Number(grid.dataset.span);
    let dragged = null, grabOffset = 0;

    grid.addEventListener("dragstart", function (event) {
      const block = event.target.closest && event.target.closest(".appt[data-move-url]");
      if (!block) return;
      dragged = block;
      grabOffset = event.clientY - block.getBoundingClientRect().top;
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", block.dataset.moveUrl);
    });
    grid.addEventListener("dragend", function () {
      dragged = null;
      grid.querySelectorAll(".is-drop-target").forEach(function (col) { col.classList.remove("is-drop-target"); });
    });
    grid.addEventListener("dragover", function (event) {
      const column = dragged && event.target.closest(".cal-col");
      if (!column) return;
      event.preventDefault();
      grid.querySelectorAll(".is-drop-target").forEach(function (col) {
        if (col !== column) col.classList.remove("is-drop-target");
      });
      column.classList.add("is-drop-target");
    });
    grid.addEventListener("drop", function (event) {
      const column = dragged && event.target.closest(".cal-col");
      if (!column) return;
      event.preventDefault();
      const rect = column.getBoundingClientRect();
      const offset = (event.clientY - grabOffset - rect.top) / rect.height * span;
      const minute = Math.min(Math.max(axis + Math.round(offset / 5) * 5, 0), 24 * 60 - 5);
      const query = new URLSearchParams({
        starts_at: column.dataset.day + "T" + clock(minute),
        clinician: column.dataset.clinician,
      });
      window.location.href = dragged.dataset.moveUrl + "?" + query.toString();
    });
  }

  // Open today's grid at the current time rather than at the top of the day (unless a link
  // points at a particular appointment, which the browser scrolls to itself).
  function scrollToNow() {
    const grid = document.getElementById("calendar-grid");
    const now = grid && grid.querySelector(".cal-now");
    if (!now || window.location.hash) return;
    const offset = now.getBoundingClientRect().top - grid.getBoundingClientRect().top;
    grid.scrollTop = Math.max(0, offset - grid.clientHeight / 3);
  }

  // After booking or moving, the page links to the appointment (#appointment-N). The browser's own
  // jump would hide it under the sticky column titles and scroll the message away, so place it
  // a third of the way down the grid instead, and keep the page itself at the top.
  function revealLinkedAppointment() {
    const grid = document.getElementById("calendar-grid");
    const id = window.location.hash.slice(1);
    const block = grid && id && document.getElementById(id);
    if (!block || !grid.contains(block)) return;
    const head = grid.querySelector(".cal-head");
    const headHeight = head ? head.offsetHeight : 0;
    const top = block.getBoundingClientRect().top - grid.getBoundingClientRect().top + grid.scrollTop;
    grid.scrollTop = Math.max(0, top - headHeight - (grid.clientHeight - headHeight) / 3);
    window.scrollTo(0, 0);
  }

  document.addEventListener("DOMContentLoaded", function () {
    autoSubmit();
    dragToMove();
    scrollToNow();
  });
  // On "load", after the browser has made its own jump to the anchor.
  window.addEventListener("load", revealLinkedAppointment);
})();
