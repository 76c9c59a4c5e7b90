export { freePort } from './free-port.js';
export { TcpProxy, type CutMode } from './tcp-proxy.js';
export { waitFor, type WaitForOptions } from './wait-for.js';
