// Prescripteur dashboard: the internal note's tooltip can be dismissed with Escape without moving the pointer or
// the focus (WCAG 1.4.13); it comes back on the next hover or focus. Works on rows replaced by the live refresh.
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    document.querySelectorAll(".indicateur.note").forEach(function (note) {
      if (note.matches(":hover") || note.matches(":focus-within")) { note.setAttribute("data-ferme", ""); }
    });
  });
  function reopen(event) {
    var note = event.target.closest && event.target.closest(".indicateur.note");
    if (note) { note.removeAttribute("data-ferme"); }
  }
  document.addEventListener("mouseover", reopen);
  document.addEventListener("focusin", reopen);
})();
