export { freePort } from './free-port.js';
export { TcpProxy, type CutMode } from './tcp-proxy.js';
export { waitFor, type WaitForOptions } from './wait-for.js';
export { startNodeProcess, type Proc, type StartProcessOptions } from './child-process.js';
export { WithholdingBroker, type ReceivedPublish, type WithholdingBrokerOptions } from './withholding-broker.js';
export { ChildServer } from './child-server.js';
export { Mosquitto, provisionBrokerDevice, type BrokerAdmin } from './mosquitto.js';
export { haveWrk, parseWrk, wrkLoad, type WrkFigures } from './wrk-load.js';
export { occupyPort } from './occupy-port.js';
