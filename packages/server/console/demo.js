// The demo at /: the SDK's browser bundle, as served by this server, against this server.
// What the tab needs after a reload (how it signed in, its rooms, the last stored message of each)
// is kept in sessionStorage: one tab, one user; another window can sign in as someone else.
import { WebSocketClient } from '/client/websocket-client.js';
import { alertIn, byId, clock, el, fill, payloadText } from '/console/ui.js';

const STORE = {
  auth: 'demo.auth',
  rooms: 'demo.rooms',
  status: 'demo.status',
  last: (room) => `demo.last.${room}`,
};
/** Messages per history page, and at most this many kept per room on the page. */
const PAGE = 20;
const MAX_SHOWN = 500;
const MAX_CHANGES = 30;
const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy'];

let client;
let me;
let current;
let reconnects = 0;
/** Joined rooms by name: { name, messages: Map<id, message>, hasMore, recovered, presence, changes }. */
const rooms = new Map();

const ui = {
  state: byId('state'),
  reconnects: byId('reconnects'),
  whoami: byId('whoami'),
  error: byId('error'),
  signinSection: byId('signin-section'),
  app: byId('app'),
  tabs: byId('tabs'),
  roomView: byId('room-view'),
  currentRoom: byId('current-room'),
  recovered: byId('recovered'),
  messages: byId('messages'),
  older: byId('older'),
  presence: byId('presence'),
  changes: byId('changes'),
  status: byId('status'),
};

function showError(err) {
  const message = String(err?.message ?? err);
  const coded = err && typeof err === 'object' && typeof err.code === 'string' && !message.startsWith(err.code);
  const text = coded ? `${err.code}: ${message}` : message;
  alertIn(ui.error, text);
}

async function mint(userId, tenantId) {
  const res = await fetch('/dev/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId, tenantId }) });
  const body = await res.json();
  if (!res.ok) throw Object.assign(new Error(body.message), { code: body.error });
  return body.token;
}

function savedRooms() {
  try {
    const list = JSON.parse(sessionStorage.getItem(STORE.rooms) ?? '[]');
    return Array.isArray(list) ? list.filter((r) => typeof r === 'string') : [];
  } catch {
    return [];
  }
}

function saveRooms() {
  sessionStorage.setItem(STORE.rooms, JSON.stringify([...rooms.keys()]));
}

function setState(state) {
  ui.state.textContent = state;
  ui.state.className = `badge state-${state}`;
}

/** Starts a client for `auth` ({ kind: 'token', token } or { kind: 'mint', user, tenant }). */
function start(auth) {
  sessionStorage.setItem(STORE.auth, JSON.stringify(auth));
  const options = { url: location.origin, echo: true };
  if (auth.kind === 'mint') options.getToken = () => mint(auth.user, auth.tenant);
  else options.token = auth.token;
  client = new WebSocketClient(options);
  // The SDK applies a chosen status again after every reconnect; a reload keeps it too.
  const status = sessionStorage.getItem(STORE.status);
  if (status) {
    ui.status.value = status;
    void client.setPresenceStatus(status).catch(showError);
  }
  client.on('status:change', (state, change) => {
    setState(state);
    if (state === 'reconnecting' && change.oldState === 'connected') ui.reconnects.textContent = String(++reconnects);
    if (state === 'connected') {
      alertIn(ui.error, '');
      // Re-joined rooms recover what they missed; a room that could not says so (room:recovery-failed).
      if (reconnects > 0) for (const r of rooms.values()) setRecovered(r, 'yes (after reconnect)');
    }
  });
  client.on('connection:established', (d) => {
    me = d.userId;
    ui.whoami.textContent = `${d.userId} @ ${d.tenantId} on ${d.serverId}`;
  });
  client.on('room:message', (m) => {
    const r = rooms.get(m.room);
    if (r) addMessages(r, [m]);
  });
  client.on('room:recovery-failed', (d) => {
    const r = rooms.get(d.room);
    if (r) setRecovered(r, 'no: messages were lost, reload the room');
  });
  client.on('room:left', (d) => {
    if (d.reason === 'removed') {
      showError(`Removed from ${d.room}`);
      forget(d.room);
    }
  });
  client.on('presence:join', (d) => change(d.room, `${d.user.userId} joined (${d.user.status})`));
  client.on('presence:update', (d) => {
    for (const p of d.presence) change(d.room, `${p.userId} is ${p.status}`);
  });
  client.on('presence:leave', (d) => change(d.room, `${d.userId} left`));
  client.on('connect_error', showError);
  client.on('error', showError);
  ui.signinSection.hidden = true;
  ui.app.hidden = false;
}

function setRecovered(r, text) {
  r.recovered = text;
  if (r.name === current) ui.recovered.textContent = text;
}

function change(room, text) {
  const r = rooms.get(room);
  if (!r) return;
  r.changes.unshift(`${clock(Date.now())} ${text}`);
  r.changes.length = Math.min(r.changes.length, MAX_CHANGES);
  if (room === current) renderChanges(r);
}

function addMessages(r, list) {
  for (const m of list) {
    r.messages.set(m.id, m);
    const last = sessionStorage.getItem(STORE.last(r.name));
    if (m.persistent && (last === null || m.id > last)) sessionStorage.setItem(STORE.last(r.name), m.id);
  }
  if (r.messages.size > MAX_SHOWN) {
    const ids = [...r.messages.keys()].sort();
    for (const id of ids.slice(0, ids.length - MAX_SHOWN)) r.messages.delete(id);
    r.hasMore = true;
  }
  if (r.name === current) renderMessages(r);
}

async function loadOlder(r) {
  const oldest = [...r.messages.keys()].sort()[0];
  const page = await client.getHistory(r.name, { direction: 'backward', limit: PAGE, ...(oldest !== undefined && { before: oldest }) });
  r.hasMore = page.hasMore;
  addMessages(r, page.messages);
  if (r.name === current) renderMessages(r);
}

async function join(name) {
  if (rooms.has(name)) return select(name);
  const r = { name, messages: new Map(), hasMore: true, recovered: '–', presence: new Map(), changes: [] };
  rooms.set(name, r);
  const room = client.room(name);
  room.on('presence', (presence) => {
    r.presence = presence;
    if (name === current) renderPresence(r);
  });
  saveRooms();
  select(name);
  try {
    await room.join();
    const last = sessionStorage.getItem(STORE.last(name));
    if (last !== null) {
      // After a reload: what this tab missed since the last stored message it showed.
      const missed = await client.getHistory(name, { since: last, limit: 1000 });
      addMessages(r, missed.messages);
      setRecovered(r, missed.recovered ? `yes (${missed.messages.length} new since the reload)` : 'no: messages expired meanwhile');
    }
    await loadOlder(r);
  } catch (err) {
    showError(err);
    forget(name);
  }
}

function forget(name) {
  rooms.delete(name);
  sessionStorage.removeItem(STORE.last(name));
  saveRooms();
  if (current === name) current = undefined;
  select(current ?? rooms.keys().next().value);
}

function select(name) {
  current = name;
  renderTabs();
  const r = name === undefined ? undefined : rooms.get(name);
  ui.roomView.hidden = !r;
  if (!r) return;
  ui.currentRoom.textContent = r.name;
  ui.recovered.textContent = r.recovered;
  renderMessages(r);
  renderPresence(r);
  renderChanges(r);
}

function renderTabs() {
  fill(
    ui.tabs,
    [...rooms.keys()].map((name) => el('button', { type: 'button', class: 'secondary', 'aria-pressed': String(name === current), onclick: () => select(name) }, name)),
  );
}

function renderMessages(r) {
  const sorted = [...r.messages.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
  const atBottom = ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 40;
  fill(
    ui.messages,
    sorted.map((m) =>
      el(
        'li',
        { dataset: { id: m.id } },
        el('span', { class: 'from' }, m.from === me ? `${m.from} (you)` : m.from),
        ': ',
        el('span', { class: 'text' }, payloadText(m.payload)),
        ' ',
        el('span', { class: 'id' }, `${clock(m.timestamp)} · ${m.id}${m.persistent ? '' : ' · not kept'}`),
      ),
    ),
  );
  if (atBottom) ui.messages.scrollTop = ui.messages.scrollHeight;
  ui.older.disabled = !r.hasMore;
  ui.older.textContent = r.hasMore ? 'Load older messages' : 'No older messages';
}

function renderPresence(r) {
  const people = [...r.presence.values()].sort((a, b) => (a.userId < b.userId ? -1 : 1));
  fill(
    ui.presence,
    people.map((p) =>
      el('li', { dataset: { user: p.userId, status: p.status } }, `${p.userId}${p.userId === me ? ' (you)' : ''}: ${p.status}`, p.connections > 1 ? ` · ${p.connections} connections` : ''),
    ),
  );
}

function renderChanges(r) {
  fill(ui.changes, r.changes.map((c) => el('li', {}, c)));
}

function signOut() {
  client?.disconnect();
  client = undefined;
  for (const name of rooms.keys()) sessionStorage.removeItem(STORE.last(name));
  rooms.clear();
  sessionStorage.removeItem(STORE.auth);
  sessionStorage.removeItem(STORE.rooms);
  sessionStorage.removeItem(STORE.status);
  ui.status.value = 'online';
  current = undefined;
  setState('disconnected');
  ui.whoami.textContent = '';
  ui.app.hidden = true;
  ui.signinSection.hidden = false;
}

function on(id, event, handler) {
  byId(id).addEventListener(event, (e) => {
    if (event === 'submit') e.preventDefault();
    Promise.resolve(handler(e)).catch(showError);
  });
}

on('mint', 'submit', () => start({ kind: 'mint', user: byId('mint-user').value.trim(), tenant: byId('mint-tenant').value.trim() }));
on('signin', 'submit', () => start({ kind: 'token', token: byId('token').value.trim() }));
on('join', 'submit', () => join(byId('room').value.trim()));
on('send', 'submit', async () => {
  const input = byId('message');
  const text = input.value;
  if (!current || text.trim() === '') return;
  input.value = '';
  await client.sendMessage(current, { text }, { persistent: byId('persistent').checked });
});
on('older', 'click', () => current && loadOlder(rooms.get(current)));
on('leave', 'click', async () => {
  const name = current;
  if (!name) return;
  await client.leaveRoom(name);
  forget(name);
});
on('status', 'change', () => {
  sessionStorage.setItem(STORE.status, ui.status.value);
  return client.setPresenceStatus(ui.status.value);
});
on('signout', 'click', signOut);

const settings = await fetch('/console/settings.json').then((r) => r.json());
// Two windows opened one after the other most likely get two different users.
byId('mint-user').value = NAMES[Math.floor(Math.random() * NAMES.length)];
byId('mint').hidden = !settings.devTokens;
byId('mint-note').hidden = !settings.devTokens;
const saved = JSON.parse(sessionStorage.getItem(STORE.auth) ?? 'null');
if (saved && (saved.kind === 'token' || (saved.kind === 'mint' && settings.devTokens))) {
  start(saved);
  for (const name of savedRooms()) void join(name);
}
document.body.dataset.ready = 'true';
