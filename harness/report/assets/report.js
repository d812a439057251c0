"use strict";
// The report's interactive parts: sorting, the case browser, the two-variant view.
// Data arrives as JSON in #report-data; it is only ever inserted with textContent.
(function () {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const PAGE = 100;
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "text") node.textContent = value;
      else if (key === "cls") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) if (child) node.appendChild(child);
    return node;
  }
  function text(value) { return value === null || value === undefined ? "" : String(value); }
  function pct(x) { return (100 * x).toFixed(1) + "%"; }

  // --- sorting the comparison table -------------------------------------------------
  const table = $("table");
  if (table) {
    table.querySelectorAll("th").forEach((th) => th.addEventListener("click", () => {
      const col = Number(th.dataset.col);
      const dir = th.getAttribute("aria-sort") === "descending" ? "ascending" : "descending";
      table.querySelectorAll("th").forEach((h) => h.removeAttribute("aria-sort"));
      th.setAttribute("aria-sort", dir);
      const body = table.tBodies[0];
      const rows = Array.from(body.rows);
      const key = (row) => {
        const raw = row.cells[col].dataset.sort;
        if (raw === "") return null;
        const num = Number(raw);
        return Number.isNaN(num) ? raw : num;
      };
      rows.sort((a, b) => {
        const x = key(a), y = key(b);
        if (x === null || y === null) return x === y ? 0 : (x === null ? 1 : -1);
        const order = x < y ? -1 : x > y ? 1 : 0;
        return dir === "ascending" ? order : -order;
      });
      rows.forEach((row) => body.appendChild(row));
    }));
  }

  // --- indexes -----------------------------------------------------------------------
  const byVariant = data.variants.map(() => []);
  for (const r of data.results) byVariant[r.v].push(r);
  const searchable = new Map();
  function haystack(r) {
    let s = searchable.get(r);
    if (s === undefined) {
      const input = data.cases[r.c];
      s = (r.c + "\n" + (input ? JSON.stringify(input) : "") + "\n" + text(r.o) + "\n" + text(r.e)).toLowerCase();
      searchable.set(r, s);
    }
    return s;
  }

  function fillSelect(select, options, chosen) {
    options.forEach(([value, label]) => {
      const option = el("option", { value: String(value), text: label });
      if (String(value) === String(chosen)) option.selected = true;
      select.appendChild(option);
    });
  }
  const variantOptions = data.variants.map((id, i) => [i, id]);

  // --- one case, opened ---------------------------------------------------------------
  function caseBody(r) {
    const body = el("div", { cls: "body" });
    const input = data.cases[r.c];
    body.appendChild(el("h4", { text: "input" }));
    body.appendChild(el("pre", { cls: "out", text: input ? JSON.stringify(input, null, 2) : "(not recorded)" }));
    body.appendChild(el("h4", { text: r.e ? "error" : "output" }));
    body.appendChild(el("pre", { cls: "out", text: r.e ? r.e : text(r.o) }));
    if (r.k.length) {
      const list = el("ul", { cls: "checks" });
      for (const [name, passed, reason, error] of r.k) {
        const verdict = error ? "error" : passed ? "pass" : "fail";
        list.appendChild(el("li", { cls: verdict, text: `${data.checks[name]}: ${verdict}${reason ? " — " + reason : ""}` }));
      }
      body.appendChild(el("h4", { text: "checks" }));
      body.appendChild(list);
    }
    const sent = data.requests[r.q];
    body.appendChild(el("h4", { text: "messages sent" + (r.sh.length ? ` (shots: ${r.sh.join(", ")})` : "") }));
    if (!sent) {
      body.appendChild(el("p", { cls: "note", text: "not recorded for this result" }));
      return body;
    }
    for (const [role, index, shot, name] of sent.m) {
      const msg = el("div", { cls: "msg" + (shot ? " shot" : "") });
      const label = role + (name ? ` (${name})` : "") + (shot ? ` · shot ${shot}` : "");
      msg.appendChild(el("div", { cls: "role", text: label }));
      msg.appendChild(el("div", { cls: "content", text: data.texts[index] }));
      body.appendChild(msg);
    }
    body.appendChild(el("h4", { text: "request parameters" }));
    body.appendChild(el("pre", { cls: "params", text: JSON.stringify(data.params[sent.p]) }));
    const facts = [];
    if (r.ms !== null && r.ms !== undefined) facts.push(`${Math.round(r.ms)} ms`);
    if (r.ti !== null && r.ti !== undefined) facts.push(`${r.ti} tokens in, ${text(r.to)} out`);
    if (facts.length) body.appendChild(el("p", { cls: "help", text: facts.join(" · ") }));
    return body;
  }

  function caseRow(r) {
    const details = el("details", { cls: "case", "data-case": r.c, "data-status": r.s });
    const summary = el("summary");
    summary.appendChild(el("span", { cls: "badge " + r.s, text: r.s }));
    summary.appendChild(el("span", { cls: "mono", text: r.c + (r.r ? ` #${r.r}` : "") }));
    summary.appendChild(el("span", { cls: "snippet", text: r.e ? r.e : text(r.o) }));
    details.appendChild(summary);
    details.addEventListener("toggle", () => {
      if (details.open && details.children.length === 1) details.appendChild(caseBody(r));
    });
    return details;
  }

  // --- the case browser ---------------------------------------------------------------
  const list = $("case-list"), more = $("more");
  let matched = [], shown = 0;
  function showMore() {
    const fragment = document.createDocumentFragment();
    const end = Math.min(shown + PAGE, matched.length);
    for (let i = shown; i < end; i++) fragment.appendChild(caseRow(matched[i]));
    list.appendChild(fragment);
    shown = end;
    more.hidden = shown >= matched.length;
  }
  function applyFilters() {
    const variant = Number($("variant").value);
    const status = $("status").value;
    const check = $("check").value;
    const needle = $("search").value.trim().toLowerCase();
    matched = byVariant[variant].filter((r) => {
      if (status === "fail" && r.s !== "fail") return false;
      if (status === "error" && r.s !== "error") return false;
      if (check !== "" && !r.k.some((k) => String(k[0]) === check && (status === "all" || !k[1] || k[3]))) return false;
      return needle === "" || haystack(r).includes(needle);
    });
    list.textContent = "";
    shown = 0;
    $("count").textContent = `${matched.length} of ${byVariant[variant].length} results`;
    showMore();
  }
  if (list) {
    const best = Math.max(0, data.variants.indexOf(data.best));
    fillSelect($("variant"), variantOptions, best);
    fillSelect($("check"), data.checks.map((name, i) => [i, name]), "");
    for (const id of ["variant", "status", "check"]) $(id).addEventListener("change", applyFilters);
    let timer = null;
    $("search").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(applyFilters, 60); });
    more.addEventListener("click", showMore);
    applyFilters();
  }

  // --- two variants, case by case -----------------------------------------------------
  function caseMeans(index) {
    const sums = new Map();
    for (const r of byVariant[index]) {
      if (r.s !== "pass" && r.s !== "fail") continue;
      const [total, n, first] = sums.get(r.c) || [0, 0, r];
      sums.set(r.c, [total + (r.s === "pass" ? 1 : 0), n + 1, first]);
    }
    const means = new Map();
    for (const [c, [total, n, first]] of sums) means.set(c, [total / n, first]);
    return means;
  }
  function pairStats(a, b) {
    const ida = data.variants[a], idb = data.variants[b];
    const direct = data.pairs[ida + "\u0000" + idb];
    if (direct) return { aOnly: direct[0], bOnly: direct[1], p: direct[2], diff: direct[3], low: direct[4], high: direct[5], cases: direct[6] };
    const swapped = data.pairs[idb + "\u0000" + ida];
    if (swapped) return { aOnly: swapped[1], bOnly: swapped[0], p: swapped[2], diff: -swapped[3], low: -swapped[5], high: -swapped[4], cases: swapped[6] };
    return null;
  }
  function renderPair() {
    const a = Number($("pair-a").value), b = Number($("pair-b").value);
    const ma = caseMeans(a), mb = caseMeans(b);
    const aWins = [], bWins = [];
    for (const [c, [sa, ra]] of ma) {
      if (!mb.has(c)) continue;
      const [sb, rb] = mb.get(c);
      if (sa > sb) aWins.push([c, ra, rb]); else if (sb > sa) bWins.push([c, ra, rb]);
    }
    const stats = pairStats(a, b);
    const line = $("pair-stats");
    line.textContent = "";
    if (a === b) { line.textContent = "Pick two different variants."; $("pair-cases").textContent = ""; return; }
    let summary = `A passes where B fails: ${aWins.length} cases · B passes where A fails: ${bWins.length} cases`;
    if (stats) summary += ` · A − B = ${(100 * stats.diff).toFixed(1)} pp [${(100 * stats.low).toFixed(0)}, ${(100 * stats.high).toFixed(0)}], exact McNemar p = ${stats.p < 0.001 ? stats.p.toExponential(1) : stats.p.toFixed(3)} (${stats.cases} shared cases)`;
    line.appendChild(el("span", { id: "pair-summary", text: summary, "data-a-only": String(aWins.length), "data-b-only": String(bWins.length), "data-p": stats ? String(stats.p) : "" }));
    const box = $("pair-cases");
    box.textContent = "";
    for (const [title, rows] of [["A passes, B fails", aWins], ["B passes, A fails", bWins]]) {
      box.appendChild(el("h3", { text: `${title} (${rows.length})` }));
      const head = el("div", { cls: "pair head" });
      for (const label of ["case", "input", "A: " + data.variants[a], "B: " + data.variants[b]]) head.appendChild(el("div", { cls: "mono", text: label }));
      box.appendChild(head);
      for (const [c, ra, rb] of rows.slice(0, 200)) {
        const row = el("div", { cls: "pair", "data-case": c });
        row.appendChild(el("div", { cls: "mono", text: c }));
        row.appendChild(el("div", { cls: "out", text: data.cases[c] ? JSON.stringify(data.cases[c]) : "" }));
        row.appendChild(el("div", { cls: "out", text: text(ra.o) }));
        row.appendChild(el("div", { cls: "out", text: text(rb.o) }));
        box.appendChild(row);
      }
      if (rows.length > 200) box.appendChild(el("p", { text: `… and ${rows.length - 200} more` }));
    }
  }
  if ($("pair-a")) {
    fillSelect($("pair-a"), variantOptions, 0);
    fillSelect($("pair-b"), variantOptions, Math.min(1, data.variants.length - 1));
    $("pair-a").addEventListener("change", renderPair);
    $("pair-b").addEventListener("change", renderPair);
    renderPair();
  }
})();
