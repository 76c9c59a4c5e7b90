// Next aliases `server-only` to its bundled copy (next/dist/compiled/server-only); this gives tsc the module.
declare module 'server-only';
