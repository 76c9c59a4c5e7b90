/** A device as the broker's access control needs it: its id and whether it is revoked. */
export interface DeviceAccess {
  id: string;
  revoked: boolean;
}

/** What a reconciliation changed on the broker. */
export interface ReconcileReport {
  /** Clients (and roles) created for devices the broker did not know. */
  created: number;
  /** Clients disabled: revoked devices, and device clients Postgres does not know. */
  disabled: number;
  /** Clients enabled again, or whose client id or role were put right. */
  repaired: number;
}

/**
 * Who may connect to the broker, and as what: the one place the control plane tells the broker
 * about device identities. The embedded broker checks every CONNECT against Postgres itself, so
 * its implementation provisions nothing (it only ends a revoked device's live session); on an
 * external Mosquitto each device is a dynamic-security client with a role of exactly its own
 * topics (`DynsecBrokerAccess`).
 */
export interface BrokerAccess {
  /** Connects, and makes sure the control plane's own access is in place (before its bus connects). */
  start(): Promise<void>;
  /** A device just enrolled, its secret known in clear only now (called before the enrollment commits). */
  deviceEnrolled(deviceId: string, secret: string): Promise<void>;
  /** A device is revoked: its CONNECTs are refused from now on, and its live session ends at once. */
  deviceRevoked(deviceId: string): Promise<void>;
  /** A revoked device is enabled again. */
  deviceEnabled(deviceId: string): Promise<void>;
  /**
   * A device's secret was replaced (called before the change commits): its CONNECTs with the old
   * one are refused from now on, and its live session ends at once so that it must prove the new one.
   * A revoked device stays refused.
   */
  deviceSecretRotated(deviceId: string, secret: string, revoked: boolean): Promise<void>;
  /** Puts the broker's clients in line with Postgres: missing devices created, revoked ones disabled. */
  reconcile(devices: readonly DeviceAccess[]): Promise<ReconcileReport>;
  stop(): Promise<void>;
}
