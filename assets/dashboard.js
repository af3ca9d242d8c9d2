// climate-tracker dashboard: reads only the public API (/api/v1) with a token
// the user pastes (kept in sessionStorage, sent only to this origin).
// No framework and no build step. The DOM is built with createElement and
// textContent (never innerHTML with data) and no inline styles, so the page
// runs under a strict Content-Security-Policy. Money stays a decimal string:
// it is formatted as text, and Number() is used only for bar proportions.
'use strict';

(function () {
  const API = '/api/v1';
  const TOKEN_KEY = 'climate-tracker.token';
  const LANG_KEY = 'climate-tracker.lang';
  const PAGE = 20; // projects and milestones per request
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const GRANT_STATUSES = ['draft', 'submitted', 'approved', 'active', 'completed', 'rejected', 'withdrawn', 'cancelled'];

  const TEXT = {
    en: {
      title: 'China–Pacific climate cooperation',
      api_docs: 'API docs',
      refresh: 'Refresh',
      forget: 'Forget token',
      sign_in: 'Show the dashboard',
      token_label: 'API token (a viewer token is enough)',
      show: 'Show',
      token_hint: 'The token stays in this browser tab only (sessionStorage) and is sent only to this service.',
      token_rejected: 'The service did not accept that token (unknown or revoked). Paste another one.',
      sample_note: 'Includes sample data (codes starting with “sample-”): the amounts are not real.',
      overview: 'At a glance',
      funds: 'Funds',
      pipeline: 'Grant pipeline',
      by_country: 'Disbursed by country',
      by_alliance: 'Disbursed by alliance',
      indicators: 'Results: standard indicators',
      indicator: 'Indicator',
      period: 'Period',
      baseline: 'Baseline',
      target: 'Target',
      actual: 'Actual',
      reporting_projects: 'Projects',
      results: 'Results',
      indicators_reported: 'indicators with an approved figure',
      updates_waiting: 'updates waiting for review',
      projects: 'Projects',
      overdue: 'Overdue milestones',
      milestones: 'Milestones',
      back: '← Dashboard',
      footer: 'climate-tracker · reads only the public API',
      loading: 'Loading…',
      empty: 'Nothing here yet.',
      no_overdue: 'No milestone is overdue.',
      forbidden: 'This token may not see this panel.',
      failed: 'Could not load this panel',
      more: 'More projects',
      contributed: 'Contributed',
      committed: 'Committed',
      disbursed: 'Disbursed',
      available: 'Available',
      grants: 'grants',
      projects_total: 'Projects',
      institutions: 'Institutions',
      countries: 'Countries',
      ms_overdue: 'Milestones overdue',
      ms_due_30: 'Due in 30 days',
      ms_achieved: 'Milestones achieved',
      no_alliance: 'No alliance',
      due: 'due',
      days_late: 'days late',
      project_status: 'project status',
      health: 'Health',
      progress: 'Progress',
      status: 'Status',
      next_milestone: 'Next milestone',
      none: 'none',
      awarded: 'Awarded',
      remaining: 'Remaining',
      as_of: 'as of',
      total: 'Total',
      overdue_flag: 'overdue',
      'health.on_track': 'on track',
      'health.at_risk': 'at risk',
      'health.delayed': 'delayed',
      'health.completed': 'completed',
      'health.cancelled': 'cancelled',
      'project.planned': 'planned',
      'project.active': 'active',
      'project.on_hold': 'on hold',
      'project.completed': 'completed',
      'project.cancelled': 'cancelled',
      'grant.draft': 'draft',
      'grant.submitted': 'submitted',
      'grant.approved': 'approved',
      'grant.active': 'active',
      'grant.completed': 'completed',
      'grant.rejected': 'rejected',
      'grant.withdrawn': 'withdrawn',
      'grant.cancelled': 'cancelled',
      'milestone.planned': 'planned',
      'milestone.in_progress': 'in progress',
      'milestone.achieved': 'achieved',
      'milestone.missed': 'missed',
      'milestone.cancelled': 'cancelled',
    },
    zh: {
      title: '中国—太平洋岛国气候合作',
      api_docs: 'API 文档',
      refresh: '刷新',
      forget: '清除令牌',
      sign_in: '查看仪表板',
      token_label: 'API 令牌（只读令牌即可）',
      show: '查看',
      token_hint: '令牌只保存在本浏览器标签页（sessionStorage），只发送给本服务。',
      token_rejected: '服务未接受该令牌（未知或已撤销），请粘贴另一个。',
      sample_note: '含示例数据（代码以“sample-”开头）：金额并非真实数据。',
      overview: '概览',
      funds: '基金',
      pipeline: '资助项目进度',
      by_country: '按国家的拨付',
      by_alliance: '按联盟的拨付',
      indicators: '成果：标准指标',
      indicator: '指标',
      period: '期间',
      baseline: '基线',
      target: '目标',
      actual: '实际',
      reporting_projects: '项目数',
      results: '成果',
      indicators_reported: '个指标已有批准的数值',
      updates_waiting: '条更新待审核',
      projects: '项目',
      overdue: '逾期里程碑',
      milestones: '里程碑',
      back: '← 仪表板',
      footer: 'climate-tracker · 只读取公开 API',
      loading: '加载中…',
      empty: '暂无数据。',
      no_overdue: '没有逾期的里程碑。',
      forbidden: '此令牌无权查看本栏。',
      failed: '本栏加载失败',
      more: '更多项目',
      contributed: '已捐入',
      committed: '已承诺',
      disbursed: '已拨付',
      available: '可用',
      grants: '笔资助',
      projects_total: '项目',
      institutions: '机构',
      countries: '国家',
      ms_overdue: '逾期里程碑',
      ms_due_30: '30 天内到期',
      ms_achieved: '已达成里程碑',
      no_alliance: '未属联盟',
      due: '到期',
      days_late: '天逾期',
      project_status: '项目状态',
      health: '健康度',
      progress: '进度',
      status: '状态',
      next_milestone: '下一个里程碑',
      none: '无',
      awarded: '已授予',
      remaining: '剩余',
      as_of: '截至',
      total: '合计',
      overdue_flag: '逾期',
      'health.on_track': '正常',
      'health.at_risk': '有风险',
      'health.delayed': '延误',
      'health.completed': '已完成',
      'health.cancelled': '已取消',
      'project.planned': '计划中',
      'project.active': '进行中',
      'project.on_hold': '暂停',
      'project.completed': '已完成',
      'project.cancelled': '已取消',
      'grant.draft': '草稿',
      'grant.submitted': '已提交',
      'grant.approved': '已批准',
      'grant.active': '执行中',
      'grant.completed': '已完成',
      'grant.rejected': '已拒绝',
      'grant.withdrawn': '已撤回',
      'grant.cancelled': '已取消',
      'milestone.planned': '计划中',
      'milestone.in_progress': '进行中',
      'milestone.achieved': '已达成',
      'milestone.missed': '未达成',
      'milestone.cancelled': '已取消',
    },
  };

  let lang = readLang();

  function readLang() {
    try {
      const saved = localStorage.getItem(LANG_KEY);
      if (saved === 'en' || saved === 'zh') return saved;
    } catch (_) {
      // storage may be disabled; fall back to the browser's language
    }
    return (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh' : 'en';
  }

  function t(key) {
    return TEXT[lang][key] || TEXT.en[key] || key;
  }

  /** A localized text `{"en": …, "zh": …}` in the current language, else English, else any. */
  function local(text) {
    if (!text || typeof text !== 'object') return '';
    return text[lang] || text.en || Object.values(text)[0] || '';
  }

  // ------------------------------------------------------------ money

  /** "1234567.50" → "1,234,567.50"; exact, on the string. */
  function groupDigits(amount) {
    const negative = amount.startsWith('-');
    const [whole, fraction] = (negative ? amount.slice(1) : amount).split('.');
    const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    return (negative ? '-' : '') + grouped + (fraction !== undefined ? '.' + fraction : '');
  }

  function money(m) {
    return m ? groupDigits(m.amount) + ' ' + m.currency : '–';
  }

  /** An element showing a Money value; the raw decimal string is kept in data-amount. */
  function moneyEl(tag, m, attrs) {
    const el = h(tag, attrs || {}, money(m));
    if (m) {
      el.dataset.amount = m.amount;
      el.dataset.currency = m.currency;
    }
    return el;
  }

  /** For proportions only (bar widths), never for displayed amounts. */
  function magnitude(m) {
    const n = m ? Number(m.amount) : 0;
    return Number.isFinite(n) && n > 0 ? n : 0;
  }

  // ------------------------------------------------------------ DOM

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k.startsWith('data-')) el.dataset[k.slice(5).replace(/-./g, (s) => s[1].toUpperCase())] = v;
      else el.setAttribute(k, v);
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function s(tag, attrs, text) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    return el;
  }

  const $ = (sel) => document.querySelector(sel);

  function body(panelId) {
    const el = document.querySelector('#' + panelId + ' .body');
    el.replaceChildren(h('p', { class: 'loading' }, t('loading')));
    return el;
  }

  function percent(part, whole) {
    return whole > 0 ? Math.max(0, Math.min(100, (part / whole) * 100)).toFixed(2) + '%' : '0%';
  }

  function shorten(text, max) {
    return text.length > max ? text.slice(0, max - 1) + '…' : text;
  }

  /**
   * One SVG of labelled horizontal bars. rows: [{label, text, value}] where
   * `value` is a Number used only for the bar's share of the longest.
   */
  function barChart(rows, title, kind) {
    const rowHeight = 34;
    const svg = s('svg', {
      class: 'chart',
      role: 'img',
      'aria-label': title,
      height: String(rows.length * rowHeight),
      'data-chart': kind || 'amount',
    });
    svg.append(s('title', {}, title));
    const max = Math.max(0, ...rows.map((r) => r.value));
    rows.forEach((r, i) => {
      const y = i * rowHeight;
      const label = s('text', { x: '0', y: String(y + 13) }, shorten(r.label, 34));
      label.append(s('title', {}, r.label));
      svg.append(label);
      svg.append(s('text', { x: '100%', y: String(y + 13), 'text-anchor': 'end', class: 'value' }, r.text));
      svg.append(s('rect', { class: 'track', x: '0', y: String(y + 18), width: '100%', height: '10', rx: '2' }));
      svg.append(
        s('rect', {
          class: kind === 'count' ? 'bar count' : 'bar',
          x: '0',
          y: String(y + 18),
          width: percent(r.value, max),
          height: '10',
          rx: '2',
        }),
      );
    });
    return svg;
  }

  // ------------------------------------------------------------ API

  class ApiError extends Error {
    constructor(status, problem, usedToken) {
      super((problem && (problem.detail || problem.title)) || 'HTTP ' + status);
      this.status = status;
      this.usedToken = usedToken;
    }
  }

  const cache = new Map();
  let memoryToken = ''; // used only where sessionStorage is unavailable

  function token() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || '';
    } catch (_) {
      return memoryToken;
    }
  }

  function setToken(value) {
    memoryToken = value;
    try {
      if (value) sessionStorage.setItem(TOKEN_KEY, value);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch (_) {
      // private mode without storage: keep it in memory for this page only
    }
  }

  /** GET a path of the API once per page view (a language switch re-renders from here). */
  function api(path) {
    if (!cache.has(path)) {
      const used = token();
      const request = fetch(API + path, {
        headers: { Authorization: 'Bearer ' + used, Accept: 'application/json' },
        cache: 'no-store',
      }).then(async (response) => {
        const json = await response.json().catch(() => null);
        if (!response.ok) throw new ApiError(response.status, json, used);
        return json;
      });
      // A failure is not remembered (a retry asks again), unless a newer request took its place.
      request.catch(() => cache.get(path) === request && cache.delete(path));
      cache.set(path, request);
    }
    return cache.get(path);
  }

  function fail(el, err) {
    if (err instanceof ApiError && err.status === 401) {
      // A late answer to a token already replaced says nothing about the current one.
      if (err.usedToken === token()) signOut(t('token_rejected'));
      return;
    }
    const text = err instanceof ApiError && err.status === 403 ? t('forbidden') : t('failed') + ': ' + err.message;
    el.replaceChildren(h('p', { class: err.status === 403 ? 'empty' : 'error' }, text));
  }

  /** Runs `fill(el)` on a panel; its failure stays in that panel. */
  async function panel(id, fill) {
    const el = body(id);
    try {
      await fill(el);
    } catch (err) {
      fail(el, err);
    }
  }

  // ------------------------------------------------------------ dashboard panels

  // The first view asks three questions: /dashboard (the summary and both
  // breakdowns), a page of projects with their health, and the overdue
  // milestones. A partner on a 600 ms link waits for one round of them.
  function overviewAndFunds(view) {
    return Promise.all([
      panel('overview', async (el) => {
        const sum = (await view).summary;
        const projects = Object.values(sum.projects_by_status).reduce((a, b) => a + b, 0);
        const tile = (key, value, name) => h('div', { 'data-tile': name }, h('dt', {}, t(key)), h('dd', {}, value));
        el.replaceChildren(
          h(
            'dl',
            { class: 'tiles' },
            tile('projects_total', projects, 'projects'),
            tile('institutions', sum.institutions, 'institutions'),
            tile('countries', sum.countries, 'countries'),
            tile('ms_overdue', sum.milestones.overdue, 'overdue'),
            tile('ms_due_30', sum.milestones.due_next_30_days, 'due'),
            tile('ms_achieved', sum.milestones.achieved, 'achieved'),
          ),
        );
      }),
      panel('funds', async (el) => {
        const sum = (await view).summary;
        if (sum.funds.length === 0) {
          el.replaceChildren(h('p', { class: 'empty' }, t('empty')));
          return;
        }
        el.replaceChildren(...sum.funds.map(fundCard));
      }),
      panel('pipeline', async (el) => {
        const sum = (await view).summary;
        const rows = GRANT_STATUSES.map((st) => {
          const n = sum.grants_by_status[st] || 0;
          return { label: t('grant.' + st), text: String(n), value: n };
        });
        el.replaceChildren(barChart(rows, t('pipeline'), 'count'));
      }),
    ]);
  }

  /** The fund's standard indicators: exact decimal strings shown as they come, never as numbers. */
  function indicatorsPanel(view) {
    return panel('indicators', async (el) => {
      const rows = (await view).indicators.filter((i) => i.indicators > 0);
      if (rows.length === 0) {
        el.replaceChildren(h('p', { class: 'empty' }, t('empty')));
        return;
      }
      const figure = (v, unit) => (v == null ? '–' : groupDigits(v) + (unit ? ' ' + unit : ''));
      const unitOf = (i) => (i.measure === 'percentage' ? '%' : i.unit);
      const head = ['indicator', 'baseline', 'target', 'actual', 'reporting_projects'].map((k) =>
        h('th', { scope: 'col' }, t(k)),
      );
      const body = rows.map((i) =>
        h(
          'tr',
          { 'data-indicator': i.code },
          h('th', { scope: 'row' }, local(i.title) || i.code),
          h('td', { 'data-field': 'baseline' }, figure(i.baseline, unitOf(i))),
          h('td', { 'data-field': 'target' }, figure(i.target, unitOf(i))),
          h('td', { 'data-field': 'actual', 'data-value': i.actual == null ? '' : i.actual }, figure(i.actual, unitOf(i))),
          h('td', {}, String(i.projects)),
        ),
      );
      el.replaceChildren(h('table', { class: 'figures-table' }, h('thead', {}, h('tr', {}, ...head)), h('tbody', {}, ...body)));
    });
  }

  function fundCard(summary) {
    // The bar below splits what came in; its parts carry a swatch, the whole does not.
    const swatch = (key) => (key === 'contributed' ? null : h('span', { class: 'swatch sw-' + key }));
    const figure = (key) =>
      h('div', {}, h('dt', {}, swatch(key), t(key)), moneyEl('dd', summary[key], { 'data-field': key }));
    const total = magnitude(summary.contributed);
    const stack = s('svg', { class: 'chart stack', height: '14', role: 'img', 'aria-label': t('contributed') });
    let x = 0;
    for (const key of ['disbursed', 'committed', 'available']) {
      const share = total > 0 ? Math.min(100 - x, (magnitude(summary[key]) / total) * 100) : 0;
      stack.append(s('rect', { class: key, x: x.toFixed(2) + '%', y: '0', width: share.toFixed(2) + '%', height: '14' }));
      x += share;
    }
    const grants = Object.values(summary.grants_by_status).reduce((a, b) => a + b, 0);
    return h(
      'article',
      { class: 'fund', 'data-fund-id': summary.fund_id },
      h('h3', {}, local(summary.name) || summary.fund_id, h('span', { class: 'code' }, ' ' + summary.code)),
      h('dl', { class: 'figures' }, ['contributed', 'committed', 'disbursed', 'available'].map(figure)),
      stack,
      h('p', { class: 'note' }, grants + ' ' + t('grants')),
    );
  }

  async function breakdown(id, part, labelOf) {
    await panel(id, async (el) => {
      const data = part(await api('/dashboard'));
      const currencies = [...new Set(data.rows.flatMap((r) => r.disbursed.map((m) => m.currency)))].sort();
      if (currencies.length === 0) {
        el.replaceChildren(h('p', { class: 'empty' }, t('empty')));
        return;
      }
      const charts = currencies.map((currency) => {
        const rows = data.rows
          .map((r) => {
            const m = r.disbursed.find((d) => d.currency === currency) || { amount: '0', currency };
            return { label: labelOf(r), text: money(m), value: magnitude(m) };
          })
          .sort((a, b) => b.value - a.value);
        return [h('p', { class: 'currency' }, currency), barChart(rows, t(id === 'by-country' ? 'by_country' : 'by_alliance'))];
      });
      el.replaceChildren(...charts.flat());
    });
  }

  function countryLabels() {
    let names = null;
    try {
      names = new Intl.DisplayNames([lang === 'zh' ? 'zh-Hans' : 'en'], { type: 'region' });
    } catch (_) {
      names = null;
    }
    return (row) => {
      if (lang === 'en' || !names || !row.key) return row.label;
      try {
        return names.of(row.key) || row.label;
      } catch (_) {
        return row.label;
      }
    };
  }

  /** The breakdown carries each alliance's name in every language it has. */
  function allianceLabel(row) {
    return row.key === null ? t('no_alliance') : local(row.name) || row.label;
  }

  // Project pages loaded so far (cursors), so a re-render shows the same rows.
  let projectCursors = [null];

  function projectsPath(cursor) {
    return '/projects?include=health&limit=' + PAGE + (cursor ? '&cursor=' + encodeURIComponent(cursor) : '');
  }

  async function loadedProjects() {
    const pages = await Promise.all(projectCursors.map((c) => api(projectsPath(c))));
    return { items: pages.flatMap((p) => p.items), next: pages[pages.length - 1].next_cursor };
  }

  function projectLink(id, text) {
    return h('a', { href: '#/projects/' + id, 'data-project-link': id }, text);
  }

  function healthBadge(health) {
    return h('span', { class: 'badge h-' + health, 'data-health': health }, t('health.' + health));
  }

  async function projects() {
    await panel('projects', async (el) => {
      const { items, next } = await loadedProjects();
      if (items.some((p) => p.code.startsWith('sample-'))) $('#sample-note').hidden = false;
      if (items.length === 0) {
        el.replaceChildren(h('p', { class: 'empty' }, t('empty')));
        return;
      }
      const rows = items.map((p) =>
        h(
          'li',
          { 'data-project-id': p.id },
          h('span', { class: 'main' }, projectLink(p.id, local(p.title)), ' ', h('span', { class: 'code' }, p.code)),
          h('span', { class: 'meta' }, t('project.' + p.status) + ' · ' + p.countries.join(', ')),
          h('span', {}, p.health ? healthBadge(p.health) : h('span', { class: 'meta' }, '?')),
        ),
      );
      el.replaceChildren(h('ul', { class: 'list' }, rows));
      if (next) {
        const more = h('button', { type: 'button', class: 'more' }, t('more'));
        more.addEventListener('click', () => {
          projectCursors.push(next);
          projects();
        });
        el.append(more);
      }
    });
  }

  function daysBetween(from, to) {
    return Math.round((Date.parse(to) - Date.parse(from)) / 86400000);
  }

  function today() {
    return new Date().toISOString().slice(0, 10);
  }

  async function overdue() {
    await panel('overdue', async (el) => {
      const data = await api('/milestones?overdue=true&limit=' + PAGE);
      if (data.items.length === 0) {
        el.replaceChildren(h('p', { class: 'empty' }, t('no_overdue')));
        return;
      }
      let titles = new Map();
      try {
        titles = new Map((await loadedProjects()).items.map((p) => [p.id, local(p.title)]));
      } catch (_) {
        // links still work without the project's title
      }
      el.replaceChildren(
        h(
          'ul',
          { class: 'list' },
          data.items.map((m) =>
            h(
              'li',
              { 'data-milestone-id': m.id },
              h('span', { class: 'main' }, local(m.title)),
              h('span', { class: 'meta' }, t('due') + ' ' + m.due_on + ' · ' + daysBetween(m.due_on, today()) + ' ' + t('days_late')),
              projectLink(m.project_id, titles.get(m.project_id) || t('project_status')),
            ),
          ),
        ),
      );
    });
  }

  /** Marks a view as ready: for tests (data-ready) and for timing (a User Timing mark). */
  function shown(view) {
    document.body.dataset.ready = view;
    if (performance.mark) performance.mark('ready:' + view);
  }

  async function showDashboard() {
    document.body.dataset.ready = '';
    $('#dashboard').hidden = false;
    $('#status').hidden = true;
    const view = api('/dashboard');
    await Promise.all([
      overviewAndFunds(view),
      breakdown('by-country', (v) => v.by_country, countryLabels()),
      breakdown('by-alliance', (v) => v.by_alliance, allianceLabel),
      indicatorsPanel(view),
      projects(),
      overdue(),
    ]);
    if (token()) shown('dashboard');
  }

  // ------------------------------------------------------------ one project's status

  async function showStatus(id) {
    document.body.dataset.ready = '';
    $('#dashboard').hidden = true;
    $('#status').hidden = false;
    $('#status-title').textContent = t('project_status');
    await Promise.all([
      panel('status-panel', async (el) => {
        const st = await api('/projects/' + id + '/status');
        $('#status-title').textContent = local(st.title);
        const item = (key, ...value) => h('div', {}, h('dt', {}, t(key)), h('dd', {}, ...value));
        const next = st.next_milestone;
        const m = st.milestones;
        el.replaceChildren(
          h(
            'dl',
            { class: 'figures', 'data-status-of': st.project_id },
            item('status', t('project.' + st.status)),
            item('health', healthBadge(st.health)),
            item('progress', Math.round(Number(st.progress) * 100) + '%'),
            item(
              'next_milestone',
              next
                ? local(next.title) + ' · ' + t('due') + ' ' + next.due_on + (next.overdue ? ' · ' + t('overdue_flag') : '')
                : t('none'),
            ),
            item(
              'milestones',
              ['achieved', 'in_progress', 'planned', 'missed', 'cancelled']
                .filter((k) => m[k] > 0)
                .map((k) => m[k] + ' ' + t('milestone.' + k))
                .join(' · ') || t('none'),
            ),
            item(
              'results',
              h(
                'span',
                { 'data-field': 'indicators' },
                st.indicators.with_actual + ' / ' + st.indicators.total + ' ' + t('indicators_reported') +
                  (st.indicators.submitted_updates > 0
                    ? ' · ' + st.indicators.submitted_updates + ' ' + t('updates_waiting')
                    : ''),
              ),
            ),
          ),
          ...st.funding.map((f) =>
            h(
              'dl',
              { class: 'figures' },
              h('div', {}, h('dt', {}, t('awarded')), moneyEl('dd', f.awarded, { 'data-field': 'awarded' })),
              h('div', {}, h('dt', {}, t('disbursed')), moneyEl('dd', f.disbursed, { 'data-field': 'disbursed' })),
              h('div', {}, h('dt', {}, t('remaining')), moneyEl('dd', f.remaining, { 'data-field': 'remaining' })),
            ),
          ),
          h('p', { class: 'note' }, h('span', { class: 'code' }, st.code), ' · ' + t('as_of') + ' ' + st.as_of),
        );
      }),
      panel('status-indicators', async (el) => {
        // Each indicator's latest period: its target and what approved updates add up to.
        const list = await api('/projects/' + id + '/indicators?limit=50');
        if (list.items.length === 0) {
          el.replaceChildren(h('p', { class: 'empty' }, t('empty')));
          return;
        }
        const unitOf = (i) => (i.measure === 'percentage' ? '%' : i.unit || '');
        const figure = (v, unit) => (v == null ? '–' : groupDigits(v) + (unit ? ' ' + unit : ''));
        const head = ['indicator', 'period', 'target', 'actual'].map((k) => h('th', { scope: 'col' }, t(k)));
        const rows = list.items.map(({ indicator: i, periods }) => {
          const p = periods[periods.length - 1];
          const actual = p && p.actual ? (i.measure === 'qualitative' ? p.actual.narrative : p.actual.value) : null;
          return h(
            'tr',
            { 'data-indicator-id': i.id },
            h('th', { scope: 'row' }, local(i.title)),
            h('td', {}, p ? p.period_start + ' – ' + p.period_end : '–'),
            h('td', {}, figure(p && p.target ? p.target.value : null, unitOf(i))),
            h(
              'td',
              { 'data-field': 'actual', 'data-value': actual == null ? '' : actual },
              i.measure === 'qualitative' ? actual || '–' : figure(actual, unitOf(i)),
            ),
          );
        });
        el.replaceChildren(h('table', { class: 'figures-table' }, h('thead', {}, h('tr', {}, ...head)), h('tbody', {}, ...rows)));
      }),
      panel('status-milestones', async (el) => {
        const list = await api('/projects/' + id + '/milestones?limit=50');
        if (list.items.length === 0) {
          el.replaceChildren(h('p', { class: 'empty' }, t('empty')));
          return;
        }
        el.replaceChildren(
          h(
            'ul',
            { class: 'list' },
            list.items.map((ms) =>
              h(
                'li',
                {},
                h('span', { class: 'main' }, local(ms.title)),
                h('span', { class: 'meta' }, t('due') + ' ' + ms.due_on + (ms.overdue ? ' · ' + t('overdue_flag') : '')),
                h('span', { class: 'badge m-' + ms.status }, t('milestone.' + ms.status)),
              ),
            ),
          ),
        );
      }),
    ]);
    if (token()) shown('status');
  }

  // ------------------------------------------------------------ shell

  function applyLanguage() {
    document.documentElement.lang = lang === 'zh' ? 'zh-Hans' : 'en';
    document.title = t('title') + ' · climate-tracker';
    for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
    for (const b of document.querySelectorAll('button.lang')) b.setAttribute('aria-pressed', String(b.dataset.lang === lang));
  }

  function say(text) {
    const el = $('#message');
    el.textContent = text || '';
    el.hidden = !text;
  }

  function signOut(message) {
    setToken('');
    cache.clear();
    projectCursors = [null];
    document.body.dataset.ready = '';
    $('#dashboard').hidden = true;
    $('#status').hidden = true;
    $('#refresh').hidden = true;
    $('#forget').hidden = true;
    $('#login').hidden = false;
    say(message);
    $('#token').focus();
  }

  function route() {
    if (!token()) {
      signOut('');
      return;
    }
    $('#login').hidden = true;
    $('#refresh').hidden = false;
    $('#forget').hidden = false;
    const match = /^#\/projects\/([0-9a-fA-F-]{36})$/.exec(location.hash);
    if (match) showStatus(match[1]);
    else showDashboard();
  }

  function start() {
    applyLanguage();
    $('#login').addEventListener('submit', (event) => {
      event.preventDefault();
      const value = $('#token').value.trim();
      if (!value) return;
      $('#token').value = '';
      setToken(value);
      cache.clear();
      say('');
      route();
    });
    $('#forget').addEventListener('click', () => signOut(''));
    $('#refresh').addEventListener('click', () => {
      cache.clear();
      route();
    });
    for (const b of document.querySelectorAll('button.lang')) {
      b.addEventListener('click', () => {
        lang = b.dataset.lang;
        try {
          localStorage.setItem(LANG_KEY, lang);
        } catch (_) {
          // the choice then lasts for this page only
        }
        applyLanguage();
        if (token()) route(); // re-rendered from the cached answers: no new requests
      });
    }
    window.addEventListener('hashchange', route);
    route();
  }

  start();
})();
