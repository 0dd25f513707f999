// Sluice dashboard: a small single page on the JSON API and its event stream.
// No framework, no build step; every string from the server goes in as text, never HTML.
"use strict";

(() => {
  const KEY = "sluice.apiKey";
  const TERMINAL = new Set(["completed", "failed", "cancelled"]);
  const ACTIVE = new Set(["pending", "processing"]);
  const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
  let stream = null; // the open EventSource, closed on every page change
  let page = 0; // bumps on each navigation, so late answers of a left page are dropped

  // -- DOM ------------------------------------------------------------------------------

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else if (name === "class") el.className = value;
      else if (name === "style") el.setAttribute("style", value);
      else el.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  const $ = (selector, root = document) => root.querySelector(selector);
  const view = () => $("#view");

  function toast(message, bad = false) {
    const el = $("#toast");
    el.textContent = message;
    el.className = bad ? "toast bad" : "toast";
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => (el.hidden = true), bad ? 7000 : 3500);
  }

  function when(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString();
  }

  function clock(iso) {
    const d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleTimeString();
  }

  function bytes(n) {
    if (n === null || n === undefined) return "";
    const units = ["B", "KB", "MB", "GB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return `${n < 10 && i ? n.toFixed(1) : Math.round(n)} ${units[i]}`;
  }

  // -- API ------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function authHeaders() {
    const key = localStorage.getItem(KEY);
    return key ? { Authorization: `Bearer ${key}` } : {};
  }

  async function api(path, { method = "GET", json, form } = {}) {
    const headers = { Accept: "application/json", ...authHeaders() };
    let body;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form) {
      body = form; // the browser sets the multipart boundary
    }
    let res;
    try {
      res = await fetch(path, { method, headers, body });
    } catch {
      throw new ApiError(0, "network", "cannot reach the server");
    }
    let payload = null;
    try { payload = await res.json(); } catch { /* not JSON */ }
    const error = (payload && payload.error) || {};
    if (res.status === 401) {
      askKey(
        localStorage.getItem(KEY)
          ? "That API key was refused. Enter another one."
          : "This server asks for an API key. It is kept in this browser only.",
      );
      throw new ApiError(401, "unauthorized", error.message || "an API key is needed");
    }
    if (!res.ok || (payload && payload.success === false)) {
      throw new ApiError(res.status, error.code || "error", error.message || `${res.status} ${res.statusText}`);
    }
    return payload;
  }

  async function listAll(path, max = 1000) {
    const items = [];
    let cursor = null;
    do {
      const sep = path.includes("?") ? "&" : "?";
      const url = `${path}${sep}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
      const answer = await api(url);
      items.push(...answer.data);
      cursor = answer.pagination && answer.pagination.nextCursor;
    } while (cursor && items.length < max);
    return items;
  }

  function fail(err) {
    if (err.status !== 401) toast(err.message || String(err), true);
  }

  // -- live updates ---------------------------------------------------------------------

  // "live" while a page's event stream is open, "reconnecting" while it is lost,
  // nothing on pages without one.
  function setLive(state) {
    const el = $("#live");
    el.textContent = state === true ? "live" : state === false ? "reconnecting…" : "";
    el.classList.toggle("on", state === true);
  }

  function closeStream() {
    if (stream) stream.close();
    stream = null;
    setLive(null);
  }

  function openStream(path, onEvent) {
    closeStream();
    const key = localStorage.getItem(KEY);
    const url = key ? `${path}?access_token=${encodeURIComponent(key)}` : path;
    const es = new EventSource(url);
    stream = es;
    es.onopen = () => setLive(true);
    es.addEventListener("job_status_update", (e) => onEvent(JSON.parse(e.data), es));
    es.onerror = () => {
      setLive(false);
      if (es.readyState === EventSource.CLOSED && stream === es) {
        // Refused (401 without a key, say): ask the API why, then try again.
        api("/api/agents?limit=1").catch(() => {});
        setTimeout(() => { if (stream === es) openStream(path, onEvent); }, 3000);
      }
    };
    return es;
  }

  // An event carries the job's fields under the names of the event payload.
  function merge(job, event) {
    if (job && job.updatedAt && event.updatedAt && event.updatedAt < job.updatedAt) return job;
    return {
      ...(job || {}),
      id: event.jobId,
      dataSourceId: event.sourceId,
      agentId: event.agentId,
      type: event.type,
      status: event.status,
      progress: event.progress || {},
      attempts: event.attempts,
      maxAttempts: event.maxAttempts,
      errorMessage: event.errorMessage,
      scheduledFor: event.scheduledFor,
      updatedAt: event.updatedAt,
    };
  }

  // -- shared pieces --------------------------------------------------------------------

  function badge(status) {
    return h("span", { class: `badge ${status}`, "data-status": status }, status);
  }

  function percentOf(job) {
    if (job.status === "completed") return 100;
    const p = Number((job.progress || {}).percent);
    return Number.isFinite(p) ? Math.max(0, Math.min(100, Math.round(p))) : 0;
  }

  function progressText(job) {
    const p = job.progress || {};
    const parts = [];
    if (p.stage) parts.push(p.stage);
    if (p.pages_total) parts.push(`page ${p.pages_done || 0}/${p.pages_total}`);
    if (p.pages_crawled !== undefined) {
      parts.push(`${p.pages_crawled} crawled` + (p.pages_discovered ? ` of ${p.pages_discovered} found` : ""));
    }
    if (p.chunks_total) parts.push(`${p.chunks_done || 0}/${p.chunks_total} chunks`);
    return parts.join(" · ");
  }

  function progressBar(job) {
    const pct = percentOf(job);
    return h(
      "div",
      { class: "progress" },
      h(
        "div",
        {
          class: `bar ${job.status}`,
          role: "progressbar",
          "aria-valuemin": 0,
          "aria-valuemax": 100,
          "aria-valuenow": pct,
          "aria-label": "progress",
        },
        h("span", { style: `width:${pct}%` }),
      ),
      h("div", { class: "bar-label" }, h("span", {}, progressText(job)), h("span", { class: "pct" }, `${pct}%`)),
    );
  }

  function retryAt(job) {
    if (job.status !== "pending" || !job.scheduledFor) return null;
    const at = new Date(job.scheduledFor);
    if (isNaN(at) || at <= Date.now()) return null;
    return h("span", { class: "retry-at small", "data-at": job.scheduledFor, title: when(job.scheduledFor) }, "");
  }

  // Count-downs of scheduled retries tick once a second, wherever they are.
  setInterval(() => {
    for (const el of document.querySelectorAll(".retry-at")) {
      const secs = Math.round((new Date(el.dataset.at) - Date.now()) / 1000);
      el.textContent = secs > 0 ? `in ${secs} s (${clock(el.dataset.at)})` : "due now";
    }
  }, 1000);

  function jobButtons(job, after) {
    const out = [];
    if (ACTIVE.has(job.status)) {
      out.push(
        h("button", {
          class: "small danger", type: "button", "data-action": "cancel",
          onclick: (e) => act(e.target, () => api(`/api/jobs/${job.id}`, { method: "DELETE" }), "Job cancelled", after),
        }, "Cancel"),
      );
    }
    if (job.status === "failed" || job.status === "cancelled") {
      out.push(
        h("button", {
          class: "small", type: "button", "data-action": "retry",
          onclick: (e) => act(e.target, () => api(`/api/jobs/${job.id}/retry`, { method: "POST" }), "Job queued again", after),
        }, "Retry"),
      );
    }
    return out;
  }

  async function act(button, call, done, after) {
    button.disabled = true;
    try {
      await call();
      toast(done);
      if (after) await after();
    } catch (err) {
      fail(err);
    } finally {
      button.disabled = false;
    }
  }

  function failure(err) {
    return h("div", { class: "notice" }, err.status === 401 ? "An API key is needed to see this." : err.message);
  }

  // -- agents ---------------------------------------------------------------------------

  async function agentsPage(token) {
    const list = h("tbody", {}, h("tr", {}, h("td", { class: "empty", colspan: 5 }, "Loading…")));
    const form = h(
      "form",
      { id: "agent-form", class: "row", onsubmit: createAgent },
      h("label", {}, "Name", h("input", { type: "text", name: "name", required: true, maxlength: 200, placeholder: "support bot" })),
      h("label", {}, "Description", h("input", { type: "text", name: "description", placeholder: "optional" })),
      h("button", { class: "primary", type: "submit" }, "Create agent"),
    );
    view().replaceChildren(
      h("div", { class: "page-head" }, h("div", {}, h("h1", {}, "Agents"), h("div", { class: "muted" }, "Each agent has its own sources, jobs and vector namespace."))),
      h("section", { class: "card" }, h("h2", {}, "New agent"), form),
      h(
        "section",
        { class: "card" },
        h("h2", {}, "All agents"),
        h("table", {}, h("thead", {}, h("tr", {}, ["Name", "Sources", "Chunks", "Jobs", "Created"].map((t) => h("th", {}, t)))), list),
      ),
    );
    try {
      const agents = await listAll("/api/agents", 200);
      if (token !== page) return;
      if (!agents.length) {
        list.replaceChildren(h("tr", {}, h("td", { class: "empty", colspan: 5 }, "No agent yet: create one above.")));
        return;
      }
      // Counts for the newest 50 (a request each); older agents are listed without them.
      const detailed = await Promise.all(
        agents.map((a, i) => (i < 50 ? api(`/api/agents/${a.id}`).then((r) => r.data).catch(() => a) : a)),
      );
      if (token !== page) return;
      list.replaceChildren(
        ...detailed.map((a) => {
          const c = a.counts || { sources: "", chunks: "", jobs: {} };
          const active = (c.jobs.pending || 0) + (c.jobs.processing || 0);
          return h(
            "tr",
            { "data-agent": a.id },
            h("td", {}, h("a", { href: `#/agents/${a.id}` }, a.name), a.description ? h("div", { class: "muted small" }, a.description) : null),
            h("td", {}, c.sources),
            h("td", {}, c.chunks),
            h(
              "td",
              {},
              active ? `${active} active` : c.jobs.completed ? `${c.jobs.completed} completed` : "",
              c.jobs.failed ? h("span", { class: "error" }, ` · ${c.jobs.failed} failed`) : null,
            ),
            h("td", { class: "muted small" }, when(a.createdAt)),
          );
        }),
      );
    } catch (err) {
      if (err.status === 404 && localStorage.getItem(KEY)) {
        // An agent's own key may not list agents: it opens its agent by id.
        list.replaceChildren(h("tr", {}, h("td", { colspan: 5 }, agentKeyForm())));
      } else {
        list.replaceChildren(h("tr", {}, h("td", { colspan: 5 }, failure(err))));
      }
    }
  }

  function agentKeyForm() {
    return h(
      "form",
      {
        class: "row",
        onsubmit: (e) => {
          e.preventDefault();
          location.hash = `#/agents/${new FormData(e.target).get("agent").trim().toLowerCase()}`;
        },
      },
      h("span", { class: "muted" }, "This key belongs to one agent and cannot list the others."),
      h("label", {}, "Agent id", h("input", { type: "text", name: "agent", required: true, pattern: UUID })),
      h("button", { class: "primary", type: "submit" }, "Open"),
    );
  }

  async function createAgent(e) {
    e.preventDefault();
    const data = new FormData(e.target);
    const body = { name: data.get("name").trim() };
    if (data.get("description").trim()) body.description = data.get("description").trim();
    try {
      const answer = await api("/api/agents", { method: "POST", json: body });
      location.hash = `#/agents/${answer.data.id}`;
    } catch (err) {
      fail(err);
    }
  }

  // -- one agent ------------------------------------------------------------------------

  async function agentPage(agentId, token) {
    const jobs = new Map(); // id -> job
    let sources = new Map(); // id -> source
    let agent = null;
    const head = h("div", { class: "page-head" });
    const stats = h("div", { class: "stats" });
    const jobRows = h("tbody", { id: "jobs" });
    const sourceRows = h("tbody", { id: "sources" });
    let refreshTimer = null;

    let reloads = 0;
    const reload = async () => {
      // Reloads overlap (every event may ask for one): only the latest may paint, or an
      // older answer finishing last would bring back a list without the newest source.
      const mine = ++reloads;
      try {
        const [a, srcs, js] = await Promise.all([
          api(`/api/agents/${agentId}`),
          listAll(`/api/agents/${agentId}/sources`),
          listAll(`/api/agents/${agentId}/jobs`, 200),
        ]);
        if (token !== page || mine !== reloads) return;
        agent = a.data;
        sources = new Map(srcs.map((s) => [s.id, s]));
        for (const job of js) {
          const known = jobs.get(job.id);
          if (!known || !known.updatedAt || job.updatedAt >= known.updatedAt) jobs.set(job.id, job);
        }
        for (const id of [...jobs.keys()]) if (!js.some((j) => j.id === id) && !ACTIVE.has(jobs.get(id).status)) jobs.delete(id);
        renderHead();
        renderJobs();
        renderSources();
      } catch (err) {
        if (token === page) view().prepend(failure(err));
      }
    };
    const refreshSoon = () => {
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(reload, 400);
    };

    function renderHead() {
      head.replaceChildren(
        h(
          "div",
          {},
          h("div", { class: "crumbs" }, h("a", { href: "#/" }, "Agents"), " / ", agent.name),
          h("h1", {}, agent.name),
          h("div", { class: "muted small mono" }, agent.id),
        ),
        h("span", { class: "spacer" }),
        h("button", {
          class: "danger", type: "button", "data-action": "delete-agent",
          onclick: async (e) => {
            if (!confirm(`Delete agent "${agent.name}" with all its sources, jobs and vectors?`)) return;
            await act(e.target, () => api(`/api/agents/${agentId}`, { method: "DELETE" }), "Agent deleted", async () => { location.hash = "#/"; });
          },
        }, "Delete agent"),
      );
      const c = agent.counts || { sources: 0, chunks: 0, vectors: 0, jobs: {} };
      stats.replaceChildren(
        h("div", { class: "stat" }, h("b", {}, c.sources), "sources"),
        h("div", { class: "stat" }, h("b", {}, c.chunks), "chunks"),
        h("div", { class: "stat" }, h("b", {}, c.vectors), "vectors"),
        ...["pending", "processing", "completed", "failed", "cancelled"].map((s) => h("div", { class: "stat" }, h("b", {}, c.jobs[s] || 0), s)),
      );
    }

    function jobRow(job) {
      const source = sources.get(job.dataSourceId);
      return h(
        "tr",
        { id: `job-${job.id}`, "data-job": job.id, "data-status": job.status, "data-source": source ? source.name : "" },
        h("td", { class: "name-cell" }, source ? source.name : h("span", { class: "muted" }, "(deleted source)"), h("div", { class: "muted small" }, job.type)),
        h("td", {}, progressBar(job)),
        h("td", {}, badge(job.status)),
        h("td", { class: "small" }, `${job.attempts} / ${job.maxAttempts}`),
        h("td", {}, retryAt(job)),
        h("td", { class: "error" }, job.errorMessage || ""),
        h("td", { class: "actions" }, jobButtons(job, reload), h("a", { class: "small", href: `#/jobs/${job.id}` }, " details")),
      );
    }

    function renderJobs() {
      const list = [...jobs.values()].sort((a, b) => (a.createdAt && b.createdAt ? b.createdAt.localeCompare(a.createdAt) : 0));
      jobRows.replaceChildren(
        ...(list.length ? list.map(jobRow) : [h("tr", {}, h("td", { class: "empty", colspan: 7 }, "No job yet: add some knowledge above."))]),
      );
    }

    function renderSources() {
      const list = [...sources.values()];
      sourceRows.replaceChildren(
        ...(list.length
          ? list.map((s) =>
              h(
                "tr",
                { "data-source": s.id },
                h("td", { class: "name-cell", title: s.name }, s.name),
                h("td", {}, s.type),
                h("td", {}, badge(s.status)),
                h("td", {}, s.chunkCount),
                h("td", { class: "small name-cell" }, s.url ? h("a", { href: s.url, target: "_blank", rel: "noopener" }, s.url) : bytes(s.sizeBytes)),
                h("td", { class: "muted small" }, when(s.updatedAt)),
                h(
                  "td",
                  { class: "actions" },
                  h("button", {
                    class: "small", type: "button", "data-action": "reprocess", disabled: ACTIVE.has(s.status),
                    onclick: (e) => act(e.target, () => api(`/api/agents/${agentId}/sources/${s.id}/reprocess`, { method: "POST" }), "Source queued again", reload),
                  }, "Reprocess"),
                  h("button", {
                    class: "small danger", type: "button", "data-action": "delete-source",
                    onclick: (e) => {
                      if (!confirm(`Delete source "${s.name}" and its vectors?`)) return;
                      act(e.target, () => api(`/api/agents/${agentId}/sources/${s.id}`, { method: "DELETE" }), "Source deleted", reload);
                    },
                  }, "Delete"),
                ),
              ),
            )
          : [h("tr", {}, h("td", { class: "empty", colspan: 7 }, "No source yet."))]),
      );
    }

    function onEvent(event) {
      if (event.agentId !== agentId) return;
      const known = jobs.get(event.jobId);
      const job = merge(known, event);
      if (!job.createdAt) job.createdAt = event.updatedAt;
      jobs.set(event.jobId, job);
      const row = document.getElementById(`job-${event.jobId}`);
      if (row && known) row.replaceWith(jobRow(job));
      else renderJobs();
      // Sources follow their job; counts change when a job ends.
      if (!sources.has(event.sourceId) || TERMINAL.has(event.status) || event.status !== (known && known.status)) refreshSoon();
    }

    view().replaceChildren(
      head,
      h("section", { class: "card" }, stats),
      h("div", { class: "grid" }, addKnowledge(agentId, refreshSoon), searchCard(agentId, () => sources)),
      h(
        "section",
        { class: "card" },
        h("h2", {}, "Jobs"),
        h("table", {}, h("thead", {}, h("tr", {}, ["Source", "Progress", "Status", "Attempts", "Next retry", "Error", ""].map((t) => h("th", {}, t)))), jobRows),
      ),
      h(
        "section",
        { class: "card" },
        h("h2", {}, "Sources"),
        h("table", {}, h("thead", {}, h("tr", {}, ["Name", "Type", "Status", "Chunks", "Size / URL", "Updated", ""].map((t) => h("th", {}, t)))), sourceRows),
      ),
    );
    await reload();
    if (token === page && agent) openStream(`/api/realtime/agents/${agentId}/events`, onEvent);
  }

  function addKnowledge(agentId, after) {
    const created = (what) => (answer) => {
      toast(`${what} "${answer.data.name}" added: its job is queued`);
      after();
    };
    const submit = (what, build) => async (e) => {
      e.preventDefault();
      const form = e.target;
      const button = $("button[type=submit]", form);
      button.disabled = true;
      try {
        created(what)(await build(new FormData(form)));
        form.reset();
      } catch (err) {
        fail(err.status === 404 || err.status === 405 ? new ApiError(err.status, err.code, `${what} sources are not available on this server (${err.message})`) : err);
      } finally {
        button.disabled = false;
      }
    };
    const lines = (value) => String(value || "").split(/[\n,]/).map((s) => s.trim()).filter(Boolean);

    const text = h(
      "form",
      { id: "text-form", onsubmit: submit("Text", (d) => {
        const body = { text: d.get("text") };
        if (d.get("name").trim()) body.name = d.get("name").trim();
        return api(`/api/agents/${agentId}/sources/text`, { method: "POST", json: body });
      }) },
      h("label", {}, "Name", h("input", { type: "text", name: "name", placeholder: "optional: the first words are used" })),
      h("label", {}, "Text", h("textarea", { name: "text", required: true, placeholder: "Paste text here" })),
      h("div", { class: "row end" }, h("button", { class: "primary", type: "submit" }, "Add text")),
    );
    const file = h(
      "form",
      { id: "file-form", hidden: true, onsubmit: submit("File", (d) => {
        const body = new FormData();
        body.append("file", d.get("file"));
        if (d.get("name").trim()) body.append("name", d.get("name").trim());
        return api(`/api/agents/${agentId}/sources/file`, { method: "POST", form: body });
      }) },
      h("label", {}, "File (PDF, DOCX, CSV, JSON, TXT, MD)", h("input", { type: "file", name: "file", required: true })),
      h("label", {}, "Name", h("input", { type: "text", name: "name", placeholder: "optional: the file name is used" })),
      h("div", { class: "row end" }, h("button", { class: "primary", type: "submit" }, "Upload")),
    );
    const site = h(
      "form",
      { id: "website-form", hidden: true, onsubmit: submit("Website", (d) => {
        const body = {
          url: d.get("url").trim(),
          crawlSubpages: d.get("crawlSubpages") === "on",
          maxPages: Number(d.get("maxPages")),
          maxDepth: Number(d.get("maxDepth")),
          includePaths: lines(d.get("includePaths")),
          excludePaths: lines(d.get("excludePaths")),
          respectRobots: d.get("respectRobots") === "on",
        };
        if (d.get("name").trim()) body.name = d.get("name").trim();
        return api(`/api/agents/${agentId}/sources/website`, { method: "POST", json: body });
      }) },
      h("label", {}, "Start URL", h("input", { type: "url", name: "url", required: true, placeholder: "https://docs.example.com/" })),
      h("label", {}, "Name", h("input", { type: "text", name: "name", placeholder: "optional: the URL is used" })),
      h(
        "div",
        { class: "row" },
        h("label", {}, "Max pages", h("input", { type: "number", name: "maxPages", value: 50, min: 1, max: 1000 })),
        h("label", {}, "Max depth", h("input", { type: "number", name: "maxDepth", value: 3, min: 0, max: 20 })),
      ),
      h(
        "div",
        { class: "row" },
        h("label", {}, "Include paths (globs)", h("input", { type: "text", name: "includePaths", placeholder: "/docs/*, /guide/*" })),
        h("label", {}, "Exclude paths (globs)", h("input", { type: "text", name: "excludePaths", placeholder: "/blog/*" })),
      ),
      h(
        "div",
        { class: "row" },
        h("label", { class: "check" }, h("input", { type: "checkbox", name: "crawlSubpages", checked: true }), "Crawl subpages"),
        h("label", { class: "check" }, h("input", { type: "checkbox", name: "respectRobots", checked: true }), "Respect robots.txt"),
        h("span", { class: "spacer" }),
        h("button", { class: "primary", type: "submit" }, "Crawl"),
      ),
    );
    const forms = { text, file, website: site };
    const tabs = h(
      "div",
      { class: "tabs", role: "tablist" },
      Object.keys(forms).map((name, i) =>
        h("button", {
          type: "button", role: "tab", "aria-selected": i === 0 ? "true" : "false", "data-tab": name,
          onclick: (e) => {
            for (const b of tabs.children) b.setAttribute("aria-selected", b === e.target ? "true" : "false");
            for (const [n, f] of Object.entries(forms)) f.hidden = n !== name;
          },
        }, name === "website" ? "Website" : name === "file" ? "File" : "Text"),
      ),
    );
    return h("section", { class: "card" }, h("h2", {}, "Add knowledge"), tabs, text, file, site);
  }

  function where(hit) {
    const m = hit.metadata || {};
    if (m.url) return h("a", { href: m.url, target: "_blank", rel: "noopener", class: "hit-url" }, m.title || m.url);
    if (m.page !== undefined && m.page !== null) return h("span", { class: "hit-page" }, m.page_end && m.page_end !== m.page ? `pages ${m.page}–${m.page_end}` : `page ${m.page}`);
    return null;
  }

  function searchCard(agentId, sourcesNow) {
    const results = h("ol", { class: "hits", id: "hits" });
    const form = h(
      "form",
      {
        id: "search-form",
        onsubmit: async (e) => {
          e.preventDefault();
          const d = new FormData(e.target);
          results.replaceChildren(h("li", { class: "muted" }, "Searching…"));
          try {
            const answer = await api(`/api/agents/${agentId}/search`, { method: "POST", json: { query: d.get("query"), topK: Number(d.get("topK")) } });
            const names = sourcesNow();
            results.replaceChildren(
              ...(answer.data.length
                ? answer.data.map((hit, i) => {
                    const text = hit.text.length > 600 ? `${hit.text.slice(0, 597)}…` : hit.text;
                    const source = hit.sourceName || (names.get(hit.sourceId) || {}).name || hit.sourceId;
                    return h(
                      "li",
                      { class: "hit" },
                      h(
                        "div",
                        { class: "hit-head" },
                        h("b", {}, `${i + 1}.`),
                        h("span", { class: "score", title: "similarity score" }, hit.score.toFixed(3)),
                        h("span", { class: "hit-source" }, source),
                        where(hit),
                        h("span", { class: "muted" }, `chunk #${hit.chunkIndex}`),
                      ),
                      h("p", {}, text),
                    );
                  })
                : [h("li", { class: "muted" }, "No result: nothing is indexed yet for this agent.")]),
            );
          } catch (err) {
            results.replaceChildren();
            fail(err);
          }
        },
      },
      h(
        "div",
        { class: "row" },
        h("label", {}, "Query", h("input", { type: "search", name: "query", required: true, placeholder: "Ask the agent's knowledge…" })),
        h("label", { style: "flex:0 0 80px;min-width:0" }, "Top", h("select", { name: "topK" }, [3, 5, 10, 20].map((k) => h("option", { value: k, selected: k === 5 }, k)))),
        h("button", { class: "primary", type: "submit", style: "margin-top:8px" }, "Search"),
      ),
    );
    return h("section", { class: "card" }, h("h2", {}, "Search"), form, results);
  }

  // -- one job --------------------------------------------------------------------------

  async function jobPage(jobId, token) {
    let job;
    try {
      job = (await api(`/api/jobs/${jobId}`)).data;
    } catch (err) {
      view().replaceChildren(failure(err));
      return;
    }
    const [agent, source] = await Promise.all([
      api(`/api/agents/${job.agentId}`).then((r) => r.data).catch(() => null),
      api(`/api/agents/${job.agentId}/sources/${job.dataSourceId}`).then((r) => r.data).catch(() => null),
    ]);
    if (token !== page) return;
    const card = h("section", { class: "card", id: "job-card" });
    const timeline = h("ol", { class: "timeline", id: "timeline" });
    const entries = recorded(job);

    const reload = async () => {
      job = (await api(`/api/jobs/${jobId}`)).data;
      render();
    };

    function render() {
      card.replaceChildren(
        h("div", { class: "row" }, h("h2", { style: "margin:0" }, source ? source.name : job.type), badge(job.status), h("span", { class: "spacer" }), jobButtons(job, reload)),
        h("div", { style: "margin:14px 0" }, progressBar(job)),
        h(
          "dl",
          { class: "facts" },
          fact("Job", h("span", { class: "mono" }, job.id)),
          fact("Type", job.type),
          fact("Priority", job.priority),
          fact("Attempts", `${job.attempts} / ${job.maxAttempts}`),
          fact("Created", when(job.createdAt)),
          fact("Started", when(job.startedAt)),
          fact("Finished", when(job.completedAt)),
          fact("Next retry", retryAt(job)),
          fact("Error", job.errorMessage ? h("span", { class: "error" }, job.errorMessage) : null),
          fact("Result", job.result ? summary(job.result) : null),
        ),
      );
      timeline.replaceChildren(
        ...entries.map((e) =>
          h("li", { class: e.status }, h("time", {}, when(e.at)), h("b", {}, e.title), e.detail ? h("div", { class: "muted small" }, e.detail) : null),
        ),
      );
    }

    view().replaceChildren(
      h(
        "div",
        { class: "page-head" },
        h(
          "div",
          {},
          h("div", { class: "crumbs" }, h("a", { href: "#/" }, "Agents"), " / ", agent ? h("a", { href: `#/agents/${agent.id}` }, agent.name) : "(agent)", " / job"),
          h("h1", {}, "Job"),
        ),
      ),
      card,
      h("section", { class: "card" }, h("h2", {}, "Timeline"), h("p", { class: "muted small" }, "From the job's record, then every event received while this page is open."), timeline),
    );
    render();
    if (!TERMINAL.has(job.status)) {
      openStream(`/api/realtime/jobs/${jobId}/events`, (event, es) => {
        if (event.jobId !== jobId || (event.updatedAt && event.updatedAt <= job.updatedAt)) return; // already shown
        job = { ...merge(job, event), createdAt: job.createdAt, priority: job.priority };
        const stage = (event.progress || {}).stage || "";
        const last = entries[entries.length - 1];
        const detail = progressText(job) + (event.errorMessage ? ` — ${event.errorMessage}` : "");
        if (last && last.live && last.status === event.status && last.stage === stage) {
          Object.assign(last, { at: event.updatedAt, detail: `${detail} (${percentOf(job)}%)` });
        } else {
          entries.push({ at: event.updatedAt, status: event.status, stage, live: true, title: `${event.status}${stage ? ` · ${stage}` : ""}`, detail: `${detail} (${percentOf(job)}%)` });
        }
        if (TERMINAL.has(event.status)) {
          es.close(); // the stream ends after a terminal state; no reconnect
          setLive(null);
          reload().catch(fail);
        } else {
          render();
        }
      });
    }
  }

  function summary(result) {
    return h(
      "span",
      { class: "small" },
      Object.entries(result)
        .map(([k, v]) => `${k.replaceAll("_", " ")}: ${v !== null && typeof v === "object" ? JSON.stringify(v) : v}`)
        .join(" · "),
    );
  }

  function fact(name, value) {
    return [h("dt", {}, name), h("dd", {}, value === null || value === undefined || value === "" ? "—" : value)];
  }

  // What the job's own record tells, oldest first.
  function recorded(job) {
    const out = [{ at: job.createdAt, status: "pending", title: "queued", detail: `priority ${job.priority}` }];
    if (job.startedAt) out.push({ at: job.startedAt, status: "processing", title: `attempt ${Math.max(job.attempts, 1)} started` });
    if (job.status === "pending" && job.attempts > 0 && job.scheduledFor) {
      out.push({ at: job.updatedAt, status: "pending", title: "retry scheduled", detail: `for ${when(job.scheduledFor)}${job.errorMessage ? ` after: ${job.errorMessage}` : ""}` });
    }
    if (TERMINAL.has(job.status)) {
      out.push({ at: job.completedAt || job.updatedAt, status: job.status, title: job.status, detail: job.errorMessage || progressText(job) });
    }
    return out.sort((a, b) => String(a.at).localeCompare(String(b.at)));
  }

  // -- API key --------------------------------------------------------------------------

  function askKey(reason) {
    const dialog = $("#key-dialog");
    if (reason) $("#key-reason").textContent = reason;
    $("#key-input").value = localStorage.getItem(KEY) || "";
    if (!dialog.open) dialog.showModal();
  }

  function setupKey() {
    $("#key-button").addEventListener("click", () => askKey("The key is kept in this browser only and sent with every request."));
    $("#key-form").addEventListener("submit", () => {
      const key = $("#key-input").value.trim();
      if (key) localStorage.setItem(KEY, key);
      route();
    });
    $("#key-clear").addEventListener("click", () => {
      localStorage.removeItem(KEY);
      $("#key-dialog").close();
      route();
    });
  }

  // -- routing --------------------------------------------------------------------------

  function route() {
    closeStream();
    $("#toast").hidden = true;
    const token = ++page;
    const hash = location.hash || "#/";
    let m;
    if ((m = hash.match(new RegExp(`^#/agents/(${UUID})$`)))) agentPage(m[1], token).catch(fail);
    else if ((m = hash.match(new RegExp(`^#/jobs/(${UUID})$`)))) jobPage(m[1], token).catch(fail);
    else agentsPage(token).catch(fail);
  }

  window.addEventListener("hashchange", route);
  document.addEventListener("DOMContentLoaded", () => {
    setupKey();
    route();
  });
})();
