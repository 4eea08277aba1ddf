// The workbench served by `unclaimed serve` at `/`: a policy editor checked as you type,
// sample facts, evaluation with explanations, comparison and saving, all through the
// same-origin API (docs: README "HTTP service"; contract: the service's /openapi.json).
// Bundled by scripts/build-workbench.sh into evaluator/apps/serve/static/workbench.js.

import { EditorView, basicSetup } from "codemirror";
import { EditorState } from "@codemirror/state";
import { keymap } from "@codemirror/view";
import { indentWithTab } from "@codemirror/commands";
import { yaml } from "@codemirror/lang-yaml";
import { json } from "@codemirror/lang-json";
import { linter, lintGutter, setDiagnostics, forceLinting } from "@codemirror/lint";
import sampleFacts from "../../examples/members.json";

const $ = (id) => document.getElementById(id);

const NEW_POLICY = `policy: my-policy
version: 0.1.0
status: alternative
title: A new reading of the rule
extends: fsra-2024-001@1.1.0
parameters:
  inactivity_period:
    value: 2 years
`;

// ---- small DOM helpers -------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function show(text, kind) {
  const status = $("status");
  status.textContent = text;
  status.dataset.kind = kind || "info";
}

function fmt(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

async function api(method, path, body) {
  const init = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  let data = null;
  const text = await response.text();
  try {
    data = text ? JSON.parse(text) : null;
  } catch (_) {
    data = { detail: text };
  }
  return { ok: response.ok, status: response.status, data };
}

function problemText(res) {
  const d = res.data || {};
  return `${d.title || "Error"} (HTTP ${res.status}): ${d.detail || "no detail"}`;
}

// ---- state -------------------------------------------------------------------------------

const state = {
  policyRef: null, // "id@version" opened from the list, or null for a new policy
  provisions: new Map(), // label -> text, from GET /v1/policies/{id}
  lastDiagnostics: [],
};

function fileName() {
  const id = policyIdOf(policyEditor.state.doc.toString());
  return id ? `${id}.yaml` : "policy.yaml";
}

function policyIdOf(text) {
  const found = /^policy:\s*["']?([a-z0-9][a-z0-9.-]*)["']?\s*$/m.exec(text);
  return found ? found[1] : null;
}

// ---- diagnostics: the API's 1-based line/column to editor positions -----------------------

function position(doc, line, column) {
  if (!line || line < 1) return 0;
  if (line > doc.lines) return doc.length;
  const l = doc.line(line);
  const col = Math.max(1, column || 1);
  return Math.min(l.from + col - 1, l.to);
}

function toCodeMirror(doc, diagnostics, name) {
  const out = [];
  for (const d of diagnostics) {
    const here = !d.file || d.file === name;
    let from = here ? position(doc, d.line, d.column) : 0;
    let to = here && d.end_line ? position(doc, d.end_line, d.end_column) : from;
    if (to <= from) {
      // No extent given: underline the word at the position (or one character).
      const line = doc.lineAt(from);
      const rest = line.text.slice(from - line.from);
      const word = /^[\w.-]+/.exec(rest);
      to = Math.min(doc.length, from + (word ? word[0].length : 1));
      if (to <= from && from > 0) from -= 1;
    }
    const severity = d.severity === "error" ? "error" : d.severity === "warning" ? "warning" : "info";
    out.push({
      from,
      to,
      severity,
      source: d.code,
      message: `${d.message}`,
      renderMessage: () => diagnosticNode(d, "span"),
    });
  }
  return out;
}

function diagnosticNode(d, tag) {
  const where = d.line ? `${d.file && d.file !== fileName() ? d.file + ":" : ""}${d.line}:${d.column || 1}` : (d.file || "");
  return el(tag, { class: `diag diag-${d.severity}` },
    el("strong", { class: "diag-where" }, where ? `${where} ` : ""),
    el("code", { class: "diag-code" }, d.code), " ",
    el("span", { class: "diag-message" }, d.message),
    d.provision ? el("span", { class: "diag-provision" }, ` [provision ${d.provision}]`) : null,
    d.help ? el("span", { class: "diag-help" }, ` Help: ${d.help}`) : null);
}

function renderDiagnosticList(diagnostics, note) {
  state.lastDiagnostics = diagnostics;
  const list = $("diagnostics");
  list.replaceChildren();
  const errors = diagnostics.filter((d) => d.severity === "error").length;
  const warnings = diagnostics.length - errors;
  $("diagnostics-summary").textContent = note || (diagnostics.length === 0
    ? "No diagnostics: the policy checks."
    : `${errors} error${errors === 1 ? "" : "s"}, ${warnings} other diagnostic${warnings === 1 ? "" : "s"}.`);
  for (const d of diagnostics) {
    const item = diagnosticNode(d, "li");
    if (d.line && (!d.file || d.file === fileName())) {
      const button = el("button", { type: "button", class: "link", "aria-label": `Go to line ${d.line}, column ${d.column || 1}` }, "go to");
      button.addEventListener("click", () => {
        const pos = position(policyEditor.state.doc, d.line, d.column);
        policyEditor.dispatch({ selection: { anchor: pos }, scrollIntoView: true });
        policyEditor.focus();
      });
      item.append(" ", button);
    }
    list.append(item);
  }
}

const checkSource = async (view) => {
  const text = view.state.doc.toString();
  const name = fileName();
  let res;
  try {
    res = await api("POST", "/v1/check", { text, name });
  } catch (err) {
    renderDiagnosticList([], `The check could not reach the service: ${err}`);
    return [];
  }
  if (!res.ok) {
    renderDiagnosticList(res.data && res.data.diagnostics ? res.data.diagnostics : [], problemText(res));
    return [];
  }
  if (view.state.doc.toString() !== text) return []; // stale: a newer check follows
  renderDiagnosticList(res.data.diagnostics);
  return toCodeMirror(view.state.doc, res.data.diagnostics, name);
};

function showDiagnostics(diagnostics, note) {
  renderDiagnosticList(diagnostics, note);
  policyEditor.dispatch(setDiagnostics(policyEditor.state,
    toCodeMirror(policyEditor.state.doc, diagnostics, fileName())));
}

// ---- editors -----------------------------------------------------------------------------

function labelled(id) {
  // aria-labelledby cannot cross the shadow boundary: copy the label's text instead.
  return EditorView.contentAttributes.of({ "aria-label": $(id).textContent.trim() });
}

// Each editor lives in a shadow root: there CodeMirror's styles go into constructed
// stylesheets (adoptedStyleSheets), which the page's strict Content-Security-Policy
// (style-src 'self', no inline styles) allows, whereas a <style> element it would not.
function shadowParent(hostId) {
  const shadow = $(hostId).attachShadow({ mode: "open" });
  const parent = document.createElement("div");
  parent.style.height = "100%"; // CSSOM, which the CSP allows (a style attribute it would not)
  shadow.append(parent);
  return { root: shadow, parent };
}

const sizing = [EditorView.lineWrapping, EditorView.theme({
  "&": { height: "100%" },
  ".cm-scroller": { fontFamily: 'ui-monospace, "DejaVu Sans Mono", monospace', fontSize: "13px" },
  ".cm-tooltip-lint": { maxWidth: "38rem", fontFamily: "system-ui, sans-serif", fontSize: "13px" },
  ".diag-help, .diag-provision": { color: "#57606a" },
})];

const policyEditor = new EditorView({
  ...shadowParent("policy-editor"),
  state: EditorState.create({
    doc: "",
    extensions: [
      basicSetup,
      keymap.of([indentWithTab]),
      yaml(),
      linter(checkSource, { delay: 400 }),
      lintGutter(),
      sizing,
      labelled("policy-label"),
    ],
  }),
});

const factsEditor = new EditorView({
  ...shadowParent("facts-editor"),
  state: EditorState.create({
    doc: sampleFacts,
    extensions: [basicSetup, keymap.of([indentWithTab]), json(), sizing, labelled("facts-label")],
  }),
});

// When a panel (go to line, search) closes with the focus in it, CodeMirror gives the
// focus back to the editor only if document.activeElement was inside it, which in a shadow
// root it never is (it is the host): give it back here, so keyboard users stay in the text.
function keepFocus(view) {
  view.root.addEventListener("focusout", (event) => {
    const from = event.target;
    if (!(from instanceof Element) || !from.closest(".cm-panel")) return;
    setTimeout(() => {
      if (!from.isConnected && !view.root.activeElement) view.focus();
    }, 0);
  });
}
keepFocus(policyEditor);
keepFocus(factsEditor);

function setPolicyText(text) {
  policyEditor.dispatch({
    changes: { from: 0, to: policyEditor.state.doc.length, insert: text },
    selection: { anchor: 0 },
  });
  forceLinting(policyEditor);
}

function readFacts() {
  try {
    return JSON.parse(factsEditor.state.doc.toString());
  } catch (err) {
    show(`The sample facts are not valid JSON: ${err.message}`, "error");
    return null;
  }
}

// ---- policies: list, open, new, save -----------------------------------------------------

async function loadPolicyList() {
  const res = await api("GET", "/v1/policies");
  if (!res.ok) {
    show(problemText(res), "error");
    return;
  }
  const open = $("policy-select");
  const other = $("compare-select");
  open.replaceChildren();
  other.replaceChildren();
  for (const p of res.data.policies) {
    const ref = `${p.id}@${p.version}`;
    const label = `${ref} — ${p.title || ""}${p.status ? ` (${p.status})` : ""}`;
    open.append(el("option", { value: ref }, label));
    other.append(el("option", { value: ref }, label));
  }
  // The baseline opened first: a rule itself (proposed or final), not a base it extends
  // (status `base`: deposits-base), another regime written for comparison or a kept history
  // version.
  const bases = new Set(res.data.policies.filter((p) => p.status === "base").map((p) => p.id));
  const isRoot = (p) => p.status !== "base"
    && (!p.extends || bases.has(p.extends.split("@")[0]));
  const own = res.data.policies.filter((p) => isRoot(p) && !p.path.includes("/history/"));
  const baseline = own.find((p) => p.status === "proposed" || p.status === "final")
    || own[0] || res.data.policies.find(isRoot);
  if (baseline) open.value = `${baseline.id}@${baseline.version}`;
  const alternative = res.data.policies.find((p) => p.extends && !isRoot(p))
    || res.data.policies.find((p) => p.extends);
  if (alternative) other.value = `${alternative.id}@${alternative.version}`;
}

async function openPolicy(ref) {
  show(`Opening ${ref}…`);
  const res = await api("GET", `/v1/policies/${encodeURIComponent(ref)}`);
  if (!res.ok) {
    show(problemText(res), "error");
    return;
  }
  state.policyRef = `${res.data.id}@${res.data.version}`;
  state.provisions = new Map(res.data.provisions.map((p) => [p.label, p.text]));
  $("policy-name").textContent = `${state.policyRef} — ${res.data.title}`;
  setPolicyText(res.data.text);
  show(`Opened ${state.policyRef} (${res.data.path}).`, "ok");
}

function newPolicy() {
  state.policyRef = null;
  $("policy-name").textContent = "new policy (unsaved)";
  setPolicyText(NEW_POLICY);
  show("A new policy: it extends the baseline; change its id before saving.", "ok");
}

async function savePolicy() {
  const text = policyEditor.state.doc.toString();
  const id = policyIdOf(text);
  if (!id) {
    show("The policy has no `policy: ID` line: nothing to save it as.", "error");
    return;
  }
  show(`Saving ${id}…`);
  const res = await api("PUT", `/v1/policies/${encodeURIComponent(id)}`, { text });
  if (res.ok) {
    show(`Saved ${res.data.saved} (sha256 ${res.data.sha256.slice(0, 12)}…).`, "ok");
    if (res.data.diagnostics) showDiagnostics(res.data.diagnostics);
    loadPolicyList().catch(() => {});
    return;
  }
  if (res.data && res.data.diagnostics) {
    showDiagnostics(res.data.diagnostics, `Not saved: ${res.data.detail || "the policy does not check"}`);
  }
  show(`Not saved. ${problemText(res)}`, "error");
}

// ---- evaluate: the determinations table and explanations ---------------------------------

const COLUMNS = ["member_id", "account_id", "status", "last_activity", "inactive_on",
  "unclaimed_on", "notices", "payment_window", "amount_cad", "findings"];

function cell(key, value) {
  if (key === "notices" && Array.isArray(value)) {
    return el("td", { class: "nowrap" }, el("ul", { class: "plain" }, value.map((n) =>
      el("li", { title: `provision ${n.provision}${n.required ? "; required" : ""}` },
        `${n.mark} ${fmt(n.due)}${n.required ? " (required)" : ""}`))));
  }
  if (key === "payment_window" && value) {
    return el("td", { class: "nowrap", title: `provision ${value.provision}` },
      `${fmt(value.opens)} – ${fmt(value.closes)}`);
  }
  if (key === "findings" && Array.isArray(value)) {
    return el("td", { class: "wide" }, el("ul", { class: "plain" }, value.map((f) =>
      el("li", { class: `finding finding-${f.severity}` },
        el("code", {}, f.code), ` [${f.provision}] ${f.message}`))));
  }
  if (key === "status") return el("td", {}, el("span", { class: `badge status-${value}` }, fmt(value)));
  return el("td", { class: "nowrap" }, fmt(value));
}

function renderResults(result) {
  const out = $("results");
  out.replaceChildren();
  const summary = `${result.policy.id}@${result.policy.version} as of ${result.as_of}: `
    + `${result.accounts.length} account${result.accounts.length === 1 ? "" : "s"}, `
    + `${result.errors.length} record error${result.errors.length === 1 ? "" : "s"}.`;
  const head = el("tr", {}, COLUMNS.map((c) => el("th", { scope: "col" }, c.replace(/_/g, " "))),
    el("th", { scope: "col" }, "explanation"));
  const body = el("tbody");
  result.accounts.forEach((account, i) => {
    const row = el("tr", { "data-account": account.account_id }, COLUMNS.map((c) => cell(c, account[c])));
    const detailId = `explain-${i}`;
    const button = el("button", { type: "button", "aria-expanded": "false", "aria-controls": detailId,
      class: "explain" }, `Explain ${account.account_id}`);
    row.append(el("td", {}, button));
    const detail = el("tr", { id: detailId, class: "explanation", hidden: true },
      el("td", { colspan: COLUMNS.length + 1 }));
    button.addEventListener("click", () => {
      const open = button.getAttribute("aria-expanded") === "true";
      if (!open && !detail.firstChild.firstChild) {
        const all = el("button", { type: "button", class: "link" }, "Expand all");
        const none = el("button", { type: "button", class: "link" }, "Collapse all");
        const tree = explanationTree(account);
        all.addEventListener("click", () => tree.querySelectorAll("details").forEach((d) => { d.open = true; }));
        none.addEventListener("click", () => tree.querySelectorAll("details").forEach((d) => { d.open = false; }));
        detail.firstChild.append(el("div", { class: "toolbar" },
          el("strong", {}, `Why ${account.account_id} is ${account.status}`), all, none), tree);
      }
      button.setAttribute("aria-expanded", String(!open));
      detail.hidden = open;
    });
    body.append(row, detail);
  });
  out.append(el("div", { class: "scroll" }, el("table", { class: "determinations" },
    el("caption", {}, summary), el("thead", {}, head), body)));
  if (result.errors.length) {
    out.append(el("h3", {}, "Record errors"), el("ul", { class: "record-errors" },
      result.errors.map((e) => el("li", {}, `${[e.member_id, e.account_id, e.claim_id].filter(Boolean).join(" / ")}: ${e.message}`))));
  }
}

function provisionLabels(provision) {
  return (provision || "").split(";").map((s) => s.trim()).filter(Boolean);
}

// The trace is a flat list in evaluation order: definitions (with their formula) and the
// parameters they read (with who set them). A definition's children are the traced names
// its formula mentions, so the tree reads from each output down to facts and parameters.
function explanationTree(account) {
  const trace = (account.trace || []).map((t) => ({ ...t, name: t.definition || t.parameter }))
    .filter((t) => t.name);
  if (!trace.length) return el("p", {}, "No explanation: the service returned no trace.");
  const byName = new Map(trace.map((t) => [t.name, t]));
  const uses = new Map();
  const used = new Set();
  for (const t of trace) {
    const names = new Set((t.formula || "").match(/[A-Za-z_][A-Za-z0-9_]*/g) || []);
    const kids = [...names].filter((n) => n !== t.name && byName.has(n));
    uses.set(t.name, kids);
    kids.forEach((k) => used.add(k));
  }
  const roots = trace.filter((t) => !used.has(t.name) && t.definition);
  const shown = new Set();
  const node = (t, depth) => {
    const again = shown.has(t.name);
    shown.add(t.name);
    const summary = el("summary", {},
      t.parameter ? el("span", { class: "kind" }, "parameter ") : null,
      el("code", { class: "def" }, t.name), " = ",
      el("span", { class: "value" }, fmt(t.value)),
      t.provision ? el("span", { class: "prov-label" }, ` — ${t.provision}`) : null);
    const box = el("details", { class: "node", open: depth === 0 ? true : null }, summary);
    if (again) {
      box.append(el("p", { class: "muted" }, "(explained above)"));
      return el("li", { role: "treeitem" }, box);
    }
    if (t.formula) box.append(el("pre", { class: "formula" }, t.formula));
    if (t.set_by) box.append(el("p", { class: "muted" }, `set by ${t.set_by}`));
    for (const label of provisionLabels(t.provision)) {
      const text = state.provisions.get(label);
      box.append(el("blockquote", { class: "provision", cite: label },
        el("strong", {}, `${label}: `), text ? text : "(no provision text under this label in the opened policy: an interpretation or assumption id)"));
    }
    const kids = (uses.get(t.name) || []).map((n) => byName.get(n));
    if (kids.length) {
      box.append(el("ul", { role: "group" }, kids.map((k) => node(k, depth + 1))));
    }
    return el("li", { role: "treeitem" }, box);
  };
  return el("ul", { role: "tree", class: "tree", "aria-label": `Explanation of ${account.account_id}` },
    roots.map((r) => node(r, 0)));
}

async function evaluate() {
  const facts = readFacts();
  if (!facts) return;
  show("Evaluating…");
  const res = await api("POST", "/v1/evaluate", {
    policy_text: policyEditor.state.doc.toString(),
    facts,
    as_of: $("as-of").value,
    explain: true,
  });
  if (!res.ok) {
    if (res.data && res.data.diagnostics) showDiagnostics(res.data.diagnostics, "The policy does not check: nothing evaluated.");
    show(problemText(res), "error");
    return;
  }
  renderResults(res.data);
  show(`Evaluated ${res.data.accounts.length} accounts.`, "ok");
}

// ---- compare -----------------------------------------------------------------------------

async function compare() {
  const facts = readFacts();
  if (!facts) return;
  const other = $("compare-select").value;
  show(`Comparing with ${other}…`);
  const res = await api("POST", "/v1/compare", {
    policies: [{ text: policyEditor.state.doc.toString(), name: fileName() }, other],
    facts,
    as_of: $("as-of").value,
  });
  const out = $("comparison");
  out.replaceChildren();
  if (!res.ok) {
    if (res.data && res.data.diagnostics) showDiagnostics(res.data.diagnostics, "A policy does not check: nothing compared.");
    show(problemText(res), "error");
    return;
  }
  const runs = res.data.runs.map((r) => `${r.policy.id}@${r.policy.version}: ${r.accounts} accounts ${JSON.stringify(r.statuses)}`);
  out.append(el("ul", { class: "plain" }, runs.map((r) => el("li", {}, r))));
  const diffs = res.data.differences;
  if (!diffs.length) {
    out.append(el("p", { class: "no-differences" }, "No differences on the sample."));
  } else {
    const body = el("tbody", {}, diffs.map((d) => el("tr", {},
      el("td", {}, d.policy),
      el("td", {}, d.member_id || ""),
      el("td", {}, d.account_id || d.claim_id || ""),
      el("td", {}, d.fields.join(", ")),
      el("td", {}, el("ul", { class: "plain" }, d.fields.map((f) =>
        el("li", {}, `${f}: ${fmt(d.before ? d.before[f] : null)} → ${fmt(d.after ? d.after[f] : null)}`)))),
      el("td", { class: "sentence" }, d.explanation))));
    out.append(el("div", { class: "scroll" }, el("table", { class: "differences" },
      el("caption", {}, `${diffs.length} difference${diffs.length === 1 ? "" : "s"} from the editor's policy`),
      el("thead", {}, el("tr", {}, ["policy", "member", "account", "fields", "before → after", "why"].map((h) => el("th", { scope: "col" }, h)))),
      body)));
  }
  show(`Compared: ${diffs.length} difference${diffs.length === 1 ? "" : "s"}.`, "ok");
}

// ---- wiring ------------------------------------------------------------------------------

function guard(fn) {
  return () => fn().catch((err) => show(`The service could not be reached: ${err}`, "error"));
}

$("open").addEventListener("click", guard(() => openPolicy($("policy-select").value)));
$("new").addEventListener("click", () => newPolicy());
$("save").addEventListener("click", guard(savePolicy));
$("evaluate").addEventListener("click", guard(evaluate));
$("compare").addEventListener("click", guard(compare));
$("reset-facts").addEventListener("click", () => {
  factsEditor.dispatch({ changes: { from: 0, to: factsEditor.state.doc.length, insert: sampleFacts } });
});

guard(async () => {
  await loadPolicyList();
  if ($("policy-select").value) await openPolicy($("policy-select").value);
  else newPolicy();
  document.body.dataset.ready = "true";
})();
