import { startControlPlaneProcess } from './control-plane.process.js';

/** Manual helper: starts a throw-away control plane and prints how to reach it; Ctrl+C stops and drops it. */
const cp = await startControlPlaneProcess({ mqttUrl: process.env.BENCH_MQTT_URL });
process.stdout.write(
  `${JSON.stringify({ url: cp.url, mqttUrl: cp.mqttUrl, operatorToken: cp.operatorToken, dataDir: cp.dataDir, pid: cp.pid })}\n`,
);
await new Promise<void>((resolve) => {
  process.once('SIGINT', resolve);
  process.once('SIGTERM', resolve);
});
await cp.stop();
