/* global echarts, document, window, fetch, URLSearchParams, ResizeObserver, AbortController, setTimeout, clearTimeout */
/**
 * The local dashboard page. It asks the server for the panel definitions (the same list
 * the Grafana dashboard is generated from), draws each with ECharts or as a table, and
 * refreshes everything every few seconds. No framework, no build step: one file the
 * server sends as-is.
 */
(function () {
  'use strict';
  const prefix = document.body.dataset.prefix || '/dashboard';
  const state = { config: null, charts: new Map(), busy: false, timer: null, rangeHours: 24, events: [] };
  const TAG_COLORS = { promotion: '#1f9d55', rejection: '#c77c02', rollback: '#d0342c', registration: '#8a94a6', retraining: '#2f6fde' };
  const PALETTE = ['#2f6fde', '#e8772e', '#1f9d55', '#9b59b6', '#d0342c', '#17a2b8', '#c77c02', '#5d6d7e', '#e83e8c', '#20c997'];

  // ---------- formatting ----------
  function fmt(v, unit) {
    if (v === null || v === undefined || v === '') return '–';
    if (typeof v !== 'number') return String(v);
    switch (unit) {
      case 'ratio':
        return (v * 100).toFixed(1) + '%';
      case 'ms':
        return v.toFixed(v < 10 ? 1 : 0) + ' ms';
      case 's':
        return v.toFixed(1) + ' s';
      case 'min':
        return v.toFixed(1) + ' min';
      case 'count':
        return Number.isInteger(v) ? v.toLocaleString() : v.toFixed(1);
      default:
        return Number.isInteger(v) ? v.toLocaleString() : v.toFixed(3);
    }
  }
  function fmtTime(iso) {
    const d = new Date(iso);
    return isNaN(d.getTime()) ? String(iso) : d.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  }
  function human(col) {
    return col
      .replace(/_/g, ' ')
      .replace(/\bms\b/, '(ms)')
      .replace(/\bs$/, '(s)');
  }
  // Styles go through the CSSOM (e.style), never a style attribute or HTML string: the page
  // runs under a Content-Security-Policy without 'unsafe-inline'.
  function el(tag, attrs, children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k === 'style') e.style.cssText = v;
      else e.setAttribute(k, v);
    }
    for (const c of children || []) if (c) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    return e;
  }

  // Tooltips are DOM nodes (ECharts accepts them from a formatter): its HTML markers carry inline styles.
  function tipLine(color, name, value) {
    return el('div', { class: 'tip-line' }, [
      color ? el('span', { class: 'tip-marker', style: 'background:' + color }) : null,
      name + ': ',
      el('b', { text: value }),
    ]);
  }
  function tip(head, lines) {
    return el('div', { class: 'tip' }, [head ? el('div', { class: 'tip-head', text: head }) : null, ...lines]);
  }

  // ---------- data ----------
  async function getJson(url) {
    const ctrl = new AbortController();
    const t = setTimeout(() => ctrl.abort(), 15000);
    try {
      const res = await fetch(url, { signal: ctrl.signal, cache: 'no-store' });
      const body = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(body.message || res.status + ' ' + res.statusText);
      return body;
    } finally {
      clearTimeout(t);
    }
  }
  function since() {
    return new Date(Date.now() - state.rangeHours * 3600 * 1000).toISOString();
  }

  // ---------- layout ----------
  function buildGrid() {
    const grid = document.getElementById('grid');
    grid.textContent = '';
    for (const p of state.config.panels) {
      const body = el('div', { class: p.kind === 'table' ? 'table-wrap' : p.kind === 'stat' ? 'stats' : 'chart' });
      const card = el(
        'article',
        { class: 'card kind-' + p.kind + (p.width === 'full' ? ' full' : ''), 'data-panel': p.id, 'data-state': 'loading' },
        [el('h3', { text: p.title }), el('p', { class: 'desc', text: p.description }), body],
      );
      grid.appendChild(card);
    }
    const ro = new ResizeObserver(() => state.charts.forEach((c) => c.resize()));
    ro.observe(grid);
  }
  function cardOf(id) {
    return document.querySelector('[data-panel="' + id + '"]');
  }
  function setCardState(card, s, rows, message) {
    card.dataset.state = s;
    card.dataset.rows = String(rows);
    let note = card.querySelector('.empty, .error');
    if (s === 'ready') {
      if (note) note.remove();
      return;
    }
    if (!note) {
      note = el('div');
      card.appendChild(note);
    }
    note.className = s === 'error' ? 'error' : 'empty';
    note.textContent = message;
  }

  // ---------- renderers ----------
  function chartFor(card, id) {
    let chart = state.charts.get(id);
    if (!chart) {
      chart = echarts.init(card.querySelector('.chart'), null, { renderer: 'canvas' });
      state.charts.set(id, chart);
    }
    return chart;
  }

  function axisFor(unit, position) {
    const axis = {
      type: 'value',
      position: position,
      axisLabel: { formatter: (v) => fmt(v, unit) },
      splitLine: { lineStyle: { color: '#eef1f5' } },
    };
    if (unit === 'ratio') Object.assign(axis, { min: 0, max: 1 });
    return axis;
  }

  function annotationLines() {
    return {
      symbol: 'none',
      silent: false,
      label: { show: false },
      emphasis: { label: { show: true, formatter: (p) => p.name, position: 'insideEndTop', fontSize: 11 } },
      data: state.events.map((e) => ({
        name: e.title,
        xAxis: e.time,
        lineStyle: { color: TAG_COLORS[e.tags] || '#8a94a6', type: 'dashed', width: 1 },
      })),
    };
  }

  function renderTimeseries(card, p, rows) {
    const f = p.fields;
    const units = p.units;
    const series = [];
    const yUnits = [];
    const unitAxis = (u) => {
      let i = yUnits.indexOf(u);
      if (i < 0) {
        yUnits.push(u);
        i = yUnits.length - 1;
      }
      return i;
    };
    if (f.series) {
      const groups = new Map();
      for (const r of rows) {
        const key = r[f.series] === null ? '(none)' : String(r[f.series]);
        if (!groups.has(key)) groups.set(key, []);
        groups.get(key).push([r[f.time], r[f.values[0]]]);
      }
      const axis = unitAxis(units[f.values[0]]);
      for (const [name, data] of groups)
        series.push({ name: name, type: 'line', yAxisIndex: axis, data: data, showSymbol: true, symbolSize: 6, connectNulls: true });
    } else {
      for (const v of f.values) {
        series.push({
          name: human(v),
          type: 'line',
          yAxisIndex: unitAxis(units[v]),
          data: rows.map((r) => [r[f.time], r[v]]),
          showSymbol: true,
          symbolSize: 6,
          connectNulls: true,
          _unit: units[v],
        });
      }
    }
    if (series.length && state.events.length) series[0].markLine = annotationLines();
    const chart = chartFor(card, p.id);
    chart.setOption(
      {
        color: PALETTE,
        animation: false,
        grid: { left: 56, right: yUnits.length > 1 ? 56 : 18, top: 36, bottom: 30 },
        legend: { type: 'scroll', top: 0, textStyle: { fontSize: 11 } },
        tooltip: {
          trigger: 'axis',
          formatter: (items) => {
            if (!items.length) return '';
            const head = fmtTime(items[0].value[0]);
            const lines = items.map((it) => {
              const unit = units[f.series ? f.values[0] : f.values.find((v) => human(v) === it.seriesName)];
              return tipLine(it.color, it.seriesName, fmt(it.value[1], unit));
            });
            return tip(head, lines);
          },
        },
        xAxis: { type: 'time', axisLabel: { hideOverlap: true } },
        yAxis: yUnits.map((u, i) => axisFor(u, i === 0 ? 'left' : 'right')),
        series: series.map((s) => {
          delete s._unit;
          return s;
        }),
      },
      true,
    );
  }

  function renderBar(card, p, rows) {
    const f = p.fields;
    const units = p.units;
    let categories;
    let series;
    if (f.series) {
      categories = [...new Set(rows.map((r) => String(r[f.category])))].sort();
      const names = [...new Set(rows.map((r) => String(r[f.series])))];
      series = names.map((name) => {
        const byCat = new Map(rows.filter((r) => String(r[f.series]) === name).map((r) => [String(r[f.category]), r[f.values[0]]]));
        return { name: name, type: 'bar', stack: p.stacked ? 'all' : undefined, data: categories.map((c) => byCat.get(c) ?? 0) };
      });
    } else {
      categories = rows.map((r) => String(r[f.category]));
      series = f.values.map((v) => ({ name: human(v), type: 'bar', stack: p.stacked ? 'all' : undefined, data: rows.map((r) => r[v]) }));
    }
    const unit = units[f.values[0]];
    const extra = f.extra || [];
    const chart = chartFor(card, p.id);
    chart.setOption(
      {
        color: PALETTE,
        animation: false,
        grid: { left: 56, right: 14, top: 36, bottom: 8, containLabel: true },
        legend: { type: 'scroll', top: 0, textStyle: { fontSize: 11 } },
        tooltip: {
          trigger: 'axis',
          axisPointer: { type: 'shadow' },
          formatter: (items) => {
            if (!items.length) return '';
            const idx = items[0].dataIndex;
            const lines = items.map((it) => tipLine(it.color, it.seriesName, fmt(it.value, unit)));
            if (!f.series) for (const x of extra) lines.push(tipLine(null, human(x), fmt(rows[idx][x], units[x])));
            return tip(items[0].axisValue, lines);
          },
        },
        xAxis: {
          type: 'category',
          data: categories,
          axisLabel: {
            interval: 0,
            rotate: categories.length > 4 ? 35 : 0,
            fontSize: 11,
            formatter: (s) => (s.length > 18 ? s.slice(0, 17) + '…' : s),
          },
        },
        yAxis: axisFor(unit, 'left'),
        series: series,
      },
      true,
    );
  }

  function renderHeatmap(card, p, rows) {
    const f = p.fields;
    const xs = [...new Set(rows.map((r) => String(r[f.category])))].sort();
    const ys = [...new Set(rows.map((r) => String(r[f.y])))].sort();
    const v = f.values[0];
    const data = rows.map((r) => [xs.indexOf(String(r[f.category])), ys.indexOf(String(r[f.y])), r[v]]);
    const max = Math.max(1, ...rows.map((r) => Number(r[v]) || 0));
    const chart = chartFor(card, p.id);
    chart.setOption(
      {
        animation: false,
        grid: { left: 8, right: 14, top: 26, bottom: 46, containLabel: true },
        tooltip: {
          formatter: (it) => tip(null, [tipLine(null, 'true ' + ys[it.value[1]] + ' → predicted ' + xs[it.value[0]], String(it.value[2]))]),
        },
        xAxis: {
          type: 'category',
          data: xs,
          name: 'predicted',
          nameLocation: 'middle',
          nameGap: 36,
          axisLabel: { interval: 0, rotate: 25, fontSize: 11 },
          splitArea: { show: true },
        },
        yAxis: {
          type: 'category',
          data: ys,
          name: 'true',
          nameLocation: 'start',
          inverse: true,
          axisLabel: { fontSize: 11 },
          splitArea: { show: true },
        },
        visualMap: {
          min: 0,
          max: max,
          calculable: false,
          orient: 'horizontal',
          left: 'center',
          bottom: 0,
          itemHeight: 90,
          itemWidth: 10,
          show: false,
          inRange: { color: ['#f2f6fd', '#7fa6ea', '#2f6fde', '#173e8c'] },
        },
        series: [
          {
            type: 'heatmap',
            data: data,
            label: { show: true, fontSize: 11 },
            emphasis: { itemStyle: { borderColor: '#333', borderWidth: 1 } },
          },
        ],
      },
      true,
    );
  }

  function renderTable(card, p, rows, columns) {
    const wrap = card.querySelector('.table-wrap');
    const units = p.units;
    const head = el(
      'tr',
      {},
      columns.map((c) => el('th', { text: human(c) })),
    );
    const body = rows.map((r) =>
      el(
        'tr',
        {},
        columns.map((c) => {
          const v = r[c];
          if (c === p.fields.time) return el('td', { text: fmtTime(v) });
          if (c === 'tags' && v)
            return el('td', {}, [el('span', { class: 'tag', style: 'background:' + (TAG_COLORS[v] || '#8a94a6'), text: String(v) })]);
          if (c === 'status' && v)
            return el('td', {}, [
              el('span', {
                class: 'tag',
                style: 'background:' + (v === 'failed' ? '#d0342c' : v === 'succeeded' ? '#1f9d55' : '#8a94a6'),
                text: String(v),
              }),
            ]);
          return el('td', { class: c === 'text' || c === 'error' ? 'wrap' : '', text: fmt(v, units[c]) });
        }),
      ),
    );
    wrap.textContent = '';
    wrap.appendChild(el('table', {}, [el('thead', {}, [head]), el('tbody', {}, body)]));
  }

  function renderStat(card, p, rows) {
    const box = card.querySelector('.stats');
    const row = rows[0] || {};
    box.textContent = '';
    for (const v of p.fields.values) {
      box.appendChild(
        el('div', { class: 'stat', 'data-field': v }, [
          el('div', { class: 'v', text: fmt(row[v], p.units[v]) }),
          el('div', { class: 'k', text: human(v) }),
        ]),
      );
    }
  }

  function render(p, payload) {
    const card = cardOf(p.id);
    const rows = payload.rows;
    const hasRows = p.kind === 'stat' ? rows.length > 0 && Number(rows[0][p.fields.values[0]]) > 0 : rows.length > 0;
    if (p.kind === 'table') renderTable(card, p, rows, payload.columns);
    else if (p.kind === 'stat') renderStat(card, p, rows);
    else if (hasRows) {
      card.querySelector('.chart').style.visibility = 'visible';
      if (p.kind === 'timeseries') renderTimeseries(card, p, rows);
      else if (p.kind === 'bar') renderBar(card, p, rows);
      else if (p.kind === 'heatmap') renderHeatmap(card, p, rows);
    } else {
      card.querySelector('.chart').style.visibility = 'hidden';
    }
    setCardState(card, hasRows ? 'ready' : 'empty', rows.length, 'No data in this time range yet.');
  }

  // ---------- alerts and models ----------
  function renderAlerts(payload) {
    const banner = document.getElementById('alert-banner');
    banner.textContent = '';
    const firing = payload.alerts.filter((a) => a.state === 'firing');
    banner.dataset.firing = String(firing.length);
    for (const a of firing) {
      banner.appendChild(
        el('div', { class: 'alert ' + a.severity, 'data-alert-id': a.id, 'data-state': a.state, title: a.runbook }, [
          el('span', { class: 'title', text: (a.severity === 'critical' ? '● ' : '▲ ') + a.title }),
          el('span', { class: 'what', text: a.message }),
        ]),
      );
    }
    const summary = el('div', { class: 'alert-summary' }, [el('span', { text: firing.length ? 'Alerts:' : 'All alerts quiet:' })]);
    for (const a of payload.alerts) {
      summary.appendChild(
        el('span', {
          class: 'chip ' + a.state,
          'data-alert-id': a.id,
          'data-state': a.state,
          title: a.message,
          text: a.title + (a.state === 'no_data' ? ' (no data)' : a.state === 'ok' ? ' ✓' : ' !'),
        }),
      );
    }
    banner.appendChild(summary);
  }

  function renderModels(payload) {
    const box = document.getElementById('models');
    // Rebuild only on change, so the plot thumbnails do not flicker on every refresh.
    const key = JSON.stringify(payload.versions);
    if (box.dataset.key === key) return;
    box.dataset.key = key;
    box.textContent = '';
    if (!payload.versions.length) {
      box.appendChild(el('div', { class: 'empty', text: 'No model version yet: the first one appears after the first training run.' }));
      return;
    }
    for (const m of payload.versions) {
      const thumbs = el('div', { class: 'thumbs' });
      for (const [file, label] of [
        ['training-curves.png', 'training curves'],
        ['confusion-matrix.png', 'confusion matrix'],
      ]) {
        const href = m.links[file];
        if (href)
          thumbs.appendChild(
            el('a', { href: href, target: '_blank', rel: 'noopener', class: 'plot-link', 'data-file': file }, [
              el('img', { src: href, alt: label + ' of ' + m.version }),
              el('div', { text: label }),
            ]),
          );
      }
      const links = el('div', { class: 'links' });
      for (const [file, label] of [
        ['MODEL_CARD.md', 'model card'],
        ['metrics.json', 'metrics'],
      ]) {
        if (m.links[file]) links.appendChild(el('a', { href: m.links[file], target: '_blank', rel: 'noopener', text: label }));
      }
      const badges = el(
        'div',
        { class: 'badges' },
        m.roles
          .map((r) => el('span', { class: 'badge ' + r, text: r === 'production' ? 'champion' : 'challenger' }))
          .concat(m.complete ? [] : [el('span', { class: 'badge', text: 'incomplete' })]),
      );
      box.appendChild(
        el('div', { class: 'model', 'data-version': m.version }, [
          el('div', { class: 'name', text: m.version }),
          badges,
          thumbs.childNodes.length ? thumbs : el('div', { class: 'desc', text: 'no plots saved' }),
          links,
        ]),
      );
    }
  }

  // ---------- refresh loop ----------
  async function refresh() {
    if (state.busy) return;
    state.busy = true;
    const s = since();
    try {
      const cfg = state.config;
      const alertsP = getJson(prefix + '/api/alerts').then(renderAlerts, (err) => {
        document.getElementById('alert-banner').textContent = 'Alerts unavailable: ' + err.message;
      });
      const modelsP = getJson(prefix + '/api/models').then(renderModels, () => undefined);
      // Events first: the time charts draw them as markers.
      const eventsPanel = cfg.panels.find((p) => p.id === cfg.annotationPanel);
      const fetchPanel = (p) => getJson(prefix + '/api/panels/' + encodeURIComponent(p.id) + '?' + new URLSearchParams({ since: s }));
      if (eventsPanel) {
        try {
          const ev = await fetchPanel(eventsPanel);
          state.events = ev.rows;
          render(eventsPanel, ev);
        } catch (err) {
          setCardState(cardOf(eventsPanel.id), 'error', 0, err.message);
        }
      }
      await Promise.all(
        cfg.panels
          .filter((p) => p !== eventsPanel)
          .map((p) =>
            fetchPanel(p).then(
              (payload) => render(p, payload),
              (err) => setCardState(cardOf(p.id), 'error', 0, err.message),
            ),
          ),
      );
      await Promise.all([alertsP, modelsP]);
      document.getElementById('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    } finally {
      state.busy = false;
    }
  }

  function schedule() {
    clearTimeout(state.timer);
    if (!document.getElementById('live').checked) return;
    state.timer = setTimeout(async () => {
      await refresh().catch(() => undefined);
      schedule();
    }, state.config.refreshSeconds * 1000);
  }

  async function main() {
    state.config = await getJson(prefix + '/api/config');
    const params = new URLSearchParams(window.location.search);
    const range = document.getElementById('range');
    state.rangeHours = Number(params.get('range')) || state.config.defaultRangeHours;
    if (![...range.options].some((o) => Number(o.value) === state.rangeHours))
      range.appendChild(el('option', { value: String(state.rangeHours), text: state.rangeHours + ' hours' }));
    range.value = String(state.rangeHours);
    range.addEventListener('change', () => {
      state.rangeHours = Number(range.value);
      refresh().catch(() => undefined);
    });
    document.getElementById('live').addEventListener('change', schedule);
    buildGrid();
    await refresh();
    schedule();
  }

  window.cvDashboard = state;
  main().catch((err) => {
    document.getElementById('updated').textContent = 'failed to load: ' + err.message;
  });
})();
