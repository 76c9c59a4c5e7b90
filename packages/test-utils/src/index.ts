export { freePort } from './free-port.js';
export { startProcess, type Proc } from './process.js';
export { TcpProxy, type CutMode } from './tcp-proxy.js';
export { waitFor, type WaitForOptions } from './wait-for.js';
