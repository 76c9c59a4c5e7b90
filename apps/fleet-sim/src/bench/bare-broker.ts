import { createServer } from 'node:net';
import { Aedes } from 'aedes';

/** A bare aedes (same version as the control plane's, no auth, no ACL, no persistence), for the ingest baseline. */
const port = Number(process.argv[2] ?? '0');
const broker = await Aedes.createBroker();
const server = createServer(broker.handle);
server.listen(port, '127.0.0.1', () => process.send?.({ type: 'ready' }));
process.on('message', () => {
  broker.close(() => server.close(() => process.exit(0)));
});
