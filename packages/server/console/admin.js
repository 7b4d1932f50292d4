// The admin view at /admin: the server API (/api/v1) with a key typed into the page. The key stays in
// this tab's sessionStorage and travels only in the Authorization header. An operator key (*:key) sees
// every tenant, instances and tenants; a tenant key its own tenant only. The live tail polls the room's
// history (GET /rooms/{room}/messages?since=): no key or token goes to a socket.
import { alertIn, byId, clock, duration, el, fill, payloadText, table } from '/console/ui.js';

const STORE_KEY = 'admin.key';
const REFRESH_MS = 5000;
const TAIL_MS = 2000;
const TAIL_MAX = 200;
const DEAD_LETTERS = '/webhooks/dead-letters';

let key;
/** What the key is: { tenant, operator }. */
let who;
/** The server API's OpenAPI document: which routes this server has. */
let doc;
let tenant = '';
let refreshing = false;
let refreshTimer;
/** The previous tenant counts and when they were read, for rates. */
let previous;
/** The tailed room: { name, last, timer }. */
let tail;
let deadCursor;
let shownUser;

const ui = {
  error: byId('error'),
  tenant: byId('tenant'),
  updated: byId('updated'),
};

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function showError(err) {
  alertIn(ui.error, err instanceof ApiError ? `${err.code}: ${err.message}` : String(err?.message ?? err));
}

async function api(method, path, { query = {}, body } = {}) {
  const url = new URL(`/api/v1${path}`, location.origin);
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
  const headers = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url, { method, headers, ...(body !== undefined && { body: JSON.stringify(body) }) });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, data.error ?? 'INTERNAL', data.message ?? res.statusText);
  return data;
}

/** `?tenantId=` for an operator key (a tenant key acts on its own tenant). */
const scoped = (extra = {}) => (who.operator ? { tenantId: tenant, ...extra } : extra);
const enc = encodeURIComponent;

async function open(candidate) {
  key = candidate;
  try {
    who = await api('GET', '/key');
  } catch (err) {
    key = undefined;
    sessionStorage.removeItem(STORE_KEY);
    byId('signin').hidden = false;
    throw err;
  }
  sessionStorage.setItem(STORE_KEY, candidate);
  doc = await api('GET', '/openapi.json');
  byId('signin').hidden = true;
  byId('app').hidden = false;
  byId('keyinfo').textContent = who.operator ? 'Operator key: every tenant' : `Tenant key: ${who.tenant}`;
  byId('instances-section').hidden = !who.operator;
  byId('tenants-section').hidden = !who.operator;
  ui.tenant.readOnly = !who.operator;
  if (!who.operator) tenant = ui.tenant.value = who.tenant;
  alertIn(ui.error, '');
  await refresh();
  // A tab in the background spends none of the key's call budget.
  refreshTimer = setInterval(() => {
    if (!document.hidden) void refresh().catch(showError);
  }, REFRESH_MS);
}

async function refresh() {
  if (refreshing) return;
  refreshing = true;
  try {
    if (who.operator) await Promise.all([instances(), tenants()]);
    await Promise.all([rooms(), deadLetters(true), tail ? presence(tail.name) : undefined]);
    ui.updated.textContent = clock(Date.now());
  } finally {
    refreshing = false;
  }
}

async function instances() {
  const { instances: list } = await api('GET', '/instances');
  const now = Date.now();
  fill(byId('instances'), [
    table(`${list.length} live instance(s)`, ['Instance', 'Uptime', 'State', 'Connections', 'Event loop lag'], list.map((i) => [
      i.serverId, duration((now - i.startedAt) / 1000), i.lifecycle, String(i.connections), `${i.eventLoopLagMs.toFixed(1)} ms`,
    ])),
  ]);
}

async function tenants() {
  const { tenants: list } = await api('GET', '/tenants');
  const now = Date.now();
  const rate = (t, field) => {
    const before = previous?.counts.get(t.tenantId);
    if (!before) return '–';
    // An instance that restarted counts from zero again: never a negative rate.
    return (Math.max(0, t[field] - before[field]) / ((now - previous.at) / 1000)).toFixed(2);
  };
  fill(byId('tenants'), [
    // The name is the button: the first column stays in view on a narrow screen.
    table(`${list.length} tenant(s) with connections or traffic`, ['Tenant', 'Connections', 'Messages/s', 'Refusals/s'], list.map((t) => [
      el('button', { type: 'button', class: 'secondary', 'aria-label': `Show tenant ${t.tenantId}`, onclick: () => selectTenant(t.tenantId) }, t.tenantId),
      String(t.connections), rate(t, 'messages'), rate(t, 'refused'),
    ])),
  ]);
  previous = { at: now, counts: new Map(list.map((t) => [t.tenantId, t])) };
  if (tenant === '' && list[0]) selectTenant(list[0].tenantId, false);
}

function selectTenant(id, reload = true) {
  if (id === tenant) return;
  tenant = ui.tenant.value = id;
  stopTail();
  shownUser = undefined;
  fill(byId('user-view'), []);
  byId('disconnect').hidden = true;
  if (reload) void refresh().catch(showError);
}

async function rooms() {
  byId('rooms-tenant').textContent = tenant || '(no tenant chosen)';
  if (!tenant) return fill(byId('rooms'), [el('p', { class: 'muted' }, 'Type a tenant id above, or pick one of the tenants.')]);
  const page = await api('GET', '/rooms', { query: scoped({ limit: 100 }) });
  const statuses = (r) => Object.entries(r.byStatus).filter(([, n]) => n > 0).map(([s, n]) => `${n} ${s}`).join(', ');
  fill(byId('rooms'), [
    table(`${page.rooms.length}${page.next ? '+' : ''} room(s) with members`, ['Room', 'Connections', 'Users', 'Statuses'], page.rooms.map((r) => [
      el('button', { type: 'button', class: 'secondary', 'aria-label': `Open room ${r.room}`, onclick: () => openRoom(r.room).catch(showError) }, r.room),
      String(r.connections), String(r.users), statuses(r),
    ])),
  ]);
}

async function presence(room) {
  const { presence: list } = await api('GET', `/rooms/${enc(room)}/presence`, { query: scoped({ limit: 100 }) });
  fill(byId('room-presence'), list.map((p) => el('li', { dataset: { user: p.userId } }, `${p.userId}: ${p.status}`, p.connections > 1 ? ` · ${p.connections} connections` : '')));
}

function tailLine(m) {
  return el('li', { dataset: { id: m.id } }, el('span', { class: 'from' }, m.from), ': ', payloadText(m.payload), ' ', el('span', { class: 'id' }, `${clock(m.timestamp)} · ${m.id}`));
}

function appendTail(messages) {
  const list = byId('tail');
  list.append(...messages.map(tailLine));
  while (list.children.length > TAIL_MAX) list.firstElementChild.remove();
  list.scrollTop = list.scrollHeight;
}

async function openRoom(name) {
  stopTail();
  byId('room-section').hidden = false;
  byId('room-name').textContent = name;
  fill(byId('tail'), []);
  const current = { name, last: undefined, timer: undefined };
  tail = current;
  const newest = await api('GET', `/rooms/${enc(name)}/messages`, { query: scoped({ direction: 'backward', limit: 20 }) });
  if (tail !== current) return;
  const messages = newest.messages.reverse();
  appendTail(messages);
  current.last = messages.at(-1)?.id;
  await presence(name);
  const poll = async () => {
    const page = await api('GET', `/rooms/${enc(name)}/messages`, { query: scoped({ since: current.last, limit: 100 }) });
    if (tail !== current) return;
    appendTail(page.messages);
    current.last = page.messages.at(-1)?.id ?? current.last;
  };
  current.timer = setInterval(() => {
    if (!document.hidden) void poll().catch(showError);
  }, TAIL_MS);
}

function stopTail() {
  if (tail) clearInterval(tail.timer);
  tail = undefined;
  byId('room-section').hidden = true;
}

async function lookup(userId) {
  const u = await api('GET', `/users/${enc(userId)}`, { query: scoped() });
  shownUser = userId;
  fill(byId('user-view'), [
    el('p', {}, `${u.userId} is ${u.online ? 'online' : 'offline'}: ${u.connections.length} connection(s).`),
    table('Connections', ['Connection', 'Instance', 'Since', 'Rooms'], u.connections.map((c) => [c.connectionId, c.instance, clock(c.connectedAt), c.rooms.join(', ')])),
  ]);
  byId('disconnect').hidden = !u.online;
}

async function deadLetters(first) {
  const box = byId('dead-letters');
  const more = byId('dead-more');
  const route = doc.paths?.[DEAD_LETTERS];
  const unavailable = () => {
    more.hidden = true;
    fill(box, [el('p', { class: 'muted' }, 'Webhooks are not configured or not available on this server.')]);
  };
  if (!route?.get) return unavailable();
  // An operator key sees the chosen tenant's letters where the route filters by tenant.
  const filter = who.operator && tenant && namesTenant(route) ? { tenantId: tenant } : {};
  let page;
  try {
    page = await api('GET', DEAD_LETTERS, { query: { ...filter, ...(first ? {} : { cursor: deadCursor }), limit: 50 } });
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return unavailable();
    throw err;
  }
  if (page.configured === false) return unavailable();
  deadCursor = page.cursor ?? undefined;
  more.hidden = !deadCursor;
  const rows = page.deadLetters.map((d) => [
    el('button', { type: 'button', 'aria-label': `Replay dead letter ${d.id}`, onclick: () => replay(d).catch(showError) }, 'Replay'),
    d.id, d.tenantId, d.url, eventTypes(d.events), String(d.attempts), d.lastError, clock(d.failedAt),
  ]);
  const shown = table(`${rows.length} dead letter(s)${deadCursor ? ', more to load' : ''}`, ['', 'Id', 'Tenant', 'URL', 'Events', 'Attempts', 'Last error', 'Failed'], rows);
  if (first) fill(box, [shown]);
  else box.append(shown);
}

/** A letter's events as `2 × message.published, member.joined` (events are objects with a `type`, or names). */
function eventTypes(events) {
  const counts = new Map();
  for (const e of events) {
    const type = typeof e === 'string' ? e : String(e?.type ?? 'event');
    counts.set(type, (counts.get(type) ?? 0) + 1);
  }
  return [...counts].map(([type, n]) => (n > 1 ? `${n} × ${type}` : type)).join(', ');
}

/** Whether a route of the OpenAPI document takes `?tenantId=` (on the path or on its operations). */
function namesTenant(route) {
  const params = [route?.parameters ?? [], ...Object.values(route ?? {}).map((op) => op?.parameters ?? [])].flat();
  return params.some((p) => p?.name === 'tenantId');
}

async function replay(letter) {
  const route = doc.paths?.[`${DEAD_LETTERS}/{id}/replay`];
  // An operator key names the letter's own tenant.
  const query = who.operator && namesTenant(route) ? { tenantId: letter.tenantId } : {};
  await api('POST', `${DEAD_LETTERS}/${enc(letter.id)}/replay`, { query });
  await deadLetters(true);
}

function on(id, event, handler) {
  byId(id).addEventListener(event, (e) => {
    if (event === 'submit') e.preventDefault();
    Promise.resolve(handler(e)).catch(showError);
  });
}

on('signin', 'submit', () => open(byId('key').value.trim()));
on('refresh', 'click', () => refresh());
on('tenant', 'change', () => selectTenant(ui.tenant.value.trim()));
on('signout', 'click', () => {
  sessionStorage.removeItem(STORE_KEY);
  location.reload();
});
on('publish', 'submit', async () => {
  const input = byId('publish-text');
  const text = input.value;
  if (!tail) return;
  const sent = await api('POST', `/rooms/${enc(tail.name)}/messages`, { query: scoped(), body: { payload: { text }, persistent: byId('publish-persistent').checked } });
  input.value = '';
  alertIn(ui.error, '');
  return sent;
});
on('lookup', 'submit', () => lookup(byId('user').value.trim()));
on('disconnect', 'submit', async () => {
  if (!shownUser) return;
  const code = byId('disconnect-code').value;
  const reason = byId('disconnect-reason').value.trim() || undefined;
  const r = await api('POST', `/users/${enc(shownUser)}/disconnect`, { query: scoped(), body: { code, ...(reason && { reason }) } });
  fill(byId('user-view'), [el('p', { role: 'status' }, `${r.userId}: ${r.connections} connection(s) closed with ${r.code}.`)]);
  byId('disconnect').hidden = true;
});
on('dead-more', 'click', () => deadLetters(false));

const settings = await fetch('/console/settings.json').then((r) => r.json());
if (!settings.serverApi) byId('disabled').hidden = false;
else {
  const stored = sessionStorage.getItem(STORE_KEY);
  byId('signin').hidden = stored !== null;
  if (stored !== null) await open(stored).catch(showError);
}
document.body.dataset.ready = 'true';
