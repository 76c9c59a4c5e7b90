import { getConfig } from './config';

// A bad CONTROL_PLANE_URL stops the process with a message naming the variable; Next only logs errors
// thrown from `register` and would keep serving pages that cannot work.
try {
  getConfig();
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
}
