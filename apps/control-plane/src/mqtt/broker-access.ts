import type { BrokerAccess, ReconcileReport } from '../devices/broker-access.js';

/** Nothing to provision: an external broker whose ACLs are someone else's (MQTT_PROVISIONING=none). */
export class UnprovisionedBrokerAccess implements BrokerAccess {
  start(): Promise<void> {
    return Promise.resolve();
  }

  deviceEnrolled(): Promise<void> {
    return Promise.resolve();
  }

  deviceRevoked(_deviceId: string): Promise<void> {
    return Promise.resolve();
  }

  deviceEnabled(): Promise<void> {
    return Promise.resolve();
  }

  deviceSecretRotated(_deviceId: string, _secret: string, _revoked: boolean): Promise<void> {
    return Promise.resolve();
  }

  reconcile(): Promise<ReconcileReport> {
    return Promise.resolve({ created: 0, disabled: 0, repaired: 0 });
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }
}

/** The embedded broker's side: nothing to provision (it asks Postgres at every CONNECT); a revoked device's connection is closed. */
export class EmbeddedBrokerAccess extends UnprovisionedBrokerAccess {
  constructor(private readonly broker: { disconnectDevice(deviceId: string): boolean }) {
    super();
  }

  override deviceRevoked(deviceId: string): Promise<void> {
    this.broker.disconnectDevice(deviceId);
    return Promise.resolve();
  }

  /** The next CONNECT is checked against the new hash in Postgres; the session proven with the old secret ends. */
  override deviceSecretRotated(deviceId: string): Promise<void> {
    this.broker.disconnectDevice(deviceId);
    return Promise.resolve();
  }
}

/** The worker's: it holds no broker connection, and enrollment and revocation are the api's. */
export class DetachedBrokerAccess implements BrokerAccess {
  start(): Promise<void> {
    return Promise.resolve();
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }

  reconcile(): Promise<ReconcileReport> {
    return Promise.resolve({ created: 0, disabled: 0, repaired: 0 });
  }

  deviceEnrolled(deviceId: string): Promise<void> {
    return this.refuse(deviceId);
  }

  deviceRevoked(deviceId: string): Promise<void> {
    return this.refuse(deviceId);
  }

  deviceEnabled(deviceId: string): Promise<void> {
    return this.refuse(deviceId);
  }

  deviceSecretRotated(deviceId: string): Promise<void> {
    return this.refuse(deviceId);
  }

  private refuse(deviceId: string): Promise<void> {
    return Promise.reject(new Error(`the worker has no broker connection (device ${deviceId}); broker access is the api's`));
  }
}
