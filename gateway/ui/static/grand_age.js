// AGGIR grid: a live preview of the GIR while the grid is filled (the server computes and saves the real one;
// the page works without this script). The table comes from the server (#aggir-table), the very numbers of
// orientation_core/dossier/aggir.py, so nothing here can drift from it.
(function () {
  "use strict";

  var ADVERBES = 4;

  function scoreOfAdverbs(count) {
    if (count === ADVERBES) { return "A"; }
    return count === 0 ? "C" : "B";
  }

  function combine(table, variable, scores) {
    var rules = table.combinaisons[variable];
    var key = scores.join("");
    function has(list) { return list.some(function (c) { return c.join("") === key; }); }
    if (has(rules[0])) { return "A"; }
    return has(rules[1]) ? "C" : "B";
  }

  function variableScore(form, table, variable) {
    var checked = form.querySelector("input[name='v_" + variable + "']:checked");
    var choice = checked ? checked.value : "";
    if (choice === "A" || choice === "B" || choice === "C") { return choice; }
    if (choice !== "S") { return null; }
    var scores = [];
    form.querySelectorAll("#v-" + variable + " [data-sous]").forEach(function (fs) {
      var score = scoreOfAdverbs(fs.querySelectorAll("input[type=checkbox]:checked").length);
      var shown = fs.querySelector(".aggir-cotation");
      if (shown) { shown.hidden = false; shown.querySelector("strong").textContent = score; }
      scores.push(score);
    });
    return combine(table, variable, scores);
  }

  function gir(table, grid) {
    for (var i = 0; i < table.groupes.length; i++) {
      var g = table.groupes[i];
      var total = 0;
      table.variables.forEach(function (v, j) {
        total += grid[v] === "C" ? g.poids[j][0] : grid[v] === "B" ? g.poids[j][1] : 0;
      });
      var rang = null;
      for (var k = 0; k < g.seuils.length; k++) {
        if (total >= g.seuils[k][0]) { rang = g.seuils[k][1]; break; }
      }
      if (rang === null) { rang = g.repli; }
      if (rang !== null) { return { gir: table.rang_gir[String(rang)], rang: rang }; }
    }
    return null;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("grille-aggir");
    var source = document.getElementById("aggir-table");
    var out = document.getElementById("apercu");
    if (!form || !source || !out) { return; }
    var table = JSON.parse(source.textContent);
    function update() {
      var grid = {};
      var missing = 0;
      table.variables.forEach(function (v) {
        grid[v] = variableScore(form, table, v);
        if (grid[v] === null) { missing += 1; }
      });
      out.hidden = false;
      if (missing > 0) {
        out.textContent = "Aperçu : " + missing + " variable(s) discriminante(s) encore à coter.";
        return;
      }
      var r = gir(table, grid);
      out.textContent = r ? "Aperçu (non enregistré) : GIR " + r.gir + ", rang " + r.rang + ". " +
        table.sens[String(r.gir)] : "";
    }
    form.addEventListener("change", update);  // not on load: the server's result is what is shown first
  });
})();
