export * from './schemas.js';
export * from './mqtt.js';
export * from './policy.js';
export * from './hardware.js';
export * from './assignment.js';
export * from './random.js';
export * from './rollout.js';
export * from './text.js';
