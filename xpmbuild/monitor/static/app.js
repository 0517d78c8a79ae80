// xpmbuild monitor: plain JavaScript, no build step. Views by location.hash:
//   #/            experiments (counts by state, last update, services)
//   #/exp/NAME    failures, the task graph (one node per task), the job table (paged)
//   #/job/ID      one job: params, tags, reasons, history, command, logs (live), kill
// Live: /api/events (server-sent events) makes the current view fetch again.
"use strict";

const STATES = ["done", "running", "queued", "waiting", "stale", "new", "failed",
                "cancelled", "lost"];
const PAGE = 100;
const $view = document.getElementById("view");
let current = null;          // the view shown: {render(), onJob(ev), stop()}
let generation = 0;          // counts route changes: an older view's late answer is dropped

// ------------------------------------------------------------------ helpers
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
function svg(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v); else el.setAttribute(k, v);
  }
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}
async function api(path, opts) {
  const r = await fetch(path, Object.assign({credentials: "same-origin"}, opts || {}));
  if (!r.ok) {
    let msg = r.status + " " + r.statusText;
    try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return r;
}
async function json(path, opts) { return (await api(path, opts)).json(); }
function badge(status, n) {
  return h("span", {class: "badge s-" + status, "data-status": status},
           n === undefined ? status : `${status} ${n}`);
}
function counts(c) {
  return STATES.filter(s => c[s]).map(s => badge(s, c[s]));
}
function when(t) { return t ? new Date(t * 1000).toLocaleString() : ""; }
function duration(r) {
  if (!r.started) return "";
  const end = r.ended || (["running", "queued"].includes(r.status) ? Date.now() / 1000 : null);
  if (!end) return "";
  let s = Math.max(0, Math.round(end - r.started));
  const hh = Math.floor(s / 3600), mm = Math.floor(s % 3600 / 60); s = s % 60;
  return (hh ? hh + "h" : "") + (hh || mm ? mm + "m" : "") + s + "s";
}
function tagText(tags) {
  return Object.entries(tags || {}).map(([k, v]) => `${k}=${v}`).join(", ");
}
function short(r) { return `${r.task}/${r.id.slice(0, 8)}`; }
function why(r) {
  const words = (r.reasons || []).join("; ");
  return r.error && !words.includes(r.error) ? (words ? words + ": " : "") + r.error : words;
}
function crumbs(...parts) {
  const nav = document.getElementById("crumbs");
  nav.replaceChildren(...parts.map(([text, href]) => href ? h("a", {href}, text) : h("span", {}, text)));
}
function debounce(fn, ms) {
  let timer = null, again = false;
  return () => {
    if (timer) { again = true; return; }
    fn();
    timer = setTimeout(() => { timer = null; if (again) { again = false; fn(); } }, ms);
  };
}
function show(...children) { $view.replaceChildren(...children); }
function fail(err) { show(h("p", {class: "error"}, String(err.message || err))); }

// ------------------------------------------------------------------ experiments
function experimentsView() {
  const gen = generation;
  const render = async () => {
    const exps = await json("/api/experiments");
    const services = await servicesSection();
    if (gen !== generation) return;
    crumbs();
    const rows = exps.map(e => h("tr", {class: "click", "data-experiment": e.name,
                                        onclick: () => { location.hash = "#/exp/" + encodeURIComponent(e.name); }},
      h("td", {}, h("a", {href: "#/exp/" + encodeURIComponent(e.name)}, e.name)),
      h("td", {}, e.jobs), h("td", {class: "counts"}, counts(e.counts)),
      h("td", {class: "muted"}, when(e.updated))));
    const table = exps.length ? h("table", {id: "experiments"},
      h("tr", {}, h("th", {}, "experiment"), h("th", {}, "jobs"), h("th", {}, "by state"),
        h("th", {}, "last update")), rows)
      : h("p", {class: "muted"}, "No experiment in this workspace yet (xpmbuild run FILE).");
    show(h("h1", {}, "Experiments"), table, services);
  };
  return {render: debounce(() => render().catch(fail), 1000), onJob() { this.render(); }};
}

async function servicesSection() {
  let list;
  try { list = await json("/api/services"); } catch (e) { return h("div"); }
  if (!list.length) return h("div");
  const act = (s, what) => async () => {
    try { await json(`/api/services/${encodeURIComponent(s.name)}/${what}?experiment=${encodeURIComponent(s.experiment)}`, {method: "POST"}); }
    catch (e) { alert(e.message); }
    current && current.render();
  };
  return h("div", {}, h("h2", {}, "Services"), h("table", {id: "services"},
    h("tr", {}, ["service", "experiment", "state", "address", ""].map(x => h("th", {}, x))),
    list.map(s => h("tr", {},
      h("td", {}, s.name), h("td", {}, s.experiment), h("td", {}, s.state),
      h("td", {}, s.url && s.state === "running" ? h("a", {href: s.url, target: "_blank", rel: "noopener"}, s.url) : ""),
      h("td", {}, s.state === "running" ? h("button", {onclick: act(s, "stop")}, "stop")
                                         : h("button", {onclick: act(s, "start")}, "start"))))));
}

// ------------------------------------------------------------------ an experiment
function layout(tasks) {
  // depth = longest chain of dependencies; columns by depth, rows in each column
  const by = Object.fromEntries(tasks.map(t => [t.task, t]));
  const depth = {};
  const d = (name, seen) => {
    if (depth[name] !== undefined) return depth[name];
    if (seen.has(name)) return 0;
    seen.add(name);
    const deps = (by[name] ? by[name].deps : []).filter(x => by[x]);
    return (depth[name] = deps.length ? 1 + Math.max(...deps.map(x => d(x, seen))) : 0);
  };
  tasks.forEach(t => d(t.task, new Set()));
  const cols = [];
  tasks.forEach(t => { (cols[depth[t.task]] = cols[depth[t.task]] || []).push(t); });
  return {cols, depth};
}

function graphView(graph, selected, onPick) {
  const W = 210, H = 64, GX = 60, GY = 18;
  const {cols} = layout(graph.tasks);
  const pos = {};
  cols.forEach((col, i) => col.forEach((t, j) => { pos[t.task] = [10 + i * (W + GX), 10 + j * (H + GY)]; }));
  const width = 20 + cols.length * (W + GX), height = 20 + Math.max(1, ...cols.map(c => c.length)) * (H + GY);
  const root = svg("svg", {width, height, viewBox: `0 0 ${width} ${height}`});
  root.append(svg("defs", {}, svg("marker", {id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: "auto"}, svg("path", {d: "M0,0L10,5L0,10z", fill: "#90a4ae"}))));
  for (const t of graph.tasks) for (const dep of t.deps) {
    if (!pos[dep]) continue;
    const [x1, y1] = pos[dep], [x2, y2] = pos[t.task];
    root.append(svg("path", {d: `M${x1 + W},${y1 + H / 2} C${x1 + W + GX / 2},${y1 + H / 2} ${x2 - GX / 2},${y2 + H / 2} ${x2},${y2 + H / 2}`,
      fill: "none", stroke: "#90a4ae", "marker-end": "url(#arrow)"}));
  }
  for (const t of graph.tasks) {
    const [x, y] = pos[t.task];
    const total = Object.values(t.counts).reduce((a, b) => a + b, 0);
    const g = svg("g", {class: "node" + (selected === t.task ? " selected" : ""), "data-task": t.task,
                        transform: `translate(${x},${y})`, onclick: () => onPick(t.task)});
    g.append(svg("rect", {class: "box", width: W, height: H, rx: 5}));
    g.append(svg("text", {x: 8, y: 17, "font-weight": 600}, t.task));
    g.append(svg("text", {x: W - 8, y: 17, "text-anchor": "end", fill: "#757575"}, `${total} jobs`));
    let off = 8;
    const bw = W - 16;
    for (const s of STATES) {
      const n = t.counts[s]; if (!n) continue;
      const w = Math.max(2, bw * n / total);
      g.append(svg("rect", {x: off, y: 26, width: w, height: 10, fill: `var(--${s})`},
                   svg("title", {}, `${s}: ${n}`)));
      off += w;
    }
    const line = STATES.filter(s => t.counts[s]).map(s => `${s} ${t.counts[s]}`).join(" · ");
    g.append(svg("text", {x: 8, y: 54, class: "counts", fill: "#424242"}, line));
    root.append(g);
  }
  return h("div", {class: "graph", id: "graph"}, root);
}

function experimentView(name) {
  const st = {task: "", status: "", tag: "", q: "", sort: "", order: "asc", offset: 0};
  const enc = encodeURIComponent;
  let box = null;
  const query = () => {
    const p = new URLSearchParams({experiment: name, limit: PAGE, offset: st.offset});
    if (st.task) p.append("task", st.task);
    if (st.status) p.append("status", st.status);
    if (st.tag) st.tag.split(/[, ]+/).filter(Boolean).forEach(t => p.append("tag", t));
    if (st.q) p.set("q", st.q);
    if (st.sort) { p.set("sort", st.sort); p.set("order", st.order); }
    return "/api/jobs?" + p;
  };
  const gen = generation;
  const render = async () => {
    const [exps, graph, failedR, pageR] = await Promise.all([
      json("/api/experiments"), json("/api/graph?experiment=" + enc(name)),
      api(`/api/jobs?experiment=${enc(name)}&status=failed&status=lost&status=cancelled&sort=ended&order=desc&limit=50`),
      api(query())]);
    const failed = await failedR.json(), nFailed = +failedR.headers.get("X-Total-Count");
    const rows = await pageR.json(), total = +pageR.headers.get("X-Total-Count");
    if (gen !== generation) return;
    crumbs([name, null]);
    const exp = exps.find(e => e.name === name) || {counts: {}, jobs: 0};
    if (!box) box = buildFrame();
    box.summary.replaceChildren(h("span", {class: "muted"}, `${exp.jobs} jobs `), ...counts(exp.counts),
      h("span", {class: "muted"}, " last update " + when(exp.updated)));
    box.failures.replaceChildren(...(failed.length ? [
      h("h2", {}, `Failures (${nFailed})`),
      h("table", {class: "failures", id: "failures"},
        h("tr", {}, ["job", "status", "tags", "failure", "ended"].map(x => h("th", {}, x))),
        failed.map(r => h("tr", {class: "click", "data-job": r.id, onclick: () => { location.hash = "#/job/" + r.id; }},
          h("td", {}, h("a", {href: "#/job/" + r.id}, short(r))), h("td", {}, badge(r.status)),
          h("td", {}, tagText(r.tags)), h("td", {class: "reason"}, why(r)),
          h("td", {class: "muted"}, when(r.ended)))))] : []));
    box.graph.replaceChildren(graphView(graph, st.task, task => {
      st.task = st.task === task ? "" : task; st.offset = 0; box.taskSel.value = st.task; render().catch(fail);
    }));
    const sel = box.taskSel;
    const tasks = graph.tasks.map(t => t.task);
    if (sel.options.length !== tasks.length + 1) {
      sel.replaceChildren(h("option", {value: ""}, "all tasks"), tasks.map(t => h("option", {value: t}, t)));
      sel.value = st.task;
    }
    box.table.replaceChildren(jobTable(rows, st, render));
    box.pager.replaceChildren(
      h("button", {disabled: st.offset === 0 || null, onclick: () => { st.offset = Math.max(0, st.offset - PAGE); render().catch(fail); }}, "‹ previous"),
      h("span", {id: "range"}, total ? `${st.offset + 1}–${Math.min(total, st.offset + PAGE)} of ${total}` : "no job"),
      h("button", {disabled: st.offset + PAGE >= total || null, onclick: () => { st.offset += PAGE; render().catch(fail); }}, "next ›"));
  };
  const buildFrame = () => {
    const again = () => { st.offset = 0; render().catch(fail); };
    const b = {summary: h("div", {id: "summary"}), failures: h("div"), graph: h("div"), table: h("div"),
               pager: h("div", {class: "pager"}),
               taskSel: h("select", {id: "f-task", onchange: e => { st.task = e.target.value; again(); }})};
    const stateSel = h("select", {id: "f-status", onchange: e => { st.status = e.target.value; again(); }},
      h("option", {value: ""}, "all states"), STATES.map(s => h("option", {value: s}, s)));
    const tagIn = h("input", {id: "f-tag", placeholder: "tag filter: lr=0.1", onchange: e => { st.tag = e.target.value; again(); }});
    const qIn = h("input", {id: "f-q", placeholder: "search id, task, tag, error", onchange: e => { st.q = e.target.value; again(); }});
    show(h("h1", {}, name), b.summary, b.failures, h("h2", {}, "Tasks"), b.graph,
         h("h2", {}, "Jobs"), h("div", {class: "controls"}, stateSel, b.taskSel, tagIn, qIn), b.table, b.pager);
    return b;
  };
  return {render: debounce(() => render().catch(fail), 1000), onJob() { this.render(); }};
}

function jobTable(rows, st, render) {
  const tagKeys = [...new Set(rows.flatMap(r => Object.keys(r.tags || {})))].sort();
  const head = (label, key) => h("th", {
    class: "sortable" + (st.sort === key ? " sorted " + st.order : ""),
    onclick: () => { st.order = st.sort === key && st.order === "asc" ? "desc" : "asc"; st.sort = key; st.offset = 0; render().catch(fail); }
  }, label);
  return h("table", {id: "jobs"},
    h("tr", {}, head("job", "id"), head("task", "task"), head("status", "status"),
      tagKeys.map(k => head(k, "tag:" + k)), head("started", "started"), head("duration", "duration"),
      h("th", {}, "reason")),
    rows.map(r => h("tr", {class: "click", "data-job": r.id, onclick: () => { location.hash = "#/job/" + r.id; }},
      h("td", {class: "mono"}, h("a", {href: "#/job/" + r.id}, r.id.slice(0, 8))), h("td", {}, r.task),
      h("td", {}, badge(r.status)), tagKeys.map(k => h("td", {}, k in (r.tags || {}) ? String(r.tags[k]) : "")),
      h("td", {class: "muted"}, when(r.started)), h("td", {}, duration(r)),
      h("td", {class: r.error || r.status === "failed" ? "error" : "muted"}, why(r)))));
}

// ------------------------------------------------------------------ a job
function jobView(id) {
  const logs = {stdout: {offset: 0, el: h("pre", {id: "log-stdout"})},
                stderr: {offset: 0, el: h("pre", {id: "log-stderr"})}};
  let job = null, timer = null, frame = null;
  const follow = async () => {
    for (const [which, log] of Object.entries(logs)) {
      const r = await api(`/api/jobs/${id}/log/${which}?offset=${log.offset}`);
      const next = +r.headers.get("X-Offset");
      const text = await r.text();
      if (next < log.offset) log.el.textContent = "";          // a new build started
      if (text) {
        const stick = log.el.scrollTop + log.el.clientHeight >= log.el.scrollHeight - 4;
        log.el.append(text);
        if (stick) log.el.scrollTop = log.el.scrollHeight;
      }
      log.offset = next;
    }
  };
  const tick = async () => {
    if (gen !== generation) { timer = null; return; }
    try { await follow(); } catch (e) { /* next tick */ }
    if (job && ["running", "queued"].includes(job.status)) timer = setTimeout(tick, 1000);
    else timer = null;
  };
  const gen = generation;
  const render = async () => {
    const answer = await json("/api/jobs/" + id);
    if (gen !== generation) return;
    job = answer;
    const exp = (job.experiments || [])[0];
    crumbs(...(exp ? [[exp, "#/exp/" + encodeURIComponent(exp)]] : []), [short(job), null]);
    const active = ["running", "queued"].includes(job.status);
    const kill = h("button", {id: "kill", class: "danger", disabled: !active || null, onclick: async () => {
      if (!confirm(`Kill ${short(job)}?`)) return;
      kill.disabled = true;
      try { const r = await json(`/api/jobs/${id}/kill`, {method: "POST"}); msg.textContent = r.message; }
      catch (e) { msg.textContent = e.message; }
      render().catch(fail);
    }}, "kill");
    const msg = h("span", {id: "kill-message", class: "muted"});
    const dl = (pairs) => h("dl", {class: "grid"}, pairs.filter(([, v]) => v !== null && v !== undefined && v !== "")
      .map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
    const params = Object.entries(job.params || {});
    if (!frame) {
      frame = {head: h("div"), info: h("div")};
      show(frame.head,
           h("div", {class: "cols"},
             h("div", {}, h("h2", {}, "stderr"), logs.stderr.el),
             h("div", {}, h("h2", {}, "stdout"), logs.stdout.el)),
           frame.info);
    }
    frame.head.replaceChildren(h("h1", {}, short(job), " ", badge(job.status)),
      h("div", {class: "controls"}, kill, msg),
      (job.status === "failed" || job.error) ? h("p", {class: "note error", id: "failure"},
        "Failure: ", why(job)) : "");
    frame.info.replaceChildren(h("div", {class: "cols"},
      h("div", {},
        h("h2", {}, "Job"),
        dl([["id", h("span", {class: "mono"}, job.id)], ["task", job.task], ["folder", h("span", {class: "mono"}, job.dir)],
            ["tags", tagText(job.tags)], ["launcher", job.launcher], ["launcher id", job.launcher_id],
            ["started", when(job.started)], ["ended", when(job.ended)], ["duration", duration(job)],
            ["exit code", job.exit_code], ["reasons", (job.reasons || []).join("; ")],
            ["built because", (job.build_reasons || []).join("; ")],
            ["resources", Object.keys(job.resources || {}).length ? JSON.stringify(job.resources) : ""],
            ["depends on", (job.deps || []).length ? h("span", {}, job.deps.map(d => [h("a", {href: "#/job/" + d, class: "mono"}, d.slice(0, 8)), " "])) : ""]]),
        h("h2", {}, "Parameters"),
        params.length ? h("table", {id: "params"}, params.map(([k, v]) => h("tr", {}, h("th", {}, k),
          h("td", {class: "mono"}, typeof v === "string" ? v : JSON.stringify(v))))) : h("p", {class: "muted"}, "none")),
      h("div", {},
        h("h2", {}, "History"),
        (job.history || []).length ? h("table", {id: "history"}, job.history.map(([s, t]) => h("tr", {}, h("td", {}, badge(s)), h("td", {}, when(t)))))
          : h("p", {class: "muted"}, "no recorded status change"),
        h("h2", {}, "Command"), h("pre", {id: "command"}, job.command || "(not prepared yet)"))));
    if (!timer) tick();
  };
  return {render: debounce(() => render().catch(fail), 500),
          onJob(ev) { if (ev.id === id) this.render(); },
          stop() { if (timer) clearTimeout(timer); timer = null; job = null; }};
}

// ------------------------------------------------------------------ routing, events
function route() {
  if (current && current.stop) current.stop();
  generation += 1;
  const parts = location.hash.replace(/^#\/?/, "").split("/");
  if (parts[0] === "exp" && parts[1]) current = experimentView(decodeURIComponent(parts.slice(1).join("/")));
  else if (parts[0] === "job" && parts[1]) current = jobView(parts[1]);
  else current = experimentsView();
  current.render();
}

function listen() {
  const live = document.getElementById("live");
  const es = new EventSource("/api/events");
  es.onopen = () => { live.textContent = "live"; live.className = "live on"; };
  es.onerror = () => { live.textContent = "offline"; live.className = "live off"; };
  const any = (e) => { const ev = JSON.parse(e.data || "{}"); if (current) current.onJob(ev); };
  es.addEventListener("job", any);
  es.addEventListener("experiment", () => current && current.render());
  es.addEventListener("reset", () => current && current.render());
}

// the address with ?token= set the cookie: drop the token from the address bar
if (location.search.includes("token=")) history.replaceState(null, "", location.pathname + location.hash);
window.addEventListener("hashchange", route);
route();
listen();
