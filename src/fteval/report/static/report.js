/* fteval report: the item browser. Reads the items embedded as JSON, filters them in
   memory (task, arm, outcome, slice, perturbation, text) and shows one page of rows.
   A perturbed item belongs to the task it was made from; its row shows the clean input
   beside the perturbed one (changed words marked) and, per arm, both answers.
   Text is always set with textContent, never parsed as HTML. */
(function () {
  "use strict";
  var holder = document.getElementById("fteval-items");
  var root = document.getElementById("item-browser");
  if (!holder || !root) { return; }
  var data = JSON.parse(holder.textContent);
  var arms = data.arms, tasks = data.tasks, items = data.items;
  var baseIndex = data.base === null ? -1 : arms.indexOf(data.base);
  var T = 0, ID = 1, INPUT = 2, TARGET = 3, CHOICES = 4, SLICES = 5, PERT = 6, ANSWERS = 7;
  var CLEAN = 8;
  var MAX_DIFF_CELLS = 250000;  // words x words: longer pairs are shown without marks
  var haystacks = null;
  var state = { page: 0 };

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    if (attrs) { for (var k in attrs) { node.setAttribute(k, attrs[k]); } }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }
  function control(id) { return document.getElementById(id); }
  function option(select, value, label) { select.appendChild(el("option", { value: value }, label)); }

  function fillControls() {
    var task = control("f-task"), arm = control("f-arm"), slice = control("f-slice");
    var pert = control("f-perturbation");
    tasks.forEach(function (t, i) { option(task, String(i), t.name); });
    arms.forEach(function (a, i) { if (i !== baseIndex) { option(arm, String(i), a + " vs " + (data.base || "base")); } });
    var seen = {};
    items.forEach(function (item) {
      var s = item[SLICES];
      if (!s) { return; }
      for (var field in s) {
        var key = field + "=" + s[field];
        if (!seen[key]) { seen[key] = true; option(slice, key, key); }
      }
    });
    data.perturbations.forEach(function (p) { option(pert, p, p); });
    if (!data.perturbations.length) { pert.disabled = true; }
    if (!Object.keys(seen).length) { slice.disabled = true; }
    if (baseIndex < 0) { control("f-outcome").disabled = true; }
  }

  function haystack(item) {
    var parts = [item[ID], item[INPUT], item[TARGET], tasks[item[T]].name, item[PERT]];
    item[ANSWERS].forEach(function (a) { if (a) { parts.push(a[0]); } });
    return parts.join("\n").toLowerCase();
  }

  function comparedArms() {
    var value = control("f-arm").value;
    if (value !== "") { return [Number(value)]; }
    var out = [];
    arms.forEach(function (a, i) { if (i !== baseIndex) { out.push(i); } });
    return out;
  }

  function cleanOf(item) {
    return item[CLEAN] === null || item[CLEAN] === undefined ? null : items[item[CLEAN]];
  }

  function changedByPerturbation(item, compared) {
    var clean = cleanOf(item);
    if (!clean) { return false; }
    var shown = baseIndex >= 0 ? [baseIndex].concat(compared) : compared;
    for (var n = 0; n < shown.length; n++) {
      var a = item[ANSWERS][shown[n]], c = clean[ANSWERS][shown[n]];
      if (a && c && a[1] !== null && c[1] !== null && a[1] !== c[1]) { return true; }
    }
    return false;
  }

  function outcomeMatches(item, wanted, compared) {
    if (wanted === "all") { return true; }
    if (wanted === "perturbation-flips") { return changedByPerturbation(item, compared); }
    var answers = item[ANSWERS], base = answers[baseIndex];
    if (!base || base[1] === null) { return false; }
    for (var n = 0; n < compared.length; n++) {
      var other = answers[compared[n]];
      if (!other || other[1] === null) { continue; }
      var b = base[1], a = other[1];
      if ((wanted === "flips" && b !== a) || (wanted === "broken" && b === 1 && a === 0) ||
          (wanted === "fixed" && b === 0 && a === 1) || (wanted === "both-right" && b === 1 && a === 1) ||
          (wanted === "both-wrong" && b === 0 && a === 0)) { return true; }
    }
    return false;
  }

  function filtered() {
    var task = control("f-task").value, outcome = control("f-outcome").value;
    var slice = control("f-slice").value, pert = control("f-perturbation").value;
    var text = control("f-search").value.trim().toLowerCase();
    var compared = comparedArms();
    if (text && haystacks === null) { haystacks = items.map(haystack); }
    var sliceField = null, sliceValue = null;
    if (slice) { var cut = slice.indexOf("="); sliceField = slice.slice(0, cut); sliceValue = slice.slice(cut + 1); }
    var out = [];
    for (var i = 0; i < items.length; i++) {
      var item = items[i];
      if (task !== "" && item[T] !== Number(task)) { continue; }
      if (pert === "(clean)" && item[PERT] !== "") { continue; }
      if (pert !== "" && pert !== "(clean)" && item[PERT] !== pert) { continue; }
      if (sliceField !== null && !(item[SLICES] && item[SLICES][sliceField] === sliceValue)) { continue; }
      if (!outcomeMatches(item, outcome, compared)) { continue; }
      if (text && haystacks[i].indexOf(text) < 0) { continue; }
      out.push(i);
    }
    return out;
  }

  function answerCell(item, armIndex) {
    var td = el("td", { "data-arm": arms[armIndex] });
    var answer = item[ANSWERS][armIndex];
    if (!answer) { td.textContent = "–"; return td; }
    var pred = el("pre", null, answer[0]);
    if (answer[1] === 1) { pred.className = "ok"; } else if (answer[1] === 0) { pred.className = "bad"; }
    td.appendChild(pred);
    var metrics = tasks[item[T]].metrics, scores = answer[2], shown = [];
    for (var m = 0; m < metrics.length && m < 4; m++) {
      if (scores[m] !== null) { shown.push(metrics[m] + " " + (Math.round(scores[m] * 1000) / 1000)); }
    }
    if (shown.length) { td.appendChild(el("div", { "class": "lp" }, shown.join(" · "))); }
    if (answer[3] && item[CHOICES]) {
      var lp = el("div", { "class": "lp" });
      var best = answer[3].reduce(function (b, v, k) { return v !== null && (b < 0 || v > answer[3][b]) ? k : b; }, -1);
      answer[3].forEach(function (v, k) {
        var part = el(k === best ? "b" : "span", null, item[CHOICES][k] + " " + (v === null ? "NaN" : v.toFixed(2)));
        lp.appendChild(part);
        if (k < answer[3].length - 1) { lp.appendChild(document.createTextNode(" · ")); }
      });
      td.appendChild(lp);
    }
    if (baseIndex >= 0 && armIndex !== baseIndex && item[ANSWERS][baseIndex]) {
      var b = item[ANSWERS][baseIndex][1], a = answer[1];
      if (b !== null && a !== null && b !== a) {
        td.appendChild(el("span", { "class": "flip" }, b === 1 ? "flip: base ✓ → ✗" : "flip: base ✗ → ✓"));
      }
    }
    var clean = cleanOf(item);
    if (clean) { td.appendChild(cleanAnswer(item, clean[ANSWERS][armIndex], answer)); }
    return td;
  }

  function cleanAnswer(item, before, after) {
    var box = el("div", { "class": "clean-answer" });
    box.appendChild(el("div", { "class": "tag" }, "clean input:"));
    if (!before) { box.appendChild(el("span", null, "–")); return box; }
    var pred = el("pre", null, before[0]);
    if (before[1] === 1) { pred.className = "ok"; } else if (before[1] === 0) { pred.className = "bad"; }
    box.appendChild(pred);
    if (before[1] !== null && after[1] !== null && before[1] !== after[1]) {
      box.appendChild(el("span", { "class": "flip" }, item[PERT] + (before[1] === 1 ? ": ✓ → ✗" : ": ✗ → ✓")));
    }
    return box;
  }

  function tokens(text) { return text.split(/(\s+)/).filter(function (t) { return t !== ""; }); }

  /* Which words of a and b are not in their longest common subsequence (null when the
     texts are too long to compare here). */
  function changedWords(a, b) {
    var n = a.length, m = b.length;
    if (n * m > MAX_DIFF_CELLS) { return null; }
    var width = m + 1, table = new Int32Array((n + 1) * width);
    for (var i = n - 1; i >= 0; i--) {
      for (var j = m - 1; j >= 0; j--) {
        table[i * width + j] = a[i] === b[j] ? table[(i + 1) * width + j + 1] + 1 :
          Math.max(table[(i + 1) * width + j], table[i * width + j + 1]);
      }
    }
    var inA = new Array(n).fill(false), inB = new Array(m).fill(false);
    i = 0; j = 0;
    while (i < n && j < m) {
      if (a[i] === b[j]) { i++; j++; }
      else if (table[(i + 1) * width + j] >= table[i * width + j + 1]) { inA[i++] = true; }
      else { inB[j++] = true; }
    }
    while (i < n) { inA[i++] = true; }
    while (j < m) { inB[j++] = true; }
    return [inA, inB];
  }

  function marked(words, marks) {
    var pre = el("pre");
    words.forEach(function (word, k) {
      if (marks && marks[k] && /\S/.test(word)) { pre.appendChild(el("mark", null, word)); }
      else { pre.appendChild(document.createTextNode(word)); }
    });
    return pre;
  }

  function inputCell(item) {
    var td = el("td");
    var clean = cleanOf(item);
    if (!clean) { td.appendChild(el("pre", null, item[INPUT] || "(prompt not stored)")); return td; }
    var a = tokens(clean[INPUT] || ""), b = tokens(item[INPUT] || "");
    var marks = changedWords(a, b);
    var pair = el("div", { "class": "pair" });
    var left = el("div", { "class": "clean-input" }), right = el("div", { "class": "perturbed-input" });
    left.appendChild(el("div", { "class": "tag" }, "clean"));
    left.appendChild(marked(a, marks && marks[0]));
    right.appendChild(el("div", { "class": "tag" }, item[PERT]));
    right.appendChild(marked(b, marks && marks[1]));
    pair.appendChild(left); pair.appendChild(right);
    td.appendChild(pair);
    return td;
  }

  function render() {
    var matches = filtered();
    var size = control("f-page-size").value === "all" ? matches.length || 1 : Number(control("f-page-size").value);
    var pages = Math.max(1, Math.ceil(matches.length / size));
    if (state.page >= pages) { state.page = pages - 1; }
    var start = state.page * size, stop = Math.min(matches.length, start + size);
    var count = control("items-count");
    count.textContent = matches.length + " of " + items.length + " items match" +
      (matches.length ? "; showing " + (start + 1) + "–" + stop : "");
    count.setAttribute("data-count", String(matches.length));
    control("page-info").textContent = "page " + (state.page + 1) + " of " + pages;
    control("page-prev").disabled = state.page === 0;
    control("page-next").disabled = state.page >= pages - 1;
    var selected = control("f-arm").value;
    var shownArms = [];
    arms.forEach(function (a, i) { if (selected === "" || i === baseIndex || i === Number(selected)) { shownArms.push(i); } });
    var head = control("items-head"), body = control("items-body");
    head.textContent = ""; body.textContent = "";
    var tr = el("tr");
    var pert = control("f-perturbation").value;
    var inputHead = pert && pert !== "(clean)" ? "input: clean | " + pert : "input";
    [["item", "item"], [inputHead, "input"], ["target", "target"]].forEach(function (h) {
      tr.appendChild(el("th", { "class": h[1] }, h[0]));
    });
    shownArms.forEach(function (i) { tr.appendChild(el("th", null, arms[i])); });
    head.appendChild(tr);
    var fragment = document.createDocumentFragment();
    for (var n = start; n < stop; n++) {
      var item = items[matches[n]];
      var row = el("tr", { "data-id": item[ID], "data-task": tasks[item[T]].name, "data-perturbation": item[PERT] });
      var label = el("td");
      label.appendChild(el("div", null, tasks[item[T]].name + " · " + item[ID]));
      if (item[PERT]) { label.appendChild(el("div", { "class": "lp" }, "perturbation: " + item[PERT])); }
      if (item[SLICES]) {
        for (var f in item[SLICES]) { label.appendChild(el("div", { "class": "lp" }, f + ": " + item[SLICES][f])); }
      }
      row.appendChild(label);
      row.appendChild(inputCell(item));
      var target = el("td"); target.appendChild(el("pre", null, item[TARGET]));
      row.appendChild(target);
      shownArms.forEach(function (i) { row.appendChild(answerCell(item, i)); });
      fragment.appendChild(row);
    }
    body.appendChild(fragment);
  }

  var timer = null;
  function refresh(resetPage) {
    if (resetPage) { state.page = 0; }
    render();
  }
  fillControls();
  ["f-task", "f-arm", "f-outcome", "f-slice", "f-perturbation", "f-page-size"].forEach(function (id) {
    control(id).addEventListener("change", function () { refresh(true); });
  });
  control("f-search").addEventListener("input", function () {
    if (timer !== null) { clearTimeout(timer); }
    timer = setTimeout(function () { timer = null; refresh(true); }, 150);
  });
  control("f-search").addEventListener("change", function () { refresh(true); });
  control("page-prev").addEventListener("click", function () { state.page -= 1; refresh(false); });
  control("page-next").addEventListener("click", function () { state.page += 1; refresh(false); });
  root.setAttribute("data-ready", "true");
  render();
})();
