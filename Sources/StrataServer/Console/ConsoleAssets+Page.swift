extension ConsoleAssets {
    /// The console's one page; the script fills `main` for the route in the URL's fragment.
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Strata console</title>
        <link rel="icon" href="data:,">
        <link rel="stylesheet" href="/console/app.css">
        <script src="/console/chart.js"></script>
        <script src="/console/app.js" defer></script>
        </head>
        <body>
        <a class="skip" href="#main">Skip to content</a>
        <header>
          <div class="brand">Strata</div>
          <nav aria-label="Pages">
            <a href="#/streams" data-page="streams" accesskey="1">Streams</a>
            <a href="#/programs" data-page="programs" accesskey="2">Programs</a>
            <a href="#/ingest" data-page="ingest" accesskey="3">Ingest</a>
          </nav>
          <div class="status">
            <span id="live-dot" class="dot" aria-hidden="true"></span>
            <span id="status" role="status" aria-live="polite">connecting…</span>
            <button id="pause" type="button" title="Pause or resume live updates (p)">Pause</button>
          </div>
        </header>
        <div id="notice" class="notice" hidden></div>
        <main id="main" tabindex="-1"><p class="muted">Loading…</p></main>
        <footer>Keys: <kbd>1</kbd> Streams · <kbd>2</kbd> Programs · <kbd>3</kbd> Ingest · <kbd>p</kbd> pause ·
          <kbd>[</kbd> <kbd>]</kbd> previous / next interval · <kbd>/</kbd> interval box</footer>
        </body>
        </html>
        """#

    /// The console's style: readable on a laptop screen, visible keyboard focus.
    static let style = #"""
        :root { --bg:#f6f7f9; --panel:#fff; --ink:#1d2330; --muted:#677085; --line:#dde1e8; --accent:#2f6fde;
          --accent2:#e8793a; --good:#1f9d55; --warn:#c98a06; --bad:#cc3a3a; font-size:15px; }
        * { box-sizing:border-box; }
        body { margin:0; background:var(--bg); color:var(--ink);
          font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
        a { color:var(--accent); }
        :focus-visible { outline:3px solid var(--accent2); outline-offset:2px; }
        .skip { position:absolute; left:-999px; } .skip:focus { left:8px; top:8px; background:#fff; padding:4px; z-index:9; }
        header { display:flex; align-items:center; gap:24px; padding:10px 24px; background:#1d2330; color:#fff; }
        .brand { font-weight:700; letter-spacing:.04em; font-size:1.15rem; }
        nav a { color:#cfd6e4; text-decoration:none; padding:6px 12px; border-radius:6px; margin-right:4px; }
        nav a.active, nav a:hover { background:#34405a; color:#fff; }
        .status { margin-left:auto; display:flex; align-items:center; gap:10px; color:#cfd6e4; font-size:.9rem; }
        .status button { background:#34405a; color:#fff; border:0; border-radius:6px; padding:4px 10px; cursor:pointer; }
        .dot { width:9px; height:9px; border-radius:50%; background:var(--muted); display:inline-block; }
        .dot.live { background:#3ccf7a; } .dot.error { background:var(--bad); }
        main { padding:18px 24px 32px; max-width:1400px; margin:0 auto; }
        footer { color:var(--muted); font-size:.8rem; padding:8px 24px 20px; text-align:center; }
        kbd { border:1px solid var(--line); border-bottom-width:2px; border-radius:4px; padding:0 4px; background:#fff; }
        h1 { font-size:1.35rem; margin:4px 0 14px; } h2 { font-size:1.05rem; margin:0 0 10px; }
        .muted { color:var(--muted); }
        .panel { background:var(--panel); border:1px solid var(--line); border-radius:10px; padding:14px 16px; margin-bottom:16px; }
        .grid { display:grid; grid-template-columns:repeat(auto-fit, minmax(170px, 1fr)); gap:12px; margin-bottom:16px; }
        .card { background:var(--panel); border:1px solid var(--line); border-radius:10px; padding:10px 14px; }
        .card .label { color:var(--muted); font-size:.78rem; text-transform:uppercase; letter-spacing:.05em; }
        .card .value { font-size:1.3rem; font-weight:600; margin-top:2px; font-variant-numeric:tabular-nums; }
        table { border-collapse:collapse; width:100%; font-variant-numeric:tabular-nums; }
        th, td { text-align:left; padding:6px 10px; border-bottom:1px solid var(--line); white-space:nowrap; }
        th { font-size:.78rem; color:var(--muted); text-transform:uppercase; letter-spacing:.04em; font-weight:600; }
        td.num, th.num { text-align:right; }
        tr:hover td { background:#f0f4fb; }
        td.record { white-space:pre-wrap; word-break:break-all; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size:.85rem; }
        .chart-box { position:relative; height:260px; }
        .chart-box.small { height:200px; }
        .charts-off { color:var(--muted); font-style:italic; padding:20px; border:1px dashed var(--line); border-radius:8px; }
        form.inline { display:flex; flex-wrap:wrap; gap:10px; align-items:end; margin-bottom:12px; }
        form.inline label { display:flex; flex-direction:column; font-size:.8rem; color:var(--muted); gap:3px; }
        input, select { font:inherit; padding:5px 8px; border:1px solid var(--line); border-radius:6px; background:#fff; min-width:90px; }
        button.primary, button.nav { font:inherit; padding:6px 14px; border-radius:6px; border:1px solid var(--accent); cursor:pointer; }
        button.primary { background:var(--accent); color:#fff; } button.nav { background:#fff; color:var(--accent); }
        .error { color:var(--bad); } .notice { background:#fff3cd; color:#6b4e00; padding:8px 24px; border-bottom:1px solid #ecd9a0; }
        .badge { display:inline-block; font-size:.72rem; padding:1px 7px; border-radius:10px; background:#e6ecf8; color:#2b4a8b; margin-left:6px; }
        .badge.state { background:#fdebd9; color:#9a4b12; } .badge.lag { background:#fde2e2; color:#9b1c1c; }
        .partition-head td { background:#f3f5f9; font-weight:600; color:var(--muted); }
        svg.graph { width:100%; height:auto; background:#fbfcfe; border:1px solid var(--line); border-radius:8px; }
        svg.graph .stream rect { fill:#eef3fc; stroke:#8aa7de; }
        svg.graph .vertex rect { fill:#fff; stroke:#1d2330; stroke-width:1.5; }
        svg.graph .vertex.stateful rect { fill:#fff7ee; stroke:var(--accent2); stroke-width:2.5; }
        svg.graph text { font-size:12px; fill:var(--ink); font-family:inherit; }
        svg.graph text.sub { fill:var(--muted); font-size:10.5px; }
        svg.graph path { fill:none; stroke:#8892a6; stroke-width:1.4; }
        .two { display:grid; grid-template-columns:1fr 1fr; gap:16px; }
        @media (max-width: 1000px) { .two { grid-template-columns:1fr; } }
        """#
}
