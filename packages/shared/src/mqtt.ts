/** The `/mqtt` subpath: the topic map and the contract (topic kind → payload schema, QoS, retain) with its codec. */
export * from './mqtt-topics.js';
export * from './mqtt-contract.js';
export * from './broker-admin.js';
