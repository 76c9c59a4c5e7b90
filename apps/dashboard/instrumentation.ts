/** Runs once when the Next server starts; the Node-only part lives in its own module (Next's documented pattern). */
export async function register(): Promise<void> {
  // NEXT_RUNTIME is a build-time constant set by Next, not configuration.
  if (process.env.NEXT_RUNTIME === 'nodejs') await import('./server/check-config-at-start');
}
