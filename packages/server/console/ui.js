// DOM helpers shared by the demo and the admin view. Text is always set as text (never as HTML):
// room names, user ids and payloads come from other users.

/** An element with attributes (`on*` functions become listeners) and children (strings become text). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value);
    else if (name === 'dataset') Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(typeof child === 'string' || typeof child === 'number' ? String(child) : child);
  }
  return node;
}

/** The element with this id (throws when the page lacks it: a mistake of the page, not of the user). */
export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} is missing from the page`);
  return node;
}

/** Replaces the children of `node`. */
export function fill(node, children) {
  node.replaceChildren(...children);
}

/** `hh:mm:ss` of a time in ms. */
export function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

/** A duration in seconds as `1d 2h`, `3h 4m`, `5m 6s` or `7s`. */
export function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

/** A message's payload as one line of text: its `text` field when it has one, JSON otherwise. */
export function payloadText(payload) {
  if (payload && typeof payload === 'object' && typeof payload.text === 'string') return payload.text;
  return JSON.stringify(payload);
}

/** Shows `message` in an alert region (empty hides it). */
export function alertIn(node, message) {
  node.textContent = message ?? '';
}

/** A table with a caption, headers and rows of cells (strings or nodes). */
export function table(caption, headers, rows) {
  return el(
    'div',
    { class: 'table-wrap' },
    el(
      'table',
      {},
      el('caption', {}, caption),
      el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, rows.map((cells) => el('tr', {}, cells.map((c) => el('td', {}, c))))),
    ),
  );
}
