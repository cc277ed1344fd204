extension ConsoleAssets {
    /// The console's script: routes on the URL fragment, polls the read API every two seconds,
    /// draws charts with Chart.js when it loaded, and the program graph as SVG.
    static let script = #"""
        "use strict";
        (function () {
        const POLL_MS = 2000;
        const state = { paused: false, timer: null, route: null, charts: {}, history: {}, token: sessionStorage.getItem("strata-token") || "" };
        const chartsAvailable = typeof window.Chart === "function";
        const $ = (sel, root) => (root || document).querySelector(sel);
        const esc = (v) => String(v === null || v === undefined ? "" : v).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
        const fmt = (n) => (n === null || n === undefined) ? "—" : Number(n).toLocaleString("en-US");
        function bytes(n) {
          if (n === null || n === undefined) return "—";
          const units = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0; let v = Number(n);
          while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
          return (i === 0 ? v : v.toFixed(1)) + " " + units[i];
        }
        const shortTime = (iso) => iso ? iso.replace(/^\d{4}-\d\d-\d\dT/, "").replace(/Z$/, "") : "—";
        const niceTime = (iso) => iso ? iso.replace("T", " ").replace(/Z$/, " UTC") : "—";

        // Fragment routes: #/streams, #/stream/NAME?from=&to=&interval=&partition=&key=, #/programs, #/program/NAME, #/ingest
        function parseRoute() {
          let hash = location.hash.replace(/^#/, "") || "/streams";
          const q = hash.indexOf("?");
          const params = new URLSearchParams(q >= 0 ? hash.slice(q + 1) : "");
          const path = (q >= 0 ? hash.slice(0, q) : hash).split("/").filter(Boolean).map(decodeURIComponent);
          if (params.has("token")) {
            state.token = params.get("token"); sessionStorage.setItem("strata-token", state.token); params.delete("token");
            const rest = params.toString();
            history.replaceState(null, "", "#/" + path.map(encodeURIComponent).join("/") + (rest ? "?" + rest : ""));
          }
          return { page: path[0] || "streams", name: path[1], params };
        }
        function setParams(route, changes) {
          const p = new URLSearchParams(route.params);
          for (const [k, v] of Object.entries(changes)) { if (v === null || v === undefined || v === "") p.delete(k); else p.set(k, v); }
          const s = p.toString();
          location.hash = "#/" + route.page + (route.name ? "/" + encodeURIComponent(route.name) : "") + (s ? "?" + s : "");
        }

        class HTTPError extends Error { constructor(status, message) { super(message); this.status = status; } }
        async function api(path, asText) {
          const headers = state.token ? { Authorization: "Bearer " + state.token } : {};
          const response = await fetch(path, { headers, cache: "no-store" });
          const text = await response.text();
          if (!response.ok) {
            let message = text;
            try { message = JSON.parse(text).error || text; } catch (e) { /* plain text */ }
            throw new HTTPError(response.status, message);
          }
          return asText ? text : JSON.parse(text);
        }

        function setStatus(text, kind) {
          $("#status").textContent = text;
          $("#live-dot").className = "dot " + (kind || "");
        }
        function notice(html) { const n = $("#notice"); n.hidden = !html; n.innerHTML = html || ""; }

        // Charts: one Chart.js instance per canvas id, updated in place.
        function chart(id, config) {
          const canvas = document.getElementById(id);
          if (!canvas) return;
          const points = config.data.datasets.reduce((s, d) => s + d.data.filter((x) => x !== null && x !== undefined).length, 0);
          canvas.dataset.points = String(points);
          if (!chartsAvailable) return;
          const existing = state.charts[id];
          if (existing && existing.canvas === canvas) {
            existing.data = config.data; existing.update("none");
            return;
          }
          if (existing) existing.destroy();
          config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false,
            interaction: { mode: "index", intersect: false }, plugins: { legend: { position: "bottom" } } }, config.options || {});
          state.charts[id] = new Chart(canvas, config);
        }
        function chartBox(id, cls) {
          return chartsAvailable
            ? `<div class="chart-box ${cls || ""}"><canvas id="${id}" role="img" aria-label="chart"></canvas></div>`
            : `<div class="charts-off" id="${id}-off">Charts are unavailable: Chart.js was not found on the server (install Debian's libjs-chart.js). The numbers below are complete.<canvas id="${id}" hidden></canvas></div>`;
        }
        const palette = ["#2f6fde", "#e8793a", "#1f9d55", "#9b51e0", "#cc3a3a", "#0e9aa7", "#c98a06", "#5d6b82"];
        function remember(key, value, max) {
          const h = state.history[key] || (state.history[key] = []);
          h.push(value); if (h.length > (max || 180)) h.shift();
          return h;
        }

        // Pages.
        async function streamsPage(route) {
          const all = route.params.get("all") === "true";
          const data = await api("/api/streams" + (all ? "?all=true" : ""));
          const series = await Promise.all(data.streams.map((s) => s.sealedThrough === null ? null
            : api("/api/streams/" + encodeURIComponent(s.name) + "/intervals").catch(() => null)));
          const main = $("#main");
          if (!$("#streams-table", main)) {
            main.innerHTML = `<h1>Streams</h1>
              <div class="panel"><h2>Records per second, last intervals</h2>${chartBox("chart-rates")}</div>
              <div class="panel"><h2>All streams <label class="muted" style="font-weight:400;margin-left:12px">
                <input type="checkbox" id="show-all" ${all ? "checked" : ""}> internal streams too</label></h2>
                <div style="overflow-x:auto"><table id="streams-table"></table></div></div>`;
            $("#show-all").addEventListener("change", (e) => setParams(route, { all: e.target.checked ? "true" : null }));
          }
          let rows = `<thead><tr><th>Stream</th><th>Type</th><th>Interval</th><th class="num">Partitions</th>
            <th>Sealed through</th><th class="num">Intervals</th><th class="num">Records</th><th class="num">Stored</th>
            <th class="num">Ratio</th><th>Retention</th><th class="num">Late</th><th class="num">Dead letters</th></tr></thead><tbody>`;
          for (const s of data.streams) {
            const st = s.stats || {};
            rows += `<tr data-stream="${esc(s.name)}"><td><a href="#/stream/${encodeURIComponent(s.name)}">${esc(s.name)}</a>${s.internal ? '<span class="badge">internal</span>' : ""}</td>
              <td>${esc(s.type === "json" ? "JSON" : s.type.replace(/^Swift\.|StrataStorage\./g, ""))}</td><td>${esc(s.interval)}</td><td class="num">${s.partitions}</td>
              <td>${esc(niceTime(s.sealedThroughTime))}</td><td class="num">${fmt(st.intervals)}</td>
              <td class="num records">${fmt(st.records)}</td><td class="num">${bytes(st.storedBytes)}</td>
              <td class="num">${st.compressionRatio ? st.compressionRatio.toFixed(2) + "×" : "—"}</td><td>${esc(s.retention)}</td>
              <td class="num">${fmt(s.lateRecords)}</td><td class="num">${fmt(s.deadLetters)}</td></tr>`;
          }
          if (data.streams.length === 0) rows += `<tr><td colspan="12" class="muted">No streams yet: POST JSON lines to /streams/NAME.</td></tr>`;
          $("#streams-table").innerHTML = rows + "</tbody>";
          // Records/s: per-interval counts over the interval length, aligned on interval start times.
          const labels = new Set(); const sets = [];
          series.forEach((s, i) => {
            if (!s || s.intervals.length === 0) return;
            const seconds = s.intervalNanoseconds / 1e9;
            const points = new Map(s.intervals.map((iv) => [iv.time, iv.records / seconds]));
            points.forEach((_, t) => labels.add(t));
            sets.push({ name: data.streams[i].name, points });
          });
          const sorted = [...labels].sort();
          chart("chart-rates", { type: "line", data: { labels: sorted.map(shortTime), datasets: sets.map((s, i) => ({
            label: s.name, data: sorted.map((t) => s.points.has(t) ? s.points.get(t) : null), borderColor: palette[i % palette.length],
            backgroundColor: palette[i % palette.length] + "33", pointRadius: 0, borderWidth: 2, spanGaps: true, fill: false })) },
            options: { scales: { y: { beginAtZero: true, title: { display: true, text: "records/s" } } } } });
        }

        async function streamPage(route) {
          const name = route.name;
          const p = route.params;
          const q = new URLSearchParams();
          if (p.get("from")) q.set("from", p.get("from"));
          if (p.get("to")) q.set("to", p.get("to"));
          const [info, iv] = await Promise.all([api("/api/streams/" + encodeURIComponent(name)),
            api("/api/streams/" + encodeURIComponent(name) + "/intervals" + (q.toString() ? "?" + q : ""))]);
          const main = $("#main");
          if (!$("#stream-cards", main) || main.dataset.stream !== name) {
            main.dataset.stream = name;
            main.innerHTML = `<h1>Stream <span id="stream-name">${esc(name)}</span></h1><div class="grid" id="stream-cards"></div>
              <div class="panel"><h2>Records and bytes per interval</h2>
                <form class="inline" id="range-form"><label>From<input name="from" value="${esc(p.get("from") || "")}" placeholder="interval, 21:00, ISO…"></label>
                <label>To<input name="to" value="${esc(p.get("to") || "")}" placeholder="newest"></label>
                <button class="primary" type="submit">Show range</button></form>${chartBox("chart-intervals")}</div>
              <div class="panel"><h2>Interval browser</h2>
                <form class="inline" id="browse-form"><label>Interval or time<input id="browse-at" name="interval" value="${esc(p.get("interval") || "")}" placeholder="index, HH:MM:SS, ISO 8601"></label>
                <label>Partition<select name="partition" id="browse-partition"><option value="">all</option>${Array.from({ length: info.partitions }, (_, i) => `<option value="${i}" ${p.get("partition") === String(i) ? "selected" : ""}>${i}</option>`).join("")}</select></label>
                <label>Key<input name="key" value="${esc(p.get("key") || "")}" placeholder="any"></label>
                <button class="primary" type="submit">Show records</button>
                <button class="nav" type="button" id="prev-interval" title="Previous interval ([)">◀ Previous</button>
                <button class="nav" type="button" id="next-interval" title="Next interval (])">Next ▶</button></form>
                <div id="browser-result" class="muted">Pick an interval (its index or a time) or click a bar.</div></div>`;
            $("#range-form").addEventListener("submit", (e) => { e.preventDefault(); const f = new FormData(e.target); setParams(route, { from: f.get("from"), to: f.get("to") }); });
            $("#browse-form").addEventListener("submit", (e) => { e.preventDefault(); const f = new FormData(e.target); setParams(route, { interval: f.get("interval"), partition: f.get("partition"), key: f.get("key") }); });
            $("#prev-interval").addEventListener("click", () => step(-1));
            $("#next-interval").addEventListener("click", () => step(1));
          }
          const st = info.stats || {};
          $("#stream-cards").innerHTML = [["Records", fmt(st.records)], ["Intervals", fmt(st.intervals)], ["Sealed through", shortTime(info.sealedThroughTime) + (info.sealedThrough !== null ? ` <span class="muted" style="font-size:.8rem">#${info.sealedThrough}</span>` : "")],
            ["Stored", bytes(st.storedBytes)], ["Ratio", st.compressionRatio ? st.compressionRatio.toFixed(2) + "×" : "—"], ["Partitions", info.partitions],
            ["Interval", esc(info.interval)], ["Retention", esc(info.retention)], ["Late", fmt(info.lateRecords)], ["Dead letters", fmt(info.deadLetters)]]
            .map(([l, v]) => `<div class="card"><div class="label">${l}</div><div class="value">${v}</div></div>`).join("");
          chart("chart-intervals", { type: "bar", data: { labels: iv.intervals.map((x) => shortTime(x.time)), datasets: [
              { label: "records", data: iv.intervals.map((x) => x.records), backgroundColor: "#2f6fde", yAxisID: "y" },
              { label: "stored bytes", data: iv.intervals.map((x) => x.storedBytes), backgroundColor: "#e8793a99", yAxisID: "y1" }] },
            options: { onClick: (evt, elements) => { const now = state.lastIntervals; if (elements.length && now) setParams(state.route, { interval: String(now.intervals[elements[0].index].interval) }); },
              scales: { y: { beginAtZero: true, title: { display: true, text: "records" } },
                        y1: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false }, title: { display: true, text: "bytes" } } } } });
          state.lastIntervals = iv;
          if (p.get("interval")) await browse(name, p);
        }
        async function browse(name, p) {
          const key = [p.get("interval"), p.get("partition"), p.get("key")].join("|");
          const out = $("#browser-result");
          if (out.dataset.key === key) return; // an interval's records never change once sealed
          try {
            const at = await api("/api/streams/" + encodeURIComponent(name) + "/resolve?t=" + encodeURIComponent(p.get("interval")));
            const q = new URLSearchParams({ interval: String(at.interval), limit: "1000" });
            if (p.get("partition")) q.set("partition", p.get("partition"));
            if (p.get("key")) q.set("key", p.get("key"));
            const text = await api("/api/streams/" + encodeURIComponent(name) + "/records?" + q, true);
            const lines = text.split("\n").filter(Boolean).map((l) => JSON.parse(l));
            const failure = lines.find((l) => l.error);
            if (failure) throw new Error(failure.error);
            state.browsed = at.interval;
            let html = `<p><strong>Interval <span id="browsed-interval">${at.interval}</span></strong> · starts ${esc(niceTime(at.time))} ·
              <span id="browsed-count">${lines.length}</span> record${lines.length === 1 ? "" : "s"}${lines.length >= 1000 ? " (first 1000)" : ""}</p>`;
            html += `<div style="overflow-x:auto;max-height:520px"><table id="records-table"><thead><tr><th class="num">#</th><th>Record</th></tr></thead><tbody>`;
            let partition = null; let n = 0;
            for (const l of lines) {
              if (l.partition !== partition) { partition = l.partition; n = 0; html += `<tr class="partition-head"><td colspan="2">Partition ${partition}</td></tr>`; }
              html += `<tr data-partition="${l.partition}"><td class="num">${n++}</td><td class="record">${esc(JSON.stringify(l.record))}</td></tr>`;
            }
            if (lines.length === 0) html += `<tr><td colspan="2" class="muted">No records${p.get("key") ? " with this key" : ""} in this interval.</td></tr>`;
            out.innerHTML = html + "</tbody></table></div>";
            out.className = "";
            out.dataset.key = key;
          } catch (e) {
            out.innerHTML = `<p class="error">${esc(e.message)}</p>`; out.className = ""; out.dataset.key = "";
          }
        }
        function step(delta) {
          const route = state.route;
          if (!route || route.page !== "stream") return;
          let base = state.browsed;
          if (base === undefined || base === null) { const iv = state.lastIntervals; if (!iv || iv.last === null) return; base = iv.last; }
          setParams(route, { interval: String(Math.max(0, base + delta)) });
        }

        function graphSVG(program) {
          // Layers: a stream read by no vertex of this program starts at 0; a vertex sits one after its inputs.
          const nodes = new Map(); const edges = [];
          const node = (id, kind, label, data) => { if (!nodes.has(id)) nodes.set(id, { id, kind, label, data, layer: 0 }); return nodes.get(id); };
          for (const v of program.vertices) {
            node("v:" + v.name, "vertex", v.name, v);
            for (const s of v.inputs) { node("s:" + s, "stream", s); edges.push(["s:" + s, "v:" + v.name]); }
            for (const s of v.outputs) { node("s:" + s, "stream", s); edges.push(["v:" + v.name, "s:" + s]); }
          }
          for (let pass = 0; pass < nodes.size; pass++) {
            let changed = false;
            for (const [a, b] of edges) { const na = nodes.get(a), nb = nodes.get(b); if (nb.layer < na.layer + 1) { nb.layer = na.layer + 1; changed = true; } }
            if (!changed) break;
          }
          const layers = [];
          for (const n of nodes.values()) (layers[n.layer] = layers[n.layer] || []).push(n);
          const W = 190, H = 46, GX = 70, GY = 22;
          let height = 0;
          layers.forEach((layer, i) => layer.forEach((n, j) => { n.x = 20 + i * (W + GX); n.y = 20 + j * (H + GY); height = Math.max(height, n.y + H + 20); }));
          const width = 40 + layers.length * (W + GX) - GX;
          let svg = `<svg class="graph" id="graph-${esc(program.name)}" viewBox="0 0 ${width} ${height}" role="img" aria-label="Graph of program ${esc(program.name)}">
            <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#8892a6"/></marker></defs>`;
          for (const [a, b] of edges) {
            const na = nodes.get(a), nb = nodes.get(b);
            const x1 = na.x + W, y1 = na.y + H / 2, x2 = nb.x, y2 = nb.y + H / 2, mx = (x1 + x2) / 2;
            svg += `<path d="M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 2},${y2}" marker-end="url(#arrow)"/>`;
          }
          const cut = (s) => s.length > 26 ? s.slice(0, 25) + "…" : s;
          for (const n of nodes.values()) {
            if (n.kind === "vertex") {
              const v = n.data;
              svg += `<g class="vertex${v.stateful ? " stateful" : ""}" data-vertex="${esc(v.name)}"><title>${esc(v.name)}</title><rect x="${n.x}" y="${n.y}" width="${W}" height="${H}" rx="6"/>
                <text x="${n.x + 10}" y="${n.y + 19}">${esc(cut(v.name))}${v.stateful ? " ◆ state" : ""}</text>
                <text class="sub" x="${n.x + 10}" y="${n.y + 36}">progress ${v.progress} · lag ${v.lag === null ? "?" : v.lag}</text></g>`;
            } else {
              svg += `<g class="stream" data-stream="${esc(n.label)}"><title>${esc(n.label)}</title><rect x="${n.x}" y="${n.y}" width="${W}" height="${H}" rx="22"/>
                <text x="${n.x + 14}" y="${n.y + 28}">${esc(cut(n.label))}</text></g>`;
            }
          }
          return svg + "</svg>";
        }

        // Per-interval timings, from the rows the engine keeps in the store (GET /api/programs/NAME/timings):
        // the same whichever process runs the program. One point per processed interval, by interval start time.
        function timingSets(t, field) {
          const labels = [...new Set(t.vertices.flatMap((v) => v.timings.map((x) => x.interval)))].sort((a, b) => a - b);
          const at = new Map(labels.map((x, i) => [x, i]));
          const times = new Map(t.vertices.flatMap((v) => v.timings.map((x) => [x.interval, x.time])));
          const sets = t.vertices.map((v, i) => {
            const data = new Array(labels.length).fill(null);
            for (const x of v.timings) data[at.get(x.interval)] = x[field];
            return { label: v.name, data, borderColor: palette[i % palette.length], backgroundColor: palette[i % palette.length],
              pointRadius: 2, borderWidth: 2, spanGaps: true };
          });
          return { labels: labels.map((x) => times.get(x) ? times.get(x).slice(11, 19) : String(x)), datasets: sets };
        }
        function startText(v) {
          switch (v.lastStart) {
            case "resumed": return "resumed after a clean stop";
            case "crash-recovery": return "recovered after a crash";
            case "restart-after-failure": return "restarted after a failure";
            case "first": return "first run";
            default: return "—";
          }
        }
        function speculationText(v) {
          if (!v.speculativeLaunches) return "0";
          const rate = v.speculativePer100Intervals === null ? "" : `, ${v.speculativePer100Intervals.toFixed(1)}/100 intervals`;
          return `${fmt(v.speculativeLaunches)} (${fmt(v.speculativeWins)} won${rate})`;
        }

        async function programsPage(route) {
          const data = await api("/api/programs" + (route.name ? "/" + encodeURIComponent(route.name) : ""));
          const timings = {};
          await Promise.all(data.programs.map(async (p) => {
            timings[p.name] = await api("/api/programs/" + encodeURIComponent(p.name) + "/timings?last=120").catch(() => ({ vertices: [] }));
          }));
          const main = $("#main");
          const shape = JSON.stringify(data.programs.map((p) => [p.name, p.vertices.map((v) => [v.name, v.inputs, v.outputs])]));
          if (main.dataset.shape !== shape || !$("#programs", main)) {
            main.dataset.shape = shape;
            let html = `<h1>Programs</h1><div id="programs">`;
            if (data.programs.length === 0) html += `<div class="panel muted">No program has committed anything in this store yet.</div>`;
            for (const p of data.programs) {
              const stateful = p.vertices.filter((v) => v.stateStreams.length);
              html += `<section class="panel program" data-program="${esc(p.name)}"><h2>Program ${esc(p.name)}</h2>${graphSVG(p)}
                <div style="overflow-x:auto;margin-top:12px"><table class="vertices" id="vertices-${esc(p.name)}"></table></div>
                <div class="two" style="margin-top:12px"><div><h2>Progress lag (intervals), while this page is open</h2>${chartBox("chart-lag-" + p.name, "small")}</div>
                <div><h2>Intervals processed per poll</h2>${chartBox("chart-rate-" + p.name, "small")}</div>
                <div><h2>Processing time per interval (ms)</h2>${chartBox("chart-proc-" + p.name, "small")}</div>
                <div><h2>Scheduling delay per interval (ms)</h2>${chartBox("chart-delay-" + p.name, "small")}</div>
                <div><h2>Records in per interval</h2>${chartBox("chart-in-" + p.name, "small")}</div></div>
                <p class="muted timings-note" id="timings-note-${esc(p.name)}" hidden>No timings yet: the engine records one row per processed interval (the newest 256 per vertex), whichever process runs the program.</p>
                <p class="muted run-note" id="run-note-${esc(p.name)}"></p>
                ${stateful.length ? `<h2 style="margin-top:14px">State as of</h2><form class="inline state-form" data-program="${esc(p.name)}">
                  <label>Stateful output<select name="stream">${stateful.flatMap((v) => v.stateStreams).map((s) => `<option>${esc(s)}</option>`).join("")}</select></label>
                  <label>As of<input name="asof" placeholder="newest; index or time"></label><label>Key<input name="key" placeholder="top keys"></label>
                  <label>Top<input name="top" value="10" size="4"></label><button class="primary" type="submit">Show state</button></form>
                  <div class="state-result muted">Rebuilt from the nearest snapshot plus the changes after it.</div>` : ""}</section>`;
            }
            main.innerHTML = html + "</div>";
            main.querySelectorAll(".state-form").forEach((form) => form.addEventListener("submit", async (e) => {
              e.preventDefault();
              const f = new FormData(form); const out = form.nextElementSibling;
              const q = new URLSearchParams();
              if (f.get("asof")) q.set("as-of", f.get("asof"));
              if (f.get("key")) q.set("key", f.get("key")); else if (f.get("top")) q.set("top", f.get("top"));
              try {
                const s = await api("/api/state/" + encodeURIComponent(f.get("stream")) + "?" + q);
                out.className = "state-result";
                out.innerHTML = `<p>As of interval ${s.asOf} (${esc(niceTime(s.time))}): ${fmt(s.keys)} key${s.keys === 1 ? "" : "s"}, from ${s.snapshot === null ? "the stream's start" : "snapshot " + s.snapshot} plus ${s.replayedIntervals} interval${s.replayedIntervals === 1 ? "" : "s"} of changes.</p>
                  <table><thead><tr><th>Key</th><th>Value</th></tr></thead><tbody>${s.entries.map((e) => `<tr><td>${esc(JSON.stringify(e.key))}</td><td>${esc(JSON.stringify(e.value))}</td></tr>`).join("") || '<tr><td colspan="2" class="muted">no entry</td></tr>'}</tbody></table>`;
              } catch (err) { out.className = "state-result error"; out.textContent = err.message; }
            }));
          }
          const now = new Date().toISOString().slice(11, 19);
          for (const p of data.programs) {
            let rows = `<thead><tr><th>Vertex</th><th>Reads</th><th>Writes</th><th class="num">Progress</th><th>Progress time</th><th class="num">Lag</th>
              <th class="num">Last snapshot</th><th class="num">Snapshots</th><th>Last start</th><th class="num">Crash recoveries</th><th class="num">Resumes</th><th class="num">Retries</th><th class="num">Speculative copies</th></tr></thead><tbody>`;
            for (const v of p.vertices) {
              rows += `<tr data-vertex="${esc(v.name)}"><td>${esc(v.name)}${v.stateful ? '<span class="badge state">stateful</span>' : ""}${v.lag ? '<span class="badge lag">behind</span>' : ""}</td>
                <td>${v.inputs.map(esc).join(", ")}</td><td>${v.outputs.map(esc).join(", ") || '<span class="muted">—</span>'}</td>
                <td class="num">${v.progress}</td><td>${esc(niceTime(v.progressTime))}</td><td class="num">${v.lag === null ? "?" : fmt(v.lag)}</td>
                <td class="num">${v.lastSnapshot === null ? "—" : v.lastSnapshot}</td><td class="num">${fmt(v.snapshots)}</td><td>${esc(startText(v))}${v.runState === "running" ? '<span class="badge">running</span>' : ""}</td>
                <td class="num">${fmt(v.recoveries)}</td><td class="num">${fmt(v.resumes)}</td><td class="num">${fmt(v.retries)}</td><td class="num">${esc(speculationText(v))}</td></tr>`;
            }
            const table = document.getElementById("vertices-" + p.name);
            if (table) table.innerHTML = rows + "</tbody>";
            const lagSets = [], rateSets = [];
            p.vertices.forEach((v, i) => {
              const lag = remember("lag:" + v.name, { t: now, v: v.lag || 0 });
              const prog = remember("prog:" + v.name, { t: now, v: v.progress });
              lagSets.push({ label: v.name, data: lag.map((x) => x.v), borderColor: palette[i % palette.length], pointRadius: 1, borderWidth: 2 });
              rateSets.push({ label: v.name, data: prog.map((x, j) => j === 0 ? 0 : Math.max(0, x.v - prog[j - 1].v)), borderColor: palette[i % palette.length], pointRadius: 1, borderWidth: 2 });
            });
            const labels = (state.history["lag:" + (p.vertices[0] || {}).name] || []).map((x) => x.t);
            chart("chart-lag-" + p.name, { type: "line", data: { labels, datasets: lagSets }, options: { scales: { y: { beginAtZero: true } } } });
            chart("chart-rate-" + p.name, { type: "line", data: { labels, datasets: rateSets }, options: { scales: { y: { beginAtZero: true } } } });
            const t = timings[p.name] || { vertices: [] };
            const timed = t.vertices.some((v) => v.timings.length > 0);
            chart("chart-proc-" + p.name, { type: "line", data: timingSets(t, "processingMs"), options: { scales: { y: { beginAtZero: true } } } });
            chart("chart-delay-" + p.name, { type: "line", data: timingSets(t, "schedulingDelayMs"), options: { scales: { y: { beginAtZero: true } } } });
            chart("chart-in-" + p.name, { type: "bar", data: timingSets(t, "recordsIn"), options: { scales: { y: { beginAtZero: true } } } });
            const note = document.getElementById("timings-note-" + p.name);
            if (note) note.hidden = timed;
            const runNote = document.getElementById("run-note-" + p.name);
            if (runNote) {
              const crashed = p.vertices.filter((v) => v.lastStart === "crash-recovery").map((v) => v.name);
              const running = p.vertices.some((v) => v.runState === "running");
              runNote.textContent = (crashed.length ? `Recovered after a crash (${crashed.join(", ")} mid-run). ` : "") +
                (p.vertices.some((v) => v.lastStart === "resumed") ? "Resumed after a clean stop. " : "") +
                (running ? "Marked running (a run in progress, or one whose process died)." : "Not running: the last run stopped.");
            }
          }
        }

        async function ingestPage() {
          const m = await api("/api/ingest");
          const now = Date.now();
          const prev = state.lastIngest;
          state.lastIngest = { at: now, m };
          const secs = prev ? Math.max(0.001, (now - prev.at) / 1000) : null;
          const rate = (k) => secs === null ? 0 : Math.max(0, (m[k] - prev.m[k]) / secs);
          const t = new Date(now).toISOString().slice(11, 19);
          const acc = remember("ing:acc", { t, v: rate("recordsAccepted") }), rej = remember("ing:rej", { t, v: rate("recordsRejected") });
          const files = remember("ing:file", { t, v: rate("fileBytes") / 1024 });
          const main = $("#main");
          if (!$("#ingest-cards", main)) {
            main.innerHTML = `<h1>Ingest</h1><div class="grid" id="ingest-cards"></div>
              <div class="panel"><h2>Records per second (receiver and directory sources), while this page is open</h2>${chartBox("chart-ingest")}</div>
              <div class="two"><div class="panel"><h2>HTTP responses</h2><table id="responses"></table></div>
              <div class="panel"><h2>Directory sources</h2><table id="sources"></table></div></div>`;
          }
          $("#ingest-cards").innerHTML = [["Accepted", fmt(m.recordsAccepted)], ["Accepted/s", fmt(Math.round(rate("recordsAccepted")))], ["Rejected", fmt(m.recordsRejected)],
            ["Dead letters", fmt(m.deadLetters)], ["Late", fmt(m.recordsLate)], ["Backpressure waits", fmt(m.backpressureWaits)], ["Queued", bytes(m.queuedBytes)],
            ["Commits", fmt(m.commits)], ["Body bytes", bytes(m.bodyBytes)], ["Files read", fmt(m.filesRead)]]
            .map(([l, v]) => `<div class="card"><div class="label">${l}</div><div class="value" data-metric="${l}">${v}</div></div>`).join("");
          $("#responses").innerHTML = `<thead><tr><th>Status</th><th class="num">Responses</th></tr></thead><tbody>` +
            (Object.entries(m.responses).map(([c, n]) => `<tr><td>${esc(c)}</td><td class="num">${fmt(n)}</td></tr>`).join("") || `<tr><td colspan="2" class="muted">none yet</td></tr>`) + "</tbody>";
          $("#sources").innerHTML = `<thead><tr><th>Directory</th><th>Stream</th><th class="num">Files</th><th class="num">Bytes</th><th class="num">Accepted</th><th class="num">Rejected</th></tr></thead><tbody>` +
            (m.sources.map((s) => `<tr><td>${esc(s.directory)}</td><td>${esc(s.stream)}</td><td class="num">${fmt(s.filesRead)}</td><td class="num">${bytes(s.fileBytes)}</td><td class="num">${fmt(s.recordsAccepted)}</td><td class="num">${fmt(s.recordsRejected)}</td></tr>`).join("") || `<tr><td colspan="6" class="muted">no directory watched (serve --watch DIR)</td></tr>`) + "</tbody>";
          chart("chart-ingest", { type: "line", data: { labels: acc.map((x) => x.t), datasets: [
            { label: "accepted/s", data: acc.map((x) => x.v), borderColor: palette[0], pointRadius: 0, borderWidth: 2 },
            { label: "rejected/s", data: rej.map((x) => x.v), borderColor: palette[4], pointRadius: 0, borderWidth: 2 },
            { label: "directory KiB/s", data: files.map((x) => x.v), borderColor: palette[2], pointRadius: 0, borderWidth: 2 }] },
            options: { scales: { y: { beginAtZero: true } } } });
        }

        function askToken(message) {
          const main = $("#main");
          main.innerHTML = `<div class="panel"><h1>Token needed</h1><p>${esc(message)}</p><form class="inline" id="token-form">
            <label>Bearer token<input type="password" id="token-input" autocomplete="off"></label><button class="primary" type="submit">Use token</button></form></div>`;
          $("#token-input").focus();
          $("#token-form").addEventListener("submit", (e) => { e.preventDefault(); state.token = $("#token-input").value; sessionStorage.setItem("strata-token", state.token); main.innerHTML = ""; refresh(); });
        }

        async function refresh() {
          clearTimeout(state.timer);
          const route = parseRoute();
          const changed = !state.route || state.route.page !== route.page || state.route.name !== route.name;
          state.route = route;
          if (changed) { $("#main").innerHTML = ""; $("#main").dataset.shape = ""; }
          document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === route.page || (a.dataset.page === "streams" && route.page === "stream") || (a.dataset.page === "programs" && route.page === "program")));
          try {
            if (route.page === "stream" && route.name) { await streamPage(route); document.title = route.name + " · Strata"; }
            else if (route.page === "programs" || route.page === "program") { await programsPage(route); document.title = "Programs · Strata"; }
            else if (route.page === "ingest") { await ingestPage(); document.title = "Ingest · Strata"; }
            else { await streamsPage(route); document.title = "Streams · Strata"; }
            setStatus((state.paused ? "paused · " : "live · ") + "updated " + new Date().toLocaleTimeString(), state.paused ? "" : "live");
            document.body.dataset.loaded = "true";
          } catch (e) {
            if (e.status === 401) { askToken(e.message); setStatus("token needed", "error"); return; }
            setStatus("error: " + e.message, "error");
            if (!$("#main").innerHTML) $("#main").innerHTML = `<div class="panel error">${esc(e.message)}</div>`;
          }
          if (!state.paused) state.timer = setTimeout(refresh, POLL_MS);
        }

        window.addEventListener("hashchange", () => { $("#browser-result") && ($("#browser-result").dataset.key = ""); refresh(); });
        $("#pause").addEventListener("click", () => { state.paused = !state.paused; $("#pause").textContent = state.paused ? "Resume" : "Pause"; refresh(); });
        document.addEventListener("keydown", (e) => {
          if (e.target.closest("input, select, textarea") || e.ctrlKey || e.metaKey || e.altKey) return;
          if (e.key === "1") location.hash = "#/streams";
          else if (e.key === "2") location.hash = "#/programs";
          else if (e.key === "3") location.hash = "#/ingest";
          else if (e.key === "p") $("#pause").click();
          else if (e.key === "[") step(-1);
          else if (e.key === "]") step(1);
          else if (e.key === "/") { const box = $("#browse-at"); if (box) { e.preventDefault(); box.focus(); } }
          else return;
        });
        if (!chartsAvailable) notice("Charts are unavailable: the server has no Chart.js (Debian's <code>libjs-chart.js</code>). Everything else works.");
        refresh();
        })();
        """#
}
