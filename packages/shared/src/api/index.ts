/**
 * The control plane's API contract: every REST body, query and path schema and every tRPC input and
 * output schema, one file per domain. Controllers, tRPC procedures and the OpenAPI document import
 * them from here; the device-side contract (enrollment, MQTT payloads) stays in `../schemas`.
 */
export * from './devices.js';
export * from './models.js';
export * from './policies.js';
export * from './rollouts.js';
export * from './errors.js';
export * from './audit.js';
export * from './alerts.js';
export * from './energy.js';
export * from './remediation.js';
export * from './signing.js';
export * from './telemetry-rollups.js';
export * from './tokens.js';
