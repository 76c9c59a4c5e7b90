import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';

describe('configuration of an external broker', () => {
  it('refuses MQTT_URL without the dynamic-security admin, naming the variables, unless MQTT_PROVISIONING=none', () => {
    expect(() => loadConfig({ MQTT_URL: 'mqtt://broker:1883' })).toThrow(/MQTT_USERNAME, MQTT_PASSWORD: required with MQTT_URL/);
    expect(loadConfig({ MQTT_URL: 'mqtt://broker:1883', MQTT_USERNAME: 'admin', MQTT_PASSWORD: 'pw' }).MQTT_PROVISIONING).toBe('dynsec');
    expect(loadConfig({ MQTT_URL: 'mqtt://broker:1883', MQTT_PROVISIONING: 'none' }).embeddedBroker).toBe(false);
    expect(() => loadConfig({ MQTT_PROVISIONING: 'acl-file' })).toThrow(/MQTT_PROVISIONING/);
    // the embedded broker needs none of it
    expect(loadConfig({}).embeddedBroker).toBe(true);
  });
});
