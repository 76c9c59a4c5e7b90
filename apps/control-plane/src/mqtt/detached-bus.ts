import type { MessageBus } from './mqtt-bus.js';

/**
 * The worker's bus: the worker holds no broker connection. Desired states reach devices through the
 * desired-state queue, which the api processes; a publish attempted here is a wiring mistake.
 */
export class DetachedBus implements MessageBus {
  readonly connected = false;

  onMessage(): void {}

  start(): Promise<void> {
    return Promise.resolve();
  }

  publish(topic: string): Promise<void> {
    return Promise.reject(new Error(`the worker has no broker connection (publish to ${topic}); enqueue a desired-state job instead`));
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }
}
