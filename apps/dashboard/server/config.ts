import 'server-only';
import { z } from 'zod';

const EnvSchema = z.object({
  CONTROL_PLANE_URL: z
    .url({ protocol: /^https?$/ })
    .default('http://127.0.0.1:8080')
    .transform((u) => u.replace(/\/+$/, '')),
});

export type DashboardConfig = z.infer<typeof EnvSchema>;

/** Parses the dashboard's environment; a bad value throws an error naming the variable. */
export function parseConfig(env: Record<string, string | undefined>): DashboardConfig {
  const parsed = EnvSchema.safeParse({ CONTROL_PLANE_URL: env.CONTROL_PLANE_URL === '' ? undefined : env.CONTROL_PLANE_URL });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid dashboard configuration: ${problems}`);
  }
  return parsed.data;
}

let cached: DashboardConfig | undefined;

/** The only reader of process.env in the dashboard; parsed once, on first use (not at import time, so builds need no env). */
export function getConfig(): DashboardConfig {
  cached ??= parseConfig(process.env);
  return cached;
}
