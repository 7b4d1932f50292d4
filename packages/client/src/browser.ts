/**
 * Entry of the browser bundle (`dist/browser/websocket-client.js`): the same API as the package, with
 * socket.io-client bundled in, for `<script type="module">` and import maps.
 */
export * from './index.js';
export { default } from './index.js';
