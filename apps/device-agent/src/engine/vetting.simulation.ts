/**
 * Test-only simulations of a hostile model, honoured by the vetting child from
 * FLEET_AGENT_VETTING_CRASH after the model loaded: `abort` (SIGABRT) and `segv` (SIGSEGV) as a native
 * crash, `oom` exhausts the child's heap, `hang` blocks its thread for good, `exit` exits with code 3.
 * The agent sets that variable only from its programmatic `simulate` option and strips it from its
 * own environment, so a device cannot be made to fail its vetting through an env var.
 */
export const VETTING_SIMULATIONS = ['abort', 'segv', 'hang', 'oom', 'exit'] as const;
export type VettingSimulation = (typeof VETTING_SIMULATIONS)[number];
export const VETTING_CRASH_ENV = 'FLEET_AGENT_VETTING_CRASH';

export function isVettingSimulation(value: string | undefined): value is VettingSimulation {
  return (VETTING_SIMULATIONS as readonly (string | undefined)[]).includes(value);
}
