import { ArtifactServer } from './artifact.server.js';
import { type ModelFile, type ModelName, writeModel } from './models.js';

/** A model file as a test serves it: `key` names its variant (`var-<key>`) and model version (`mv-<key>`). */
export interface ServedModel {
  key: string;
  file: ModelFile;
  url: string;
}

/**
 * Generated model files on a local artifact server, each at `/a/<key>.onnx`: the download side of a
 * test, keyed the way the test names its models (`good`, `slow`, …).
 */
export class ServedModels<K extends string> {
  readonly server = new ArtifactServer();
  /** Every served file by key, filled by `start()` and `add()` (read it once they ran). */
  readonly models = {} as Record<K, ModelFile>;

  constructor(private readonly kinds: Readonly<Record<K, ModelName>>) {}

  /** Writes every model, serves it and starts the server. */
  async start(): Promise<void> {
    for (const [key, kind] of Object.entries(this.kinds) as [K, ModelName][]) this.add(key, await writeModel(kind));
    await this.server.start();
  }

  /** Serves another file under `key` (a variant built in the test). */
  add(key: K, file: ModelFile): void {
    this.models[key] = file;
    this.server.add(`/a/${key}.onnx`, file.bytes);
  }

  file(key: K): ModelFile {
    const f = this.models[key] as ModelFile | undefined;
    if (f === undefined) throw new Error(`model ${key} not served`);
    return f;
  }

  url(key: K): string {
    return this.server.url(`/a/${key}.onnx`);
  }

  served(key: K): ServedModel {
    return { key, file: this.file(key), url: this.url(key) };
  }

  async stop(): Promise<void> {
    await this.server.stop();
  }
}
