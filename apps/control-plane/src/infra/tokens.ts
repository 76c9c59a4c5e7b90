/** Injection tokens: every dependency is injected explicitly (no reliance on emitted metadata). */
export const CONFIG = Symbol('CONFIG');
export const PRISMA = Symbol('PRISMA');
export const PG_POOL = Symbol('PG_POOL');
export const LOGGER = Symbol('LOGGER');
export const MQTT_BUS = Symbol('MQTT_BUS');
export const REDIS = Symbol('REDIS');
export const DESIRED_QUEUE = Symbol('DESIRED_QUEUE');
export const SIGNING = Symbol('SIGNING');
export const VARIANT_QUEUE = Symbol('VARIANT_QUEUE');
export const ROLLOUT_QUEUE = Symbol('ROLLOUT_QUEUE');
/** Who is told when a device enrolls (see EnrollmentListener). */
export const ENROLLMENT_LISTENER = Symbol('ENROLLMENT_LISTENER');
