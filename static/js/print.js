// Any button marked data-print prints the page. A script file rather than an onclick attribute: the
// Content-Security-Policy refuses inline event handlers.
(function () {
  document.addEventListener("click", function (event) {
    const button = event.target.closest && event.target.closest("[data-print]");
    if (button) window.print();
  });
})();
