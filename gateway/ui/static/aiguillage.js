// The few behaviours the pages need, without a build step or a framework; every page works without it.
//  * data-refresh="URL" (+ data-refresh-seconds, default 20): the element's content is replaced by the HTML
//    fragment that URL returns, while the tab is visible (live refresh of statuses).
//  * form[data-confirm="Question ?"]: asks before submitting (cancellations, confirmations).
//  * data-show-when="ID=VALUE" on a block: shown only when the field ID (select / radio group) has VALUE.
(function () {
  "use strict";

  function refresh(el) {
    var url = el.getAttribute("data-refresh");
    var seconds = parseInt(el.getAttribute("data-refresh-seconds") || "20", 10);
    setInterval(function () {
      if (document.hidden) { return; }
      fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html !== null && html !== el.innerHTML) { el.innerHTML = html; }
        })
        .catch(function () { /* offline: keep what is shown */ });
    }, seconds * 1000);
  }

  function showWhen(el) {
    var spec = el.getAttribute("data-show-when").split("=");
    var field = document.getElementById(spec[0]);
    var form = field ? field.form : null;
    function update() {
      var value = field ? field.value : "";
      if (form && field && field.type === "radio") {
        var checked = form.querySelector("input[name='" + field.name + "']:checked");
        value = checked ? checked.value : "";
      }
      el.hidden = value !== spec[1];
    }
    if (form) { form.addEventListener("change", update); }
    update();
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-refresh]").forEach(refresh);
    document.querySelectorAll("[data-show-when]").forEach(showWhen);
  });
})();
